//go:build !unix && !windows

package dirlock

import "os"

// tryLock has no implementation here: locking fails with ErrUnsupported
// rather than pretending to exclude anyone.
func tryLock(*os.File) (bool, error) { return false, ErrUnsupported }
