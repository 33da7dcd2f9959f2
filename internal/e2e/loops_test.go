package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/wire"
)

const perIndicator = `name: per-indicator
inputs:
  iocs: { type: list, default: [evil.test, other.test] }
steps:
  - id: per_ioc
    for_each: ${{ inputs.iocs }}
    as: ioc
    concurrency: 2
    steps:
      - id: lookup
        action: http.request
        with: { url: "https://intel.example/${{ ioc }}" }
      - id: decide
        if: steps.lookup.output.status == 200
        approval: { prompt: "Block ${{ ioc }}?", on_timeout: reject }
  - id: block
    action: cecp.block
    with:
      urls: ${{ map(filter(steps.per_ioc.output.items, .steps.decide?.output?.approved ?? false), .item) }}
output:
  blocked: ${{ map(filter(steps.per_ioc.output.items, .steps.decide?.output?.approved ?? false), .item) }}
`

// TestLoopApprovalsThroughTheCLI: an approval inside a loop body is answered per item as LOOP#N.STEP through
// the API and the CLI, run show lists each item's steps, and a retry from a later step reuses the loop.
func TestLoopApprovalsThroughTheCLI(t *testing.T) {
	s := newStack(t)
	s.fakes.set("lookup", func(wire.ActionInput) (any, error) { return map[string]any{"status": 200}, nil })
	file := writeFile(t, "per.yaml", perIndicator)
	out, errOut, code := s.parry("run", "start", file)
	if code != 0 {
		t.Fatalf("start: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	s.waitRun(id, store.RunWaiting)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, _ = s.parry("run", "show", id)
		if strings.Contains(out, "per_ioc#0.decide") && strings.Contains(out, "per_ioc#1.decide") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("both approvals never waited:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, errOut, code := s.parry("run", "approve", id, "per_ioc#0.decide", "--comment", "known bad"); code != 0 {
		t.Fatalf("approve item 0: %d %s", code, errOut)
	}
	if _, errOut, code := s.parry("run", "approve", id, "per_ioc#1.decide", "--reject"); code != 0 {
		t.Fatalf("reject item 1: %d %s", code, errOut)
	}
	r := s.waitRun(id, store.RunSucceeded, store.RunFailed)
	if r.Status != store.RunSucceeded || strings.ReplaceAll(string(r.Output), " ", "") != `{"blocked":["evil.test"]}` {
		t.Fatalf("run %s: %s %s", r.Status, r.Error, r.Output)
	}
	out, _, _ = s.parry("run", "show", id)
	if !strings.Contains(out, "per_ioc#1.lookup") {
		t.Fatalf("show lists the items' steps:\n%s", out)
	}
	// A retry from the step after the loop reuses the loop and its decisions.
	out, errOut, code = s.parry("run", "retry", id, "--from", "block", "--wait")
	if code != 0 || s.fakes.count("per_ioc#0.lookup") != 1 || s.fakes.count("block") != 2 {
		t.Fatalf("retry from block: %d %s %s (lookup %d, block %d)", code, out, errOut, s.fakes.count("per_ioc#0.lookup"), s.fakes.count("block"))
	}
	// Retrying from a step of the body names the loop to retry from.
	_, errOut, code = s.parry("run", "retry", id, "--from", "decide")
	if code == 0 || !strings.Contains(errOut, "retry from per_ioc") {
		t.Fatalf("retry from a body step: %d %s", code, errOut)
	}
}
