package playbook

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

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

func (a *archive) set(name, content string) {
	if _, ok := a.files[name]; !ok {
		a.names = append(a.names, name)
	}
	a.files[name] = content
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
	files, _ := filepath.Glob("testdata/errors/*.txtar")
	if len(files) < 40 {
		t.Fatalf("only %d error cases", len(files))
	}
	l := NewLinter(nil)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			a := readArchive(t, f)
			src, ok := a.files["playbook.yaml"]
			if !ok {
				t.Fatal("no playbook.yaml")
			}
			p, diags := l.Load("playbook.yaml", []byte(src))
			got := diagText(diags)
			if *update {
				a.set("diagnostics", got)
				if err := os.WriteFile(f, a.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := a.files["diagnostics"]; got != want {
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
	files, _ := filepath.Glob("testdata/plans/*.txtar")
	if len(files) == 0 {
		t.Fatal("no plan cases")
	}
	l := NewLinter(nil)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			a := readArchive(t, f)
			p, diags := l.Load("playbook.yaml", []byte(a.files["playbook.yaml"]))
			if p == nil {
				t.Fatalf("did not compile:\n%s", diagText(diags))
			}
			got, err := plan.Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				a.set("plan.json", string(got))
				if w := diagText(diags); w != "" || a.files["warnings"] != "" {
					a.set("warnings", w)
				}
				if err := os.WriteFile(f, a.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := a.files["plan.json"]; string(got) != want {
				t.Errorf("plan differs\ngot:\n%s\nwant:\n%s", got, want)
			}
			if w := diagText(diags); w != a.files["warnings"] {
				t.Errorf("warnings differ\ngot:\n%s\nwant:\n%s", w, a.files["warnings"])
			}
			// The same file always gives the same bytes, and the plan survives a round trip.
			p2, _ := l.Load("playbook.yaml", []byte(a.files["playbook.yaml"]))
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
