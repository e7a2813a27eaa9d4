package fileurl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/catalog"
)

// ErrUnknownRoot is returned by a Resolver for a root ID it does not know
// (a table dropped since the URL was signed): the Handler answers 404.
var ErrUnknownRoot = errors.New("fileurl: unknown table root")

// Resolver maps a table root ID to its directory on local disk. The
// Handler serves only files under a directory a Resolver returns.
type Resolver interface {
	// Root returns the absolute directory of the root id, or an error
	// wrapping ErrUnknownRoot.
	Root(ctx context.Context, id string) (dir string, err error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(ctx context.Context, id string) (string, error)

// Root calls f.
func (f ResolverFunc) Root(ctx context.Context, id string) (string, error) { return f(ctx, id) }

// Roots is a Resolver over a set of registered roots, safe for concurrent
// use. The zero value is empty and ready.
type Roots struct {
	mu   sync.RWMutex
	dirs map[string]string
}

// Register maps id to dir, which must be absolute.
func (r *Roots) Register(id, dir string) error {
	if err := validRootID(id); err != nil {
		return fmt.Errorf("fileurl: root id %q: want letters, digits, '-' or '_'", id)
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("fileurl: root %s: directory %q is not absolute", id, dir)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dirs == nil {
		r.dirs = map[string]string{}
	}
	r.dirs[id] = filepath.Clean(dir)
	return nil
}

// Unregister forgets id: its URLs then get 404.
func (r *Roots) Unregister(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.dirs, id)
}

// Root implements Resolver.
func (r *Roots) Root(_ context.Context, id string) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if d, ok := r.dirs[id]; ok {
		return d, nil
	}
	return "", ErrUnknownRoot
}

// LocalDir returns the directory of a table location on local disk, a
// file:// URI or an absolute path, for a Resolver built over the catalog;
// ok is false for other locations (s3://), which are not served here.
func LocalDir(location string) (dir string, ok bool) {
	if strings.HasPrefix(location, "file://") {
		u, err := url.Parse(location)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return "", false
		}
		location = u.Path
	}
	if !filepath.IsAbs(location) {
		return "", false
	}
	return filepath.Clean(location), true
}

// HandlerOption configures a Handler.
type HandlerOption func(*handler)

// WithMountPath is the path the Handler receives requests under when it
// differs from the base URL's, behind a proxy that strips a prefix: base
// https://gw.example.com/sluice/files/, mount "/files/". Default
// s.Pattern().
func WithMountPath(p string) HandlerOption {
	return func(h *handler) {
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		h.mount = p
	}
}

// WithLogger logs failures to open files (never the URL or its signature).
func WithLogger(l *slog.Logger) HandlerOption { return func(h *handler) { h.log = l } }

// WithMetrics registers sluice_fileurl_requests_total{outcome} and
// sluice_fileurl_bytes_total on reg.
func WithMetrics(reg prometheus.Registerer) HandlerOption {
	return func(h *handler) {
		h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "fileurl", Name: "requests_total",
			Help: "Signed file URL requests by outcome: served, forbidden, expired, not_found, error."}, []string{"outcome"})
		h.bytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "fileurl", Name: "bytes_total",
			Help: "Bytes of files served through signed URLs."})
		reg.MustRegister(h.requests, h.bytes)
	}
}

type handler struct {
	s        *Signer
	mount    string
	roots    Resolver
	log      *slog.Logger
	requests *prometheus.CounterVec
	bytes    prometheus.Counter
}

// Handler serves the files of signed URLs under roots; mount it at
// s.Pattern() (or see WithMountPath). GET and HEAD only.
func (s *Signer) Handler(roots Resolver, opts ...HandlerOption) http.Handler {
	h := &handler{s: s, mount: s.base.Path, roots: roots, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *handler) count(outcome string) {
	if h.requests != nil {
		h.requests.WithLabelValues(outcome).Inc()
	}
}

// deny answers without detail: the same body whatever was wrong, and
// nothing of the path.
func (h *handler) deny(w http.ResponseWriter, status int, outcome string) {
	h.count(outcome)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	switch outcome {
	case "expired":
		io.WriteString(w, "URL expired: ask the sharing server for a new one\n")
	case "not_found":
		io.WriteString(w, "not found\n")
	case "error":
		io.WriteString(w, "internal error\n")
	default:
		io.WriteString(w, "forbidden\n")
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.deny(w, http.StatusMethodNotAllowed, "forbidden")
		return
	}
	ref, err := h.s.verify(h.mount, r.URL.Path, r.URL.Query())
	switch {
	case errors.Is(err, ErrExpired):
		h.deny(w, http.StatusForbidden, "expired")
		return
	case err != nil:
		h.deny(w, http.StatusForbidden, "forbidden")
		return
	}
	dir, err := h.roots.Root(r.Context(), ref.RootID)
	if errors.Is(err, ErrUnknownRoot) {
		h.deny(w, http.StatusNotFound, "not_found")
		return
	}
	if err != nil {
		h.log.Error("fileurl: resolve root", "root", ref.RootID, "err", err)
		h.deny(w, http.StatusInternalServerError, "error")
		return
	}
	// os.OpenInRoot refuses any step out of dir, symbolic links included.
	f, err := os.OpenInRoot(dir, filepath.FromSlash(ref.File))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.log.Warn("fileurl: open", "root", ref.RootID, "err", err)
		}
		h.deny(w, http.StatusNotFound, "not_found")
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() { // never a directory listing
		h.deny(w, http.StatusNotFound, "not_found")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "private")
	// Table files are immutable: size and modification time identify the
	// content well enough for If-Range and If-None-Match.
	hd.Set("ETag", `"`+strconv.FormatInt(info.Size(), 36)+"-"+strconv.FormatInt(info.ModTime().UnixNano(), 36)+`"`)
	h.count("served")
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, "", info.ModTime(), f)
	if h.bytes != nil {
		h.bytes.Add(float64(cw.n))
	}
}

// countingWriter counts the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadFrom keeps the ResponseWriter's own ReadFrom (sendfile) in use.
func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(c.ResponseWriter, r)
	c.n += n
	return n, err
}

// SharedTables is a Resolver over the catalog: a root ID is the catalog ID
// of a table (catalog.ShareTable.TableID) that is in at least one share and
// lies on local disk. A table removed from every share, dropped, or on S3
// resolves to ErrUnknownRoot, so its URLs stop working at once, whatever
// their expiry. Each call reads the shares in one catalog read transaction.
func SharedTables(cat *catalog.Catalog) Resolver {
	return ResolverFunc(func(ctx context.Context, id string) (string, error) {
		var location string
		err := cat.View(ctx, func(tx *catalog.Tx) error {
			shares, err := tx.ListShares()
			if err != nil {
				return err
			}
			for _, sh := range shares {
				for _, st := range sh.Tables {
					if st.TableID != id {
						continue
					}
					p := strings.SplitN(st.Table, ".", 3)
					if len(p) != 3 {
						return fmt.Errorf("fileurl: shared table %q is not database.schema.table", st.Table)
					}
					rel, err := tx.GetRelation(p[0], p[1], p[2])
					location = rel.Location
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("fileurl: resolve table %s: %w", id, err)
		}
		dir, ok := LocalDir(location)
		if !ok {
			return "", ErrUnknownRoot
		}
		return dir, nil
	})
}
