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
