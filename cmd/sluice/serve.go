package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/internal/dirlock"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/serve/exec"
	"github.com/sluice-io/sluice/serve/supervisor"
	"github.com/sluice-io/sluice/serve/tlsreload"
)

const serveUsage = `Run the Sluice server: the SQL statements API (POST /api/v1/statements),
the Delta Sharing protocol for recipients (/delta-sharing/, with signed file
URLs under /files/), /healthz and /metrics, over the catalog in the data
directory; and one worker process per running query (CREATE TABLE ... AS
SELECT), restarted when it crashes.

Usage: sluice serve [--config sluice.yaml] [--data-dir DIR] [--addr HOST:PORT]
                    [--warehouse URI] [--policy FILE.rego ...]
                    [--tls-cert FILE --tls-key FILE] [--public-url URL]

On first start the server creates the user sluice_admin (role admin) and
prints its token once, unless SLUICE_BOOTSTRAP_TOKEN or the file named by
--bootstrap-token-file sets it (a token as 'sluice token' prints). Every decision is audited to DIR/audit.jsonl.

One server per data directory: the server locks DIR/sluice.lock (holding
its pid) for as long as it runs, and a second server (or 'sluice demo') on
DIR refuses to start, naming the first one's pid. The lock ends with the
process, however it ends (also kill -9), so a crashed server never blocks a
restart.

Workers are this binary run as 'sluice worker'; their specs and logs are in
DIR/queries/<query id>/ and they get only the storage settings (AWS_*,
SLUICE_S3_*) and the variables their store's env: secret references name
from the server's environment; with --worker-role-arn a worker of an S3
table gets STS credentials limited to its own table instead of the
server's AWS credentials. Stopping the server stops them (each commits
what it holds); starting it again resumes the running queries where they
stopped.

With a TLS certificate and key the server speaks HTTPS only (TLS 1.2 at
least) and reloads the pair when the files change. The public URL is where
recipients reach the server, written into their profiles; by default it is
derived from the listen address and TLS (set it behind a proxy or on
0.0.0.0).

Examples:
  sluice serve --data-dir /var/lib/sluice --addr 127.0.0.1:8080
  sluice serve --config /etc/sluice/sluice.yaml --log-level debug
  SLUICE_BOOTSTRAP_TOKEN=$(sluice token) sluice serve --policy deny-pii.rego
  sluice serve --addr 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key --public-url https://sharing.example.com

Slow and stalled clients are cut, connections are capped overall and per
client address, and past the in-flight limit requests are answered 503 with
Retry-After: the http.* settings below (docs/limits.md).

A commented example configuration is deploy/sluice.example.yaml.
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage+"\n"+config.Help(), stderr)
	configPath := fs.String("config", "", "YAML configuration file (default $SLUICE_CONFIG); see above for its keys")
	flags := config.RegisterFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice serve: takes no arguments (see --help)")
		return errUsage
	}
	if *configPath == "" {
		*configPath = os.Getenv("SLUICE_CONFIG")
	}
	cfg, err := config.Resolve(*configPath, os.LookupEnv, flags)
	if err != nil {
		return err
	}
	return serveWith(ctx, cfg, serveHooks{}, stdout, stderr)
}

// serveHooks let `sluice demo` run the same server with extras.
type serveHooks struct {
	// ready is called once the server listens, with its public URL and
	// the bootstrap admin token (empty if it was set by the environment).
	ready func(publicURL string) error
	// bootstrapToken overrides SLUICE_BOOTSTRAP_TOKEN.
	bootstrapToken string
	// quiet keeps the token and listening lines off stdout.
	quiet bool
}

// serveWith runs the server with a resolved configuration until ctx ends.
func serveWith(ctx context.Context, cfg config.Config, hooks serveHooks, stdout, stderr io.Writer) error {
	logger, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	var certs *tlsreload.Reloader
	if cfg.TLS.CertFile != "" {
		if certs, err = tlsreload.New(cfg.TLS.CertFile, cfg.TLS.KeyFile, tlsreload.WithLogger(logger)); err != nil {
			return err
		}
	}
	publicURL := cfg.PublicURL
	if publicURL != "" {
		if publicURL, err = checkPublicURL(publicURL); err != nil {
			return err
		}
	}
	dataDir, warehouse := cfg.DataDir, cfg.Storage.Warehouse
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	lock, err := dirlock.Acquire(dataDir)
	switch {
	case errors.Is(err, dirlock.ErrUnsupported):
		logger.Warn("no lock on the data directory on this platform: make sure no other server uses it", "dataDir", dataDir)
	case err != nil:
		return dataDirErr(err)
	}
	defer lock.Release()
	cat, err := catalog.OpenSQLite(filepath.Join(dataDir, "catalog.db"))
	if err != nil {
		return err
	}
	defer cat.Close()
	audit, err := policy.NewJSONLSink(filepath.Join(dataDir, "audit.jsonl"))
	if err != nil {
		return err
	}
	defer audit.Close()
	popts := []policy.Option{policy.WithSink(audit), policy.WithModuleFiles(cfg.Policy.Files...)}
	if cfg.Policy.AllGrants {
		popts = append(popts, policy.WithAllGrants())
	}
	pol, err := policy.New(ctx, popts...)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	bootstrap := hooks.bootstrapToken
	if bootstrap == "" {
		if bootstrap, err = bootstrapToken(cfg.BootstrapTokenFile); err != nil {
			return err
		}
	}
	tok, err := serve.Bootstrap(ctx, cat, bootstrap)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if tok != "" && !hooks.quiet {
		fmt.Fprintf(stdout, "Created user %s (role admin). Its token, shown this once:\n\n  %s\n\n", serve.BootstrapUser, tok)
	}
	if warehouse == "" {
		abs, err := filepath.Abs(filepath.Join(dataDir, "warehouse"))
		if err != nil {
			return err
		}
		warehouse = "file://" + filepath.ToSlash(abs)
	}
	supOpts := []supervisor.Option{supervisor.WithLogger(logger), supervisor.WithStopTimeout(cfg.Queries.StopTimeout)}
	if role := cfg.Storage.WorkerRoleARN; role != "" {
		minter, err := objstore.NewScopedCredentials(ctx, role, cfg.Storage.WorkerCredentialsTTL)
		if err != nil {
			return fmt.Errorf("storage.worker_role_arn: %w", err)
		}
		supOpts = append(supOpts, supervisor.WithScopedCredentials(minter))
	}
	sup, err := supervisor.New(cat, filepath.Join(dataDir, "queries"), supOpts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w (choose another address: --addr HOST:PORT, port 0 picks a free one)", cfg.Addr, err)
	}
	defer ln.Close()
	limits := httpLimits(cfg.HTTP)
	ln = limits.Listener(ln) // below TLS: a refused connection costs no handshake
	scheme := "http"
	if certs != nil {
		scheme = "https"
		ln = tls.NewListener(ln, certs.Config())
	}
	if publicURL == "" {
		publicURL = derivePublicURL(scheme, ln.Addr().(*net.TCPAddr))
	}
	ex := exec.New(cat, pol, exec.WithWarehouse(warehouse), exec.WithPublicURL(publicURL), exec.WithQueryMonitor(queryMonitor{sup}))
	api := serve.New(cat, ex, logger)
	api.MustRegister(sup, pol, limits)
	err = api.EnableSharing(cat, pol, serve.SharingConfig{
		PublicURL: publicURL, DataDir: dataDir, FileURLKey: cfg.Sharing.FileURLKey, URLLifetime: cfg.Sharing.URLLifetime,
		JWT: serve.JWTConfig{JWKSURL: cfg.Sharing.JWT.JWKSURL, Issuer: cfg.Sharing.JWT.Issuer, Audience: cfg.Sharing.JWT.Audience,
			RecipientClaim: cfg.Sharing.JWT.RecipientClaim, Skew: cfg.Sharing.JWT.Skew},
		Audit: audit, S3PublicEndpoint: cfg.Storage.S3PublicEndpoint,
	})
	if err != nil {
		return err
	}
	srv := httpServer(cfg.HTTP, limits, api.Handler())
	// The workers outlive the HTTP server by a little: they are stopped
	// (and commit) after it has shut down.
	supCtx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(supCtx) }()
	logger.Info("serving", "addr", ln.Addr().String(), "tls", certs != nil, "publicURL", publicURL, "dataDir", dataDir)
	if !hooks.quiet {
		fmt.Fprintf(stdout, "Listening on %s://%s\nPublic URL (in recipient profiles): %s\n", scheme, ln.Addr(), publicURL)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	readyErr := make(chan error, 1)
	if hooks.ready != nil {
		go func() { readyErr <- hooks.ready(publicURL) }()
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case serveErr = <-supDone:
		srv.Close()
		return serveErr // the workers are stopped already
	case serveErr = <-readyErr:
		if serveErr == nil {
			<-ctx.Done()
		}
		serveErr = errors.Join(serveErr, shutdownHTTP(srv))
	case <-ctx.Done():
		serveErr = shutdownHTTP(srv)
	}
	stopWorkers()
	if err := <-supDone; err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}

// dataDirErr explains a failure to lock the data directory; a lock held
// by another server is named with its pid and what to do.
func dataDirErr(err error) error {
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

// shutdownHTTP stops the HTTP server, letting requests finish for 10 s.
func shutdownHTTP(srv *http.Server) error {
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// checkPublicURL validates --public-url: an absolute http(s) URL without
// query or fragment; the trailing slash is dropped.
func checkPublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--public-url %q: want an absolute URL such as https://sharing.example.com (no query, no credentials)", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
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

// queryMonitor shows the supervisor to the executor.
type queryMonitor struct{ *supervisor.Supervisor }

func (m queryMonitor) QueryStatus(id string) (exec.QueryStatus, bool) {
	st, ok := m.Status(id)
	return exec.QueryStatus{State: st.State, PID: st.PID, MetricsAddr: st.MetricsAddr, Restarts: st.Restarts, LastError: st.LastError,
		Started: st.Started, Lag: st.Lag, CredentialsExpire: st.CredentialsExpire}, ok
}

func (m queryMonitor) QueriesChanged() { m.Notify() }
