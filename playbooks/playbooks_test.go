// Package playbooks holds the playbooks parry ships; its tests lint every one of them.
package playbooks

import (
	"path/filepath"
	"testing"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
)

// TestShippedPlaybooksLintClean lints every playbook in this directory: no error and no warning.
func TestShippedPlaybooksLintClean(t *testing.T) {
	files, err := playbook.PlaybookFiles([]string{"."})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"phishing-containment.yaml": false, "malicious-attachment.yaml": false, "account-compromise.yaml": false,
		"ransomware-response.yaml": false, "false-positive-restore.yaml": false, "ioc-hunt.yaml": false,
	}
	l := playbook.NewLinter(nil)
	for _, f := range files {
		p, diags, err := l.LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diags {
			t.Errorf("%s", d)
		}
		if p == nil {
			continue
		}
		if base := filepath.Base(f); p.Name+".yaml" != base {
			t.Errorf("%s: the playbook is named %q; name the file after it", f, p.Name)
		}
		want[filepath.Base(f)] = true
		for _, format := range []string{plan.GraphMermaid, plan.GraphDot} {
			if _, err := plan.Graph(p, format); err != nil {
				t.Errorf("%s: graph: %v", f, err)
			}
		}
	}
	for f, seen := range want {
		if !seen {
			t.Errorf("%s is missing or does not compile", f)
		}
	}
}

// BenchmarkLintShippedPlaybooks lints the whole directory (target: under 50 ms).
func BenchmarkLintShippedPlaybooks(b *testing.B) {
	l := playbook.NewLinter(nil)
	b.ReportAllocs()
	for b.Loop() {
		diags, err := l.Lint([]string{"."})
		if err != nil || len(diags) > 0 {
			b.Fatal(err, diags)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/lint")
}
