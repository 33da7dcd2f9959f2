package playbooktest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parry-soar/parry/internal/fileread"
	"github.com/parry-soar/parry/internal/playbook"
)

// IsTestFile says whether a file name is a playbook test file: NAME.test.yaml or NAME.test.yml.
func IsTestFile(name string) bool {
	ext := filepath.Ext(name)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return strings.HasSuffix(strings.TrimSuffix(name, ext), ".test") && len(name) > len(".test")+len(ext)
}

// Discover expands paths into the test files they name, sorted: directories are searched recursively
// (hidden ones skipped) for NAME.test.yaml files; a test file given directly is taken as is; a playbook
// given directly stands for the test file beside it, which must exist. Untested lists the playbooks found in
// directories that have no test file beside them.
func Discover(paths []string) (tests, untested []string, err error) {
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", p, fileread.StripPath(err))
		}
		if !info.IsDir() {
			name := filepath.Base(p)
			switch {
			case IsTestFile(name):
				tests = append(tests, p)
			case playbook.IsPlaybookFile(name):
				t := testFileFor(p)
				if t == "" {
					return nil, nil, fmt.Errorf("%s has no test file: write %s beside it", p, strings.TrimSuffix(p, filepath.Ext(p))+".test.yaml")
				}
				tests = append(tests, t)
			default:
				return nil, nil, fmt.Errorf("%s is neither a playbook nor a test file (NAME.test.yaml)", p)
			}
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
			switch {
			case IsTestFile(name):
				tests = append(tests, path)
			case playbook.IsPlaybookFile(name):
				if testFileFor(path) == "" {
					untested = append(untested, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("listing %s: %w", p, fileread.StripPath(err))
		}
	}
	slices.Sort(tests)
	slices.Sort(untested)
	return slices.Compact(tests), slices.Compact(untested), nil
}

// testFileFor returns the test file beside a playbook, or "".
func testFileFor(pb string) string {
	stem := strings.TrimSuffix(pb, filepath.Ext(pb))
	for _, ext := range []string{".test.yaml", ".test.yml"} {
		if info, err := os.Stat(stem + ext); err == nil && !info.IsDir() {
			return stem + ext
		}
	}
	return ""
}

// PlaybookFor returns the playbook a test file tests by its name (NAME.yaml or NAME.yml beside
// NAME.test.yaml), or "" when there is none.
func PlaybookFor(testFile string) string {
	base := filepath.Base(testFile)
	ext := filepath.Ext(base)
	name := strings.TrimSuffix(strings.TrimSuffix(base, ext), ".test")
	return findPlaybook(filepath.Dir(testFile), name)
}

func expectedPlaybook(testFile string) string {
	base := filepath.Base(testFile)
	ext := filepath.Ext(base)
	return filepath.Join(filepath.Dir(testFile), strings.TrimSuffix(strings.TrimSuffix(base, ext), ".test")+".yaml")
}

func findPlaybook(dir, name string) string {
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			return p
		}
	}
	return ""
}
