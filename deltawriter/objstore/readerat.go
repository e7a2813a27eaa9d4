package objstore

import (
	"context"
	"fmt"
	"io"
)

// ReaderAt adapts an object to io.ReaderAt with ranged Gets, so a Parquet
// footer can be read without fetching the whole file.
type ReaderAt struct {
	ctx   context.Context
	store Store
	key   string
	size  int64
}

// NewReaderAt returns a ReaderAt over the object key of the given size.
func NewReaderAt(ctx context.Context, s Store, key string, size int64) *ReaderAt {
	return &ReaderAt{ctx: ctx, store: s, key: key, size: size}
}

// Size is the object's size.
func (r *ReaderAt) Size() int64 { return r.size }

// ReadAt reads len(p) bytes at off with one ranged Get.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > r.size {
		n = r.size - off
	}
	rc, err := r.store.Get(r.ctx, r.key, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	got, err := io.ReadFull(rc, p[:n])
	if err == nil && got < len(p) {
		err = io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("read %s at %d: object shorter than its recorded size %d", r.key, off, r.size)
	}
	return got, err
}
