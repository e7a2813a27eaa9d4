package transform

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRowErrorsInFilterAndColumns(t *testing.T) {
	spec := &Spec{
		// 100 / i32 > 0 fails row 4 (i32 = 0); row 2 is null and drops.
		Filter: op(">", op("/", i64("100"), col("i32")), i64("-20")),
		Select: []SelectItem{
			{Name: "s", Expr: col("s")},
			{Name: "n", Expr: cast(col("txt"), "INT")},                      // fails rows 1 and 3? " 7 " parses; "x" fails
			{Name: "m", Expr: op("*", col("i32"), i32("2"))},                // fails row 3 (overflow)
			{Name: "o", Expr: op("+", cast(col("txt"), "INT"), col("i32"))}, // fails row 1 again
		},
	}
	xf, err := Compile(sqlSchema, spec)
	if err != nil {
		t.Fatal(err)
	}
	rec := sqlInput(t)
	defer rec.Release()
	out, rowErrs, err := xf.Apply(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if out.NumRows() != 1 || out.Column(0).String() != `["Hello"]` || out.Column(1).String() != "[12]" || out.Column(3).String() != "[13]" {
		t.Fatalf("output rows %d: %v %v %v", out.NumRows(), out.Column(0), out.Column(1), out.Column(3))
	}
	want := map[int][]string{
		1: {`column "n": CAST(txt AS INT): "x" is not a valid int`, `column "o": CAST(txt AS INT): "x" is not a valid int`},
		3: {`column "m": (i32 * 2): integer overflow`},
		4: {`filter: (100 / i32): division by zero`},
	}
	if len(rowErrs) != len(want) {
		t.Fatalf("row errors %v", rowErrs)
	}
	for i, re := range rowErrs {
		if i > 0 && rowErrs[i-1].Row >= re.Row {
			t.Errorf("row errors not sorted: %v", rowErrs)
		}
		for _, w := range want[re.Row] {
			if !strings.Contains(re.Err.Error(), w) {
				t.Errorf("row %d: %q does not mention %q", re.Row, re.Err, w)
			}
		}
	}
}

func TestRowErrorsKeepOtherColumnsAligned(t *testing.T) {
	xf, err := Compile(inSchema, &Spec{Select: []SelectItem{
		{Name: "id", Expr: col("id")},
		{Name: "ratio", Expr: op("/", col("id"), col("qty"))},
		{Name: "tags", Expr: col("tags")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := input(t)
	defer rec.Release()
	// qty = [5, null, 7, 9]: no division by zero; make one with a literal.
	out, rowErrs, err := xf.Apply(context.Background(), rec)
	if err != nil || len(rowErrs) != 0 {
		t.Fatal(err, rowErrs)
	}
	out.Release()
	xf, err = Compile(inSchema, &Spec{Select: []SelectItem{
		{Name: "id", Expr: col("id")},
		{Name: "inv", Expr: op("/", i64("12"), op("-", col("id"), i64("2")))},
		{Name: "tags", Expr: col("tags")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, rowErrs, err = xf.Apply(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if len(rowErrs) != 1 || rowErrs[0].Row != 1 {
		t.Fatalf("row errors %v", rowErrs)
	}
	if got := out.Column(0).String() + out.Column(1).String(); got != "[1 3 4][-12 12 6]" {
		t.Fatalf("got %s", got)
	}
	if out.Column(2).Len() != 3 || out.NumRows() != 3 {
		t.Fatalf("map column has %d rows, record %d", out.Column(2).Len(), out.NumRows())
	}
}

func TestCompileErrorsSQL(t *testing.T) {
	for _, tt := range []struct {
		e    *Expr
		want string
	}{
		{op("substring", col("s"), str("2")), "substring: argument 2 must be an integer, got string"},
		{op("substring", col("s")), "substring takes at least 2 arguments, got 1"},
		{op("lower", col("i32")), "lower: argument 1 must be a string, got int"},
		{op("length", col("s"), col("s")), "length takes 1 argument, got 2"},
		{op("date_trunc", str("fortnight"), col("ts")), `date_trunc: unsupported unit "fortnight"`},
		{op("date_trunc", str("day"), col("s")), "date_trunc: argument 2 must be a timestamp or date, got string"},
		{op("extract", col("s"), col("ts")), "extract: argument 1 must be a string constant, got string"},
		{op("like", col("s"), str(`a\`)), "must not end with the escape character"},
		{op("like", col("s"), str("a"), str("ab")), "the escape must be one character"},
		{op("like", col("i32"), str("a")), "like: argument 1 must be a string, got int"},
		{op("json_value", col("j"), str("a.b")), "must start with $"},
		{op("json_value", col("j"), col("s")), "json_value: argument 2 must be a string constant"},
		{op("json_query", col("j"), str("$.a[x]")), `"x" is not an array index`},
		{op("round", col("d"), col("i32")), "round: argument 2 must be an integer constant, got int"},
		{op("case", col("i32"), i32("1")), "case: argument 1 must be boolean, got int"},
		{op("case", col("b"), col("i32"), col("s")), "case: cannot combine int with string"},
		{op("=", col("i32"), col("s")), "=: cannot combine int with string"},
		{op("=", col("ts"), str("yesterday")), `"yesterday" is not a valid timestamp`},
		{op("in", col("i32"), col("ts")), "in: cannot combine int with timestamp"},
		{op("and", col("i32"), col("b")), "and: argument 1 must be boolean, got int"},
		{op("to_date", col("s"), str("yyyy-qq")), `unsupported pattern "qq"`},
		{op("to_date", col("s"), str("yyyySSS")), `fraction S must follow`},
		{op("to_timestamp", col("f64")), "to_timestamp: argument 1 must be a string or integer (epoch milliseconds), got double"},
		{op("format_timestamp", col("ts"), col("s")), "format_timestamp: argument 2 must be a string constant"},
		{op("neg", col("s")), "neg: argument 1 must be numeric, got string"},
		{op("sqrt", col("s")), "sqrt: argument 1 must be numeric, got string"},
		{op("power", col("f64")), "power takes 2 arguments, got 1"},
		{op("current_timestamp", col("ts")), "current_timestamp takes 0 arguments, got 1"},
		{op("greatest", col("b"), col("j")), "greatest: cannot combine boolean with string"},
		{op("*", col("d"), cast(col("d"), "DECIMAL(38,37)")), "result scale 39 exceeds the maximum precision 38"},
		{op("between", col("s"), col("i32"), col("i64")), "between: cannot combine string with int"},
		{op("split_part", col("s"), str(","), col("f64")), "split_part: argument 3 must be an integer, got double"},
		{cast(col("b"), "DATE"), "CAST: cannot cast boolean to date"},
		{op("date_add", col("dt"), i32("1"), str("hour")), "date_add: cannot add hours to a date"},
		{op("date_add", col("ts"), col("f64")), "date_add: argument 2 must be an integer, got double"},
	} {
		_, err := Compile(sqlSchema, &Spec{Select: []SelectItem{{Name: "v", Expr: tt.e}}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.e, err, tt.want)
		}
	}
}

func TestApplyConcurrently(t *testing.T) {
	rec := benchRecord(5000)
	defer rec.Release()
	xf, err := Compile(sqlSchema, &Spec{
		Filter: op("like", col("s"), col("s")),
		Select: []SelectItem{
			{Name: "a", Expr: op("json_value", col("j"), str("$.a.id"))},
			{Name: "b", Expr: op("case", col("b"), op("/", i64("7"), op("%", col("i64"), i64("3"))), i64("0"))},
			{Name: "c", Expr: op("greatest", col("f64"), col("d"))},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := -1
	done := make(chan int)
	for g := 0; g < 4; g++ {
		go func() {
			n := 0
			for i := 0; i < 5; i++ {
				out, rowErrs, err := xf.Apply(context.Background(), rec)
				if err != nil {
					t.Error(err)
					break
				}
				n = int(out.NumRows())*1000 + len(rowErrs)
				out.Release()
			}
			done <- n
		}()
	}
	for g := 0; g < 4; g++ {
		n := <-done
		if want >= 0 && n != want {
			t.Errorf("goroutines disagree: %d vs %d", n, want)
		}
		want = n
	}
}

func TestOutputNullability(t *testing.T) {
	xf, err := Compile(inSchema, &Spec{Select: []SelectItem{
		{Name: "a", Expr: op("/", col("id"), i64("0"))},         // fails rows, never null
		{Name: "b", Expr: op("upper", col("country"))},          // nullable input
		{Name: "c", Expr: op("coalesce", col("qty"), i32("0"))}, // a non-null fallback
		{Name: "d", Expr: op("case", op(">", col("id"), i64("1")), str("x"))},
		{Name: "e", Expr: op("in", col("id"), i64("1"), null("STRING"))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, f := range xf.OutputSchema().Fields() {
		got = append(got, f.Nullable)
	}
	if fmt.Sprint(got) != "[false true false true true]" {
		t.Fatalf("nullable %v", got)
	}
}

func TestExprString(t *testing.T) {
	e := op("case", op("between", col("a"), i32("1"), i32("2")), op("||", col("s"), str("it's")),
		op("in", col("a"), i32("3")), op("neg", op("%", col("a"), i32("2"))), cast(col("x"), "DATE"))
	want := "CASE WHEN (a BETWEEN 1 AND 2) THEN (s || 'it''s') WHEN (a IN (3)) THEN (-(a % 2)) ELSE CAST(x AS DATE) END"
	if got := e.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// refLike is a reference LIKE matcher: the textbook dynamic program over
// runes. ok is false for a pattern ending in the escape.
func refLike(s, p []rune, esc rune) (match, ok bool) {
	const anyRun, anyOne = -1, -2
	var toks []rune
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == esc:
			if i+1 == len(p) {
				return false, false
			}
			i++
			toks = append(toks, p[i])
		case p[i] == '%':
			toks = append(toks, anyRun)
		case p[i] == '_':
			toks = append(toks, anyOne)
		default:
			toks = append(toks, p[i])
		}
	}
	// m[j] reports whether s[:i] matches toks[:j], row by row over i.
	m := make([]bool, len(toks)+1)
	m[0] = true
	for j, tk := range toks {
		m[j+1] = m[j] && tk == anyRun
	}
	for i := range s {
		next := make([]bool, len(toks)+1)
		for j, tk := range toks {
			switch tk {
			case anyRun:
				next[j+1] = next[j] || m[j+1]
			case anyOne:
				next[j+1] = m[j]
			default:
				next[j+1] = m[j] && s[i] == tk
			}
		}
		m = next
	}
	return m[len(toks)], true
}

func TestLikeMatchesReference(t *testing.T) {
	pats := []string{"", "%", "%%", "_", "a%", "%a", "%a%", "a%b", "a_b", `a\%`, `\_%`, "ö_", "%ö%_", "a%b%c", "__%"}
	strs := []string{"", "a", "ab", "a%", "_x", "aXb", "ö", "öx", "abc", "a%b%c", "axbyc", "\n"}
	for _, p := range pats {
		m, err := compileLikePattern(p, '\\')
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		for _, s := range strs {
			want, _ := refLike([]rune(s), []rune(p), '\\')
			if got := m(s); got != want {
				t.Errorf("%q LIKE %q = %v, want %v", s, p, got, want)
			}
		}
	}
}

func FuzzLike(f *testing.F) {
	for _, seed := range [][2]string{{"abc", "a%c"}, {"a_c", `a\_c`}, {"ööö", "_ö%"}, {"", "%"}, {"x%y", `%\%%`}, {"a", `a\`}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, p string) {
		if !utf8.ValidString(s) || !utf8.ValidString(p) || len(p) > 64 || len(s) > 64 {
			return
		}
		want, valid := refLike([]rune(s), []rune(p), '\\')
		m, err := compileLikePattern(p, '\\')
		if (err == nil) != valid {
			t.Fatalf("pattern %q: compile error %v, reference valid %v", p, err, valid)
		}
		if err == nil && m(s) != want {
			t.Fatalf("%q LIKE %q = %v, reference %v", s, p, m(s), want)
		}
	})
}
