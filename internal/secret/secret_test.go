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
