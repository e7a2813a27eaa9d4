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

// Regression: decimal division truncated its quotient at the result scale
// (10.25 / 3 gave ...6666); it rounds half away from zero, as Spark does.
func TestDecimalDivisionRounds(t *testing.T) {
	for _, tc := range []struct {
		a, c int64 // unscaled, scale 2 and 0
		s    int32
		want string
	}{
		{1025, 3, 4, "34167"},   // 10.25 / 3 = 3.41666... -> 3.4167
		{-1025, 3, 4, "-34167"}, // symmetric for negatives
		{1025, -3, 4, "-34167"},
		{100, 8, 2, "13"},   // 1.00 / 8 = 0.125 -> 0.13 (half away from zero)
		{-100, 8, 2, "-13"}, // -0.125 -> -0.13
		{100, 4, 2, "25"},   // exact
		{1, 3, 2, "0"},      // 0.01 / 3 = 0.0033 -> 0.00
	} {
		got, err := decimalOp("/", decimal128.FromI64(tc.a), 2, decimal128.FromI64(tc.c), 0, tc.s)
		if err != nil || got.BigInt().String() != tc.want {
			t.Errorf("%d/100 / %d at scale %d = %v (%v), want %s", tc.a, tc.c, tc.s, got.BigInt(), err, tc.want)
		}
	}
}
