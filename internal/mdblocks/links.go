package mdblocks

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Heading is an ATX heading outside fenced code blocks.
type Heading struct {
	Line   int    // 1-based
	Title  string // as written, markup included
	Anchor string // the fragment a link to it uses (see Anchor), unique in the document
}

// Link is the target of an inline link or image, or of a link reference
// definition, outside fenced code blocks and code spans.
type Link struct {
	Line   int    // 1-based
	Target string // as written, without angle brackets or title: "docs/x.md#y", "#y", "https://…"
}

var (
	inlineTarget = regexp.MustCompile(`\]\((<[^>]*>|[^)\s]*)`)
	refTarget    = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(\S+)`)
)

// Outline returns the headings and links of src, in order. Headings get
// the anchors GitHub gives them: the second "Usage" is "usage-1". It fails
// where Parse fails on an unclosed fence.
func Outline(src string) ([]Heading, []Link, error) {
	// The tool name holds a space, so no comment is read as an annotation.
	blocks, err := Parse(src, " ")
	if err != nil {
		return nil, nil, err
	}
	inBlock := map[int]bool{}
	for _, b := range blocks {
		last := b.Line + strings.Count(b.Code, "\n") + 1 // the closing fence
		for n := b.Line; n <= last; n++ {
			inBlock[n] = true
		}
	}
	var (
		headings []Heading
		links    []Link
		seen     = map[string]int{}
	)
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		if inBlock[n] {
			continue
		}
		line = strings.TrimRight(line, "\r")
		if _, title, ok := atxHeading(line); ok {
			a := Anchor(title)
			if k := seen[a]; k > 0 {
				seen[a] = k + 1
				a = fmt.Sprintf("%s-%d", a, k)
			} else {
				seen[a] = 1
			}
			headings = append(headings, Heading{Line: n, Title: title, Anchor: a})
		}
		text := withoutCodeSpans(line)
		if m := refTarget.FindStringSubmatch(text); m != nil {
			links = append(links, Link{Line: n, Target: strings.Trim(m[1], "<>")})
		}
		for _, m := range inlineTarget.FindAllStringSubmatch(text, -1) {
			links = append(links, Link{Line: n, Target: strings.Trim(m[1], "<>")})
		}
	}
	return headings, links, nil
}

// Anchor is the fragment GitHub gives a heading's title, before numbering
// repeats: the text without code, emphasis and link markup, lower-cased,
// without punctuation other than '-' and '_', spaces turned into '-'.
// "Policy: `BenchmarkDecide` (`policy/bench_test.go`)" is
// "policy-benchmarkdecide-policybench_testgo".
func Anchor(title string) string {
	title = inlineTarget.ReplaceAllString(title, "]") // [text](url) reads as text
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// withoutCodeSpans blanks the code spans of a line (a run of backticks up
// to the next run of the same length), so that what they hold is not read
// as links.
func withoutCodeSpans(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 1
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		fence := line[i : i+n]
		end := -1
		for j := i + n; j < len(line); {
			k := strings.Index(line[j:], fence)
			if k < 0 {
				break
			}
			k += j
			if k+n == len(line) || line[k+n] != '`' {
				end = k
				break
			}
			for k < len(line) && line[k] == '`' {
				k++
			}
			j = k
		}
		if end < 0 { // no closing run: the backticks are text
			b.WriteString(fence)
			i += n
			continue
		}
		b.WriteString(strings.Repeat(" ", end+n-i))
		i = end + n
	}
	return b.String()
}
