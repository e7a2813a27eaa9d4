package transform

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// FuzzStringInputs feeds arbitrary text as data and as constant arguments
// (paths, formats, patterns) to the parsing functions: compile errors and
// row errors are fine, panics and batch errors are not.
func FuzzStringInputs(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a":[1,{"b":"x"}]}`, "$.a[1].b"}, {"2024-02-29 10:00:00", "yyyy-MM-dd HH:mm:ss"}, {"12.5e3", "$"},
		{"", ""}, {"'", "'"}, {"1e400", "$['a']"}, {"-0.0000001", "dd.MM.yyyy h:mm a"}, {"ö", "%ö_"},
	} {
		f.Add(seed[0], seed[1])
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	f.Fuzz(func(t *testing.T, data, arg string) {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		b.Field(0).(*array.StringBuilder).AppendValues([]string{data, ""}, []bool{true, false})
		rec := b.NewRecord()
		b.Release()
		defer rec.Release()
		exprs := []*Expr{
			op("json_value", col("s"), str(arg)), op("json_query", col("s"), str(arg)),
			op("to_date", col("s"), str(arg)), op("to_timestamp", col("s"), str(arg)), op("to_timestamp", col("s")),
			op("like", col("s"), str(arg)), op("like", col("s"), col("s")), op("split_part", col("s"), str(arg), i32("-2")),
			op("substring", col("s"), i32("2")), op("trim", col("s"), str(arg)), op("replace", col("s"), str(arg), str("x")),
		}
		for _, typ := range []string{"INT", "BIGINT", "TINYINT", "DOUBLE", "FLOAT", "BOOLEAN", "DECIMAL(38,10)", "DECIMAL(5,5)", "DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "BINARY"} {
			exprs = append(exprs, cast(col("s"), typ))
		}
		for _, e := range exprs {
			xf, err := Compile(schema, &Spec{Select: []SelectItem{{Name: "v", Expr: e}}})
			if err != nil {
				continue
			}
			out, rowErrs, err := xf.Apply(context.Background(), rec)
			if err != nil {
				t.Fatalf("%s over %q: batch error %v", e, data, err)
			}
			if int(out.NumRows())+len(rowErrs) != 2 {
				t.Fatalf("%s over %q: %d rows out, %d failed", e, data, out.NumRows(), len(rowErrs))
			}
			out.Release()
		}
	})
}
