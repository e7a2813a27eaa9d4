package objstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	abs := filepath.Join(dir, "abs")
	s, err := objstore.Open(ctx, abs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(abs); s.URI() != want {
		t.Errorf("Open(%q).URI() = %q, want %q", abs, s.URI(), want)
	}
	s, err = objstore.Open(ctx, "file://"+filepath.ToSlash(abs))
	if err != nil || s.URI() != "file://"+filepath.ToSlash(abs) {
		t.Fatalf("Open(file URI) = %v, %v", s, err)
	}

	t.Chdir(dir)
	s, err = objstore.Open(ctx, "rel/tbl")
	if err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(filepath.Join(dir, "rel", "tbl")); s.URI() != want {
		t.Errorf("Open(relative).URI() = %q, want %q", s.URI(), want)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for uri, wantMsg := range map[string]string{
		"":                      "empty URI",
		"gs://bucket/x":         `unsupported scheme "gs"`,
		"s3:///prefix":          "missing bucket",
		"s3://":                 "missing bucket",
		"s3://user:pw@b/x":      "no user info",
		"s3://b/x?region=eu":    "no user info, query",
		"file://host/x":         "not host",
		"file://":               "absolute path",
		"s3://b/a/../b":         "..",
		"file:///tmp/x?y":       "no query",
		"http://example.com/x/": "unsupported scheme",
	} {
		_, err := objstore.Open(ctx, uri)
		if err == nil {
			t.Errorf("Open(%q) succeeded", uri)
			continue
		}
		if !strings.Contains(err.Error(), wantMsg) || (uri != "" && !strings.Contains(err.Error(), uri)) {
			t.Errorf("Open(%q) = %q, want it to name the URI and say %q", uri, err, wantMsg)
		}
	}
}

func TestOpenS3SSEEnvErrors(t *testing.T) {
	ctx := context.Background()
	t.Setenv(objstore.EnvS3SSE, "aws:kmz")
	if _, err := objstore.Open(ctx, "s3://b/x"); err == nil || !strings.Contains(err.Error(), objstore.EnvS3SSE) {
		t.Errorf("bad %s: %v", objstore.EnvS3SSE, err)
	}
	t.Setenv(objstore.EnvS3SSE, "AES256")
	t.Setenv(objstore.EnvS3KMSKeyID, "k")
	if _, err := objstore.Open(ctx, "s3://b/x"); err == nil || !strings.Contains(err.Error(), objstore.EnvS3KMSKeyID) {
		t.Errorf("KMS key with SSE-S3: %v", err)
	}
	t.Setenv(objstore.EnvS3SSE, "")
	t.Setenv(objstore.EnvS3KMSKeyID, "")
	t.Setenv(objstore.EnvS3ForcePathStyle, "yes please")
	if _, err := objstore.Open(ctx, "s3://b/x"); err == nil || !strings.Contains(err.Error(), objstore.EnvS3ForcePathStyle) {
		t.Errorf("bad %s: %v", objstore.EnvS3ForcePathStyle, err)
	}
}

// TestOpenS3FromEnv opens an s3:// URI configured only through the
// environment, as a deployment would: the SDK's own AWS_ENDPOINT_URL(_S3),
// credentials and region variables, plus AWS_S3_FORCE_PATH_STYLE and the
// SLUICE_S3_* encryption settings.
func TestOpenS3FromEnv(t *testing.T) {
	env, bucket := minioEnv(t)
	t.Setenv(objstore.EnvS3SSE, "aws:kms")
	t.Setenv(objstore.EnvS3KMSKeyID, env.KMSKeyID)
	client := env.Client()

	for _, endpointVar := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		t.Run(endpointVar, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL", "")
			t.Setenv("AWS_ENDPOINT_URL_S3", "")
			if endpointVar == "AWS_ENDPOINT_URL_S3" {
				// The service-specific variable wins over the generic one.
				t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
			}
			t.Setenv(endpointVar, env.Endpoint)
			ctx := context.Background()
			uri := "s3://" + bucket + "/env/" + endpointVar
			s, err := objstore.Open(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			if s.URI() != uri {
				t.Errorf("URI() = %q, want %q", s.URI(), uri)
			}
			put(t, ctx, s, "k", "v")
			if got := get(t, ctx, s, "k"); got != "v" {
				t.Fatalf("read back %q", got)
			}
			head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("env/" + endpointVar + "/k")})
			if err != nil {
				t.Fatal(err)
			}
			if head.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
				t.Errorf("ServerSideEncryption = %q, want aws:kms from %s", head.ServerSideEncryption, objstore.EnvS3SSE)
			}
		})
	}
}

// minioEnv points the AWS_* environment (only) at the test MinIO, without
// an endpoint, and returns the server and a fresh bucket.
func minioEnv(t *testing.T) (*testenv.S3Env, string) {
	t.Helper()
	env := testenv.MinIO(t)
	bucket := env.NewBucket(t)
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", env.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.SecretKey)
	t.Setenv("AWS_REGION", env.Region)
	t.Setenv(objstore.EnvS3ForcePathStyle, "true")
	return env, bucket
}

// isolateAWSEnv keeps the developer's own AWS configuration out of a test.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestOpenS3AssumeRole checks that AWS_ROLE_ARN without a web identity
// token makes the store work on STS AssumeRole credentials (MinIO implements
// STS on its S3 endpoint).
func TestOpenS3AssumeRole(t *testing.T) {
	env, bucket := minioEnv(t)
	t.Setenv("AWS_ENDPOINT_URL", env.Endpoint)
	t.Setenv(objstore.EnvRoleARN, "arn:aws:iam::123456789012:role/sluice-test")
	ctx := context.Background()

	// With STS unreachable the store fails, so STS is really consulted.
	t.Setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1")
	s, err := objstore.Open(ctx, "s3://"+bucket+"/assumed", objstore.WithS3Options(objstore.WithMaxAttempts(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", strings.NewReader("v"), objstore.PutOptions{}); err == nil || !strings.Contains(err.Error(), "AssumeRole") {
		t.Fatalf("Put with STS unreachable = %v, want an AssumeRole error", err)
	}

	t.Setenv("AWS_ENDPOINT_URL_STS", "")
	s, err = objstore.Open(ctx, "s3://"+bucket+"/assumed")
	if err != nil {
		t.Fatal(err)
	}
	put(t, ctx, s, "k", "v")
	if got := get(t, ctx, s, "k"); got != "v" {
		t.Fatalf("read back %q", got)
	}
}
