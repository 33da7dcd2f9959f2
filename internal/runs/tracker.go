package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// Tracker keeps the runs table in step with Temporal, so lists need no Temporal round trip: it starts pending
// runs, follows active runs (running, waiting and what for), records how they ended (output, failed step and
// error, step records), and notices runs changed from outside parry (terminated, cancelled, reset).
type Tracker struct {
	Service  *Service
	Logger   *slog.Logger
	Interval time.Duration
	// Namespace is used for visibility queries.
	Namespace string

	lastPass time.Time
}

// Run syncs every Interval until ctx is done.
func (t *Tracker) Run(ctx context.Context) error {
	interval := t.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := t.SyncOnce(ctx); err != nil && ctx.Err() == nil {
			t.Logger.Warn("syncing runs with Temporal", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// SyncOnce does one pass.
func (t *Tracker) SyncOnce(ctx context.Context) error {
	s := t.Service
	if _, err := s.Starter.StartPending(ctx, 100); err != nil {
		return fmt.Errorf("starting pending runs: %w", err)
	}
	active, err := s.Store.ListRuns(ctx, store.RunQuery{Active: true, Limit: 1000})
	if err != nil {
		return err
	}
	var firstErr error
	for _, r := range active {
		if r.Status == store.RunPending {
			continue
		}
		if err := t.Sync(ctx, r.ID); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	// Runs reset from outside parry run again under a new Temporal run id, though the table says they ended:
	// look at the executions started since the last pass (running or already closed) for run ids the table
	// does not know.
	since := t.lastPass.Add(-30 * time.Second)
	if t.lastPass.IsZero() {
		since = time.Now().Add(-time.Hour)
	}
	t.lastPass = time.Now()
	resp, err := s.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: t.Namespace,
		Query:     fmt.Sprintf("WorkflowType = '%s' AND StartTime > '%s'", workflows.PlaybookWorkflow, since.UTC().Format(time.RFC3339Nano)),
		PageSize:  1000,
	})
	if err == nil {
		for _, ex := range resp.GetExecutions() {
			id, runID := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			r, err := s.Store.GetRun(ctx, id)
			if err != nil || !store.Terminal(r.Status) || r.WorkflowRunID == runID {
				continue
			}
			if err := t.Sync(ctx, id); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// Sync reads one run's state from Temporal and stores it.
func (t *Tracker) Sync(ctx context.Context, id string) error {
	s := t.Service
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil // started moments ago elsewhere, or gone with retention
	}
	if err != nil {
		return fmt.Errorf("describing run %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	u := store.RunUpdate{ID: id, WorkflowRunID: runID}
	if st := info.GetStartTime(); st != nil {
		started := st.AsTime().UTC()
		u.StartedAt = &started
	}
	if ct := info.GetCloseTime(); ct != nil {
		closed := ct.AsTime().UTC()
		u.FinishedAt = &closed
	}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		u.Status = store.RunRunning
		r, err := s.Store.GetRun(ctx, id)
		if err != nil {
			return err
		}
		if _, waits, err := s.live(ctx, r); err == nil {
			u.Status, u.WaitingFor = waitingSummary(waits)
		} else {
			u.WaitingFor = r.WaitingFor
			if r.Status == store.RunWaiting {
				u.Status = store.RunWaiting
			}
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res workflows.Result
		if err := s.Temporal.GetWorkflow(ctx, id, runID).Get(ctx, &res); err != nil {
			return fmt.Errorf("reading the result of run %s: %w", id, err)
		}
		u.Status, u.ResultStatus = store.RunSucceeded, res.Status
		u.Output, _ = json.Marshal(res.Output)
		u.Steps, _ = json.Marshal(res.Steps)
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		u.Status = store.RunFailed
		err := s.Temporal.GetWorkflow(ctx, id, runID).Get(ctx, nil)
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == workflows.FailureType {
			var f workflows.Failure
			if app.Details(&f) == nil {
				u.FailedStep = f.Step
				u.Steps, _ = json.Marshal(f.Steps)
			}
			u.Error = app.Message()
		} else if err != nil {
			u.Error = err.Error()
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		u.Status, u.Error = store.RunCancelled, "cancelled"
		err := s.Temporal.GetWorkflow(ctx, id, runID).Get(ctx, nil)
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) && canceled.HasDetails() {
			var steps map[string]workflows.StepRecord
			if canceled.Details(&steps) == nil {
				u.Steps, _ = json.Marshal(steps)
			}
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		u.Status, u.Error = store.RunCancelled, "terminated from outside parry"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		u.Status, u.Error = store.RunFailed, "the run reached its timeout"
	default:
		return nil
	}
	changed, err := s.Store.UpdateRun(ctx, u)
	if err != nil {
		return err
	}
	if changed && t.Logger != nil {
		t.Logger.Debug("run updated", "run", id, "status", u.Status, "waiting_for", u.WaitingFor)
	}
	return nil
}

// waitingSummary turns what a run waits for into its status (waiting when every wait is on a person, a timer
// or a called playbook) and a one-line description.
func waitingSummary(waits []WaitView) (string, string) {
	if len(waits) == 0 {
		return store.RunRunning, ""
	}
	parts := make([]string, 0, len(waits))
	onlyWaiting := true
	for _, w := range waits {
		switch w.Kind {
		case "approval":
			parts = append(parts, "approval of "+w.Step)
		case "timer":
			parts = append(parts, "timer in "+w.Step)
		case "call":
			parts = append(parts, "called playbook in "+w.Step)
		case "vendor quota":
			parts = append(parts, "vendor quota for "+w.Step)
			onlyWaiting = false
		case "retry back-off":
			parts = append(parts, "retry of "+w.Step)
			onlyWaiting = false
		default:
			onlyWaiting = false
		}
	}
	status := store.RunRunning
	if onlyWaiting {
		status = store.RunWaiting
	}
	return status, strings.Join(parts, ", ")
}
