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
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/exec"
	"github.com/sluice-io/sluice/serve/tlsreload"
	"github.com/sluice-io/sluice/serve/supervisor"
)

const serveUsage = `Run the Sluice server: the SQL statements API (POST /api/v1/statements),
/healthz and /metrics, over the catalog in --data-dir, and one worker process
per running query (CREATE TABLE ... AS SELECT), restarted when it crashes.

Usage: sluice serve [--data-dir DIR] [--addr HOST:PORT] [--warehouse URI] [--policy FILE.rego ...]
                    [--tls-cert FILE --tls-key FILE] [--public-url URL]

Workers are this binary run as 'sluice worker'; their specs and logs are in
DIR/queries/<query id>/ and they get only the storage settings (AWS_*,
SLUICE_S3_*) and the variables their store's env: secret references name
from the server's environment. Stopping the server stops them (each commits
what it holds); starting it again resumes the running queries where they
stopped.

On first start the server creates the user sluice_admin (role admin) and
prints its token once, unless SLUICE_BOOTSTRAP_TOKEN sets it (a token as
'sluice token' prints). Every decision is audited to DIR/audit.jsonl.

With --tls-cert and --tls-key the server speaks HTTPS only (TLS 1.2 at
least) and reloads the pair when the files change. --public-url is the URL
recipients reach the server at, written into their profiles; by default it
is derived from --addr and TLS (set it behind a proxy or on 0.0.0.0).

Examples:
  sluice serve --data-dir /var/lib/sluice --addr 127.0.0.1:8080
  SLUICE_BOOTSTRAP_TOKEN=$(sluice token) sluice serve --policy deny-pii.rego
  sluice serve --addr 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key --public-url https://sharing.example.com
`

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, stderr)
	dataDir := fs.String("data-dir", "sluice-data", "directory of the catalog and the audit log")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	warehouse := fs.String("warehouse", "", "URI under which query tables get their default location (default: file://<data-dir>/warehouse); s3://bucket/prefix for S3")
	tlsCert := fs.String("tls-cert", "", "TLS certificate chain (PEM); with --tls-key, serve HTTPS only")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM)")
	publicURL := fs.String("public-url", "", "URL recipients reach this server at, written into their profiles (default: from --addr and TLS)")
	stopTimeout := fs.Duration("worker-stop-timeout", 30*time.Second, "time a worker has to commit and exit after SIGTERM before it is killed")
	var policies stringList
	fs.Var(&policies, "policy", "extra Rego module (repeatable); a module that fails to compile stops start-up")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice serve: takes no arguments (see --help)")
		return errUsage
	}
	logger, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(stderr, "sluice serve: give both --tls-cert and --tls-key, or neither")
		return errUsage
	}
	var certs *tlsreload.Reloader
	if *tlsCert != "" {
		if certs, err = tlsreload.New(*tlsCert, *tlsKey, tlsreload.WithLogger(logger)); err != nil {
			return err
		}
	}
	if *publicURL != "" {
		if *publicURL, err = checkPublicURL(*publicURL); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	cat, err := catalog.OpenSQLite(filepath.Join(*dataDir, "catalog.db"))
	if err != nil {
		return err
	}
	defer cat.Close()
	audit, err := policy.NewJSONLSink(filepath.Join(*dataDir, "audit.jsonl"))
	if err != nil {
		return err
	}
	defer audit.Close()
	pol, err := policy.New(ctx, policy.WithSink(audit), policy.WithModuleFiles(policies...))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	tok, err := serve.Bootstrap(ctx, cat, os.Getenv("SLUICE_BOOTSTRAP_TOKEN"))
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if tok != "" {
		fmt.Fprintf(stdout, "Created user %s (role admin). Its token, shown this once:\n\n  %s\n\n", serve.BootstrapUser, tok)
	}
	if *warehouse == "" {
		abs, err := filepath.Abs(filepath.Join(*dataDir, "warehouse"))
		if err != nil {
			return err
		}
		*warehouse = "file://" + filepath.ToSlash(abs)
	}
	sup, err := supervisor.New(cat, filepath.Join(*dataDir, "queries"), supervisor.WithLogger(logger), supervisor.WithStopTimeout(*stopTimeout))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	scheme := "http"
	if certs != nil {
		scheme = "https"
		ln = tls.NewListener(ln, certs.Config())
	}
	if *publicURL == "" {
		*publicURL = derivePublicURL(scheme, ln.Addr().(*net.TCPAddr))
	}
	ex := exec.New(cat, pol, exec.WithWarehouse(*warehouse), exec.WithPublicURL(*publicURL), exec.WithQueryMonitor(queryMonitor{sup}))
	api := serve.New(cat, ex, logger)
	api.MustRegister(sup)
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	// The workers outlive the HTTP server by a little: they are stopped
	// (and commit) after it has shut down.
	supCtx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(supCtx) }()
	logger.Info("serving", "addr", ln.Addr().String(), "tls", certs != nil, "publicURL", *publicURL, "dataDir", *dataDir)
	fmt.Fprintf(stdout, "Listening on %s://%s\nPublic URL (in recipient profiles): %s\n", scheme, ln.Addr(), *publicURL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case serveErr = <-errc:
	case serveErr = <-supDone:
		srv.Close()
		return serveErr // the workers are stopped already
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	stopWorkers()
	if err := <-supDone; err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
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
	return exec.QueryStatus(st), ok
}

func (m queryMonitor) QueriesChanged() { m.Notify() }

func runToken(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, catalog.NewUserToken())
	return nil
}
