package sqlparse

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input makes the parser panic, that errors are
// *ParseErrors whose caret renders, and that whatever parses renders as
// SQL that parses back to the same rendering.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		for _, path := range sqlFiles(f, dir) {
			f.Add(readFile(f, path))
		}
	}
	f.Add("SELECT")
	f.Add("CREATE TABLE t AS SELECT - -a, (1).x, 'a'[0], CAST(x AS ARRAY<INT>) FROM s")
	f.Fuzz(func(t *testing.T, src string) {
		stmts, err := Parse(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, not a *ParseError", err, err)
			}
			if pe.Offset < 0 || pe.Offset > len(src) {
				t.Fatalf("error offset %d outside the input (%d bytes)", pe.Offset, len(src))
			}
			_ = pe.Caret(src)
			return
		}
		text := Format(stmts)
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("%q parses, but its rendering %q does not: %v", src, text, err)
		}
		if got := Format(again); got != text {
			t.Fatalf("rendering is not a fixed point:\n  %q\n  %q", text, got)
		}
	})
}
