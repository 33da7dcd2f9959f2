//go:build unix

package devserver

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errLocked reports that another process (or another server in this one) holds the lock.
var errLocked = errors.New("locked")

// lockFile takes an exclusive, non-blocking flock on path, creating it. The kernel
// drops the lock when the process dies, so a crash never leaves a stale lock behind.
// flock locks belong to the open file, so a second lock from the same process fails too.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// unlockFile releases the lock by closing the file; the lock file itself stays, as
// removing it would race with a process that just opened it.
func unlockFile(f *os.File) error {
	return f.Close()
}
