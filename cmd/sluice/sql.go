package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/exec"
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
	client, err := httpClient(*caCert)
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
	resp, raw, err := postStatements(ctx, client, *server, *token, sql)
	if err != nil {
		return err
	}
	if *asJSON {
		if *profileOut != "" {
			var both struct {
				serve.StatementsResponse
				serve.ErrorBody
			}
			json.Unmarshal(raw, &both)
			if err := writeProfiles(io.Discard, *profileOut, append(both.Results, both.Error.Results...)); err != nil {
				return err
			}
		}
		stdout.Write(raw)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("server answered %s", resp.Status)
		}
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		var eb serve.ErrorBody
		if json.Unmarshal(raw, &eb) != nil {
			return fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(raw))
		}
		if err := writeProfiles(stdout, *profileOut, eb.Error.Results); err != nil {
			return err
		}
		printResults(stdout, eb.Error.Results)
		return errors.New(failure(eb.Error))
	}
	var ok serve.StatementsResponse
	if err := json.Unmarshal(raw, &ok); err != nil {
		return fmt.Errorf("server answer: %w", err)
	}
	if err := writeProfiles(stdout, *profileOut, ok.Results); err != nil {
		return err
	}
	printResults(stdout, ok.Results)
	return nil
}

// failure renders an error answer: the error with its caret and, for a
// script that had begun to run, which statement failed and what became of
// the others.
func failure(e serve.APIError) string {
	msg := e.Code + ": " + e.Message
	if e.StatementCount > 1 {
		msg = fmt.Sprintf("statement %d of %d (line %d:%d) failed: %s", e.StatementIndex, e.StatementCount, e.Line, e.Column, msg)
	}
	if e.Caret != "" {
		msg += "\n" + strings.TrimRight(e.Caret, "\n")
	}
	if e.StatementIndex == 0 {
		return msg + "\nno statement ran"
	}
	var parts []string
	if before := e.StatementIndex - 1; before > 0 {
		parts = append(parts, statementRange(1, before)+" ran and committed (output above)")
	}
	if e.Committed {
		parts = append(parts, fmt.Sprintf("statement %d committed, but what follows its commit failed (see the error)", e.StatementIndex))
	} else {
		parts = append(parts, fmt.Sprintf("statement %d changed nothing", e.StatementIndex))
	}
	if e.NotRun != nil && *e.NotRun > 0 {
		parts = append(parts, statementRange(e.StatementIndex+1, e.StatementIndex+*e.NotRun)+" did not run")
	}
	return msg + "\n" + strings.Join(parts, "; ")
}

// statementRange renders "statement 3" or "statements 3-5".
func statementRange(from, to int) string {
	if from == to {
		return fmt.Sprintf("statement %d", from)
	}
	return fmt.Sprintf("statements %d-%d", from, to)
}

// httpClient trusts the certificate authorities in caFile, if given.
func httpClient(caFile string) (*http.Client, error) {
	c := &http.Client{Timeout: 5 * time.Minute}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", caFile)
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return c, nil
}

// writeProfiles writes the profiles among results to path (mode 0600, never
// overwriting), or path-<recipient>.ext each when there are several, and
// replaces their tokens in the results by where they went. If a file
// cannot be written, the profile is printed instead: the token would be
// lost otherwise.
func writeProfiles(stdout io.Writer, path string, results []exec.Result) error {
	if path == "" {
		return nil
	}
	n := 0
	for _, r := range results {
		if len(r.Profile) > 0 {
			n++
		}
	}
	dest := func(recipient string) string {
		if n > 1 {
			ext := filepath.Ext(path)
			return strings.TrimSuffix(path, ext) + "-" + recipient + ext
		}
		return path
	}
	return storeProfiles(stdout, results, dest, writeNew)
}

// storeProfiles writes each profile among results with write to the file
// dest names for its recipient, and replaces its token in the results by
// where it went. A profile that cannot be written is printed in the
// error: its token would be lost otherwise.
func storeProfiles(stdout io.Writer, results []exec.Result, dest func(recipient string) string, write func(path string, data []byte) error) error {
	var errs []error
	for i := range results {
		r := &results[i]
		if len(r.Profile) == 0 || len(r.Rows) == 0 || len(r.Rows[0]) == 0 {
			continue
		}
		recipient := strings.NewReplacer("/", "_", "\\", "_").Replace(r.Rows[0][0])
		out := dest(recipient)
		if err := write(out, append(bytes.TrimSpace(r.Profile), '\n')); err != nil {
			errs = append(errs, fmt.Errorf("profile of recipient %s not written (%w); here it is, store it now:\n%s", recipient, err, r.Profile))
			continue
		}
		fmt.Fprintf(stdout, "profile of recipient %s written to %s\n", recipient, out)
		r.Profile = nil
		for j, c := range r.Columns {
			if c == "token" {
				r.Rows[0][j] = "(in " + out + ")"
			}
		}
	}
	return errors.Join(errs...)
}

// writeNew creates path with mode 0600 and data; it fails if path exists.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printResults prints each statement's message and table.
func printResults(w io.Writer, results []exec.Result) {
	for _, r := range results {
		if r.Message != "" {
			fmt.Fprintln(w, r.Message)
		}
		if len(r.Columns) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join(r.Columns, "\t"))
			for _, row := range r.Rows {
				fmt.Fprintln(tw, strings.Join(row, "\t"))
			}
			tw.Flush()
		}
	}
}

// postStatements sends sql to the statements API of server and returns the
// response (its body already read) and the body.
func postStatements(ctx context.Context, client *http.Client, server, token, sql string) (*http.Response, []byte, error) {
	body, _ := json.Marshal(serve.StatementsRequest{SQL: sql})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(server, "/")+"/api/v1/statements", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("server %s: %w", server, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("server %s: %w", server, err)
	}
	return resp, raw, nil
}
