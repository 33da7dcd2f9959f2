package playbook

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/parry-soar/parry/internal/plan"
)

// FuzzLoad feeds arbitrary files to parse + validate + compile: no panic, every diagnostic inside the file,
// and any plan produced encodes and decodes to the same bytes. The size, depth and node limits keep each
// input's time and memory bounded.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.txtar")
	for _, s := range seeds {
		a, err := txtar.ParseFile(s)
		if err != nil {
			f.Fatal(err)
		}
		if src, ok := file(a, "playbook.yaml"); ok {
			f.Add([]byte(src))
		}
	}
	shipped, _ := filepath.Glob("../../playbooks/*.yaml")
	for _, s := range shipped {
		data, _ := os.ReadFile(s)
		f.Add(data)
	}
	f.Add([]byte("\r0")) // a lone CR ends a line, for the YAML parser as for editors
	f.Add([]byte("name: x\r\nsteps:\r  - id: a\u2028    wait: 1\n"))
	l := NewLinter(nil)
	f.Fuzz(func(t *testing.T, src []byte) {
		p, diags := l.Load("f.yaml", src)
		lines := countLines(src)
		for _, d := range diags {
			if d.Line < 1 || d.Line > lines || d.Column < 1 || d.Message == "" {
				t.Fatalf("diagnostic outside the file (%d lines): %s", lines, d)
			}
		}
		if p == nil {
			return
		}
		b, err := plan.Encode(p)
		if err != nil {
			if strings.Contains(err.Error(), "unsupported value") {
				return // NaN or infinity in a literal: JSON cannot carry it
			}
			t.Fatal(err)
		}
		q, err := plan.Decode(b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		b2, _ := plan.Encode(q)
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed the plan:\n%s\n%s", b, b2)
		}
		for _, format := range []string{plan.GraphMermaid, plan.GraphDot} {
			if _, err := plan.Graph(p, format); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// countLines counts lines the way YAML (and editors) do: LF, CR LF, a lone CR, NEL, LS and PS each end one.
func countLines(src []byte) int {
	n := 1
	for i := 0; i < len(src); i++ {
		switch {
		case src[i] == '\n':
			n++
		case src[i] == '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			n++
		case bytes.HasPrefix(src[i:], []byte("\u0085")), bytes.HasPrefix(src[i:], []byte("\u2028")), bytes.HasPrefix(src[i:], []byte("\u2029")):
			n++
		}
	}
	return n
}
