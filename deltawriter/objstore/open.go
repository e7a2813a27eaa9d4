package objstore

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables Open reads for s3:// URIs, besides the SDK's own
// AWS_* variables (credentials, AWS_REGION, AWS_ENDPOINT_URL(_S3), …).
const (
	// EnvS3SSE selects server-side encryption: "AES256" (SSE-S3, the default)
	// or "aws:kms" (SSE-KMS).
	EnvS3SSE = "SLUICE_S3_SSE"
	// EnvS3KMSKeyID is the KMS key id for SSE-KMS. Setting it alone implies
	// SLUICE_S3_SSE=aws:kms.
	EnvS3KMSKeyID = "SLUICE_S3_KMS_KEY_ID"
)

// openConfig collects the OpenOptions.
type openConfig struct {
	s3 []S3Option
}

// OpenOption configures Open.
type OpenOption func(*openConfig)

// WithS3Options passes options to NewS3 when Open opens an s3:// URI. They
// are applied after, and so override, those taken from the environment.
func WithS3Options(opts ...S3Option) OpenOption {
	return func(c *openConfig) { c.s3 = append(c.s3, opts...) }
}

// Open returns the store a URI names:
//
//   - file:///abs/path — a Local store in that directory;
//   - a plain path, relative or absolute — a Local store;
//   - s3://bucket/prefix — an S3 store configured from the standard AWS_*
//     environment (see NewS3) plus SLUICE_S3_SSE and SLUICE_S3_KMS_KEY_ID.
func Open(ctx context.Context, uri string, opts ...OpenOption) (Store, error) {
	var c openConfig
	for _, o := range opts {
		o(&c)
	}
	if uri == "" {
		return nil, fmt.Errorf("open object store: empty URI (want file:///path, a directory path or s3://bucket/prefix)")
	}
	if !strings.Contains(uri, "://") {
		s, err := NewLocal(uri)
		if err != nil {
			return nil, fmt.Errorf("open object store %q: %w", uri, err)
		}
		return s, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("open object store %q: %w", uri, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("open object store %q: file URIs must name a local path (file:///abs/path), not host %q", uri, u.Host)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("open object store %q: file URIs take no query or fragment", uri)
		}
		if u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return nil, fmt.Errorf("open object store %q: file URIs need an absolute path (file:///abs/path); use a plain path for a relative one", uri)
		}
		s, err := NewLocal(filepath.FromSlash(u.Path))
		if err != nil {
			return nil, fmt.Errorf("open object store %q: %w", uri, err)
		}
		return s, nil
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("open object store %q: missing bucket name (want s3://bucket/prefix)", uri)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("open object store %q: s3 URIs take no user info, query or fragment; credentials come from the AWS_* environment", uri)
		}
		envOpts, err := s3EnvOptions()
		if err != nil {
			return nil, fmt.Errorf("open object store %q: %w", uri, err)
		}
		s, err := NewS3(ctx, u.Host, u.Path, append(envOpts, c.s3...)...)
		if err != nil {
			return nil, fmt.Errorf("open object store %q: %w", uri, err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("open object store %q: unsupported scheme %q (want file:// or s3://)", uri, u.Scheme)
	}
}

// s3EnvOptions reads SLUICE_S3_SSE and SLUICE_S3_KMS_KEY_ID.
func s3EnvOptions() ([]S3Option, error) {
	mode, keyID := os.Getenv(EnvS3SSE), os.Getenv(EnvS3KMSKeyID)
	switch {
	case mode == "" && keyID == "":
		return nil, nil
	case mode == "":
		mode = string(SSEModeKMS)
	case mode != string(SSEModeS3) && mode != string(SSEModeKMS):
		return nil, fmt.Errorf("%s=%q: want %q (SSE-S3) or %q (SSE-KMS)", EnvS3SSE, mode, SSEModeS3, SSEModeKMS)
	case mode == string(SSEModeS3) && keyID != "":
		return nil, fmt.Errorf("%s is set but %s=%q: a KMS key needs %s=%q", EnvS3KMSKeyID, EnvS3SSE, mode, EnvS3SSE, SSEModeKMS)
	}
	return []S3Option{WithSSE(SSEMode(mode), keyID)}, nil
}
