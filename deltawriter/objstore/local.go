package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// tempPrefix starts the names of the temporary files Local writes before
// renaming or linking them into place. List skips such files and keys with a
// component starting with it are refused, so they can never be observed.
const tempPrefix = ".sluice-tmp-"

// Local is a Store kept in a directory of the local file system, owner-only
// (directories 0700, files 0600: the server serves them by signed URL). Object keys
// map to files below the root; '/' in a key becomes a subdirectory.
//
// Because a file system cannot hold both a file "a" and a directory "a",
// keys "a" and "a/b" cannot coexist in a Local store (they can in S3).
type Local struct {
	root string // absolute, cleaned
}

var _ Store = (*Local)(nil)

// NewLocal returns a store rooted at dir, creating the directory if needed.
// A relative dir is made absolute against the current working directory.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("local object store: empty directory path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local object store %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("local object store %q: create root directory: %w", abs, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("local object store %q: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local object store %q: not a directory", abs)
	}
	return &Local{root: abs}, nil
}

// Root returns the absolute directory the store is rooted at.
func (l *Local) Root() string { return l.root }

// URI returns the root as a file:// URI.
func (l *Local) URI() string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(l.root)}).String()
}

// path validates key and returns the file it maps to.
func (l *Local) path(key string) (string, error) {
	if err := validateStoreKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// validateStoreKey is ValidateKey plus the refusal of components that would
// collide with Local's temporary files.
func validateStoreKey(key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	for _, seg := range strings.Split(key, "/") {
		if strings.HasPrefix(seg, tempPrefix) {
			return fmt.Errorf("invalid object key %q: component %q uses the reserved prefix %q", key, seg, tempPrefix)
		}
	}
	return nil
}

// Get opens the object and returns the bytes in [off, off+length), cut short
// at the end of the object; length < 0 reads to the end.
func (l *Local) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if off < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, off)
	}
	p, err := l.path(key)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, mapFSErr(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w (it is a directory)", key, ErrNotExist)
	}
	if off == 0 && length < 0 {
		return f, nil
	}
	if length < 0 {
		length = max(fi.Size()-off, 0)
	}
	return &sectionReadCloser{Reader: io.NewSectionReader(f, off, length), Closer: f}, nil
}

// sectionReadCloser reads a section of a file and closes the file.
type sectionReadCloser struct {
	io.Reader
	io.Closer
}

// Stat returns the object's size and modification time.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, mapFSErr(err))
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w (it is a directory)", key, ErrNotExist)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Put writes the object to a temporary file in the target directory, syncs
// it and renames it over the key, so readers see the old or the new object,
// never a partial one.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, _ PutOptions) error {
	p, err := l.path(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	tmp, err := l.writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent writes the object to a synced temporary file and hard-links it
// to the key, which fails atomically if the key exists. The object appears
// complete or not at all.
func (l *Local) PutIfAbsent(ctx context.Context, key string, r io.Reader, _ PutOptions) error {
	p, err := l.path(key)
	if err != nil {
		return fmt.Errorf("put-if-absent: %w", err)
	}
	tmp, err := l.writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put-if-absent %s: %w", key, ErrExists)
		}
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("put-if-absent %s: remove temporary file: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	return nil
}

// writeTemp copies r into a new synced temporary file next to target and
// returns its path. The caller renames, links or removes it.
func (l *Local) writeTemp(ctx context.Context, target string, r io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dir := filepath.Dir(target)
	if err := l.mkdirAll(dir); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: r}); err != nil {
		return fail(fmt.Errorf("write: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync: %w", err))
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// mkdirAll creates dir and its missing parents below the root, syncing each
// parent whose entries changed so the new directories survive a crash.
func (l *Local) mkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is a file, so no object can be stored below it", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) || dir == l.root {
		return err
	}
	parent := filepath.Dir(dir)
	if err := l.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir fsyncs a directory so renames and links in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// List walks the directories that can hold keys starting with prefix and
// returns the matching objects sorted by key, skipping keys <= startAfter and
// temporary files.
func (l *Local) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	// Start at the deepest directory the prefix names in full.
	start := l.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(l.root, filepath.FromSlash(prefix[:i]))
	}
	var out []ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == l.root {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), tempPrefix) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p == start {
				return nil
			}
			if !dirMayHold(key+"/", prefix, startAfter) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) || key <= startAfter || ValidateKey(key) != nil {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q in %s: %w", prefix, l.URI(), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// dirMayHold reports whether keys starting with dir (which ends in '/') can
// start with prefix and sort after startAfter.
func dirMayHold(dir, prefix, startAfter string) bool {
	if !strings.HasPrefix(dir, prefix) && !strings.HasPrefix(prefix, dir) {
		return false
	}
	// Every key below dir is < startAfter when dir sorts before startAfter
	// at a byte inside dir.
	if startAfter != "" && dir < startAfter && !strings.HasPrefix(startAfter, dir) {
		return false
	}
	return true
}

// validatePrefix checks a List prefix: the part up to its last '/' must be a
// valid key, and the partial last component must hold no forbidden bytes.
func validatePrefix(prefix string) error {
	dir, partial := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, partial = prefix[:i], prefix[i+1:]
		if err := ValidateKey(dir); err != nil {
			return fmt.Errorf("invalid list prefix %q: %w", prefix, err)
		}
	}
	for i := 0; i < len(partial); i++ {
		if c := partial[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return fmt.Errorf("invalid list prefix %q: control character or backslash at byte %d", prefix, len(dir)+1+i)
		}
	}
	if len(prefix) > 1024 {
		return fmt.Errorf("invalid list prefix %.40q…: longer than 1024 bytes", prefix)
	}
	return nil
}

// Delete removes the object; a missing object is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a directory is not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Presign always fails with ErrPresignUnsupported: a local directory has no
// URLs to hand out.
func (l *Local) Presign(_ context.Context, key string, _ time.Duration) (string, error) {
	if err := validateStoreKey(key); err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	return "", fmt.Errorf("presign %s in %s: %w", key, l.URI(), ErrPresignUnsupported)
}

// mapFSErr turns "not found" file-system errors into ErrNotExist. ENOTDIR
// means a parent component is a file, so the object cannot exist either.
func mapFSErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	}
	return err
}

// RemoveStaleTemp deletes the temporary files of uploads that never finished
// (a writer killed mid-Put) and were last modified before cutoff, and returns
// their paths relative to the root. With dryRun it only lists them.
func (l *Local) RemoveStaleTemp(ctx context.Context, cutoff time.Time, dryRun bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil
		}
		rel, _ := filepath.Rel(l.root, p)
		out = append(out, filepath.ToSlash(rel))
		if dryRun {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("remove stale temporary files in %s: %w", l.URI(), err)
	}
	sort.Strings(out)
	return out, nil
}
