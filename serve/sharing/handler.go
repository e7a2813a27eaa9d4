package sharing

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/policy"
)

// DefaultPrefix is the path prefix the handler answers under by default.
const DefaultPrefix = "/delta-sharing"

// DefaultTokenLifetime is how long page tokens and refresh tokens stay
// valid.
const DefaultTokenLifetime = time.Hour

// StoreOpener opens the object store of a table location.
type StoreOpener func(ctx context.Context, uri string) (objstore.Store, error)

// Handler serves the Delta Sharing protocol. It is safe for concurrent use.
type Handler struct {
	cat      *catalog.Catalog
	pol      *policy.Engine
	auth     Authenticator
	signer   FileURLSigner
	urlTTL   time.Duration
	tokenTTL time.Duration
	prefix   string
	tokens   tokenCodec
	sink     policy.Sink
	log      *slog.Logger
	now      func() time.Time
	open     StoreOpener
	reg      prometheus.Registerer

	mu     sync.Mutex
	stores map[string]objstore.Store

	snapshotN      int
	asyncThreshold int
	async          asyncQueries
	snapshots      *snapshotCache // nil: off
	latest         *latestCache

	requests *prometheus.CounterVec
	files    prometheus.Counter
	bytes    prometheus.Counter
}

// Option configures NewHandler.
type Option func(*Handler)

// WithAuthenticator replaces the default BearerTokens over the catalog.
func WithAuthenticator(a Authenticator) Option { return func(h *Handler) { h.auth = a } }

// WithSigner replaces the default StoreSigner (S3 presigned URLs only).
func WithSigner(s FileURLSigner) Option { return func(h *Handler) { h.signer = s } }

// WithURLLifetime sets how long file URLs stay valid (DefaultURLLifetime).
func WithURLLifetime(d time.Duration) Option { return func(h *Handler) { h.urlTTL = d } }

// WithTokenLifetime sets how long page and refresh tokens stay valid
// (DefaultTokenLifetime).
func WithTokenLifetime(d time.Duration) Option { return func(h *Handler) { h.tokenTTL = d } }

// WithPrefix sets the path prefix (DefaultPrefix); "" serves at the root.
func WithPrefix(p string) Option { return func(h *Handler) { h.prefix = strings.TrimRight(p, "/") } }

// WithTokenKey sets the key page and refresh tokens are signed with, so
// they stay valid across restarts and replicas. By default a random key is
// drawn at start.
func WithTokenKey(key []byte) Option { return func(h *Handler) { h.tokens.key = key } }

// WithAuditSink records each request answered (default: discarded).
func WithAuditSink(s policy.Sink) Option { return func(h *Handler) { h.sink = s } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithStoreOpener sets how table locations are opened (default
// objstore.Open, from the AWS_* environment for s3://). Stores are opened
// once per location and kept.
func WithStoreOpener(o StoreOpener) Option { return func(h *Handler) { h.open = o } }

// WithSnapshotCache sets how many table snapshots (by location and
// version) are kept between requests (DefaultSnapshotCache); 0 turns the
// cache off. A snapshot holds the table's file list in memory.
func WithSnapshotCache(n int) Option { return func(h *Handler) { h.snapshotN = max(n, 0) } }

// WithRegisterer registers the handler's Prometheus metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(h *Handler) { h.reg = r } }

// NewHandler returns the Delta Sharing handler over a catalog and a policy
// engine.
func NewHandler(cat *catalog.Catalog, pol *policy.Engine, opts ...Option) (*Handler, error) {
	h := &Handler{
		cat: cat, pol: pol, urlTTL: DefaultURLLifetime, tokenTTL: DefaultTokenLifetime, prefix: DefaultPrefix,
		log: slog.Default(), now: time.Now, stores: map[string]objstore.Store{}, snapshotN: DefaultSnapshotCache,
		asyncThreshold: DefaultAsyncThreshold, async: asyncQueries{byID: map[string]*asyncQuery{}, byKey: map[string]*asyncQuery{}},
		open: func(ctx context.Context, uri string) (objstore.Store, error) { return objstore.Open(ctx, uri) },
	}
	h.auth = BearerTokens{Tokens: cat}
	h.signer = StoreSigner{Now: func() time.Time { return h.now() }}
	for _, o := range opts {
		o(h)
	}
	if cat == nil || pol == nil {
		return nil, errors.New("sharing: a catalog and a policy engine are required")
	}
	if h.urlTTL <= 0 || h.tokenTTL <= 0 {
		return nil, errors.New("sharing: URL and token lifetimes must be positive")
	}
	if h.tokens.key == nil {
		h.tokens.key = make([]byte, 32)
		rand.Read(h.tokens.key)
	}
	if len(h.tokens.key) < 16 {
		return nil, errors.New("sharing: the token key must be at least 16 bytes")
	}
	h.tokens.now = h.now
	if h.snapshotN > 0 {
		h.snapshots = newSnapshotCache(h.snapshotN)
	}
	h.latest = newLatestCache()
	if h.sink == nil {
		h.sink = discardSink{}
	}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "sharing", Name: "requests_total",
		Help: "Delta Sharing requests by endpoint and HTTP status."}, []string{"request", "status"})
	h.files = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "sharing", Name: "files_total",
		Help: "File URLs handed out to recipients."})
	h.bytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "sharing", Name: "bytes_total",
		Help: "Total size of the files whose URLs were handed out."})
	if h.reg != nil {
		for _, c := range []prometheus.Collector{h.requests, h.files, h.bytes} {
			if err := h.reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

type discardSink struct{}

func (discardSink) Record(policy.Event) {}

// call is one request being answered: who asks, what, and what it got, for
// the audit record.
type call struct {
	h         *Handler
	ctx       context.Context
	w         http.ResponseWriter
	r         *http.Request
	start     time.Time
	recipient string
	props     map[string]string // the recipient's properties, read with its first decision
	name      string            // request name, e.g. "query"
	path      string            // share[.schema[.table]]
	version   *int64
	files     *int
	bytes     *int64
	minExp    *int64 // the earliest expiry of the URLs handed out
	reason    string // the error answered, for the audit record
	idScheme  string // the fileidhash asked for ("": the default ids)
	abort     bool   // the answer was cut short after its first bytes
}

// AnonymousPrincipal is the principal of the audit record of a request
// that failed authentication.
const AnonymousPrincipal = "anonymous"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{h: h, ctx: r.Context(), w: w, r: r, start: h.now(), name: "unknown"}
	status := c.serve()
	h.requests.WithLabelValues(c.name, strconv.Itoa(status)).Inc()
	principal := string(policy.PrincipalRecipient) + ":" + c.recipient
	if c.recipient == "" {
		principal = AnonymousPrincipal // failed authentication: no name to give
	}
	ev := policy.Event{
		Time: c.start, Principal: principal, Action: policy.ActionSelect,
		Path: c.path, Allow: status < 300, Request: c.name, Status: status,
		Version: c.version, Files: c.files, Bytes: c.bytes, LatencyMicros: h.now().Sub(c.start).Microseconds(),
	}
	if !ev.Allow {
		ev.Reason = c.reason
		if ev.Reason == "" {
			ev.Reason = http.StatusText(status)
		}
	}
	h.sink.Record(ev)
	if c.abort {
		// The answer was cut short after its status was sent: end the
		// connection without ending the body, so the client sees an
		// error, not a short answer.
		panic(http.ErrAbortHandler)
	}
}

// serve answers the request and returns the HTTP status.
func (c *call) serve() int {
	// The token first, before anything about the path: a request without
	// a valid one learns nothing, not even which paths exist.
	who, err := c.h.auth.Authenticate(c.r)
	if err != nil {
		if errors.Is(err, ErrForbidden) {
			c.recipient = who // known, refused: audited under its name
			return c.fail(&apiError{status: http.StatusForbidden, code: codeForbidden, msg: err.Error()})
		}
		if errors.Is(err, ErrUnauthenticated) {
			return c.fail(&apiError{status: http.StatusUnauthorized, code: codeUnauth, msg: err.Error()})
		}
		return c.fail(internal(err))
	}
	c.recipient = who
	rest, ok := strings.CutPrefix(c.r.URL.EscapedPath(), c.h.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return c.fail(&apiError{status: http.StatusNotFound, code: codeNotFound, msg: "not a Delta Sharing endpoint"})
	}
	segs, aerr := splitPath(rest)
	if aerr != nil {
		return c.fail(aerr)
	}
	route, method, aerr := match(segs)
	if aerr != nil {
		return c.fail(aerr)
	}
	c.name = route.name
	if c.r.Method != method && !(route.name == "version" && c.r.Method == http.MethodHead) {
		c.w.Header().Set("Allow", method)
		return c.fail(&apiError{status: http.StatusMethodNotAllowed, code: codeNotAllowed, msg: "use " + method + " for " + route.name})
	}
	status, aerr := route.fn(c, segs)
	if aerr != nil {
		return c.fail(aerr)
	}
	return status
}

func (c *call) fail(e *apiError) int {
	c.reason = e.code + ": " + e.msg
	if e.status >= 500 {
		c.h.log.Error("delta sharing request failed", "request", c.name, "recipient", c.recipient, "path", c.path, "err", e.Error())
	}
	writeError(c.w, e)
	return e.status
}

// splitPath splits the path after the prefix into unescaped segments,
// refusing names no object can have: empty, ".", "..", or holding "/",
// control characters or invalid UTF-8.
func splitPath(p string) ([]string, *apiError) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil, &apiError{status: http.StatusNotFound, code: codeNotFound, msg: "not a Delta Sharing endpoint"}
	}
	raw := strings.Split(p, "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, malformed("path segment %q is not valid URL encoding", s)
		}
		if err := validName(u); err != "" {
			return nil, malformed("invalid name %q in the path: %s", u, err)
		}
		segs[i] = u
	}
	return segs, nil
}

func validName(s string) string {
	switch {
	case s == "":
		return "empty name"
	case s == "." || s == ".." || strings.Contains(s, ".."):
		return `".." is not allowed`
	case strings.Contains(s, "/"):
		return `"/" is not allowed`
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case len(s) > 255:
		return "longer than 255 bytes"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "control characters are not allowed"
		}
	}
	return ""
}

type route struct {
	name string
	fn   func(c *call, segs []string) (int, *apiError)
}

// match finds the endpoint of a path and its method.
func match(s []string) (route, string, *apiError) {
	n := len(s)
	switch {
	case n == 1 && s[0] == "shares":
		return route{"list_shares", (*call).listShares}, http.MethodGet, nil
	case n >= 2 && s[0] == "shares":
		switch {
		case n == 2:
			return route{"get_share", (*call).getShare}, http.MethodGet, nil
		case n == 3 && s[2] == "schemas":
			return route{"list_schemas", (*call).listSchemas}, http.MethodGet, nil
		case n == 3 && s[2] == "all-tables":
			return route{"list_all_tables", (*call).listAllTables}, http.MethodGet, nil
		case n == 5 && s[2] == "schemas" && s[4] == "tables":
			return route{"list_tables", (*call).listTables}, http.MethodGet, nil
		case n == 6 && s[2] == "schemas" && s[4] == "tables":
			return route{"version", (*call).tableVersion}, http.MethodHead, nil
		case n == 7 && s[2] == "schemas" && s[4] == "tables":
			switch s[6] {
			case "version":
				return route{"version", (*call).tableVersion}, http.MethodGet, nil
			case "metadata":
				return route{"metadata", (*call).metadata}, http.MethodGet, nil
			case "query":
				return route{"query", (*call).query}, http.MethodPost, nil
			case "changes":
				return route{"changes", (*call).changes}, http.MethodGet, nil
			}
		case n == 8 && s[2] == "schemas" && s[4] == "tables" && s[6] == "queries":
			return route{"query_info", (*call).queryInfo}, http.MethodPost, nil
		}
	}
	return route{}, "", &apiError{status: http.StatusNotFound, code: codeNotFound, msg: "not a Delta Sharing endpoint"}
}

// writeJSON answers 200 with a JSON body.
func (c *call) writeJSON(v any) (int, *apiError) {
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	json.NewEncoder(c.w).Encode(v)
	return http.StatusOK, nil
}

// store returns the (cached) object store of a table location.
func (h *Handler) store(ctx context.Context, uri string) (objstore.Store, error) {
	h.mu.Lock()
	st, ok := h.stores[uri]
	h.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := h.open(ctx, uri)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.stores[uri] = st
	h.mu.Unlock()
	return st, nil
}
