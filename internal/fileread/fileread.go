// Package fileread reads the files people edit (playbooks, their tests, parry.yaml) with a size cap, and
// words file errors for messages that name the file themselves.
package fileread

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// TooLargeError is a file larger than a reader allows.
type TooLargeError struct {
	Path  string
	Limit int64 // bytes
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the limit of %d bytes", e.Path, e.Limit)
}

// ReadCapped reads the file at path when it holds at most limit bytes; a larger file is a *TooLargeError,
// found without reading more than limit+1 bytes of it. Other errors read "reading PATH: REASON" and wrap
// the reason, so errors.Is(err, fs.ErrNotExist) still works. An empty file gives an empty, non-nil slice.
func ReadCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, StripPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, StripPath(err))
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// StripPath returns the reason inside an *fs.PathError ("no such file or directory"), without the
// operation and path it adds, for a message that names the path already; other errors are returned as
// they are.
func StripPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
