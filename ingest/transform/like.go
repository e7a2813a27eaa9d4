package transform

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/scalar"
)

// LIKE: args are [string, pattern] or [string, pattern, escape]. In the
// pattern % matches any run of characters (possibly none), _ exactly one
// character (a Unicode code point), and the escape character makes the
// next character literal. The escape defaults to backslash; a third
// argument (a string constant of one character, or empty for none)
// replaces it. A pattern ending in the escape character is invalid: a
// compile error for a constant pattern, a row error otherwise. A constant
// pattern is compiled once, to an equality, prefix, suffix, prefix+suffix
// or substring test when it has no _, or else to an anchored regexp.

func init() { funcs["like"] = compileLike }

// likeMatcher is a compiled LIKE pattern.
type likeMatcher func(s string) bool

// compileLikePattern compiles pattern with the escape rune (or -1).
func compileLikePattern(pattern string, escape rune) (likeMatcher, error) {
	type part struct {
		lit string
		any bool // %
		one bool // _
	}
	var parts []part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	hasOne := false
	for i := 0; i < len(pattern); {
		r, w := utf8.DecodeRuneInString(pattern[i:])
		i += w
		switch {
		case r == escape:
			if i >= len(pattern) {
				return nil, errors.New("LIKE pattern must not end with the escape character")
			}
			r, w = utf8.DecodeRuneInString(pattern[i:])
			i += w
			lit.WriteString(pattern[i-w : i])
		case r == '%':
			flush()
			if len(parts) == 0 || !parts[len(parts)-1].any {
				parts = append(parts, part{any: true})
			}
		case r == '_':
			flush()
			parts = append(parts, part{one: true})
			hasOne = true
		default:
			lit.WriteString(pattern[i-w : i])
		}
	}
	flush()
	if !hasOne {
		switch {
		case len(parts) == 0:
			return func(s string) bool { return s == "" }, nil
		case len(parts) == 1 && parts[0].any:
			return func(string) bool { return true }, nil
		case len(parts) == 1:
			l := parts[0].lit
			return func(s string) bool { return s == l }, nil
		case len(parts) == 2 && parts[1].any:
			l := parts[0].lit
			return func(s string) bool { return strings.HasPrefix(s, l) }, nil
		case len(parts) == 2 && parts[0].any:
			l := parts[1].lit
			return func(s string) bool { return strings.HasSuffix(s, l) }, nil
		case len(parts) == 3 && parts[0].any && parts[2].any:
			l := parts[1].lit
			return func(s string) bool { return strings.Contains(s, l) }, nil
		case len(parts) == 3 && parts[1].any:
			p, q := parts[0].lit, parts[2].lit
			return func(s string) bool {
				return len(s) >= len(p)+len(q) && strings.HasPrefix(s, p) && strings.HasSuffix(s, q)
			}, nil
		}
	}
	var re strings.Builder
	re.WriteString(`^(?s:`)
	for _, p := range parts {
		switch {
		case p.any:
			re.WriteString(`.*`)
		case p.one:
			re.WriteString(`.`)
		default:
			re.WriteString(regexp.QuoteMeta(p.lit))
		}
	}
	re.WriteString(`)$`)
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return nil, fmt.Errorf("LIKE pattern %q: %w", pattern, err)
	}
	return rx.MatchString, nil
}

func compileLike(e *Expr, args []Evaluator) (Evaluator, error) {
	if err := wantArgs("like", args, 2, 3); err != nil {
		return nil, err
	}
	for i, a := range args {
		if !isString(a.Type()) {
			return nil, argTypeErr("like", i, "a string", a)
		}
	}
	escape := '\\'
	if len(args) == 3 {
		esc, ok := stringConst(args[2])
		if !ok {
			return nil, fmt.Errorf("like: argument 3 (the escape) must be a string constant")
		}
		switch utf8.RuneCountInString(esc) {
		case 0:
			escape = -1
		case 1:
			escape, _ = utf8.DecodeRuneInString(esc)
		default:
			return nil, fmt.Errorf("like: the escape must be one character, got %q", esc)
		}
	}
	name := e.String()
	f := &funcEval{name: name, args: args[:2], typ: arrow.FixedWidthTypes.Boolean, nullable: anyNullable(args[:2])}
	if pat, ok := stringConst(args[1]); ok {
		m, err := compileLikePattern(pat, escape)
		if err != nil {
			return nil, fmt.Errorf("like: %w", err)
		}
		f.args = args[:1]
		f.run = func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
			s := arrs[0].(*array.String)
			return mapBoolRows(b, name, n, validBits(s), func(i int) (bool, bool, error) {
				return m(s.Value(i)), true, nil
			}), nil
		}
		return f, nil
	}
	f.run = func(b *Batch, name string, n int, arrs []arrow.Array) (arrow.Array, error) {
		s, p := arrs[0].(*array.String), arrs[1].(*array.String)
		cache := map[string]likeMatcher{}
		return mapBoolRows(b, name, n, validAnd(n, s, p), func(i int) (bool, bool, error) {
			pat := p.Value(i)
			m, ok := cache[pat]
			if !ok {
				var err error
				if m, err = compileLikePattern(pat, escape); err != nil {
					return false, false, err
				}
				if len(cache) < 1024 {
					cache[pat] = m
				}
			}
			return m(s.Value(i)), true, nil
		}), nil
	}
	return f, nil
}

// stringConst returns the value of a non-null string constant.
func stringConst(ev Evaluator) (string, bool) {
	l, ok := ev.(*literalEval)
	if !ok || !l.sc.IsValid() || !isString(l.sc.DataType()) {
		return "", false
	}
	return l.sc.(*scalar.String).String(), true
}
