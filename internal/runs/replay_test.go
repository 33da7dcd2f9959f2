package runs

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/workflows"
)

// recorded loads a recorded history of the shipped phishing-containment playbook (made by make histories:
// sweep, then quarantine and block_sender in parallel, then sample; the approval and disable were skipped)
// and the plan it ran.
func recorded(t *testing.T) (func() *historypb.History, *plan.Plan) {
	t.Helper()
	data, err := os.ReadFile("../../workflows/testdata/histories/phishing-containment.json")
	if err != nil {
		t.Fatal(err)
	}
	load := func() *historypb.History {
		h, err := client.HistoryFromJSON(strings.NewReader(string(data)), client.HistoryJSONOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	rr, err := readHistory(load())
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Decode(rr.plan)
	if err != nil {
		t.Fatal(err)
	}
	return load, p
}

func encode(t *testing.T, p *plan.Plan) json.RawMessage {
	t.Helper()
	b, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayReportsEveryDifference: an edit that changes what the run did is named by its first step and what
// changed there (action, inputs, condition, order, an added or removed step, a wait, the output); an edit
// that changes nothing replays clean. Temporal's replayer alone passes an input change and answers an
// inserted step with a raw "[TMPRL1100] lookup failed for scheduledEventID".
func TestReplayReportsEveryDifference(t *testing.T) {
	load, base := recorded(t)
	edit := func(f func(p *plan.Plan)) json.RawMessage {
		p, _ := plan.Decode(encode(t, base))
		f(p)
		return encode(t, p)
	}
	step := func(p *plan.Plan, id string) *plan.Step {
		s, ok := p.Step(id)
		if !ok {
			t.Fatalf("no step %s", id)
		}
		return s
	}
	notify := plan.Step{ID: "tell", Kind: plan.KindAction, OnError: plan.OnError{Action: plan.OnErrorFail},
		Action: &plan.Action{Name: "notify.webhook", With: map[string]any{"connection": "soc", "text": "found"}, Timeout: plan.Duration(60e9)}}
	for _, tc := range []struct {
		name       string
		plan       json.RawMessage
		ok         bool
		step, what string
		message    string
	}{
		{name: "unchanged", ok: true},
		{name: "a comment and a description", plan: edit(func(p *plan.Plan) {
			p.SHA256 = strings.Repeat("0", 64)
			p.Description = "edited"
		}), ok: true},
		{name: "an input", plan: edit(func(p *plan.Plan) { step(p, "quarantine").Action.With["action"] = "delete" }),
			step: "quarantine", what: "input", message: `step quarantine: its inputs changed: with.action was "quarantine", is now "delete"`},
		{name: "an action", plan: edit(func(p *plan.Plan) { step(p, "block_sender").Action.Name = "cecp.unblock" }),
			step: "block_sender", what: "action", message: "step block_sender: its action changed: the run called cecp.block, the current code calls cecp.unblock"},
		{name: "an inserted step", plan: edit(func(p *plan.Plan) {
			p.Steps = append(p.Steps[:2], append([]plan.Step{notify}, p.Steps[2:]...)...)
		}), step: "tell", what: "added", message: "step tell was added: the current code runs it where the run ran step sample"},
		{name: "a step added first", plan: edit(func(p *plan.Plan) { p.Steps = append([]plan.Step{notify}, p.Steps...) }),
			step: "tell", what: "added", message: "step tell was added: the current code runs it where the run ran step sweep"},
		{name: "a removed step", plan: edit(func(p *plan.Plan) { p.Steps = append(p.Steps[:2], p.Steps[3:]...) }),
			step: "sample", what: "removed", message: "step sample was removed: the run ran it, the current code does not"},
		{name: "a condition", plan: edit(func(p *plan.Plan) { step(p, "sample").If = "false" }),
			step: "sample", what: "condition", message: "step sample: its condition (if) changed: the run ran it, the current code does not"},
		{name: "the order of branches", plan: edit(func(p *plan.Plan) {
			b := step(p, "contain").Parallel
			b[0], b[1] = b[1], b[0]
		}), step: "quarantine", what: "order", message: "step quarantine: the order of steps changed: the run ran quarantine (cecp.mitigate_mails) there, the current code runs block_sender (cecp.block)"},
		{name: "the output", plan: edit(func(p *plan.Plan) { p.Output["mails_found"] = "${{ 0 }}" }),
			what: "output", message: "the run's output would differ: output.mails_found was 2, is now 0"},
		{name: "a step that did not run", plan: edit(func(p *plan.Plan) { step(p, "approve_disable").Approval.Timeout = plan.Duration(3600e9) }), ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ReplayWithPlan(load(), tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tc.ok || res.Step != tc.step || res.What != tc.what || !tc.ok && res.Message != tc.message {
				t.Errorf("got  ok=%v step=%q what=%q %q\nwant ok=%v step=%q what=%q %q", res.OK, res.Step, res.What, res.Message, tc.ok, tc.step, tc.what, tc.message)
			}
			if strings.Contains(res.Message, "TMPRL") {
				t.Errorf("a raw SDK error: %s", res.Message)
			}
		})
	}
}

const looped = `name: looped
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: a@evil.test }
  - id: per_ioc
    for_each: [a.test, b.test]
    as: ioc
    steps:
      - id: lookup
        action: http.request
        with: { url: "https://intel.example/${{ ioc }}" }
      - id: decide
        approval: { prompt: "Block ${{ ioc }}?" }
  - id: block
    action: cecp.block
    with: { urls: [x.test] }
`

// TestReusableLoops: a retry from a later step reuses a loop as a whole (with its items' records); a retry
// from the loop runs it again; a loop body's step is not a place to retry from.
func TestReusableLoops(t *testing.T) {
	ok := workflows.StepRecord{Status: workflows.StatusSucceeded}
	records := map[string]workflows.StepRecord{"sweep": ok, "per_ioc": ok, "per_ioc#0.lookup": ok, "per_ioc#0.decide": ok,
		"per_ioc#1.lookup": ok, "per_ioc#1.decide": ok, "block": {Status: workflows.StatusFailed}}
	old := failedRun(t, looped, records)
	reuse, err := Reusable(old, compile(t, looped), "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range reuse {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if strings.Join(ids, ",") != "per_ioc,per_ioc#0.decide,per_ioc#0.lookup,per_ioc#1.decide,per_ioc#1.lookup,sweep" {
		t.Fatalf("reused %v", ids)
	}
	if reuse, err := Reusable(old, compile(t, looped), "per_ioc"); err != nil || len(reuse) != 1 {
		t.Fatalf("from the loop: %v %v", reuse, err)
	}
	if _, err := Reusable(old, compile(t, looped), "decide"); err == nil || err.Error() != "step decide runs once per item of loop per_ioc: retry from per_ioc (the loop runs again as a whole)" {
		t.Fatalf("from a body step: %v", err)
	}
	changed := strings.Replace(looped, "Block ${{ ioc }}?", "Really block ${{ ioc }}?", 1)
	if _, err := Reusable(old, compile(t, changed), "block"); err == nil || !strings.Contains(err.Error(), "cannot reuse step per_ioc: its loop body (steps) changed") {
		t.Fatalf("a changed body: %v", err)
	}
}
