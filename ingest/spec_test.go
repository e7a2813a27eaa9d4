package ingest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateSpecs = flag.Bool("update", false, "rewrite the .error golden files of testdata/specs/bad")

// TestSpecFixtures: every good spec loads; every bad one fails with exactly
// the error in its .error file (which names the field and the fix).
func TestSpecFixtures(t *testing.T) {
	good, _ := filepath.Glob("testdata/specs/good/*.yaml")
	bad, _ := filepath.Glob("testdata/specs/bad/*.yaml")
	if len(good) == 0 || len(bad) == 0 {
		t.Fatal("no spec fixtures")
	}
	for _, f := range good {
		if _, err := LoadSpec(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range bad {
		_, err := LoadSpec(f)
		if err == nil {
			t.Errorf("%s: loaded; want an error", f)
			continue
		}
		got := strings.ReplaceAll(err.Error(), f, filepath.Base(f)) + "\n"
		want := strings.TrimSuffix(f, ".yaml") + ".error"
		if *updateSpecs {
			os.WriteFile(want, []byte(got), 0o644)
			continue
		}
		b, err := os.ReadFile(want)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if string(b) != got {
			t.Errorf("%s:\ngot  %s\nwant %s", f, got, b)
		}
	}
}

// FuzzParseSpec: arbitrary input never panics the spec loader.
func FuzzParseSpec(f *testing.F) {
	files, _ := filepath.Glob("testdata/specs/*/*.yaml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSpec(b)
		if err == nil && s.Validate() != nil {
			t.Fatal("ParseSpec returned a spec that does not validate")
		}
	})
}
