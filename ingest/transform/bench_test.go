package transform

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// benchRecord returns n rows of sqlSchema (10 columns), every 10th row null.
func benchRecord(n int) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sqlSchema)
	defer b.Release()
	for i := 0; i < n; i++ {
		if i%10 == 9 {
			for f := range b.Fields() {
				b.Field(f).AppendNull()
			}
			continue
		}
		b.Field(0).(*array.Int32Builder).Append(int32(i%1000 - 500))
		b.Field(1).(*array.Int64Builder).Append(int64(i) * 7919)
		b.Field(2).(*array.Float64Builder).Append(float64(i%777) / 7)
		b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i % 100000)))
		b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("customer-%d-%s", i%5000, []string{"de", "fr", "us"}[i%3]))
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + int64(i)*1_234_567))
		b.Field(6).(*array.Date32Builder).Append(arrow.Date32(19000 + i%400))
		b.Field(7).(*array.BooleanBuilder).Append(i%2 == 0)
		b.Field(8).(*array.StringBuilder).Append(fmt.Sprintf(`{"a":{"id":%d},"k":"v%d"}`, i, i%7))
		b.Field(9).(*array.StringBuilder).Append(fmt.Sprint(i))
	}
	return b.NewRecord()
}

// BenchmarkFilterAndCompute: a filter and five computed columns over a
// 64k-row batch of ten columns.
func BenchmarkFilterAndCompute(b *testing.B) {
	const rows = 64 * 1024
	rec := benchRecord(rows)
	defer rec.Release()
	spec := &Spec{
		Filter: op("and", op(">", col("i32"), i32("-400")), op("like", col("s"), str("%-de"))),
		Select: []SelectItem{
			{Name: "total", Expr: op("+", op("*", col("i64"), i32("2")), col("i32"))},
			{Name: "name", Expr: op("upper", op("substring", col("s"), i32("1"), i32("12")))},
			{Name: "day", Expr: op("date_trunc", str("day"), col("ts"))},
			{Name: "band", Expr: op("case", op(">", col("f64"), lit("50", "DOUBLE")), str("high"), op(">", col("f64"), lit("10", "DOUBLE")), str("mid"), str("low"))},
			{Name: "amount", Expr: op("*", col("d"), col("f64"))},
		},
	}
	xf, err := Compile(sqlSchema, spec)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, rowErrs, err := xf.Apply(ctx, rec)
		if err != nil || len(rowErrs) > 0 {
			b.Fatal(err, rowErrs)
		}
		out.Release()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
