package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/serve/exec"
)

const serveUsage = `Run the Sluice server: the SQL statements API (POST /api/v1/statements),
/healthz and /metrics, over the catalog in --data-dir.

Usage: sluice serve [--config sluice.yaml] [--data-dir DIR] [--addr HOST:PORT] [--policy FILE.rego ...]

On first start the server creates the user sluice_admin (role admin) and
prints its token once, unless SLUICE_BOOTSTRAP_TOKEN sets it (a token as
'sluice token' prints). Every decision is audited to DIR/audit.jsonl.

Examples:
  sluice serve --data-dir /var/lib/sluice --addr 127.0.0.1:8080
  sluice serve --config /etc/sluice/sluice.yaml --log-level debug
  SLUICE_BOOTSTRAP_TOKEN=$(sluice token) sluice serve --policy deny-pii.rego

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
	logger, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	dataDir, warehouse := &cfg.DataDir, &cfg.Storage.Warehouse
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
	pol, err := policy.New(ctx, policy.WithSink(audit), policy.WithModuleFiles(cfg.Policy.Files...))
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
	ex := exec.New(cat, pol, exec.WithWarehouse(*warehouse))
	srv := &http.Server{Handler: serve.New(cat, ex, logger).Handler(), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	logger.Info("serving", "addr", ln.Addr().String(), "dataDir", *dataDir)
	fmt.Fprintf(stdout, "Listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

func runToken(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, catalog.NewUserToken())
	return nil
}
