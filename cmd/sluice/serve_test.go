package main

import (
	"bytes"
	"context"
	"io"
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

// startServe runs `sluice serve` in-process (with extra flags) and returns
// its URL and a stop function that waits for a clean exit.
func startServe(t *testing.T, dataDir string, extra ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, extra...), out, io.Discard)
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
