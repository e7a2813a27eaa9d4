package parquetio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/internal/golden"
)

func mustSchema(t testing.TB, js string) *deltalog.Schema {
	t.Helper()
	s, err := deltalog.ParseSchema(js)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fields builds a schemaString from "name type [not null]" specs, where type
// is a primitive name or a JSON type.
func schemaJSON(specs ...string) string {
	var fs []string
	for _, s := range specs {
		name, typ, _ := strings.Cut(s, " ")
		nullable := !strings.HasSuffix(typ, " not null")
		typ = strings.TrimSuffix(typ, " not null")
		if !strings.HasPrefix(typ, "{") {
			typ = `"` + typ + `"`
		}
		fs = append(fs, fmt.Sprintf(`{"name":%q,"type":%s,"nullable":%t,"metadata":{}}`, name, typ, nullable))
	}
	return `{"type":"struct","fields":[` + strings.Join(fs, ",") + `]}`
}

func recordFromJSON(t testing.TB, mem memory.Allocator, s *deltalog.Schema, rows string) arrow.Record {
	t.Helper()
	as, err := deltalog.ArrowSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := array.RecordFromJSON(mem, as, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func writeFile(t testing.TB, s *deltalog.Schema, recs []arrow.Record, opts ...Option) ([]byte, *deltalog.FileStats) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

// readAll reads a file and concatenates its records into one.
func readAll(t testing.TB, mem memory.Allocator, data []byte, s *deltalog.Schema) (arrow.Record, int) {
	t.Helper()
	as, _ := deltalog.ArrowSchema(s)
	var recs []arrow.Record
	err := ReadFile(bytes.NewReader(data), int64(len(data)), s, mem, func(r arrow.Record) error {
		r.Retain()
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tbl := array.NewTableFromRecords(as, recs)
	defer tbl.Release()
	for _, r := range recs {
		r.Release()
	}
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		c, err := array.Concatenate(tbl.Column(i).Data().Chunks(), mem)
		if err != nil {
			if len(recs) == 0 {
				c = array.MakeArrayOfNull(mem, as.Field(i).Type, 0)
			} else {
				t.Fatal(err)
			}
		}
		cols[i] = c
		defer c.Release()
	}
	return array.NewRecord(as, cols, tbl.NumRows()), len(recs)
}

func assertSameRecord(t *testing.T, want, got arrow.Record) {
	t.Helper()
	if want.NumRows() != got.NumRows() {
		t.Fatalf("rows: want %d, got %d", want.NumRows(), got.NumRows())
	}
	for i := range int(want.NumCols()) {
		if !arrow.TypeEqual(want.Column(i).DataType(), got.Column(i).DataType()) {
			t.Errorf("column %s: type want %s, got %s", want.ColumnName(i), want.Column(i).DataType(), got.Column(i).DataType())
		} else if !array.Equal(want.Column(i), got.Column(i)) {
			t.Errorf("column %s:\nwant %v\ngot  %v", want.ColumnName(i), want.Column(i), got.Column(i))
		}
	}
}

var allTypesSchema = schemaJSON(
	"b boolean", "i8 byte", "i16 short", "i32 integer", "i64 long", "f32 float", "f64 double",
	"s string", "bin binary", "d date", "ts timestamp", "ntz timestamp_ntz",
	"dec38 decimal(38,10)", "dec9 decimal(9,2)", "dec18 decimal(18,4)", "req long not null",
	`st {"type":"struct","fields":[{"name":"a","type":"integer","nullable":true,"metadata":{}},{"name":"inner","type":{"type":"struct","fields":[{"name":"c","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]}`,
	`arr {"type":"array","elementType":"integer","containsNull":true}`,
	`arrs {"type":"array","elementType":{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},{"name":"y","type":{"type":"array","elementType":"string","containsNull":false},"nullable":true,"metadata":{}}]},"containsNull":true}`,
	`m {"type":"map","keyType":"string","valueType":"long","valueContainsNull":true}`,
	`mm {"type":"map","keyType":"integer","valueType":{"type":"array","elementType":"double","containsNull":true},"valueContainsNull":true}`,
)

var allTypesRows = `[
 {"b":true,"i8":-128,"i16":-32768,"i32":-2147483648,"i64":-9223372036854775808,"f32":1.5,"f64":-2.25,"s":"héllo","bin":"AAEC","d":-1,"ts":"1969-12-31T23:59:59.999999","ntz":"2024-01-31T12:00:00.123456",
  "dec38":"-1234567890123456789012345678.0123456789","dec9":"-1234567.89","dec18":"-12345678901234.5678","req":1,
  "st":{"a":1,"inner":{"c":"x"}},"arr":[1,null,3],"arrs":[{"x":1,"y":["a","b"]},null,{"x":null,"y":[]}],"m":[{"key":"k1","value":1},{"key":"k2","value":null}],"mm":[{"key":1,"value":[1.5,null]},{"key":2,"value":null}]},
 {"b":null,"i8":127,"i16":32767,"i32":2147483647,"i64":4611686018427387904,"f32":null,"f64":null,"s":null,"bin":null,"d":null,"ts":null,"ntz":null,
  "dec38":null,"dec9":null,"dec18":null,"req":2,
  "st":null,"arr":null,"arrs":null,"m":null,"mm":null},
 {"b":false,"i8":0,"i16":0,"i32":0,"i64":0,"f32":-0.5,"f64":1e300,"s":"","bin":"","d":19753,"ts":"2024-01-31T12:00:00.123456","ntz":"1900-01-01T00:00:00",
  "dec38":"9999999999999999999999999999.9999999999","dec9":"0.01","dec18":"0.0001","req":3,
  "st":{"a":null,"inner":null},"arr":[],"arrs":[],"m":[],"mm":[{"key":3,"value":[]}]},
 {"b":true,"i8":null,"i16":null,"i32":null,"i64":null,"f32":null,"f64":null,"s":"z","bin":"/w==","d":0,"ts":"1970-01-01T00:00:00","ntz":null,
  "dec38":"-0.0000000001","dec9":null,"dec18":null,"req":4,
  "st":{"a":7,"inner":{"c":null}},"arr":[null],"arrs":[null,{"x":5,"y":null}],"m":[{"key":"","value":0}],"mm":null}
]`

func TestRoundTripAllTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := mustSchema(t, allTypesSchema)
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"zstd", nil},
		{"snappy", []Option{WithCompression(CompressionSnappy)}},
		{"none-tiny-pages", []Option{WithCompression(CompressionNone), WithPageSize(64)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := recordFromJSON(t, mem, s, allTypesRows)
			defer in.Release()
			data, st := writeFile(t, s, []arrow.Record{in}, tc.opts...)
			if st.NumRecords != 4 {
				t.Errorf("numRecords %d", st.NumRecords)
			}
			got, _ := readAll(t, mem, data, s)
			defer got.Release()
			assertSameRecord(t, in, got)
		})
	}
}

func TestSchemaMapping(t *testing.T) {
	s := mustSchema(t, allTypesSchema)
	as, err := deltalog.ArrowSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := deltalog.DeltaSchema(as)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) {
		t.Errorf("round trip:\nwant %s\ngot  %s", s, back)
	}
	for _, tc := range []struct {
		typ  arrow.DataType
		want string
	}{
		{arrow.PrimitiveTypes.Uint32, `"u"`},
		{&arrow.TimestampType{Unit: arrow.Nanosecond}, `"u"`},
		{arrow.StructOf(arrow.Field{Name: "x", Type: arrow.BinaryTypes.LargeString}), `"u.x"`},
	} {
		_, err := deltalog.DeltaSchema(arrow.NewSchema([]arrow.Field{{Name: "u", Type: tc.typ}}, nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", tc.typ, err, tc.want)
		}
	}
	if _, err := deltalog.ArrowSchema(deltalog.Struct(deltalog.Field{Name: "v", Type: deltalog.Primitive("variant")})); err == nil || !strings.Contains(err.Error(), `"v"`) {
		t.Errorf("variant: %v", err)
	}
}

// TestParquetSchema checks the file's Parquet schema is the one Spark writes.
func TestParquetSchema(t *testing.T) {
	ps, err := parquetSchema(mustSchema(t, allTypesSchema))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, mustSchema(t, allTypesSchema))
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := schemaText(t, buf.Bytes())
	checkGolden(t, "parquet_schema.txt", []byte(got))
	_ = ps
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), string(got))
}

var statsSchema = schemaJSON("id long", "small byte", "f double", "fl float", "s string", "d date", "ts timestamp", "ntz timestamp_ntz",
	"dec decimal(38,10)", "b boolean", "bin binary", "allnull integer",
	`st {"type":"struct","fields":[{"name":"a","type":"integer","nullable":true,"metadata":{}},{"name":"inner","type":{"type":"struct","fields":[{"name":"c","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]}`,
	`arr {"type":"array","elementType":"integer","containsNull":true}`,
	`m {"type":"map","keyType":"string","valueType":"long","valueContainsNull":true}`)

func TestStatsGolden(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := mustSchema(t, statsSchema)
	long := strings.Repeat("a", 31) + "bcd" // 34 chars: max becomes 31 a's + "c"
	maxRune := strings.Repeat("z", 31) + "\U0010FFFF\U0010FFFFx"
	recs := []arrow.Record{
		recordFromJSON(t, mem, s, `[
 {"id":5,"small":-3,"f":"NaN","fl":0.1,"s":"`+long+`","d":19753,"ts":"2024-01-31T12:00:00.123456","ntz":"1969-12-31T23:59:59.999500","dec":"-12.5","b":true,"bin":"AA==","st":{"a":3,"inner":{"c":"q"}},"arr":[1],"m":[{"key":"a","value":1}]},
 {"id":-7,"small":null,"f":2.5,"fl":null,"s":"abc","d":null,"ts":"1969-12-31T23:59:59.999999","ntz":"2024-01-31T12:00:00.123","dec":"3.0000000001","b":null,"bin":null,"st":null,"arr":null,"m":null}
]`),
		recordFromJSON(t, mem, s, `[
 {"id":null,"small":4,"f":-1.25,"fl":-0.5,"s":"`+maxRune+`","d":-1,"ts":null,"ntz":null,"dec":null,"b":false,"bin":null,"st":{"a":null,"inner":null},"arr":[],"m":[]}
]`),
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	_, st := writeFile(t, s, recs)
	got, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "stats_basic.json", got)
}

func TestStatsEmptyFile(t *testing.T) {
	s := mustSchema(t, schemaJSON("id long", "s string"))
	data, st := writeFile(t, s, nil)
	b, _ := json.Marshal(st)
	if string(b) != `{"numRecords":0,"nullCount":{"id":0,"s":0}}` {
		t.Errorf("stats %s", b)
	}
	rec, n := readAll(t, memory.NewGoAllocator(), data, s)
	if rec.NumRows() != 0 || n != 0 {
		t.Errorf("read %d rows in %d records", rec.NumRows(), n)
	}
}

func TestTruncateMax(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("é", 33), strings.Repeat("é", 31) + "ê"},
		{strings.Repeat("\U0010FFFF", 33), ""},
		{strings.Repeat("a", 31) + "\uD7FF" + "b", strings.Repeat("a", 31) + "\uE000"},
	} {
		got, _ := truncateMax(tc.in)
		if got != tc.want {
			t.Errorf("truncateMax(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	mem := memory.NewGoAllocator()
	s := mustSchema(t, schemaJSON("req long not null", `st {"type":"struct","fields":[{"name":"a","type":"integer","nullable":false,"metadata":{}}]}`))
	w, err := NewWriter(io.Discard, s)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordFromJSON(t, mem, s, `[{"req":null,"st":{"a":1}}]`)
	if err := w.Write(rec); err == nil || !strings.Contains(err.Error(), `"req"`) {
		t.Errorf("null in required column: %v", err)
	}
	other := recordFromJSON(t, mem, mustSchema(t, schemaJSON("req string")), `[{"req":"x"}]`)
	w2, _ := NewWriter(io.Discard, s)
	if err := w2.Write(other); err == nil {
		t.Errorf("mismatched record accepted")
	}
}

func TestMultiRowGroups(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := mustSchema(t, schemaJSON("id long", "s string", `arr {"type":"array","elementType":"long","containsNull":true}`))
	as, _ := deltalog.ArrowSchema(s)
	b := array.NewRecordBuilder(mem, as)
	defer b.Release()
	const n = 100_000
	lb := b.Field(2).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Int64Builder)
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("row-%d", i))
		}
		lb.Append(true)
		for j := range i % 4 {
			vb.Append(int64(j))
		}
	}
	in := b.NewRecord()
	defer in.Release()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, s, WithRowGroupSize(64<<10), WithPageSize(8<<10))
	if err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	before := w.BytesWritten()
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if before <= 0 || before > int64(buf.Len())*2 {
		t.Errorf("BytesWritten %d before close, file %d bytes", before, buf.Len())
	}
	if st.NumRecords != n || st.MinValues["id"] != int64(0) || st.MaxValues["id"] != int64(n-1) || st.NullCount["s"] != int64((n+6)/7) {
		t.Errorf("stats %+v", st)
	}
	rgs := countRowGroups(t, buf.Bytes())
	if rgs < 3 {
		t.Errorf("%d row groups in %d bytes, want several", rgs, buf.Len())
	}
	got, batches := readAll(t, mem, buf.Bytes(), s)
	defer got.Release()
	if batches < rgs {
		t.Errorf("%d batches for %d row groups", batches, rgs)
	}
	assertSameRecord(t, in, got)
}

// TestSchemaEvolution reads a file missing a column, which becomes nulls.
func TestSchemaEvolution(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	old := mustSchema(t, schemaJSON("id long", `st {"type":"struct","fields":[{"name":"a","type":"integer","nullable":true,"metadata":{}}]}`))
	in := recordFromJSON(t, mem, old, `[{"id":1,"st":{"a":1}},{"id":2,"st":null}]`)
	defer in.Release()
	data, _ := writeFile(t, old, []arrow.Record{in})
	evolved := mustSchema(t, schemaJSON("ID long", `st {"type":"struct","fields":[{"name":"a","type":"integer","nullable":true,"metadata":{}},{"name":"b","type":"string","nullable":true,"metadata":{}}]}`, "added double",
		`added_arr {"type":"array","elementType":"long","containsNull":true}`))
	got, _ := readAll(t, mem, data, evolved)
	defer got.Release()
	want := recordFromJSON(t, mem, evolved, `[{"ID":1,"st":{"a":1,"b":null},"added":null,"added_arr":null},{"ID":2,"st":null,"added":null,"added_arr":null}]`)
	defer want.Release()
	assertSameRecord(t, want, got)
}

// TestPyArrowReads has pyarrow, an independent implementation, read a file of
// every type and checks it sees the input's values and the Parquet types.
func TestPyArrowReads(t *testing.T) {
	py := os.Getenv("SLUICE_TEST_PYTHON")
	if py == "" {
		if testing.Short() {
			t.Skip("SLUICE_TEST_PYTHON not set")
		}
		t.Fatal("SLUICE_TEST_PYTHON not set: run deploy/testenv/test.sh")
	}
	mem := memory.NewGoAllocator()
	s := mustSchema(t, allTypesSchema)
	in := recordFromJSON(t, mem, s, allTypesRows)
	defer in.Release()
	data, _ := writeFile(t, s, []arrow.Record{in})
	path := filepath.Join(t.TempDir(), "all.parquet")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys, base64, decimal, datetime
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
def conv(v):
    if isinstance(v, bytes): return base64.b64encode(v).decode()
    if isinstance(v, decimal.Decimal): return format(v, 'f')
    if isinstance(v, datetime.datetime): return v.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(v, datetime.date): return (v - datetime.date(1970,1,1)).days
    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}
    if isinstance(v, list): return [conv(x) if not isinstance(x, tuple) else {"key": conv(x[0]), "value": conv(x[1])} for x in v]
    return v
cols = {}
for i in range(f.metadata.num_columns):
    c = f.schema.column(i)
    cols[c.path] = str(c.logical_type) + "/" + c.physical_type
print(json.dumps({"schema": f.schema_arrow.to_string(show_schema_metadata=False), "columns": cols, "created_by": f.metadata.created_by,
  "rows": [{k: conv(v) for k, v in r.items()} for r in f.read().to_pylist()]}))
`
	out, err := exec.Command(py, "-c", script, path).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("pyarrow: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var res struct {
		Schema    string            `json:"schema"`
		Columns   map[string]string `json:"columns"`
		CreatedBy string            `json:"created_by"`
		Rows      []map[string]any  `json:"rows"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.CreatedBy != createdBy {
		t.Errorf("created_by %q", res.CreatedBy)
	}
	for col, want := range map[string]string{
		"i8": "Int(bitWidth=8, isSigned=true)/INT32", "i16": "Int(bitWidth=16, isSigned=true)/INT32",
		"d": "Date/INT32", "s": "String/BYTE_ARRAY",
		"ts":   "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)/INT64",
		"ntz":  "Timestamp(isAdjustedToUTC=false, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)/INT64",
		"dec9": "Decimal(precision=9, scale=2)/INT32", "dec18": "Decimal(precision=18, scale=4)/INT64",
		"dec38":            "Decimal(precision=38, scale=10)/FIXED_LEN_BYTE_ARRAY",
		"arr.list.element": "Int(bitWidth=32, isSigned=true)/INT32", "m.key_value.key": "String/BYTE_ARRAY",
	} {
		if got := res.Columns[col]; got != want {
			t.Errorf("pyarrow column %s: %s, want %s", col, got, want)
		}
	}
	// The expected rows are the input rendered as the same JSON.
	var want []map[string]any
	if err := json.Unmarshal([]byte(allTypesRows), &want); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(res.Rows)
	var got []map[string]any
	_ = json.Unmarshal(gotJSON, &got)
	for i := range want {
		for k, w := range want[i] {
			if !jsonEqual(normalize(k, w), got[i][k]) {
				t.Errorf("row %d column %s: pyarrow read %v, want %v", i, k, got[i][k], w)
			}
		}
	}
	t.Logf("pyarrow schema:\n%s", res.Schema)
}

// normalize renders a JSON input value the way the Python script prints it.
func normalize(col string, v any) any {
	switch col {
	case "ts", "ntz":
		if s, ok := v.(string); ok && !strings.Contains(s, ".") {
			return s + ".000000"
		}
	case "f64":
		if f, ok := v.(float64); ok {
			return f
		}
	}
	return v
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
