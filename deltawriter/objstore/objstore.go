// Package objstore defines the small object-store interface the Delta engine
// writes through, and opens stores (local directory or S3) from URIs.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) when an object does not exist.
var ErrNotExist = errors.New("object does not exist")

// ErrExists is returned (wrapped) by PutIfAbsent when the key is already taken.
// It is how the Delta log detects that another writer won a commit race.
var ErrExists = errors.New("object already exists")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string    // key relative to the store root, '/'-separated
	Size    int64     // bytes
	ModTime time.Time // last modification
}

// PutOptions tune one Put or PutIfAbsent.
type PutOptions struct {
	// ContentType is stored with the object where the backend supports it.
	ContentType string
}

// Store is a flat key/value object store rooted at a prefix. Keys are
// '/'-separated and relative to the root; implementations validate them and
// refuse keys that escape the root ("..", absolute paths, empty components).
//
// All methods are safe for concurrent use.
type Store interface {
	// Get opens the object for reading. off and length select a byte range;
	// length < 0 means to the end.
	Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Stat returns the object's metadata or an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Put stores the object read from r, replacing any previous one. Readers
	// never see a partially written object.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) error
	// PutIfAbsent stores the object only if the key is free; otherwise it
	// returns an error wrapping ErrExists and leaves the existing object.
	PutIfAbsent(ctx context.Context, key string, r io.Reader, opts PutOptions) error
	// List returns the objects whose keys start with prefix, sorted by key.
	// startAfter, if not empty, skips keys <= startAfter.
	List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Presign returns a URL from which the object can be fetched with a plain
	// HTTP GET until expiry. Stores that cannot presign return ErrPresignUnsupported.
	Presign(ctx context.Context, key string, expiry time.Duration) (string, error)
	// URI is the store's root as a URI (file:///… or s3://bucket/prefix).
	URI() string
}

// ErrPresignUnsupported is returned by stores that cannot hand out URLs.
var ErrPresignUnsupported = errors.New("presigned URLs are not supported by this store")

// ReadAll fetches a whole object.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// ValidateKey reports whether key is a safe relative object key: non-empty,
// '/'-separated, without empty, "." or ".." components, without a leading
// '/', backslashes, NUL or other control characters.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("invalid object key %q: empty", key)
	}
	if len(key) > 1024 {
		return fmt.Errorf("invalid object key %.40q…: longer than 1024 bytes", key)
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) {
			c := key[i]
			if c < 0x20 || c == 0x7f || c == '\\' {
				return fmt.Errorf("invalid object key %q: control character or backslash at byte %d", key, i)
			}
			if c != '/' {
				continue
			}
		}
		switch seg := key[start:i]; seg {
		case "":
			return fmt.Errorf("invalid object key %q: empty path component at byte %d", key, start)
		case ".", "..":
			return fmt.Errorf("invalid object key %q: %q path component", key, seg)
		}
		start = i + 1
	}
	return nil
}
