package sqlparse

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParseError is a syntax error at a position in the source. Msg is the
// message without the position; Expected lists what would have been
// accepted there, when the parser knows.
type ParseError struct {
	Line, Col, Offset int
	Msg               string
	Expected          []string
}

// Error renders the error as "line 3:14: expected table name after TABLE,
// found ';'".
func (e *ParseError) Error() string {
	return fmt.Sprintf("line %d:%d: %s", e.Line, e.Col, e.Msg)
}

// Position is where the error was found.
func (e *ParseError) Position() Pos { return Pos{Line: e.Line, Col: e.Col, Offset: e.Offset} }

// maxCaretLine is the widest source excerpt Caret shows; longer lines are
// cut around the error.
const maxCaretLine = 100

// Caret returns the source line of the error (src must be the parsed
// text) and, below it, a caret under the offending token, each line
// indented by two spaces and ending in a newline:
//
//	CREATE TABLE ;
//	             ^
//
// Tabs before the token are kept so the caret lines up; lines longer than
// 100 characters are cut around the error, with "..." marking the cuts.
func (e *ParseError) Caret(src string) string { return e.Position().Caret(src) }

// Caret returns the source line at p and a caret under p, as
// ParseError.Caret does (src must be the parsed text).
func (p Pos) Caret(src string) string {
	off := min(max(p.Offset, 0), len(src))
	start := strings.LastIndexByte(src[:off], '\n') + 1
	end := strings.IndexByte(src[off:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += off
	}
	line := []rune(strings.TrimRight(src[start:end], "\r"))
	col := utf8.RuneCountInString(src[start:off])
	prefix, suffix := "", ""
	if len(line) > maxCaretLine {
		from := max(0, min(col-maxCaretLine/2, len(line)-maxCaretLine))
		to := min(len(line), from+maxCaretLine)
		if from > 0 {
			prefix = "..."
		}
		if to < len(line) {
			suffix = "..."
		}
		line = line[from:to]
		col -= from
	}
	var pad strings.Builder
	pad.WriteString(strings.Repeat(" ", len(prefix)))
	for i := 0; i < col && i < len(line); i++ {
		if line[i] == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	for i := len(line); i < col; i++ {
		pad.WriteByte(' ')
	}
	return "  " + prefix + string(line) + suffix + "\n  " + pad.String() + "^\n"
}
