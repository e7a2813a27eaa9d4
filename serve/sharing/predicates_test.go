package sharing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// testSnapshot has columns id long, name string, ts timestamp, day date
// (partition), ok boolean.
func testColumns() map[string]column {
	return map[string]column{
		"id":   {name: "id", phys: "id", typ: deltalog.TypeLong, idx: 0},
		"name": {name: "name", phys: "name", typ: deltalog.TypeString, idx: 1},
		"ts":   {name: "ts", phys: "ts", typ: deltalog.TypeTimestamp, idx: 2},
		"day":  {name: "day", phys: "day", typ: deltalog.TypeDate, partition: true, idx: 3},
		"ok":   {name: "ok", phys: "ok", typ: deltalog.TypeBoolean, idx: 4},
		"x":    {name: "x", phys: "x", typ: deltalog.TypeDouble, idx: 5},
	}
}

func testFile(day *string, stats string) (*deltalog.Add, *fileStats) {
	f := &deltalog.Add{Path: "p", PartitionValues: map[string]*string{"day": day}, Stats: stats}
	return f, parseFileStats(stats, orderedColumns(testColumns()))
}

// TestFilterNeverDropsMatchingFiles: each case is a file whose rows are
// known; a predicate some row satisfies must not give "no", and "yes" only
// when every row satisfies it.
func TestFilterNeverDropsMatchingFiles(t *testing.T) {
	stats := `{"numRecords":3,"minValues":{"id":10,"name":"abcdefghijklmnopqrstuvwxyz0123456789","ts":"2026-01-01T00:00:00.123Z","x":1.5},` +
		`"maxValues":{"id":20,"name":"abcdefghijklmnopqrstuvwxyz0123456789","ts":"2026-01-01T00:00:00.456Z","x":2.5},"nullCount":{"id":0,"name":1,"ts":0,"x":0}}`
	// The rows behind these stats: ids 10..20, a name whose max was
	// truncated (the real max is longer), a ts whose max is at .456789.
	cases := []struct {
		name string
		pred string
		want tri
	}{
		{"id in range", `{"op":"equal","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"15","valueType":"long"}]}`, maybe},
		{"id above", `{"op":"greaterThan","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"20","valueType":"long"}]}`, no},
		{"id at max", `{"op":"greaterThanOrEqual","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"20","valueType":"long"}]}`, maybe},
		{"id below, literal first", `{"op":"greaterThan","children":[{"op":"literal","value":"10","valueType":"long"},{"op":"column","name":"id","valueType":"long"}]}`, no},
		{"truncated string max is no bound", `{"op":"greaterThan","children":[{"op":"column","name":"name","valueType":"string"},{"op":"literal","value":"abcdefghijklmnopqrstuvwxyz0123456789","valueType":"string"}]}`, maybe},
		{"string below min", `{"op":"lessThan","children":[{"op":"column","name":"name","valueType":"string"},{"op":"literal","value":"a","valueType":"string"}]}`, no},
		{"timestamp max truncated to ms", `{"op":"greaterThan","children":[{"op":"column","name":"ts","valueType":"timestamp"},{"op":"literal","value":"2026-01-01T00:00:00.4565Z","valueType":"timestamp"}]}`, maybe},
		{"timestamp past max", `{"op":"greaterThan","children":[{"op":"column","name":"ts","valueType":"timestamp"},{"op":"literal","value":"2026-01-01T00:00:01Z","valueType":"timestamp"}]}`, no},
		{"nulls present", `{"op":"isNull","children":[{"op":"column","name":"name","valueType":"string"}]}`, maybe},
		{"no nulls", `{"op":"isNull","children":[{"op":"column","name":"id","valueType":"long"}]}`, no},
		{"not no nulls", `{"op":"not","children":[{"op":"isNull","children":[{"op":"column","name":"id","valueType":"long"}]}]}`, yes},
		{"partition exact", `{"op":"equal","children":[{"op":"column","name":"day","valueType":"date"},{"op":"literal","value":"2026-01-01","valueType":"date"}]}`, yes},
		{"partition other", `{"op":"equal","children":[{"op":"column","name":"day","valueType":"date"},{"op":"literal","value":"2026-01-02","valueType":"date"}]}`, no},
		{"double", `{"op":"lessThan","children":[{"op":"column","name":"x","valueType":"double"},{"op":"literal","value":"1.5","valueType":"double"}]}`, no},
		{"column without stats", `{"op":"equal","children":[{"op":"column","name":"ok","valueType":"bool"},{"op":"literal","value":"true","valueType":"bool"}]}`, maybe},
		{"and with a no", `{"op":"and","children":[{"op":"equal","children":[{"op":"column","name":"day","valueType":"date"},{"op":"literal","value":"2026-01-01","valueType":"date"}]},{"op":"greaterThan","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"20","valueType":"long"}]}]}`, no},
		{"or with a yes", `{"op":"or","children":[{"op":"equal","children":[{"op":"column","name":"day","valueType":"date"},{"op":"literal","value":"2026-01-01","valueType":"date"}]},{"op":"greaterThan","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"20","valueType":"long"}]}]}`, yes},
	}
	f, st := testFile(str("2026-01-01"), stats)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p jsonPredicate
			if err := json.Unmarshal([]byte(c.pred), &p); err != nil {
				t.Fatal(err)
			}
			n := 0
			flt, err := compileJSON(&p, testColumns(), &n, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := flt(f, st); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestCompileRefusals(t *testing.T) {
	for _, pred := range []string{
		`{"op":"equal","children":[{"op":"column","name":"id","valueType":"long"}]}`,
		`{"op":"equal","children":[{"op":"column","name":"id","valueType":"long"},{"op":"column","name":"id","valueType":"long"}]}`,
		`{"op":"equal","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"1","valueType":"int"}]}`,
		`{"op":"equal","children":[{"op":"column","name":"id","valueType":"decimal"},{"op":"literal","value":"1","valueType":"decimal"}]}`,
		`{"op":"not","children":[]}`,
		`{"op":"or","children":[{"op":"isNull","children":[{"op":"column","name":"id","valueType":"long"}]}]}`,
		`{"op":"isNull","children":[{"op":"literal","value":"1","valueType":"long"}]}`,
		`{"op":"column","name":"id","valueType":"long"}`,
		`{}`,
	} {
		var p jsonPredicate
		if err := json.Unmarshal([]byte(pred), &p); err != nil {
			t.Fatal(err)
		}
		n := 0
		if _, err := compileJSON(&p, testColumns(), &n, 0); err == nil {
			t.Errorf("compiled %s", pred)
		}
	}
	// A deep tree is refused, not recursed into without end.
	deep := `{"op":"isNull","children":[{"op":"column","name":"id","valueType":"long"}]}`
	for i := 0; i < 100; i++ {
		deep = `{"op":"not","children":[` + deep + `]}`
	}
	var p jsonPredicate
	json.Unmarshal([]byte(deep), &p)
	n := 0
	if _, err := compileJSON(&p, testColumns(), &n, 0); err == nil {
		t.Error("compiled a 100-deep tree")
	}
}

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range []string{"2022-01-02T03:04:05Z", "2022-01-02T04:04:05+01:00", "2022-01-02 03:04:05", "2022-01-02T03:04:05.000"} {
		got, err := parseTimestamp("t", s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "yesterday", "2022-13-01T00:00:00Z", "1641092645"} {
		if _, err := parseTimestamp("t", s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestParseCapabilities(t *testing.T) {
	v1 := deltalog.Protocol{MinReaderVersion: 1}
	v3 := deltalog.Protocol{MinReaderVersion: 3}
	for _, c := range []struct {
		h         string
		p         deltalog.Protocol
		want      string
		endStream bool
	}{
		{"", v1, formatParquet, false},
		{"", v3, formatParquet, false},
		{"responseformat=delta", v1, formatDelta, false},
		{"ResponseFormat=Delta,Parquet;ReaderFeatures=deletionvectors", v1, formatParquet, false},
		{"responseformat=delta,parquet", v3, formatDelta, false},
		{"responseformat=parquet;includeendstreamaction=true", v1, formatParquet, true},
		{"includeEndStreamAction=TRUE; responseformat = parquet ", v1, formatParquet, true},
		{"responseformat=avro,delta", v1, formatDelta, false},
		{"garbage;;=;x", v1, formatParquet, false},
	} {
		caps := parseCapabilities(c.h)
		got, err := caps.chooseFormat(sharedTable{}, c.p, deltalog.Metadata{})
		if err != nil || got != c.want || caps.endStream != c.endStream {
			t.Errorf("%q: %s %v %v", c.h, got, caps.endStream, err)
		}
	}
	if _, err := parseCapabilities("responseformat=avro").chooseFormat(sharedTable{}, v1, deltalog.Metadata{}); err == nil {
		t.Error("avro accepted")
	}
}

// The readerfeatures a client names decide what it is sent: the delta
// format only with every reader feature the table needs (those of the log
// alone excepted), the parquet format only for tables whose files any
// Parquet reader reads right; a refusal names the features and the header
// that asks for them.
func TestReaderFeaturesNegotiation(t *testing.T) {
	v3 := func(fs ...string) deltalog.Protocol {
		return deltalog.Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: fs}
	}
	mapped := deltalog.Metadata{Configuration: map[string]string{"delta.columnMapping.mode": "name"}}
	for _, c := range []struct {
		name, h string
		p       deltalog.Protocol
		m       deltalog.Metadata
		want    string // "" refused
		names   string // in the refusal
	}{
		{"dv, both asked, named", "responseformat=delta,parquet;readerfeatures=deletionvectors", v3("deletionVectors"), deltalog.Metadata{}, formatDelta, ""},
		{"dv, delta, not named", "responseformat=delta", v3("deletionVectors"), deltalog.Metadata{}, "", "deletionVectors"},
		{"dv, parquet", "responseformat=parquet", v3("deletionVectors"), deltalog.Metadata{}, "", "responseformat=delta;readerfeatures=deletionvectors"},
		{"dv, both, not named", "responseformat=delta,parquet", v3("deletionVectors"), deltalog.Metadata{}, "", "deletionVectors"},
		{"python connector, column mapping + dv", "responseformat=delta;readerfeatures=deletionvectors,columnmapping,timestampntz",
			v3("deletionVectors", "columnMapping", "v2Checkpoint"), mapped, formatDelta, ""},
		{"column mapping, reader 2", "responseformat=delta,parquet", deltalog.Protocol{MinReaderVersion: 2, MinWriterVersion: 5}, mapped, "", "columnMapping"},
		{"column mapping, reader 2, named", "responseformat=delta;readerfeatures=columnmapping", deltalog.Protocol{MinReaderVersion: 2, MinWriterVersion: 5}, mapped, formatDelta, ""},
		{"timestampNtz in parquet", "responseformat=parquet", v3("timestampNtz"), deltalog.Metadata{}, formatParquet, ""},
		{"timestampNtz, both, not named: parquet", "responseformat=delta,parquet", v3("timestampNtz"), deltalog.Metadata{}, formatParquet, ""},
		{"v2Checkpoint needs nothing of the client", "responseformat=delta", v3("v2Checkpoint", "vacuumProtocolCheck"), deltalog.Metadata{}, formatDelta, ""},
		{"typeWidening not in parquet", "responseformat=parquet", v3("typeWidening"), deltalog.Metadata{}, "", "typeWidening"},
		{"variant named", "responseformat=delta;readerfeatures=variantType-preview", v3("variantType-preview"), deltalog.Metadata{}, formatDelta, ""},
		{"unknown future feature", "responseformat=delta;readerfeatures=deletionvectors", v3("deletionVectors", "fancyFuture"), deltalog.Metadata{}, "", "fancyFuture"},
	} {
		got, err := parseCapabilities(c.h).chooseFormat(sharedTable{}, c.p, c.m)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
			continue
		}
		if err != nil && (err.status != 400 || err.code != codeUnsupported || !strings.Contains(err.msg, c.names) || !strings.Contains(err.msg, "readerfeatures=")) {
			t.Errorf("%s: %+v", c.name, err)
		}
	}
}

// A hint on a column renamed under column mapping prunes by the statistics
// and partition values of its physical name.
func TestHintsUseColumnMappingPhysicalNames(t *testing.T) {
	schema := deltalog.Struct(
		deltalog.Field{Name: "renamed", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: true,
			Metadata: map[string]any{deltalog.PhysicalNameKey: "col-a", deltalog.FieldIDKey: float64(1)}},
		deltalog.Field{Name: "part", Type: deltalog.Primitive(deltalog.TypeString), Nullable: true,
			Metadata: map[string]any{deltalog.PhysicalNameKey: "col-b", deltalog.FieldIDKey: float64(2)}})
	snap := &deltalog.Snapshot{Schema: schema, Metadata: deltalog.Metadata{PartitionColumns: []string{"part"},
		Configuration: map[string]string{"delta.columnMapping.mode": "name"}}}
	x, y := "x", "y"
	low := &deltalog.Add{Path: "low", PartitionValues: map[string]*string{"col-b": &x}, Stats: `{"numRecords":1,"minValues":{"col-a":1},"maxValues":{"col-a":5}}`}
	high := &deltalog.Add{Path: "high", PartitionValues: map[string]*string{"col-b": &y}, Stats: `{"numRecords":1,"minValues":{"col-a":10},"maxValues":{"col-a":20}}`}
	for _, c := range []struct {
		hint string
		want []string
	}{
		{"renamed > 7", []string{"high"}},
		{"renamed < 7", []string{"low"}},
		{"part = 'x'", []string{"low"}},
	} {
		var got []string
		cols := columnsOf(snap)
		keep := hintsFilter(queryRequest{PredicateHints: []string{c.hint}}, cols)
		for _, a := range []*deltalog.Add{low, high} {
			if keep(a, parseFileStats(a.Stats, orderedColumns(cols))) != no {
				got = append(got, a.Path)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: files %v, want %v", c.hint, got, c.want)
		}
	}
}

func FuzzJSONPredicate(f *testing.F) {
	f.Add(`{"op":"and","children":[{"op":"equal","children":[{"op":"column","name":"day","valueType":"date"},{"op":"literal","value":"2026-01-01","valueType":"date"}]},{"op":"lessThan","children":[{"op":"column","name":"id","valueType":"long"},{"op":"literal","value":"25","valueType":"long"}]}]}`)
	f.Add(`{"op":"not","children":[{"op":"isNull","children":[{"op":"column","name":"ts","valueType":"timestamp"}]}]}`)
	f.Add(`{"op":"greaterThan","children":[{"op":"literal","value":1,"valueType":"double"},{"op":"column","name":"x","valueType":"double"}]}`)
	files := []struct {
		day   *string
		stats string
	}{
		{str("2026-01-01"), `{"numRecords":2,"minValues":{"id":1,"ts":"2026-01-01T00:00:00Z","x":"NaN"},"maxValues":{"id":"9","name":{"a":1}},"nullCount":{"id":2}}`},
		{nil, ``},
		{str("not a date"), `{"numRecords":0}`},
	}
	f.Fuzz(func(t *testing.T, pred string) {
		var p jsonPredicate
		if json.Unmarshal([]byte(pred), &p) != nil {
			return
		}
		n := 0
		flt, err := compileJSON(&p, testColumns(), &n, 0)
		if err != nil {
			return
		}
		for _, fl := range files {
			a, st := testFile(fl.day, fl.stats)
			if r := flt(a, st); r < no || r > yes {
				t.Fatalf("result %d", r)
			}
		}
	})
}

func FuzzSQLHint(f *testing.F) {
	for _, s := range []string{"id > 3", "'2026-01-01' <= day", "name = 'it''s'", "ts IS NOT NULL", "x <> 1.5e3", "id = 1 OR id = 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hint string) {
		flt, err := compileSQL(hint, testColumns())
		if err != nil {
			return
		}
		a, st := testFile(str("2026-01-01"), `{"numRecords":1,"minValues":{"id":1},"maxValues":{"id":1},"nullCount":{"id":0}}`)
		flt(a, st)
	})
}

func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"/shares/q3/schemas/eu/tables/orders/query", "/shares/%2E%2E", "/shares/a%00b", "//", "/shares/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, aerr := splitPath(p)
		if aerr != nil {
			return
		}
		for _, s := range segs {
			if msg := validName(s); msg != "" {
				t.Fatalf("segment %q passed: %s", s, msg)
			}
		}
		match(segs)
	})
}

func FuzzOpenToken(f *testing.F) {
	c := tokenCodec{key: []byte("0123456789abcdef"), now: time.Now}
	good := c.seal(token{Kind: kindList, Recipient: "acme", Scope: "shares", After: "q3"})
	f.Add(good)
	f.Add("abc.def")
	f.Add(good[:len(good)-1] + "A")
	f.Fuzz(func(t *testing.T, s string) {
		tok, aerr := c.open(s, kindList, "acme", "shares")
		if aerr == nil && s != good && tok != (token{Kind: kindList, Recipient: "acme", Scope: "shares", After: "q3"}) {
			// Another string opening means a forged MAC, unless it encodes
			// the same payload (base64 variants of the same bytes).
			t.Fatalf("opened a token that was not sealed: %q -> %+v", s, tok)
		}
	})
}
