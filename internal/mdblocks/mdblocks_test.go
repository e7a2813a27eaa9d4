package mdblocks

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []Block
	}{
		{"none", "# Title\n\ntext `inline` and ``` not a fence ```\n", nil},
		{"one block", "```sh\necho hi\n```\n", []Block{{Lang: "sh", Code: "echo hi\n", Line: 1}}},
		{"no info, tildes, longer closing", "~~~\na\n\nb\n~~~~~\n", []Block{{Code: "a\n\nb\n", Line: 1}}},
		{"info string words", "```python title=x\nprint(1)\n```\n", []Block{{Lang: "python", Code: "print(1)\n", Line: 1}}},
		{"shorter or other fence inside", "````md\n```sh\nx\n```\n~~~~\n````\n", []Block{{Lang: "md", Code: "```sh\nx\n```\n~~~~\n", Line: 1}}},
		{"indented fence", "   ```sh\n   y\n   ```\n", []Block{{Lang: "sh", Code: "   y\n", Line: 1}}},
		{"four spaces is not a fence", "    ```sh\n    z\n", nil},
		{"CRLF", "```sh\r\nls\r\n```\r\n", []Block{{Lang: "sh", Code: "ls\n", Line: 1}}},
		{"empty block", "```sh\n```\n", []Block{{Lang: "sh", Line: 1}}},
		{"sections nest and close", "# A\n```sh\n1\n```\n## B\n### C #\n```sh\n2\n```\n## D\n```sh\n3\n```\n#NoHeading\n",
			[]Block{
				{Lang: "sh", Code: "1\n", Line: 2, Section: []string{"A"}},
				{Lang: "sh", Code: "2\n", Line: 7, Section: []string{"A", "B", "C"}},
				{Lang: "sh", Code: "3\n", Line: 11, Section: []string{"A", "D"}},
			}},
		{"heading inside a block is code", "```md\n# not a heading\n```\n```sh\nx\n```\n",
			[]Block{{Lang: "md", Code: "# not a heading\n", Line: 1}, {Lang: "sh", Code: "x\n", Line: 4}}},
		{"annotations", "<!-- readme-test: wait \"Listening on\"; expect \"a \\\"b\\\"\"; bare -->\n\n```sh\nx\n```\n```sh\ny\n```\n",
			[]Block{
				{Lang: "sh", Code: "x\n", Line: 3, Annotations: []Annotation{{"wait", "Listening on"}, {"expect", `a "b"`}, {"bare", ""}}},
				{Lang: "sh", Code: "y\n", Line: 6},
			}},
		{"empty annotation", "<!-- readme-test: -->\n```sh\nx\n```\n", []Block{{Lang: "sh", Code: "x\n", Line: 2, Annotations: []Annotation{}}}},
		{"other tools' comments are text", "<!-- other: skip -->\n```sh\nx\n```\n<!-- a comment -->\n", []Block{{Lang: "sh", Code: "x\n", Line: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.src, "readme-test")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse:\n got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unclosed fence", "text\n```sh\necho\n~~~\n", "line 2: code block not closed (no ``` fence after it)"},
		{"closing fence too short", "````sh\necho\n```\n", "line 1: code block not closed"},
		{"annotation before text", "<!-- readme-test: skip -->\ntext\n```sh\n```\n", "line 2: the readme-test annotation of line 1 is not followed by a code block"},
		{"annotation at the end", "```sh\n```\n<!-- readme-test: skip -->\n", "line 3: the readme-test annotation is not followed by a code block"},
		{"unclosed string", "<!-- readme-test: wait \"x -->\n```sh\n```\n", `line 1: readme-test annotation: wait: argument "x is not a closed Go string`},
		{"missing separator", "<!-- readme-test: wait \"x\" expect \"y\" -->\n```sh\n```\n", `line 1: readme-test annotation: wait: expected ';' before "expect \"y\""`},
		{"no key", "<!-- readme-test: ; wait -->\n```sh\n```\n", `expected a key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.src, "readme-test")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestBlockHelpers(t *testing.T) {
	b := Block{Section: []string{"Sluice", "Run the local stack"}, Annotations: []Annotation{{"wait", "x"}, {"wait", "y"}, {"skip", ""}}}
	for _, tc := range []struct {
		key, arg string
		ok       bool
	}{{"wait", "x", true}, {"skip", "", true}, {"expect", "", false}} {
		if arg, ok := b.Annotation(tc.key); arg != tc.arg || ok != tc.ok {
			t.Errorf("Annotation(%q) = %q, %v; want %q, %v", tc.key, arg, ok, tc.arg, tc.ok)
		}
	}
	if !b.InSection("Run the local stack") || !b.InSection("Sluice") || b.InSection("Run the local") {
		t.Errorf("InSection on %v", b.Section)
	}
}

func TestOutline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src      string
		headings []Heading
		links    []Link
	}{
		{"anchors as GitHub makes them",
			"# Policy decisions: `BenchmarkDecide` (`policy/bench_test.go`)\n## What's new? 2.0 — *now*\n### See [the docs](x.md) ###\n",
			[]Heading{
				{Line: 1, Title: "Policy decisions: `BenchmarkDecide` (`policy/bench_test.go`)", Anchor: "policy-decisions-benchmarkdecide-policybench_testgo"},
				{Line: 2, Title: "What's new? 2.0 — *now*", Anchor: "whats-new-20--now"},
				{Line: 3, Title: "See [the docs](x.md)", Anchor: "see-the-docs"},
			},
			[]Link{{Line: 3, Target: "x.md"}}},
		{"repeated titles are numbered", "# Usage\n## Usage\n## Usage\n",
			[]Heading{{1, "Usage", "usage"}, {2, "Usage", "usage-1"}, {3, "Usage", "usage-2"}}, nil},
		{"links: inline, wrapped, images, references, titles, angle brackets",
			"See [a](a.md#x) and ![i](img/p.png \"t\").\nA [wrapped\nlink](../b.md) and [c](<c d.md>).\n[ref]: https://example.com/r\n",
			nil,
			[]Link{{1, "a.md#x"}, {1, "img/p.png"}, {3, "../b.md"}, {3, "c d.md"}, {4, "https://example.com/r"}}},
		{"nothing in code blocks or code spans",
			"```md\n# not a heading\n[x](in-block.md)\n```\n`[y](span.md)` and ``a ` [z](span2.md)`` but [w](w.md)\n~~~\n## no\n~~~\n",
			nil,
			[]Link{{5, "w.md"}}},
		{"an unclosed backtick is text", "a ` [v](v.md)\n", nil, []Link{{1, "v.md"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, l, err := Outline(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h, tc.headings) {
				t.Errorf("headings:\n got %#v\nwant %#v", h, tc.headings)
			}
			if !reflect.DeepEqual(l, tc.links) {
				t.Errorf("links:\n got %#v\nwant %#v", l, tc.links)
			}
		})
	}
	if _, _, err := Outline("```sh\nx\n"); err == nil || !strings.Contains(err.Error(), "line 1: code block not closed") {
		t.Errorf("unclosed fence: got %v", err)
	}
}
