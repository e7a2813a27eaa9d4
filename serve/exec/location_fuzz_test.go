package exec

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzCheckLocation: checkLocation and checkTableLocation never panic, and
// what they accept is a file:// or s3:// URI (checkLocation returns an
// absolute path as its file:// URI; for a table Sluice writes, a path) with no control character and no "." or ".." component,
// even percent-encoded.
func FuzzCheckLocation(f *testing.F) {
	for _, s := range []string{"file:///data/t", "s3://lake/sales/t", "s3://lake", "file:///a/../b", "s3://lake/a/%2e%2e/b",
		"s3://Lake/t", "file://host/t", "s3://lake/a//b", "warehouse/sales/t", "/", "s3://lake/t?x=1", "file:///%00",
		"/data/t", "/data/../t", "/data/t/", "/a b/%2e%2e/c?d#e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		if u, err := checkLocation(loc); err == nil {
			if s := strings.ToLower(u.Scheme); s != "file" && s != "s3" {
				t.Errorf("%q accepted with scheme %q", loc, u.Scheme)
			}
			checkPath(t, loc, u.Path)
		}
		if checkTableLocation(loc) == nil && !strings.Contains(loc, "://") {
			checkPath(t, loc, loc)
		}
	})
}

func checkPath(t *testing.T, loc, path string) {
	if strings.IndexFunc(path, unicode.IsControl) >= 0 {
		t.Errorf("%q accepted with a control character in %q", loc, path)
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			t.Errorf("%q accepted with a %q component", loc, seg)
		}
	}
}
