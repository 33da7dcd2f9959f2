package playbooktest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runOne loads dir/NAME.test.yaml and runs its cases, failing the test on diagnostics.
func runOne(t *testing.T, r *Runner, dir, name string) []CaseResult {
	t.Helper()
	res := r.RunFile(context.Background(), filepath.Join(dir, name+".test.yaml"))
	for _, d := range res.Diags {
		t.Errorf("%s", d)
	}
	return res.Cases
}

func requirePass(t *testing.T, cases []CaseResult) {
	t.Helper()
	for _, c := range cases {
		if c.Status != StatusPass {
			t.Errorf("%s: %s", c.Name(), strings.Join(c.Failures, "\n"))
		}
	}
}

// TestSlowWorkflowTaskIsNoDeadlock: a workflow task that takes over a second (what a machine at load 20 on 2
// cores does to the first task of a case) is not a deadlock offline. With the SDK's default detector the case
// failed with TMPRL1101.
func TestSlowWorkflowTaskIsNoDeadlock(t *testing.T) {
	dir := writeTree(t, map[string]string{"simple.yaml": simplePlaybook, "simple.test.yaml": `cases:
  - name: slow
    mocks: { sweep: { output: { mails: [{}] } } }
    expect: { output: { n: 1 } }
`})
	r := NewRunner(nil)
	r.onAnswer = func() { time.Sleep(1200 * time.Millisecond) } // stands for CPU starvation, not for synchronisation
	requirePass(t, runOne(t, r, dir, "simple"))
}

const parallelPlaybook = `name: par
steps:
  - id: contain
    parallel:
      mails:
        - id: quarantine
          action: cecp.mitigate_mails
          with: { action: quarantine, mails: [{ mailbox: a@corp.test, mail_unique_id: u1 }] }
      senders:
        - id: block_sender
          action: cecp.block
          with: { senders: [evil@phish.test] }
        - id: block_more
          action: cecp.block
          with: { senders: [evil2@phish.test] }
`

// TestParallelOutcomeIsTheSameEveryTime: a branch's failure and its siblings' results are decided by the run's
// own order, not by goroutine scheduling: 50 identical runs give one outcome. A sibling's action called in the
// same instant as the failing one has finished (mocks take no time); its later steps are cancelled.
func TestParallelOutcomeIsTheSameEveryTime(t *testing.T) {
	dir := writeTree(t, map[string]string{"par.yaml": parallelPlaybook, "par.test.yaml": `cases:
  - name: quarantine fails
    mocks:
      quarantine: { error: VendorRejected }
      cecp.block: { output: {} }
    expect:
      status: failed
      error: { step: quarantine, path: contain.quarantine, type: VendorRejected }
      steps: { quarantine: failed, block_sender: succeeded, block_more: cancelled, contain: failed }
      assert:
        - 'steps.contain.output == {"mails": "failed", "senders": "cancelled"}'
`})
	r := NewRunner(nil)
	f, diags := r.Load(filepath.Join(dir, "par.test.yaml"))
	if f == nil {
		t.Fatal(diags)
	}
	first := ""
	for i := range 50 {
		res := r.RunCase(context.Background(), f, f.Cases[0])
		got := res.Status + " " + strings.Join(res.Failures, "|")
		if i == 0 {
			first = got
			if res.Status != StatusPass {
				t.Fatalf("run 1: %s", got)
			}
		} else if got != first {
			t.Fatalf("run %d differs: %s; run 1: %s", i+1, got, first)
		}
	}
}

// TestSameInputChecksAsTheActivity: a mocked action refuses what the real activity refuses (the action's
// spec decides, for both), with InvalidInput and the activity's message.
func TestSameInputChecksAsTheActivity(t *testing.T) {
	dir := writeTree(t, map[string]string{"chk.yaml": `name: chk
inputs:
  action: { type: string, default: purge }
  start: { type: string, default: yesterday }
  limit: { type: int, default: 5000 }
steps:
  - id: purge
    action: cecp.mitigate_mails
    with: { action: "${{ inputs.action }}", mails: [{ mailbox: a@corp.test, mail_unique_id: u1 }] }
    on_error: continue
  - id: events
    action: cecp.security_events
    with: { service: exchange, event: securityrisk, start: "${{ inputs.start }}", limit: "${{ inputs.limit }}" }
`, "chk.test.yaml": `cases:
  - name: refused like production
    expect:
      status: failed
      error: { step: events, type: InvalidInput }
      steps: { purge: failed }
      assert:
        - steps.purge.error.type == "InvalidInput"
        - steps.purge.error.message contains "with.action must be one of delete, quarantine, restore, got \"purge\""
        - error.message contains "with.start must be an ISO-8601 UTC time"
        - error.message contains "with.limit must be between 1 and 500, got 5000"
        - steps.events.attempts == 1
`})
	requirePass(t, runOne(t, NewRunner(nil), dir, "chk"))
}

// TestFailedStepAttempts: a step that failed after retries reports the attempts it took, offline as live.
func TestFailedStepAttempts(t *testing.T) {
	dir := writeTree(t, map[string]string{"simple.yaml": simplePlaybook, "simple.test.yaml": `cases:
  - name: two attempts then refused
    mocks:
      sweep: { sequence: [{ error: VendorUnavailable }, { error: VendorRejected }] }
    expect:
      error: { step: sweep, type: VendorRejected }
      assert: ["steps.sweep.attempts == 2", "len(calls.sweep) == 2"]
`})
	requirePass(t, runOne(t, NewRunner(nil), dir, "simple"))
}

// TestForEachCallOffline: a call inside for_each whose child runs actions works offline; the child's steps
// are mocked per item.
func TestForEachCallOffline(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"parent.yaml": `name: parent
steps:
  - id: each
    for_each: [a@x.test, b@x.test]
    as: who
    call: child
    with: { who: "${{ who }}" }
output:
  blocked: ${{ map(steps.each.output, .n) }}
`,
		"child.yaml": `name: child
inputs:
  who: { type: string, required: true }
steps:
  - id: block
    action: cecp.block
    with: { senders: ["${{ inputs.who }}"] }
output:
  n: ${{ len(steps.block.output.added.senders) }}
`,
		"parent.test.yaml": `playbooks: [child]
cases:
  - name: each item calls the child
    mocks:
      cecp.block: { output: { added: { senders: [x@x.test] } } }
    expect:
      output: { blocked: [1, 1] }
      calls:
        - action: cecp.block
          times: 2
`})
	requirePass(t, runOne(t, NewRunner(nil), dir, "parent"))
}

// TestParentAndChildShareAStepID: a step id that is a call in the parent and an action in the child mocks the
// child's action; PLAYBOOK/ID mocks one playbook's step.
func TestParentAndChildShareAStepID(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"parent.yaml": `name: parent
steps:
  - id: lookup
    call: child
  - id: block
    action: cecp.block
    with: { senders: [a@x.test] }
output:
  child: ${{ steps.lookup.output.n }}
  here: ${{ steps.block.output.added.senders }}
`,
		"child.yaml": `name: child
steps:
  - id: lookup
    action: cecp.blocklist
  - id: block
    action: cecp.block
    with: { senders: [c@x.test] }
output:
  n: ${{ len(steps.lookup.output.senders) }}
  blocked: ${{ steps.block.output.added.senders }}
`,
		"parent.test.yaml": `playbooks: [child]
cases:
  - name: both mocked
    mocks:
      lookup: { output: { senders: [s1, s2] } }
      parent/block: { output: { added: { senders: [parent@x.test] } } }
      child/block: { output: { added: { senders: [child@x.test] } } }
    expect:
      output: { child: 2, here: [parent@x.test] }
      calls:
        - step: child/block
          with: { senders: [c@x.test] }
        - step: parent/block
          times: 1
`})
	requirePass(t, runOne(t, NewRunner(nil), dir, "parent"))
}

// TestLoopBodyOffline: a loop of several steps runs offline; its steps are mocked and answered per item
// (LOOP#N.STEP) or for every item (STEP), and expectations name one item's step.
func TestLoopBodyOffline(t *testing.T) {
	dir := writeTree(t, map[string]string{"per.yaml": `name: per
inputs:
  iocs: { type: list, default: [evil.test, clean.test, bad.test] }
steps:
  - id: per_ioc
    for_each: ${{ inputs.iocs }}
    as: ioc
    concurrency: 4
    steps:
      - id: lookup
        action: http.request
        with: { url: "https://intel.example/${{ ioc }}" }
      - id: decide
        if: steps.lookup.output.status == 200
        approval: { prompt: "Block ${{ ioc }}?", approvers: [soc-lead] }
  - id: block
    action: cecp.block
    with:
      urls: ${{ map(filter(steps.per_ioc.output.items, .steps.decide?.output?.approved ?? false), .item) }}
output:
  blocked: ${{ map(filter(steps.per_ioc.output.items, .steps.decide?.output?.approved ?? false), .item) }}
`, "per.test.yaml": `cases:
  - name: one approved, one rejected, one clean
    mocks:
      lookup: { output: { status: 200 } }
      per_ioc#1.lookup: { output: { status: 404 } }
      cecp.block: { output: {} }
    approvals:
      decide: approve
      per_ioc#2.decide: { decision: reject, by: soc-lead, comment: known partner }
    expect:
      output: { blocked: [evil.test] }
      steps: { per_ioc: succeeded, per_ioc#0.decide: succeeded, per_ioc#1.decide: skipped, per_ioc#2.decide: succeeded }
      assert:
        - steps.per_ioc.output.items[2].steps.decide.output.comment == "known partner"
        - len(calls.lookup) == 3
      calls:
        - step: per_ioc#1.lookup
          with: { url: https://intel.example/clean.test }
`})
	requirePass(t, runOne(t, NewRunner(nil), dir, "per"))
}

// TestScheduledCase: schedule: N starts the run as on.schedule[N] would, with that schedule's inputs.
func TestScheduledCase(t *testing.T) {
	dir := writeTree(t, map[string]string{"hunt.yaml": `name: hunt
on:
  schedule:
    - cron: "0 6 * * 1-5"
      timezone: Europe/Berlin
      with: { lookback: 1 }
    - every: 15m
inputs:
  lookback: { type: int, default: 7 }
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: a@b.test, lastndays: "${{ inputs.lookback }}" }
`, "hunt.test.yaml": `cases:
  - name: the morning schedule looks back a day
    schedule: 0
    mocks: { sweep: { output: {} } }
    expect:
      calls:
        - step: sweep
          with: { lastndays: 1 }
  - name: the interval uses the default
    schedule: 1
    mocks: { sweep: { output: {} } }
    expect:
      calls:
        - step: sweep
          with: { lastndays: 7 }
`})
	requirePass(t, runOne(t, NewRunner(nil), dir, "hunt"))
}
