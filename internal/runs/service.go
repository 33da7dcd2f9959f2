package runs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// Service is what the API does with runs: start, show, approve, cancel, retry, export.
type Service struct {
	Store    *store.Store
	Temporal client.Client
	Starter  *Starter
	Linter   *playbook.Linter
	// Outbox carries out the start of a run at once; nil: one over Store, Starter and Temporal.
	Outbox *Outbox
	// Converters decrypt what the service reads of histories itself (the timeline, export); the Temporal
	// client decrypts the rest.
	Converters payloadcrypt.Converters
}

func (s *Service) outbox() *Outbox {
	if s.Outbox == nil {
		s.Outbox = &Outbox{Store: s.Store, Starter: s.Starter, Temporal: s.Temporal}
	}
	return s.Outbox
}

// startNow records r with the outbox entry that starts it, then carries the entry out. When Temporal is
// unreachable the run stays pending (the dispatchers' outbox pass starts it later) and the error is nil.
//
// The entry is recorded leased to this call, so a dispatcher's outbox pass running meanwhile cannot take it:
// before, a pass that claimed it between the commit and the start left this call nothing to do, and the
// caller was told the run was pending (202) while it was being started. A repeated id carries out whatever
// its run still has queued.
func (s *Service) startNow(ctx context.Context, req Request) (store.Run, error) {
	ob := s.outbox()
	inserted, entry, err := s.Starter.Record(ctx, s.Store, req, positive(ob.Lease, DefaultOutboxLease))
	if err != nil {
		return store.Run{}, err
	}
	if inserted {
		_, err = ob.CarryOut(ctx, []store.OutboxEntry{entry})
	} else {
		_, err = ob.RunNow(ctx, req.RunID)
	}
	if err != nil && !isUnavailable(err) {
		r, _ := s.Store.GetRun(ctx, req.RunID)
		return r, err
	}
	return s.Store.GetRun(ctx, req.RunID)
}

// NotFoundError names what does not exist (a 404).
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }

// ConflictError is a request that does not fit the run's state (a 409): approving a step that is not
// waiting, cancelling a finished run.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// StartParams describes a manual run.
type StartParams struct {
	// Playbook names a registered playbook (its enabled version, or Version); Source is inline YAML instead.
	Playbook string
	Version  int
	Source   string
	Inputs   map[string]any
	// Alert is an alert the run gets as `alert` (stored, never dispatched).
	Alert     *store.NewAlert
	StartedBy string
	// RunID is an optional idempotency key: starting the same id twice starts one run.
	RunID string
}

// ResolvePlan returns the plan and registry version a start request names, compiling inline sources.
func (s *Service) ResolvePlan(ctx context.Context, name string, version int, source string) (*plan.Plan, int, error) {
	if source != "" {
		p, diags := s.linter().Load("inline.yaml", []byte(source))
		if p == nil {
			return nil, 0, &InputError{Err: fmt.Errorf("the playbook does not compile:\n%s", formatDiagnostics(diags))}
		}
		return p, 0, nil
	}
	if name == "" {
		return nil, 0, &InputError{Err: errors.New("name a playbook (playbook) or give its YAML (source)")}
	}
	var v store.PlaybookVersion
	var err error
	if version > 0 {
		v, err = s.Store.GetPlaybookVersion(ctx, name, version)
	} else {
		v, err = s.Store.GetEnabledPlaybook(ctx, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		if version > 0 {
			return nil, 0, &NotFoundError{What: fmt.Sprintf("playbook %q version %d", name, version)}
		}
		return nil, 0, &NotFoundError{What: fmt.Sprintf("an enabled version of playbook %q", name)}
	}
	if err != nil {
		return nil, 0, err
	}
	p, err := plan.Decode(v.Plan)
	if err != nil {
		return nil, 0, err
	}
	return p, v.Version, nil
}

func formatDiagnostics(diags []playbook.Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

func (s *Service) linter() *playbook.Linter {
	if s.Linter == nil {
		s.Linter = playbook.NewLinter(nil)
	}
	return s.Linter
}

// StartRun records a manual run and starts it. When Temporal is unreachable the run stays pending and the
// tracker starts it later; the returned run says so (status pending) and err is nil.
func (s *Service) StartRun(ctx context.Context, sp StartParams) (store.Run, error) {
	p, version, err := s.ResolvePlan(ctx, sp.Playbook, sp.Version, sp.Source)
	if err != nil {
		return store.Run{}, err
	}
	id := sp.RunID
	if id == "" {
		id = NewRunID(time.Now())
	}
	req := Request{RunID: id, Plan: p, Version: version, Inputs: sp.Inputs, StartedBy: sp.StartedBy}
	if sp.Alert != nil {
		a := *sp.Alert
		a.Manual = true
		if a.SourceID == "" {
			a.SourceID = "run:" + id
		}
		ids, err := s.Store.InsertAlerts(ctx, []store.NewAlert{a}, "run:"+id)
		if err != nil {
			return store.Run{}, err
		}
		stored, err := s.Store.GetAlert(ctx, ids[0].ID)
		if err != nil {
			return store.Run{}, err
		}
		req.AlertID = &stored.ID
		req.Alert = AlertValue(stored)
	}
	return s.startNow(ctx, req)
}

// isUnavailable tells a Temporal outage (retry later) from a refusal.
func isUnavailable(err error) bool { return unavailable(err) }

// Approve decides a pending approval step of a run.
func (s *Service) Approve(ctx context.Context, runID, step string, d workflows.ApprovalDecision) (workflows.ApprovalOutput, error) {
	r, err := s.run(ctx, runID)
	if err != nil {
		return workflows.ApprovalOutput{}, err
	}
	if store.Terminal(r.Status) {
		return workflows.ApprovalOutput{}, &ConflictError{Msg: fmt.Sprintf("run %s is %s: nothing waits for an approval", runID, r.Status)}
	}
	d.Step = step
	sum := sha256.Sum256([]byte(step + "|" + d.By + "|" + fmt.Sprint(d.Approved) + "|" + d.Comment))
	h, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     "approval-" + step + "-" + hex.EncodeToString(sum[:6]),
		WorkflowID:   runID,
		UpdateName:   workflows.UpdateApproval,
		Args:         []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var out workflows.ApprovalOutput
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return out, &ConflictError{Msg: fmt.Sprintf("run %s is not running", runID)}
		}
		if isUnavailable(err) {
			return out, err
		}
		// The workflow's validator refused it: its message says why.
		var refused *temporal.ApplicationError
		if errors.As(err, &refused) {
			return out, &ConflictError{Msg: refused.Message()}
		}
		return out, err
	}
	return out, nil
}

// Cancel asks a running run to stop; its running steps are cancelled and it ends as cancelled.
func (s *Service) Cancel(ctx context.Context, runID string) error {
	r, err := s.run(ctx, runID)
	if err != nil {
		return err
	}
	if store.Terminal(r.Status) {
		return &ConflictError{Msg: fmt.Sprintf("run %s is already %s", runID, r.Status)}
	}
	if r.Status == store.RunPending && r.WorkflowRunID == "" {
		_, err := s.Store.UpdateRun(ctx, store.RunUpdate{ID: runID, Status: store.RunCancelled, Error: "cancelled before it started", FinishedAt: ptr(time.Now())})
		return err
	}
	err = s.Temporal.CancelWorkflow(ctx, runID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return &ConflictError{Msg: fmt.Sprintf("run %s is not running", runID)}
	}
	return err
}

func ptr[T any](v T) *T { return &v }

func (s *Service) run(ctx context.Context, id string) (store.Run, error) {
	r, err := s.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, &NotFoundError{What: "run " + id}
	}
	return r, err
}

// RetryParams describe a retry.
type RetryParams struct {
	// From is the first step to execute again ("" = the first failed step).
	From string
	// Source is a fixed playbook (YAML); Version a registry version; Latest the newest registered version.
	// None of them: the plan the failed run ran.
	Source    string
	Version   int
	Latest    bool
	StartedBy string
}

// Retry starts a new run linked to a failed one that reuses the recorded results of the steps before From and
// runs From and everything after it with the chosen plan.
func (s *Service) Retry(ctx context.Context, runID string, rp RetryParams) (store.Run, error) {
	old, err := s.run(ctx, runID)
	if err != nil {
		return store.Run{}, err
	}
	if !store.Terminal(old.Status) {
		return store.Run{}, &ConflictError{Msg: fmt.Sprintf("run %s is still %s: cancel it or wait for it to end before retrying", runID, old.Status)}
	}
	var p *plan.Plan
	version := old.PlaybookVersion
	switch {
	case rp.Source != "":
		if p, version, err = s.ResolvePlan(ctx, "", 0, rp.Source); err != nil {
			return store.Run{}, err
		}
		if p.Name != old.PlaybookName {
			return store.Run{}, &InputError{Err: fmt.Errorf("the playbook given is %q, the run ran %q", p.Name, old.PlaybookName)}
		}
	case rp.Version > 0 || rp.Latest:
		v := rp.Version
		if rp.Latest {
			vs, err := s.Store.ListPlaybookVersions(ctx, old.PlaybookName, false)
			if err != nil {
				return store.Run{}, err
			}
			if len(vs) == 0 {
				return store.Run{}, &NotFoundError{What: fmt.Sprintf("playbook %q in the registry", old.PlaybookName)}
			}
			v = vs[0].Version
		}
		pv, err := s.Store.GetPlaybookVersion(ctx, old.PlaybookName, v)
		if errors.Is(err, store.ErrNotFound) {
			return store.Run{}, &NotFoundError{What: fmt.Sprintf("playbook %q version %d", old.PlaybookName, v)}
		}
		if err != nil {
			return store.Run{}, err
		}
		if p, err = plan.Decode(pv.Plan); err != nil {
			return store.Run{}, err
		}
		version = pv.Version
	default:
		if p, err = plan.Decode(old.Plan); err != nil {
			return store.Run{}, err
		}
	}
	from := rp.From
	if from == "" {
		var records map[string]workflows.StepRecord
		_ = json.Unmarshal(old.Steps, &records)
		oldPlan, err := plan.Decode(old.Plan)
		if err != nil {
			return store.Run{}, err
		}
		from = FirstFailed(oldPlan, records, old.FailedStep)
		if from == "" {
			return store.Run{}, &InputError{Err: fmt.Errorf("run %s has no failed step; name the step to retry from (--from)", runID)}
		}
	}
	if _, err := Reusable(old, p, from); err != nil {
		return store.Run{}, &InputError{Err: err}
	}
	var inputs map[string]any
	if len(old.Inputs) > 0 {
		if err := json.Unmarshal(old.Inputs, &inputs); err != nil {
			return store.Run{}, err
		}
	}
	if old.AlertID != nil {
		// An alert's run records the inputs resolved from the alert: the retry keeps them (its reused steps ran
		// with them) but not one that the version it runs no longer declares, which no one asked for.
		inputs = declaredInputs(p, inputs)
	}
	var alert map[string]any
	if old.AlertID != nil {
		a, err := s.Store.GetAlert(ctx, *old.AlertID)
		if err != nil {
			return store.Run{}, err
		}
		alert = AlertValue(a)
	}
	id := NewRunID(time.Now()) + "-retry-of-" + runID
	if len(id) > 250 {
		id = NewRunID(time.Now()) + "-retry"
	}
	req := Request{RunID: id, Plan: p, Version: version, Inputs: inputs, AlertID: old.AlertID, Alert: alert, Incident: old.IncidentID,
		RetryOf: runID, RetryFrom: from, StartedBy: rp.StartedBy}
	return s.startNow(ctx, req)
}

// declaredInputs keeps of inputs those p declares.
func declaredInputs(p *plan.Plan, inputs map[string]any) map[string]any {
	out := make(map[string]any, len(inputs))
	for _, in := range p.Inputs {
		if v, ok := inputs[in.Name]; ok {
			out[in.Name] = v
		}
	}
	return out
}

// temporalProblem says in a few words why a Temporal call did not answer, for notes shown to people; it never
// carries the SDK's own error text.
func temporalProblem(err error) string {
	var notFound *serviceerror.NotFound
	var denied *serviceerror.PermissionDenied
	var queryFailed *serviceerror.QueryFailed
	var app *temporal.ApplicationError
	switch {
	case isUnavailable(err):
		return "Temporal is unreachable"
	case errors.As(err, &notFound):
		return "Temporal no longer has the workflow (past the namespace's retention?)"
	case errors.As(err, &denied):
		return "Temporal refused parry's credentials"
	case errors.As(err, &queryFailed):
		return "the workflow did not answer the status query"
	case errors.As(err, &app):
		return app.Message()
	}
	return "Temporal could not answer"
}
