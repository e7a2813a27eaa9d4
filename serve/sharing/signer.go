package sharing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/serve/fileurl"
)

// DefaultURLLifetime is how long a file URL handed to a recipient stays
// valid by default (see WithURLLifetime).
const DefaultURLLifetime = 15 * time.Minute

// File is a data file of a shared table, to be handed out as a URL.
type File struct {
	// TableID is the table's catalog ID (catalog.ShareTable.TableID).
	TableID string
	// Store is the table's object store, rooted at its location.
	Store objstore.Store
	// Key is the file's object key in Store.
	Key string
}

// FileURLSigner hands out URLs for the data files of a shared table.
type FileURLSigner interface {
	// SignURL returns a URL from which the file can be fetched with a plain
	// HTTP GET (and Range requests) until the expiry it returns, at most
	// ttl from now.
	SignURL(ctx context.Context, f File, ttl time.Duration) (url string, expires time.Time, err error)
}

// StoreSigner is the default FileURLSigner: the store's own presigned URLs
// (S3 and S3-compatible stores), and for stores that cannot presign (local
// disk) URLs to Sluice's file endpoint signed by Local. No storage
// credential is ever part of a URL.
type StoreSigner struct {
	// Local signs URLs of local-disk tables, by table ID; nil: local tables
	// cannot be shared (their queries fail with an error naming the fix).
	Local *fileurl.Signer
	// Now is the clock the expiry is computed from (time.Now if nil).
	Now func() time.Time
}

// SignURL implements FileURLSigner.
func (p StoreSigner) SignURL(ctx context.Context, f File, ttl time.Duration) (string, time.Time, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	start := now()
	u, err := f.Store.Presign(ctx, f.Key, ttl)
	if errors.Is(err, objstore.ErrPresignUnsupported) {
		if p.Local == nil {
			return "", time.Time{}, fmt.Errorf("sign %s in %s: %w: tables on local disk are served through the file endpoint, which this server has not enabled", f.Key, f.Store.URI(), err)
		}
		u, exp, err := p.Local.Sign(f.TableID, f.Key, ttl)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("sign %s of table %s: %w", f.Key, f.TableID, err)
		}
		return u, exp, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign %s in %s: %w", f.Key, f.Store.URI(), err)
	}
	return u, start.Add(ttl), nil
}
