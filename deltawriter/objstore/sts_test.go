package objstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
	"github.com/sluice-io/sluice/internal/golden"
)

// TestSessionPolicyGolden: the policy of a table and its dead-letter table
// (testdata/session_policy.json), and the URIs it refuses.
func TestSessionPolicyGolden(t *testing.T) {
	got, err := objstore.SessionPolicy("aws", "s3://lake/wh/db/s/orders", "s3://lake/wh/db/s/orders_dead_letters/", "s3://other/t")
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(got), "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	golden.Check(t, filepath.Join("testdata", "session_policy.json"), pretty.String())
	for _, bad := range []string{"", "file:///tmp/t", "s3:///t", "s3://b/a/*", "s3://b/a?x=1", "s3://b/${aws:username}", "s3://b/a/../c", "s3://u:p@b/t"} {
		if _, err := objstore.SessionPolicy("aws", bad); err == nil {
			t.Errorf("SessionPolicy(%q): no error", bad)
		}
	}
}

// TestScopedCredentialsMinIO: credentials minted for table A (and its
// dead-letter table) can do everything the store does under A's prefix
// (the whole store contract runs on them) and get AccessDenied for table
// B's objects, for a sibling prefix that starts like A's, and for listing
// outside A. MinIO lets its root user call AssumeRole; the session policy
// then decides alone (no IAM user is needed).
func TestScopedCredentialsMinIO(t *testing.T) {
	env := testenv.MinIO(t)
	bucket := env.NewBucket(t)
	ctx := context.Background()
	root := []objstore.S3Option{objstore.WithEndpoint(env.Endpoint), objstore.WithRegion(env.Region),
		objstore.WithStaticCredentials(env.AccessKey, env.SecretKey, "")}
	minter, err := objstore.NewScopedCredentials(ctx, "arn:aws:iam::000000000000:role/sluice-worker", time.Hour, root...)
	if err != nil {
		t.Fatal(err)
	}
	tableA := "s3://" + bucket + "/wh/db/s/a"
	cr, err := minter.Mint(ctx, "sluice-test", []string{tableA, tableA + "_dead_letters"})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if cr.AccessKeyID == env.AccessKey || cr.SessionToken == "" || time.Until(cr.Expires) < 50*time.Minute || time.Until(cr.Expires) > 61*time.Minute {
		t.Fatalf("minted credentials: key %q, token %d bytes, expire in %v; want new session credentials for 1h", cr.AccessKeyID, len(cr.SessionToken), time.Until(cr.Expires))
	}
	scoped := objstore.WithStaticCredentials(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken)

	// Table B, written by the server (root), exists next to A.
	rootClient := env.Client()
	put := func(c *s3.Client, key string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: strings.NewReader("x")})
		return err
	}
	for _, k := range []string{"wh/db/s/b/_delta_log/00000000000000000000.json", "wh/db/s/a2/secret"} {
		if err := put(rootClient, k); err != nil {
			t.Fatal(err)
		}
	}

	// Everything the store does, under A and under its dead-letter table.
	for _, uri := range []string{tableA, tableA + "_dead_letters"} {
		t.Run("contract "+strings.TrimPrefix(uri, "s3://"+bucket+"/"), func(t *testing.T) {
			var n int
			runConformance(t, conformance{
				newStore: func(t *testing.T) objstore.Store {
					n++
					return newS3(t, env, bucket, strings.TrimPrefix(uri, "s3://"+bucket+"/")+"/"+uniquePrefix(t.Name()), scoped)
				},
				presign: true,
			})
		})
	}

	// Plain S3 calls with the session credentials.
	c := s3.New(s3.Options{Region: env.Region, BaseEndpoint: aws.String(env.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken)})
	if err := put(c, "wh/db/s/a/part-0.parquet"); err != nil {
		t.Fatalf("write under A: %v", err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("wh/db/s/a/part-0.parquet")}); err != nil {
		t.Fatalf("read under A: %v", err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("wh/db/s/a/")}); err != nil {
		t.Fatalf("list A: %v", err)
	}
	denied := []struct {
		what string
		call func() error
	}{
		{"write B", func() error { return put(c, "wh/db/s/b/_delta_log/00000000000000000001.json") }},
		{"read B", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("wh/db/s/b/_delta_log/00000000000000000000.json")})
			return err
		}},
		{"delete B", func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("wh/db/s/b/_delta_log/00000000000000000000.json")})
			return err
		}},
		{"read a sibling prefix starting like A", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("wh/db/s/a2/secret")})
			return err
		}},
		{"list B", func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("wh/db/s/b/")})
			return err
		}},
		{"list the warehouse", func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("wh/")})
			return err
		}},
		{"list the bucket", func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
			return err
		}},
		{"list buckets", func() error {
			_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}},
	}
	for _, d := range denied {
		err := d.call()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Errorf("%s with A's credentials: %v, want AccessDenied", d.what, err)
		}
	}
	// B is untouched.
	if _, err := rootClient.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("wh/db/s/b/_delta_log/00000000000000000001.json")}); err == nil {
		t.Error("A's credentials wrote into B")
	}
}

// TestScopedCredentialsErrors: unusable settings are refused up front, and
// a refused AssumeRole names the role.
func TestScopedCredentialsErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		role string
		ttl  time.Duration
		want string
	}{
		{"sluice-worker", time.Hour, "want a role ARN"},
		{"arn:aws:iam::1:role/r", time.Minute, "want 15m0s to 12h0m0s"},
		{"arn:aws:iam::1:role/r", 13 * time.Hour, "want 15m0s to 12h0m0s"},
	} {
		if _, err := objstore.NewScopedCredentials(ctx, tc.role, tc.ttl); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewScopedCredentials(%q, %v) = %v, want %q", tc.role, tc.ttl, err, tc.want)
		}
	}
	env := testenv.MinIO(t)
	m, err := objstore.NewScopedCredentials(ctx, "arn:aws:iam::000000000000:role/sluice-worker", time.Hour,
		objstore.WithEndpoint(env.Endpoint), objstore.WithRegion(env.Region), objstore.WithStaticCredentials(env.AccessKey, "wrong-secret", ""),
		objstore.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mint(ctx, "sluice-test", []string{"s3://b/t"}); err == nil || !strings.Contains(err.Error(), "assume worker role arn:aws:iam::000000000000:role/sluice-worker") {
		t.Errorf("Mint with a wrong secret: %v", err)
	}
}
