package transform

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// sqlSchema is the input of the golden expression tests: five rows of
// every type, row 2 null in the nullable columns.
var sqlSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "d", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: tsType, Nullable: true},
	{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "j", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "txt", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func sqlInput(t testing.TB) arrow.Record {
	t.Helper()
	valid := []bool{true, true, false, true, true}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sqlSchema)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{1, -7, 0, 2147483647, 0}, valid)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{10, 3, 0, -9223372036854775808, 0}, valid)
	b.Field(2).(*array.Float64Builder).AppendValues([]float64{1.5, -2.5, 0, 0, 2.25}, valid)
	var ds []decimal128.Num
	for _, v := range []string{"1.25", "-3.50", "0", "0.00", "100.99"} {
		n, err := decimal128.FromString(v, 10, 2)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, n)
	}
	b.Field(3).(*array.Decimal128Builder).AppendValues(ds, valid)
	b.Field(4).(*array.StringBuilder).AppendValues([]string{"Hello", "wörld", "", "", "a%b_c"}, valid)
	var tss []arrow.Timestamp
	var dts []arrow.Date32
	for _, v := range []string{"2024-02-29T13:45:30.123456Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2024-12-31T23:59:59.999999Z", "2000-01-01T00:00:00Z"} {
		tm, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Fatal(err)
		}
		tss = append(tss, arrow.Timestamp(tm.UnixMicro()))
	}
	for _, v := range []string{"2024-02-29", "1970-01-01", "1970-01-01", "1969-12-31", "2000-03-01"} {
		tm, _ := time.Parse(time.DateOnly, v)
		dts = append(dts, arrow.Date32FromTime(tm))
	}
	b.Field(5).(*array.TimestampBuilder).AppendValues(tss, valid)
	b.Field(6).(*array.Date32Builder).AppendValues(dts, valid)
	b.Field(7).(*array.BooleanBuilder).AppendValues([]bool{true, false, false, true, false}, valid)
	b.Field(8).(*array.StringBuilder).AppendValues([]string{`{"a":{"b":[1,2]},"n":1.50}`, `{"a":"x","t":true}`, "", `not json`, `{"a":{"b":[{"c":null},"é"]}}`}, valid)
	b.Field(9).(*array.StringBuilder).AppendValues([]string{"12", "x", "", " 7 ", ""}, valid)
	return b.NewRecord()
}

func str(v string) *Expr           { return lit(v, "STRING") }
func i64(v string) *Expr           { return lit(v, "BIGINT") }
func i32(v string) *Expr           { return lit(v, "INT") }
func null(typ string) *Expr        { return &Expr{Null: true, Type: typ} }
func cast(e *Expr, t string) *Expr { return &Expr{Op: "cast", Type: t, Args: []*Expr{e}} }

// sqlCase is one golden expression test: the result over sqlInput
// (failed rows left out), and the rows that fail with an error containing
// errLike.
type sqlCase struct {
	name    string
	expr    *Expr
	want    string
	errRows []int
	errLike string
}

// evalSQL evaluates e as the only select item over sqlInput.
func evalSQL(t *testing.T, e *Expr) (arrow.Array, []RowError) {
	t.Helper()
	xf, err := Compile(sqlSchema, &Spec{Select: []SelectItem{{Name: "v", Expr: e}}})
	if err != nil {
		t.Fatalf("compile %s: %v", e, err)
	}
	xf.(*compiled).now = func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }
	rec := sqlInput(t)
	defer rec.Release()
	out, rowErrs, err := xf.Apply(context.Background(), rec)
	if err != nil {
		t.Fatalf("apply %s: %v", e, err)
	}
	defer out.Release()
	if !arrow.TypeEqual(out.Schema().Field(0).Type, out.Column(0).DataType()) {
		t.Fatalf("%s: schema type %s, column type %s", e, out.Schema().Field(0).Type, out.Column(0).DataType())
	}
	a := out.Column(0)
	a.Retain()
	return a, rowErrs
}

func runSQLCases(t *testing.T, cases []sqlCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, rowErrs := evalSQL(t, tc.expr)
			defer a.Release()
			if got := show(a); got != tc.want {
				t.Errorf("%s\n got %s\nwant %s", tc.expr, got, tc.want)
			}
			var rows []int
			for _, re := range rowErrs {
				rows = append(rows, re.Row)
				if tc.errLike == "" || !strings.Contains(re.Err.Error(), tc.errLike) {
					t.Errorf("row %d: error %q, want it to contain %q", re.Row, re.Err, tc.errLike)
				}
			}
			if fmt.Sprint(rows) != fmt.Sprint(tc.errRows) && !(len(rows) == 0 && len(tc.errRows) == 0) {
				t.Errorf("failed rows %v, want %v", rows, tc.errRows)
			}
		})
	}
}

// show formats an array like Arrow's String, decimals as numbers.
func show(a arrow.Array) string {
	d, ok := a.(*array.Decimal128)
	if !ok {
		return a.String()
	}
	scale := d.DataType().(*arrow.Decimal128Type).Scale
	parts := make([]string, d.Len())
	for i := range parts {
		if d.IsNull(i) {
			parts[i] = "(null)"
		} else {
			parts[i] = d.Value(i).ToString(scale)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}
