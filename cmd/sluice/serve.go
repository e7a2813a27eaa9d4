package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/config"
)

const serveUsage = `Run the Sluice server: the SQL statements API (POST /api/v1/statements),
the Delta Sharing protocol for recipients (/delta-sharing/, with signed file
URLs under /files/), /healthz and /metrics, over the catalog in the data
directory (or in PostgreSQL, with --catalog); and one worker process per
running query (CREATE TABLE ... AS SELECT), restarted when it crashes.

Usage: sluice serve [--config sluice.yaml] [--data-dir DIR] [--addr HOST:PORT]
                    [--catalog postgres://USER@HOST:5432/DB?sslmode=verify-full
                     --catalog-password env:NAME|file:/PATH]
                    [--warehouse URI] [--policy FILE.rego ...]
                    [--tls-cert FILE --tls-key FILE] [--public-url URL]

On first start the server creates the user sluice_admin (role admin) and
prints its token once, unless SLUICE_BOOTSTRAP_TOKEN or the file named by
--bootstrap-token-file sets it (a token as 'sluice token' prints). Every decision is audited to DIR/audit.jsonl.

The catalog is SQLite in DIR/catalog.db unless --catalog names a PostgreSQL
database (docs/operations.md): its URL holds no password, which comes from
the reference --catalog-password gives, or PGPASSWORD, or ~/.pgpass.

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
	return serveConfig(ctx, cfg, stdout, stderr)
}

// serveConfig runs the server of cfg until ctx ends, printing the new
// bootstrap admin's token (once) and where it listens.
func serveConfig(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	srv, err := serve.New(ctx, cfg, serve.WithLogOutput(stderr))
	if err != nil {
		return err
	}
	if tok := srv.IssuedToken(); tok != "" {
		fmt.Fprintf(stdout, "Created user %s (role admin). Its token, shown this once:\n\n  %s\n\n", serve.BootstrapUser, tok)
	}
	fmt.Fprintf(stdout, "Listening on %s\nPublic URL (in recipient profiles): %s\n", srv.ListenURL(), srv.PublicURL())
	return srv.Run(ctx)
}
