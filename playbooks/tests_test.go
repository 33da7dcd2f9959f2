package playbooks

import (
	"context"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/playbooktest"
)

// TestShippedPlaybooksPassTheirTests runs every NAME.test.yaml here (what `parry test playbooks` does), one
// subtest per case, and requires a test file beside every playbook.
func TestShippedPlaybooksPassTheirTests(t *testing.T) {
	files, untested, err := playbooktest.Discover([]string{"."})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range untested {
		t.Errorf("%s has no test file: write one beside it that covers its branches", u)
	}
	r := playbooktest.NewRunner(nil)
	for _, path := range files {
		res := r.RunFile(context.Background(), path)
		for _, d := range res.Diags {
			t.Errorf("%s", d)
		}
		for _, c := range res.Cases {
			t.Run(c.Name(), func(t *testing.T) {
				if c.Status != playbooktest.StatusPass {
					t.Error(strings.Join(c.Failures, "\n"))
				}
				for _, w := range c.Warnings {
					t.Errorf("warning: %s (mock the step or answer the approval so the case says what it tests)", w)
				}
			})
		}
	}
}
