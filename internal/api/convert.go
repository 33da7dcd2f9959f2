package api

import (
	"fmt"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/yamlnode"
	"github.com/parry-soar/parry/workflows"
)

// The handlers answer with apitypes values only; these map the store's and the run service's values to them,
// so a change of a table or an internal type never changes the wire silently.

func toRun(r store.Run) apitypes.Run {
	return apitypes.Run{ID: r.ID, WorkflowRunID: r.WorkflowRunID, PlaybookName: r.PlaybookName, PlaybookVersion: r.PlaybookVersion,
		PlaybookSHA256: r.PlaybookSHA256, Status: r.Status, ResultStatus: r.ResultStatus, WaitingFor: r.WaitingFor,
		FailedStep: r.FailedStep, Error: r.Error, RetryOf: r.RetryOf, RetryFromStep: r.RetryFromStep, StartedBy: r.StartedBy,
		IncidentID: r.IncidentID, AlertID: r.AlertID, Inputs: r.Inputs, Output: r.Output, CreatedAt: r.CreatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, UpdatedAt: r.UpdatedAt}
}

func toRuns(rs []store.Run) []apitypes.Run {
	out := make([]apitypes.Run, 0, len(rs))
	for _, r := range rs {
		out = append(out, toRun(r))
	}
	return out
}

func toRunView(v runs.View) apitypes.RunView {
	out := apitypes.RunView{Run: toRun(v.Run), Steps: toSteps(v.Steps), Waiting: make([]apitypes.Wait, 0, len(v.Waiting)), Note: v.Note}
	for _, w := range v.Waiting {
		out.Waiting = append(out.Waiting, apitypes.Wait{Step: w.Step, Kind: w.Kind, Until: w.Until, Prompt: w.Prompt,
			Approvers: w.Approvers, Detail: w.Detail})
	}
	return out
}

func toSteps(steps []runs.StepView) []apitypes.Step {
	out := make([]apitypes.Step, 0, len(steps))
	for _, s := range steps {
		st := apitypes.Step{ID: s.ID, Kind: s.Kind, Action: s.Action, Status: s.Status, Attempts: s.Attempts,
			StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, DurationMS: s.DurationMS, Error: toStepError(s.Error),
			Input: s.Input, Output: s.Output, Reused: s.Reused, Depth: s.Depth}
		if len(s.Items) > 0 {
			st.Items = toSteps(s.Items)
		}
		out = append(out, st)
	}
	return out
}

func toStepError(e *workflows.StepError) *apitypes.StepError {
	if e == nil {
		return nil
	}
	return &apitypes.StepError{Type: e.Type, Message: e.Message, Step: e.Step}
}

func toApproval(o workflows.ApprovalOutput) apitypes.ApprovalResponse {
	return apitypes.ApprovalResponse{Approved: o.Approved, By: o.By, Comment: o.Comment, At: o.At, TimedOut: o.TimedOut}
}

func toExport(ex runs.Export) apitypes.Export {
	return apitypes.Export{ExportVersion: ex.ExportVersion, ExportedAt: ex.ExportedAt, Run: toRun(ex.Run), Plan: ex.Plan,
		Steps: ex.Steps, Alerts: toAlerts(ex.Alerts), History: ex.History, Decrypted: ex.Decrypted}
}

func toAlert(a store.Alert) apitypes.Alert {
	return apitypes.Alert{ID: a.ID, Source: a.Source, SourceID: a.SourceID, Kind: a.Kind, Severity: a.Severity, Title: a.Title,
		Connection: a.Connection, ObservedAt: a.ObservedAt, ReceivedAt: a.ReceivedAt, Data: a.Data, IngestedBy: a.IngestedBy,
		Status: a.Status, Matched: a.Matched, DispatchedAt: a.DispatchedAt, Attempts: a.Attempts, LastError: a.LastError,
		Reason: alertReason(a)}
}

// alertReason says in words what became of an alert. A dispatched alert's last_error names the playbooks
// whose trigger or dedup key failed to evaluate on it (the evaluator's message, never a Go type).
func alertReason(a store.Alert) string {
	switch {
	case a.Status == apitypes.AlertPending && a.Attempts > 0:
		return fmt.Sprintf("not dispatched yet: %d attempts failed, the last with: %s", a.Attempts, a.LastError)
	case a.Status == apitypes.AlertPending:
		return "waiting for the dispatcher"
	case a.Matched == 0 && a.LastError != "":
		return "started nothing: a trigger or dedup key could not be evaluated: " + a.LastError
	case a.Matched == 0:
		return "started nothing: no enabled playbook's trigger matched this alert"
	case a.LastError != "":
		return fmt.Sprintf("matched %s; a trigger or dedup key could not be evaluated: %s", plural(a.Matched, "playbook"), a.LastError)
	}
	return "matched " + plural(a.Matched, "playbook") + " (opened or joined an incident for each)"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func toAlerts(as []store.Alert) []apitypes.Alert {
	out := make([]apitypes.Alert, 0, len(as))
	for _, a := range as {
		out = append(out, toAlert(a))
	}
	return out
}

func toIncident(i store.Incident) apitypes.Incident {
	return apitypes.Incident{ID: i.ID, PlaybookName: i.PlaybookName, PlaybookVersion: i.PlaybookVersion, DedupKey: i.DedupKey,
		Status: i.Status, RunID: i.RunID, FirstAlertID: i.FirstAlertID, AlertCount: i.AlertCount, OpenedAt: i.OpenedAt,
		WindowEndsAt: i.WindowEndsAt, LastAlertAt: i.LastAlertAt, ClosedAt: i.ClosedAt, ClosedBy: i.ClosedBy}
}

func toPlaybookVersion(v store.PlaybookVersion) apitypes.PlaybookVersion {
	return apitypes.PlaybookVersion{ID: v.ID, Name: v.Name, Version: v.Version, SHA256: v.SHA256, Source: v.Source, Plan: v.Plan,
		Enabled: v.Enabled, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy}
}

func toPushed(ps []registry.Pushed) []apitypes.Pushed {
	out := make([]apitypes.Pushed, 0, len(ps))
	for _, p := range ps {
		out = append(out, apitypes.Pushed{File: p.File, Name: p.Name, Version: p.Version, SHA256: p.SHA256, Created: p.Created, Enabled: p.Enabled})
	}
	return out
}

func toDiagnostics(ds []yamlnode.Diagnostic) []apitypes.Diagnostic {
	out := make([]apitypes.Diagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, apitypes.Diagnostic{File: d.File, Line: d.Line, Column: d.Column, Severity: string(d.Severity), Message: d.Message})
	}
	return out
}

func toToken(t store.Token) apitypes.Token {
	return apitypes.Token{ID: t.ID, Name: t.Name, Role: string(t.Role), Prefix: t.Prefix, CreatedAt: t.CreatedAt,
		CreatedBy: t.CreatedBy, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}
