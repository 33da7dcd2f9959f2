package expression

import (
	"testing"
)

// FuzzTemplate parses and evaluates arbitrary templates against a run's scope: errors are fine, panics and
// unbounded work are not (the size and node caps bound every expression).
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`${{ inputs.sender }}`, `a ${{ len(steps.sweep.output.mails) }} b`, `${{ {"a": "}}"} }}`,
		`${{ unique(map(steps.sweep.output.mails, .mailbox)) }}`, `${{ chunk([1,2,3], 2) }}`, `${{`, `}}${{ 1 +`,
		`${{ now() - duration("7d") }}`, `${{ refang(alert.data.mail_message_subject) }}`, `${{ 1..1000000 }}`,
	} {
		f.Add(s)
	}
	e := NewEngine()
	s := testScope(f)
	env := testEnv()
	f.Fuzz(func(t *testing.T, tmpl string) {
		_, _ = e.EvalTemplate(tmpl, s)
		if tm, err := ParseTemplate(tmpl); err == nil {
			for _, p := range tm.Parts {
				if p.Expr == "" {
					continue
				}
				if p.Offset < 0 || p.Offset > len([]rune(tmpl)) {
					t.Fatalf("offset %d outside %q", p.Offset, tmpl)
				}
				if parsed, perr := Parse(p.Expr); perr == nil {
					_, _ = env.Check(parsed)
					_ = parsed.Refs()
				}
			}
		}
	})
}
