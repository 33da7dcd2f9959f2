package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/wire"
)

// TestLoopBody: each item runs the body's steps in order, reads its own steps' results, and the loop's output
// lists what each item's steps did; an approval inside is addressed LOOP#N.STEP.
func TestLoopBody(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["lookup"] = func(in wire.ActionInput) (any, error) {
		status := 200
		if strings.Contains(in.With["url"].(string), "clean") {
			status = 404
		}
		return map[string]any{"status": status, "body": in.Step}, nil
	}
	src := `
name: per-ioc
inputs:
  iocs: { type: list, default: [evil.test, clean.test, bad.test] }
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
        approval: { prompt: "Block ${{ ioc }} (item ${{ index }})?", timeout: 1h, on_timeout: reject }
output:
  seen: ${{ map(steps.per_ioc.output.items, .steps.lookup.output.body) }}
  decided: ${{ map(steps.per_ioc.output.items, .steps.decide?.status ?? "none") }}
  approved: ${{ map(steps.per_ioc.output.items, .steps.decide?.output?.approved ?? false) }}
`
	var prompts []string
	h.env.SetOnTimerScheduledListener(func(string, time.Duration) {
		h.env.RegisterDelayedCallback(func() {
			v, err := h.env.QueryWorkflow(QueryStatus)
			if err != nil {
				return
			}
			var st Status
			_ = v.Get(&st)
			for _, w := range st.Waiting {
				if w.Kind == "approval" && w.Step == "per_ioc#0.decide" {
					prompts = append(prompts, w.Step+": "+w.Prompt)
					h.env.UpdateWorkflow(UpdateApproval, "u0", noopUpdate{}, ApprovalDecision{Step: w.Step, Approved: true, By: "alice"})
				}
			}
		}, 0)
	})
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"approved":[true,false,false],"decided":["succeeded","skipped","succeeded"],"seen":["per_ioc#0.lookup","per_ioc#1.lookup","per_ioc#2.lookup"]}` {
		t.Fatalf("output %s", got)
	}
	if strings.Join(prompts, "|") != "per_ioc#0.decide: Block evil.test (item 0)?" {
		t.Fatalf("prompts %q", prompts)
	}
	if rec := res.Steps["per_ioc#2.decide"]; rec.Status != StatusSucceeded || mustJSON(t, rec.Output) == "" {
		t.Fatalf("records of the items' steps: %+v", res.Steps)
	}
}

type noopUpdate struct{}

func (noopUpdate) Accept()             {}
func (noopUpdate) Reject(err error)    {}
func (noopUpdate) Complete(any, error) {}

// TestLoopBodyFailure: a body step's failure fails the loop; error.step names the body's step and error.path
// the item.
func TestLoopBodyFailure(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["lookup"] = func(in wire.ActionInput) (any, error) {
		if strings.HasSuffix(in.With["url"].(string), "/b") {
			return nil, wire.NewActionError(wire.VendorRejected, "no such indicator", 1, 0)
		}
		return map[string]any{"status": 200}, nil
	}
	src := `
name: per-ioc-fail
steps:
  - id: per_ioc
    for_each: [a, b, c]
    as: ioc
    steps:
      - id: lookup
        action: http.request
        with: { url: "https://intel.example/${{ ioc }}" }
on_failure:
  - id: tell
    action: notify.webhook
    with: { connection: soc, text: "${{ error.step }} at ${{ error.path }}: ${{ error.message }}" }
`
	_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
	msg, f := failureOf(t, err)
	if msg != "step per_ioc#1.lookup failed: VendorRejected: no such indicator" || f.Step != "lookup" || f.Path != "per_ioc#1.lookup" {
		t.Fatalf("failure %q at %s (%s)", msg, f.Step, f.Path)
	}
	last := h.actions.calls[len(h.actions.calls)-1]
	if last.With["text"] != "lookup at per_ioc#1.lookup: no such indicator" {
		t.Fatalf("on_failure saw %v", last.With["text"])
	}
	if _, ran := f.Steps["per_ioc#2.lookup"]; ran {
		t.Fatal("the item after the failing one ran (concurrency 1)")
	}
}

// TestTypedValues: a var holding now() stays a time, an empty list stays a list, string(t) is RFC 3339.
func TestTypedValues(t *testing.T) {
	h := newHarness(t)
	src := `
name: typed
vars:
  started: ${{ now() }}
  none: ${{ concat([], []) }}
steps:
  - id: pause
    wait: 90s
  - id: keep
    set:
      elapsed: ${{ now() - vars.started }}
      empty: '${{ filter([1, 2], # > 5) }}'
output:
  elapsed: ${{ string(vars.elapsed) }}
  seconds: ${{ (now() - vars.started).Seconds() }}
  started: ${{ vars.started }}
  as_text: ${{ string(vars.started) }}
  in_text: "at ${{ vars.started }}"
  none: ${{ vars.none }}
  empty: ${{ steps.keep.output.empty }}
`
	h.env.SetStartTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"as_text":"2026-03-04T05:06:07Z","elapsed":"1m30s","empty":[],"in_text":"at 2026-03-04T05:06:07Z","none":[],"seconds":90,"started":"2026-03-04T05:06:07Z"}`
	if got := mustJSON(t, res.Output); got != want {
		t.Fatalf("output\n got %s\nwant %s", got, want)
	}
}

// TestComputedDurations: wait, timeout, retry.delay, every and approval.timeout computed by expressions, and
// wait.until.
func TestComputedDurations(t *testing.T) {
	h := newHarness(t)
	polls := 0
	h.actions.handlers["poll"] = func(wire.ActionInput) (any, error) {
		polls++
		return map[string]any{"count": polls - 1}, nil
	}
	src := `
name: computed
inputs:
  minutes: { type: int, default: 2 }
steps:
  - id: pause
    wait: ${{ inputs.minutes * 60 }}
  - id: until_time
    wait: { until: "${{ now() + duration('1h') }}" }
  - id: past
    wait: { until: "2020-01-01T00:00:00Z" }
  - id: poll
    action: cecp.mitigation_results
    with: { batch_id: 11111111-2222-3333-4444-555555555555, kind: mails }
    timeout: "${{ string(inputs.minutes) + 'm' }}"
    until: output.count > 1
    every: ${{ duration("5m") }}
  - id: ask
    approval:
      prompt: ok?
      timeout: "${{ string(inputs.minutes) + 'h' }}"
      on_timeout: approve
  - id: too_long
    wait: ${{ "40d" }}
    on_error: continue
output:
  approved: ${{ steps.ask.output.approved }}
  error: ${{ steps.too_long.error.message }}
`
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	h.env.SetStartTime(start)
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"approved":true,"error":"wait: 40d is not between 1s and 30d"}` {
		t.Fatalf("output %s", got)
	}
	// 2m + 1h + 2 polls 5m apart + a 2h approval timeout.
	if got := h.env.Now().Sub(start); got != 2*time.Minute+time.Hour+10*time.Minute+2*time.Hour {
		t.Fatalf("the run took %s of workflow time", got)
	}
}

// TestFailedActionAttempts: a step that failed after retries says how many attempts it took (the activity's
// error carries its attempt).
func TestFailedActionAttempts(t *testing.T) {
	h := newHarness(t)
	n := 0
	h.actions.handlers["sweep"] = func(wire.ActionInput) (any, error) {
		n++
		if n == 1 {
			return nil, actionErr{wire.VendorUnavailable, "503"}
		}
		return nil, actionErr{wire.VendorRejected, "bad sender"}
	}
	src := `
name: attempts
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: a@b.test }
    on_error: continue
output:
  attempts: ${{ steps.sweep.attempts }}
  type: ${{ steps.sweep.error.type }}
`
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"attempts":2,"type":"VendorRejected"}` {
		t.Fatalf("output %s", got)
	}
}

// TestInputEnums: a value outside an input's enum fails the start (the API and the CLI check with
// ResolveInputs before starting; the workflow checks again).
func TestInputEnums(t *testing.T) {
	src := `
name: enums
inputs:
  action: { type: string, enum: [quarantine, delete], default: quarantine }
  days: { type: int, enum: [1, 7] }
steps:
  - id: noop
    wait: 1s
`
	p := mustDecode(t, compilePlan(t, src))
	eng := New().Engine
	if _, err := ResolveInputs(eng, p, map[string]any{"action": "delete", "days": "7"}, nil, time.Now()); err != nil {
		t.Fatalf("allowed values: %v", err)
	}
	_, err := ResolveInputs(eng, p, map[string]any{"action": "purge", "days": 3.0}, nil, time.Now())
	if err == nil || err.Error() != `input action must be one of quarantine, delete, got "purge"; input days must be one of 1, 7, got 3` {
		t.Fatalf("refused values: %v", err)
	}
}

func mustDecode(t *testing.T, raw []byte) *plan.Plan {
	t.Helper()
	p, err := plan.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
