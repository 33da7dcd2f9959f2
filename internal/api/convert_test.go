package api

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

var addedReason = regexp.MustCompile(`,"reason":"[^"]*"`)

// TestWireNamesDidNotMove: the API's own types answer with exactly the JSON the store's and the run service's
// types gave before the API owned its types (the CLI's --json and the docs depend on the names).
func TestWireNamesDidNotMove(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	id := int64(7)
	run := store.Run{ID: "r", WorkflowRunID: "w", PlaybookName: "p", PlaybookVersion: 2, PlaybookSHA256: "s", Status: "failed",
		ResultStatus: "x", WaitingFor: "y", FailedStep: "f", Error: "e", RetryOf: "o", RetryFromStep: "fs", StartedBy: "b",
		IncidentID: &id, AlertID: &id, Inputs: json.RawMessage(`{"a":1}`), Output: json.RawMessage(`{"b":2}`),
		Plan: json.RawMessage(`{}`), Steps: json.RawMessage(`{}`), CreatedAt: now, StartedAt: &now, FinishedAt: &now, UpdatedAt: now}
	alert := store.Alert{ID: 1, Source: "s", SourceID: "i", Kind: "k", Severity: "low", Title: "t", Connection: "c", ObservedAt: now,
		ReceivedAt: now, Data: json.RawMessage(`{"x":1}`), IngestedBy: "b", Status: "pending", Matched: 1, DispatchedAt: &now, Attempts: 2, LastError: "l"}
	step := runs.StepView{ID: "s", Kind: "action", Action: "a", Status: "failed", Attempts: 2, StartedAt: &now, FinishedAt: &now, DurationMS: 5,
		Error: &workflows.StepError{Type: "T", Message: "m", Step: "s"}, Input: map[string]any{"i": 1}, Output: "o", Reused: true, Depth: 1}
	step.Items = []runs.StepView{step}
	view := runs.View{Run: run, Steps: []runs.StepView{step}, Waiting: []runs.WaitView{{Step: "s", Kind: "approval", Until: now, Prompt: "p", Approvers: []string{"a"}, Detail: "d"}}, Note: "n"}
	ex := runs.Export{ExportVersion: 1, ExportedAt: now, Run: run, Plan: json.RawMessage(`{"p":1}`), Steps: json.RawMessage(`{"s":1}`), Alerts: []store.Alert{alert}, History: json.RawMessage(`{"events":[]}`)}
	tok := store.Token{ID: 1, Name: "n", Role: store.RoleAdmin, Prefix: "pry_x", CreatedAt: now, CreatedBy: "b", LastUsedAt: &now}
	inc := store.Incident{ID: 1, PlaybookName: "p", PlaybookVersion: 1, DedupKey: "k", Status: "closed", RunID: "r", FirstAlertID: 1, AlertCount: 2,
		OpenedAt: now, WindowEndsAt: now, LastAlertAt: now, ClosedAt: &now, ClosedBy: "b"}
	pv := store.PlaybookVersion{ID: 1, Name: "p", Version: 1, SHA256: "s", Source: "src", Plan: json.RawMessage(`{}`), Enabled: true, CreatedAt: now, CreatedBy: "b"}
	for _, tc := range []struct {
		name       string
		old, their any
	}{
		{"run", run, toRun(run)},
		{"view", view, toRunView(view)},
		{"export", ex, toExport(ex)},
		{"alert", alert, toAlert(alert)},
		{"token", tok, toToken(tok)},
		{"incident", inc, toIncident(inc)},
		{"playbook version", pv, toPlaybookVersion(pv)},
		{"approval", workflows.ApprovalOutput{Approved: true, By: "b", Comment: "c", At: now, TimedOut: true},
			toApproval(workflows.ApprovalOutput{Approved: true, By: "b", Comment: "c", At: now, TimedOut: true})},
	} {
		a, _ := json.Marshal(tc.old)
		b, _ := json.Marshal(tc.their)
		// Fields added since keep the old names where they were: an alert's reason (issue 14) is the only one.
		b = addedReason.ReplaceAll(b, nil)
		if string(a) != string(b) {
			t.Errorf("%s:\nwas %s\nnow %s", tc.name, a, b)
		}
	}
}
