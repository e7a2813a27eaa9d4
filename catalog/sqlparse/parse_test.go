package sqlparse

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-io/sluice/catalog/object"
	"github.com/sluice-io/sluice/internal/golden"
)

// sqlFiles returns the .sql files of testdata/dir.
func sqlFiles(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.sql"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/%s/*.sql: %v", dir, err)
	}
	return paths
}

// checkGolden compares got with the golden file next to path, or rewrites
// it under -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	golden.Check(t, strings.TrimSuffix(path, ".sql")+".golden", got)
}

// TestValid parses every statement of testdata/valid: the golden file
// holds each statement's canonical SQL and its AST.
func TestValid(t *testing.T) {
	total := 0
	for _, path := range sqlFiles(t, "valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src := readFile(t, path)
			stmts, err := Parse(src)
			if err != nil {
				t.Fatalf("%v\n%s", err, caret(err, src))
			}
			total += len(stmts)
			var b strings.Builder
			for _, s := range stmts {
				b.WriteString("== " + s.String() + "\n")
				b.WriteString(dump(s, false) + "\n")
				checkPositions(t, src, s)
			}
			checkGolden(t, path, b.String())
		})
	}
	if total < 45 {
		t.Errorf("%d valid statements, want at least 45", total)
	}
}

// TestRoundTrip checks that each valid statement's String parses back to
// the same AST (positions aside), hence to the same String.
func TestRoundTrip(t *testing.T) {
	for _, path := range sqlFiles(t, "valid") {
		stmts, err := Parse(readFile(t, path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, s := range stmts {
			text := s.String()
			again, err := ParseOne(text)
			if err != nil {
				t.Errorf("%s: String %q does not parse: %v\n%s", path, text, err, caret(err, text))
				continue
			}
			if again.String() != text {
				t.Errorf("%s: String is not a fixed point:\n  %s\n  %s", path, text, again.String())
			}
			if a, b := dump(s, true), dump(again, true); a != b {
				t.Errorf("%s: %q parses back to a different AST:\n%s\n%s", path, text, a, b)
			}
		}
	}
}

// TestInvalid parses each file of testdata/invalid, which must fail: the
// golden file holds the error and its caret rendering.
func TestInvalid(t *testing.T) {
	paths := sqlFiles(t, "invalid")
	if len(paths) < 20 {
		t.Errorf("%d invalid inputs, want at least 20", len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src := readFile(t, path)
			_, err := Parse(src)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v, want a *ParseError", err)
			}
			if line, col := lineCol(src, pe.Offset); line != pe.Line || col != pe.Col {
				t.Errorf("error at %d:%d, but its offset %d is %d:%d", pe.Line, pe.Col, pe.Offset, line, col)
			}
			checkGolden(t, path, pe.Error()+"\n"+pe.Caret(src))
		})
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// caret renders a *ParseError's caret, for failure messages.
func caret(err error, src string) string {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Caret(src)
	}
	return ""
}

// lineCol computes the line and column (in characters) of byte offset off.
func lineCol(src string, off int) (int, int) {
	before := src[:off]
	start := strings.LastIndexByte(before, '\n') + 1
	return strings.Count(before, "\n") + 1, utf8.RuneCountInString(before[start:]) + 1
}

var posType = reflect.TypeFor[Pos]()

// checkPositions verifies that every position in n agrees with its offset
// and that every identifier's position is where its text starts.
func checkPositions(t *testing.T, src string, n any) {
	t.Helper()
	walk(reflect.ValueOf(n), func(v reflect.Value) {
		switch v.Type() {
		case posType:
			p := v.Interface().(Pos)
			if line, col := lineCol(src, p.Offset); line != p.Line || col != p.Col {
				t.Errorf("position %d:%d has offset %d, which is %d:%d", p.Line, p.Col, p.Offset, line, col)
			}
		case reflect.TypeFor[Ident]():
			id := v.Interface().(Ident)
			if !strings.HasPrefix(src[id.Pos.Offset:], id.Name) && !id.Quoted {
				t.Errorf("identifier %q at %v: source there is %.20q", id.Name, id.Pos, src[id.Pos.Offset:])
			}
		}
	})
}

// walk calls f on v and every value reachable from it.
func walk(v reflect.Value, f func(reflect.Value)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), f)
		}
	case reflect.Struct:
		f(v)
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).Tag.Get("dump") != "-" {
				walk(v.Field(i), f)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), f)
		}
	}
}

// dump renders an AST as indented JSON, each node tagged with its Go type
// under "@", leaving out zero fields (and positions if noPos is set).
func dump(n any, noPos bool) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(n), "", noPos)
	return b.String()
}

func dumpValue(b *strings.Builder, v reflect.Value, indent string, noPos bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		dumpValue(b, v.Elem(), indent, noPos)
	case reflect.Struct:
		if v.Type() == posType {
			b.WriteString(strconv.Quote(v.Interface().(Pos).String()))
			return
		}
		inner := indent + "  "
		b.WriteString("{\n" + inner + `"@": ` + strconv.Quote(v.Type().Name()))
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			fv := v.Field(i)
			if fv.IsZero() || f.Tag.Get("dump") == "-" || noPos && f.Type == posType {
				continue
			}
			b.WriteString(",\n" + inner + strconv.Quote(f.Name) + ": ")
			dumpValue(b, fv, inner, noPos)
		}
		b.WriteString("\n" + indent + "}")
	case reflect.Slice:
		inner := indent + "  "
		b.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n" + inner)
			dumpValue(b, v.Index(i), inner, noPos)
		}
		b.WriteString("\n" + indent + "]")
	case reflect.String:
		if k, ok := v.Interface().(object.Kind); ok {
			b.WriteString(strconv.Quote(k.Keyword())) // as SQL writes it
			return
		}
		b.WriteString(strconv.Quote(v.String()))
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	default:
		b.WriteString(v.String())
	}
}

// TestParseOne checks the single-statement entry point and ParseExpr.
func TestParseOne(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"SHOW TABLES;", "SHOW TABLES"},
		{"  -- nothing\n", "line 2:1: expected a statement, found end of input"},
		{"SHOW TABLES; SHOW STREAMS", "line 1:14: expected one statement, found a second one"},
	} {
		s, err := ParseOne(c.src)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = s.String()
		}
		if got != c.want {
			t.Errorf("ParseOne(%q) = %q, want %q", c.src, got, c.want)
		}
	}
	e, err := ParseExpr("NOT a = 1 OR b || 'x' LIKE 'y%' AND -c[0].d * 2 BETWEEN 1 AND 3")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.String(), "NOT a = 1 OR b || 'x' LIKE 'y%' AND -c[0].d * 2 BETWEEN 1 AND 3"; got != want {
		t.Errorf("ParseExpr: %s, want %s", got, want)
	}
	if b, ok := e.(*Binary); !ok || b.Op != "OR" || b.OpPos != (Pos{Line: 1, Col: 11, Offset: 10}) {
		t.Errorf("ParseExpr: top node %#v, want OR at 1:11", e)
	}
	if _, err := ParseExpr("a b"); err == nil || err.Error() != "line 1:3: expected end of expression after 'a', found 'b'" {
		t.Errorf("ParseExpr(\"a b\") error = %v", err)
	}
}
