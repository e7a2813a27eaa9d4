package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-io/sluice/serve/client"
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
	c, err := client.New(*server, *token, *caCert)
	if err != nil {
		return err
	}
	return c.Apply(ctx, pos, client.ApplyOptions{ProfileDir: *profileDir, ReadyFile: *readyFile, Stay: *stay}, stdout)
}
