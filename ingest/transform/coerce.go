package transform

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/scalar"
)

// Implicit casts. Operators whose arguments must share a type (comparisons,
// arithmetic, IN, BETWEEN, CASE, COALESCE, …) ask commonType for the type
// both sides widen to and wrap the arguments that differ in an explicit
// cast evaluator at compile time, so the Arrow kernels and the kernels here
// only ever see matching types. The widening rules:
//
//   - integers: the wider integer (int + bigint → bigint);
//   - an integer or decimal with a float, or float with double → double;
//   - an integer with a decimal → decimal, the integer taking the digits
//     of its type (tinyint 3, smallint 5, int 10, bigint 19) at scale 0;
//   - two decimals → the decimal holding both: max scale, max integer
//     digits (precision capped at 38);
//   - date with timestamp → timestamp;
//   - a string literal next to a date, timestamp, number or boolean is
//     parsed as that type at compile time (a bad literal is a compile
//     error), so `ts >= '2024-01-01'` works.

func isInt(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return true
	}
	return false
}

func isFloat(t arrow.DataType) bool { return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64 }

func isDecimal(t arrow.DataType) bool { return t.ID() == arrow.DECIMAL128 }

func isNumeric(t arrow.DataType) bool { return isInt(t) || isFloat(t) || isDecimal(t) }

func isString(t arrow.DataType) bool { return t.ID() == arrow.STRING }

func isTemporal(t arrow.DataType) bool { return t.ID() == arrow.DATE32 || t.ID() == arrow.TIMESTAMP }

// intDigits is the decimal precision that holds every value of an integer type.
func intDigits(t arrow.DataType) int32 {
	switch t.ID() {
	case arrow.INT8:
		return 3
	case arrow.INT16:
		return 5
	case arrow.INT32:
		return 10
	}
	return 19
}

func intWidth(t arrow.DataType) int { return t.(arrow.FixedWidthDataType).BitWidth() }

// asDecimal is the decimal type a numeric (non-float) type widens to.
func asDecimal(t arrow.DataType) *arrow.Decimal128Type {
	if d, ok := t.(*arrow.Decimal128Type); ok {
		return d
	}
	return &arrow.Decimal128Type{Precision: intDigits(t), Scale: 0}
}

// commonType returns the type a and b both widen to, if any.
func commonType(a, b arrow.DataType) (arrow.DataType, bool) {
	switch {
	case arrow.TypeEqual(a, b):
		return a, true
	case a.ID() == arrow.NULL:
		return b, true
	case b.ID() == arrow.NULL:
		return a, true
	case isInt(a) && isInt(b):
		if intWidth(a) >= intWidth(b) {
			return a, true
		}
		return b, true
	case isNumeric(a) && isNumeric(b) && (isFloat(a) || isFloat(b)):
		return arrow.PrimitiveTypes.Float64, true
	case isNumeric(a) && isNumeric(b):
		da, db := asDecimal(a), asDecimal(b)
		scale := max(da.Scale, db.Scale)
		digits := max(da.Precision-da.Scale, db.Precision-db.Scale)
		return &arrow.Decimal128Type{Precision: min(38, digits+scale), Scale: scale}, true
	case a.ID() == arrow.DATE32 && b.ID() == arrow.TIMESTAMP:
		return b, true
	case a.ID() == arrow.TIMESTAMP && b.ID() == arrow.DATE32:
		return a, true
	}
	return nil, false
}

// unify casts every argument to one common type; fn names the operator
// for the error. String literals take the type of the other arguments.
func unify(fn string, args []Evaluator) ([]Evaluator, arrow.DataType, error) {
	var typ arrow.DataType
	for _, a := range args {
		if isStringLiteral(a) {
			continue // a literal adapts to the others
		}
		if typ == nil {
			typ = a.Type()
			continue
		}
		t, ok := commonType(typ, a.Type())
		if !ok {
			return nil, nil, fmt.Errorf("%s: cannot combine %s with %s", fn, sqlType(typ), sqlType(a.Type()))
		}
		typ = t
	}
	if typ == nil { // only string literals
		typ = arrow.BinaryTypes.String
	}
	out := make([]Evaluator, len(args))
	for i, a := range args {
		c, err := implicitCast(fn, i, a, typ)
		if err != nil {
			return nil, nil, err
		}
		out[i] = c
	}
	return out, typ, nil
}

// isStringLiteral reports whether ev is a string constant.
func isStringLiteral(ev Evaluator) bool {
	l, ok := ev.(*literalEval)
	return ok && isString(l.sc.DataType())
}

// implicitCast returns ev as type to: unchanged, folded (literals), or
// wrapped in a cast evaluator.
func implicitCast(fn string, i int, ev Evaluator, to arrow.DataType) (Evaluator, error) {
	if arrow.TypeEqual(ev.Type(), to) {
		return ev, nil
	}
	if l, ok := ev.(*literalEval); ok {
		if !l.sc.IsValid() {
			return &literalEval{sc: scalar.MakeNullScalar(to)}, nil
		}
		if isString(l.sc.DataType()) {
			sc, err := scalar.ParseScalar(to, l.sc.(*scalar.String).String())
			if err != nil {
				return nil, fmt.Errorf("%s: argument %d: %q is not a valid %s", fn, i+1, l.sc.(*scalar.String).String(), sqlType(to))
			}
			return &literalEval{sc: sc}, nil
		}
		// Arrow's scalar CastTo does not rescale integers into decimals
		// (100 -> decimal(12,2) came out as 1.00): fold those by parsing.
		if to.ID() == arrow.DECIMAL128 {
			if sc, err := scalar.ParseScalar(to, l.sc.String()); err == nil {
				return &literalEval{sc: sc}, nil
			}
		} else if sc, err := l.sc.CastTo(to); err == nil {
			return &literalEval{sc: sc}, nil
		}
	}
	if _, ok := commonType(ev.Type(), to); !ok && !(isString(ev.Type()) && isString(to)) {
		return nil, argTypeErr(fn, i, sqlType(to), ev)
	}
	return &castEval{arg: ev, to: to, name: fmt.Sprintf("implicit CAST to %s", sqlType(to))}, nil
}

// compileCompare compiles a comparison once both sides have a common type.
func compileCompare(fn string, e *Expr, args []Evaluator) (Evaluator, error) {
	args, _, err := unify(e.Op, args)
	if err != nil {
		return nil, err
	}
	return newCallEval(fn, args)
}
