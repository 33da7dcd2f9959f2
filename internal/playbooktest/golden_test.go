package playbooktest

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata")

var durationRE = regexp.MustCompile(`\(\d+ms\)`)

// runDir runs every test file under dir the way parry test prints them, with paths relative to dir and
// durations replaced by (Nms).
func runDir(t *testing.T, r *Runner, dir string) string {
	t.Helper()
	files, untested, err := Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, path := range files {
		f, diags := r.Load(path)
		WriteDiags(&b, path, diags)
		if f == nil {
			continue
		}
		for _, c := range r.Selected(f) {
			WriteCase(&b, r.RunCase(context.Background(), f, c))
		}
	}
	for _, u := range untested {
		b.WriteString("?    " + u + " [no test file]\n")
	}
	out := strings.ReplaceAll(b.String(), dir+string(filepath.Separator), "")
	return durationRE.ReplaceAllString(out, "(Nms)")
}

// TestGolden runs each archive in testdata: its playbooks and test files are written to a directory, every
// test file is run, and what parry test would print must equal the archive's "output" file exactly.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	r := NewRunner(nil)
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			a, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			want, found := "", false
			for _, f := range a.Files {
				if f.Name == "output" {
					want, found = string(f.Data), true
					continue
				}
				p := filepath.Join(dir, f.Name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := runDir(t, r, dir)
			if *update {
				if !found {
					a.Files = append(a.Files, txtar.File{Name: "output"})
				}
				for i := range a.Files {
					if a.Files[i].Name == "output" {
						a.Files[i].Data = []byte(got)
					}
				}
				if err := os.WriteFile(path, txtar.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("output differs\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}
