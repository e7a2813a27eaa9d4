package sqlparse

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Pos is a position in the source text: Line and Col count from 1 (Col in
// characters, not bytes) and Offset is the byte offset from the start.
type Pos struct {
	Line, Col, Offset int
}

// Position returns p: nodes embed Pos, which makes them Nodes.
func (p Pos) Position() Pos { return p }

// String renders p as "line:col".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// tokenKind classifies tokens.
type tokenKind int

const (
	tokEOF    tokenKind = iota
	tokWord             // an unquoted identifier or keyword
	tokQuoted           // a "double-quoted" or `back-quoted` identifier
	tokString           // a 'string' literal
	tokNumber           // a numeric literal
	tokPunct            // an operator or punctuation
	tokError            // a lexical error; Val holds the message
)

// token is one lexical token. Text is the raw source text; Val is the
// decoded value of strings and quoted identifiers (Text otherwise).
type token struct {
	Kind tokenKind
	Text string
	Val  string
	Pos  Pos
	End  int // byte offset just past the token
}

// is reports whether t is the unquoted keyword kw (upper case).
func (t token) is(kw string) bool {
	return t.Kind == tokWord && strings.EqualFold(t.Text, kw)
}

// isPunct reports whether t is the operator or punctuation s.
func (t token) isPunct(s string) bool { return t.Kind == tokPunct && t.Text == s }

// describe renders t for "found ..." in error messages.
func (t token) describe() string {
	switch t.Kind {
	case tokEOF:
		return "end of input"
	case tokString:
		return "string " + quoteString(t.Val)
	case tokWord:
		if reserved[strings.ToUpper(t.Text)] {
			return "reserved word " + t.Text
		}
	}
	s := t.Text
	if utf8.RuneCountInString(s) > 30 {
		s = string([]rune(s)[:30]) + "..."
	}
	if strings.Contains(s, "'") {
		return s
	}
	return "'" + s + "'"
}

// lexer splits source text into tokens.
type lexer struct {
	src       string
	off       int
	line      int
	lineStart int
	colOff    int // a byte offset on the current line ...
	col       int // ... and its column, so columns are counted once
	lastEnd   *Pos
	prev      [2]string // the last two tokens, upper-cased if words ("" otherwise)
}

// tokenize returns the tokens of src, ending with a tokEOF token, or with a
// tokError token at the first lexical error.
func tokenize(src string) []token {
	lx := &lexer{src: src, line: 1, col: 1}
	var toks []token
	for {
		t := lx.next()
		toks = append(toks, t)
		if t.Kind == tokEOF || t.Kind == tokError {
			return toks
		}
	}
}

// pos returns the position of byte offset off, which must not be before
// the start of the current line.
func (lx *lexer) pos(off int) Pos {
	if lx.colOff < lx.lineStart || lx.colOff > off {
		lx.colOff, lx.col = lx.lineStart, 1
	}
	lx.col += utf8.RuneCountInString(lx.src[lx.colOff:off])
	lx.colOff = off
	return Pos{Line: lx.line, Col: lx.col, Offset: off}
}

// advance moves to offset end, keeping track of lines.
func (lx *lexer) advance(end int) {
	for i := lx.off; i < end; i++ {
		if lx.src[i] == '\n' {
			lx.line++
			lx.lineStart = i + 1
		}
	}
	lx.off = end
}

func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWordByte(c byte) bool { return isWordStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// twoCharOps are the operators of two characters.
var twoCharOps = []string{"<=", ">=", "<>", "!=", "||"}

// skipSpace skips white space and comments; it returns an error token for
// an unterminated block comment.
func (lx *lexer) skipSpace() *token {
	for lx.off < len(lx.src) {
		c := lx.src[lx.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			lx.advance(lx.off + 1)
		case strings.HasPrefix(lx.src[lx.off:], "--"):
			end := strings.IndexByte(lx.src[lx.off:], '\n')
			if end < 0 {
				end = len(lx.src) - lx.off
			}
			lx.advance(lx.off + end)
		case strings.HasPrefix(lx.src[lx.off:], "/*"):
			end := strings.Index(lx.src[lx.off+2:], "*/")
			if end < 0 {
				return &token{Kind: tokError, Val: "unterminated comment: /* without */", Pos: lx.pos(lx.off)}
			}
			lx.advance(lx.off + 2 + end + 2)
		default:
			return nil
		}
	}
	return nil
}

// next returns the next token.
func (lx *lexer) next() token {
	if t := lx.skipSpace(); t != nil {
		return *t
	}
	start := lx.off
	p := lx.pos(start)
	if start >= len(lx.src) {
		if lx.lastEnd != nil { // point just past the last token, not at trailing space
			p = *lx.lastEnd
		}
		return token{Kind: tokEOF, Pos: p, End: start}
	}
	c := lx.src[start]
	if isWordByte(c) && lx.prev[1] == "QUERY" && queryVerbs[lx.prev[0]] {
		if t, ok := lx.queryID(start, p); ok {
			return t
		}
	}
	end := start + 1
	kind := tokPunct
	val := ""
	switch {
	case isWordStart(c):
		for end < len(lx.src) && isWordByte(lx.src[end]) {
			end++
		}
		kind = tokWord
	case isDigit(c) || c == '.' && end < len(lx.src) && isDigit(lx.src[end]):
		end = lx.number(start)
		kind = tokNumber
	case c == '\'' || c == '"' || c == '`':
		var ok bool
		val, end, ok = lx.quoted(start, c)
		if !ok {
			what := "string literal"
			if c != '\'' {
				what = "quoted identifier"
			}
			return token{Kind: tokError, Val: fmt.Sprintf("unterminated %s: %c without a closing %c", what, c, c), Pos: p}
		}
		kind = tokString
		if c != '\'' {
			kind = tokQuoted
			if val == "" {
				return token{Kind: tokError, Val: "empty quoted identifier", Pos: p}
			}
		}
	case strings.IndexByte("(),;.*+-/%=<>[]:", c) >= 0 || c == '!' || c == '|':
		for _, op := range twoCharOps {
			if strings.HasPrefix(lx.src[start:], op) {
				end = start + 2
				break
			}
		}
		if end == start+1 && (c == '!' || c == '|') {
			return token{Kind: tokError, Val: fmt.Sprintf("unexpected character %q", c), Pos: p}
		}
	default:
		r, _ := utf8.DecodeRuneInString(lx.src[start:])
		return token{Kind: tokError, Val: fmt.Sprintf("unexpected character %q", r), Pos: p}
	}
	text := lx.src[start:end]
	if kind != tokString && kind != tokQuoted {
		val = text
	}
	return lx.emit(kind, text, val, p, end)
}

// emit advances past a token ending at end and returns it.
func (lx *lexer) emit(kind tokenKind, text, val string, p Pos, end int) token {
	lx.advance(end)
	endPos := lx.pos(end)
	lx.lastEnd = &endPos
	word := ""
	if kind == tokWord {
		word = strings.ToUpper(text)
	}
	lx.prev = [2]string{lx.prev[1], word}
	return token{Kind: kind, Text: text, Val: val, Pos: p, End: end}
}

// queryVerbs are the keywords before QUERY that a query id follows.
var queryVerbs = map[string]bool{"PAUSE": true, "RESUME": true, "TERMINATE": true, "DESCRIBE": true}

// QueryIDShape says what a query id looks like, for error messages.
const QueryIDShape = "a query id is a UUID, 36 characters of hex digits in groups of 8-4-4-4-12 such as 3f2a9c1e-7d4b-4c6a-9a51-0b1c2d3e4f50 (SHOW QUERIES lists them), unquoted or in quotes"

// queryID lexes the id after PAUSE|RESUME|TERMINATE|DESCRIBE QUERY at
// start: a run of letters, digits, '_' and '-' that holds a '-' or starts
// with a digit must be a UUID, and is then one word token (the lexer
// would otherwise split it at each '-'). Any other run is lexed as usual
// (ok false): a name, or a keyword.
func (lx *lexer) queryID(start int, p Pos) (token, bool) {
	s, end := lx.src, start
	for end < len(s) && (isWordByte(s[end]) || s[end] == '-' && !strings.HasPrefix(s[end:], "--")) {
		end++
	}
	run := s[start:end]
	if !strings.Contains(run, "-") && !isDigit(run[0]) {
		return token{}, false
	}
	if !IsUUID(run) {
		return token{Kind: tokError, Val: fmt.Sprintf("malformed query id %s: %s", run, QueryIDShape), Pos: p}, true
	}
	return lx.emit(tokWord, run, run, p, end), true
}

// IsUUID reports whether s is a UUID in its textual form: 36 characters,
// hex digits in groups of 8-4-4-4-12 separated by '-'.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isDigit(c) && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// number returns the end of the numeric literal at start: digits, an
// optional fraction and an optional exponent.
func (lx *lexer) number(start int) int {
	s, i := lx.src, start
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	return i
}

// quoted reads the text quoted by q at start, where a doubled q stands for
// one; it returns the decoded text and the end offset.
func (lx *lexer) quoted(start int, q byte) (string, int, bool) {
	var b strings.Builder
	s := lx.src
	for i := start + 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", 0, false
}

// quoteString renders s as a SQL string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// reserved lists the keywords that cannot be used as unquoted names.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`ALL ALTER AND AS BETWEEN BY CASE CAST CREATE DESCRIBE DISTINCT DROP
		ELSE END FALSE FROM GRANT GROUP HAVING IN IS JOIN LIKE LIMIT NOT NULL ON OR ORDER REVOKE
		SELECT SHOW TABLE THEN TO TRUE UNION WHEN WHERE WITH`) {
		reserved[w] = true
	}
}

// isPlainIdent reports whether name can be written unquoted.
func isPlainIdent(name string) bool {
	if name == "" || !isWordStart(name[0]) || reserved[strings.ToUpper(name)] {
		return false
	}
	for i := 1; i < len(name); i++ {
		if !isWordByte(name[i]) {
			return false
		}
	}
	return true
}

// quoteIdent renders name as an identifier, double-quoted if it is not
// plain or if force is set.
func quoteIdent(name string, force bool) string {
	if !force && isPlainIdent(name) {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
