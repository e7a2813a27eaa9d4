package decode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// This file holds what the Schema Registry formats (Avro, Protobuf, JSON
// Schema) share: the registry interface, the Confluent wire-format header,
// and a bounded, concurrency-safe cache of what each format builds from a
// schema id.

// Registry is the part of a Confluent Schema Registry client the decoders
// use. *sr.Client (github.com/twmb/franz-go/pkg/sr) implements it.
type Registry interface {
	// SchemaByID returns the schema registered under a global id.
	SchemaByID(ctx context.Context, id int) (sr.Schema, error)
	// SchemaByVersion returns a subject's schema version; the decoders use
	// it to fetch the schemas a Protobuf schema references.
	SchemaByVersion(ctx context.Context, subject string, version int) (sr.SubjectSchema, error)
}

// Cache and request defaults for registry-backed decoders.
const (
	// DefaultSchemaCacheSize is how many schema ids a decoder keeps compiled.
	DefaultSchemaCacheSize = 1000
	// DefaultRegistryTimeout bounds one registry lookup.
	DefaultRegistryTimeout = 10 * time.Second

	// notFoundTTL is how long an id the registry does not know stays known
	// as missing, so a stream of such records does not become a stream of
	// requests; failedTTL is the same for other registry failures.
	notFoundTTL = time.Minute
	failedTTL   = 5 * time.Second
)

// RegistryOption configures NewFromRegistry.
type RegistryOption func(*registryConfig)

type registryConfig struct {
	user, password string
	caFile         string
	decodeOpts     []Option
	httpClient     *http.Client
}

// WithBasicAuth sends HTTP basic authentication to the registry. password
// is the secret itself: the caller resolves a secret reference (env:NAME,
// file:PATH) first, e.g. with secret.Resolve (internal/secret), and never logs it.
func WithBasicAuth(user, password string) RegistryOption {
	return func(c *registryConfig) { c.user, c.password = user, password }
}

// WithTLSCAFile trusts the PEM certificates in path (in addition to none:
// they replace the system pool) for an https registry URL.
func WithTLSCAFile(path string) RegistryOption {
	return func(c *registryConfig) { c.caFile = path }
}

// WithRegistryTimeout bounds each registry request of a registry-backed
// decoder (default DefaultRegistryTimeout).
func WithRegistryTimeout(d time.Duration) Option {
	return func(o *options) { o.registryTimeout = d }
}

// WithSchemaCacheSize bounds how many schema ids a registry-backed decoder
// keeps compiled (default DefaultSchemaCacheSize).
func WithSchemaCacheSize(n int) Option {
	return func(o *options) { o.schemaCacheSize = n }
}

// WithDecoderOptions passes decoder options (epoch unit, decimal rounding)
// through NewFromRegistry.
func WithDecoderOptions(opts ...Option) RegistryOption {
	return func(c *registryConfig) { c.decodeOpts = append(c.decodeOpts, opts...) }
}

// WithHTTPClient makes the registry client use hc (its transport, proxy and
// TLS settings); WithTLSCAFile then does not apply.
func WithHTTPClient(hc *http.Client) RegistryOption {
	return func(c *registryConfig) { c.httpClient = hc }
}

// Registry formats accepted by NewFromRegistry.
const (
	FormatAvro       = "avro"
	FormatProtobuf   = "protobuf"
	FormatJSONSchema = "jsonschema"
)

// NewFromRegistry builds the decoder for a Schema Registry format: "avro",
// "protobuf" or "jsonschema", with the registry at registryURL (one URL, or
// several separated by commas, tried in order).
func NewFromRegistry(format string, cols []Column, registryURL string, opts ...RegistryOption) (Decoder, error) {
	var cfg registryConfig
	for _, o := range opts {
		o(&cfg)
	}
	var newDec func([]Column, Registry, ...Option) (Decoder, error)
	switch format {
	case FormatAvro:
		newDec = NewAvro
	case FormatProtobuf:
		newDec = NewProtobuf
	case FormatJSONSchema:
		newDec = NewJSONSchema
	default:
		return nil, fmt.Errorf("decode: format %q is not a schema registry format (avro, protobuf, jsonschema)", format)
	}
	cl, err := newRegistryClient(format, registryURL, &cfg)
	if err != nil {
		return nil, err
	}
	return newDec(cols, cl, cfg.decodeOpts...)
}

// NewRegistryClient returns a client of the Schema Registry at registryURL
// (one URL, or several separated by commas, tried in order), configured by
// the same options as NewFromRegistry.
func NewRegistryClient(registryURL string, opts ...RegistryOption) (Registry, error) {
	var cfg registryConfig
	for _, o := range opts {
		o(&cfg)
	}
	return newRegistryClient("registry", registryURL, &cfg)
}

func newRegistryClient(format, registryURL string, cfg *registryConfig) (*sr.Client, error) {
	if strings.TrimSpace(registryURL) == "" {
		return nil, fmt.Errorf("decode: %s: no schema registry URL", format)
	}
	var urls []string
	for _, u := range strings.Split(registryURL, ",") {
		urls = append(urls, strings.TrimSpace(u))
	}
	hc := cfg.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.caFile != "" {
			pem, err := os.ReadFile(cfg.caFile)
			if err != nil {
				return nil, fmt.Errorf("decode: schema registry CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("decode: schema registry CA file %s: no PEM certificates", cfg.caFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		hc = &http.Client{Transport: tr}
	}
	srOpts := []sr.ClientOpt{sr.URLs(urls...), sr.HTTPClient(hc)}
	if cfg.user != "" || cfg.password != "" {
		srOpts = append(srOpts, sr.BasicAuth(cfg.user, cfg.password))
	}
	cl, err := sr.NewClient(srOpts...)
	if err != nil {
		return nil, fmt.Errorf("decode: schema registry client: %w", err)
	}
	return cl, nil
}

// registryLimits are the cache bound and request timeout of a
// registry-backed decoder, from its options or the defaults.
func registryLimits(o *options) (time.Duration, int) {
	timeout, size := o.registryTimeout, o.schemaCacheSize
	if timeout <= 0 {
		timeout = DefaultRegistryTimeout
	}
	if size <= 0 {
		size = DefaultSchemaCacheSize
	}
	return timeout, size
}

func errNoRegistry(format string) error {
	return fmt.Errorf("decode: %s: no schema registry", format)
}

// SchemaIDError is a record-level error about the record's schema id: the
// registry does not know it, could not be reached, or holds a schema the
// decoder cannot use. It fails the one record, never the decoder.
type SchemaIDError struct {
	ID  int
	Err error
}

func (e *SchemaIDError) Error() string { return fmt.Sprintf("schema id %d: %v", e.ID, e.Err) }

// Unwrap returns the cause.
func (e *SchemaIDError) Unwrap() error { return e.Err }

// ErrSchemaNotFound is the cause of a SchemaIDError for an id the registry
// does not know.
var ErrSchemaNotFound = errors.New("not found in the registry")

// ErrNoHeader is returned for a record value without the Confluent
// wire-format header (magic byte 0 and a 4-byte schema id).
var ErrNoHeader = errors.New("no schema registry header (want magic byte 0 and a 4-byte big-endian schema id)")

// splitHeader strips the Confluent header: magic byte 0, then the schema id
// as a 4-byte big-endian integer.
func splitHeader(v []byte) (int, []byte, error) {
	if len(v) < 5 {
		return 0, nil, fmt.Errorf("%w: value is %d bytes", ErrNoHeader, len(v))
	}
	if v[0] != 0 {
		return 0, nil, fmt.Errorf("%w: first byte is 0x%02x", ErrNoHeader, v[0])
	}
	return int(binary.BigEndian.Uint32(v[1:5])), v[5:], nil
}

// fetchSchema gets schema id from the registry and checks its type.
func fetchSchema(ctx context.Context, reg Registry, id int, want sr.SchemaType) (sr.Schema, error) {
	s, err := reg.SchemaByID(ctx, id)
	if err != nil {
		return s, registryError(err)
	}
	if s.Type != want {
		return s, fmt.Errorf("registered as %s, but the decoder reads %s", s.Type, want)
	}
	return s, nil
}

// registryError turns a client error into ErrSchemaNotFound for a 404, or
// a "registry:" error otherwise.
func registryError(err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return ErrSchemaNotFound
	}
	return fmt.Errorf("registry: %w", err)
}

// idCache keeps what a decoder built from each schema id: at most max ids,
// evicting an arbitrary one when full. Concurrent lookups of the same id
// share one load. Failures are kept briefly (notFoundTTL, failedTTL) so a
// run of bad records does not become a run of registry requests.
type idCache[T any] struct {
	mu      sync.Mutex
	max     int
	timeout time.Duration
	m       map[int]*idEntry[T]
	load    func(ctx context.Context, id int) (T, error)
	now     func() time.Time
}

type idEntry[T any] struct {
	done    chan struct{}
	v       T
	err     error
	expires time.Time // zero: never (success)
}

func newIDCache[T any](o *options, load func(ctx context.Context, id int) (T, error)) *idCache[T] {
	timeout, size := registryLimits(o)
	return &idCache[T]{max: size, timeout: timeout, m: map[int]*idEntry[T]{}, load: load, now: time.Now}
}

// get returns the value for id, loading it on first use. The error is a
// *SchemaIDError.
func (c *idCache[T]) get(id int) (T, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	if ok && !e.expires.IsZero() && c.now().After(e.expires) {
		select {
		case <-e.done:
			delete(c.m, id)
			ok = false
		default:
		}
	}
	if !ok {
		if len(c.m) >= c.max {
			for k := range c.m {
				delete(c.m, k)
				break
			}
		}
		e = &idEntry[T]{done: make(chan struct{})}
		c.m[id] = e
		c.mu.Unlock()
		c.fill(e, id)
	} else {
		c.mu.Unlock()
		<-e.done
	}
	if e.err != nil {
		var zero T
		return zero, &SchemaIDError{ID: id, Err: e.err}
	}
	return e.v, nil
}

// fill runs the load for a new entry; a panic in it (a library on a
// hostile schema) becomes the entry's error.
func (c *idCache[T]) fill(e *idEntry[T], id int) {
	defer close(e.done)
	defer func() {
		if r := recover(); r != nil {
			e.err = fmt.Errorf("internal error building the decoder: %v", r)
			e.expires = c.now().Add(failedTTL)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	e.v, e.err = c.load(ctx, id)
	switch {
	case errors.Is(e.err, ErrSchemaNotFound):
		e.expires = c.now().Add(notFoundTTL)
	case e.err != nil:
		e.expires = c.now().Add(failedTTL)
	}
}
