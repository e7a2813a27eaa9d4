package transform

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
)

// Arithmetic (+ - * / % and unary neg) runs on three kinds of operands,
// after the implicit casts of coerce.go:
//
//   - integers: computed in the wider operand type, tinyint and smallint
//     widened to int first (unary neg keeps the type). Overflow, division
//     by zero and MIN / -1 fail the row (RowError, dead letter) rather
//     than wrapping: a wrong number in a table is worse than a row set
//     aside. / truncates toward zero;
//     % takes the sign of the dividend (a = (a/b)*b + a%b).
//   - floating point: computed in double with IEEE 754 semantics (x/0 is
//     ±Inf, 0/0 and x%0 are NaN); no row fails.
//   - decimals: exact. + and - have scale max(s1,s2) and precision
//     max(p1-s1,p2-s2)+scale+1; * has scale s1+s2 and precision p1+p2+1;
//     / has scale max(4, s1+p2-s2+1) (truncated) and precision
//     p1-s1+s2+scale; % has scale max(s1,s2). Precision is capped at 38
//     (for / by giving up scale); a result that does not fit, or division
//     by zero, fails the row.

var (
	errDivZero  = errors.New("division by zero")
	errOverflow = errors.New("integer overflow")
)

func init() {
	for _, op := range []string{"+", "-", "*", "/", "%"} {
		funcs[op] = compileArith
	}
	funcs["neg"] = compileSign
	funcs["abs"] = compileSign
}

type signed interface{ ~int32 | ~int64 }

// minOf is the most negative value of T.
func minOf[T signed]() T { return T(-1) << (unsafe.Sizeof(T(0))*8 - 1) }

// arithType is the result type of a binary arithmetic operator.
func arithType(op string, l, r arrow.DataType) (arrow.DataType, error) {
	if isFloat(l) || isFloat(r) {
		return arrow.PrimitiveTypes.Float64, nil
	}
	if isInt(l) && isInt(r) {
		if intWidth(l) == 64 || intWidth(r) == 64 {
			return arrow.PrimitiveTypes.Int64, nil
		}
		return arrow.PrimitiveTypes.Int32, nil
	}
	a, b := asDecimal(l), asDecimal(r)
	p1, s1, p2, s2 := a.Precision, a.Scale, b.Precision, b.Scale
	var p, s int32
	switch op {
	case "+", "-":
		s = max(s1, s2)
		p = max(p1-s1, p2-s2) + s + 1
	case "*":
		s = s1 + s2
		p = p1 + p2 + 1
	case "/":
		s = max(4, s1+p2-s2+1)
		p = p1 - s1 + s2 + s
	case "%":
		s = max(s1, s2)
		p = min(p1-s1, p2-s2) + s
	}
	if p > 38 {
		if op == "/" {
			s = max(0, s-(p-38))
		}
		p = 38
	}
	if s > p {
		return nil, fmt.Errorf("%s: result scale %d exceeds the maximum precision 38", op, s)
	}
	return &arrow.Decimal128Type{Precision: p, Scale: s}, nil
}

func compileArith(e *Expr, args []Evaluator) (Evaluator, error) {
	op := e.Op
	if err := wantArgs(op, args, 2, 2); err != nil {
		return nil, err
	}
	for i, a := range args {
		if !isNumeric(a.Type()) && !isStringLiteral(a) {
			return nil, argTypeErr(op, i, "numeric", a)
		}
	}
	for i, a := range args { // a string literal takes the other side's type
		if isStringLiteral(a) {
			c, err := implicitCast(op, i, a, args[1-i].Type())
			if err != nil {
				return nil, err
			}
			args[i] = c
		}
	}
	typ, err := arithType(op, args[0].Type(), args[1].Type())
	if err != nil {
		return nil, err
	}
	operand := typ
	if isDecimal(typ) {
		// Operands keep their own scale; integers become decimals.
		for i, a := range args {
			if args[i], err = implicitCast(op, i, a, asDecimal(a.Type())); err != nil {
				return nil, err
			}
		}
	} else {
		for i, a := range args {
			if args[i], err = implicitCast(op, i, a, operand); err != nil {
				return nil, err
			}
		}
	}
	name := e.String()
	// Failed rows never reach the output, so only null inputs make nulls.
	f := &funcEval{name: name, args: args, typ: typ, nullable: anyNullable(args)}
	switch typ.ID() {
	case arrow.INT32:
		f.run = intArith[int32](op)
	case arrow.INT64:
		f.run = intArith[int64](op)
	case arrow.FLOAT64:
		f.run = floatArith(op)
	default:
		f.run = decimalArith(op, typ.(*arrow.Decimal128Type))
	}
	return f, nil
}

// intArith returns the kernel of a checked integer operator.
func intArith[T signed](op string) func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
	return func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
		l, r := values[T](arrs[0]), values[T](arrs[1])
		valid := validAnd(n, arrs...)
		out := make([]T, n)
		fail := func(i int, err error) {
			if bitutil.BitIsSet(valid, i) {
				b.Fail(i, name, err)
				bitutil.ClearBit(valid, i)
			}
		}
		lo := minOf[T]()
		switch op {
		case "+":
			for i := range out {
				s := l[i] + r[i]
				if (l[i]^s)&(r[i]^s) < 0 {
					fail(i, errOverflow)
				}
				out[i] = s
			}
		case "-":
			for i := range out {
				s := l[i] - r[i]
				if (l[i]^r[i])&(l[i]^s) < 0 {
					fail(i, errOverflow)
				}
				out[i] = s
			}
		case "*":
			for i := range out {
				a, c := l[i], r[i]
				s := a * c
				if a != 0 && (s/a != c || (a == -1 && c == lo)) {
					fail(i, errOverflow)
				}
				out[i] = s
			}
		case "/", "%":
			for i := range out {
				a, c := l[i], r[i]
				switch {
				case c == 0:
					fail(i, errDivZero)
				case c == -1 && op == "/":
					if a == lo {
						fail(i, errOverflow)
					}
					out[i] = -a
				case c == -1:
					out[i] = 0
				case op == "/":
					out[i] = a / c
				default:
					out[i] = a % c
				}
			}
		}
		return newFixed(arrs[0].DataType(), out, valid), nil
	}
}

// floatArith returns the kernel of an IEEE 754 operator on doubles.
func floatArith(op string) func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
	return func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
		l, r := values[float64](arrs[0]), values[float64](arrs[1])
		out := make([]float64, n)
		switch op {
		case "+":
			for i := range out {
				out[i] = l[i] + r[i]
			}
		case "-":
			for i := range out {
				out[i] = l[i] - r[i]
			}
		case "*":
			for i := range out {
				out[i] = l[i] * r[i]
			}
		case "/":
			for i := range out {
				out[i] = l[i] / r[i]
			}
		case "%":
			for i := range out {
				out[i] = math.Mod(l[i], r[i])
			}
		}
		return newFixed(arrow.PrimitiveTypes.Float64, out, validAnd(n, arrs...)), nil
	}
}

// decimalArith returns the kernel of an exact decimal operator.
func decimalArith(op string, typ *arrow.Decimal128Type) func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
	return func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
		lt, rt := arrs[0].DataType().(*arrow.Decimal128Type), arrs[1].DataType().(*arrow.Decimal128Type)
		l, r := values[decimal128.Num](arrs[0]), values[decimal128.Num](arrs[1])
		return mapRows(b, name, typ, n, validAnd(n, arrs...), func(i int) (decimal128.Num, bool, error) {
			v, err := decimalOp(op, l[i], lt.Scale, r[i], rt.Scale, typ.Scale)
			if err == nil && !v.FitsInPrecision(typ.Precision) {
				err = fmt.Errorf("decimal overflow: result does not fit %s", sqlType(typ))
			}
			return v, err == nil, err
		}), nil
	}
}

// pow10 caches 10^k as big.Int.
var pow10 = func() (p [77]*big.Int) {
	for k := range p {
		p[k] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
	}
	return p
}()

// decimalOp computes a op c exactly for unscaled a (scale sa) and c (scale
// sc), returning the unscaled result at scale s.
func decimalOp(op string, a decimal128.Num, sa int32, c decimal128.Num, sc int32, s int32) (decimal128.Num, error) {
	x, y := a.BigInt(), c.BigInt()
	var z *big.Int
	switch op {
	case "+", "-", "%":
		x.Mul(x, pow10[s-sa])
		y.Mul(y, pow10[s-sc])
		switch op {
		case "+":
			z = x.Add(x, y)
		case "-":
			z = x.Sub(x, y)
		default:
			if y.Sign() == 0 {
				return decimal128.Num{}, errDivZero
			}
			z = x.Rem(x, y) // truncated: sign of the dividend
		}
	case "*":
		z = x.Mul(x, y) // scale sa+sc == s
	case "/":
		if y.Sign() == 0 {
			return decimal128.Num{}, errDivZero
		}
		// x/10^sa ÷ y/10^sc at scale s: x * 10^(s-sa+sc) / y.
		if k := s - sa + sc; k >= 0 {
			x.Mul(x, pow10[k])
		} else {
			y.Mul(y, pow10[-k])
		}
		// Rounded half away from zero, as Spark and the SQL engines that
		// read Delta tables do (Quo alone would truncate).
		q, r := new(big.Int).QuoRem(x, y, new(big.Int))
		if new(big.Int).Lsh(r.Abs(r), 1).CmpAbs(y) >= 0 {
			if (x.Sign() < 0) != (y.Sign() < 0) {
				q.Sub(q, big.NewInt(1))
			} else {
				q.Add(q, big.NewInt(1))
			}
		}
		z = q
	}
	if z.BitLen() > 127 {
		return decimal128.Num{}, errors.New("decimal overflow")
	}
	return decimal128.FromBigInt(z), nil
}

// compileSign compiles neg and abs: the result has the argument's type;
// negating (or taking abs of) the most negative integer fails the row.
func compileSign(e *Expr, args []Evaluator) (Evaluator, error) {
	fn := strings.ToLower(e.Op)
	if err := wantArgs(fn, args, 1, 1); err != nil {
		return nil, err
	}
	neg := fn == "neg"
	t := args[0].Type()
	f := &funcEval{name: e.String(), args: args, typ: t, nullable: args[0].Nullable()}
	switch t.ID() {
	case arrow.INT8:
		f.run = signRun[int8](neg)
	case arrow.INT16:
		f.run = signRun[int16](neg)
	case arrow.INT32:
		f.run = signRun[int32](neg)
	case arrow.INT64:
		f.run = signRun[int64](neg)
	case arrow.FLOAT32:
		f.run = signRun[float32](neg)
	case arrow.FLOAT64:
		f.run = signRun[float64](neg)
	case arrow.DECIMAL128:
		f.run = decimalMap(t, func(v decimal128.Num) (decimal128.Num, error) {
			if neg {
				return v.Negate(), nil
			}
			return v.Abs(), nil
		})
	default:
		return nil, argTypeErr(fn, 0, "numeric", args[0])
	}
	return f, nil
}

// signRun returns the kernel of neg (or abs) over T.
func signRun[T int8 | int16 | int32 | int64 | float32 | float64](neg bool) func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
	return func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
		in := values[T](arrs[0])
		valid := validBits(arrs[0])
		out := make([]T, n)
		for i, v := range in {
			r := v
			if neg || v < 0 {
				r = -v
			}
			// Only the most negative integer is its own negation.
			if r == v && v < 0 && bitutil.BitIsSet(valid, i) {
				b.Fail(i, name, errOverflow)
				bitutil.ClearBit(valid, i)
			}
			out[i] = r
		}
		return newFixed(arrs[0].DataType(), out, valid), nil
	}
}
