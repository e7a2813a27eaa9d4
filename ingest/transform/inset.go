package transform

import (
	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/arrow/scalar"
)

// newInSet returns a hash-set evaluator for x IN (constants), or nil when
// the list is not all constants or the type has no set kernel.
func newInSet(name string, args []Evaluator, typ arrow.DataType) Evaluator {
	var consts []scalar.Scalar
	for _, a := range args[1:] {
		l, ok := a.(*literalEval)
		if !ok {
			return nil
		}
		consts = append(consts, l.sc)
	}
	var run func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error)
	switch typ.ID() {
	case arrow.INT8:
		run = inSetRun[int8](consts)
	case arrow.INT16:
		run = inSetRun[int16](consts)
	case arrow.INT32, arrow.DATE32:
		run = inSetRun[int32](consts)
	case arrow.INT64, arrow.TIMESTAMP:
		run = inSetRun[int64](consts)
	case arrow.FLOAT32:
		run = inSetRun[float32](consts)
	case arrow.FLOAT64:
		run = inSetRun[float64](consts)
	case arrow.STRING:
		set, hasNull := map[string]bool{}, false
		for _, sc := range consts {
			if !sc.IsValid() {
				hasNull = true
				continue
			}
			set[sc.(*scalar.String).String()] = true
		}
		run = func(b *Batch, _ string, n int, arrs []arrow.Array) (arrow.Array, error) {
			x := arrs[0].(*array.String)
			return setResult(n, x, hasNull, func(i int) bool { return set[x.Value(i)] }), nil
		}
	default:
		return nil
	}
	return &funcEval{name: name, args: args[:1], typ: arrow.FixedWidthTypes.Boolean, nullable: hasNullConst(consts) || args[0].Nullable(), run: run}
}

// inSetRun builds the kernel of IN over a set of fixed-width constants.
func inSetRun[T int8 | int16 | int32 | int64 | float32 | float64](consts []scalar.Scalar) func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
	set, hasNull := map[T]bool{}, false
	for _, sc := range consts {
		if !sc.IsValid() {
			hasNull = true
			continue
		}
		a, err := scalar.MakeArrayFromScalar(sc, 1, memory.DefaultAllocator)
		if err != nil {
			continue
		}
		set[values[T](a)[0]] = true
		a.Release()
	}
	return func(b *Batch, _ string, n int, arrs []arrow.Array) (arrow.Array, error) {
		xs := values[T](arrs[0])
		return setResult(n, arrs[0], hasNull, func(i int) bool { return set[xs[i]] }), nil
	}
}

// setResult is IN's three-valued result: true on a match; otherwise null
// if x is null or the list holds a null, else false.
func setResult(n int, x arrow.Array, hasNull bool, match func(i int) bool) arrow.Array {
	valid := validBits(x)
	bits := make([]byte, len(valid))
	for i := 0; i < n; i++ {
		if !bitutil.BitIsSet(valid, i) {
			continue
		}
		if match(i) {
			bitutil.SetBit(bits, i)
		} else if hasNull {
			bitutil.ClearBit(valid, i)
		}
	}
	return newBool(n, bits, valid)
}

// hasNullConst reports whether some constant is NULL.
func hasNullConst(consts []scalar.Scalar) bool {
	for _, sc := range consts {
		if !sc.IsValid() {
			return true
		}
	}
	return false
}
