package transform

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var inSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "tags", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String), Nullable: true},
}, nil)

func input(t *testing.T) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, inSchema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3, 4}, nil)
	b.Field(1).(*array.Int32Builder).AppendValues([]int32{5, 0, 7, 9}, []bool{true, false, true, true})
	b.Field(2).(*array.StringBuilder).AppendValues([]string{"DE", "FR", "", "DE"}, []bool{true, true, false, true})
	mb := b.Field(3).(*array.MapBuilder)
	for i := 0; i < 4; i++ {
		mb.Append(true)
		mb.KeyBuilder().(*array.StringBuilder).Append("k")
		mb.ItemBuilder().(*array.StringBuilder).Append(string(rune('a' + i)))
	}
	return b.NewRecord()
}

func col(name string) *Expr            { return &Expr{Column: name} }
func lit(v, typ string) *Expr          { return &Expr{Literal: v, Type: typ} }
func op(o string, args ...*Expr) *Expr { return &Expr{Op: o, Args: args} }

func TestApply(t *testing.T) {
	tests := []struct {
		name string
		spec *Spec
		want string // the output rows, formatted
	}{
		{"identity", nil, "[1 2 3 4]"},
		{"filter equal, null drops", &Spec{Filter: op("=", col("country"), lit("DE", "STRING"))}, "[1 4]"},
		{"filter on a nullable int", &Spec{Filter: op(">", col("qty"), lit("6", "INT"))}, "[3 4]"},
		{"and / not / is_null", &Spec{Filter: op("and", op("not", op("is_null", col("country"))), op("!=", col("id"), lit("1", "BIGINT")))}, "[2 4]"},
		{"or", &Spec{Filter: op("or", op("is_null", col("qty")), op("=", col("id"), lit("3", "BIGINT")))}, "[2 3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := input(t)
			defer rec.Release()
			xf, err := Compile(inSchema, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			out, rowErrs, err := xf.Apply(context.Background(), rec)
			if err != nil || len(rowErrs) > 0 {
				t.Fatal(err, rowErrs)
			}
			defer out.Release()
			if got := out.Column(0).String(); got != tt.want {
				t.Fatalf("ids %s, want %s", got, tt.want)
			}
			if out.NumCols() != 4 || out.Column(3).Len() != out.Column(0).Len() {
				t.Fatalf("map column not filtered with the rows: %d cols, %d vs %d rows", out.NumCols(), out.Column(3).Len(), out.Column(0).Len())
			}
		})
	}
}

func TestSelect(t *testing.T) {
	rec := input(t)
	defer rec.Release()
	if _, err := Compile(inSchema, &Spec{Select: []SelectItem{{Name: "x", Expr: op("cast", col("qty"))}}}); err == nil {
		t.Fatal("cast without a type compiled")
	}
	cast := &Expr{Op: "cast", Type: "BIGINT", Args: []*Expr{col("qty")}}
	xf, err := Compile(inSchema, &Spec{Select: []SelectItem{
		{Name: "id", Expr: col("id")},
		{Name: "double_qty", Expr: op("+", cast, cast)},
		{Name: "is_de", Expr: op("=", col("country"), lit("DE", "STRING"))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := xf.Apply(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if s := xf.OutputSchema(); s.NumFields() != 3 || s.Field(1).Type.ID() != arrow.INT64 || s.Field(2).Type.ID() != arrow.BOOL {
		t.Fatalf("output schema %s", s)
	}
	if got := out.Column(1).String(); got != "[10 (null) 14 18]" {
		t.Fatalf("double_qty = %s", got)
	}
	if got := out.Column(2).String(); got != "[true false (null) true]" {
		t.Fatalf("is_de = %s", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		spec *Spec
		want string
	}{
		{&Spec{Filter: col("nope")}, `unknown column "nope"`},
		{&Spec{Filter: col("id")}, "want boolean"},
		{&Spec{Filter: op("+", col("country"), col("id"))}, "+: argument 1 must be numeric, got string"},
		{&Spec{Filter: op("between", col("id"))}, "between takes 3 arguments, got 1"},
		{&Spec{Filter: op("frobnicate", col("id"))}, `unsupported operator "frobnicate"`},
		{&Spec{Select: []SelectItem{{Name: "m", Expr: op("coalesce", col("tags"), col("tags"))}}}, "coalesce: map<string, string> results are not supported"},
		{&Spec{Filter: op("=", col("id"))}, "takes 2 arguments"},
		{&Spec{Filter: op("=", col("id"), lit("x", "BIGINT"))}, `literal "x" is not a valid BIGINT`},
		{&Spec{Select: []SelectItem{{Name: "a", Expr: col("id")}, {Name: "a", Expr: col("qty")}}}, `duplicate column name "a"`},
	} {
		_, err := Compile(inSchema, tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
}
