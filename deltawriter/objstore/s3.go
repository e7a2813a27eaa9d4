package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// SSEMode selects the server-side encryption S3 applies to every object the
// store writes. There is deliberately no "none": objects are always encrypted.
type SSEMode string

const (
	// SSEModeS3 is SSE-S3: keys managed by S3 (header value "AES256").
	SSEModeS3 SSEMode = "AES256"
	// SSEModeKMS is SSE-KMS: keys managed by a KMS (header value "aws:kms").
	// Pair it with a key id, or S3 uses the account's default KMS key.
	SSEModeKMS SSEMode = "aws:kms"
)

// Defaults of the S3 store.
const (
	// DefaultPresignExpiry is how long presigned URLs stay valid when the
	// caller passes no expiry.
	DefaultPresignExpiry = 15 * time.Minute
	// MaxPresignExpiry is the longest validity SigV4 allows.
	MaxPresignExpiry = 7 * 24 * time.Hour
	// DefaultS3MaxAttempts is how often a request is tried (with exponential
	// backoff and jitter from the SDK's standard retryer) unless AWS_MAX_ATTEMPTS
	// or the shared config say otherwise.
	DefaultS3MaxAttempts = 5
	// EnvS3ForcePathStyle, when "true", makes the store address buckets as
	// https://host/bucket/key (needed by MinIO and most S3-compatible servers).
	EnvS3ForcePathStyle = "AWS_S3_FORCE_PATH_STYLE"
	// EnvRoleARN names a role to assume. With AWS_WEB_IDENTITY_TOKEN_FILE the
	// SDK assumes it by web identity; without, NewS3 assumes it with STS
	// AssumeRole using the other credentials of the default chain.
	EnvRoleARN = "AWS_ROLE_ARN"
)

// writeIDMeta is the user-metadata key carrying a random id per PutIfAbsent
// call, so a retried conditional write can recognise its own earlier success.
const writeIDMeta = "sluice-write-id"

// S3 is a Store kept under a key prefix of an S3 bucket. Every object it
// writes is server-side encrypted (SSE-S3 unless configured for SSE-KMS).
// Bodies are uploaded in parts of bounded size, so large or unknown-length
// bodies are never held whole in memory.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ends in '/'
	sse      SSEMode
	kmsKeyID string
	expiry   time.Duration
}

var _ Store = (*S3)(nil)

// s3Config collects the S3Options.
type s3Config struct {
	endpoint    string
	publicURL   string
	region      string
	pathStyle   *bool
	creds       aws.CredentialsProvider
	roleARN     string
	awsConfig   *aws.Config
	sse         SSEMode
	kmsKeyID    string
	expiry      time.Duration
	partSize    int64
	maxAttempts int
}

// S3Option configures NewS3.
type S3Option func(*s3Config) error

// WithEndpoint sets the S3 endpoint URL, e.g. "http://127.0.0.1:9000" for
// MinIO. Without it the SDK's resolution applies, including the
// AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL environment variables.
func WithEndpoint(url string) S3Option {
	return func(c *s3Config) error {
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return fmt.Errorf("S3 endpoint %q: must start with http:// or https://", url)
		}
		c.endpoint = url
		return nil
	}
}

// WithPresignEndpoint sets the endpoint URL presigned URLs are signed for,
// when recipients reach the store at another address than this process
// does (inside a container network the store is http://minio:9000, on the
// host http://localhost:9000). Only Presign uses it; every other request
// goes to the WithEndpoint (or SDK-resolved) endpoint.
func WithPresignEndpoint(url string) S3Option {
	return func(c *s3Config) error {
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return fmt.Errorf("S3 presign endpoint %q: must start with http:// or https://", url)
		}
		c.publicURL = strings.TrimRight(url, "/")
		return nil
	}
}

// WithRegion sets the AWS region, overriding AWS_REGION and the shared config.
func WithRegion(region string) S3Option {
	return func(c *s3Config) error { c.region = region; return nil }
}

// WithPathStyle selects path-style addressing (host/bucket/key) instead of
// virtual-hosted style (bucket.host/key). It overrides AWS_S3_FORCE_PATH_STYLE.
func WithPathStyle(on bool) S3Option {
	return func(c *s3Config) error { c.pathStyle = &on; return nil }
}

// WithStaticCredentials uses fixed credentials instead of the default chain.
// sessionToken may be empty.
func WithStaticCredentials(accessKeyID, secretAccessKey, sessionToken string) S3Option {
	return func(c *s3Config) error {
		if accessKeyID == "" || secretAccessKey == "" {
			return errors.New("S3 static credentials: access key id and secret access key must both be set")
		}
		c.creds = credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, sessionToken)
		return nil
	}
}

// WithAssumeRole assumes roleARN with STS AssumeRole, signing that call
// with the otherwise configured credentials. The STS endpoint comes from the
// configuration (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or AWS's own).
func WithAssumeRole(roleARN string) S3Option {
	return func(c *s3Config) error {
		if roleARN == "" {
			return errors.New("S3 assume role: empty role ARN")
		}
		c.roleARN = roleARN
		return nil
	}
}

// WithAWSConfig uses cfg instead of loading the default configuration
// (environment, shared files, web identity, AssumeRole). Other options still
// apply on top of it.
func WithAWSConfig(cfg aws.Config) S3Option {
	return func(c *s3Config) error { c.awsConfig = &cfg; return nil }
}

// WithSSE selects the server-side encryption of written objects. kmsKeyID is
// used with SSEModeKMS only and may be empty (S3's default KMS key).
func WithSSE(mode SSEMode, kmsKeyID string) S3Option {
	return func(c *s3Config) error {
		switch mode {
		case SSEModeS3:
			if kmsKeyID != "" {
				return fmt.Errorf("S3 encryption: a KMS key id (%q) needs mode %q, not %q", kmsKeyID, SSEModeKMS, mode)
			}
		case SSEModeKMS:
		default:
			return fmt.Errorf("S3 encryption mode %q: use %q (SSE-S3) or %q (SSE-KMS)", mode, SSEModeS3, SSEModeKMS)
		}
		c.sse, c.kmsKeyID = mode, kmsKeyID
		return nil
	}
}

// WithPresignExpiry sets the validity of presigned URLs requested with a
// zero expiry (default DefaultPresignExpiry).
func WithPresignExpiry(d time.Duration) S3Option {
	return func(c *s3Config) error {
		if d <= 0 || d > MaxPresignExpiry {
			return fmt.Errorf("S3 presign expiry %v: must be in (0, %v]", d, MaxPresignExpiry)
		}
		c.expiry = d
		return nil
	}
}

// WithPartSize sets the multipart upload part size (at least 5 MiB, the S3
// minimum; default 8 MiB). An upload buffers about five parts at most.
func WithPartSize(n int64) S3Option {
	return func(c *s3Config) error {
		if n < manager.MinUploadPartSize {
			return fmt.Errorf("S3 part size %d: must be at least %d bytes", n, manager.MinUploadPartSize)
		}
		c.partSize = n
		return nil
	}
}

// WithMaxAttempts sets how often a request is tried before failing
// (default DefaultS3MaxAttempts, or AWS_MAX_ATTEMPTS when set).
func WithMaxAttempts(n int) S3Option {
	return func(c *s3Config) error {
		if n < 1 {
			return fmt.Errorf("S3 max attempts %d: must be at least 1", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// NewS3 returns a store rooted at prefix in bucket. Without options it uses
// the SDK's default configuration chain: AWS_* environment variables, the
// shared config and credentials files (including role_arn profiles), web
// identity tokens, AWS_ROLE_ARN (see EnvRoleARN), and AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for the
// endpoint; AWS_S3_FORCE_PATH_STYLE=true selects path-style addressing.
// Objects are encrypted with SSE-S3 unless WithSSE says otherwise.
//
// NewS3 makes no request, so a missing bucket or bad credentials show up on
// first use.
func NewS3(ctx context.Context, bucket, prefix string, opts ...S3Option) (*S3, error) {
	uri := "s3://" + bucket + "/" + prefix
	if bucket == "" {
		return nil, fmt.Errorf("S3 store %s: missing bucket name", uri)
	}
	if strings.ContainsAny(bucket, "/\\") {
		return nil, fmt.Errorf("S3 store %s: invalid bucket name %q", uri, bucket)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("S3 store %s: prefix: %w", uri, err)
		}
		prefix += "/"
	}
	c := s3Config{sse: SSEModeS3, expiry: DefaultPresignExpiry, partSize: 8 << 20}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, fmt.Errorf("S3 store %s: %w", uri, err)
		}
	}
	if c.pathStyle == nil {
		if v := os.Getenv(EnvS3ForcePathStyle); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("S3 store %s: %s=%q: want true or false", uri, EnvS3ForcePathStyle, v)
			}
			c.pathStyle = &on
		}
	}

	cfg, err := c.loadAWSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("S3 store %s: %w", uri, err)
	}

	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
		if c.pathStyle != nil {
			o.UsePathStyle = *c.pathStyle
		}
		// Objects without a stored checksum (SSE, multipart, S3-compatible
		// servers) are normal here; don't log a warning on every read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	presigner := s3.NewPresignClient(client)
	if c.publicURL != "" {
		presigner = s3.NewPresignClient(client, func(o *s3.PresignOptions) {
			o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) { o.BaseEndpoint = aws.String(c.publicURL) })
		})
	}
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = c.partSize
		u.Concurrency = 4
	})
	return &S3{
		client:   client,
		presign:  presigner,
		uploader: uploader,
		bucket:   bucket,
		prefix:   prefix,
		sse:      c.sse,
		kmsKeyID: c.kmsKeyID,
		expiry:   c.expiry,
	}, nil
}

// loadAWSConfig is the SDK configuration the options and the environment
// give: credentials, region (us-east-1 when none), retries and the role to
// assume.
func (c *s3Config) loadAWSConfig(ctx context.Context) (aws.Config, error) {
	var cfg aws.Config
	if c.awsConfig != nil {
		cfg = c.awsConfig.Copy()
	} else {
		var lo []func(*config.LoadOptions) error
		if c.region != "" {
			lo = append(lo, config.WithRegion(c.region))
		}
		if c.creds != nil {
			lo = append(lo, config.WithCredentialsProvider(c.creds))
		}
		var err error
		cfg, err = config.LoadDefaultConfig(ctx, lo...)
		if err != nil {
			return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
		}
		// The SDK uses AWS_ROLE_ARN only with a web identity token.
		if arn := os.Getenv(EnvRoleARN); c.roleARN == "" && arn != "" && os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") == "" {
			c.roleARN = arn
		}
	}
	if c.region != "" {
		cfg.Region = c.region
	}
	if cfg.Region == "" {
		// Custom endpoints (MinIO…) rarely care; AWS redirects are not followed,
		// so set AWS_REGION for buckets elsewhere.
		cfg.Region = "us-east-1"
	}
	if c.creds != nil {
		cfg.Credentials = aws.NewCredentialsCache(c.creds)
	}
	switch {
	case c.maxAttempts > 0:
		cfg.RetryMaxAttempts = c.maxAttempts
	case cfg.RetryMaxAttempts == 0:
		cfg.RetryMaxAttempts = DefaultS3MaxAttempts
	}
	if c.roleARN != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "sluice"
		}))
	}
	return cfg, nil
}

// URI returns s3://bucket/prefix.
func (s *S3) URI() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

// ObjectKey returns the full S3 object key of a store key (prefix + key).
func (s *S3) ObjectKey(key string) string { return s.prefix + key }

// key validates key and returns the full object key.
func (s *S3) key(key string) (*string, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	return aws.String(s.prefix + key), nil
}

// Get returns the bytes in [off, off+length) of the object, cut short at its
// end; length < 0 reads to the end.
func (s *S3) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, off)
	}
	k, err := s.key(key)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: k}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if in.Range != nil && httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			// The object exists but the range starts at or past its end.
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, s.opErr("get", key, err)
	}
	return out.Body, nil
}

// Stat returns the object's size and modification time.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := s.key(key)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: k})
	if err != nil {
		return ObjectInfo{}, s.opErr("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// uploadInput is the PutObject input shared by Put and PutIfAbsent, with
// server-side encryption set.
func (s *S3) uploadInput(k *string, r io.Reader, opts PutOptions) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket:               &s.bucket,
		Key:                  k,
		Body:                 r,
		ServerSideEncryption: types.ServerSideEncryption(s.sse),
	}
	if s.sse == SSEModeKMS && s.kmsKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.kmsKeyID)
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	return in
}

// Put uploads the object, replacing any previous one. Small bodies go in one
// PutObject; larger or unknown-length ones as a multipart upload, which S3
// makes visible only when complete. Both are server-side encrypted.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if _, err := s.uploader.Upload(ctx, s.uploadInput(k, r, opts)); err != nil {
		return s.opErr("put", key, err)
	}
	return nil
}

// PutIfAbsent uploads the object with "If-None-Match: *", so S3 refuses it
// (412 Precondition Failed) when the key exists. A 409
// ConditionalRequestConflict (another conditional write to the key in
// flight) is also reported as ErrExists: the caller re-reads and retries, and
// finds the key free again if that other write failed.
//
// When the SDK retried the request after an earlier attempt in fact
// succeeded, the 412 the retry gets is recognised by the write id stored in
// the object's metadata and PutIfAbsent reports success.
func (s *S3) PutIfAbsent(ctx context.Context, key string, r io.Reader, opts PutOptions) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("put-if-absent: %w", err)
	}
	var id [16]byte
	rand.Read(id[:])
	writeID := hex.EncodeToString(id[:])
	in := s.uploadInput(k, r, opts)
	in.IfNoneMatch = aws.String("*")
	in.Metadata = map[string]string{writeIDMeta: writeID}
	_, err = s.uploader.Upload(ctx, in)
	if err == nil {
		return nil
	}
	if !isConditionFailure(err) {
		return s.opErr("put-if-absent", key, err)
	}
	if head, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: k}); herr == nil && head.Metadata[writeIDMeta] == writeID {
		return nil // our own earlier attempt landed
	}
	return fmt.Errorf("put-if-absent %s in %s: %w", key, s.URI(), ErrExists)
}

// isConditionFailure reports whether err is S3 refusing a conditional write.
func isConditionFailure(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	return httpStatus(err) == http.StatusPreconditionFailed
}

// List returns the objects under prefix sorted by key, paging through
// ListObjectsV2. startAfter, if set, skips keys <= startAfter.
func (s *S3) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(s.prefix + startAfter)
	}
	var out []ObjectInfo
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.opErr("list", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if ValidateKey(key) != nil {
				continue // e.g. "dir/" markers made by consoles
			}
			out = append(out, ObjectInfo{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

// Delete removes the object; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: k})
	if err == nil {
		return nil
	}
	if err := s.opErr("delete", key, err); !errors.Is(err, ErrNotExist) {
		return err
	}
	return nil
}

// Presign returns a presigned GET URL valid for expiry (the configured
// default when expiry is 0; at most MaxPresignExpiry). It does not check that
// the object exists.
func (s *S3) Presign(ctx context.Context, key string, expiry time.Duration) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	if expiry == 0 {
		expiry = s.expiry
	}
	if expiry < 0 || expiry > MaxPresignExpiry {
		return "", fmt.Errorf("presign %s: expiry %v must be in (0, %v]", key, expiry, MaxPresignExpiry)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: k}, s3.WithPresignExpires(expiry))
	if err != nil {
		return "", s.opErr("presign", key, err)
	}
	return req.URL, nil
}

// CreateBucket creates the store's bucket if it does not exist and says
// whether it did. The bucket gets no settings: Sluice encrypts every object
// it writes itself (see WithSSE).
func (s *S3) CreateBucket(ctx context.Context) (created bool, err error) {
	_, err = s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return false, nil
	}
	if st := httpStatus(err); st != http.StatusNotFound {
		return false, fmt.Errorf("bucket %s: %w", s.bucket, err)
	}
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket}); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return false, nil
		}
		return false, fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	return true, nil
}

// opErr wraps an SDK error with the operation and key, mapping missing
// objects to ErrNotExist and explaining a missing bucket.
func (s *S3) opErr(op, key string, err error) error {
	var (
		nsk *types.NoSuchKey
		nf  *types.NotFound
		nsb *types.NoSuchBucket
		ae  smithy.APIError
	)
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case errors.As(err, &nsb) || code == "NoSuchBucket":
		return fmt.Errorf("%s %s: bucket %q does not exist (create it or fix the store URI %s): %w", op, key, s.bucket, s.URI(), err)
	case errors.As(err, &nsk) || errors.As(err, &nf) || code == "NoSuchKey" || code == "NotFound":
		return fmt.Errorf("%s %s in %s: %w", op, key, s.URI(), ErrNotExist)
	}
	return fmt.Errorf("%s %s in %s: %w", op, key, s.URI(), err)
}

// httpStatus returns the HTTP status code of an SDK error, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
