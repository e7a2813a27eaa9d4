package deltawriter

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// allTypesSchema has every Delta primitive and nested type, plus two
// partition-friendly columns.
func allTypesSchema() *deltalog.Schema {
	p := deltalog.Primitive
	f := func(name string, t *deltalog.Type, nullable bool) deltalog.Field {
		return deltalog.Field{Name: name, Type: t, Nullable: nullable}
	}
	return deltalog.Struct(
		f("id", p(deltalog.TypeLong), false),
		f("p_str", p(deltalog.TypeString), true),
		f("p_date", p(deltalog.TypeDate), true),
		f("c_bool", p(deltalog.TypeBoolean), true),
		f("c_byte", p(deltalog.TypeByte), true),
		f("c_short", p(deltalog.TypeShort), true),
		f("c_int", p(deltalog.TypeInteger), true),
		f("c_float", p(deltalog.TypeFloat), true),
		f("c_double", p(deltalog.TypeDouble), true),
		f("c_string", p(deltalog.TypeString), true),
		f("c_binary", p(deltalog.TypeBinary), true),
		f("c_ts", p(deltalog.TypeTimestamp), true),
		f("c_ts_ntz", p(deltalog.TypeTimestampNTZ), true),
		f("c_dec9", deltalog.Decimal(9, 2), true),
		f("c_dec18", deltalog.Decimal(18, 6), true),
		f("c_dec38", deltalog.Decimal(38, 10), true),
		f("c_struct", deltalog.Struct(
			f("a", p(deltalog.TypeInteger), true),
			f("b", deltalog.Struct(f("x", p(deltalog.TypeString), true)), true),
		), true),
		f("c_array", deltalog.Array(p(deltalog.TypeLong), true), true),
		f("c_array_struct", deltalog.Array(deltalog.Struct(f("k", p(deltalog.TypeString), true)), true), true),
		f("c_map", deltalog.Map(p(deltalog.TypeString), p(deltalog.TypeInteger), true), true),
	)
}

// genRecord builds n deterministic pseudo-random rows of schema, ids
// starting at firstID. Nullable values are null about one time in eight.
func genRecord(schema *arrow.Schema, n int, firstID int64, seed uint64) arrow.Record {
	r := rand.New(rand.NewPCG(seed, 42))
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for row := 0; row < n; row++ {
		for i, f := range schema.Fields() {
			if f.Name == "id" {
				b.Field(i).(*array.Int64Builder).Append(firstID + int64(row))
				continue
			}
			if f.Name == "p_str" {
				if row%7 == 6 {
					b.Field(i).AppendNull()
				} else {
					b.Field(i).(*array.StringBuilder).Append([]string{"eu/west", "us=east", "a b%c"}[row%3])
				}
				continue
			}
			if f.Name == "p_date" {
				b.Field(i).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2024, 1, 1+row%2, 0, 0, 0, 0, time.UTC)))
				continue
			}
			appendRandom(r, b.Field(i), f.Type, f.Nullable, 0)
		}
	}
	return b.NewRecord()
}

func appendRandom(r *rand.Rand, b array.Builder, t arrow.DataType, nullable bool, depth int) {
	if nullable && r.IntN(8) == 0 {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.BooleanBuilder:
		bb.Append(r.IntN(2) == 0)
	case *array.Int8Builder:
		bb.Append(int8(r.IntN(256) - 128))
	case *array.Int16Builder:
		bb.Append(int16(r.IntN(65536) - 32768))
	case *array.Int32Builder:
		bb.Append(r.Int32() - 1<<30)
	case *array.Int64Builder:
		bb.Append(r.Int64() - 1<<62)
	case *array.Float32Builder:
		bb.Append(float32(r.NormFloat64() * 1000))
	case *array.Float64Builder:
		bb.Append(r.NormFloat64() * 1e6)
	case *array.StringBuilder:
		bb.Append(fmt.Sprintf("s-%d-%s", r.IntN(1000), []string{"", "ü", "日本", "longer text value that goes past the thirty-two character stats prefix"}[r.IntN(4)]))
	case *array.BinaryBuilder:
		v := make([]byte, r.IntN(16))
		for i := range v {
			v[i] = byte(r.IntN(256))
		}
		bb.Append(v)
	case *array.Date32Builder:
		bb.Append(arrow.Date32(r.IntN(80000) - 20000))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(r.Int64N(4e15) - 1e15)) // 1938..2096, µs
	case *array.Decimal128Builder:
		dt := t.(*arrow.Decimal128Type)
		max := int64(1)
		for i := int32(0); i < min(dt.Precision, 18); i++ {
			max *= 10
		}
		v := decimal128.FromI64(r.Int64N(max) - max/2)
		if dt.Precision > 18 {
			v = v.Mul(decimal128.FromI64(r.Int64N(1e18)))
		}
		bb.Append(v)
	case *array.StructBuilder:
		bb.Append(true)
		st := t.(*arrow.StructType)
		for i := 0; i < st.NumFields(); i++ {
			appendRandom(r, bb.FieldBuilder(i), st.Field(i).Type, st.Field(i).Nullable, depth+1)
		}
	case *array.MapBuilder:
		bb.Append(true)
		mt := t.(*arrow.MapType)
		for i := 0; i < r.IntN(4); i++ {
			bb.KeyBuilder().(*array.StringBuilder).Append(fmt.Sprintf("k%d", i))
			appendRandom(r, bb.ItemBuilder(), mt.ItemType(), mt.ItemField().Nullable, depth+1)
		}
	case *array.ListBuilder:
		bb.Append(true)
		lt := t.(*arrow.ListType)
		for i := 0; i < r.IntN(4); i++ {
			appendRandom(r, bb.ValueBuilder(), lt.Elem(), lt.ElemField().Nullable, depth+1)
		}
	default:
		panic(fmt.Sprintf("genRecord: no generator for %T (%s)", b, t))
	}
}
