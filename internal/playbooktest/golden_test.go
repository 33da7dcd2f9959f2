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
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata")

// archive is a txtar archive: a comment, then files introduced by "-- name --" lines.
type archive struct {
	comment string
	names   []string
	files   map[string]string
}

func readArchive(t *testing.T, path string) *archive {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := &archive{files: map[string]string{}}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur == "" {
			a.comment = b.String()
		} else {
			a.files[cur] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if strings.HasPrefix(trimmed, "-- ") && strings.HasSuffix(trimmed, " --") && len(trimmed) > 6 {
			flush()
			cur = trimmed[3 : len(trimmed)-3]
			a.names = append(a.names, cur)
			continue
		}
		b.WriteString(line)
	}
	flush()
	return a
}

func (a *archive) format() []byte {
	var b bytes.Buffer
	b.WriteString(a.comment)
	for _, n := range a.names {
		b.WriteString("-- " + n + " --\n")
		c := a.files[n]
		b.WriteString(c)
		if c != "" && !strings.HasSuffix(c, "\n") {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

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
			a := readArchive(t, path)
			dir := t.TempDir()
			for _, name := range a.names {
				if name == "output" {
					continue
				}
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(a.files[name]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := runDir(t, r, dir)
			if *update {
				if _, ok := a.files["output"]; !ok {
					a.names = append(a.names, "output")
				}
				a.files["output"] = got
				if err := os.WriteFile(path, a.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := a.files["output"]; got != want {
				t.Errorf("output differs\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}
