//go:build unix

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/dirlock"
)

// TestServeDataDirLock: while a server runs on a data directory, a second
// `sluice serve` and a `sluice demo` on it fail at once, naming the
// directory, the running server's pid and the fix, and touch nothing;
// once the first server stops, the directory can be served again.
func TestServeDataDirLock(t *testing.T) {
	dir := t.TempDir()
	_, stop := startServe(t, dir)
	lockFile := filepath.Join(dir, dirlock.FileName)
	if fi, err := os.Stat(lockFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file %s: %v %v, want mode 0600", lockFile, fi, err)
	}
	want := []string{"data directory " + dir + " is in use by another sluice server", "pid " + strconv.Itoa(os.Getpid()),
		"lock file " + lockFile, "stop that server first, or give this one another --data-dir"}
	for _, args := range [][]string{
		{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"},
		{"demo", "--data-dir", dir, "--addr", "127.0.0.1:0"},
	} {
		var out, errs syncBuffer
		start := time.Now()
		// Without the lock the command would serve: the timeout ends it
		// (exit 0) and the test fails instead of hanging.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code := run(ctx, args, &out, &errs)
		cancel()
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", args[0], code, out.String(), errs.String())
		}
		for _, w := range want {
			if !strings.Contains(errs.String(), w) {
				t.Errorf("%s: stderr %q does not say %q", args[0], errs.String(), w)
			}
		}
		if strings.Contains(out.String(), "Listening") || strings.Contains(out.String(), "token") {
			t.Errorf("%s: the refused command started something:\n%s", args[0], out.String())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: refused after %v, want at once", args[0], d)
		}
	}
	stop()
	_, stop = startServe(t, dir)
	stop()
}

// TestServeDataDirLockAfterKill: the lock of a server killed with SIGKILL
// (which runs no cleanup and leaves its lock file) does not block the
// next server on the directory.
func TestServeDataDirLockAfterKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--data-dir", dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "SLUICE_BOOTSTRAP_TOKEN=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	listening := false
	for !listening && sc.Scan() {
		listening = strings.HasPrefix(sc.Text(), "Listening on ")
	}
	if !listening {
		t.Fatalf("the server process did not start: %v", sc.Err())
	}
	var errs syncBuffer
	if code := run(context.Background(), []string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, &errs, &errs); code != 1 ||
		!strings.Contains(errs.String(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("serve beside the server process: exit %d, %s", code, errs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("server process: %v, want killed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dirlock.FileName)); err != nil {
		t.Fatalf("the killed server's lock file: %v (want it left behind)", err)
	}
	_, stop := startServe(t, dir)
	stop()
}
