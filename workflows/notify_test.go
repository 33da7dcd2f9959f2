package workflows

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/wire"
)

const notifyPB = `
name: appr
inputs:
  who: { type: string, default: a@x.test }
steps:
  - id: approve_disable
    approval:
      prompt: "Disable ${{ inputs.who }}?"
      approvers: [soc-lead, "role:admin"]
      timeout: 4h
      on_timeout: reject
      notify: soc-chat
output:
  by: ${{ steps.approve_disable.output.by }}
  notify: ${{ steps.approve_disable.output.notify }}
`

// wantNotify is the notify.webhook input of notifyPB's approval in run r1, started at the test
// environment's clock (the deadline is 4h after it).
func wantNotify(start time.Time) map[string]any {
	return ApprovalMessage("soc-chat", "appr", "r1", "approve_disable", "Disable a@x.test?", []string{"soc-lead", "role:admin"}, start.Add(4*time.Hour), "reject")
}

// approveAt decides the approval after d, first reading the run's status (what the console shows then).
func approveAt(h *harness, d time.Duration, status *Status) {
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryStatus)
		if err != nil {
			h.t.Error(err)
			return
		}
		if err := v.Get(status); err != nil {
			h.t.Error(err)
		}
		h.env.UpdateWorkflow(UpdateApproval, "u-ok", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { h.t.Errorf("rejected: %v", err) },
		}, ApprovalDecision{Step: "approve_disable", Approved: true, By: "soc-lead"})
	}, d)
}

// TestApprovalNotifyPostsThePrompt: an approval with notify posts its prompt (run, step, deadline, how to
// answer, and run_link for the worker's console link) through notify.webhook, under the step's id, when it
// starts waiting; the wait shows the notification sent and the step's output keeps it.
func TestApprovalNotifyPostsThePrompt(t *testing.T) {
	h := newHarness(t)
	start := h.env.Now().UTC()
	var status Status
	approveAt(h, time.Minute, &status)
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, notifyPB)})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.actions.calls) != 1 {
		t.Fatalf("calls %+v", h.actions.calls)
	}
	c := h.actions.calls[0]
	if c.ActivityID != "approve_disable" || c.Action != "notify.webhook" {
		t.Fatalf("call %+v", c)
	}
	if got, want := mustJSON(t, c.With), mustJSON(t, wantNotify(start)); got != want {
		t.Errorf("notify.webhook input\n got %s\nwant %s", got, want)
	}
	if len(status.Waiting) != 1 || status.State != StatusWaiting || status.Waiting[0].Notify == nil ||
		*status.Waiting[0].Notify != (NotifyStatus{Webhook: "soc-chat", State: NotifySent}) {
		t.Errorf("status while waiting: %+v", status)
	}
	if got := status.Waiting[0].Notify.Summary(); got != "chat notification to soc-chat: sent" {
		t.Errorf("summary %q", got)
	}
	if got := mustJSON(t, res.Output); got != `{"by":"soc-lead","notify":{"error":null,"sent":true,"webhook":"soc-chat"}}` {
		t.Errorf("output %s", got)
	}
}

// TestApprovalNotifyFailureLeavesTheApprovalWaiting: a notification the chat refuses fails after the action's
// own retries, and the approval waits all the same: answerable, the failure on the wait and in the output.
func TestApprovalNotifyFailureLeavesTheApprovalWaiting(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["notify.webhook"] = func(wire.ActionInput) (any, error) {
		return nil, actionErr{typ: wire.VendorRejected, msg: `posting to webhook "soc-chat": HTTP 404 Not Found`}
	}
	var status Status
	approveAt(h, time.Hour, &status)
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, notifyPB)})
	if err != nil {
		t.Fatalf("the run failed: %v", err)
	}
	want := NotifyStatus{Webhook: "soc-chat", State: NotifyFailed, Error: &StepError{Type: wire.VendorRejected, Message: `posting to webhook "soc-chat": HTTP 404 Not Found`}}
	if status.State != StatusWaiting || len(status.Waiting) != 1 || status.Waiting[0].Kind != "approval" || !reflect.DeepEqual(status.Waiting[0].Notify, &want) {
		t.Fatalf("status an hour in: %+v", status)
	}
	if got, want := status.Waiting[0].Notify.Summary(), `chat notification to soc-chat failed (VendorRejected: posting to webhook "soc-chat": HTTP 404 Not Found); the approval waits all the same`; got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	if got := mustJSON(t, res.Output); got != `{"by":"soc-lead","notify":{"error":{"message":"posting to webhook \"soc-chat\": HTTP 404 Not Found","type":"VendorRejected"},"sent":false,"webhook":"soc-chat"}}` {
		t.Errorf("output %s", got)
	}
	if rec := res.Steps["approve_disable"]; rec.Status != StatusSucceeded || rec.Error != nil {
		t.Errorf("the approval's record %+v", rec)
	}
}

// TestApprovalNotifyRetriesStopWithTheApproval: a chat that is down is retried with the action's back-off;
// an answer in the meantime ends the approval at once, cancels the notification and says it was not posted.
func TestApprovalNotifyRetriesStopWithTheApproval(t *testing.T) {
	h := newHarness(t)
	h.actions.handlers["notify.webhook"] = func(wire.ActionInput) (any, error) {
		return nil, actionErr{typ: wire.VendorUnavailable, msg: `posting to webhook "soc-chat": no answer`}
	}
	var status Status
	approveAt(h, 3*time.Second, &status)
	res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, notifyPB)})
	if err != nil {
		t.Fatalf("the run failed: %v", err)
	}
	if n := status.Waiting[0].Notify; n == nil || n.State != NotifySending {
		t.Errorf("status while retrying: %+v", status.Waiting)
	}
	if got := mustJSON(t, res.Output); got != `{"by":"soc-lead","notify":{"error":{"message":"the approval ended before the message was posted","type":"Cancelled"},"sent":false,"webhook":"soc-chat"}}` {
		t.Errorf("output %s", got)
	}
}

// TestApprovalNotifyOnlyFromItsInterpreterVersion: a run of an earlier interpreter version never issues the
// notification (the command would not be in its history); an approval without notify issues nothing either.
func TestApprovalNotifyOnlyFromItsInterpreterVersion(t *testing.T) {
	for _, tc := range []struct {
		name        string
		src         string
		interpreter int
	}{
		{"interpreter 1", notifyPB, int(interpreterTyped)},
		{"no notify", strings.Replace(notifyPB, "      notify: soc-chat\n", "", 1), int(InterpreterVersion)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			var status Status
			approveAt(h, time.Minute, &status)
			if tc.name == "no notify" {
				tc.src = strings.Replace(tc.src, "  notify: ${{ steps.approve_disable.output.notify }}\n", "", 1)
			}
			res, err := h.run(Input{RunID: "r1", Plan: compilePlan(t, tc.src), Interpreter: tc.interpreter})
			if err != nil {
				t.Fatal(err)
			}
			if len(h.actions.calls) != 0 || status.Waiting[0].Notify != nil {
				t.Errorf("calls %+v, wait %+v", h.actions.calls, status.Waiting[0])
			}
			if _, ok := res.Output["notify"]; ok && res.Output["notify"] != nil {
				t.Errorf("output %v", res.Output)
			}
		})
	}
}

// TestApprovalMessage pins the message text an approval's notification carries.
func TestApprovalMessage(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 1, 1, 4, 0, 0, 0, time.FixedZone("CET", 3600))
	got := ApprovalMessage("soc-chat", "phishing-containment", "run-20260101T020000-ab12", "per_user#2.approve", "Disable ann@corp.test?", nil, until, "fail")
	want := map[string]any{
		"connection": "soc-chat",
		"title":      "Approval needed: phishing-containment / per_user#2.approve",
		"text":       "Disable ann@corp.test?\n\nAnswer in the console, or: `parry run approve run-20260101T020000-ab12 per_user#2.approve [--reject] [--comment TEXT]`",
		"fields": map[string]any{
			"run": "run-20260101T020000-ab12", "step": "per_user#2.approve", "answer by": "2026-01-01T03:00:00Z", "if unanswered": "the step fails",
		},
		"run_link": true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	withApprovers := ApprovalMessage("soc-chat", "p", "r", "s", "Go?", []string{"soc-lead", "role:admin"}, until, "approve")["fields"].(map[string]any)
	if withApprovers["approvers"] != "soc-lead, role:admin" || withApprovers["if unanswered"] != "approved" {
		t.Errorf("fields %v", withApprovers)
	}
}

// TestInterpreterForAPlan: a run gets version 2 only when its plan has an approval with notify (anywhere:
// inside a parallel branch or a loop body too), so a worker of the previous parry still runs every other plan.
func TestInterpreterForAPlan(t *testing.T) {
	if got := InterpreterFor(mustDecode(t, compilePlan(t, notifyPB))); got != int(interpreterNotify) {
		t.Errorf("notify: version %d", got)
	}
	nested := func(notify *plan.Action) *plan.Plan {
		return &plan.Plan{Steps: []plan.Step{{ID: "p", Parallel: []plan.Branch{{Name: "b", Steps: []plan.Step{{ID: "loop", Steps: []plan.Step{
			{ID: "ask", Approval: &plan.Approval{Prompt: "ok?", Notify: notify}}}}}}}}}}
	}
	if got := InterpreterFor(nested(&plan.Action{Name: "notify.webhook"})); got != int(interpreterNotify) {
		t.Errorf("nested notify: version %d", got)
	}
	if got := InterpreterFor(nested(nil)); got != int(interpreterTyped) {
		t.Errorf("an approval without notify: version %d", got)
	}
	if got := InterpreterFor(&plan.Plan{Steps: []plan.Step{{ID: "w", Wait: plan.Duration(time.Minute)}}}); got != int(interpreterTyped) {
		t.Errorf("no approval: version %d", got)
	}
}
