package transform

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// This file holds the vectorised building blocks the evaluators share:
// typed views of Arrow buffers, validity bitmaps, and array construction
// from Go slices (wrapped, not copied).

// values returns the fixed-width values of a, offset applied.
func values[T arrow.FixedWidthType](a arrow.Array) []T {
	d := a.Data()
	buf := d.Buffers()[1]
	if buf == nil || d.Len() == 0 {
		return nil
	}
	return arrow.GetData[T](buf.Bytes())[d.Offset() : d.Offset()+d.Len()]
}

// validAnd returns a bitmap of n bits set where every array is valid.
func validAnd(n int, arrs ...arrow.Array) []byte {
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	bitutil.SetBitsTo(out, 0, int64(n), true)
	for _, a := range arrs {
		andValid(out, a)
	}
	return out
}

// andValid clears the bits of out where a is null.
func andValid(out []byte, a arrow.Array) {
	if a.NullN() == 0 {
		return
	}
	d := a.Data()
	if d.Buffers()[0] == nil { // a null-typed array
		bitutil.SetBitsTo(out, 0, int64(a.Len()), false)
		return
	}
	bitutil.BitmapAnd(out, d.Buffers()[0].Bytes(), 0, int64(d.Offset()), out, 0, int64(a.Len()))
}

// validBits returns a fresh copy of a's validity as n bits at offset 0.
func validBits(a arrow.Array) []byte { return validAnd(a.Len(), a) }

// validityBuffer wraps a validity bitmap; nil means all valid.
func validityBuffer(valid []byte) (*memory.Buffer, int) {
	if valid == nil {
		return nil, 0
	}
	return memory.NewBufferBytes(valid), array.UnknownNullCount
}

// newFixed wraps vals and the validity bitmap (nil: all valid) as an array.
func newFixed[T arrow.FixedWidthType](dt arrow.DataType, vals []T, valid []byte) arrow.Array {
	vb, nulls := validityBuffer(valid)
	d := array.NewData(dt, len(vals), []*memory.Buffer{vb, memory.NewBufferBytes(arrow.GetBytes(vals))}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// newBool wraps a value bitmap and a validity bitmap as a Boolean array.
func newBool(n int, bits, valid []byte) arrow.Array {
	vb, nulls := validityBuffer(valid)
	d := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{vb, memory.NewBufferBytes(bits)}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// strOut accumulates a string (or binary) array.
type strOut struct {
	offsets []int32
	data    []byte
}

func newStrOut(n, dataHint int) *strOut {
	s := &strOut{offsets: make([]int32, 1, n+1), data: make([]byte, 0, dataHint)}
	return s
}

// add appends the next row's value ("" for a null row).
func (s *strOut) add(v string) {
	s.data = append(s.data, v...)
	s.offsets = append(s.offsets, int32(len(s.data)))
}

// addBytes appends the next row's value.
func (s *strOut) addBytes(v []byte) {
	s.data = append(s.data, v...)
	s.offsets = append(s.offsets, int32(len(s.data)))
}

// array returns the accumulated rows with the given validity.
func (s *strOut) array(dt arrow.DataType, valid []byte) arrow.Array {
	vb, nulls := validityBuffer(valid)
	d := array.NewData(dt, len(s.offsets)-1, []*memory.Buffer{vb, memory.NewBufferBytes(arrow.GetBytes(s.offsets)), memory.NewBufferBytes(s.data)}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// evalArgs evaluates every argument; the caller releases the arrays with
// releaseAll.
func evalArgs(ctx context.Context, b *Batch, args []Evaluator) ([]arrow.Array, error) {
	out := make([]arrow.Array, len(args))
	for i, a := range args {
		arr, err := a.Eval(ctx, b)
		if err != nil {
			releaseAll(out[:i])
			return nil, err
		}
		out[i] = arr
	}
	return out, nil
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}

// rowFunc computes row i of a result; it is called only for rows where
// every argument is valid. ok false makes the row null; a non-nil error
// fails the row (Batch.Fail) and makes it null.
type rowFunc[T any] func(i int) (v T, ok bool, err error)

// eachRow calls f for the rows where valid is set and emit for every row,
// with ok false for the rows that are null (invalid, or f returned !ok or
// an error). A row f fails is reported with b.Fail and cleared in valid.
func eachRow[T any](b *Batch, name string, n int, valid []byte, f rowFunc[T], emit func(i int, v T, ok bool)) {
	var zero T
	for i := 0; i < n; i++ {
		if !bitutil.BitIsSet(valid, i) {
			emit(i, zero, false)
			continue
		}
		v, ok, err := f(i)
		if err != nil {
			b.Fail(i, name, err)
			ok = false
		}
		if !ok {
			bitutil.ClearBit(valid, i)
			v = zero
		}
		emit(i, v, ok)
	}
}

// mapRows builds a fixed-width result of n rows from f.
func mapRows[T arrow.FixedWidthType](b *Batch, name string, dt arrow.DataType, n int, valid []byte, f rowFunc[T]) arrow.Array {
	out := make([]T, n)
	eachRow(b, name, n, valid, f, func(i int, v T, _ bool) { out[i] = v })
	return newFixed(dt, out, valid)
}

// mapBoolRows builds a Boolean result of n rows from f.
func mapBoolRows(b *Batch, name string, n int, valid []byte, f rowFunc[bool]) arrow.Array {
	bits := make([]byte, len(valid))
	eachRow(b, name, n, valid, f, func(i int, v bool, _ bool) {
		if v {
			bitutil.SetBit(bits, i)
		}
	})
	return newBool(n, bits, valid)
}

// mapStringRows builds a string result of n rows from f.
func mapStringRows(b *Batch, name string, n, dataHint int, valid []byte, f rowFunc[string]) arrow.Array {
	out := newStrOut(n, dataHint)
	eachRow(b, name, n, valid, f, func(_ int, v string, _ bool) { out.add(v) })
	return out.array(arrow.BinaryTypes.String, valid)
}

// funcEval is an evaluator whose result is computed from its arguments'
// arrays by run; most functions are one.
type funcEval struct {
	name     string // the expression, for row errors
	args     []Evaluator
	typ      arrow.DataType
	nullable bool
	run      func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error)
}

func (f *funcEval) Type() arrow.DataType { return f.typ }
func (f *funcEval) Nullable() bool       { return f.nullable }
func (f *funcEval) Eval(ctx context.Context, b *Batch) (arrow.Array, error) {
	arrs, err := evalArgs(ctx, b, f.args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(arrs)
	out, err := f.run(b, f.name, int(b.Rec.NumRows()), arrs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	return out, nil
}

// anyNullable reports whether any evaluator can produce nulls.
func anyNullable(args []Evaluator) bool {
	for _, a := range args {
		if a.Nullable() {
			return true
		}
	}
	return false
}
