package decode

import (
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

const orderAvro = `{"type":"record","name":"Order","namespace":"t","fields":[
 {"name":"id","type":"long"},
 {"name":"user_id","type":"int"},
 {"name":"name","type":["null","string"]},
 {"name":"active","type":"boolean"},
 {"name":"price","type":"double"},
 {"name":"ratio","type":"float"},
 {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","SHIPPED"]}},
 {"name":"raw","type":"bytes"},
 {"name":"hash","type":{"type":"fixed","name":"Hash","size":4}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"ts_ms","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"ts_us","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"local_ms","type":{"type":"long","logicalType":"local-timestamp-millis"}},
 {"name":"local_us","type":{"type":"long","logicalType":"local-timestamp-micros"}},
 {"name":"tod","type":{"type":"int","logicalType":"time-millis"}},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"big","type":{"type":"fixed","name":"Big","size":16,"logicalType":"decimal","precision":30,"scale":3}},
 {"name":"skipped","type":{"type":"array","items":{"type":"map","values":["null","string",{"type":"record","name":"S","fields":[{"name":"x","type":"double"}]}]}}},
 {"name":"customer","type":["null",{"type":"record","name":"Customer","fields":[
   {"name":"id","type":"long"},
   {"name":"email","type":["null","string"]},
   {"name":"level","type":"Status"}]}]},
 {"name":"tags","type":{"type":"array","items":"string"}},
 {"name":"attrs","type":{"type":"map","values":["null","long"]}},
 {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
   {"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}}
]}`

func orderColumns(t testing.TB) []Column {
	c := func(name, ddl string, nullable bool, path ...string) Column {
		return Column{Name: name, Type: mustType(t, ddl), Nullable: nullable, Path: path}
	}
	return []Column{
		c("id", "bigint", false),
		c("user_id", "int", false),
		c("name", "string", true),
		c("active", "boolean", false),
		c("price", "double", false),
		c("ratio", "float", false),
		c("status", "string", false),
		c("raw", "binary", false),
		c("hash", "binary", false),
		c("day", "date", false),
		c("ts_ms", "timestamp", false),
		c("ts_us", "timestamp", false),
		c("local_ms", "timestamp_ntz", false),
		c("local_us", "timestamp_ntz", false),
		c("tod", "int", false),
		c("amount", "decimal(10,2)", false),
		c("big", "decimal(30,3)", false),
		c("customer", "struct<id:bigint,email:string,level:string,missing:int>", true),
		c("cust_email", "string", true, "customer", "email"),
		c("cust_id_text", "string", true, "Customer", "ID"),
		c("tags", "array<string>", true),
		c("attrs", "map<string,bigint>", true),
		c("lines", "array<struct<sku:string,qty:smallint>>", true),
		c("ts_ms_raw", "bigint", false, "ts_ms"), // the same field again, as a number
		c("absent", "string", true),
		{Name: "offset", Type: mustType(t, "bigint"), Meta: MetaOffset},
	}
}

func orderRecord(withNulls bool) map[string]any {
	bigV, _ := new(big.Rat).SetString("-123456789012345678901.234")
	r := map[string]any{
		"id": int64(9007199254740993), "user_id": int32(-7), "name": "Zoë", "active": true,
		"price": 19.99, "ratio": float32(0.1), "status": "SHIPPED", "raw": []byte{0, 1, 255},
		"hash": [4]byte{0xde, 0xad, 0xbe, 0xef}, "day": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"ts_ms":    time.Date(2024, 1, 31, 8, 20, 30, 123e6, time.UTC),
		"ts_us":    time.Date(1969, 12, 31, 23, 59, 59, 999999e3, time.UTC),
		"local_ms": time.Date(2024, 1, 31, 10, 20, 30, 5e6, time.UTC),
		"local_us": time.Date(2024, 1, 31, 10, 20, 30, 123456e3, time.UTC),
		"tod":      45296789 * time.Millisecond,
		"amount":   big.NewRat(-1234, 100),
		"big":      bigV,
		"skipped":  []any{map[string]any{"a": map[string]any{"string": "x"}, "b": nil, "c": map[string]any{"t.S": map[string]any{"x": 1.5}}}},
		"customer": map[string]any{"t.Customer": map[string]any{"id": int64(42), "email": map[string]any{"string": "a@b.c"}, "level": "NEW"}},
		"tags":     []any{"x", "y"},
		"attrs":    map[string]any{"k": map[string]any{"long": int64(1)}},
		"lines":    []any{map[string]any{"sku": "A-1", "qty": int32(2)}, map[string]any{"sku": "B-2", "qty": int32(30)}},
	}
	if withNulls {
		r["name"], r["customer"] = nil, nil
		r["tags"], r["attrs"], r["lines"] = []any{}, map[string]any{"n": nil}, []any{}
	}
	return r
}

func mustAvro(t testing.TB, schema string, v any) []byte {
	t.Helper()
	b, err := avro.Marshal(avro.MustParse(schema), v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rowStrings renders row i of rec as column name -> ValueStr, decimals as
// exact text.
func rowStrings(rec arrow.Record, i int) map[string]string {
	out := map[string]string{}
	for c, col := range rec.Columns() {
		name := rec.ColumnName(c)
		if d, ok := col.(*array.Decimal128); ok && d.IsValid(i) {
			out[name] = formatDecimal(d.Value(i), int(d.DataType().(*arrow.Decimal128Type).Scale))
			continue
		}
		out[name] = col.ValueStr(i)
	}
	return out
}

func TestAvroMappings(t *testing.T) {
	f, srv := newFakeRegistry(t)
	f.add(1, sr.TypeAvro, orderAvro)
	d, err := NewAvro(orderColumns(t), f.client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	for i, nulls := range []bool{false, true} {
		if err := b.Add(&Message{Offset: int64(i), Value: frame(1, mustAvro(t, orderAvro, orderRecord(nulls)))}); err != nil {
			t.Fatal(err)
		}
	}
	rec := b.Build()
	defer rec.Release()
	want := map[string]string{
		"id": "9007199254740993", "user_id": "-7", "name": "Zoë", "active": "true", "price": "19.99",
		"ratio": "0.1", "status": "SHIPPED", "raw": "AAH/", "hash": "3q2+7w==", "day": "2024-02-29",
		"ts_ms": "2024-01-31 08:20:30.123Z", "ts_us": "1969-12-31 23:59:59.999999Z",
		"local_ms": "2024-01-31 10:20:30.005Z", "local_us": "2024-01-31 10:20:30.123456Z",
		"tod": "45296789", "amount": "-12.34", "big": "-123456789012345678901.234",
		"customer": `{"email":"a@b.c","id":42,"level":"NEW","missing":null}`, "cust_email": "a@b.c",
		"cust_id_text": "42", "tags": `["x","y"]`, "attrs": `[{"key":"k","value":1}]`,
		"lines": `[{"qty":2,"sku":"A-1"},{"qty":30,"sku":"B-2"}]`, "ts_ms_raw": "1706689230123",
		"absent": "(null)", "offset": "0",
	}
	got := rowStrings(rec, 0)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("row 0 %s = %s, want %s", k, got[k], w)
		}
	}
	got = rowStrings(rec, 1)
	for k, w := range map[string]string{"name": "(null)", "customer": "(null)", "cust_email": "(null)",
		"cust_id_text": "(null)", "tags": "[]", "attrs": `[{"key":"n","value":null}]`, "lines": "[]", "offset": "1"} {
		if got[k] != w {
			t.Errorf("row 1 %s = %s, want %s", k, got[k], w)
		}
	}
	if n := f.count("/schemas/ids/1"); n != 1 {
		t.Errorf("registry asked %d times", n)
	}
}

func TestAvroConversions(t *testing.T) {
	f, srv := newFakeRegistry(t)
	reg := f.client(t, srv)
	f.add(1, sr.TypeAvro, orderAvro)
	rec := mustAvro(t, orderAvro, orderRecord(false))
	for _, tc := range []struct {
		col  Column
		opts []Option
		want string // value, or "error: ..." for the exact error
	}{
		{Column{Name: "amount", Type: mustType(t, "decimal(10,1)")}, nil, `error: column "amount": -12.34 has 2 fractional digits, decimal(10,1) allows 1`},
		{Column{Name: "amount", Type: mustType(t, "decimal(10,1)")}, []Option{WithDecimalRounding()}, "-12.3"},
		{Column{Name: "amount", Type: mustType(t, "decimal(3,2)")}, nil, `error: column "amount": -12.34 has 2 integer digits, decimal(3,2) allows 1`},
		{Column{Name: "amount", Type: mustType(t, "string")}, nil, "-12.34"},
		{Column{Name: "amount", Type: mustType(t, "double")}, nil, "-12.34"},
		{Column{Name: "big", Type: mustType(t, "decimal(38,3)")}, nil, "-123456789012345678901.234"},
		{Column{Name: "ratio", Type: mustType(t, "decimal(5,2)")}, nil, "0.10"},
		{Column{Name: "ratio", Type: mustType(t, "string")}, nil, "0.1"},
		{Column{Name: "id", Type: mustType(t, "int")}, nil, `error: column "id": 9007199254740993 is out of range for integer (-2147483648 to 2147483647)`},
		{Column{Name: "id", Type: mustType(t, "string")}, nil, "9007199254740993"},
		{Column{Name: "name", Type: mustType(t, "bigint"), Nullable: true}, nil, `error: column "name": "Zoë" is not a valid long`},
		{Column{Name: "status", Type: mustType(t, "int")}, nil, `error: column "status": "SHIPPED" is not a valid integer`},
		{Column{Name: "tags", Type: mustType(t, "string")}, nil, `error: column "tags": cannot convert an Avro array to string`},
		{Column{Name: "customer", Type: mustType(t, "string"), Nullable: true}, nil, `error: column "customer": cannot convert an Avro record to string`},
		{Column{Name: "customer", Type: mustType(t, "struct<id:int,zip:string not null>"), Nullable: true}, nil, `error: column "customer.zip": null or missing, but the column is NOT NULL`},
		{Column{Name: "customer", Type: mustType(t, "struct<id:int,level:int>"), Nullable: true}, nil, `error: column "customer.level": "NEW" is not a valid integer`},
		{Column{Name: "lines", Type: mustType(t, "array<struct<sku:string,qty:tinyint>>")}, nil, `[{"qty":2,"sku":"A-1"},{"qty":30,"sku":"B-2"}]`},
		{Column{Name: "lines", Type: mustType(t, "array<struct<sku:int>>")}, nil, `error: column "lines[0].sku": "A-1" is not a valid integer`},
		{Column{Name: "attrs", Type: mustType(t, "map<int,bigint>")}, nil, `error: column "attrs[\"k\"]": key: "k" is not a valid integer`},
		{Column{Name: "absent", Type: mustType(t, "string")}, nil, `error: column "absent": null or missing, but the column is NOT NULL`},
		{Column{Name: "day", Type: mustType(t, "timestamp")}, nil, "2024-02-29 00:00:00Z"},
		{Column{Name: "ts_ms", Type: mustType(t, "date")}, nil, "2024-01-31"},
		{Column{Name: "ts_ms", Type: mustType(t, "string")}, nil, "2024-01-31T08:20:30.123Z"},
		{Column{Name: "ts_ms", Type: mustType(t, "bigint")}, []Option{WithEpochUnit(EpochSeconds)}, "1706689230"},
		{Column{Name: "x", Type: mustType(t, "int"), Path: []string{"tags", "x"}}, nil, `error: schema id 1: column "x": path ["tags" "x"]: "tags" is an Avro array, not a record`},
		{Column{Name: "raw", Type: mustType(t, "string")}, nil, `error: column "raw": "\x00\x01\xff" is not valid UTF-8`},
	} {
		d, err := NewAvro([]Column{tc.col}, reg, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		b := d.NewBatch(memory.DefaultAllocator)
		err = b.Add(&Message{Value: frame(1, rec)})
		if err != nil {
			if b.Len() != 0 {
				t.Errorf("failed Add left Len %d", b.Len())
			}
			if got := "error: " + err.Error(); got != tc.want {
				t.Errorf("%s %s: %s\n want %s", tc.col.Name, tc.col.Type, got, tc.want)
			}
			b.Release()
			continue
		}
		r := b.Build()
		if got := rowStrings(r, 0)[tc.col.Name]; got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.col.Name, tc.col.Type, got, tc.want)
		}
		r.Release()
		b.Release()
	}
}

func TestAvroErrorsAndAtomicity(t *testing.T) {
	f, srv := newFakeRegistry(t)
	f.add(1, sr.TypeAvro, orderAvro)
	f.add(2, sr.TypeAvro, `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`)
	f.add(3, sr.TypeAvro, `"long"`)
	f.add(4, sr.TypeAvro, `{"type":"record", "name": broken`)
	d, err := NewAvro(orderColumns(t), f.client(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	b := d.NewBatch(memory.DefaultAllocator)
	defer b.Release()
	good := mustAvro(t, orderAvro, orderRecord(false))
	if err := b.Add(&Message{Value: frame(1, good)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    []byte
		want string
	}{
		{"unknown id", frame(42, good), "schema id 42: not found in the registry"},
		{"no magic byte", append([]byte{1}, frame(1, good)[1:]...), "no schema registry header (want magic byte 0 and a 4-byte big-endian schema id): first byte is 0x01"},
		{"short header", []byte{0, 0, 1}, "no schema registry header (want magic byte 0 and a 4-byte big-endian schema id): value is 3 bytes"},
		{"truncated", frame(1, good[:len(good)-3]), "schema id 1: invalid Avro payload: truncated at byte 141 of " + itoa(len(good)-3)},
		{"trailing bytes", frame(1, append(append([]byte{}, good...), 0, 0)), "schema id 1: invalid Avro payload: 2 bytes left after the record (wrong schema?)"},
		{"wrong type", frame(2, mustAvro(t, `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`, map[string]any{"id": "abc"})),
			`column "id": "abc" is not a valid long`},
		{"not a record", frame(3, []byte{2}), "schema id 3: writer schema is long, not a record"},
		{"bad schema", frame(4, []byte{2}), "schema id 4: parse Avro schema: "},
		{"bad union index", frame(1, append(good[:9:9], 0x09)) /* the name union's index */, "schema id 1: invalid Avro payload: union branch -5 out of range (2 branches)"},
	} {
		err := b.Add(&Message{Value: tc.v})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v\n want %s", tc.name, err, tc.want)
		}
		if b.Len() != 1 {
			t.Errorf("%s: Len %d after a failed Add", tc.name, b.Len())
		}
	}
	if err := b.Add(&Message{Value: frame(1, good)}); err != nil {
		t.Fatal(err)
	}
	rec := b.Build()
	defer rec.Release()
	if rec.NumRows() != 2 {
		t.Fatalf("%d rows", rec.NumRows())
	}
	for c := range rec.Columns() {
		if a, b := rec.Column(c).ValueStr(0), rec.Column(c).ValueStr(1); a != b {
			t.Errorf("column %s: rows differ after failed adds: %s vs %s", rec.ColumnName(c), a, b)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzAvroAdd feeds arbitrary payloads after a valid header: Add must
// return an error or a row, never panic, and a failed Add adds nothing.
func FuzzAvroAdd(f *testing.F) {
	reg, srv := newFakeRegistry(f)
	reg.add(1, sr.TypeAvro, orderAvro)
	d, err := NewAvro(orderColumns(f), reg.client(f, srv))
	if err != nil {
		f.Fatal(err)
	}
	good := mustAvro(f, orderAvro, orderRecord(false))
	f.Add(good)
	f.Add(mustAvro(f, orderAvro, orderRecord(true)))
	f.Add(good[:20])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	b := d.NewBatch(memory.DefaultAllocator)
	f.Cleanup(b.Release)
	f.Fuzz(func(t *testing.T, payload []byte) {
		before := b.Len()
		err := b.Add(&Message{Value: frame(1, payload)})
		if err != nil && b.Len() != before {
			t.Fatalf("failed Add changed Len %d -> %d", before, b.Len())
		}
		if err == nil && b.Len() != before+1 {
			t.Fatalf("Add changed Len %d -> %d", before, b.Len())
		}
		if b.Len() >= 256 {
			b.Build().Release()
		}
	})
}
