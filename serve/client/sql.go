package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/exec"
)

// SQLOptions say how RunSQL shows an answer.
type SQLOptions struct {
	// JSON prints the server's JSON answer as it is.
	JSON bool
	// ProfileOut, when set, is where the recipient profiles of the answer
	// go (see WriteProfiles); their tokens are not printed then.
	ProfileOut string
}

// RunSQL runs sql on the server and prints the results to stdout: each
// statement's message and table, or the JSON answer. A failed statement
// is an error saying which statement failed, with a caret under it, and
// what became of the others; the results of those that ran are printed
// first.
func (c *Client) RunSQL(ctx context.Context, sql string, opts SQLOptions, stdout io.Writer) error {
	ans, err := c.Post(ctx, sql)
	if err != nil {
		return err
	}
	if opts.JSON {
		if opts.ProfileOut != "" {
			var both struct {
				serve.StatementsResponse
				serve.ErrorBody
			}
			json.Unmarshal(ans.Body, &both)
			if err := WriteProfiles(io.Discard, opts.ProfileOut, append(both.Results, both.Error.Results...)); err != nil {
				return err
			}
		}
		stdout.Write(ans.Body)
		if ans.StatusCode != http.StatusOK {
			return fmt.Errorf("server answered %s", ans.Status)
		}
		return nil
	}
	if ans.StatusCode != http.StatusOK {
		var eb serve.ErrorBody
		if json.Unmarshal(ans.Body, &eb) != nil {
			return fmt.Errorf("server answered %s: %s", ans.Status, bytes.TrimSpace(ans.Body))
		}
		if err := WriteProfiles(stdout, opts.ProfileOut, eb.Error.Results); err != nil {
			return err
		}
		PrintResults(stdout, eb.Error.Results)
		return errors.New(Failure(eb.Error))
	}
	var ok serve.StatementsResponse
	if err := json.Unmarshal(ans.Body, &ok); err != nil {
		return fmt.Errorf("server answer: %w", err)
	}
	if err := WriteProfiles(stdout, opts.ProfileOut, ok.Results); err != nil {
		return err
	}
	PrintResults(stdout, ok.Results)
	return nil
}

// Failure renders an error answer: the error with its caret and, for a
// script that had begun to run, which statement failed and what became of
// the others.
func Failure(e serve.APIError) string {
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

// PrintResults prints each statement's message and table.
func PrintResults(w io.Writer, results []exec.Result) {
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
