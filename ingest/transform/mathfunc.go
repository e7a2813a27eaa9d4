package transform

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/scalar"
)

// Math functions.
//
//	abs(x)            type of x; abs of the most negative integer fails the
//	                  row (see compileSign)
//	round(x[, d])     half away from zero to d decimal places (default 0, a
//	                  constant, may be negative); integers stay integers,
//	                  floats become double, decimal(p,s) becomes
//	                  decimal(min(38,p-s+max(d,0)+1), max(d,0)) when d < s
//	floor(x), ceil(x) integers unchanged, floats → double, decimal(p,s) →
//	                  decimal(min(38,p-s+1), 0)
//	sqrt, ln, exp, power(x, y) → double. sqrt of a negative, ln of a
//	                  non-positive and a complex power (negative base,
//	                  fractional exponent) fail the row; overflow gives ±Inf.
//	greatest, least   see cond.go

func init() {
	funcs["round"] = func(e *Expr, args []Evaluator) (Evaluator, error) { return compileRound("round", e, args) }
	funcs["floor"] = func(e *Expr, args []Evaluator) (Evaluator, error) { return compileRound("floor", e, args) }
	funcs["ceil"] = func(e *Expr, args []Evaluator) (Evaluator, error) { return compileRound("ceil", e, args) }
	funcs["ceiling"] = funcs["ceil"]
	funcs["sqrt"] = floatFunc("sqrt", func(x, _ float64) (float64, error) {
		if x < 0 {
			return 0, fmt.Errorf("cannot take the square root of a negative number (%g)", x)
		}
		return math.Sqrt(x), nil
	})
	funcs["ln"] = floatFunc("ln", func(x, _ float64) (float64, error) {
		if x <= 0 {
			return 0, fmt.Errorf("cannot take the logarithm of %g", x)
		}
		return math.Log(x), nil
	})
	funcs["exp"] = floatFunc("exp", func(x, _ float64) (float64, error) { return math.Exp(x), nil })
	funcs["power"] = floatFunc("power", func(x, y float64) (float64, error) {
		if x < 0 && y != math.Trunc(y) {
			return 0, fmt.Errorf("a negative number (%g) raised to a non-integer power (%g) is complex", x, y)
		}
		return math.Pow(x, y), nil
	})
	funcs["pow"] = funcs["power"]
}

// floatFunc compiles a function of one (or, when f uses it, two) doubles.
func floatFunc(fn string, f func(x, y float64) (float64, error)) compileFunc {
	arity := 1
	if fn == "power" {
		arity = 2
	}
	return func(e *Expr, args []Evaluator) (Evaluator, error) {
		args, err := checkSig(fn, args, arity, "dd"[:arity])
		if err != nil {
			return nil, err
		}
		return &funcEval{name: e.String(), args: args, typ: arrow.PrimitiveTypes.Float64, nullable: anyNullable(args),
			run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
				x := values[float64](arrs[0])
				y := x
				if arity == 2 {
					y = values[float64](arrs[1])
				}
				return mapRows(b, name, arrow.PrimitiveTypes.Float64, n, validAnd(n, arrs...), func(i int) (float64, bool, error) {
					v, err := f(x[i], y[i])
					return v, err == nil, err
				}), nil
			}}, nil
	}
}

// decimalMap builds the kernel of a decimal → decimal (type t) function.
func decimalMap(t arrow.DataType, f func(decimal128.Num) (decimal128.Num, error)) func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
	return func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
		x := values[decimal128.Num](arrs[0])
		return mapRows(b, name, t, n, validBits(arrs[0]), func(i int) (decimal128.Num, bool, error) {
			v, err := f(x[i])
			return v, err == nil, err
		}), nil
	}
}

// compileRound compiles round, floor and ceil.
func compileRound(fn string, e *Expr, args []Evaluator) (Evaluator, error) {
	hi := 1
	if fn == "round" {
		hi = 2
	}
	if err := wantArgs(fn, args, 1, hi); err != nil {
		return nil, err
	}
	digits := int64(0)
	if len(args) == 2 {
		l, ok := args[1].(*literalEval)
		if !ok || !isInt(l.sc.DataType()) || !l.sc.IsValid() {
			return nil, fmt.Errorf("round: argument 2 must be an integer constant, got %s", sqlType(args[1].Type()))
		}
		c, err := l.sc.CastTo(arrow.PrimitiveTypes.Int64)
		if err != nil {
			return nil, fmt.Errorf("round: argument 2: %w", err)
		}
		digits = c.(*scalar.Int64).Value
		if digits < -38 || digits > 38 {
			return nil, fmt.Errorf("round: argument 2 must be between -38 and 38, got %d", digits)
		}
	}
	x := args[0]
	t := x.Type()
	f := &funcEval{name: e.String(), args: args[:1], typ: t, nullable: x.Nullable()}
	switch {
	case isInt(t):
		if digits >= 0 || fn != "round" {
			return x, nil // already whole
		}
		c, _ := implicitCast(fn, 0, x, arrow.PrimitiveTypes.Int64)
		f.args, f.typ = []Evaluator{c}, arrow.PrimitiveTypes.Int64
		unit := int64(math.Pow10(int(-digits)))
		if -digits > 18 {
			unit = 0
		}
		f.run = func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			v := values[int64](arrs[0])
			return mapRows(b, name, arrow.PrimitiveTypes.Int64, n, validBits(arrs[0]), func(i int) (int64, bool, error) {
				return roundInt(v[i], unit)
			}), nil
		}
	case isFloat(t):
		c, _ := implicitCast(fn, 0, x, arrow.PrimitiveTypes.Float64)
		f.args, f.typ = []Evaluator{c}, arrow.PrimitiveTypes.Float64
		g := map[string]func(float64) float64{"round": math.Round, "floor": math.Floor, "ceil": math.Ceil}[fn]
		scale := math.Pow10(int(digits))
		f.run = func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			v := values[float64](arrs[0])
			out := make([]float64, n)
			for i := range out {
				if digits == 0 {
					out[i] = g(v[i])
				} else if r := g(v[i]*scale) / scale; !math.IsInf(v[i]*scale, 0) {
					out[i] = r
				} else {
					out[i] = v[i]
				}
			}
			return newFixed(arrow.PrimitiveTypes.Float64, out, validBits(arrs[0])), nil
		}
	case isDecimal(t):
		dt := t.(*arrow.Decimal128Type)
		d := int32(max(digits, 0))
		if fn == "round" && int32(digits) >= dt.Scale {
			return x, nil
		}
		reduce := dt.Scale - int32(digits) // digits to drop, may exceed the scale
		out := &arrow.Decimal128Type{Precision: min(38, dt.Precision-dt.Scale+d+1), Scale: d}
		f.typ = out
		f.run = decimalMap(out, func(v decimal128.Num) (decimal128.Num, error) {
			r, err := roundDecimal(fn, v, reduce)
			if err != nil {
				return r, err
			}
			if d == 0 && digits < 0 {
				r = r.IncreaseScaleBy(int32(-digits))
			}
			if !r.FitsInPrecision(out.Precision) {
				return r, fmt.Errorf("decimal overflow: result does not fit %s", sqlType(out))
			}
			return r, nil
		})
	default:
		return nil, argTypeErr(fn, 0, "numeric", x)
	}
	return f, nil
}

// roundInt rounds v half away from zero to a multiple of unit (0: to 0).
func roundInt(v, unit int64) (int64, bool, error) {
	if unit == 0 {
		return 0, true, nil
	}
	q, r := v/unit, v%unit
	if 2*abs64(r) >= unit {
		if v < 0 {
			q--
		} else {
			q++
		}
	}
	res := q * unit
	if res/unit != q {
		return 0, false, errOverflow
	}
	return res, true, nil
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// roundDecimal drops reduce digits of v: round half away from zero, or
// floor or ceil. The result has scale s-reduce (or 0 when reduce > s; the
// caller restores the magnitude).
func roundDecimal(fn string, v decimal128.Num, reduce int32) (decimal128.Num, error) {
	if reduce <= 0 {
		return v, nil
	}
	if reduce > 38 {
		return decimal128.Num{}, errors.New("rounding beyond 38 digits")
	}
	q, r := new(big.Int).QuoRem(v.BigInt(), pow10[reduce], new(big.Int))
	switch fn {
	case "round":
		r2 := new(big.Int).Abs(r)
		if r2.Lsh(r2, 1).Cmp(pow10[reduce]) >= 0 {
			q.Add(q, big.NewInt(int64(r.Sign())))
		}
	case "floor":
		if r.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		}
	case "ceil":
		if r.Sign() > 0 {
			q.Add(q, big.NewInt(1))
		}
	}
	return decimal128.FromBigInt(q), nil
}
