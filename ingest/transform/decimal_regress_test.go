package transform

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Regressions: comparing a decimal column with integer literals over a
// batch longer than 32 rows panicked inside Arrow's decimal comparison
// kernel, and integer literals folded into decimals lost their scale
// (2500 compared as 25.00).
func TestDecimalComparisonsWithIntegerLiterals(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	amounts := make([]float64, 100)
	for i := range amounts {
		amounts[i] = float64(i) * 30.5
		b.Field(0).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i) * 3050))
	}
	rec := b.NewRecord()
	defer rec.Release()
	count := func(keep func(float64) bool) (n int64) {
		for _, a := range amounts {
			if keep(a) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name   string
		filter *Expr
		want   int64
	}{
		{">= 100", op(">=", col("amount"), lit("100", "BIGINT")), count(func(a float64) bool { return a >= 100 })},
		{"<= 2500", op("<=", col("amount"), lit("2500", "BIGINT")), count(func(a float64) bool { return a <= 2500 })},
		{"= 61", op("=", col("amount"), lit("61", "BIGINT")), 1},
		{"between", op("between", col("amount"), lit("100", "BIGINT"), lit("2500", "BIGINT")), count(func(a float64) bool { return a >= 100 && a <= 2500 })},
		{"decimal literal", op(">", col("amount"), lit("30.49", "DECIMAL(4,2)")), count(func(a float64) bool { return a > 30.49 })},
	} {
		xf, err := Compile(sch, &Spec{Filter: tc.filter})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := xf.Apply(context.Background(), rec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if out.NumRows() != tc.want {
			t.Errorf("%s: %d rows, want %d", tc.name, out.NumRows(), tc.want)
		}
		out.Release()
	}
}
