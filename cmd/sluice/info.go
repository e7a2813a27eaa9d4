package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/serve/client"
)

const versionUsage = `Print the version of this binary and the commit it was built from.

Usage: sluice version

A binary built without version information prints "dev". Release and
container builds stamp both with -ldflags (see the Dockerfile).
`

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noArgs(newFlagSet("version", versionUsage, stderr), args, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// versionLine is "sluice VERSION", with " (commit COMMIT)" when stamped.
func versionLine() string {
	if commit == "" {
		return "sluice " + version
	}
	return fmt.Sprintf("sluice %s (commit %s)", version, commit)
}

const tokenUsage = `Print a new random API token, for SLUICE_BOOTSTRAP_TOKEN or a token file.

Usage: sluice token

Examples:
  SLUICE_BOOTSTRAP_TOKEN=$(sluice token) sluice serve
  (umask 077; sluice token > admin_token)
`

func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if err := noArgs(newFlagSet("token", tokenUsage, stderr), args, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, catalog.NewUserToken())
	return nil
}

// noArgs parses the flags of a command that takes no arguments.
func noArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "sluice %s: takes no arguments (see --help)\n", fs.Name())
		return errUsage
	}
	return nil
}

const healthcheckUsage = `Check that a Sluice server is up: GET URL (URL/healthz when URL has no
path) and exit 0 on a 200 answer, 1 otherwise. For container health checks:
the image has no curl. A file:///PATH URL is healthy when the file exists
(as 'sluice apply --ready-file' makes it).

Usage: sluice healthcheck [--timeout D] URL

Examples:
  sluice healthcheck http://127.0.0.1:8080
  sluice healthcheck --timeout 2s http://localhost:8080/healthz
  sluice healthcheck file:///tmp/applied
`

func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", healthcheckUsage, stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "sluice healthcheck: give one URL, such as http://127.0.0.1:8080 (see --help)")
		return errUsage
	}
	line, err := client.Healthcheck(ctx, pos[0], *timeout)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, line)
	return nil
}
