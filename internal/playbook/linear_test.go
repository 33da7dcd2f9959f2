package playbook

import (
	"runtime"
	"testing"
)

// TestLintWorkIsLinear: the work of linting grows linearly with the file. It counts allocations and bytes
// allocated (which, unlike time, do not depend on the machine's load) for files of 1k, 10k and 100k lines,
// plain and full of aliases: ten times the lines must cost at most fifteen times the allocations and bytes (a
// quadratic linter costs a hundred times). The times are in the benchmarks (BenchmarkLint*Lines).
func TestLintWorkIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("lints a 1.9 MB file")
	}
	l := benchLinter()
	cost := func(src []byte) (allocs, bytes float64) {
		var before, after runtime.MemStats
		l.Load("big.yaml", src) // warm: the first lint also fills lazily built tables
		runtime.GC()
		runtime.ReadMemStats(&before)
		l.Load("big.yaml", src)
		runtime.ReadMemStats(&after)
		return float64(after.Mallocs - before.Mallocs), float64(after.TotalAlloc - before.TotalAlloc)
	}
	for _, c := range []struct {
		name       string
		small, big []byte
	}{
		{"plain 1k → 10k lines", linesPlaybook(1_000), linesPlaybook(10_000)},
		{"plain 10k → 100k lines", linesPlaybook(10_000), linesPlaybook(100_000)},
		{"aliases 1k → 10k lines", aliasPlaybook(1_000), aliasPlaybook(10_000)},
	} {
		sa, sb := cost(c.small)
		ba, bb := cost(c.big)
		size := float64(len(c.big)) / float64(len(c.small))
		t.Logf("%s: %.1f× the bytes of source, %.1f× the allocations, %.1f× the bytes allocated (%.0f MB)", c.name, size, ba/sa, bb/sb, bb/1e6)
		if ba/sa > 1.5*size || bb/sb > 1.5*size {
			t.Errorf("%s: %.1f× the source costs %.1f× the allocations and %.1f× the bytes: not linear", c.name, size, ba/sa, bb/sb)
		}
	}
}
