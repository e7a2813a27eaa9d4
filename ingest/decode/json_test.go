package decode

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

func mustType(t testing.TB, ddl string) *deltalog.Type {
	t.Helper()
	ty, err := deltalog.ParseType(ddl)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

// decodeOne decodes value into a one-column batch of the given type and
// returns the cell's string form (Arrow's ValueStr) or the error.
func decodeOne(t *testing.T, ddl string, nullable bool, value string, opts ...JSONOption) (string, error) {
	t.Helper()
	d, err := NewJSON([]Column{{Name: "c", Type: mustType(t, ddl), Nullable: nullable}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	if err := b.Add(&Message{Value: []byte(value)}); err != nil {
		if b.Len() != 0 {
			t.Errorf("failed Add left Len %d", b.Len())
		}
		return "", err
	}
	rec := b.Build()
	defer rec.Release()
	if rec.NumRows() != 1 {
		t.Fatalf("%d rows", rec.NumRows())
	}
	if d, ok := rec.Column(0).(*array.Decimal128); ok && d.IsValid(0) {
		return formatDecimal(d.Value(0), int(d.DataType().(*arrow.Decimal128Type).Scale)), nil
	}
	return rec.Column(0).ValueStr(0), nil
}

func TestJSONCoercions(t *testing.T) {
	tests := []struct {
		ddl, json, want string
		opts            []JSONOption
	}{
		{"boolean", `true`, "true", nil},
		{"boolean", `"FALSE"`, "false", nil},
		{"tinyint", `-128`, "-128", nil},
		{"tinyint", `"127"`, "127", nil},
		{"smallint", `32767`, "32767", nil},
		{"int", `-2147483648`, "-2147483648", nil},
		{"bigint", `9223372036854775807`, "9223372036854775807", nil},
		{"bigint", `"-9223372036854775808"`, "-9223372036854775808", nil},
		{"float", `1.5`, "1.5", nil},
		{"double", `"2.25e2"`, "225", nil},
		{"double", `"NaN"`, "NaN", nil},
		{"string", `"héllo \u00e9\n"`, "héllo é\n", nil},
		{"string", `12.50`, "12.50", nil},
		{"string", `{"a": [1, true]}`, `{"a":[1,true]}`, nil},
		{"string", `false`, "false", nil},
		{"binary", `"aGk="`, "aGk=", nil},
		{"binary", `"aGk"`, "aGk=", nil},
		{"date", `"2024-02-29"`, "2024-02-29", nil},
		{"date", `19782`, "2024-02-29", nil},
		{"date", `-1`, "1969-12-31", nil},
		{"timestamp", `"2024-01-31T10:20:30.123456789+02:00"`, "2024-01-31 08:20:30.123456Z", nil},
		{"timestamp", `"2024-01-31t10:20:30z"`, "2024-01-31 10:20:30Z", nil},
		{"timestamp", `"2024-01-31 10:20:30.5"`, "2024-01-31 10:20:30.5Z", nil},
		{"timestamp", `"1969-12-31T23:59:59.999999Z"`, "1969-12-31 23:59:59.999999Z", nil},
		{"timestamp", `1706696430123`, "2024-01-31 10:20:30.123Z", nil},
		{"timestamp", `"1706696430123"`, "2024-01-31 10:20:30.123Z", nil},
		{"timestamp", `1706696430.5`, "2024-01-31 10:20:30.5Z", []JSONOption{WithEpochUnit(EpochSeconds)}},
		{"timestamp", `1706696430123456`, "2024-01-31 10:20:30.123456Z", []JSONOption{WithEpochUnit(EpochMicros)}},
		{"timestamp_ntz", `"2024-01-31T10:20:30.25"`, "2024-01-31 10:20:30.25Z", nil}, // Arrow prints Z for zoneless timestamps too
		{"decimal(10,2)", `12.3`, "12.30", nil},
		{"decimal(10,2)", `"-12.340"`, "-12.34", nil},
		{"decimal(10,2)", `1.5e2`, "150.00", nil},
		{"decimal(10,2)", `99999999.99`, "99999999.99", nil},
		{"decimal(10,2)", `-0.001`, "0.00", []JSONOption{WithDecimalRounding()}},
		{"decimal(10,2)", `12.345`, "12.35", []JSONOption{WithDecimalRounding()}},
		{"decimal(10,2)", `-12.344`, "-12.34", []JSONOption{WithDecimalRounding()}},
		{"decimal(38,0)", `"99999999999999999999999999999999999999"`, "99999999999999999999999999999999999999", nil},
		{"decimal(38,10)", `-1234567890123456789012345678.0123456789`, "-1234567890123456789012345678.0123456789", nil},
		{"decimal(5,5)", `0.00001`, "0.00001", nil},
		{"int", `null`, "(null)", nil},
	}
	for _, tt := range tests {
		got, err := decodeOne(t, tt.ddl, true, `{"c":`+tt.json+`}`, tt.opts...)
		if err != nil {
			t.Errorf("%s from %s: %v", tt.ddl, tt.json, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s from %s = %q, want %q", tt.ddl, tt.json, got, tt.want)
		}
	}
}

func TestJSONCoercionErrors(t *testing.T) {
	tests := []struct{ ddl, json, want string }{
		{"tinyint", `128`, `column "c": 128 is out of range for byte (-128 to 127)`},
		{"smallint", `"-40000"`, `column "c": "-40000" is out of range for short (-32768 to 32767)`},
		{"int", `2147483648`, `column "c": 2147483648 is out of range for integer (-2147483648 to 2147483647)`},
		{"bigint", `9223372036854775808`, `column "c": 9223372036854775808 is out of range for long (-9223372036854775808 to 9223372036854775807)`},
		{"int", `4.5`, `column "c": 4.5 is not a valid integer`},
		{"int", `"4x"`, `column "c": "4x" is not a valid integer`},
		{"int", `true`, `column "c": cannot convert true to integer`},
		{"int", `[1]`, `column "c": cannot convert a JSON array to integer`},
		{"float", `1e39`, `column "c": 1e39 is out of range for float`},
		{"double", `"abc"`, `column "c": "abc" is not a valid double`},
		{"boolean", `1`, `column "c": 1 is not a valid boolean`},
		{"boolean", `"yes"`, `column "c": "yes" is not a valid boolean`},
		{"binary", `"a*=="`, `column "c": "a*==" is not valid base64`},
		{"binary", `5`, `column "c": cannot convert 5 to binary`},
		{"date", `"2023-02-29"`, `column "c": "2023-02-29" is not a valid date (want YYYY-MM-DD)`},
		{"date", `1.5`, `column "c": 1.5 is not a valid date (want YYYY-MM-DD or days since 1970-01-01)`},
		{"timestamp", `"2024-01-31T25:00:00Z"`, `column "c": "2024-01-31T25:00:00Z" is not a valid RFC 3339 timestamp`},
		{"timestamp", `"yesterday"`, `column "c": "yesterday" is not a valid timestamp (want RFC 3339 or a number since the epoch): "yesterday" is not a valid number`},
		{"timestamp_ntz", `"2024-01-31T10:00:00Z"`, `column "c": "2024-01-31T10:00:00Z" has a time zone, but timestamp_ntz takes local date-times`},
		{"decimal(10,2)", `"12.345"`, `column "c": "12.345" has 3 fractional digits, decimal(10,2) allows 2`},
		{"decimal(10,2)", `1.2345e1`, `column "c": 1.2345e1 has 3 fractional digits, decimal(10,2) allows 2`},
		{"decimal(10,2)", `123456789`, `column "c": 123456789 has 9 integer digits, decimal(10,2) allows 8`},
		{"decimal(10,2)", `1e300`, `column "c": 1e300 has 301 integer digits, decimal(10,2) allows 8`},
		{"decimal(10,2)", `"1.2.3"`, `column "c": "1.2.3" is not a valid number`},
		{"decimal(38,0)", `1e38`, `column "c": 1e38 has 39 integer digits, decimal(38,0) allows 38`},
		{"string", `"\ud800"`, ``}, // fastjson keeps a lone surrogate as U+FFFD-free bytes; must not panic
		{"struct<a:int>", `5`, `column "c": cannot convert 5 to struct<a:integer>`},
		{"struct<a:int>", `{"a":"x"}`, `column "c.a": "x" is not a valid integer`},
		{"array<int>", `[1,2,"x"]`, `column "c[2]": "x" is not a valid integer`},
		{"array<int not null>", `[1,null]`, `column "c[1]": null or missing, but the column is NOT NULL`},
		{"map<string,int>", `{"k":"v"}`, `column "c[\"k\"]": "v" is not a valid integer`},
		{"map<int,int>", `{"k":1}`, `column "c[\"k\"]": key: "k" is not a valid integer`},
	}
	for _, tt := range tests {
		_, err := decodeOne(t, tt.ddl, true, `{"c":`+tt.json+`}`)
		if tt.want == "" {
			continue
		}
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s from %s: error %v, want %s", tt.ddl, tt.json, err, tt.want)
		}
		var ce *ColumnError
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("%s from %s: error %T is not a *ColumnError", tt.ddl, tt.json, err)
		}
	}
}

func TestJSONNullsAndMessages(t *testing.T) {
	tests := []struct{ value, want string }{
		{`{}`, `column "id": null or missing, but the column is NOT NULL`},
		{`{"id":null}`, `column "id": null or missing, but the column is NOT NULL`},
		{`[1]`, `value is not a JSON object: it is a JSON array`},
		{`{"id":1,`, `invalid JSON: cannot parse JSON`},
		{``, `invalid JSON: cannot parse JSON`},
		{`{"id":1,"customer":5}`, `column "cust_id": path ["customer" "id"]: "customer" is a JSON number, not an object`},
	}
	d, err := NewJSON([]Column{
		{Name: "id", Type: deltalog.Primitive(deltalog.TypeLong)},
		{Name: "cust_id", Type: deltalog.Primitive(deltalog.TypeLong), Nullable: true, Path: []string{"customer", "id"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	for _, tt := range tests {
		err := b.Add(&Message{Value: []byte(tt.value)})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Add(%s): error %v, want %s", tt.value, err, tt.want)
		}
	}
	for _, v := range []string{`{"id":1}`, `{"id":2,"customer":null}`, `{"id":3,"customer":{"id":"7"}}`} {
		if err := b.Add(&Message{Value: []byte(v)}); err != nil {
			t.Fatalf("Add(%s): %v", v, err)
		}
	}
	rec := b.Build()
	defer rec.Release()
	if got := rec.Column(1).String(); got != "[(null) (null) 7]" {
		t.Errorf("cust_id = %s", got)
	}
}

const nestedDDL = "struct<id:bigint not null, customer:struct<name:string,tags:array<string>>, items:array<struct<sku:string,price:decimal(10,2) not null>>, attrs:map<string,double>, ts:timestamp, day:date, flag:boolean, b:tinyint, s:smallint, f:float, ntz:timestamp_ntz, bin:binary>"

func nestedColumns(t testing.TB) []Column {
	st := mustType(t, nestedDDL)
	cols := make([]Column, len(st.Fields))
	for i, f := range st.Fields {
		cols[i] = Column{Name: f.Name, Type: f.Type, Nullable: f.Nullable}
	}
	return cols
}

// TestJSONSchemaMatchesParquetio checks that decoded records carry exactly
// the Arrow schema of the Delta schema (deltalog.ArrowSchema), nested types too.
func TestJSONSchemaMatchesParquetio(t *testing.T) {
	want, err := deltalog.ArrowSchema(mustType(t, nestedDDL))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewJSON(nestedColumns(t))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Schema().Equal(want) {
		t.Fatalf("schema\n%s\nwant\n%s", d.Schema(), want)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	if err := b.Add(&Message{Value: []byte(`{"id":1,"customer":{"name":"Ann","tags":["a",null]},"items":[{"sku":"x","price":"9.99"},{"price":1}],"attrs":{"w":1.5,"h":null},"ts":"2024-01-31T10:00:00Z","day":"2024-01-31","flag":true,"b":1,"s":2,"f":0.5,"ntz":"2024-01-31T10:00:00","bin":"AAE="}`)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(&Message{Value: []byte(`{"id":2}`)}); err != nil {
		t.Fatal(err)
	}
	rec := b.Build()
	defer rec.Release()
	if !rec.Schema().Equal(want) {
		t.Fatalf("record schema\n%s\nwant\n%s", rec.Schema(), want)
	}
	for i, want := range map[int]string{
		1: `{["Ann" (null)] [["a" (null)] (null)]}`,
		2: `[{["x" (null)] [{999 0} {100 0}]} (null)]`, // 9.99 and 1.00
		3: `[{["w" "h"] [1.5 (null)]} (null)]`,
	} {
		if got := rec.Column(i).String(); got != want {
			t.Errorf("column %s = %s, want %s", rec.ColumnName(i), got, want)
		}
	}
}

// TestJSONAtomic checks that a row failing in its last column leaves the
// batch, and every builder, as it was.
func TestJSONAtomic(t *testing.T) {
	d, err := NewJSON(nestedColumns(t))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	good := `{"id":1,"customer":{"name":"Ann","tags":["a"]},"items":[{"sku":"x","price":1}],"attrs":{"w":1},"bin":"AA=="}`
	if err := b.Add(&Message{Value: []byte(good)}); err != nil {
		t.Fatal(err)
	}
	size := b.SizeBytes()
	for _, bad := range []string{
		`{"id":2,"customer":{"name":"Bob","tags":["b","c"]},"items":[{"sku":"y","price":1}],"attrs":{"w":2},"bin":"!"}`,
		`{"id":2,"customer":{"name":"Bob","tags":["b","c"]},"items":[{"sku":"y","price":1},{"sku":"z"}]}`,
		`{"id":2,"customer":{"name":"Bob"},"attrs":{"w":2,"h":"x"}}`,
		`{"customer":{"name":"Bob"}}`,
	} {
		if err := b.Add(&Message{Value: []byte(bad)}); err == nil {
			t.Fatalf("Add(%s) succeeded", bad)
		}
	}
	if b.Len() != 1 || b.SizeBytes() != size {
		t.Fatalf("Len %d SizeBytes %d after failed rows, want 1 and %d", b.Len(), b.SizeBytes(), size)
	}
	if err := b.Add(&Message{Value: []byte(`{"id":3}`)}); err != nil {
		t.Fatal(err)
	}
	rec := b.Build()
	defer rec.Release()
	if rec.NumRows() != 2 {
		t.Fatalf("%d rows", rec.NumRows())
	}
	for i, col := range rec.Columns() {
		if col.Len() != 2 {
			t.Errorf("column %s has %d values", rec.ColumnName(i), col.Len())
		}
	}
	checkChildLens(t, "customer.tags", rec.Column(1).(*array.Struct).Field(1).(*array.List).ListValues(), 1)
	checkChildLens(t, "items", rec.Column(2).(*array.List).ListValues(), 1)
	checkChildLens(t, "attrs", rec.Column(3).(*array.Map).Keys(), 1)
	if b.Len() != 0 || b.SizeBytes() != 0 {
		t.Errorf("Build did not reset: Len %d SizeBytes %d", b.Len(), b.SizeBytes())
	}
}

func checkChildLens(t *testing.T, name string, a arrow.Array, want int) {
	t.Helper()
	if a.Len() != want {
		t.Errorf("%s: %d child values, want %d", name, a.Len(), want)
	}
}

func TestMetaColumns(t *testing.T) {
	p := deltalog.Primitive
	cols := []Column{
		{Name: "v", Type: p(deltalog.TypeString), Nullable: true},
		{Name: "topic", Type: p(deltalog.TypeString), Meta: MetaTopic},
		{Name: "part", Type: p(deltalog.TypeInteger), Meta: MetaPartition},
		{Name: "off", Type: p(deltalog.TypeLong), Meta: MetaOffset},
		{Name: "ts", Type: p(deltalog.TypeTimestamp), Nullable: true, Meta: MetaTimestamp},
		{Name: "ts_ms", Type: p(deltalog.TypeLong), Nullable: true, Meta: MetaTimestamp},
		{Name: "key", Type: p(deltalog.TypeBinary), Nullable: true, Meta: MetaKey},
		{Name: "key_s", Type: p(deltalog.TypeString), Nullable: true, Meta: MetaKey},
		{Name: "headers", Type: mustType(t, "map<string,binary>"), Nullable: true, Meta: MetaHeaders},
	}
	m := &Message{Topic: "orders", Partition: 3, Offset: 42, Timestamp: time.UnixMilli(1706696430123),
		Key: []byte("k1"), Value: []byte(`{"v":"x"}`), Headers: []Header{{"h", []byte("1")}, {"n", nil}}}
	want := []string{"x", "orders", "3", "42", "2024-01-31 10:20:30.123Z", "1706696430123", "azE=", "k1", `[{"key":"h","value":"MQ=="},{"key":"n","value":null}]`}
	raw := []string{"", "orders", "3", "42", "2024-01-31 10:20:30.123Z", "1706696430123", "azE=", "k1", `[{"key":"h","value":"MQ=="},{"key":"n","value":null}]`}
	jd, err := NewJSON(cols)
	if err != nil {
		t.Fatal(err)
	}
	rawCols := append([]Column{{Name: "v", Type: p(deltalog.TypeString), Nullable: true}}, cols[1:]...)
	rd, err := NewRaw(rawCols, deltalog.TypeString)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = `{"v":"x"}`
	for _, c := range []struct {
		d    Decoder
		want []string
	}{{jd, want}, {rd, raw}} {
		b := c.d.NewBatch(memory.DefaultAllocator)
		if err := b.Add(m); err != nil {
			t.Fatal(err)
		}
		rec := b.Build()
		for i := range c.want {
			if got := rec.Column(i).ValueStr(0); got != c.want[i] {
				t.Errorf("%T column %s = %q, want %q", c.d, rec.ColumnName(i), got, c.want[i])
			}
		}
		rec.Release()
		b.Release()
	}
	// Invalid UTF-8 keys for a string column fail the row.
	b := jd.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	bad := *m
	bad.Key = []byte{0xff}
	if err := b.Add(&bad); err == nil || err.Error() != `column "key_s": "\xff" is not valid UTF-8` {
		t.Errorf("invalid UTF-8 key: %v", err)
	}
}

func TestRaw(t *testing.T) {
	p := deltalog.Primitive
	if _, err := NewRaw([]Column{{Name: "v", Type: p(deltalog.TypeLong)}}, "long"); err == nil {
		t.Error("NewRaw accepted a long value")
	}
	if _, err := NewRaw([]Column{{Name: "v", Type: p(deltalog.TypeString)}}, "binary"); err == nil {
		t.Error("NewRaw accepted a mismatched column type")
	}
	if _, err := NewRaw([]Column{{Name: "t", Type: p(deltalog.TypeString), Meta: MetaTopic}}, "binary"); err == nil {
		t.Error("NewRaw accepted no value column")
	}
	for _, vt := range []string{deltalog.TypeString, deltalog.TypeBinary} {
		d, err := NewRaw([]Column{{Name: "v", Type: p(vt), Nullable: true}}, vt)
		if err != nil {
			t.Fatal(err)
		}
		b := d.NewBatch(memory.DefaultAllocator)
		for _, v := range [][]byte{[]byte("héllo"), nil, {0xff, 0}} {
			err := b.Add(&Message{Value: v})
			if wantErr := vt == deltalog.TypeString && v != nil && v[0] == 0xff; (err != nil) != wantErr {
				t.Errorf("%s: Add(%q): %v", vt, v, err)
			}
		}
		rec := b.Build()
		if got, want := rec.Column(0).String(), map[string]string{
			deltalog.TypeString: `["héllo" (null)]`, deltalog.TypeBinary: `["héllo" (null) "\xff\x00"]`,
		}[vt]; got != want {
			t.Errorf("%s: %s, want %s", vt, got, want)
		}
		rec.Release()
		b.Release()
	}
}

func TestNewJSONErrors(t *testing.T) {
	p := deltalog.Primitive
	for _, tt := range []struct {
		cols []Column
		want string
	}{
		{nil, "decode: no columns"},
		{[]Column{{Name: "a", Type: p("uuid")}}, `decode: column "a": unsupported type "uuid"`},
		{[]Column{{Name: "a", Type: p("long")}, {Name: "a", Type: p("long")}}, `decode: column "a" declared twice`},
		{[]Column{{Name: "a", Type: p("long"), Meta: "size"}}, `decode: column "a": unknown metadata "size"`},
		{[]Column{{Name: "a", Type: p("string"), Meta: MetaHeaders}}, `decode: column "a": metadata "headers" needs a map type, such as map<string,binary>, not string`},
		{[]Column{{Name: "a", Type: deltalog.Decimal(40, 2)}}, `decode: deltalog: column "a": invalid decimal(40,2)`},
	} {
		if _, err := NewJSON(tt.cols); err == nil || err.Error() != tt.want {
			t.Errorf("NewJSON(%v): %v, want %s", tt.cols, err, tt.want)
		}
	}
}

func FuzzJSONAdd(f *testing.F) {
	for _, s := range []string{`{"id":1}`, `{"id":1,"customer":{"name":"Ann","tags":["a",null]},"items":[{"sku":"x","price":"9.99"}],"attrs":{"w":1.5},"ts":1706696430123,"day":19782,"flag":"true","b":"1","s":2,"f":"NaN","ntz":"2024-01-31T10:00:00","bin":"AAE="}`,
		`{"id":"9223372036854775807","items":[{"price":1e-5}]}`, `[]`, `{"id":1,"attrs":{"\u0000":1e400}}`} {
		f.Add([]byte(s))
	}
	d, err := NewJSON(nestedColumns(f))
	if err != nil {
		f.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	f.Fuzz(func(t *testing.T, value []byte) {
		n := b.Len()
		if err := b.Add(&Message{Value: value}); err != nil {
			if b.Len() != n {
				t.Fatalf("failed Add changed Len from %d to %d", n, b.Len())
			}
		} else if b.Len() != n+1 {
			t.Fatalf("Add changed Len from %d to %d", n, b.Len())
		}
		if b.Len() >= 64 {
			rec := b.Build()
			for i, col := range rec.Columns() {
				if int64(col.Len()) != rec.NumRows() {
					t.Fatalf("column %s has %d values, record %d rows", rec.ColumnName(i), col.Len(), rec.NumRows())
				}
			}
			rec.Release()
		}
	})
}
