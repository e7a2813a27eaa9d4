package objstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

func TestLocalConformance(t *testing.T) {
	runConformance(t, conformance{
		newStore: func(t *testing.T) objstore.Store {
			s, err := objstore.NewLocal(filepath.Join(t.TempDir(), "root"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		presign: false,
	})
}

// newLocal returns a Local store in a fresh temporary directory.
func newLocal(t *testing.T) *objstore.Local {
	t.Helper()
	s, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalURIRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space", "tbl")
	s, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URI(), "file:///") || !strings.Contains(s.URI(), "with%20space") {
		t.Fatalf("URI() = %q, want an escaped file:/// URI", s.URI())
	}
	ctx := context.Background()
	put(t, ctx, s, "k", "v")
	s2, err := objstore.Open(ctx, s.URI())
	if err != nil {
		t.Fatalf("Open(%q): %v", s.URI(), err)
	}
	if s2.URI() != s.URI() {
		t.Fatalf("Open(URI()).URI() = %q, want %q", s2.URI(), s.URI())
	}
	if got := get(t, ctx, s2, "k"); got != "v" {
		t.Fatalf("reopened store reads %q", got)
	}
}

func TestLocalIgnoresTempFilesAndReservesPrefix(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	put(t, ctx, s, "a/visible", "x")
	// Leftovers of a crashed writer.
	if err := os.WriteFile(filepath.Join(s.Root(), "a", ".sluice-tmp-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Root(), ".sluice-tmp-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), ".sluice-tmp-dir", "f"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Key != "a/visible" {
		t.Fatalf("List = %+v, want only a/visible", list)
	}
	for _, key := range []string{".sluice-tmp-123", "a/.sluice-tmp-x", ".sluice-tmp-dir/f"} {
		if err := s.Put(ctx, key, strings.NewReader("x"), objstore.PutOptions{}); err == nil {
			t.Errorf("Put(%q) accepted a key in the reserved temp namespace", key)
		}
	}
}

func TestLocalNoTempFilesLeft(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	put(t, ctx, s, "d/a", "1")
	if err := s.PutIfAbsent(ctx, "d/b", strings.NewReader("2"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "d/b", strings.NewReader("3"), objstore.PutOptions{}); !errors.Is(err, objstore.ErrExists) {
		t.Fatal(err)
	}
	// A failing body leaves nothing behind either.
	if err := s.Put(ctx, "d/c", &failingReader{}, objstore.PutOptions{}); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	ents, err := os.ReadDir(filepath.Join(s.Root(), "d"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "a,b" {
		t.Fatalf("directory holds %v, want just a and b", names)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		return 0, errors.New("disk on fire")
	}
	f.n++
	return copy(p, "partial"), nil
}

func TestLocalCanceledContext(t *testing.T) {
	s := newLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "k", strings.NewReader("x"), objstore.PutOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with canceled context = %v", err)
	}
	if _, err := s.Stat(context.Background(), "k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("canceled Put left an object: %v", err)
	}
}

func TestLocalFileInTheWay(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	put(t, ctx, s, "a", "file")
	err := s.Put(ctx, "a/b", strings.NewReader("x"), objstore.PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "a/b") {
		t.Fatalf("Put below a file = %v, want an error naming the key", err)
	}
}

func TestNewLocalRejectsFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.NewLocal(f); err == nil {
		t.Fatal("NewLocal on a regular file succeeded")
	}
}

// FuzzValidateKey checks that ValidateKey never panics and that accepted
// keys stay below the root when joined as a path.
func FuzzValidateKey(f *testing.F) {
	for _, k := range append([]string{"a", "a/b", "_delta_log/00000000000000000000.json", ".a", "a..b", "...", "a/.../b", "é/ü"}, invalidKeys...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if objstore.ValidateKey(key) != nil {
			return
		}
		if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, `\`) {
			t.Fatalf("accepted %q", key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted %q with component %q", key, seg)
			}
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] == 0x7f {
				t.Fatalf("accepted %q with control byte at %d", key, i)
			}
		}
		const root = "/srv/store"
		p := filepath.Join(root, filepath.FromSlash(key))
		if rel, err := filepath.Rel(root, p); err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Fatalf("accepted %q escapes the root: %s", key, p)
		}
	})
}

// TestLocalOwnerOnly: the root, the directories of keys and the files are
// owner-only (a default warehouse lives in the server's data dir).
func TestLocalOwnerOnly(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	s, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "t/_delta_log/00.json", strings.NewReader("{}"), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "t", "t/_delta_log", "t/_delta_log/00.json"} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%q is %v, want owner-only", p, fi.Mode().Perm())
		}
	}
}
