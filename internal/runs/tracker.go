package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// TrackerStore is what the tracker reads and writes (*store.Store is one; tests use an in-memory fake).
type TrackerStore interface {
	TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	TrackerCursor(ctx context.Context, name string) (time.Time, error)
	SetTrackerCursor(ctx context.Context, name string, at time.Time) error
	GetRun(ctx context.Context, id string) (store.Run, error)
	UpdateRun(ctx context.Context, u store.RunUpdate) (bool, error)
	// StaleActiveRuns returns up to limit running or waiting runs, least recently checked first, and marks
	// them checked now.
	StaleActiveRuns(ctx context.Context, limit int) ([]store.Run, error)
	// A mitigation step's batch is read from the queue.
	mitigation.ProgressStore
}

// TrackerTemporal is what the tracker needs of the Temporal client (client.Client is one).
type TrackerTemporal interface {
	LiveTemporal
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	GetWorkflow(ctx context.Context, workflowID string, runID string) client.WorkflowRun
}

// Defaults of the tracker's tuning fields.
const (
	DefaultTrackerInterval = 2 * time.Second
	DefaultTrackerLease    = 15 * time.Second
	DefaultRefreshBudget   = 20
	DefaultVisibilitySlack = time.Minute
	// TrackerLease names the lease that elects the cluster's one tracker.
	TrackerLease = "run-tracker"
	// trackerCursor names the tracker's visibility cursor.
	trackerCursor = "executions"
	// firstLookBack is how far back a tracker with no cursor looks (a new cluster, an upgrade).
	firstLookBack = time.Hour
)

// Tracker keeps the runs table in step with Temporal, so lists need no Temporal round trip. One tracker works
// per cluster: every parry server runs one, and the holder of a lease in PostgreSQL does the work while the
// others wait to take over.
//
// A pass costs what changed, not what is active: one visibility query lists the executions that started or
// closed since the last pass (runs that ended are recorded with their outcome, runs reset or started from
// outside parry are noticed), and a fixed budget of live-state reads refreshes what the longest-unchecked
// running runs wait for (an approval, a timer, the vendor quota). A run being looked at (run show, the console)
// is read live at that moment and its row refreshed, so nobody waits for the budget to come round.
type Tracker struct {
	Store    TrackerStore
	Temporal TrackerTemporal
	Logger   *slog.Logger
	// Namespace is used for visibility queries.
	Namespace string
	// Holder names this process in the lease; a random name when empty.
	Holder string
	// Interval between passes; Lease how long a leader's claim lasts without renewal (renewed every pass);
	// RefreshBudget the live-state reads per pass; Slack how far a visibility query reaches before the
	// cursor (visibility is eventually consistent, clocks skew).
	Interval      time.Duration
	Lease         time.Duration
	RefreshBudget int
	Slack         time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Converters read heartbeat details and failure messages of encrypted histories.
	Converters payloadcrypt.Converters
}

// TrackerPass counts what one pass did, and the Temporal calls it made (the tracker's cost).
type TrackerPass struct {
	Leader    bool
	Listed    int // executions the visibility query returned
	Recorded  int // runs whose row changed
	Refreshed int // running runs whose live state was read
	Calls     int // Temporal RPCs
}

func (t *Tracker) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Logger
}

func (t *Tracker) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tracker) holder() string {
	if t.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		t.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return t.Holder
}

// Run makes passes every Interval until ctx is done, then gives the lease up.
func (t *Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(positive(t.Interval, DefaultTrackerInterval))
	defer tick.Stop()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = t.Store.ReleaseLease(rctx, TrackerLease, t.holder())
	}()
	for {
		if _, err := t.Pass(ctx); err != nil && ctx.Err() == nil {
			t.logger().Warn("tracking runs in Temporal", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Pass takes (or renews) the lease and, when this process holds it, makes one pass.
func (t *Tracker) Pass(ctx context.Context) (TrackerPass, error) {
	var p TrackerPass
	leader, err := t.Store.TakeLease(ctx, TrackerLease, t.holder(), positive(t.Lease, DefaultTrackerLease))
	if err != nil || !leader {
		return p, err
	}
	p.Leader = true
	start := t.now()
	if err := t.followExecutions(ctx, &p); err != nil {
		return p, err
	}
	if err := t.Store.SetTrackerCursor(ctx, trackerCursor, start); err != nil {
		return p, err
	}
	return p, t.refresh(ctx, &p)
}

// followExecutions records the runs whose executions started or closed since the cursor.
func (t *Tracker) followExecutions(ctx context.Context, p *TrackerPass) error {
	cursor, err := t.Store.TrackerCursor(ctx, trackerCursor)
	if err != nil {
		return err
	}
	if cursor.IsZero() {
		cursor = t.now().Add(-firstLookBack)
	}
	since := cursor.Add(-positive(t.Slack, DefaultVisibilitySlack)).UTC().Format(time.RFC3339Nano)
	query := fmt.Sprintf("WorkflowType = '%s' AND (StartTime >= '%s' OR CloseTime >= '%s')", workflows.PlaybookWorkflow, since, since)
	synced := map[string]bool{} // an earlier and a later run of one id (a reset) are synced once: Sync reads the current one
	var token []byte
	var firstErr error
	for {
		p.Calls++
		resp, err := t.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: t.Namespace, Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("listing the executions changed since %s: %w", since, err)
		}
		for _, ex := range resp.GetExecutions() {
			p.Listed++
			if err := t.follow(ctx, p, ex, synced); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return firstErr
		}
	}
}

// follow syncs the run of one listed execution when the table does not already say what Temporal says.
func (t *Tracker) follow(ctx context.Context, p *TrackerPass, ex *workflowpb.WorkflowExecutionInfo, synced map[string]bool) error {
	id, runID := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
	if synced[id] {
		return nil
	}
	r, err := t.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // not a run parry recorded
	}
	if err != nil {
		return err
	}
	running := ex.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	switch {
	case r.WorkflowRunID == runID && store.Terminal(r.Status) && !running:
		return nil // recorded already
	case r.WorkflowRunID == runID && !store.Terminal(r.Status) && running:
		return nil // still going: the refresh budget follows what it waits for
	}
	synced[id] = true
	changed, err := t.Sync(ctx, p, id)
	if changed {
		p.Recorded++
	}
	return err
}

// refresh reads the live state of the running runs checked longest ago, within the budget.
func (t *Tracker) refresh(ctx context.Context, p *TrackerPass) error {
	stale, err := t.Store.StaleActiveRuns(ctx, positive(t.RefreshBudget, DefaultRefreshBudget))
	if err != nil {
		return err
	}
	var firstErr error
	for _, r := range stale {
		p.Refreshed++
		changed, err := t.Sync(ctx, p, r.ID)
		if changed {
			p.Recorded++
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// SyncRun reads one run's state from Temporal and stores it (run show does this for the run it shows).
func (t *Tracker) SyncRun(ctx context.Context, id string) error {
	_, err := t.Sync(ctx, &TrackerPass{}, id)
	return err
}

// Sync reads one run's current execution from Temporal and stores what it says. It reports whether the row
// changed.
func (t *Tracker) Sync(ctx context.Context, p *TrackerPass, id string) (bool, error) {
	p.Calls++
	desc, err := t.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, nil // started moments ago elsewhere, or gone with retention
	}
	if err != nil {
		return false, fmt.Errorf("describing run %s: %w", id, err)
	}
	u, err := t.update(ctx, p, id, desc.GetWorkflowExecutionInfo())
	if err != nil || u == nil {
		return false, err
	}
	changed, err := t.Store.UpdateRun(ctx, *u)
	if err != nil {
		return false, err
	}
	if changed {
		t.logger().Debug("run updated", "run", id, "status", u.Status, "waiting_for", u.WaitingFor)
	}
	return changed, nil
}

// update builds the row update of one execution: its outcome when it ended, what it waits for when not.
func (t *Tracker) update(ctx context.Context, p *TrackerPass, id string, info *workflowpb.WorkflowExecutionInfo) (*store.RunUpdate, error) {
	runID := info.GetExecution().GetRunId()
	u := &store.RunUpdate{ID: id, WorkflowRunID: runID}
	if st := info.GetStartTime(); st != nil {
		started := st.AsTime().UTC()
		u.StartedAt = &started
	}
	if ct := info.GetCloseTime(); ct != nil {
		closed := ct.AsTime().UTC()
		u.FinishedAt = &closed
	}
	result := func(v any) error {
		p.Calls++
		return t.Temporal.GetWorkflow(ctx, id, runID).Get(ctx, v)
	}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		u.Status = store.RunRunning
		p.Calls += 2
		if _, waits, err := liveState(ctx, t.Temporal, t.Converters, t.Store, id); err == nil {
			u.Status, u.WaitingFor = waitingSummary(waits)
			u.Waits, _ = json.Marshal(waits)
			return u, nil
		}
		// The query failed (no worker polls right now): keep what the row says it waits for.
		r, err := t.Store.GetRun(ctx, id)
		if err != nil {
			return nil, err
		}
		u.WaitingFor = r.WaitingFor
		if r.Status == store.RunWaiting {
			u.Status = store.RunWaiting
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res workflows.Result
		if err := result(&res); err != nil {
			return nil, fmt.Errorf("reading the result of run %s: %w", id, err)
		}
		u.Status, u.ResultStatus = store.RunSucceeded, res.Status
		u.Output, _ = json.Marshal(res.Output)
		u.Steps, _ = json.Marshal(res.Steps)
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		u.Status = store.RunFailed
		err := result(nil)
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
		err := result(nil)
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
		return nil, nil
	}
	return u, nil
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
		case "batch":
			parts = append(parts, w.Step+": "+w.Detail)
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
