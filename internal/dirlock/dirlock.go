// Package dirlock gives a process exclusive use of a directory: an
// advisory lock (flock(2) on Unix) on a lock file inside it, which records
// the holder's pid.
//
// The lock belongs to the open file, not to the file's existence: it ends
// when the holder releases it or exits in any way, including SIGKILL or a
// crash, so a stale lock file never blocks the next holder. The file stays
// behind (owner-only, mode 0600) and is reused. The lock file descriptor is
// close-on-exec, so child processes (workers) do not hold the lock.
//
// Advisory locks only exclude processes that ask for them, on a local file
// system; on NFS, flock is emulated or absent.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the lock file's name inside the locked directory.
const FileName = "sluice.lock"

// ErrUnsupported is returned on a platform without file locks.
var ErrUnsupported = errors.New("directory locks are not supported on this platform")

// HeldError is returned when another process holds the lock.
type HeldError struct {
	Dir  string // the directory
	Path string // its lock file
	PID  int    // the holder's pid as its lock file records it; 0 if not (yet) written
}

func (e *HeldError) Error() string {
	holder := "another process (pid not recorded yet)"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("directory %s is locked by %s (lock file %s)", e.Dir, holder, e.Path)
}

// Lock is a held directory lock.
type Lock struct {
	f    *os.File
	path string
}

// Path is the lock file.
func (l *Lock) Path() string { return l.path }

// Acquire takes the lock on dir, which must exist, without waiting: if
// another process holds it, it returns a *HeldError naming that process.
// The lock file then records this process's pid.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock directory %s: %w", dir, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock directory %s: %w", dir, err)
	}
	if held {
		pid := readPID(f)
		f.Close()
		return nil, &HeldError{Dir: dir, Path: path, PID: pid}
	}
	// Ours now: owner-only whatever mode an older file had, and our pid.
	err = errors.Join(f.Chmod(0o600), f.Truncate(0))
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close() // releases the lock
		return nil, fmt.Errorf("lock directory %s: write %s: %w", dir, path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Check reports whether another process holds the lock on dir, without
// creating anything: nil if the directory, its lock file or the lock is
// missing, a *HeldError if it is held.
func Check(dir string) error {
	path := filepath.Join(dir, FileName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check lock of directory %s: %w", dir, err)
	}
	defer f.Close()
	held, err := tryLock(f)
	if err != nil {
		return fmt.Errorf("check lock of directory %s: %w", dir, err)
	}
	if held {
		return &HeldError{Dir: dir, Path: path, PID: readPID(f)}
	}
	return nil // closing f releases the lock just taken
}

// Release gives the lock up. The lock file stays, for the next holder.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// readPID reads the pid a lock file records; 0 if none.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
