package playbook

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTooManyDiagnostics(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: x\nsteps:\n  - id: a\n    wait: 1m\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	_, diags := Load("f.yaml", []byte(b.String()))
	if len(diags) != MaxDiagnostics+1 || diags[MaxDiagnostics].String() != "f.yaml:205:1: error: too many problems: only the first 200 are shown" {
		t.Fatalf("%d diagnostics, last %v", len(diags), diags[len(diags)-1])
	}
}

func TestLintPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "name: b\nsteps:\n  - id: a\n    wait: 1m\n")
	write("a/c.yml", "name: c\nsteps: []\n")
	write("a/c.test.yaml", "cases: []\n")
	write(".git/x.yaml", "broken: [")
	write("big.yaml", "name: big\n# "+strings.Repeat("x", MaxFileBytes)+"\n")
	files, err := PlaybookFiles([]string{dir, filepath.Join(dir, "b.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a/c.yml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "big.yaml")}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Fatalf("files %v", files)
	}
	diags, err := NewLinter(nil).Lint([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	got := diagText(diags)
	wantText := filepath.Join(dir, "a/c.yml") + `:2:8: error: "steps" is empty: a playbook needs at least one step` + "\n" +
		filepath.Join(dir, "big.yaml") + ":1:1: error: file is larger than the limit of 1048576 bytes\n"
	if got != wantText {
		t.Errorf("got\n%s\nwant\n%s", got, wantText)
	}
	if _, err := PlaybookFiles([]string{filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("missing path: %v", err)
	}
}
