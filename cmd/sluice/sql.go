package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sluice-io/sluice/serve/client"
)

const sqlUsage = `Run SQL statements on a Sluice server and print the results.

Usage: sluice sql --server URL --token TOKEN (-e 'STATEMENTS' | -f FILE.sql) [--json]
                  [--ca-cert FILE.pem] [--profile-out FILE]

The token may also come from SLUICE_TOKEN. The whole text is parsed
first: a syntax error runs nothing. Then the statements run in order, each
committed on its own; the first that fails stops the script, and the
command exits 1 saying which statement failed (its number and line, a
caret under it), that the ones before it ran and committed (their output
is printed), that it changed nothing, and that the rest did not run. A
script is not one transaction (see docs/sql.md): to run it again, drop
what ran or use IF NOT EXISTS.

CREATE RECIPIENT and ALTER RECIPIENT ... ROTATE TOKEN return the recipient's
Delta Sharing profile, with its token, this once: --profile-out writes it to
FILE (mode 0600, never overwriting; with several recipients, FILE-<name>.ext
for each), for handing to the recipient by a private channel.

Examples:
  sluice sql --server http://127.0.0.1:8080 -e 'CREATE DATABASE sales; SHOW DATABASES'
  sluice sql --server http://127.0.0.1:8080 -f pipelines.sql --json
  sluice sql --server https://sluice:8443 --ca-cert ca.pem --profile-out acme.share -e 'CREATE RECIPIENT acme'
`

func runSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sql", sqlUsage, stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "server URL")
	token := fs.String("token", os.Getenv("SLUICE_TOKEN"), "API token (default $SLUICE_TOKEN)")
	inline := fs.String("e", "", "statements to run")
	file := fs.String("f", "", "file of statements to run")
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
	caCert := fs.String("ca-cert", "", "PEM file of the certificate authorities to trust for an https server (default: the system's)")
	profileOut := fs.String("profile-out", "", "write the recipient profile a statement returns to this file (mode 0600)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || (*inline == "") == (*file == "") {
		fmt.Fprintln(stderr, "sluice sql: give exactly one of -e STATEMENTS or -f FILE (see --help)")
		return errUsage
	}
	if *token == "" {
		fmt.Fprintln(stderr, "sluice sql: no token: pass --token or set SLUICE_TOKEN")
		return errUsage
	}
	if *profileOut != "" {
		// Refuse before running anything: a token cannot be issued twice.
		if _, err := os.Lstat(*profileOut); err == nil {
			fmt.Fprintf(stderr, "sluice sql: --profile-out %s exists: choose another file (profiles are never overwritten)\n", *profileOut)
			return errUsage
		}
	}
	c, err := client.New(*server, *token, *caCert)
	if err != nil {
		return err
	}
	sql := *inline
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		sql = string(b)
	}
	return c.RunSQL(ctx, sql, client.SQLOptions{JSON: *asJSON, ProfileOut: *profileOut}, stdout)
}
