package deltawriter

import (
	"context"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// Open opens the store at uri (file://, a path, or s3://, as objstore.Open
// takes it) and returns the Delta table in it.
func Open(ctx context.Context, uri string, opts ...Option) (*Table, error) {
	st, err := objstore.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	return New(st, opts...), nil
}
