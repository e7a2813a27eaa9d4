package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oklog/run"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/internal/dirlock"
	"github.com/sluice-io/sluice/internal/logging"
	"github.com/sluice-io/sluice/internal/secret"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/serve/exec"
	"github.com/sluice-io/sluice/serve/httplimit"
	"github.com/sluice-io/sluice/serve/leader"
	"github.com/sluice-io/sluice/serve/supervisor"
	"github.com/sluice-io/sluice/serve/tlsreload"
	"github.com/sluice-io/sluice/serve/upkeep"
)

// ShutdownTimeout is how long requests in flight have to finish when the
// server stops.
const ShutdownTimeout = 10 * time.Second

// Server is the whole Sluice server, built by New and run by Run.
type Server struct {
	log       *slog.Logger
	lock      *dirlock.Lock
	cat       *catalog.Catalog
	audit     *policy.JSONLSink
	sup       *supervisor.Supervisor
	elector   leader.Elector // who runs the supervisor and upkeep
	role      *leader.Status
	upkeep    *upkeep.Loop // nil with upkeep.enabled false
	ln        net.Listener
	http      *http.Server
	scheme    string
	publicURL string
	dataDir   string
	issued    string
	ready     func(ctx context.Context, publicURL string) error
	closeOnce sync.Once
	closeErr  error
}

// Option changes how New builds the server.
type Option func(*options)

type options struct {
	logOutput      io.Writer
	bootstrapToken string
	ready          func(ctx context.Context, publicURL string) error
}

// WithLogOutput sends the server's JSON log, at the configured log level,
// to w (default os.Stderr).
func WithLogOutput(w io.Writer) Option { return func(o *options) { o.logOutput = w } }

// WithBootstrapToken makes tok the bootstrap admin's token, instead of
// $SLUICE_BOOTSTRAP_TOKEN or the bootstrap_token_file (sluice demo chooses
// its own).
func WithBootstrapToken(tok string) Option { return func(o *options) { o.bootstrapToken = tok } }

// WithReady has Run call ready, in an actor of its own, once the server
// listens and its workers run, with the public URL. An error from ready
// stops the server, and Run returns it; a nil return keeps it serving.
func WithReady(ready func(ctx context.Context, publicURL string) error) Option {
	return func(o *options) { o.ready = ready }
}

// New builds the server of cfg (validated first): it locks the data
// directory, opens the catalog, audit log and policy, makes sure the
// bootstrap admin exists, builds the query supervisor, listens (with the
// HTTP limits, and TLS when configured) and mounts every endpoint. Nothing
// serves until Run. On error everything opened is closed again; a Server
// that is never run must be closed with Close.
func New(ctx context.Context, cfg config.Config, opts ...Option) (_ *Server, err error) {
	o := options{logOutput: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log, err := logging.New(o.logOutput, cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	s := &Server{log: log, ready: o.ready}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	var certs *tlsreload.Reloader
	if cfg.TLS.CertFile != "" {
		if certs, err = tlsreload.New(cfg.TLS.CertFile, cfg.TLS.KeyFile, tlsreload.WithLogger(s.log)); err != nil {
			return nil, err
		}
	}
	if err := s.openDataDir(ctx, cfg); err != nil {
		return nil, err
	}
	pol, err := s.openPolicy(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.bootstrap(ctx, o.bootstrapToken, cfg.BootstrapTokenFile); err != nil {
		return nil, err
	}
	if s.sup, err = newSupervisor(ctx, s.cat, cfg, s.log); err != nil {
		return nil, err
	}
	limits := httpLimits(cfg.HTTP)
	if err := s.listen(cfg.Addr, limits, certs); err != nil {
		return nil, err
	}
	s.publicURL = strings.TrimRight(cfg.PublicURL, "/")
	if s.publicURL == "" {
		s.publicURL = derivePublicURL(s.scheme, s.ln.Addr().(*net.TCPAddr))
	}
	warehouse, err := warehouseURI(cfg)
	if err != nil {
		return nil, err
	}
	s.role = &leader.Status{}
	s.elector = leader.Single{}
	if s.cat.Shared() {
		s.elector = &leader.Postgres{Dial: s.cat.Dial, Log: s.log.With("component", "leader")}
	}
	exOpts := []exec.Option{exec.WithWarehouse(warehouse), exec.WithPublicURL(s.publicURL), exec.WithQueryMonitor(queryMonitor{s.sup, s.role})}
	if cfg.Upkeep.Enabled {
		s.upkeep = upkeep.New(newCatalogTables(s.cat, s.log), upkeep.WithInterval(cfg.Upkeep.Interval), upkeep.WithLogger(s.log.With("component", "upkeep")))
		exOpts = append(exOpts, exec.WithTableMonitor(tableMonitor{s.upkeep}))
	}
	ex := exec.New(s.cat, pol, exOpts...)
	a := newAPI(s.cat, ex, s.log)
	a.role = s.role
	a.reg.MustRegister(s.sup, pol, limits, s.role)
	if s.upkeep != nil {
		a.reg.MustRegister(s.upkeep)
	}
	if err := a.mountSharing(s.cat, pol, cfg, s.publicURL, s.audit); err != nil {
		return nil, err
	}
	// No ReadTimeout or WriteTimeout: they would bound a whole request and
	// a whole answer, cutting long streamed /query answers; limits bounds
	// the body and a stalled reader instead.
	s.http = &http.Server{Handler: limits.Handler(a.handler()), ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout, IdleTimeout: cfg.HTTP.IdleTimeout}
	s.dataDir = cfg.DataDir
	return s, nil
}

// openDataDir creates and locks the data directory and opens the catalog
// (in it, or the PostgreSQL one of catalog.url) and the audit log in it.
func (s *Server) openDataDir(ctx context.Context, cfg config.Config) error {
	dir := cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	lock, err := dirlock.Acquire(dir)
	switch {
	case errors.Is(err, dirlock.ErrUnsupported):
		s.log.Warn("no lock on the data directory on this platform: make sure no other server uses it", "dataDir", dir)
	case err != nil:
		return DataDirError(err)
	}
	s.lock = lock
	if s.cat, err = openCatalog(ctx, cfg, s.log); err != nil {
		return err
	}
	if s.audit, err = policy.NewJSONLSink(filepath.Join(dir, "audit.jsonl")); err != nil {
		return err
	}
	return nil
}

// openCatalog opens the catalog: SQLite in the data directory, or the
// PostgreSQL database of catalog.url with the password catalog.password
// refers to. The URL is logged without password or query.
func openCatalog(ctx context.Context, cfg config.Config, log *slog.Logger) (*catalog.Catalog, error) {
	if cfg.Catalog.URL == "" {
		path := filepath.Join(cfg.DataDir, "catalog.db")
		log.Info("catalog", "backend", "sqlite", "path", path)
		return catalog.OpenSQLite(path)
	}
	var password string
	if ref := cfg.Catalog.Password; ref != "" {
		p, err := secret.Resolve(ref)
		if err != nil {
			return nil, fmt.Errorf("catalog.password: %w", err)
		}
		password = p
	}
	log.Info("catalog", "backend", "postgres", "url", catalog.RedactURL(cfg.Catalog.URL))
	return catalog.OpenPostgres(ctx, cfg.Catalog.URL, password)
}

// openPolicy compiles the policy with the configured modules, auditing to
// the audit log.
func (s *Server) openPolicy(ctx context.Context, cfg config.Config) (*policy.Engine, error) {
	popts := []policy.Option{policy.WithSink(s.audit), policy.WithModuleFiles(cfg.Policy.Files...)}
	if cfg.Policy.AllGrants {
		popts = append(popts, policy.WithAllGrants())
	}
	pol, err := policy.New(ctx, popts...)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return pol, nil
}

// bootstrap makes sure the bootstrap admin exists, with token when it is
// set (else the file's, else $SLUICE_BOOTSTRAP_TOKEN's).
func (s *Server) bootstrap(ctx context.Context, token, file string) error {
	var err error
	if token == "" {
		if token, err = bootstrapToken(file); err != nil {
			return err
		}
	}
	if s.issued, err = Bootstrap(ctx, s.cat, token); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// newSupervisor builds the query supervisor; with storage.worker_role_arn
// its workers get scoped STS credentials.
func newSupervisor(ctx context.Context, cat *catalog.Catalog, cfg config.Config, log *slog.Logger) (*supervisor.Supervisor, error) {
	opts := []supervisor.Option{supervisor.WithLogger(log), supervisor.WithStopTimeout(cfg.Queries.StopTimeout)}
	if role := cfg.Storage.WorkerRoleARN; role != "" {
		minter, err := objstore.NewScopedCredentials(ctx, role, cfg.Storage.WorkerCredentialsTTL)
		if err != nil {
			return nil, fmt.Errorf("storage.worker_role_arn: %w", err)
		}
		opts = append(opts, supervisor.WithScopedCredentials(minter))
	}
	return supervisor.New(cat, filepath.Join(cfg.DataDir, "queries"), opts...)
}

// listen opens the listener: connection caps below TLS, so a refused
// connection costs no handshake.
func (s *Server) listen(addr string, limits *httplimit.Limits, certs *tlsreload.Reloader) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w (choose another address: --addr HOST:PORT, port 0 picks a free one)", addr, err)
	}
	s.ln, s.scheme = limits.Listener(ln), "http"
	if certs != nil {
		s.ln, s.scheme = tls.NewListener(s.ln, certs.Config()), "https"
	}
	return nil
}

// warehouseURI is storage.warehouse, by default file://<data_dir>/warehouse.
func warehouseURI(cfg config.Config) (string, error) {
	if w := cfg.Storage.Warehouse; w != "" {
		return w, nil
	}
	abs, err := filepath.Abs(filepath.Join(cfg.DataDir, "warehouse"))
	if err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// httpLimits are the limits of the http section. Probes are never shed.
func httpLimits(c config.HTTP) *httplimit.Limits {
	return httplimit.New(httplimit.Config{BodyTimeout: c.BodyTimeout, WriteIdleTimeout: c.WriteIdleTimeout,
		MaxConnections: c.MaxConnections, MaxConnectionsPerClient: c.MaxConnectionsPerClient,
		MaxInflight: c.MaxInflight, RetryAfter: c.RetryAfter, Exempt: []string{"/healthz", "/readyz", "/metrics"}})
}

// PublicURL is where recipients reach the server: public_url, or derived
// from the listener and TLS.
func (s *Server) PublicURL() string { return s.publicURL }

// ListenURL is the URL of the listener itself (scheme and address).
func (s *Server) ListenURL() string { return s.scheme + "://" + s.ln.Addr().String() }

// IssuedToken is the token New drew for a new bootstrap admin, to show
// once; empty when the admin existed or its token was given.
func (s *Server) IssuedToken() string { return s.issued }

// Run serves until ctx ends or a part fails, as one actor group
// (oklog/run): the HTTP server, the leader's work (the query supervisor
// and, unless upkeep.enabled is false, the table upkeep loop: on SQLite
// always, on a shared PostgreSQL catalog while this replica holds the
// leader lock, see package leader), the catalog change watch (PostgreSQL),
// the ready hook and ctx. When the first of them returns, they are stopped
// in that order: the HTTP server shuts down (requests in flight get
// ShutdownTimeout), then the workers are stopped (each commits what it
// holds) and upkeep, then leadership is given up; then the catalog, the
// audit log and the lock are closed. Run returns the first error: of the
// part that failed, or of stopping one.
func (s *Server) Run(ctx context.Context) error {
	var g run.Group
	var shutdownErr, supErr error
	s.log.Info("serving", "addr", s.ln.Addr().String(), "tls", s.scheme == "https", "publicURL", s.publicURL, "dataDir", s.dataDir)

	g.Add(func() error {
		if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	}, func(error) {
		// Interrupts run in order and this one blocks until the HTTP
		// server is down: no request reaches a stopping supervisor.
		shutdownErr = shutdownHTTP(s.http)
	})

	// The leader's work: the query supervisor and table upkeep, on one
	// replica of a shared catalog at a time (on SQLite, this server always
	// leads). It outlives the HTTP server by a little: it is stopped (the
	// workers commit) after that has shut down.
	leadCtx, stopLeading := context.WithCancel(context.WithoutCancel(ctx))
	g.Add(func() error {
		supErr = leader.Run(leadCtx, s.elector, s.lead, s.role, s.log.With("component", "leader"))
		return supErr
	}, func(error) { stopLeading() })

	// Every replica hears of the changes the others make to the catalog:
	// the leader's supervisor reconciles at once when a statement through
	// another replica changed the queries.
	if s.cat.Shared() {
		watchCtx, stopWatch := context.WithCancel(ctx)
		g.Add(func() error {
			return s.cat.WatchChanges(watchCtx, s.sup.Notify, s.log.With("component", "catalog"))
		}, func(error) { stopWatch() })
	}

	hookCtx, stopHook := context.WithCancel(ctx)
	if s.ready != nil {
		g.Add(func() error {
			if err := s.ready(hookCtx, s.publicURL); err != nil {
				return err
			}
			<-hookCtx.Done()
			return nil
		}, func(error) { stopHook() })
	}

	g.Add(func() error {
		<-hookCtx.Done()
		return nil
	}, func(error) { stopHook() })

	err := g.Run()
	stopLeading()
	stopHook()
	if err == nil {
		err = errors.Join(shutdownErr, supErr)
	}
	return errors.Join(err, s.Close())
}

// lead is one term of leadership: the supervisor and, unless off, the
// upkeep loop, until ctx ends. A term lost (cause leader.ErrLost) kills
// the workers at once (supervisor.ErrStopNow): another replica may lead
// already. Stopped, an upkeep round in flight fails its current step (a
// file written but not committed is left for VACUUM) and ends.
func (s *Server) lead(ctx context.Context) error {
	supCtx, stopSup := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopSup(nil)
	go func() {
		<-ctx.Done()
		if errors.Is(context.Cause(ctx), leader.ErrLost) {
			stopSup(supervisor.ErrStopNow)
		}
		stopSup(nil)
	}()
	var wg sync.WaitGroup
	if s.upkeep != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.upkeep.Run(ctx)
		}()
	}
	err := s.sup.Run(supCtx)
	stopSup(nil)
	wg.Wait()
	return err
}

// Close closes the listener, the catalog, the audit log and the lock. Run
// calls it; call it only for a Server that is not run.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.ln != nil {
			if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("listener: %w", err))
			}
		}
		if s.cat != nil {
			if err := s.cat.Close(); err != nil {
				errs = append(errs, fmt.Errorf("catalog: %w", err))
			}
		}
		if s.audit != nil {
			if err := s.audit.Close(); err != nil {
				errs = append(errs, fmt.Errorf("audit log: %w", err))
			}
		}
		if s.lock != nil {
			if err := s.lock.Release(); err != nil {
				errs = append(errs, fmt.Errorf("data dir lock: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// shutdownHTTP stops the HTTP server, letting requests finish for
// ShutdownTimeout.
func shutdownHTTP(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// DataDirError explains a failure to lock the data directory; a lock
// held by another server is named with its pid and what to do.
func DataDirError(err error) error {
	var held *dirlock.HeldError
	if !errors.As(err, &held) {
		return fmt.Errorf("data dir: %w", err)
	}
	holder := "a process that has not recorded its pid yet"
	if held.PID > 0 {
		holder = fmt.Sprintf("pid %d", held.PID)
	}
	return fmt.Errorf("data directory %s is in use by another sluice server (%s; lock file %s): stop that server first, or give this one another --data-dir", held.Dir, holder, held.Path)
}

// bootstrapToken is the bootstrap admin's token: the contents of file when
// given (bootstrap_token_file), else $SLUICE_BOOTSTRAP_TOKEN, else "" (a new
// one is drawn and printed). Setting both is refused as ambiguous.
func bootstrapToken(file string) (string, error) {
	env := os.Getenv("SLUICE_BOOTSTRAP_TOKEN")
	if file == "" {
		return env, nil
	}
	if env != "" {
		return "", errors.New("bootstrap token: both SLUICE_BOOTSTRAP_TOKEN and bootstrap_token_file are set; keep one")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("bootstrap_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("bootstrap_token_file %s is empty: write a token into it ('sluice token > %s')", file, file)
	}
	return tok, nil
}

// derivePublicURL is the URL of the listener: its address, or the host's
// name when it listens on every address.
func derivePublicURL(scheme string, addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// StateOnLeader is the worker state SHOW QUERIES shows on a replica that
// does not lead: the leader runs the workers, and its SHOW QUERIES tells
// theirs.
const StateOnLeader = "on leader"

// queryMonitor shows the supervisor to the executor.
type queryMonitor struct {
	*supervisor.Supervisor
	role *leader.Status
}

func (m queryMonitor) QueryStatus(id string) (exec.QueryStatus, bool) {
	if m.role.State() != leader.Leading {
		return exec.QueryStatus{State: StateOnLeader, Lag: -1}, true
	}
	st, ok := m.Status(id)
	return exec.QueryStatus{State: st.State, PID: st.PID, MetricsAddr: st.MetricsAddr, Restarts: st.Restarts, LastError: st.LastError,
		Started: st.Started, Lag: st.Lag, CredentialsExpire: st.CredentialsExpire}, ok
}

func (m queryMonitor) QueriesChanged() { m.Notify() }
