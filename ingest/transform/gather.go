package transform

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/decimal128"

	"github.com/sluice-io/sluice/deltawriter/arrowutil"
)

// Row gathering for the filter, for dropping failed rows and for CASE /
// COALESCE / GREATEST. Arrow's take kernel grows string buffers one
// reservation at a time (quadratic on large batches), so flat types are
// gathered here in one pass; nested types fall back to arrowutil.

// gather returns, for each k, row rows[k] of srcs[src[k]] (null where
// src[k] < 0). ok is false when typ is not a flat type gather handles.
func gather(typ arrow.DataType, srcs []arrow.Array, src []int32, rows []int64) (arrow.Array, bool) {
	n := len(src)
	valid := make([]byte, bitutil.BytesForBits(int64(n)))
	for k, j := range src {
		if j >= 0 && srcs[j].IsValid(int(rows[k])) {
			bitutil.SetBit(valid, k)
		}
	}
	switch typ.ID() {
	case arrow.BOOL:
		bits := make([]byte, len(valid))
		for k, j := range src {
			if j >= 0 && srcs[j].(*array.Boolean).Value(int(rows[k])) {
				bitutil.SetBit(bits, k)
			}
		}
		return newBool(n, bits, valid), true
	case arrow.STRING, arrow.BINARY:
		offs := make([][]int32, len(srcs))
		data := make([][]byte, len(srcs))
		size := 0
		for j, a := range srcs {
			offs[j], data[j] = varBinary(a)
			size += len(data[j])
		}
		out := newStrOut(n, min(size, n*32))
		for k, j := range src {
			if j < 0 {
				out.add("")
				continue
			}
			o, r := offs[j], rows[k]
			out.addBytes(data[j][o[r]:o[r+1]])
		}
		return out.array(typ, valid), true
	}
	fw, ok := typ.(arrow.FixedWidthDataType)
	if !ok {
		return nil, false
	}
	switch fw.BitWidth() {
	case 8:
		return gatherFixed[uint8](typ, srcs, src, rows, valid), true
	case 16:
		return gatherFixed[uint16](typ, srcs, src, rows, valid), true
	case 32:
		return gatherFixed[uint32](typ, srcs, src, rows, valid), true
	case 64:
		return gatherFixed[uint64](typ, srcs, src, rows, valid), true
	case 128:
		return gatherFixed[decimal128.Num](typ, srcs, src, rows, valid), true
	}
	return nil, false
}

func gatherFixed[T uint8 | uint16 | uint32 | uint64 | decimal128.Num](typ arrow.DataType, srcs []arrow.Array, src []int32, rows []int64, valid []byte) arrow.Array {
	vals := make([][]T, len(srcs))
	for j, a := range srcs {
		vals[j] = values[T](a)
	}
	out := make([]T, len(src))
	for k, j := range src {
		if j >= 0 {
			out[k] = vals[j][rows[k]]
		}
	}
	return newFixed(typ, out, valid)
}

// varBinary returns the offsets (offset applied, len+1 entries) and data of
// a string or binary array.
func varBinary(a arrow.Array) ([]int32, []byte) {
	d := a.Data()
	bufs := d.Buffers()
	if bufs[1] == nil || d.Len() == 0 {
		return make([]int32, d.Len()+1), nil
	}
	offs := arrow.GetData[int32](bufs[1].Bytes())[d.Offset() : d.Offset()+d.Len()+1]
	var data []byte
	if bufs[2] != nil {
		data = bufs[2].Bytes()
	}
	return offs, data
}

// takeRows returns the given rows of a.
func takeRows(ctx context.Context, a arrow.Array, rows []int64) (arrow.Array, error) {
	src := make([]int32, len(rows))
	if out, ok := gather(a.DataType(), []arrow.Array{a}, src, rows); ok {
		return out, nil
	}
	return arrowutil.TakeRows(ctx, a, rows)
}

// takeRecord returns the given rows of rec.
func takeRecord(ctx context.Context, rec arrow.Record, rows []int64) (arrow.Record, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer releaseAll(cols)
	for i := range cols {
		c, err := takeRows(ctx, rec.Column(i), rows)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecord(rec.Schema(), cols, int64(len(rows))), nil
}
