package parquetio

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// randomRecord fills every column of a schema of primitive fields with random
// values, a fifth of them null where the field is nullable, and special
// floats (NaN, ±0, ±Inf) now and then.
func randomRecord(mem memory.Allocator, as *arrow.Schema, rows int, rng *rand.Rand) arrow.Record {
	rb := array.NewRecordBuilder(mem, as)
	defer rb.Release()
	floats := []float64{math.NaN(), math.Copysign(0, -1), 0, math.Inf(1), math.Inf(-1)}
	for j, f := range as.Fields() {
		for range rows {
			if f.Nullable && rng.IntN(5) == 0 {
				rb.Field(j).AppendNull()
				continue
			}
			float := rng.NormFloat64()
			if rng.IntN(20) == 0 {
				float = floats[rng.IntN(len(floats))]
			}
			switch b := rb.Field(j).(type) {
			case *array.BooleanBuilder:
				b.Append(rng.IntN(2) == 0)
			case *array.Int8Builder:
				b.Append(int8(rng.Int()))
			case *array.Int16Builder:
				b.Append(int16(rng.Int()))
			case *array.Int32Builder:
				b.Append(int32(rng.Int()))
			case *array.Int64Builder:
				b.Append(int64(rng.Uint64()))
			case *array.Float32Builder:
				b.Append(float32(float))
			case *array.Float64Builder:
				b.Append(float)
			case *array.StringBuilder:
				b.Append(fmt.Sprintf("s%03d", rng.IntN(1000))[:rng.IntN(5)])
			case *array.BinaryBuilder:
				b.Append([]byte(fmt.Sprintf("%06d", rng.IntN(1e6)))[:rng.IntN(4)])
			case *array.Date32Builder:
				b.Append(arrow.Date32(rng.IntN(40000) - 20000))
			case *array.TimestampBuilder:
				b.Append(arrow.Timestamp(rng.Int64N(4e15) - 2e15))
			case *array.Decimal128Builder:
				b.Append(decimal128.FromI64(rng.Int64N(2e8) - 1e8))
			default:
				panic(fmt.Sprintf("no random values for %T", b))
			}
		}
	}
	return rb.NewRecord()
}

// TestFlatPathMatchesShredder writes the same records through the fast path
// of top-level primitive columns and through the generic shredder: the files
// and statistics must be identical, whole and sliced records alike, across
// page and row group cuts.
func TestFlatPathMatchesShredder(t *testing.T) {
	s := mustSchema(t, schemaJSON("b boolean", "i8 byte", "i16 short", "i32 integer", "i64 long", "f32 float",
		"f64 double", "s string", "bin binary", "d date", "ts timestamp", "ntz timestamp_ntz",
		"dec38 decimal(38,10)", "dec9 decimal(9,2)", "dec18 decimal(18,4)", "req long not null", "reqs string not null"))
	as, err := deltalog.ArrowSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	rec := randomRecord(mem, as, 3000, rng)
	defer rec.Release()
	allNull := randomRecord(mem, as, 0, rng)
	defer allNull.Release()
	parts := []arrow.Record{rec.NewSlice(0, 1), rec.NewSlice(1, 1), rec.NewSlice(1, 1700), rec.NewSlice(1700, 3000), allNull}
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for _, tc := range []struct {
		name string
		recs []arrow.Record
		opts []Option
	}{
		{"whole", []arrow.Record{rec}, nil},
		{"sliced", parts, nil},
		{"small-pages-and-row-groups", parts, []Option{WithPageSize(512), WithRowGroupSize(8 << 10)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write := func(noFlat bool) ([]byte, any) {
				var buf bytes.Buffer
				w, err := NewWriter(&buf, s, tc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				w.noFlat = noFlat
				for _, r := range tc.recs {
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
			flat, flatStats := write(false)
			shred, shredStats := write(true)
			if !bytes.Equal(flat, shred) {
				t.Errorf("files differ: fast path %d bytes, shredder %d bytes", len(flat), len(shred))
			}
			if !reflect.DeepEqual(flatStats, shredStats) {
				t.Errorf("stats differ:\nfast path %+v\nshredder  %+v", flatStats, shredStats)
			}
		})
	}
}
