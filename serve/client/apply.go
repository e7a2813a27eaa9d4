package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluice-io/sluice/serve"
)

// ApplyOptions say where Apply leaves what it makes.
type ApplyOptions struct {
	// ProfileDir is the folder of the profiles of the recipients created
	// (default: the current folder).
	ProfileDir string
	// ReadyFile, when set, is removed first and created once every file
	// is applied (for a health check).
	ReadyFile string
	// Stay keeps Apply running, once done, until ctx ends.
	Stay bool
}

// Apply runs each of files (folders stand for their *.sql files, in name
// order) on the server, one request per file, printing the results and
// saving the profiles of the recipients created (SaveProfiles). The first
// file that fails stops it, naming the file.
func (c *Client) Apply(ctx context.Context, args []string, opts ApplyOptions, stdout io.Writer) error {
	files, err := sqlFiles(args)
	if err != nil {
		return err
	}
	if opts.ReadyFile != "" {
		// Left by an earlier run of a restarted container: not ready yet.
		if err := os.Remove(opts.ReadyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	dir := opts.ProfileDir
	if dir == "" {
		dir = "."
	}
	for _, f := range files {
		if err := c.applyFile(ctx, f, dir, stdout); err != nil {
			return err
		}
	}
	if opts.ReadyFile != "" {
		if err := os.WriteFile(opts.ReadyFile, []byte("applied\n"), 0o600); err != nil {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	if opts.Stay {
		fmt.Fprintf(stdout, "%d files applied; staying until stopped\n", len(files))
		<-ctx.Done()
	}
	return nil
}

// applyFile runs one file, saving its profiles to dir.
func (c *Client) applyFile(ctx context.Context, f, dir string, stdout io.Writer) error {
	b, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	ans, err := c.Post(ctx, string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", f, err)
	}
	fmt.Fprintf(stdout, "-- %s\n", f)
	var body struct {
		serve.StatementsResponse
		serve.ErrorBody
	}
	if err := json.Unmarshal(ans.Body, &body); err != nil {
		return fmt.Errorf("%s: server answered %s: %s", f, ans.Status, bytes.TrimSpace(ans.Body))
	}
	results := append(body.Results, body.Error.Results...)
	perr := SaveProfiles(stdout, dir, results)
	PrintResults(stdout, results)
	if ans.StatusCode != http.StatusOK {
		msg := body.Error.Code + ": " + body.Error.Message
		if body.Error.Caret != "" {
			msg += "\n" + strings.TrimRight(body.Error.Caret, "\n")
		}
		return errors.Join(fmt.Errorf("%s: %s", f, msg), perr)
	}
	return perr
}

// sqlFiles expands folders into their *.sql files, in name order.
func sqlFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		m, err := filepath.Glob(filepath.Join(a, "*.sql"))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("folder %s has no *.sql file", a)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}
