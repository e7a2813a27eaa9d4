package transform

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
)

// Numeric casts are done here rather than by Arrow so that their failures
// are per row and their semantics are SQL's:
//
//   - to an integer: floats and decimals truncate toward zero (as Spark
//     and Java do); a value out of the target's range, NaN or ±Inf fails
//     the row;
//   - to a float: the nearest value (decimals with up to 15 digits
//     convert exactly rounded);
//   - to a decimal: rounded half away from zero to the target scale; a
//     value with too many integer digits fails the row.

// widen converts a's numeric values to []D (integers, floats).
func widen[S, D int8 | int16 | int32 | int64 | float32 | float64](a arrow.Array) []D {
	in := values[S](a)
	out := make([]D, len(in))
	for i, v := range in {
		out[i] = D(v)
	}
	return out
}

// intsOf returns the values of an integer array as int64.
func intsOf(a arrow.Array) []int64 {
	switch a.DataType().ID() {
	case arrow.INT8:
		return widen[int8, int64](a)
	case arrow.INT16:
		return widen[int16, int64](a)
	case arrow.INT32:
		return widen[int32, int64](a)
	}
	return values[int64](a)
}

// floatsOf returns the values of a float array as float64.
func floatsOf(a arrow.Array) []float64 {
	if a.DataType().ID() == arrow.FLOAT32 {
		return widen[float32, float64](a)
	}
	return values[float64](a)
}

// decimalToFloat converts exactly rounded when the unscaled value has at
// most 53 bits and the scale at most 22 (both operands are then exact).
func decimalToFloat(v decimal128.Num, scale int32) float64 {
	if h := v.HighBits(); (h == 0 && v.LowBits() < 1<<53) || (h == -1 && int64(v.LowBits()) > -(1<<53)) {
		if scale >= 0 && scale <= 22 {
			return float64(int64(v.LowBits())) / math.Pow10(int(scale))
		}
	}
	return v.ToFloat64(scale)
}

// castNumeric casts between numeric types; nil when from or to is not
// numeric.
func castNumeric(b *Batch, name string, a arrow.Array, to arrow.DataType) arrow.Array {
	from := a.DataType()
	if !isNumeric(from) || !isNumeric(to) {
		return nil
	}
	n := a.Len()
	valid := validBits(a)
	switch {
	case isInt(to):
		bits := intWidth(to)
		lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
		var get func(i int) (int64, error)
		switch {
		case isInt(from):
			v := intsOf(a)
			get = func(i int) (int64, error) { return v[i], nil }
		case isFloat(from):
			v := floatsOf(a)
			get = func(i int) (int64, error) {
				t := math.Trunc(v[i])
				if math.IsNaN(t) || t < -9.223372036854775808e18 || t >= 9.223372036854775808e18 {
					return 0, fmt.Errorf("%g is out of range for %s", v[i], sqlType(to))
				}
				return int64(t), nil
			}
		default:
			v, scale := values[decimal128.Num](a), from.(*arrow.Decimal128Type).Scale
			get = func(i int) (int64, error) {
				t := v[i].ReduceScaleBy(scale, false).BigInt()
				if !t.IsInt64() {
					return 0, fmt.Errorf("%s is out of range for %s", v[i].ToString(scale), sqlType(to))
				}
				return t.Int64(), nil
			}
		}
		f := func(i int) (int64, bool, error) {
			v, err := get(i)
			if err == nil && (v < lo || v > hi) {
				err = fmt.Errorf("%d is out of range for %s", v, sqlType(to))
			}
			return v, err == nil, err
		}
		switch bits {
		case 8:
			return mapRows(b, name, to, n, valid, narrow[int8](f))
		case 16:
			return mapRows(b, name, to, n, valid, narrow[int16](f))
		case 32:
			return mapRows(b, name, to, n, valid, narrow[int32](f))
		}
		return mapRows(b, name, to, n, valid, f)
	case isFloat(to):
		var out []float64
		switch {
		case isInt(from):
			ints := intsOf(a)
			out = make([]float64, n)
			for i, v := range ints {
				out[i] = float64(v)
			}
		case isFloat(from):
			out = append([]float64(nil), floatsOf(a)...)
		default:
			v, scale := values[decimal128.Num](a), from.(*arrow.Decimal128Type).Scale
			out = make([]float64, n)
			for i := range out {
				out[i] = decimalToFloat(v[i], scale)
			}
		}
		if to.ID() == arrow.FLOAT32 {
			f32 := make([]float32, n)
			for i, v := range out {
				f32[i] = float32(v)
			}
			return newFixed(to, f32, valid)
		}
		return newFixed(to, out, valid)
	}
	dt := to.(*arrow.Decimal128Type)
	var get func(i int) (decimal128.Num, error)
	switch {
	case isInt(from):
		v := intsOf(a)
		get = func(i int) (decimal128.Num, error) {
			if dt.Scale > 38 {
				return decimal128.Num{}, fmt.Errorf("scale %d", dt.Scale)
			}
			return decimal128.FromI64(v[i]).Mul(decimal128.GetScaleMultiplier(int(dt.Scale))), nil
		}
	case isFloat(from):
		v := floatsOf(a)
		get = func(i int) (decimal128.Num, error) { return decimal128.FromFloat64(v[i], dt.Precision, dt.Scale) }
	default:
		v, scale := values[decimal128.Num](a), from.(*arrow.Decimal128Type).Scale
		get = func(i int) (decimal128.Num, error) {
			if dt.Scale >= scale {
				return decimalOp("+", v[i], scale, decimal128.Num{}, dt.Scale, dt.Scale)
			}
			return roundDecimal("round", v[i], scale-dt.Scale)
		}
	}
	return mapRows(b, name, to, n, valid, func(i int) (decimal128.Num, bool, error) {
		v, err := get(i)
		if err == nil && !v.FitsInPrecision(dt.Precision) {
			err = fmt.Errorf("value does not fit %s", sqlType(to))
		}
		if err != nil {
			return v, false, fmt.Errorf("cannot cast to %s: %w", sqlType(to), err)
		}
		return v, true, nil
	})
}
