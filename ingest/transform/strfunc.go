package transform

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
)

// String functions. Positions and lengths count characters (Unicode code
// points), not bytes; a null argument makes the result null.
//
//	lower(s), upper(s)            Unicode case mapping
//	trim(s[, chars]), ltrim, rtrim  strip spaces, or any of chars
//	length(s) → int               characters
//	substring(s, pos[, len])      1-based; PostgreSQL semantics: the
//	                              characters in [pos, pos+len) ∩ [1, ∞), so
//	                              substring('abc', 0, 2) = 'a'; len < 0
//	                              fails the row
//	replace(s, from, to)          every occurrence; empty from: s
//	concat(a, b, …), a || b       null if any argument is null; non-string
//	                              arguments are cast to string
//	split_part(s, delim, n)       n-th field (1-based; negative counts from
//	                              the end); '' past the end; n = 0 fails
//	                              the row; empty delim: s is one field
//	starts_with(s, p), ends_with(s, p), contains(s, p) → boolean

func init() {
	unary := map[string]func(string) string{
		"lower": strings.ToLower,
		"upper": strings.ToUpper,
	}
	for fn, f := range unary {
		funcs[fn] = func(e *Expr, args []Evaluator) (Evaluator, error) {
			args, err := checkSig(fn, args, 1, "s")
			if err != nil {
				return nil, err
			}
			return stringFunc(e, args, func(s []*array.String, _ [][]int64, i int) (string, bool, error) {
				return f(s[0].Value(i)), true, nil
			}), nil
		}
	}
	trims := map[string]func(string, string) string{
		"trim":  strings.Trim,
		"ltrim": strings.TrimLeft,
		"rtrim": strings.TrimRight,
	}
	for fn, f := range trims {
		funcs[fn] = func(e *Expr, args []Evaluator) (Evaluator, error) {
			args, err := checkSig(fn, args, 1, "ss")
			if err != nil {
				return nil, err
			}
			return stringFunc(e, args, func(s []*array.String, _ [][]int64, i int) (string, bool, error) {
				cut := " "
				if len(s) > 1 {
					cut = s[1].Value(i)
				}
				return f(s[0].Value(i), cut), true, nil
			}), nil
		}
	}
	funcs["length"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		args, err := checkSig("length", args, 1, "s")
		if err != nil {
			return nil, err
		}
		return &funcEval{name: e.String(), args: args, typ: arrow.PrimitiveTypes.Int32, nullable: args[0].Nullable(),
			run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
				s := arrs[0].(*array.String)
				return mapRows(b, name, arrow.PrimitiveTypes.Int32, n, validBits(s), func(i int) (int32, bool, error) {
					return int32(utf8.RuneCountInString(s.Value(i))), true, nil
				}), nil
			}}, nil
	}
	funcs["substring"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		args, err := checkSig("substring", args, 2, "sii")
		if err != nil {
			return nil, err
		}
		return stringFunc(e, args, func(s []*array.String, ints [][]int64, i int) (string, bool, error) {
			end := int64(-1) // none
			if len(ints) > 2 {
				if ints[2][i] < 0 {
					return "", false, fmt.Errorf("negative substring length %d", ints[2][i])
				}
				end = ints[1][i] + ints[2][i]
			}
			return substring(s[0].Value(i), ints[1][i], end), true, nil
		}), nil
	}
	funcs["replace"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		args, err := checkSig("replace", args, 3, "sss")
		if err != nil {
			return nil, err
		}
		return stringFunc(e, args, func(s []*array.String, _ [][]int64, i int) (string, bool, error) {
			from := s[1].Value(i)
			if from == "" {
				return s[0].Value(i), true, nil
			}
			return strings.ReplaceAll(s[0].Value(i), from, s[2].Value(i)), true, nil
		}), nil
	}
	funcs["concat"] = compileConcat
	funcs["split_part"] = func(e *Expr, args []Evaluator) (Evaluator, error) {
		args, err := checkSig("split_part", args, 3, "ssi")
		if err != nil {
			return nil, err
		}
		return stringFunc(e, args, func(s []*array.String, ints [][]int64, i int) (string, bool, error) {
			v, err := splitPart(s[0].Value(i), s[1].Value(i), ints[2][i])
			return v, err == nil, err
		}), nil
	}
	preds := map[string]func(string, string) bool{
		"starts_with": strings.HasPrefix,
		"ends_with":   strings.HasSuffix,
		"contains":    strings.Contains,
	}
	for fn, f := range preds {
		funcs[fn] = func(e *Expr, args []Evaluator) (Evaluator, error) {
			args, err := checkSig(fn, args, 2, "ss")
			if err != nil {
				return nil, err
			}
			return &funcEval{name: e.String(), args: args, typ: arrow.FixedWidthTypes.Boolean, nullable: anyNullable(args),
				run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
					s, p := arrs[0].(*array.String), arrs[1].(*array.String)
					return mapBoolRows(b, name, n, validAnd(n, arrs...), func(i int) (bool, bool, error) {
						return f(s.Value(i), p.Value(i)), true, nil
					}), nil
				}}, nil
		}
	}
}

// checkSig checks the arguments of fn against kinds, one letter per
// argument: s a string, i an integer (cast to bigint), d a number (cast to
// double), t a timestamp or date. The first min arguments are required.
func checkSig(fn string, args []Evaluator, min int, kinds string) ([]Evaluator, error) {
	if err := wantArgs(fn, args, min, len(kinds)); err != nil {
		return nil, err
	}
	out := make([]Evaluator, len(args))
	kindType := map[byte]arrow.DataType{'s': arrow.BinaryTypes.String, 'i': arrow.PrimitiveTypes.Int64,
		'd': arrow.PrimitiveTypes.Float64, 't': &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}}
	for i, a := range args {
		if n, ok := nullAs(a, kindType[kinds[i]]); ok {
			a = n
		}
		var err error
		t := a.Type()
		switch kinds[i] {
		case 's':
			if !isString(t) {
				return nil, argTypeErr(fn, i, "a string", a)
			}
			out[i] = a
		case 'i':
			if !isInt(t) {
				return nil, argTypeErr(fn, i, "an integer", a)
			}
			out[i], err = implicitCast(fn, i, a, arrow.PrimitiveTypes.Int64)
		case 'd':
			if !isNumeric(t) {
				return nil, argTypeErr(fn, i, "numeric", a)
			}
			out[i], err = implicitCast(fn, i, a, arrow.PrimitiveTypes.Float64)
		case 't':
			if !isTemporal(t) {
				return nil, argTypeErr(fn, i, "a timestamp or date", a)
			}
			out[i] = a
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stringFunc builds a string-valued function of string and bigint
// arguments (as checkSig leaves them). f sees the string arguments in s and
// the bigint ones in ints, both indexed by argument position (nil where the
// argument is of the other kind).
func stringFunc(e *Expr, args []Evaluator, f func(s []*array.String, ints [][]int64, i int) (string, bool, error)) Evaluator {
	return &funcEval{name: e.String(), args: args, typ: arrow.BinaryTypes.String, nullable: anyNullable(args),
		run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			strs := make([]*array.String, len(arrs))
			ints := make([][]int64, len(arrs))
			for k, a := range arrs {
				if s, ok := a.(*array.String); ok {
					strs[k] = s
				} else {
					ints[k] = values[int64](a)
				}
			}
			hint := 0
			if strs[0] != nil {
				hint = len(strs[0].ValueBytes())
			}
			return mapStringRows(b, name, n, hint, validAnd(n, arrs...), func(i int) (string, bool, error) {
				return f(strs, ints, i)
			}), nil
		}}
}

// substring returns the characters of s at 1-based positions [from, end)
// (end < 0: to the end of s).
func substring(s string, from, end int64) string {
	if end >= 0 && end <= max(from, 1) {
		return ""
	}
	pos := int64(1)
	start, stop := len(s), len(s)
	for i := range s { // i walks character boundaries
		if pos == max(from, 1) {
			start = i
		}
		if end >= 0 && pos == end {
			stop = i
			break
		}
		pos++
	}
	if start > stop {
		return ""
	}
	return s[start:stop]
}

// splitPart returns field n of s split on delim.
func splitPart(s, delim string, n int64) (string, error) {
	if n == 0 {
		return "", errors.New("split_part: field position must not be zero")
	}
	var fields []string
	if delim == "" {
		fields = []string{s}
	} else {
		fields = strings.Split(s, delim)
	}
	if n < 0 {
		n += int64(len(fields)) + 1
	}
	if n < 1 || n > int64(len(fields)) {
		return "", nil
	}
	return fields[n-1], nil
}

// compileConcat: concat(a, b, …) and a || b, null if any argument is null.
func compileConcat(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("concat", args, 1, -1); err != nil {
		return nil, err
	}
	for i, a := range args {
		if !isString(a.Type()) {
			if err := checkCast(a.Type(), arrow.BinaryTypes.String); err != nil {
				return nil, argTypeErr("concat", i, "a string or scalar", a)
			}
			args[i] = &castEval{arg: a, to: arrow.BinaryTypes.String, name: fmt.Sprintf("concat: CAST(argument %d AS STRING)", i+1)}
		}
	}
	return &funcEval{name: e.String(), args: args, typ: arrow.BinaryTypes.String, nullable: anyNullable(args),
		run: func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			strs := make([]*array.String, len(arrs))
			hint := 0
			for k, a := range arrs {
				strs[k] = a.(*array.String)
				hint += len(strs[k].ValueBytes())
			}
			valid := validAnd(n, arrs...)
			out := newStrOut(n, hint)
			for i := 0; i < n; i++ {
				if bitutil.BitIsSet(valid, i) {
					for _, s := range strs {
						out.data = append(out.data, s.Value(i)...)
					}
				}
				out.offsets = append(out.offsets, int32(len(out.data)))
			}
			return out.array(arrow.BinaryTypes.String, valid), nil
		}}, nil
}
