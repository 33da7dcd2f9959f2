package playbooks

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// TestShippedPlaybooksPassUnderLoad runs every shipped case while other goroutines saturate every core: a
// case's verdict does not depend on how busy the machine is (no deadlock detector firing on a starved
// workflow task, no wall-clock race between mocked actions and timers).
func TestShippedPlaybooksPassUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("saturates every core")
	}
	files, _, err := playbooktest.Discover([]string{"."})
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for !stop.Load() {
				n++ // burn CPU
			}
			_ = n
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	r := playbooktest.NewRunner(nil)
	for _, path := range files {
		res := r.RunFile(context.Background(), path)
		for _, d := range res.Diags {
			t.Errorf("%s", d)
		}
		for _, c := range res.Cases {
			if c.Status != playbooktest.StatusPass {
				t.Errorf("%s under load: %s", c.Name(), strings.Join(c.Failures, "\n"))
			}
		}
	}
}

// BenchmarkShippedCases runs every shipped case once per iteration and reports the time per case (target:
// under 5 ms) and, separately, the first case of a fresh runner in a fresh process state (target: under
// 100 ms).
func BenchmarkShippedCases(b *testing.B) {
	files, _, err := playbooktest.Discover([]string{"."})
	if err != nil {
		b.Fatal(err)
	}
	r := playbooktest.NewRunner(nil)
	var all []*playbooktest.File
	for _, p := range files {
		f, diags := r.Load(p)
		if f == nil {
			b.Fatal(diags)
		}
		all = append(all, f)
	}
	start := time.Now()
	r.RunCase(context.Background(), all[0], all[0].Cases[0])
	firstCase := time.Since(start)
	cases := 0
	b.ResetTimer()
	for b.Loop() {
		for _, f := range all {
			for _, c := range f.Cases {
				if res := r.RunCase(context.Background(), f, c); res.Status != playbooktest.StatusPass {
					b.Fatal(res.Failures)
				}
				cases++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(cases), "ms/case")
	b.ReportMetric(float64(firstCase.Microseconds())/1000, "ms/first-case")
}
