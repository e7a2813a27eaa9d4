package objstore

import (
	"context"
	"fmt"
	"net/url"
)

// EnsureBucket creates the bucket of an s3://BUCKET[/prefix] URI if it
// does not exist (see S3.CreateBucket), with the store configured from the
// AWS_* environment as for Open; it returns the bucket's name and whether
// it was created.
func EnsureBucket(ctx context.Context, uri string) (bucket string, created bool, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", false, fmt.Errorf("%q: want s3://BUCKET", uri)
	}
	st, err := NewS3(ctx, u.Host, "")
	if err != nil {
		return "", false, err
	}
	created, err = st.CreateBucket(ctx)
	return u.Host, created, err
}
