package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolve: env: and file: references resolve to their values; an unset
// variable, a missing file or another form is an error naming the reference
// and never the value.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pass")
	if err := os.WriteFile(file, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_TEST_SECRET", "from-env")
	for _, tc := range []struct {
		ref, want, err string
	}{
		{ref: "env:SLUICE_TEST_SECRET", want: "from-env"},
		{ref: "file:" + file, want: "s3cret"},
		{ref: "env:SLUICE_TEST_UNSET", err: "environment variable SLUICE_TEST_UNSET is not set"},
		{ref: "file:" + filepath.Join(dir, "missing"), err: "secret file:" + filepath.Join(dir, "missing")},
		{ref: "s3cret", err: `secret reference "s3cret": want env:NAME or file:PATH`},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := Resolve(tc.ref)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Resolve(%q) = %q, %v; want an error with %q", tc.ref, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
		})
	}
}

// TestReferenceForms: what counts as a reference (IsRef), which variable
// an env: reference names (EnvVar), and which references the catalog
// stores (WellFormed).
func TestReferenceForms(t *testing.T) {
	for _, tc := range []struct {
		ref        string
		isRef      bool
		env        string
		wellFormed bool
	}{
		{"env:KAFKA_PASSWORD", true, "KAFKA_PASSWORD", true},
		{"env:_x9", true, "_x9", true},
		{"env:9LIVES", true, "9LIVES", false},
		{"env:", true, "", false},
		{"env:A-B", true, "A-B", false},
		{"file:/run/secrets/kafka", true, "", true},
		{"file:relative/path", true, "", false},
		{"file:/bad\npath", true, "", false},
		{"hunter2", false, "", false},
		{"ENV:X", false, "", false},
	} {
		if got := IsRef(tc.ref); got != tc.isRef {
			t.Errorf("IsRef(%q) = %v, want %v", tc.ref, got, tc.isRef)
		}
		name, ok := EnvVar(tc.ref)
		if name != tc.env || ok != strings.HasPrefix(tc.ref, "env:") {
			t.Errorf("EnvVar(%q) = %q, %v; want %q", tc.ref, name, ok, tc.env)
		}
		if got := WellFormed(tc.ref); got != tc.wellFormed {
			t.Errorf("WellFormed(%q) = %v, want %v", tc.ref, got, tc.wellFormed)
		}
	}
}
