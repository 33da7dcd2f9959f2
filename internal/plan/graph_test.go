package plan

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGraphGolden pins the mermaid and dot drawings (testdata/graph/NAME.mmd, .dot) of the plans the
// playbook compiler's golden tests produce (../playbook/testdata/plans/NAME.txtar, file plan.json).
func TestGraphGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../playbook/testdata/plans/*.txtar")
	if len(files) == 0 {
		t.Fatal("no plans")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txtar")
		a, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		for _, file := range a.Files {
			if file.Name == "plan.json" {
				raw = file.Data
			}
		}
		p, err := Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for format, ext := range map[string]string{GraphMermaid: ".mmd", GraphDot: ".dot"} {
			got, err := Graph(p, format)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "graph", name+ext)
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs:\n%s", golden, got)
			}
		}
	}
	if _, err := Graph(&Plan{}, "svg"); err == nil {
		t.Error("unknown format accepted")
	}
}
