package objstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/deploy/testenv"
)

// newS3 returns a store on the test MinIO, configured by options only.
func newS3(t *testing.T, env *testenv.S3Env, bucket, prefix string, opts ...objstore.S3Option) *objstore.S3 {
	t.Helper()
	base := []objstore.S3Option{
		objstore.WithEndpoint(env.Endpoint),
		objstore.WithRegion(env.Region),
		objstore.WithPathStyle(true),
		objstore.WithStaticCredentials(env.AccessKey, env.SecretKey, ""),
		objstore.WithPartSize(5 << 20),
	}
	s, err := objstore.NewS3(context.Background(), bucket, prefix, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return s
}

func uniquePrefix(name string) string {
	var b [4]byte
	rand.Read(b[:])
	return strings.NewReplacer("/", "-", " ", "-").Replace(name) + "-" + hex.EncodeToString(b[:])
}

func TestS3Conformance(t *testing.T) {
	env := testenv.MinIO(t)
	bucket := env.NewBucket(t)
	var n atomic.Int32
	runConformance(t, conformance{
		newStore: func(t *testing.T) objstore.Store {
			// Each subtest gets its own prefix, nested to check prefix joining.
			return newS3(t, env, bucket, "tables/"+uniquePrefix(t.Name())+"/"+string(rune('a'+n.Add(1)%26)))
		},
		presign: true,
	})
}

// TestS3ConformanceBucketRoot runs the contract with an empty prefix.
func TestS3ConformanceBucketRoot(t *testing.T) {
	env := testenv.MinIO(t)
	runConformance(t, conformance{
		newStore: func(t *testing.T) objstore.Store {
			return newS3(t, env, env.NewBucket(t), "")
		},
		presign: true,
	})
}

// TestS3ServerSideEncryption checks that every way the store writes an
// object (single PutObject, multipart upload, conditional put of both sizes)
// leaves it server-side encrypted, for SSE-S3 (also the default) and SSE-KMS.
func TestS3ServerSideEncryption(t *testing.T) {
	env := testenv.MinIO(t)
	bucket := env.NewBucket(t)
	client := env.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Control: an object written without SSE headers must report none, or
	// the checks below would prove nothing (e.g. if the server encrypted
	// everything by itself).
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("control/plain"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("control/plain")})
	if err != nil {
		t.Fatal(err)
	}
	if head.ServerSideEncryption != "" {
		t.Fatalf("control object written without SSE reports %q: the server encrypts by itself, so this test cannot tell", head.ServerSideEncryption)
	}

	for _, tc := range []struct {
		name string
		opts []objstore.S3Option
		want types.ServerSideEncryption
		kms  bool
	}{
		{"Default", nil, types.ServerSideEncryptionAes256, false},
		{"SSE-S3", []objstore.S3Option{objstore.WithSSE(objstore.SSEModeS3, "")}, types.ServerSideEncryptionAes256, false},
		{"SSE-KMS", []objstore.S3Option{objstore.WithSSE(objstore.SSEModeKMS, env.KMSKeyID)}, types.ServerSideEncryptionAwsKms, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := uniquePrefix(tc.name)
			s := newS3(t, env, bucket, prefix, tc.opts...)
			const large = 11<<20 + 7 // three 5 MiB parts
			writes := []struct {
				key       string
				multipart bool
				write     func(key string) error
			}{
				{"put-small", false, func(k string) error {
					return s.Put(ctx, k, strings.NewReader("small"), objstore.PutOptions{})
				}},
				{"put-large", true, func(k string) error {
					return s.Put(ctx, k, pattern(2, large), objstore.PutOptions{})
				}},
				{"put-if-absent-small", false, func(k string) error {
					return s.PutIfAbsent(ctx, k, strings.NewReader("commit"), objstore.PutOptions{})
				}},
				{"put-if-absent-large", true, func(k string) error {
					return s.PutIfAbsent(ctx, k, pattern(3, large), objstore.PutOptions{})
				}},
			}
			for _, w := range writes {
				if err := w.write(w.key); err != nil {
					t.Fatalf("%s: %v", w.key, err)
				}
				in := &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(s.ObjectKey(w.key))}
				if w.multipart {
					in.PartNumber = aws.Int32(1)
				}
				head, err := client.HeadObject(ctx, in)
				if err != nil {
					t.Fatalf("HeadObject %s: %v", w.key, err)
				}
				if head.ServerSideEncryption != tc.want {
					t.Errorf("%s: ServerSideEncryption = %q, want %q", w.key, head.ServerSideEncryption, tc.want)
				}
				if tc.kms && !strings.Contains(aws.ToString(head.SSEKMSKeyId), env.KMSKeyID) {
					t.Errorf("%s: SSEKMSKeyId = %q, want key %q", w.key, aws.ToString(head.SSEKMSKeyId), env.KMSKeyID)
				}
				if w.multipart && aws.ToInt32(head.PartsCount) < 2 {
					t.Errorf("%s: PartsCount = %d, want a multipart upload", w.key, aws.ToInt32(head.PartsCount))
				}
			}
			// The encrypted large objects read back intact through the store.
			for key, seed := range map[string]byte{"put-large": 2, "put-if-absent-large": 3} {
				rc, err := s.Get(ctx, key, 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				if hashOf(t, rc) != hashOf(t, pattern(seed, large)) {
					t.Errorf("%s reads back different bytes", key)
				}
				rc.Close()
			}
			// A conditional multipart upload onto an existing key is refused.
			if err := s.PutIfAbsent(ctx, "put-if-absent-large", pattern(4, large), objstore.PutOptions{}); !errors.Is(err, objstore.ErrExists) {
				t.Errorf("large PutIfAbsent on an existing key = %v, want ErrExists", err)
			}
		})
	}
}

// TestS3PresignExpiry checks that a presigned URL works with plain net/http
// and stops working once expired.
func TestS3PresignExpiry(t *testing.T) {
	env := testenv.MinIO(t)
	s := newS3(t, env, env.NewBucket(t), "p")
	ctx := context.Background()
	put(t, ctx, s, "f.parquet", "short-lived")
	u, err := s.Presign(ctx, "f.parquet", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, env.SecretKey) {
		t.Fatal("presigned URL contains the secret key")
	}
	if status, body := httpGet(t, u); status != http.StatusOK || body != "short-lived" {
		t.Fatalf("GET before expiry = %d %q", status, body)
	}
	time.Sleep(3 * time.Second)
	if status, _ := httpGet(t, u); status != http.StatusForbidden {
		t.Fatalf("GET after expiry = %d, want 403", status)
	}
	// Default expiry applies to 0.
	s2 := newS3(t, env, s.Bucket(), "p", objstore.WithPresignExpiry(time.Hour))
	u2, err := s2.Presign(ctx, "f.parquet", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u2, "X-Amz-Expires=3600") {
		t.Fatalf("presigned URL %s does not carry the 1h default expiry", u2)
	}
}

func TestS3MissingBucket(t *testing.T) {
	env := testenv.MinIO(t)
	s := newS3(t, env, "sluice-no-such-bucket", "x")
	err := s.Put(context.Background(), "k", strings.NewReader("v"), objstore.PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "sluice-no-such-bucket") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Put into a missing bucket = %v, want an error naming the bucket", err)
	}
}

func TestS3URI(t *testing.T) {
	// NewS3 makes no request, so no server is needed.
	env := &testenv.S3Env{Endpoint: "http://127.0.0.1:1", AccessKey: "k", SecretKey: "s", Region: "us-east-1"}
	for prefix, want := range map[string]string{
		"":          "s3://b",
		"a/b":       "s3://b/a/b",
		"/a/b/":     "s3://b/a/b",
		"tables/t1": "s3://b/tables/t1",
	} {
		if got := newS3(t, env, "b", prefix).URI(); got != want {
			t.Errorf("URI() with prefix %q = %q, want %q", prefix, got, want)
		}
	}
	if _, err := objstore.NewS3(context.Background(), "b", "a/../b"); err == nil {
		t.Error("NewS3 accepted a prefix with ..")
	}
	if _, err := objstore.NewS3(context.Background(), "", "a"); err == nil {
		t.Error("NewS3 accepted an empty bucket")
	}
	if _, err := objstore.NewS3(context.Background(), "b", "", objstore.WithPartSize(1<<20)); err == nil {
		t.Error("NewS3 accepted a part size under 5 MiB")
	}
	if _, err := objstore.NewS3(context.Background(), "b", "", objstore.WithSSE("none", "")); err == nil {
		t.Error("NewS3 accepted SSE mode none")
	}
}

// TestS3PresignEndpoint: with WithPresignEndpoint the presigned URL names
// the public endpoint (localhost for a recipient on the host) while the
// store keeps using its own (minio inside a container network); signing
// needs no request.
func TestS3PresignEndpoint(t *testing.T) {
	env := &testenv.S3Env{Endpoint: "http://minio:9000", AccessKey: "k", SecretKey: "s", Region: "us-east-1"}
	for _, tc := range []struct {
		name     string
		opts     []objstore.S3Option
		wantHost string
	}{
		{"default: the store's endpoint", nil, "minio:9000"},
		{"public endpoint", []objstore.S3Option{objstore.WithPresignEndpoint("http://localhost:9100")}, "localhost:9100"},
		{"trailing slash", []objstore.S3Option{objstore.WithPresignEndpoint("https://s3.example.com/")}, "s3.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newS3(t, env, "warehouse", "tables", tc.opts...)
			raw, err := s.Presign(context.Background(), "t/part-0.parquet", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if u.Host != tc.wantHost || u.Path != "/warehouse/tables/t/part-0.parquet" {
				t.Fatalf("presigned URL %s: host %q path %q, want host %q", raw, u.Host, u.Path, tc.wantHost)
			}
		})
	}
	if _, err := objstore.NewS3(context.Background(), "b", "", objstore.WithPresignEndpoint("localhost:9000")); err == nil {
		t.Fatal("a presign endpoint without scheme was accepted")
	}
}

// TestS3PresignEndpointSigns: a URL signed for another name of the same
// server (127.0.0.1 vs localhost) is valid there: the signature covers the
// public host, not the one the store talks to.
func TestS3PresignEndpointSigns(t *testing.T) {
	env := testenv.MinIO(t)
	public := strings.Replace(env.Endpoint, "127.0.0.1", "localhost", 1)
	if public == env.Endpoint {
		t.Fatalf("endpoint %s is not on 127.0.0.1", env.Endpoint)
	}
	s := newS3(t, env, env.NewBucket(t), "p", objstore.WithPresignEndpoint(public))
	ctx := context.Background()
	put(t, ctx, s, "f.parquet", "for the recipient")
	u, err := s.Presign(ctx, "f.parquet", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, public+"/") {
		t.Fatalf("presigned URL %s is not on %s", u, public)
	}
	if status, body := httpGet(t, u); status != http.StatusOK || body != "for the recipient" {
		t.Fatalf("GET %s = %d %q", u, status, body)
	}
}

// TestS3CreateBucket: a missing bucket is created, an existing one left.
func TestS3CreateBucket(t *testing.T) {
	env := testenv.MinIO(t)
	name := fmt.Sprintf("sluice-create-%d", time.Now().UnixNano())
	s := newS3(t, env, name, "")
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		created, err := s.CreateBucket(ctx)
		if err != nil || created != want {
			t.Fatalf("CreateBucket #%d = %v, %v; want %v", i+1, created, err, want)
		}
	}
	put(t, ctx, s, "k", "v")
	c := env.Client()
	t.Cleanup(func() {
		c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &name, Key: aws.String("k")})
		c.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: &name})
	})
}
