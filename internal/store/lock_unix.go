//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked is what Open returns, wrapped, when another process has the
// data directory open: two embedded servers on one file store would
// corrupt it.
var ErrLocked = errors.New("store: data_dir is in use by another process")

// lockDir takes an exclusive flock on dir/holdfast.lock, held until the
// returned file is closed (or the process dies, when the kernel drops it:
// a process killed with SIGKILL leaves no stale lock).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "holdfast.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, err
	}
	return f, nil
}
