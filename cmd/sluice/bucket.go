package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

const bucketUsage = `Create the bucket of an s3:// URI if it does not exist; an existing bucket
is left as it is (so it can run at every start of a stack).

Usage: sluice bucket s3://BUCKET[/prefix]

The store is configured as for 'sluice serve': the AWS_* variables
(credentials, AWS_ENDPOINT_URL_S3, AWS_S3_FORCE_PATH_STYLE, AWS_REGION).

Example:
  AWS_ENDPOINT_URL_S3=http://minio:9000 AWS_S3_FORCE_PATH_STYLE=true sluice bucket s3://warehouse
`

func runBucket(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bucket", bucketUsage, stderr)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "sluice bucket: give one s3://BUCKET URI (see --help)")
		return errUsage
	}
	bucket, created, err := objstore.EnsureBucket(ctx, pos[0])
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "bucket %s created\n", bucket)
	} else {
		fmt.Fprintf(stdout, "bucket %s exists\n", bucket)
	}
	return nil
}
