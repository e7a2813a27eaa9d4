package transform

import (
	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// compareOutcomes maps Arrow's comparison functions to the sign results
// they accept.
var compareOutcomes = map[string]func(c int) bool{
	"equal": func(c int) bool { return c == 0 }, "not_equal": func(c int) bool { return c != 0 },
	"less": func(c int) bool { return c < 0 }, "less_equal": func(c int) bool { return c <= 0 },
	"greater": func(c int) bool { return c > 0 }, "greater_equal": func(c int) bool { return c >= 0 },
}

// compareDecimals compares two decimal arrays row by row. Arrow Go v17's
// decimal comparison kernel indexes past its buffers on batches longer than
// its 32-value chunk (index out of range), so decimals are compared here,
// exactly, at the larger of the two scales.
func compareDecimals(fn string, a, b *array.Decimal128) arrow.Array {
	ok := compareOutcomes[fn]
	sa, sb := a.DataType().(*arrow.Decimal128Type).Scale, b.DataType().(*arrow.Decimal128Type).Scale
	s := max(sa, sb)
	out := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer out.Release()
	out.Reserve(a.Len())
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) || b.IsNull(i) {
			out.AppendNull()
			continue
		}
		out.UnsafeAppend(ok(cmpDecimal(a.Value(i), sa, b.Value(i), sb, s)))
	}
	return out.NewArray()
}

// cmpDecimal compares x (scale sx) with y (scale sy) at scale s; when
// rescaling would overflow 38 digits it compares the float values.
func cmpDecimal(x decimal128.Num, sx int32, y decimal128.Num, sy int32, s int32) int {
	xr, errx := x.Rescale(sx, s)
	yr, erry := y.Rescale(sy, s)
	if errx == nil && erry == nil {
		return xr.Cmp(yr)
	}
	xf, yf := x.ToFloat64(sx), y.ToFloat64(sy)
	switch {
	case xf < yf:
		return -1
	case xf > yf:
		return 1
	}
	return 0
}
