package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/exec"
)

const sqlUsage = `Run SQL statements on a Sluice server and print the results.

Usage: sluice sql --server URL --token TOKEN (-e 'STATEMENTS' | -f FILE.sql) [--json]

The token may also come from SLUICE_TOKEN. Statements run in order; the
command stops at, and exits non-zero on, the first error, which it prints
with its position and a caret under the offending token.

Examples:
  sluice sql --server http://127.0.0.1:8080 -e 'CREATE DATABASE sales; SHOW DATABASES'
  sluice sql --server http://127.0.0.1:8080 -f pipelines.sql --json
`

func runSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sql", sqlUsage, stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "server URL")
	token := fs.String("token", os.Getenv("SLUICE_TOKEN"), "API token (default $SLUICE_TOKEN)")
	inline := fs.String("e", "", "statements to run")
	file := fs.String("f", "", "file of statements to run")
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
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
	sql := *inline
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		sql = string(b)
	}
	body, _ := json.Marshal(serve.StatementsRequest{SQL: sql})
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimRight(*server, "/")+"/api/v1/statements", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", *server, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if *asJSON {
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
		printResults(stdout, eb.Error.Results)
		msg := eb.Error.Code + ": " + eb.Error.Message
		if eb.Error.Caret != "" {
			msg += "\n" + strings.TrimRight(eb.Error.Caret, "\n")
		}
		return fmt.Errorf("%s", msg)
	}
	var ok serve.StatementsResponse
	if err := json.Unmarshal(raw, &ok); err != nil {
		return fmt.Errorf("server answer: %w", err)
	}
	printResults(stdout, ok.Results)
	return nil
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
