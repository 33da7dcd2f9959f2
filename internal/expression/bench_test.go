package expression

import (
	"testing"
)

// BenchmarkEvalCondition measures a typical condition against a run's scope (target: under 2 µs).
func BenchmarkEvalCondition(b *testing.B) {
	e := NewEngine()
	s := testScope(b)
	const cond = `steps.quarantine.output.succeeded > 0 && len(steps.sweep.output.mails) >= 2 && alert.severity in ["high", "critical"]`
	if ok, err := e.EvalBool(cond, s); err != nil || !ok {
		b.Fatal(ok, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.EvalBool(cond, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "µs/eval")
}

// BenchmarkEvalTemplate measures an interpolated message template.
func BenchmarkEvalTemplate(b *testing.B) {
	e := NewEngine()
	s := testScope(b)
	const tmpl = `Found ${{ steps.sweep.output.count }} mails from ${{ inputs.sender }} (${{ vars.campaign }})`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.EvalTemplate(tmpl, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "µs/eval")
}

// BenchmarkCheck measures type-checking one expression at validation time.
func BenchmarkCheck(b *testing.B) {
	env := testEnv()
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(`len(steps.sweep.output.mails) > 0 && steps.sweep.output.mails[0].mailbox != inputs.sender`)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Check(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "µs/check")
}
