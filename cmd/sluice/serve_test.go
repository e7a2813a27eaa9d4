package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
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

// startServe runs `sluice serve` in-process and returns its URL and a stop
// function that waits for a clean exit.
func startServe(t *testing.T, dataDir string) (string, func()) {
	t.Helper()
	return startServeArgs(t, "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--log-level", "warn")
}

// startServeArgs runs `sluice serve ARGS...` in-process (see startServe).
func startServeArgs(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), out, io.Discard)
	}()
	re := regexp.MustCompile(`Listening on (http://\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], func() {
				cancel()
				if code := <-done; code != 0 {
					t.Fatalf("serve exited with %d", code)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", out.String())
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
	want := "sluice serve: " + cfg + `:2:1: unknown key "adress" at the top level (known keys: addr, data_dir, log_level, policy, sharing, storage, tls)` + "\n"
	if code != 1 || stderr.String() != want {
		t.Fatalf("bad config: exit %d, stderr:\n%s\nwant:\n%s", code, stderr.String(), want)
	}
}
