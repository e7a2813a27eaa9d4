// Package testenv gives tests the real components that deploy/testenv/test.sh
// starts on loopback: a MinIO server (S3 with SSE-S3 and SSE-KMS), a
// PostgreSQL server (a database per test, see PostgresEnv.NewDatabase) and a
// Python virtual environment with deltalake and delta-sharing.
//
// The rule for integration tests: when the environment variables the script
// exports are missing, the test FAILS, telling the developer to run
// deploy/testenv/test.sh, so a full run never passes by silently skipping.
// Only under `go test -short` does it skip instead.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Environment variables exported by deploy/testenv/test.sh.
const (
	EnvS3Endpoint  = "SLUICE_TEST_S3_ENDPOINT"   // http://127.0.0.1:PORT
	EnvS3AccessKey = "SLUICE_TEST_S3_ACCESS_KEY" // MinIO root user, new each run
	EnvS3SecretKey = "SLUICE_TEST_S3_SECRET_KEY" // MinIO root password, new each run
	EnvS3Region    = "SLUICE_TEST_S3_REGION"     // us-east-1
	EnvKMSKeyID    = "SLUICE_TEST_KMS_KEY_ID"    // MinIO's static KMS key name
	EnvMinIOPID    = "SLUICE_TEST_MINIO_PID"     // to pause/kill MinIO in failure tests
	EnvPython      = "SLUICE_TEST_PYTHON"        // the venv's python
	EnvSparkPython = "SLUICE_TEST_SPARK_PYTHON"  // the Spark venv's python
	EnvSparkIvy    = "SLUICE_TEST_SPARK_IVY"     // Spark's Ivy cache for the delta-spark jars
)

// S3Env describes the test MinIO server.
type S3Env struct {
	Endpoint  string // base URL, http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	KMSKeyID  string // key id for SSE-KMS requests
	PID       int    // MinIO's process id, 0 if unknown
}

// MinIO returns the test MinIO server. It fails the test when the
// environment is not set up (skips it under -short).
func MinIO(t testing.TB) *S3Env {
	t.Helper()
	e := &S3Env{
		Endpoint:  need(t, EnvS3Endpoint),
		AccessKey: need(t, EnvS3AccessKey),
		SecretKey: need(t, EnvS3SecretKey),
		Region:    need(t, EnvS3Region),
		KMSKeyID:  need(t, EnvKMSKeyID),
	}
	if pid := os.Getenv(EnvMinIOPID); pid != "" {
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q is not a process id; run deploy/testenv/test.sh", EnvMinIOPID, pid)
		}
		e.PID = n
	}
	return e
}

// Python returns the path of the test venv's python interpreter. It fails
// the test when the environment is not set up (skips it under -short).
func Python(t testing.TB) string {
	t.Helper()
	p := need(t, EnvPython)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%q: %v; run deploy/testenv/test.sh", EnvPython, p, err)
	}
	return p
}

// need returns the value of an environment variable the test script sets.
func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if testing.Short() {
		t.Skipf("%s is not set and -short is on: skipping integration test (run deploy/testenv/test.sh for the full suite)", name)
	}
	t.Fatalf("%s is not set: integration tests need the real test environment; run deploy/testenv/test.sh [go test args] instead of plain go test (or pass -short to skip them)", name)
	return ""
}

// Client returns an S3 client for the test server, with path-style
// addressing and the run's credentials.
func (e *S3Env) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       e.Region,
		BaseEndpoint: aws.String(e.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, ""),
	})
}

// NewBucket creates a bucket with a unique name and returns the name. At
// cleanup it empties and removes the bucket (best effort: MinIO's data
// directory is deleted at the end of the run anyway).
func (e *S3Env) NewBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := strings.ToLower("sluice-test-" + hex.EncodeToString(b[:]))
	c := e.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create test bucket %s at %s: %v", name, e.Endpoint, err)
	}
	t.Cleanup(func() { removeBucket(t, c, name) })
	return name
}

// removeBucket deletes every object and upload in the bucket, then the
// bucket, logging (not failing on) errors.
func removeBucket(t testing.TB, c *s3.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &name})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("cleanup: list bucket %s: %v", name, err)
			return
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &name, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			t.Logf("cleanup: empty bucket %s: %v", name, err)
			return
		}
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &name})
	if err == nil {
		for _, u := range ups.Uploads {
			c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &name, Key: u.Key, UploadId: u.UploadId})
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
		t.Logf("cleanup: delete bucket %s: %v", name, err)
	}
}
