// Package runs starts playbook runs: it records the run in the runs table, builds the workflow input (plan,
// inputs, alert, incident, the plans of called playbooks, what a retry reuses) and starts the Playbook workflow
// with a deterministic id, so a repeated start is a no-op. The API, the alert dispatcher and `parry run retry`
// all start runs through it.
package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// WorkflowStarter is the part of the Temporal client that starts workflows.
type WorkflowStarter interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow interface{}, args ...interface{}) (client.WorkflowRun, error)
}

// RunStore is what the starter reads to build a run's workflow input, and where it marks runs started
// (*store.Store is one; tests use an in-memory fake).
type RunStore interface {
	GetRun(ctx context.Context, id string) (store.Run, error)
	GetAlert(ctx context.Context, id int64) (store.Alert, error)
	GetIncident(ctx context.Context, id int64) (store.Incident, error)
	IncidentAlerts(ctx context.Context, id int64, limit int) ([]store.Alert, error)
	GetEnabledPlaybook(ctx context.Context, name string) (store.PlaybookVersion, error)
	MarkRunStarted(ctx context.Context, id, workflowRunID string) error
	UpdateRun(ctx context.Context, u store.RunUpdate) (bool, error)
}

// Recorder stores a run together with the outbox entry that starts it, leased to the caller when hold > 0
// (*store.Store is one).
type Recorder interface {
	RecordRun(ctx context.Context, r store.Run, hold time.Duration) (bool, store.OutboxEntry, error)
}

// Starter records and starts runs.
type Starter struct {
	Store     RunStore
	Temporal  WorkflowStarter
	TaskQueue string
	Engine    *expression.Engine
	// Limits are the interpreter's guards for the runs this starter starts (zero: the defaults).
	Limits workflows.Limits
}

// InputError is a request the playbook cannot run with (unknown or missing inputs, bad types): a caller's
// mistake, not an outage.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// NewRunID returns a fresh run id for a manual run: run-<time>-<random>.
func NewRunID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("run-%s-%s", now.UTC().Format("20060102T150405"), hex.EncodeToString(b))
}

// Request describes a run to record.
type Request struct {
	RunID    string
	Plan     *plan.Plan
	Version  int // registry version, 0 for a file or inline playbook
	Inputs   map[string]any
	AlertID  *int64
	Alert    map[string]any
	Incident *int64
	// RetryOf and RetryFrom make this run a retry that reuses the old run's records before RetryFrom.
	RetryOf   string
	RetryFrom string
	StartedBy string
}

// Prepare checks the inputs of req and returns the row that records it as a pending run. It writes nothing:
// the caller stores the row (with the outbox entry that starts it) in its own transaction.
func (s *Starter) Prepare(req Request) (store.Run, error) {
	if req.Plan == nil {
		return store.Run{}, errors.New("recording a run: no plan")
	}
	if _, err := workflows.ResolveInputs(s.engine(), req.Plan, req.Inputs, req.Alert, time.Now()); err != nil {
		return store.Run{}, &InputError{Err: err}
	}
	planJSON, err := plan.Encode(req.Plan)
	if err != nil {
		return store.Run{}, err
	}
	inputs, err := EncodeInputs(req.Inputs)
	if err != nil {
		return store.Run{}, &InputError{Err: err}
	}
	return store.Run{
		ID: req.RunID, PlaybookName: req.Plan.Name, PlaybookVersion: req.Version, PlaybookSHA256: req.Plan.SHA256,
		Status: store.RunPending, RetryOf: req.RetryOf, RetryFromStep: req.RetryFrom, StartedBy: req.StartedBy,
		IncidentID: req.Incident, AlertID: req.AlertID, Inputs: inputs, Plan: planJSON,
	}, nil
}

// Record checks the inputs and stores the run as pending with the outbox entry that starts it (leased to the
// caller for hold when hold > 0, see store.Store.RecordRun). It returns whether the run was new (a repeated id
// is left alone) and the entry queued.
func (s *Starter) Record(ctx context.Context, rec Recorder, req Request, hold time.Duration) (bool, store.OutboxEntry, error) {
	r, err := s.Prepare(req)
	if err != nil {
		return false, store.OutboxEntry{}, err
	}
	return rec.RecordRun(ctx, r, hold)
}

// EncodeInputs is a run's inputs as its runs row records them ({} for none). It refuses what PostgreSQL's jsonb
// cannot hold (a NUL character, a number beyond its numeric type), naming the input, so that a caller refuses
// the run rather than failing the transaction that records it (the dispatcher's batch of alerts).
func EncodeInputs(m map[string]any) (json.RawMessage, error) {
	b, err := json.Marshal(orEmpty(m))
	if err != nil {
		return nil, fmt.Errorf("inputs are not JSON: %w", err)
	}
	if store.CheckJSON("inputs", b) == nil {
		return b, nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v, _ := json.Marshal(m[k])
		if err := store.CheckJSON("input "+k, v); err != nil {
			return nil, err
		}
	}
	return nil, store.CheckJSON("inputs", b)
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (s *Starter) engine() *expression.Engine {
	if s.Engine == nil {
		s.Engine = expression.NewEngine()
	}
	return s.Engine
}

// Input builds the workflow input of a recorded run from the database: its plan and inputs, the alert, the
// incident with its alerts, the enabled plans of the playbooks it calls, and for a retry the reused records.
func (s *Starter) Input(ctx context.Context, r store.Run) (workflows.Input, error) {
	p, err := plan.Decode(r.Plan)
	if err != nil {
		return workflows.Input{}, &unstartableError{fmt.Errorf("run %s: %w", r.ID, err)}
	}
	in := workflows.Input{
		RunID: r.ID, Plan: r.Plan,
		Playbook:  workflows.PlaybookRef{Name: r.PlaybookName, Version: r.PlaybookVersion, SHA256: r.PlaybookSHA256},
		RetryOf:   r.RetryOf,
		StartedBy: r.StartedBy,
		Limits:    s.Limits,
		// Interpreter: the newest semantics, at the oldest version that runs the plan (workflows.InterpreterFor).
		Interpreter: workflows.InterpreterFor(p),
	}
	if len(r.Inputs) > 0 {
		var m map[string]any
		if err := json.Unmarshal(r.Inputs, &m); err != nil {
			return in, &unstartableError{fmt.Errorf("run %s inputs: %w", r.ID, err)}
		}
		if len(m) > 0 {
			in.Inputs = m
		}
	}
	if r.AlertID != nil {
		a, err := s.Store.GetAlert(ctx, *r.AlertID)
		if err != nil {
			return in, err
		}
		in.Alert = AlertValue(a)
	}
	if r.IncidentID != nil {
		inc, err := s.incident(ctx, *r.IncidentID)
		if err != nil {
			return in, err
		}
		in.Incident = inc
	}
	if in.Subplans, err = s.subplans(ctx, p); err != nil {
		return in, err
	}
	if r.RetryOf != "" {
		old, err := s.Store.GetRun(ctx, r.RetryOf)
		if err != nil {
			return in, err
		}
		if in.Reuse, err = Reusable(old, p, r.RetryFromStep); err != nil {
			return in, &unstartableError{err}
		}
	}
	return in, nil
}

// AlertValue is how a playbook sees an alert (alert.*, incident.alerts[*]).
func AlertValue(a store.Alert) map[string]any {
	var data any = map[string]any{}
	if len(a.Data) > 0 {
		var d any
		if json.Unmarshal(a.Data, &d) == nil && d != nil {
			data = d
		}
	}
	return map[string]any{
		"id": a.ID, "source": a.Source, "source_id": a.SourceID, "kind": a.Kind, "severity": a.Severity,
		"title": a.Title, "connection": a.Connection, "observed_at": a.ObservedAt.UTC().Format(time.RFC3339Nano),
		"received_at": a.ReceivedAt.UTC().Format(time.RFC3339Nano), "data": data,
	}
}

func (s *Starter) incident(ctx context.Context, id int64) (*workflows.Incident, error) {
	stored, err := s.Store.GetIncident(ctx, id)
	if err != nil {
		return nil, err
	}
	alerts, err := s.Store.IncidentAlerts(ctx, id, store.MaxIncidentAlerts)
	if err != nil {
		return nil, err
	}
	inc := &workflows.Incident{ID: id, Key: stored.DedupKey, Alerts: make([]map[string]any, 0, len(alerts))}
	for _, a := range alerts {
		inc.Alerts = append(inc.Alerts, AlertValue(a))
	}
	return inc, nil
}

// subplans resolves the call targets of p, recursively, to their enabled versions.
func (s *Starter) subplans(ctx context.Context, p *plan.Plan) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	var visit func(p *plan.Plan) error
	visit = func(p *plan.Plan) error {
		var names []string
		p.Walk(func(st *plan.Step) bool {
			if st.Call != nil {
				names = append(names, st.Call.Playbook)
			}
			return true
		})
		sort.Strings(names)
		for _, name := range names {
			if _, done := out[name]; done {
				continue
			}
			v, err := s.Store.GetEnabledPlaybook(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				continue // the call step fails with PlaybookNotFound, which the playbook may handle
			}
			if err != nil {
				return err
			}
			out[name] = v.Plan
			sub, err := plan.Decode(v.Plan)
			if err != nil {
				return fmt.Errorf("plan of %s: %w", name, err)
			}
			if err := visit(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(p); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// WorkflowOptions are the start options of a run: its id is the run id (so a second start is refused, not
// duplicated) and the run's timeout is the playbook's. The start is eager: when a worker of the task queue
// runs in this process (parry dev, one binary), the start's answer carries the run's first workflow task to
// it, saving the trip through Temporal's matching; elsewhere it is an ordinary start.
func (s *Starter) WorkflowOptions(runID string, p *plan.Plan) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		EnableEagerStart:         true,
		ID:                       runID,
		TaskQueue:                s.TaskQueue,
		WorkflowExecutionTimeout: p.Timeout.D(),
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}
}

// Start starts the workflow of a recorded run and marks it started. A workflow that already exists with that
// id counts as started. Callers go through the Outbox, which retries a start that failed.
func (s *Starter) Start(ctx context.Context, r store.Run) error {
	in, err := s.Input(ctx, r)
	if err != nil {
		return err
	}
	p, err := plan.Decode(r.Plan)
	if err != nil {
		return err
	}
	run, err := s.Temporal.ExecuteWorkflow(ctx, s.WorkflowOptions(r.ID, p), workflows.PlaybookWorkflow, in)
	runID := ""
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		runID = run.GetRunID()
	case errors.As(err, &already):
		runID = already.RunId
	default:
		return fmt.Errorf("starting run %s: %w", r.ID, err)
	}
	return s.Store.MarkRunStarted(ctx, r.ID, runID)
}
