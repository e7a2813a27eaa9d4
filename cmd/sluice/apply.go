package main

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
	"syscall"

	"github.com/sluice-io/sluice/serve"
	"github.com/sluice-io/sluice/serve/exec"
)

const applyUsage = `Apply every *.sql file of a folder to a Sluice server, in name order, and
write the Delta Sharing profile of each recipient a file creates into a
profile folder. For a deployment's pipelines folder, run at every start (the
docker-compose stack's init service does): write the files with IF NOT
EXISTS (CREATE ... IF NOT EXISTS, ALTER SHARE ... ADD TABLE IF NOT EXISTS;
GRANT is idempotent) so a second run changes nothing and rotates no token.

Usage: sluice apply --server URL (--token TOKEN | --token-file FILE)
                    [--profile-dir DIR] [--ca-cert FILE.pem]
                    [--ready-file FILE] [--stay] FOLDER|FILE.sql...

A recipient's profile goes to DIR/<recipient>.share (mode 0600; run as root,
the file is given to the owner of DIR, so the user who made DIR can read it).
A profile is returned only when the recipient is created, so an existing
file is only replaced after the catalog was wiped and the recipient made
anew. The command stops at the first file that fails, naming it.

With --stay it keeps running once the files are applied (until SIGTERM),
and --ready-file marks that moment for a health check: Docker Compose's
'up --wait' cannot wait for a one-shot service that no other service
depends on, so the stack's init service applies, then idles, healthy.

Examples:
  sluice apply --server http://127.0.0.1:8080 --token-file admin_token --profile-dir profiles pipelines/
  SLUICE_TOKEN=... sluice apply --server http://sluice:8080 pipelines/orders.sql
`

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("apply", applyUsage, stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "server URL")
	token := fs.String("token", os.Getenv("SLUICE_TOKEN"), "API token (default $SLUICE_TOKEN)")
	tokenFile := fs.String("token-file", "", "file holding the API token (a compose secret, for example)")
	profileDir := fs.String("profile-dir", "", "folder for the profiles of the recipients created (default: the current folder)")
	caCert := fs.String("ca-cert", "", "PEM file of the certificate authorities to trust for an https server (default: the system's)")
	readyFile := fs.String("ready-file", "", "create this file once every file is applied (for a health check: sluice healthcheck file://FILE)")
	stay := fs.Bool("stay", false, "once applied, keep running until stopped (so that docker compose up --wait can wait for it)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "sluice apply: give a folder of *.sql files or the files (see --help)")
		return errUsage
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		*token = strings.TrimSpace(string(b))
	}
	if *token == "" {
		fmt.Fprintln(stderr, "sluice apply: no token: pass --token-file, --token or set SLUICE_TOKEN")
		return errUsage
	}
	files, err := sqlFiles(pos)
	if err != nil {
		return err
	}
	if *readyFile != "" {
		// Left by an earlier run of a restarted container: not ready yet.
		if err := os.Remove(*readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	client, err := httpClient(*caCert)
	if err != nil {
		return err
	}
	dir := *profileDir
	if dir == "" {
		dir = "."
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		resp, raw, err := postStatements(ctx, client, *server, *token, string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		fmt.Fprintf(stdout, "-- %s\n", f)
		var body struct {
			serve.StatementsResponse
			serve.ErrorBody
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			return fmt.Errorf("%s: server answered %s: %s", f, resp.Status, bytes.TrimSpace(raw))
		}
		results := append(body.Results, body.Error.Results...)
		perr := saveProfiles(stdout, dir, results)
		printResults(stdout, results)
		if resp.StatusCode != http.StatusOK {
			msg := body.Error.Code + ": " + body.Error.Message
			if body.Error.Caret != "" {
				msg += "\n" + strings.TrimRight(body.Error.Caret, "\n")
			}
			return errors.Join(fmt.Errorf("%s: %s", f, msg), perr)
		}
		if perr != nil {
			return perr
		}
	}
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte("applied\n"), 0o600); err != nil {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	if *stay {
		fmt.Fprintf(stdout, "%d files applied; staying until stopped\n", len(files))
		<-ctx.Done()
	}
	return nil
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

// saveProfiles writes each profile among results to dir/<recipient>.share
// (mode 0600, replacing the file atomically); see storeProfiles.
func saveProfiles(stdout io.Writer, dir string, results []exec.Result) error {
	dest := func(recipient string) string { return filepath.Join(dir, recipient+".share") }
	return storeProfiles(stdout, results, dest, writeOwnerOnly)
}

// writeOwnerOnly replaces path with data, mode 0600, through a temporary
// file in the same folder. Run as root, it gives the file to the owner of
// the folder.
func writeOwnerOnly(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if os.Geteuid() == 0 {
		if st, err := os.Stat(filepath.Dir(path)); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				if err := f.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
					f.Close()
					return err
				}
			}
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
