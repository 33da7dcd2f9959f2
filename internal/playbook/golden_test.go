package playbook

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/parry-soar/parry/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// readArchive reads a txtar archive of test files.
func readArchive(t *testing.T, path string) *txtar.Archive {
	t.Helper()
	a, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// file returns the content of the named file of an archive, and whether it is there.
func file(a *txtar.Archive, name string) (string, bool) {
	for _, f := range a.Files {
		if f.Name == name {
			return string(f.Data), true
		}
	}
	return "", false
}

// setFile replaces the named file's content, or appends the file.
func setFile(a *txtar.Archive, name, content string) {
	for i := range a.Files {
		if a.Files[i].Name == name {
			a.Files[i].Data = []byte(content)
			return
		}
	}
	a.Files = append(a.Files, txtar.File{Name: name, Data: []byte(content)})
}

func diagText(diags []Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.String())
		b.WriteString("\n")
	}
	return b.String()
}

// TestGoldenDiagnostics: each testdata/errors/*.txtar holds playbook.yaml and the exact diagnostics lint
// prints for it (message, line and column).
func TestGoldenDiagnostics(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/errors/*.txtar")
	if len(files) < 40 {
		t.Fatalf("only %d error cases", len(files))
	}
	l := NewLinter(nil)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			a := readArchive(t, f)
			src, ok := file(a, "playbook.yaml")
			if !ok {
				t.Fatal("no playbook.yaml")
			}
			p, diags := l.Load("playbook.yaml", []byte(src))
			got := diagText(diags)
			if *update {
				setFile(a, "diagnostics", got)
				if err := os.WriteFile(f, txtar.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want, _ := file(a, "diagnostics"); got != want {
				t.Errorf("diagnostics differ\ngot:\n%s\nwant:\n%s", got, want)
			}
			if got == "" {
				t.Error("an error case without diagnostics")
			}
			if p != nil && strings.Contains(got, ": error: ") {
				t.Error("a plan was produced despite errors")
			}
		})
	}
}

// TestGoldenPlans: each testdata/plans/*.txtar holds playbook.yaml and the exact plan JSON it compiles to
// (and its warnings, if any).
func TestGoldenPlans(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/plans/*.txtar")
	if len(files) == 0 {
		t.Fatal("no plan cases")
	}
	l := NewLinter(nil)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			a := readArchive(t, f)
			src, _ := file(a, "playbook.yaml")
			warnings, _ := file(a, "warnings")
			p, diags := l.Load("playbook.yaml", []byte(src))
			if p == nil {
				t.Fatalf("did not compile:\n%s", diagText(diags))
			}
			got, err := plan.Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				setFile(a, "plan.json", string(got))
				if w := diagText(diags); w != "" || warnings != "" {
					setFile(a, "warnings", w)
				}
				if err := os.WriteFile(f, txtar.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want, _ := file(a, "plan.json"); string(got) != want {
				t.Errorf("plan differs\ngot:\n%s\nwant:\n%s", got, want)
			}
			if w := diagText(diags); w != warnings {
				t.Errorf("warnings differ\ngot:\n%s\nwant:\n%s", w, warnings)
			}
			// The same file always gives the same bytes, and the plan survives a round trip.
			p2, _ := l.Load("playbook.yaml", []byte(src))
			again, _ := plan.Encode(p2)
			decoded, err := plan.Decode(got)
			if err != nil {
				t.Fatal(err)
			}
			round, _ := plan.Encode(decoded)
			if !bytes.Equal(got, again) || !bytes.Equal(got, round) {
				t.Error("plan bytes are not stable")
			}
		})
	}
}
