package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/serve/tlsreload"
)

// syncBuffer is a bytes.Buffer safe to read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startServe runs `sluice serve` in-process, with extra flags, and returns
// its URL and a stop function that waits for a clean exit.
func startServe(t *testing.T, dataDir string, extra ...string) (string, func()) {
	t.Helper()
	return startServeArgs(t, append([]string{"--data-dir", dataDir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)...)
}

// startServeArgs runs `sluice serve ARGS...` in-process (see startServe).
func startServeArgs(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), out, errs)
	}()
	re := regexp.MustCompile(`Listening on (https?://\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], func() {
				cancel()
				if code := <-done; code != 0 {
					t.Fatalf("serve exited with %d; stderr:\n%s", code, errs.String())
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s\nstderr:\n%s", out.String(), errs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sql(t *testing.T, url, token, stmts string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), []string{"sql", "--server", url, "--token", token, "-e", stmts}, &o, &e)
	return code, o.String(), e.String()
}

// TestServeAndSQL: sluice serve with an operator-chosen bootstrap token,
// sluice sql against it, errors with position and caret, and the catalog
// intact after a restart.
func TestServeAndSQL(t *testing.T) {
	dir := t.TempDir()
	token := catalog.NewUserToken()
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", token)
	url, stop := startServe(t, dir)
	if code, out, errs := sql(t, url, token, "CREATE DATABASE sales; CREATE SCHEMA sales.eu; SHOW SCHEMAS IN sales"); code != 0 || !strings.Contains(out, "eu") {
		t.Fatalf("sql: %d\n%s\n%s", code, out, errs)
	}
	code, _, errs := sql(t, url, token, "CREATE DATABASE ok2;\nCREATE TABLE ;")
	if code != 1 || !strings.Contains(errs, "SYNTAX_ERROR: line 2:14") || !strings.Contains(errs, "^") {
		t.Fatalf("syntax error: exit %d, stderr:\n%s", code, errs)
	}
	if code, _, errs := sql(t, url, "slu_wrong", "SHOW DATABASES"); code != 1 || !strings.Contains(errs, "UNAUTHENTICATED") {
		t.Fatalf("bad token: exit %d %s", code, errs)
	}
	stop()

	url, stop = startServe(t, dir)
	defer stop()
	code, out, errs := sql(t, url, token, "SHOW DATABASES")
	if code != 0 {
		t.Fatalf("after restart: %d %s", code, errs)
	}
	if !strings.Contains(out, "sales") || strings.Contains(out, "ok2") {
		t.Fatalf("after restart SHOW DATABASES = %q (want sales, and not ok2 from the failed script)", out)
	}
	// The policy engine's metrics are on /metrics: the SHOW DATABASES above
	// made one allowed decision per database.
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`sluice_policy_decisions_total{outcome="allowed"}`, "sluice_policy_check_duration_seconds_bucket", `sluice_policy_shapes{state="specialised"}`, "sluice_policy_revision_info{revision="} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
}

// TestServeTLSAndProfiles: sluice serve over HTTPS with a self-signed
// certificate, sluice sql trusting it with --ca-cert, and a recipient's
// profile written by --profile-out with the derived public URL.
func TestServeTLSAndProfiles(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := tlsreload.SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, certPEM, 0o644)
	os.WriteFile(keyFile, keyPEM, 0o600)
	token := catalog.NewUserToken()
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", token)
	url, stop := startServe(t, filepath.Join(dir, "data"), "--tls-cert", certFile, "--tls-key", keyFile)
	defer stop()
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("listening on %s, want https", url)
	}
	sqlTLS := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(context.Background(), append([]string{"sql", "--server", url, "--token", token, "--ca-cert", certFile}, args...), &o, &e)
		return code, o.String(), e.String()
	}
	if code, out, errs := sqlTLS("-e", "SHOW DATABASES"); code != 0 || !strings.Contains(out, "0 databases") {
		t.Fatalf("sql over https: %d %s %s", code, out, errs)
	}
	if code, _, errs := sql(t, url, token, "SHOW DATABASES"); code == 0 || !strings.Contains(errs, "certificate") {
		t.Fatalf("sql without --ca-cert trusted a self-signed certificate: %d %s", code, errs)
	}

	profile := filepath.Join(dir, "acme.share")
	code, out, errs := sqlTLS("--profile-out", profile, "-e", "CREATE RECIPIENT acme WITH ('token.ttl' = '30d')")
	if code != 0 || !strings.Contains(out, "profile of recipient acme written to "+profile) || strings.Contains(out, catalog.RecipientTokenPrefix) {
		t.Fatalf("create recipient: %d\n%s\n%s", code, out, errs)
	}
	info, err := os.Stat(profile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("profile file: %v %v", info, err)
	}
	var p struct {
		ShareCredentialsVersion int
		Endpoint                string
		BearerToken             string
		ExpirationTime          string
	}
	raw, _ := os.ReadFile(profile)
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if p.ShareCredentialsVersion != 1 || p.Endpoint != url+"/delta-sharing/" || !strings.HasPrefix(p.BearerToken, catalog.RecipientTokenPrefix) || p.ExpirationTime == "" {
		t.Fatalf("profile = %s", raw)
	}
	// An existing profile is never overwritten, and nothing runs.
	code, _, errs = sqlTLS("--profile-out", profile, "-e", "ALTER RECIPIENT acme ROTATE TOKEN")
	if code != 2 || !strings.Contains(errs, "exists") {
		t.Fatalf("overwrite: %d %s", code, errs)
	}
	if again, _ := os.ReadFile(profile); !bytes.Equal(again, raw) {
		t.Fatal("profile overwritten")
	}
	// Several recipients: one file each.
	base := filepath.Join(dir, "p.share")
	if code, _, errs := sqlTLS("--profile-out", base, "-e", "ALTER RECIPIENT acme ROTATE TOKEN WITH ('grace' = '1h'); CREATE RECIPIENT globex"); code != 0 {
		t.Fatalf("two profiles: %s", errs)
	}
	for _, f := range []string{"p-acme.share", "p-globex.share"} {
		if info, err := os.Stat(filepath.Join(dir, f)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, info, err)
		}
	}
}

// TestServeConfigFile: --config supplies the data directory and address,
// a flag overrides the file's log level, and a bad file stops start-up
// with its position.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "from-file")
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\naddr: 127.0.0.1:0\nlog_level: verbose\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	token := catalog.NewUserToken()
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", token)
	// The file's log level is invalid: the flag must win over it.
	url, stop := startServeArgs(t, "--config", cfg, "--log-level", "warn")
	if code, out, errs := sql(t, url, token, "CREATE DATABASE cfg; SHOW DATABASES"); code != 0 || !strings.Contains(out, "cfg") {
		t.Fatalf("sql: %d\n%s\n%s", code, out, errs)
	}
	stop()
	if _, err := os.Stat(filepath.Join(dataDir, "catalog.db")); err != nil {
		t.Fatalf("the catalog is not in the file's data_dir: %v", err)
	}

	if err := os.WriteFile(cfg, []byte("data_dir: "+dataDir+"\nadress: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", cfg}, io.Discard, &stderr)
	want := "sluice serve: " + cfg + `:2:1: unknown key "adress" at the top level (known keys: addr, bootstrap_token_file, data_dir, http, log_level, policy, public_url, queries, sharing, storage, tls, upkeep)` + "\n"
	if code != 1 || stderr.String() != want {
		t.Fatalf("bad config: exit %d, stderr:\n%s\nwant:\n%s", code, stderr.String(), want)
	}
}

// TestServePolicyAllGrants: a policy module reads node.grants. By default
// the server passes it only the grants to the principal's roles; with
// --policy-all-grants (policy.all_grants) it sees every grant, so a deny
// rule on nodes granted to a "quarantine" role applies to everyone.
func TestServePolicyAllGrants(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "quarantine.rego")
	if err := os.WriteFile(mod, []byte(`package sluice.authz

deny contains msg if {
	some g in node.grants
	g.role == "quarantine"
	msg := sprintf("%s is quarantined", [node.fqn])
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	token := catalog.NewUserToken()
	t.Setenv("SLUICE_BOOTSTRAP_TOKEN", token)
	userToken := regexp.MustCompile(regexp.QuoteMeta(catalog.UserTokenPrefix) + `[A-Za-z0-9_-]+`)
	for _, all := range []bool{false, true} {
		args := []string{"--policy", mod}
		if all {
			args = append(args, "--policy-all-grants")
		}
		url, stop := startServe(t, filepath.Join(dir, fmt.Sprint(all)), args...)
		// The quarantine grant comes last: with every grant visible, the
		// deny rule applies to the admin too.
		code, out, errs := sql(t, url, token, `CREATE DATABASE d; CREATE ROLE reader; CREATE ROLE quarantine;
GRANT USAGE ON DATABASE d TO ROLE reader; CREATE USER bob; GRANT ROLE reader TO USER bob;
GRANT USAGE ON DATABASE d TO ROLE quarantine`)
		bob := userToken.FindString(out)
		if code != 0 || bob == "" {
			t.Fatalf("all_grants %v: setup: exit %d, no token for bob in\n%s\n%s", all, code, out, errs)
		}
		code, out, errs = sql(t, url, bob, "SHOW SCHEMAS IN d")
		switch {
		case all && (code != 1 || !strings.Contains(errs, "d is quarantined")):
			t.Errorf("all_grants: bob's SHOW SCHEMAS: exit %d, %s%s; want denied, d is quarantined", code, out, errs)
		case !all && code != 0:
			t.Errorf("default: bob's SHOW SCHEMAS: exit %d, %s; want allowed (the quarantine grant is not bob's)", code, errs)
		}
		stop()
	}
}
