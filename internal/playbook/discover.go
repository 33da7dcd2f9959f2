package playbook

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parry-soar/parry/internal/fileread"
)

// PlaybookFiles expands paths into the playbook files they name, sorted. A file named explicitly is
// always included, whatever its extension.
func PlaybookFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, fileread.StripPath(err))
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != p && strings.HasPrefix(name, ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if IsPlaybookFile(name) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", p, fileread.StripPath(err))
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// IsPlaybookFile says whether a file name looks like a playbook: .yaml or .yml, but not a NAME.test.yaml
// test file.
func IsPlaybookFile(name string) bool {
	ext := filepath.Ext(name)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(name, ext), ".test")
}
