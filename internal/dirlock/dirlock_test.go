package dirlock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary a lock holder: it takes the lock on the
// directory the variable names, prints "locked" and waits to be killed.
const helperEnv = "SLUICE_DIRLOCK_HOLDER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		if _, err := Acquire(dir); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(4)
	}
	os.Exit(m.Run())
}

// wantHeld asserts err is a *HeldError for dir naming pid.
func wantHeld(t *testing.T, err error, dir string, pid int) {
	t.Helper()
	var he *HeldError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want a *HeldError", err)
	}
	if he.Dir != dir || he.PID != pid || he.Path != filepath.Join(dir, FileName) {
		t.Fatalf("HeldError = %+v, want dir %s, pid %d", he, dir, pid)
	}
	if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "process "+strconv.Itoa(pid)) {
		t.Fatalf("message %q does not name the directory and pid %d", msg, pid)
	}
}

// TestAcquireExcludes: while held, a second Acquire (another open file,
// as another process would have) and Check fail naming the holder; the
// lock file is owner-only and holds the pid; after Release the lock can
// be taken again.
func TestAcquireExcludes(t *testing.T) {
	dir := t.TempDir()
	if err := Check(dir); err != nil {
		t.Fatalf("Check of a directory never locked: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check created the lock file: %v", err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	wantHeld(t, err, dir, os.Getpid())
	wantHeld(t, Check(dir), dir, os.Getpid())
	fi, err := os.Stat(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(l.Path()); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("lock file holds %q, want the pid", b)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir); err != nil {
		t.Fatalf("Check after Release: %v", err)
	}
	acquireRelease(t, dir, "after Release")
}

// acquireRelease asserts the lock on dir is free: taken, then released.
func acquireRelease(t *testing.T, dir, when string) {
	t.Helper()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire %s: %v", when, err)
	}
	l.Release()
}

// TestAcquireReusesOldFile: a lock file left behind with a wider mode and
// another pid is taken over: mode 0600, this pid only.
func TestAcquireReusesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte("99999999\nleftover text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	fi, _ := os.Stat(path)
	b, _ := os.ReadFile(path)
	if fi.Mode().Perm() != 0o600 || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("lock file %v %q, want 0600 holding only this pid", fi.Mode().Perm(), b)
	}
}

// TestLockEndsWithKilledHolder: another process holding the lock is named
// by its pid; once it is killed with SIGKILL (no cleanup runs) the lock is
// free and Acquire succeeds at once, over the file it left.
func TestLockEndsWithKilledHolder(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}
	_, err = Acquire(dir)
	wantHeld(t, err, dir, cmd.Process.Pid)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("holder exit: %v, want killed", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, FileName)); string(b) != strconv.Itoa(cmd.Process.Pid)+"\n" {
		t.Fatalf("the killed holder's lock file holds %q, want its pid (left behind)", b)
	}
	acquireRelease(t, dir, "after the holder was killed")
}

// TestAcquireMissingDir: the directory must exist; the error names it.
func TestAcquireMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothere")
	_, err := Acquire(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist naming %s", err, dir)
	}
}
