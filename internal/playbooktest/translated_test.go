package playbooktest

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parry-soar/parry/internal/playbook"
)

// TestTranslatedPlaybooks: every playbook in testdata/translated (public SOAR playbooks of Cortex XSOAR,
// Tracecat and StackStorm, written again in parry) lints clean, has a test file, and every case passes, three
// times in a row and again while other goroutines saturate every core.
func TestTranslatedPlaybooks(t *testing.T) {
	const dir = "testdata/translated"
	diags, err := playbook.NewLinter(nil).Lint([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diags {
		t.Errorf("%s", d)
	}
	files, untested, err := Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range untested {
		t.Errorf("%s has no test file", u)
	}
	if len(files) < 10 {
		t.Fatalf("%d translated playbooks with tests, want at least 10", len(files))
	}
	run := func(label string) {
		r := NewRunner(nil)
		for _, path := range files {
			res := r.RunFile(context.Background(), path)
			for _, d := range res.Diags {
				t.Errorf("%s", d)
			}
			for _, c := range res.Cases {
				if c.Status != StatusPass {
					t.Errorf("%s (%s): %s", c.Name(), label, strings.Join(c.Failures, "\n"))
				}
				for _, w := range c.Warnings {
					t.Errorf("%s (%s): warning: %s", c.Name(), label, w)
				}
			}
		}
	}
	for i := range 3 {
		run([]string{"first run", "second run", "third run"}[i])
	}
	if testing.Short() {
		return
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
			}
		}()
	}
	run("under load")
	stop.Store(true)
	wg.Wait()
}
