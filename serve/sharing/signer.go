package sharing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// DefaultURLLifetime is how long a file URL handed to a recipient stays
// valid by default (see WithURLLifetime).
const DefaultURLLifetime = 15 * time.Minute

// FileURLSigner hands out URLs for the data files of a shared table.
type FileURLSigner interface {
	// SignURL returns a URL from which the object key of store st can be
	// fetched with a plain HTTP GET (and Range requests) until the expiry
	// it returns, at most ttl from now.
	SignURL(ctx context.Context, st objstore.Store, key string, ttl time.Duration) (url string, expires time.Time, err error)
}

// PresignSigner signs with the store's own presigned URLs (S3 and
// S3-compatible stores). Stores that cannot presign (local disk) fail with
// an error naming the fix.
type PresignSigner struct {
	// Now is the clock the expiry is computed from (time.Now if nil).
	Now func() time.Time
}

// SignURL implements FileURLSigner.
func (p PresignSigner) SignURL(ctx context.Context, st objstore.Store, key string, ttl time.Duration) (string, time.Time, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	start := now()
	u, err := st.Presign(ctx, key, ttl)
	if errors.Is(err, objstore.ErrPresignUnsupported) {
		return "", time.Time{}, fmt.Errorf("sign %s in %s: %w: tables on local disk need a file-serving signer (sharing.WithSigner)", key, st.URI(), err)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign %s in %s: %w", key, st.URI(), err)
	}
	return u, start.Add(ttl), nil
}
