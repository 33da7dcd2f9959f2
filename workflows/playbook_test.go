package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/wire"
)

// fakeActions answers every action activity from handlers keyed by step id (without #N) or action name, and
// records the calls.
type fakeActions struct {
	mu       sync.Mutex
	handlers map[string]func(in wire.ActionInput) (any, error)
	calls    []call
}

type call struct {
	ActivityID string
	Action     string
	With       map[string]any
}

func (f *fakeActions) handle(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	info := activity.GetInfo(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, call{ActivityID: info.ActivityID, Action: info.ActivityType.Name, With: in.With})
	id := in.Step[strings.LastIndexByte(in.Step, '.')+1:]
	h := f.handlers[strings.SplitN(id, "#", 2)[0]]
	if h == nil {
		h = f.handlers[info.ActivityType.Name]
	}
	f.mu.Unlock()
	var out any = map[string]any{}
	if h != nil {
		var err error
		if out, err = h(in); err != nil {
			var ae actionErr
			if errors.As(err, &ae) {
				return wire.ActionResult{}, wire.NewActionError(ae.typ, ae.msg, int(info.Attempt), 0)
			}
			return wire.ActionResult{}, err
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return wire.ActionResult{}, err
	}
	return wire.ActionResult{Output: b, Attempt: int(info.Attempt)}, nil
}

// actionErr is an error a handler returns to fail as a real activity does: of a type, with the attempt.
type actionErr struct{ typ, msg string }

func (e actionErr) Error() string { return e.typ + ": " + e.msg }

func (f *fakeActions) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, c := range f.calls {
		ids = append(ids, c.ActivityID)
	}
	return ids
}

func compilePlan(t *testing.T, src string) json.RawMessage {
	t.Helper()
	p, diags := playbook.Load("test.yaml", []byte(src))
	if p == nil {
		t.Fatalf("playbook does not compile: %v", diags)
	}
	b, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	actions *fakeActions
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	h := &harness{t: t, env: env, actions: &fakeActions{handlers: map[string]func(wire.ActionInput) (any, error){}}}
	w := New()
	env.RegisterWorkflowWithOptions(w.Playbook, workflow.RegisterOptions{Name: PlaybookWorkflow})
	for _, name := range action.Default().Names() {
		env.RegisterActivityWithOptions(h.actions.handle, activity.RegisterOptions{Name: name})
	}
	return h
}

func (h *harness) run(in Input) (*Result, error) {
	h.env.ExecuteWorkflow(PlaybookWorkflow, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		return nil, err
	}
	var res Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return &res, nil
}

func failureOf(t *testing.T, err error) (string, Failure) {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != FailureType {
		t.Fatalf("want a %s failure, got %v", FailureType, err)
	}
	var f Failure
	if err := app.Details(&f); err != nil {
		t.Fatal(err)
	}
	return app.Message(), f
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const phishing = `
name: phish
inputs:
  sender: { type: string, required: true }
  lookback: { type: int, default: 7 }
vars:
  tag: ${{ "case-" + inputs.sender }}
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: "${{ inputs.sender }}", lastndays: "${{ inputs.lookback }}" }
    next:
      - if: len(steps.sweep.output.mails) == 0
        goto: end
  - id: quarantine
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.sweep.output.mails }}", wait: true }
  - id: note
    set: { count: "${{ steps.quarantine.output.succeeded }}" }
output:
  found: ${{ len(steps.sweep.output.mails) }}
  quarantined: ${{ vars.count }}
  tag: ${{ vars.tag }}
`

func TestSequenceTemplatesAndOutput(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["sweep"] = func(in wire.ActionInput) (any, error) {
		return map[string]any{"mails": []any{map[string]any{"mailbox": "a@x.test"}, map[string]any{"mailbox": "b@x.test"}}, "count": 2, "truncated": false}, nil
	}
	h.actions.handlers["quarantine"] = func(in wire.ActionInput) (any, error) {
		if n := len(in.With["mails"].([]any)); n != 2 {
			return nil, fmt.Errorf("got %d mails", n)
		}
		return map[string]any{"batch_ids": []string{"b1"}, "succeeded": 2, "skipped": 0, "failed": 0, "actions": []any{}}, nil
	}
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, phishing), Playbook: PlaybookRef{Name: "phish"}, Inputs: map[string]any{"sender": "evil@x.test", "lookback": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"found":2,"quarantined":2,"tag":"case-evil@x.test"}` {
		t.Fatalf("output %s", got)
	}
	if got := strings.Join(h.actions.ids(), ","); got != "sweep,quarantine" {
		t.Fatalf("activity ids %s", got)
	}
	sweepWith := h.actions.calls[0].With
	if sweepWith["sender"] != "evil@x.test" || fmt.Sprint(sweepWith["lastndays"]) != "3" {
		t.Fatalf("sweep with %v", sweepWith)
	}
	if res.Steps["note"].Status != StatusSucceeded || res.Steps["sweep"].Attempts != 1 {
		t.Fatalf("records %+v", res.Steps)
	}
}

func TestNextGotoEndSkipsTheRest(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["sweep"] = func(wire.ActionInput) (any, error) { return map[string]any{"mails": []any{}}, nil }
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, phishing), Inputs: map[string]any{"sender": "x@y.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.actions.ids(), ","); got != "sweep" {
		t.Fatalf("ran %s", got)
	}
	if _, ran := res.Steps["quarantine"]; ran {
		t.Fatal("quarantine has a record")
	}
}

func TestMissingInputFailsTheRun(t *testing.T) {
	h := newHarness(t)
	_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, phishing), Inputs: map[string]any{"lookback": "many"}})
	msg, f := failureOf(t, err)
	if msg != "input sender is required; input lookback: \"many\" is not a whole number" || f.Type != wire.InvalidInput {
		t.Fatalf("got %q %+v", msg, f)
	}
}

const errorsPlaybook = `
name: errs
steps:
  - id: first
    action: cecp.sweep
    with: { sender: a@b.test }
    on_error: continue
  - id: check
    if: steps.first.status == "failed"
    set: { first_error: "${{ steps.first.error.type + ': ' + steps.first.error.message }}" }
  - id: second
    action: cecp.block
    with: { senders: [a@b.test] }
    on_error: { goto: report }
  - id: skipped_by_goto
    action: cecp.unblock
    with: { senders: [a@b.test] }
  - id: report
    action: notify.webhook
    with: { connection: soc, text: "${{ vars.first_error }}" }
  - id: boom
    action: cecp.quarantine_events
    with: {}
on_failure:
  - id: tell
    action: notify.webhook
    with: { connection: soc, text: "failed at ${{ error.step }}: ${{ error.type }}" }
`

func TestOnErrorContinueGotoAndOnFailure(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["first"] = func(wire.ActionInput) (any, error) {
		return nil, temporal.NewNonRetryableApplicationError("Authentication token not found", "VendorAuth", nil)
	}
	h.actions.handlers["second"] = func(wire.ActionInput) (any, error) {
		return nil, temporal.NewNonRetryableApplicationError("bad sender", "VendorRejected", nil)
	}
	h.actions.handlers["boom"] = func(wire.ActionInput) (any, error) {
		return nil, temporal.NewNonRetryableApplicationError("service unavailable", "VendorRejected", nil)
	}
	_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, errorsPlaybook)})
	msg, f := failureOf(t, err)
	if msg != "step boom failed: VendorRejected: service unavailable" || f.Step != "boom" {
		t.Fatalf("failure %q %+v", msg, f)
	}
	if got := strings.Join(h.actions.ids(), ","); got != "first,second,report,boom,tell" {
		t.Fatalf("ran %s", got)
	}
	if got := h.actions.calls[2].With["text"]; got != "VendorAuth: Authentication token not found" {
		t.Fatalf("report text %q", got)
	}
	if got := h.actions.calls[4].With["text"]; got != "failed at boom: VendorRejected" {
		t.Fatalf("on_failure text %q", got)
	}
	if f.Steps["first"].Status != StatusFailed || f.Steps["first"].Error.Type != "VendorAuth" || f.Steps["tell"].Status != StatusSucceeded {
		t.Fatalf("records %+v", f.Steps)
	}
}

const loops = `
name: loops
steps:
  - id: disable
    for_each: ${{ ["a@x.test", "b@x.test", "c@x.test", "d@x.test"] }}
    as: mailbox
    concurrency: 2
    action: cecp.mitigate_accounts
    with: { action: revoke_sessions, accounts: ["${{ mailbox }}"] }
  - id: poll
    action: cecp.mitigation_results
    with: { batch_id: 11111111-2222-3333-4444-555555555555 }
    until: output.count >= 3
    every: 1m
    max_attempts: 5
output:
  order: ${{ map(steps.disable.output, .batch_ids[0]) }}
  polls: ${{ steps.poll.attempts }}
`

func TestForEachKeepsOrderAndUntilPolls(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["disable"] = func(in wire.ActionInput) (any, error) {
		return map[string]any{"batch_ids": []any{in.With["accounts"].([]any)[0]}}, nil
	}
	polls := 0
	h.actions.handlers["poll"] = func(wire.ActionInput) (any, error) {
		polls++
		return map[string]any{"count": polls, "actions": []any{}}, nil
	}
	start := h.env.Now()
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, loops)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"order":["a@x.test","b@x.test","c@x.test","d@x.test"],"polls":3}` {
		t.Fatalf("output %s", got)
	}
	ids := h.actions.ids()
	sort.Strings(ids)
	if got := strings.Join(ids, ","); got != "disable#0,disable#1,disable#2,disable#3,poll,poll,poll" {
		t.Fatalf("ids %s", got)
	}
	if waited := h.env.Now().Sub(start); waited < 2*time.Minute {
		t.Fatalf("until waited %s, want two 1m timers", waited)
	}
}

func TestUntilExhaustedAndForEachBound(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["poll"] = func(wire.ActionInput) (any, error) { return map[string]any{"count": 0}, nil }
	h.actions.handlers["disable"] = func(wire.ActionInput) (any, error) { return map[string]any{"batch_ids": []any{"x"}}, nil }
	_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, loops)})
	msg, _ := failureOf(t, err)
	if msg != "step poll failed: UntilExhausted: the until condition was still false after 5 attempts" {
		t.Fatalf("got %q", msg)
	}

	h = newHarness(t)
	src := strings.Replace(loops, `${{ ["a@x.test", "b@x.test", "c@x.test", "d@x.test"] }}`, `${{ map(0..1500, "u" + string(#) + "@x.test") }}`, 1)
	_, err = h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
	msg, _ = failureOf(t, err)
	if msg != "step disable failed: LimitExceeded: for_each gave 1501 items, more than its bound of 1000 (nothing was run)" || len(h.actions.ids()) != 0 {
		t.Fatalf("got %q after %d calls", msg, len(h.actions.ids()))
	}
}

const parallelPB = `
name: par
steps:
  - id: contain
    parallel:
      quarantine:
        - id: quarantine
          action: cecp.mitigate_mails
          with: { action: quarantine, mails: [] }
      block:
        - id: block_sender
          action: cecp.block
          with: { senders: [a@b.test] }
        - id: block_more
          action: cecp.block
          with: { senders: [c@b.test] }
  - id: after
    action: notify.webhook
    with: { connection: soc, text: done }
`

func TestParallelFailureCancelsSiblings(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["quarantine"] = func(wire.ActionInput) (any, error) {
		return nil, temporal.NewNonRetryableApplicationError("no permission", "VendorAuth", nil)
	}
	// block_sender is still running when the other branch fails, whatever the machine's load: it returns only
	// when the test ends (the workflow has then long cancelled it).
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h.actions.handlers["block_sender"] = func(wire.ActionInput) (any, error) {
		<-release
		return map[string]any{}, nil
	}
	_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, parallelPB)})
	msg, f := failureOf(t, err)
	if msg != "step contain.quarantine failed: VendorAuth: no permission" {
		t.Fatalf("got %q", msg)
	}
	if f.Step != "quarantine" || f.Path != "contain.quarantine" {
		t.Fatalf("failure at %s (%s), want quarantine (contain.quarantine)", f.Step, f.Path)
	}
	if st := f.Steps["block_more"].Status; st != "" && st != StatusCancelled {
		t.Fatalf("block_more ran after the sibling failed: %+v", f.Steps["block_more"])
	}
	for _, id := range h.actions.ids() {
		if id == "after" || id == "block_more" {
			t.Fatalf("%s ran", id)
		}
	}

	h = newHarness(t)
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, parallelPB)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Steps["contain"].Output); got != `{"block":"succeeded","quarantine":"succeeded"}` {
		t.Fatalf("parallel output %s", got)
	}
}

const approvalPB = `
name: appr
steps:
  - id: approve_disable
    approval:
      prompt: "Disable ${{ inputs.who }}?"
      timeout: 4h
      on_timeout: reject
  - id: disable
    if: steps.approve_disable.output.approved
    action: cecp.mitigate_accounts
    with: { action: disable, accounts: ["${{ inputs.who }}"] }
inputs:
  who: { type: string, default: a@x.test }
output:
  by: ${{ steps.approve_disable.output.by }}
  disabled: ${{ steps.disable.status }}
`

func TestApprovalUpdate(t *testing.T) {
	h := newHarness(t)
	var rejected []string
	var status Status
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryStatus)
		if err != nil {
			t.Error(err)
			return
		}
		if err := v.Get(&status); err != nil {
			t.Error(err)
		}
		for _, d := range []ApprovalDecision{{Step: "nope", Approved: true, By: "eve"}, {Step: "approve_disable", Approved: true}} {
			h.env.UpdateWorkflow(UpdateApproval, "u-"+d.Step, &testsuite.TestUpdateCallback{
				OnReject: func(err error) { rejected = append(rejected, err.Error()) },
				OnAccept: func() { t.Errorf("accepted %+v", d) },
			}, d)
		}
		h.env.UpdateWorkflow(UpdateApproval, "u-ok", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("rejected: %v", err) },
		}, ApprovalDecision{Step: "approve_disable", Approved: true, By: "alice", Comment: "go"})
		h.env.UpdateWorkflow(UpdateApproval, "u-twice", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { rejected = append(rejected, err.Error()) },
		}, ApprovalDecision{Step: "approve_disable", Approved: false, By: "bob"})
	}, time.Minute)
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, approvalPB)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"by":"alice","disabled":"succeeded"}` {
		t.Fatalf("output %s", got)
	}
	want := []string{
		`step "nope" is not waiting for an approval (waiting: approve_disable)`,
		`an approval decision needs who decided (by)`,
		`step "approve_disable" was already decided by alice`,
	}
	if strings.Join(rejected, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rejections:\n%s", strings.Join(rejected, "\n"))
	}
	if status.State != StatusWaiting || len(status.Waiting) != 1 || status.Waiting[0].Kind != "approval" || status.Waiting[0].Prompt != "Disable a@x.test?" {
		t.Fatalf("status while waiting: %+v", status)
	}
}

func TestApprovalTimeout(t *testing.T) {
	h := newHarness(t)
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, approvalPB)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"by":"timeout","disabled":"skipped"}` {
		t.Fatalf("output %s", got)
	}
	h = newHarness(t)
	_, err = h.run(Input{RunID: "r1", Plan: compilePlan(t, strings.Replace(approvalPB, "on_timeout: reject", "on_timeout: fail", 1))})
	if msg, _ := failureOf(t, err); msg != "step approve_disable failed: ApprovalTimeout: no decision within 4h" {
		t.Fatalf("got %q", msg)
	}
}

func TestFinishFailAndGuards(t *testing.T) {
	h := newHarness(t)
	src := `
name: fin
steps:
  - id: early
    if: inputs.fp
    finish: { status: false_positive, output: { why: "${{ 'benign' }}" } }
  - id: stop
    fail: "not handled: ${{ inputs.fp }}"
inputs:
  fp: { type: bool, default: false }
`
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src), Inputs: map[string]any{"fp": true}})
	if err != nil || res.Status != "false_positive" || mustJSON(t, res.Output) != `{"why":"benign"}` {
		t.Fatalf("finish: %+v %v", res, err)
	}
	h = newHarness(t)
	_, err = h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
	if msg, _ := failureOf(t, err); msg != "step stop failed: Failed: not handled: false" {
		t.Fatalf("fail: %q", msg)
	}

	h = newHarness(t)
	h.actions.handlers["cecp.sweep"] = func(wire.ActionInput) (any, error) {
		return map[string]any{"mails": []any{strings.Repeat("x", 1100<<10)}}, nil
	}
	_, err = h.run(Input{RunID: "r1", Plan: compilePlan(t, phishing), Inputs: map[string]any{"sender": "s@x.test"}})
	if msg, _ := failureOf(t, err); msg != "step sweep failed: LimitExceeded: the output of step sweep is 1126414 bytes, over the 1048576-byte limit: return less (filter or chunk the work)" {
		t.Fatalf("output bound: %q", msg)
	}

	h = newHarness(t)
	_, err = h.run(Input{RunID: "r1", Plan: compilePlan(t, loops), Limits: Limits{MaxStepExecutions: 3}})
	if msg, _ := failureOf(t, err); !strings.HasPrefix(msg, "step disable#3 failed: LimitExceeded: this run executed more than 3 steps") {
		t.Fatalf("execution bound: %q", msg)
	}
}

func TestCallChildPlaybook(t *testing.T) {
	h := newHarness(t)
	child := compilePlan(t, `
name: child
inputs:
  n: { type: int, required: true }
steps:
  - id: ping
    action: notify.webhook
    with: { connection: soc, text: "n=${{ inputs.n }}" }
output:
  doubled: ${{ inputs.n * 2 }}
`)
	parent := compilePlan(t, `
name: parent
steps:
  - id: sub
    call: child
    with: { n: 21 }
  - id: missing
    call: ghost
    on_error: continue
output:
  got: ${{ steps.sub.output.doubled }}
  missing: ${{ steps.missing.error.type }}
`)
	res, err := h.run(Input{RunID: "r1", Plan: parent, Subplans: map[string]json.RawMessage{"child": child}})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, res.Output); got != `{"got":42,"missing":"PlaybookNotFound"}` {
		t.Fatalf("output %s", got)
	}
	if h.actions.calls[0].With["text"] != "n=21" {
		t.Fatalf("child call %+v", h.actions.calls)
	}
}

func TestReuseSkipsRecordedSteps(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["sweep"] = func(wire.ActionInput) (any, error) { return nil, errors.New("must not run") }
	h.actions.handlers["quarantine"] = func(in wire.ActionInput) (any, error) {
		return map[string]any{"succeeded": len(in.With["mails"].([]any))}, nil
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	reuse := map[string]StepRecord{"sweep": {Status: StatusSucceeded, Output: map[string]any{"mails": []any{map[string]any{"mailbox": "r@x.test"}}}, StartedAt: &at, FinishedAt: &at, Attempts: 1}}
	res, err := h.run(Input{RunID: "r2", Plan: compilePlan(t, phishing), Inputs: map[string]any{"sender": "s@x.test"}, Reuse: reuse, RetryOf: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.actions.ids(), ","); got != "quarantine" {
		t.Fatalf("ran %s", got)
	}
	if !res.Steps["sweep"].Reused || mustJSON(t, res.Output) != `{"found":1,"quarantined":1,"tag":"case-s@x.test"}` {
		t.Fatalf("result %+v", res)
	}
}

func TestAlertsAndIncidentSignals(t *testing.T) {
	h := newHarness(t)
	src := `
name: inc
inputs:
  sender: { type: string, from: alert.data.sender }
steps:
  - id: wait_for_more
    wait: 10m
  - id: tell
    action: notify.webhook
    with: { connection: soc, text: "${{ inputs.sender }}: ${{ len(incident.alerts) }} alerts, connection ${{ alert.connection }}" }
`
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(SignalAlert, map[string]any{"id": 2, "title": "again"})
		h.env.SignalWorkflow(SignalAlert, map[string]any{"id": 2, "title": "again"}) // a redelivery is not counted twice
		h.env.SignalWorkflow(SignalAlert, map[string]any{"id": 3, "title": "third"})
	}, time.Minute)
	alert := map[string]any{"id": 1, "connection": "prod", "data": map[string]any{"sender": "evil@x.test"}}
	_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src), Alert: alert, Incident: &Incident{ID: 9, Key: "k", Alerts: []map[string]any{alert}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.actions.calls[0].With["text"]; got != "evil@x.test: 3 alerts, connection prod" {
		t.Fatalf("text %q", got)
	}
}

func TestCECPStepsDefaultToTheAlertsConnection(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["sweep"] = func(wire.ActionInput) (any, error) { return map[string]any{"mails": []any{}}, nil }
	_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, phishing), Inputs: map[string]any{"sender": "s@x.test"}, Alert: map[string]any{"connection": "tenant-b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.actions.calls[0].With["connection"]; got != "tenant-b" {
		t.Fatalf("connection %v", got)
	}
}

func TestApproversByNameOrRole(t *testing.T) {
	src := strings.Replace(approvalPB, "      timeout: 4h\n", "      timeout: 4h\n      approvers: [soc-lead, \"role:admin\"]\n", 1)
	for _, tc := range []struct {
		d      ApprovalDecision
		reject string
	}{
		{ApprovalDecision{Step: "approve_disable", Approved: true, By: "eve", Roles: []string{"ingest", "viewer", "responder"}}, `eve may not decide step "approve_disable" (approvers: soc-lead, role:admin)`},
		{ApprovalDecision{Step: "approve_disable", Approved: true, By: "soc-lead", Roles: []string{"ingest", "viewer", "responder"}}, ""},
		{ApprovalDecision{Step: "approve_disable", Approved: true, By: "root", Roles: []string{"ingest", "viewer", "responder", "author", "admin"}}, ""},
	} {
		h := newHarness(t)
		var rejected string
		h.env.RegisterDelayedCallback(func() {
			h.env.UpdateWorkflow(UpdateApproval, "u", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { rejected = err.Error() },
			}, tc.d)
		}, time.Minute)
		res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, src)})
		if err != nil {
			t.Fatal(err)
		}
		if rejected != tc.reject {
			t.Errorf("%s: rejected %q, want %q", tc.d.By, rejected, tc.reject)
		}
		if wantBy := map[bool]string{true: "timeout", false: tc.d.By}[tc.reject != ""]; res.Output["by"] != wantBy {
			t.Errorf("%s: by %v", tc.d.By, res.Output["by"])
		}
	}
}

func TestAnInterpreterVersionThisCodeDoesNotRunFailsTheRun(t *testing.T) {
	t.Parallel()
	for _, v := range []int{-1, int(InterpreterVersion) + 1} {
		h := newHarness(t)
		_, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, phishing), Interpreter: v})
		var app *temporal.ApplicationError
		want := fmt.Sprintf("the run asks for interpreter version %d; this parry runs versions 1 to %d (a run started by a newer parry runs on a worker of that version)", v, InterpreterVersion)
		if !errors.As(err, &app) || app.Type() != wire.InvalidInput || app.Message() != want || !app.NonRetryable() {
			t.Fatalf("version %d: %v", v, err)
		}
	}
}
