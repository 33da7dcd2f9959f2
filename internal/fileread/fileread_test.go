package fileread

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadCapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small, exact, big, empty := write("small", "abc"), write("exact", "abcd"), write("big", "abcde"), write("empty", "")
	for _, tc := range []struct {
		path, want, err string
	}{
		{small, "abc", ""},
		{exact, "abcd", ""},
		{big, "", big + " is larger than the limit of 4 bytes"},
		{empty, "", ""},
		{filepath.Join(dir, "gone"), "", "reading " + filepath.Join(dir, "gone") + ": no such file or directory"},
		{dir, "", "reading " + dir + ": is a directory"},
	} {
		data, err := ReadCapped(tc.path, 4)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("%s: error %q, want %q", tc.path, got, tc.err)
		}
		if err == nil && (string(data) != tc.want || data == nil) {
			t.Errorf("%s: got %q", tc.path, data)
		}
	}
	_, err := ReadCapped(big, 4)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Path != big || tl.Limit != 4 {
		t.Errorf("not a TooLargeError: %v", err)
	}
	if _, err := ReadCapped(filepath.Join(dir, "gone"), 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(ErrNotExist) is false for %v", err)
	}
}

func TestStripPath(t *testing.T) {
	t.Parallel()
	_, err := os.Open("/nonexistent/x")
	if got := StripPath(err).Error(); got != "no such file or directory" {
		t.Errorf("got %q", got)
	}
	other := errors.New("other")
	if StripPath(other) != other {
		t.Error("changed an error that is not a path error")
	}
	if StripPath(nil) != nil {
		t.Error("nil")
	}
}
