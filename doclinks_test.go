package sluice_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/mdblocks"
)

// TestDocLinks checks every relative link of README.md and docs/*.md: the
// file or directory it names exists in the repository, and a fragment
// into a Markdown file names one of its headings (as GitHub anchors them).
func TestDocLinks(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{"README.md"}, docs...)
	anchors := map[string][]string{} // Markdown file -> its anchors
	anchorsOf := func(file string) ([]string, error) {
		if a, ok := anchors[file]; ok {
			return a, nil
		}
		src, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		hs, _, err := mdblocks.Outline(string(src))
		if err != nil {
			return nil, err
		}
		a := []string{}
		for _, h := range hs {
			a = append(a, h.Anchor)
		}
		anchors[file] = a
		return a, nil
	}
	checked := 0
	for _, doc := range docs {
		src, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, links, err := mdblocks.Outline(string(src))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		for _, l := range links {
			if strings.Contains(l.Target, "://") || strings.HasPrefix(l.Target, "mailto:") {
				continue
			}
			checked++
			path, frag, _ := strings.Cut(l.Target, "#")
			target := doc
			if path != "" {
				target = filepath.Join(filepath.Dir(doc), filepath.FromSlash(path))
			}
			if rel, err := filepath.Rel(".", target); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s:%d: %s points outside the repository", doc, l.Line, l.Target)
				continue
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s:%d: %s: no such file or directory in the repository (%s)", doc, l.Line, l.Target, target)
				continue
			}
			if frag == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			if !slices.Contains(a, frag) {
				t.Errorf("%s:%d: %s: %s has no heading with anchor #%s", doc, l.Line, l.Target, target, frag)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found: the link reader is broken")
	}
}
