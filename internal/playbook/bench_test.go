package playbook

import (
	"fmt"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// bigPlaybook writes a playbook of n steps that looks like real ones: sweeps, mitigations reading earlier
// outputs, conditions, interpolated messages, parallel blocks and loops, in groups of 5 steps.
func bigPlaybook(n int) []byte {
	var b strings.Builder
	b.WriteString(`name: big
inputs:
  sender: {type: string, required: true, from: alert.data.mail_message_sender}
  lookback: {type: int, default: 7}
vars:
  campaign: ${{ inputs.sender + " / " + string(inputs.lookback) }}
steps:
`)
	for i := 0; i < n/5; i++ {
		fmt.Fprintf(&b, `  - id: sweep_%[1]d
    action: cecp.sweep
    with:
      sender: ${{ inputs.sender }}
      subject: campaign %[1]d
      lastndays: ${{ inputs.lookback + %[1]d %% 3 }}
    next:
      - if: len(steps.sweep_%[1]d.output.mails) == 0 && !steps.sweep_%[1]d.output.truncated
        goto: note_%[1]d
  - id: contain_%[1]d
    parallel:
      mails:
        - id: purge_%[1]d
          if: len(steps.sweep_%[1]d.output.mails) > %[1]d %% 5
          action: cecp.mitigate_mails
          with: {action: quarantine, mails: "${{ steps.sweep_%[1]d.output.mails }}", wait: true}
          on_error: continue
      accounts:
        - id: revoke_%[1]d
          for_each: ${{ unique(map(steps.sweep_%[1]d.output.mails, .mailbox)) }}
          as: mailbox
          concurrency: 3
          action: cecp.mitigate_accounts
          with: {action: revoke_sessions, accounts: ["${{ mailbox }}"]}
  - id: note_%[1]d
    action: notify.webhook
    with:
      connection: soc-chat
      text: 'Group %[1]d of ${{ vars.campaign }}: ${{ steps.purge_%[1]d.output?.succeeded ?? 0 }} quarantined, first ${{ steps.sweep_%[1]d.output.mails[0]?.mailbox ?? "none" }}'
`, i)
	}
	b.WriteString("output:\n  groups: ${{ len(keys(steps)) }}\n")
	return []byte(b.String())
}

func TestBigPlaybookLintsClean(t *testing.T) {
	t.Parallel()
	src := bigPlaybook(200)
	p, diags := Load("big.yaml", src)
	if p == nil || len(diags) > 0 {
		t.Fatalf("%v", diags)
	}
	steps := 0
	p.Walk(func(*plan.Step) bool { steps++; return true })
	if steps != 200 {
		t.Fatalf("%d steps", steps)
	}
}

// BenchmarkLint200Steps lints and compiles a 200-step playbook (target: under 10 ms).
func BenchmarkLint200Steps(b *testing.B) {
	src := bigPlaybook(200)
	l := NewLinter(nil)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if p, diags := l.Load("big.yaml", src); p == nil || yamlnode.HasErrors(diags) {
			b.Fatal(diags)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/lint")
}

// linesPlaybook writes a playbook of about n lines that lints clean, shaped like the 10,000-line, 109 KB
// file of the issue that found lint time superlinear: a tenth of the lines are realistic steps (as many as
// MaxSteps allows), most are vars holding lookup tables (plain values, with one expression reading the var
// before), and the rest are outputs reading the steps. The language bounds steps by count, but vars and
// outputs only by the size and node limits.
func linesPlaybook(n int) []byte {
	var b strings.Builder
	b.WriteString(`name: big
inputs:
  sender: {type: string, required: true, from: alert.data.mail_message_sender}
  lookback: {type: int, default: 7}
`)
	lines := 4
	groups := min(MaxSteps/5, n/10/32)
	vars := (n - lines - groups*32) * 9 / 10 / 8
	b.WriteString("vars:\n  campaign: ${{ inputs.sender }}\n  v_0: {owner: soc}\n")
	for i := 1; i < vars; i++ {
		fmt.Fprintf(&b, "  v_%d:\n    owner: t%d\n    days: %d\n    hosts:\n      - h%d.x\n      - h%d.x\n      - h%d.x\n    note: ${{ vars.v_%d.owner }}\n", i, i, i%30, i, i+1, i+2, i-1)
	}
	lines += vars*8 - 5
	steps := string(bigPlaybook(groups * 5))
	steps = steps[strings.Index(steps, "steps:\n"):strings.Index(steps, "output:\n")]
	b.WriteString(steps)
	lines += strings.Count(steps, "\n")
	b.WriteString("output:\n")
	lines++
	for i := 0; lines < n; i++ {
		fmt.Fprintf(&b, "  o%d: ${{ steps.note_%d.status }}\n", i, i%max(groups, 1))
		lines++
	}
	return []byte(b.String())
}

// aliasPlaybook writes a playbook of about n lines that uses YAML anchors and aliases everywhere, which
// the language refuses: linting it must stay linear even though every alias is an error.
func aliasPlaybook(n int) []byte {
	var b strings.Builder
	b.WriteString("name: aliases\nsteps:\n  - id: a\n    action: cecp.block\n    with: &w {senders: [a@b.example, c@d.example]}\n")
	b.WriteString("vars:\n  base: &base {kind: x, list: [1, 2, 3, 4, 5, 6, 7, 8]}\n")
	for i := 0; i < n-7; i++ {
		fmt.Fprintf(&b, "  v_%d: *base\n", i)
	}
	return []byte(b.String())
}

// benchLinter lints files up to 8 MiB: the 100,000-line benchmark is larger than a playbook may be.
func benchLinter() *Linter {
	return NewLinter(nil).WithLimits(Limits{MaxBytes: 8 << 20, MaxNodes: 2_000_000, MaxAliases: 1_000_000})
}

func benchLint(b *testing.B, src []byte, clean bool) {
	l := benchLinter()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		p, diags := l.Load("big.yaml", src)
		if clean && (p == nil || yamlnode.HasErrors(diags)) {
			b.Fatal(diags)
		}
		if !clean && !yamlnode.HasErrors(diags) {
			b.Fatal("no errors")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/lint")
}

// BenchmarkLint1kLines, 10k and 100k show how lint time grows with the file (it should grow linearly:
// target 50 ms for 10,000 lines).
func BenchmarkLint1kLines(b *testing.B)   { benchLint(b, linesPlaybook(1_000), true) }
func BenchmarkLint10kLines(b *testing.B)  { benchLint(b, linesPlaybook(10_000), true) }
func BenchmarkLint100kLines(b *testing.B) { benchLint(b, linesPlaybook(100_000), true) }

// BenchmarkLintAliases10kLines lints a file of 10,000 lines full of aliases (each one an error).
func BenchmarkLintAliases10kLines(b *testing.B) { benchLint(b, aliasPlaybook(10_000), false) }
