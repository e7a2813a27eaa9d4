// Package mdblocks extracts the fenced code blocks of a Markdown document,
// with the section each sits in and the annotations written for a tool in
// an HTML comment just before it, so a test can run a document's commands
// as a reader would:
//
//	<!-- readme-test: wait "Listening on"; expect "sales" -->
//	```sh
//	./sluice serve &
//	```
//
// It reads the subset of CommonMark that such documents use: ATX headings
// (# to ######), fences of three or more backticks or tildes indented by at
// most three spaces, closed by a fence of the same character at least as
// long. Everything else is text.
package mdblocks

import (
	"fmt"
	"strconv"
	"strings"
)

// Block is one fenced code block.
type Block struct {
	Lang    string   // the first word of the info string ("sh", "python"), "" if none
	Code    string   // the content, each line ending in "\n"
	Line    int      // 1-based line of the opening fence
	Section []string // the headings the block is under, outermost first
	// Annotations are those of the comment just before the block (only
	// blank lines between) addressed to the tool Parse was asked for.
	Annotations []Annotation
}

// Annotation is one "key" or `key "argument"` of an annotation comment.
type Annotation struct {
	Key string
	Arg string // unquoted; "" if none
}

// Annotation returns the argument of the first annotation with key, and
// whether there is one.
func (b Block) Annotation(key string) (string, bool) {
	for _, a := range b.Annotations {
		if a.Key == key {
			return a.Arg, true
		}
	}
	return "", false
}

// InSection reports whether one of the headings above the block is title.
func (b Block) InSection(title string) bool {
	for _, s := range b.Section {
		if s == title {
			return true
		}
	}
	return false
}

// Parse returns the fenced code blocks of src, in order. Comments of the
// form <!-- TOOL: annotations --> annotate the next block; annotations are
// separated by ';', each a key optionally followed by a Go-quoted string.
// It fails on an unclosed fence or a malformed annotation, naming the line.
func Parse(src, tool string) ([]Block, error) {
	var (
		blocks   []Block
		headings []heading
		pending  []Annotation // annotations waiting for their block
		pendLine int
	)
	lines := strings.SplitAfter(src, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r\n")
		n := i + 1
		if strings.TrimSpace(line) == "" {
			continue
		}
		if fch, flen, info, ok := openingFence(line); ok {
			b := Block{Lang: firstWord(info), Line: n, Annotations: pending}
			for _, h := range headings {
				b.Section = append(b.Section, h.title)
			}
			pending = nil
			var code strings.Builder
			closed := false
			for i++; i < len(lines); i++ {
				l := strings.TrimRight(lines[i], "\r\n")
				if closingFence(l, fch, flen) {
					closed = true
					break
				}
				code.WriteString(l + "\n")
			}
			if !closed {
				return nil, fmt.Errorf("line %d: code block not closed (no %s fence after it)", n, strings.Repeat(string(fch), flen))
			}
			b.Code = code.String()
			blocks = append(blocks, b)
			continue
		}
		if pending != nil {
			return nil, fmt.Errorf("line %d: the %s annotation of line %d is not followed by a code block", n, tool, pendLine)
		}
		if level, title, ok := atxHeading(line); ok {
			for len(headings) > 0 && headings[len(headings)-1].level >= level {
				headings = headings[:len(headings)-1]
			}
			headings = append(headings, heading{level, title})
			continue
		}
		if body, ok := annotationComment(line, tool); ok {
			anns, err := parseAnnotations(body)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s annotation: %w", n, tool, err)
			}
			pending, pendLine = anns, n
			if pending == nil {
				pending = []Annotation{}
			}
		}
	}
	if pending != nil {
		return nil, fmt.Errorf("line %d: the %s annotation is not followed by a code block", pendLine, tool)
	}
	return blocks, nil
}

type heading struct {
	level int
	title string
}

// indent strips up to three leading spaces; ok is false for more (an
// indented code block, which this package does not treat as a fence).
func indent(line string) (string, bool) {
	for i := 0; i < 4; i++ {
		if i == len(line) || line[i] != ' ' {
			return line[i:], true
		}
	}
	return "", false
}

func openingFence(line string) (ch byte, n int, info string, ok bool) {
	s, ok := indent(line)
	if !ok || len(s) < 3 || (s[0] != '`' && s[0] != '~') {
		return 0, 0, "", false
	}
	ch = s[0]
	for n < len(s) && s[n] == ch {
		n++
	}
	if n < 3 {
		return 0, 0, "", false
	}
	info = strings.TrimSpace(s[n:])
	if ch == '`' && strings.Contains(info, "`") {
		return 0, 0, "", false // inline code, not a fence
	}
	return ch, n, info, true
}

func closingFence(line string, ch byte, min int) bool {
	s, ok := indent(line)
	if !ok {
		return false
	}
	n := 0
	for n < len(s) && s[n] == ch {
		n++
	}
	return n >= min && strings.TrimSpace(s[n:]) == ""
}

func atxHeading(line string) (level int, title string, ok bool) {
	s, ok := indent(line)
	if !ok {
		return 0, "", false
	}
	for level < len(s) && s[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || (level < len(s) && s[level] != ' ' && s[level] != '\t') {
		return 0, "", false
	}
	title = strings.TrimSpace(s[level:])
	// An optional closing sequence of #s.
	if t := strings.TrimRight(title, "#"); t != title && (t == "" || strings.HasSuffix(t, " ")) {
		title = strings.TrimSpace(t)
	}
	return level, title, true
}

// annotationComment returns the body of a one-line <!-- tool: body -->.
func annotationComment(line, tool string) (string, bool) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "<!--") || !strings.HasSuffix(s, "-->") {
		return "", false
	}
	s = strings.TrimSpace(s[4 : len(s)-3])
	body, ok := strings.CutPrefix(s, tool+":")
	return strings.TrimSpace(body), ok
}

// parseAnnotations reads `key "arg"; key; ...`.
func parseAnnotations(s string) ([]Annotation, error) {
	var out []Annotation
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		end := strings.IndexAny(s, " \t;\"")
		if end < 0 {
			end = len(s)
		}
		a := Annotation{Key: s[:end]}
		if a.Key == "" {
			return nil, fmt.Errorf("%q: expected a key", s)
		}
		s = strings.TrimSpace(s[end:])
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s: argument %s is not a closed Go string", a.Key, s)
			}
			a.Arg, _ = strconv.Unquote(q)
			s = strings.TrimSpace(s[len(q):])
		}
		out = append(out, a)
		if s == "" {
			break
		}
		if s[0] != ';' {
			return nil, fmt.Errorf("%s: expected ';' before %q", a.Key, s)
		}
		s = s[1:]
	}
	return out, nil
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
