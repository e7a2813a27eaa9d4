package decode

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// scanCompare stages JSON rows with the scanner alone and with the fastjson
// reference alone, so tests can check that whatever the scanner accepts,
// the reference accepts with the same row.
type scanCompare struct {
	plan   *plan
	ref    *jsonRows
	sc     *scanner
	st, rs stager
	row    []val
	refRow []val
	// For columns the flat loop serves: the rows it appended to flat, and
	// the same rows staged by the reference and appended to want.
	flat, want []*flatCol
	rows       int
	sizes      [2]int
}

func newScanCompare(t testing.TB, cols []Column, opts ...JSONOption) *scanCompare {
	t.Helper()
	d, err := NewJSON(cols, opts...)
	if err != nil {
		t.Fatal(err)
	}
	jd := d.(*jsonDecoder)
	if jd.fast == nil {
		t.Fatal("no fast plan for the columns")
	}
	rows := newJSONRows(jd.plan, jd.fast)
	c := &scanCompare{plan: jd.plan, ref: rows, sc: rows.sc,
		row: make([]val, len(cols)), refRow: make([]val, len(cols))}
	c.st.opts, c.rs.opts = &jd.plan.opts, &jd.plan.opts
	c.sc.s = &c.st
	if jd.fast.flat != nil {
		c.flat, c.want = make([]*flatCol, len(cols)), make([]*flatCol, len(cols))
		for i, n := range jd.plan.nodes {
			c.flat[i] = newFlatCol(n, jd.plan.schema.Field(i).Type)
			c.want[i] = newFlatCol(n, jd.plan.schema.Field(i).Type)
		}
	}
	return c
}

// hasFlat reports whether the flat loop serves the columns.
func (c *scanCompare) hasFlat() bool { return c.flat != nil }

// checkFlat appends value with the flat loop, and if it accepts it, the
// reference's row to want. It fails t if the flat loop accepts a value the
// reference rejects, or if the columns differ after it, accepted or not:
// a row it gives up on must leave no trace.
func (c *scanCompare) checkFlat(t testing.TB, value []byte) bool {
	t.Helper()
	c.st.reset()
	c.rs.reset()
	clear(c.refRow)
	size, ok := c.sc.flatRow(value, c.flat, c.rows)
	if ok {
		if err := c.ref.slowRow(&Message{Value: value}, c.refRow, &c.rs); err != nil {
			t.Fatalf("flat loop accepted %q, reference failed: %v", value, err)
		}
		c.sizes[0] += size
		for _, i := range c.plan.valueCols {
			c.sizes[1] += c.want[i].add(&c.refRow[i])
		}
		c.rows++
	}
	for _, i := range c.plan.valueCols {
		if d := diffFlat(c.flat[i], c.want[i]); d != "" {
			t.Fatalf("after %q (accepted %v): column %s: %s", value, ok, c.plan.cols[i].Name, d)
		}
	}
	if c.sizes[0] != c.sizes[1] {
		t.Fatalf("after %q: size %d, reference %d", value, c.sizes[0], c.sizes[1])
	}
	if c.rows >= 4096 { // start afresh now and then
		for _, i := range c.plan.valueCols {
			c.flat[i].reset(0, 0)
			c.want[i].reset(0, 0)
		}
		c.rows = 0
	}
	return ok
}

// diffFlat describes how a flat column differs from want, or returns "".
func diffFlat(got, want *flatCol) string {
	switch {
	case got.n != want.n || got.nulls != want.nulls:
		return fmt.Sprintf("%d rows, %d nulls; reference %d, %d", got.n, got.nulls, want.n, want.nulls)
	case (got.valid == nil) != (want.valid == nil) || !bytes.Equal(got.valid, want.valid):
		return fmt.Sprintf("validity %x, reference %x", got.valid, want.valid)
	case !bytes.Equal(got.vals, want.vals):
		return fmt.Sprintf("values %x, reference %x", got.vals, want.vals)
	case !bytes.Equal(got.data, want.data):
		return fmt.Sprintf("data %q, reference %q", got.data, want.data)
	}
	return ""
}

// check stages value both ways. It fails t if the scanner accepts a value
// the reference rejects or stages differently, and reports whether the
// scanner accepted it.
func (c *scanCompare) check(t testing.TB, value []byte) bool {
	t.Helper()
	c.st.reset()
	c.rs.reset()
	clear(c.row)
	clear(c.refRow)
	ok := c.sc.row(value, c.row)
	refErr := c.ref.slowRow(&Message{Value: value}, c.refRow, &c.rs)
	if !ok {
		return false
	}
	if refErr != nil {
		t.Fatalf("scanner accepted %q, reference failed: %v", value, refErr)
	}
	for _, i := range c.plan.valueCols {
		if d := diffVal(c.plan.nodes[i], c.row[i], &c.st, c.refRow[i], &c.rs); d != "" {
			t.Fatalf("%q: column %s: %s", value, c.plan.cols[i].Name, d)
		}
	}
	return true
}

// diffVal describes how a staged value differs from the reference's, or
// returns "".
func diffVal(n *node, a val, sa *stager, b val, sb *stager) string {
	if a.null != b.null {
		return fmt.Sprintf("null %v, reference %v", a.null, b.null)
	}
	if a.null {
		return ""
	}
	switch n.kind {
	case kString, kBinary:
		if !bytes.Equal(a.b, b.b) {
			return fmt.Sprintf("%q, reference %q", a.b, b.b)
		}
	case kStruct, kArray, kMap:
		if a.hi != b.hi {
			return fmt.Sprintf("%d children, reference %d", a.hi, b.hi)
		}
		for k := 0; k < int(a.hi); k++ {
			switch n.kind {
			case kStruct:
				if d := diffVal(n.fields[k], sa.kids[int(a.i)+k], sa, sb.kids[int(b.i)+k], sb); d != "" {
					return "." + n.fields[k].name + ": " + d
				}
			case kArray:
				if d := diffVal(n.elem, sa.kids[int(a.i)+k], sa, sb.kids[int(b.i)+k], sb); d != "" {
					return fmt.Sprintf("[%d]: %s", k, d)
				}
			case kMap:
				ka, kb := int(a.i)+2*k, int(b.i)+2*k
				if d := diffVal(n.key, sa.kids[ka], sa, sb.kids[kb], sb); d != "" {
					return fmt.Sprintf("key %d: %s", k, d)
				}
				if d := diffVal(n.elem, sa.kids[ka+1], sa, sb.kids[kb+1], sb); d != "" {
					return fmt.Sprintf("value %d: %s", k, d)
				}
			}
		}
	default:
		if a.i != b.i || a.hi != b.hi {
			return fmt.Sprintf("(%d,%d), reference (%d,%d)", a.i, a.hi, b.i, b.hi)
		}
	}
	return ""
}

// pathColumns have paths into nested objects, and types the nested
// columns lack.
func pathColumns(t testing.TB) []Column {
	p := deltalog.Primitive
	return []Column{
		{Name: "id", Type: p(deltalog.TypeLong)},
		{Name: "cust_id", Type: p(deltalog.TypeInteger), Nullable: true, Path: []string{"customer", "id"}},
		{Name: "cust_name", Type: p(deltalog.TypeString), Nullable: true, Path: []string{"customer", "name"}},
		{Name: "deep", Type: p(deltalog.TypeDouble), Nullable: true, Path: []string{"a", "b", "c"}},
		{Name: "codes", Type: mustType(t, "map<int,string>"), Nullable: true},
		{Name: "grid", Type: mustType(t, "array<array<smallint>>"), Nullable: true},
		{Name: "amount", Type: deltalog.Decimal(12, 3), Nullable: true},
		{Name: "when", Type: p(deltalog.TypeTimestamp), Nullable: true},
		{Name: "dbl", Type: p(deltalog.TypeDouble), Nullable: true},
		{Name: "label", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "ok", Type: p(deltalog.TypeBoolean)},
	}
}

// scanSeeds are inputs for the comparison tests: typical records, and
// records with each feature the scanner handles or gives up on.
var scanSeeds = []string{
	`{"id":1}`,
	`{"id":1,"customer":{"name":"Ann","tags":["a",null]},"items":[{"sku":"x","price":"9.99"},{"price":1}],"attrs":{"w":1.5,"h":null},"ts":"2024-01-31T10:00:00Z","day":"2024-01-31","flag":true,"b":1,"s":2,"f":0.5,"ntz":"2024-01-31T10:00:00","bin":"AAE="}`,
	`{"id":1,"customer":{"name":"Ann","tags":["a",null]},"items":[{"sku":"x","price":"9.99"}],"attrs":{"w":1.5},"ts":1706696430123,"day":19782,"flag":"true","b":"1","s":2,"f":"NaN","ntz":"2024-01-31T10:00:00","bin":"AAE="}`,
	`{"id":"9223372036854775807","items":[{"price":1e-5}]}`,
	`{"id":1,"attrs":{"\u0000":1e400}}`,
	` { "id" : 7 , "customer" : { "name" : "B\"o\\b" , "tags" : [ ] } , "attrs" : { } } `,
	"{\"id\":1,\n\t\"customer\":{\"name\":\"\\u00e9\\ud83d\\ude00\\ud800\\u12\\x\\/\"}}",
	`{"id":1,"id":2}`,
	`{"i\u0064":1}`,
	`{"id":-0,"f":-0.0,"s":-32768,"b":127}`,
	`{"id":1,"f":1e39}`,
	`{"id":1,"unknown":{"x":[1,2,{"y":"z\"}"}],"w":-1.5e-3},"more":[true,false,null,"s"]}`,
	`{"id":1,"customer":null,"items":null,"attrs":null}`,
	`{"id":1,"customer":5}`,
	`{"id":1,}`,
	`{"id":1}x`,
	`[1]`,
	`null`,
	`{"id":1.0}`,
	`{"id":1,"ts":"2024-01-31T10:20:30.123456789+02:00","ntz":"2024-01-31 10:20:30"}`,
	`{"id":1,"bin":"aGk"}`,
	`{"id":1,"attrs":{"a":1,"a":2,"b":"3"}}`,
	`{"id":1,"customer":{"name":"x","name":"y"}}`,
	`{"id":1,"f":NaN}`,
	`{"id":1,"f":-Inf}`,
	`{"id":1,"f":1-2}`,
	`{"id":1,"customer":{"name":{"a":1}}}`,
	`{"id":1,"customer":{"name":12.50}}`,
	`{"id":1,"customer":{"name":true}}`,
	`{"id":1,"customer":{"name":"\xff"}}`,
	`{"id":1,"customer":{"name":"héllo wörld, a longer string of text"}}`,
	`{"id":1,"customer":{"customer":{"id":2}},"cust":{"id":3}}`,
	`{"id":2,"customer":{"id":"7","name":"Al"},"a":{"b":{"c":2.5}},"codes":{"1":"one","-2":"two"},"grid":[[1,2],[],null,[3]],"amount":"12.345","when":"2024-01-31T10:00:00Z","dbl":123.456,"label":"x","ok":true}`,
	`{"id":3,"customer":null,"a":{"b":null},"codes":{"3":"y"},"ok":false}`,
	`{"id":4,"a":{"b":{"c":1,"c":2}},"ok":"TRUE"}`,
	`{"id":5,"a":null,"a":{"b":{"c":1}},"ok":true}`,
	`{"id":6,"a":{"b":5},"ok":true}`,
	`{"id":7,"grid":[[1,2,70000]],"ok":true}`,
	`{"id":8,"dbl":0.1234567890123456789,"amount":1e2,"ok":true}`,
	`{"id":9,"dbl":9007199254740993,"label":123,"ok":true}`,
	`{"id":10,"dbl":"1.5","label":false,"when":1706696430123,"ok":true}`,
	`{"id":11,"dbl":.5,"ok":true}`,
	`{"id":12,"dbl":5.,"ok":true}`,
	`{"id":13,"dbl":+5,"id2":+5,"ok":true}`,
	`{"id":0012,"dbl":00.5e1,"ok":true}`,
	`{"id":123456789012345678,"dbl":-1234567.25,"ok":true}`,
	`{"id":1234567890123456789,"ok":true}`,
	`{"id":-9223372036854775808,"ok":true}`,
	`{"id":1,"codes":{"1":"a","1":"b"},"ok":true}`,
}

// flatColumns are top-level columns of every flat type, named as the keys
// of the seeds and of randJSON.
func flatColumns(t testing.TB) []Column {
	p := deltalog.Primitive
	return []Column{
		{Name: "id", Type: p(deltalog.TypeLong)},
		{Name: "ts", Type: p(deltalog.TypeTimestamp), Nullable: true},
		{Name: "day", Type: p(deltalog.TypeDate), Nullable: true},
		{Name: "flag", Type: p(deltalog.TypeBoolean), Nullable: true},
		{Name: "b", Type: p(deltalog.TypeByte), Nullable: true},
		{Name: "s", Type: p(deltalog.TypeShort), Nullable: true},
		{Name: "f", Type: p(deltalog.TypeFloat), Nullable: true},
		{Name: "ntz", Type: p(deltalog.TypeTimestampNTZ), Nullable: true},
		{Name: "bin", Type: p(deltalog.TypeBinary), Nullable: true},
		{Name: "amount", Type: deltalog.Decimal(12, 3), Nullable: true},
		{Name: "dbl", Type: p(deltalog.TypeDouble), Nullable: true},
		{Name: "label", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "ok", Type: p(deltalog.TypeBoolean)},
		{Name: "name", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "when", Type: p(deltalog.TypeTimestamp), Nullable: true},
		{Name: "x", Type: p(deltalog.TypeInteger), Nullable: true},
		{Name: "a_key_longer_than_sixteen_bytes", Type: p(deltalog.TypeString), Nullable: true},
	}
}

// flatSeeds are inputs for the flat loop: every flat type's common and
// uncommon values, and the ways a row fails after some of its values were
// appended.
var flatSeeds = []string{
	`{"id":1,"ts":"2024-01-31T10:00:00Z","day":"2024-01-31","flag":true,"b":1,"s":2,"f":0.5,"ntz":"2024-01-31T10:00:00","bin":"AAE=","amount":12.345,"dbl":1.25,"label":"x","ok":true,"name":"n","when":null,"x":-7,"a_key_longer_than_sixteen_bytes":"y"}`,
	`{"id":2,"ok":false}`,
	`{"ok":true}`,
	`{"id":3,"label":"a","ok":true,"label":"b"}`,
	`{"id":4,"label":"a","name":"b","x":2147483648,"ok":true}`,
	`{"id":5,"label":"a","name":"b","ok":null}`,
	`{"id":6,"label":"a","name":"b"}`,
	`{"id":7,"label":"é\u00e9","name":"\"q\"","ok":true}`,
	`{"id":8,"label":12.5,"name":true,"flag":"TRUE","x":"12","dbl":"NaN","ok":true}`,
	`{"id":9,"dbl":0.1234567890123456789,"f":1e39,"b":128,"ok":true}`,
	`{"id":10,"dbl":1e3,"s":-32768,"b":-128,"ok":true}`,
	`{"id":11,"ts":"2024-01-31T10:20:30.123456789+02:00","ntz":"2024-01-31T10:20:30+02:00","ok":true}`,
	`{"id":12,"ts":"2024-13-31T10:20:30Z","ok":true}`,
	`{"id":13,"ts":1706696430123,"ntz":"2024-01-31","day":19782,"ok":true}`,
	`{"id":14,"label":"x","unknown":{"a":[1,2,"}"]},"ok":true}`,
	`{"id":15,"label":"x","ok":true}x`,
	`{"id":16,"label":"x","ok":true,}`,
	`{"id":17,"label":"x" "ok":true}`,
	`{"id":18,"flag":nul,"ok":true}`,
	`{"id":19,"flag":tru,"ok":true}`,
	` { "id" : 20 , "label" : "x" , "ok" : true } `,
	`{"i\u0064":21,"ok":true}`,
	`{"id":22,"a_key_longer_than_sixteen_bytes":"z","a_key_longer_than_sixteen_bytez":"w","ok":true}`,
	`{"id":23,"bin":"aGk","amount":"1.2345","ok":true}`,
	`{"id":24,"amount":1.2345,"ok":true}`,
	`{"id":25,"label":"\xff","name":"` + "ÿ" + `","ok":true}`,
	`{"id":-9223372036854775808,"x":-2147483648,"ok":false}`,
	`{"id":1234567890123456789,"dbl":9007199254740993,"ok":true}`,
	`{"id":26,"label":{"a":1},"ok":true}`,
	`{"id":27,"label":["a"],"x":[1],"ok":true}`,
	`{}`,
	`[]`,
	`{"id":28,"ok":true`,
}

func TestJSONScanMatchesReference(t *testing.T) {
	for _, cols := range [][]Column{nestedColumns(t), pathColumns(t), flatColumns(t), benchColumns(), ingestColumns()} {
		c := newScanCompare(t, cols)
		for _, s := range append(scanSeeds, flatSeeds...) {
			c.check(t, []byte(s))
			if c.hasFlat() {
				c.checkFlat(t, []byte(s))
			}
		}
	}
}

// TestJSONFlatLoopServes checks which column sets the flat loop serves, and
// that it serves records of the usual shapes.
func TestJSONFlatLoopServes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cols []Column
		flat bool
	}{
		{"flat", flatColumns(t), true},
		{"bench", benchColumns(), true},
		{"nested", nestedColumns(t), false},
		{"paths", pathColumns(t), false},
	} {
		c := newScanCompare(t, tc.cols)
		if c.hasFlat() != tc.flat {
			t.Errorf("%s: flat loop %v, want %v", tc.name, c.hasFlat(), tc.flat)
		}
	}
	flat := newScanCompare(t, flatColumns(t))
	for _, s := range flatSeeds[:2] {
		if !flat.checkFlat(t, []byte(s)) {
			t.Errorf("flat loop gave up on %s", s)
		}
	}
	for name, c := range map[string]struct {
		cols []Column
		recs [][]byte
	}{"bench": {benchColumns(), benchRecords(1000)}, "ingest": {ingestColumns(), ingestRecords(1000)}} {
		sc := newScanCompare(t, c.cols)
		for _, r := range c.recs {
			if !sc.checkFlat(t, r) {
				t.Fatalf("%s: flat loop gave up on %s", name, r)
			}
		}
	}
}

// TestJSONFlatBatch checks, through Batch, that rows go through the flat
// loop, that metadata columns are appended after it, and that a row whose
// metadata column fails leaves nothing behind.
func TestJSONFlatBatch(t *testing.T) {
	p := deltalog.Primitive
	cols := []Column{
		{Name: "id", Type: p(deltalog.TypeLong)},
		{Name: "label", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "key", Type: p(deltalog.TypeString), Meta: MetaKey}, // NOT NULL: a message without a key fails
		{Name: "off", Type: p(deltalog.TypeLong), Meta: MetaOffset},
	}
	d, err := NewJSON(cols)
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	if b.(*batch).direct == nil {
		t.Fatal("the batch does not use the flat loop")
	}
	msgs := []struct {
		m   Message
		err bool
	}{
		{Message{Key: []byte("k1"), Offset: 1, Value: []byte(`{"id":1,"label":"a"}`)}, false},
		{Message{Offset: 2, Value: []byte(`{"id":2,"label":"b"}`)}, true},
		{Message{Key: []byte("k3"), Offset: 3, Value: []byte(`{"id":3}`)}, false},
		{Message{Key: []byte("k4"), Offset: 4, Value: []byte(`{"label":"d"}`)}, true},
		{Message{Key: []byte("k5"), Offset: 5, Value: []byte(`{"id":5,"label":"ée"}`)}, false},
	}
	for _, m := range msgs {
		if err := b.Add(&m.m); (err != nil) != m.err {
			t.Fatalf("offset %d: error %v, want an error: %v", m.m.Offset, err, m.err)
		}
	}
	rec := b.Build()
	defer rec.Release()
	var got []string
	for r := 0; r < int(rec.NumRows()); r++ {
		var row []string
		for c := 0; c < int(rec.NumCols()); c++ {
			row = append(row, rec.Column(c).ValueStr(r))
		}
		got = append(got, strings.Join(row, ","))
	}
	want := []string{"1,a,k1,1", "3,(null),k3,3", "5,ée,k5,5"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rows %q, want %q", got, want)
	}
}

// TestJSONScanServes checks that the scanner, not the reference, decodes
// records of the usual shapes.
func TestJSONScanServes(t *testing.T) {
	nested := newScanCompare(t, nestedColumns(t))
	for _, s := range []string{scanSeeds[0], scanSeeds[1], scanSeeds[5], scanSeeds[6]} {
		if !nested.check(t, []byte(s)) {
			t.Errorf("scanner gave up on %s", s)
		}
	}
	paths := newScanCompare(t, pathColumns(t))
	for _, s := range []string{
		`{"id":2,"customer":{"id":"7","name":"Al"},"a":{"b":{"c":2.5}},"codes":{"1":"one","-2":"two"},"grid":[[1,2],[],null,[3]],"amount":"12.345","when":"2024-01-31T10:00:00Z","dbl":123.456,"label":"x","ok":true}`,
		`{"id":3,"customer":null,"a":{"b":null},"codes":{"3":"y"},"ok":false}`,
		`{"id":9,"dbl":9007199254740993,"label":123,"ok":true}`,
	} {
		if !paths.check(t, []byte(s)) {
			t.Errorf("scanner gave up on %s", s)
		}
	}
	flat := newScanCompare(t, benchColumns())
	for _, r := range benchRecords(1000) {
		if !flat.check(t, r) {
			t.Fatalf("scanner gave up on %s", r)
		}
	}
}

// TestJSONNoFastPlan checks the column sets the scanner does not serve.
func TestJSONNoFastPlan(t *testing.T) {
	p := deltalog.Primitive
	for _, cols := range [][]Column{
		{{Name: "a", Type: mustType(t, "struct<x:int>")}, {Name: "ax", Type: p(deltalog.TypeInteger), Path: []string{"a", "x"}}},
		{{Name: "q", Type: p(deltalog.TypeInteger), Path: []string{`a"b`}}},
		{{Name: `b\c`, Type: p(deltalog.TypeInteger)}},
		{{Name: "s", Type: deltalog.Struct(deltalog.Field{Name: `a\b`, Type: p(deltalog.TypeInteger)})}},
	} {
		d, err := NewJSON(cols)
		if err != nil {
			t.Fatal(err)
		}
		if d.(*jsonDecoder).fast != nil {
			t.Errorf("fast plan for %v", cols)
		}
	}
}

// TestJSONScanRests checks that rows the scanner keeps giving up on are
// decoded by the reference alone for a while, and that rows decode the same
// throughout.
func TestJSONScanRests(t *testing.T) {
	d, err := NewJSON([]Column{{Name: "k", Type: deltalog.Primitive(deltalog.TypeString)}})
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	sc := b.(*batch).src.(*jsonRows).sc
	for i := 0; i < missLimit; i++ {
		if err := b.Add(&Message{Value: []byte(`{"k":{"v":1}}`)}); err != nil { // objects as text: reference only
			t.Fatal(err)
		}
	}
	if sc.rest != missRest {
		t.Fatalf("rest %d after %d misses, want %d", sc.rest, missLimit, missRest)
	}
	for i := 0; i < missRest; i++ {
		if err := b.Add(&Message{Value: []byte(`{"k":"s"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if sc.rest != 0 {
		t.Fatalf("rest %d", sc.rest)
	}
	rec := b.Build()
	defer rec.Release()
	if got := rec.Column(0).ValueStr(0); got != `{"v":1}` {
		t.Errorf("row 0 = %s", got)
	}
	if got := rec.Column(0).ValueStr(int(rec.NumRows()) - 1); got != "s" {
		t.Errorf("last row = %s", got)
	}
}

// randJSON writes a random JSON-like value: mostly valid, with the escapes,
// number forms, spacing and keys the columns of the comparison tests use.
func randJSON(r *rand.Rand, w *strings.Builder, depth int) {
	keys := []string{"id", "customer", "name", "tags", "items", "sku", "price", "attrs", "ts", "day", "flag", "b", "s", "f", "ntz", "bin",
		"a", "c", "codes", "grid", "amount", "when", "dbl", "label", "ok", "x", "i\\u0064", ""}
	strs := []string{"", "x", "Ann", "héllo", `a\"b`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\u12`, `\q`, `\/\b\f\n\r\t`, "2024-01-31", "2024-01-31T10:20:30.5Z",
		"2024-01-31T10:20:30", "12.345", "NaN", "true", "FALSE", "AAE=", "aGk", "1706696430123", "-7", "\xff", "\x01"}
	nums := []string{"0", "-0", "1", "-1", "42", "127", "128", "-129", "32767", "70000", "2147483648", "9223372036854775807", "9223372036854775808",
		"1.5", "-2.25", "0.1", "1e3", "1E-3", "1.5e2", "12.345", "0.0000001", "123456789012345678901", "9007199254740993", "1-2", "00.5", ".5", "5.", "+5", "-"}
	ws := func() {
		if r.Intn(8) == 0 {
			w.WriteString([]string{" ", "\n", "\t ", "\r\n"}[r.Intn(4)])
		}
	}
	ws()
	switch k := r.Intn(10); {
	case depth > 0 && k < 3 || depth == 0:
		w.WriteByte('{')
		first := true
		if depth == 0 && r.Intn(4) > 0 {
			// The NOT NULL columns, so that most records can convert.
			fmt.Fprintf(w, `"id":%d,"ok":true`, r.Intn(1000))
			first = false
		}
		for i, n := 0, r.Intn(6); i < n; i++ {
			if !first || i > 0 {
				w.WriteByte(',')
			}
			ws()
			fmt.Fprintf(w, `"%s"`, keys[r.Intn(len(keys))])
			ws()
			w.WriteByte(':')
			randJSON(r, w, depth+1)
		}
		ws()
		w.WriteByte('}')
	case k < 4 && depth < 5:
		w.WriteByte('[')
		for i, n := 0, r.Intn(4); i < n; i++ {
			if i > 0 {
				w.WriteByte(',')
			}
			randJSON(r, w, depth+1)
		}
		w.WriteByte(']')
	case k < 6:
		fmt.Fprintf(w, `"%s"`, strs[r.Intn(len(strs))])
	case k < 8:
		w.WriteString(nums[r.Intn(len(nums))])
	default:
		w.WriteString([]string{"true", "false", "null", "nul", "NaN"}[r.Intn(5)])
	}
	ws()
}

// TestJSONScanRandom compares the scanner with the reference on random
// records and on byte-level mutations of them.
func TestJSONScanRandom(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 3000
	}
	r := rand.New(rand.NewSource(2))
	compares := []*scanCompare{newScanCompare(t, nestedColumns(t)), newScanCompare(t, pathColumns(t)),
		newScanCompare(t, nestedColumns(t), WithEpochUnit(EpochSeconds), WithDecimalRounding()),
		newScanCompare(t, flatColumns(t)), newScanCompare(t, flatColumns(t), WithEpochUnit(EpochSeconds), WithDecimalRounding())}
	accepted, flatAccepted := 0, 0
	var w strings.Builder
	for i := 0; i < n; i++ {
		w.Reset()
		randJSON(r, &w, 0)
		v := []byte(w.String())
		if r.Intn(3) == 0 && len(v) > 0 {
			v = mutate(r, v)
		}
		for _, c := range compares {
			if c.check(t, v) {
				accepted++
			}
			if c.hasFlat() && c.checkFlat(t, v) {
				flatAccepted++
			}
		}
	}
	if accepted < n/10 || flatAccepted < n/10 {
		t.Errorf("scanner accepted only %d of %d rows, the flat loop %d of %d", accepted, len(compares)*n, flatAccepted, 2*n)
	}
}

// mutate changes, inserts or deletes a few bytes of v.
func mutate(r *rand.Rand, v []byte) []byte {
	v = append([]byte(nil), v...)
	for k := r.Intn(3) + 1; k > 0 && len(v) > 0; k-- {
		i := r.Intn(len(v))
		const alphabet = `{}[]",:\ 0-.e5tnu`
		c := alphabet[r.Intn(len(alphabet))]
		switch r.Intn(3) {
		case 0:
			v[i] = c
		case 1:
			v = append(v[:i], append([]byte{c}, v[i:]...)...)
		default:
			v = append(v[:i], v[i+1:]...)
		}
	}
	return v
}

// FuzzJSONScan checks that whatever the scanner accepts, the fastjson
// reference accepts with the same row.
func FuzzJSONScan(f *testing.F) {
	for _, s := range append(scanSeeds, flatSeeds...) {
		f.Add([]byte(s))
	}
	compares := []*scanCompare{newScanCompare(f, nestedColumns(f)), newScanCompare(f, pathColumns(f)), newScanCompare(f, flatColumns(f))}
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, c := range compares {
			c.check(t, value)
			if c.hasFlat() {
				c.checkFlat(t, value)
			}
		}
	})
}
