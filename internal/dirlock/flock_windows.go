//go:build windows

package dirlock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLock takes an exclusive lock on f without blocking; held reports that
// another open file holds it. Windows byte-range locks are mandatory, so
// the lock covers one byte far past the pid, which stays readable.
func tryLock(f *os.File) (held bool, err error) {
	ol := &windows.Overlapped{Offset: 0, OffsetHigh: 0x7fffffff}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return true, nil
	}
	return false, err
}
