//go:build !unix

package store

import (
	"errors"
	"os"
)

// ErrLocked is what Open returns, wrapped, when another process has the
// data directory open. Outside Unix the directory is not locked.
var ErrLocked = errors.New("store: data_dir is in use by another process")

func lockDir(string) (*os.File, error) { return nil, nil }
