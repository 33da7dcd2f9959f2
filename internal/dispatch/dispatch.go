// Package dispatch moves committed alerts into playbook runs. A Dispatcher matches every pending alert against
// the trigger (on.alert.when) of every enabled playbook version, groups matches into incidents by dedup key and
// window, and starts one workflow per new incident or signals the alert to the running workflow of an open one.
//
// Everything for a batch of alerts happens in one PostgreSQL transaction that commits only after the Temporal
// calls succeeded: while Temporal is unreachable the alerts stay pending, and they are dispatched when it is
// back. A new incident's workflow id is derived from (playbook, first alert id), so the retry of a batch that
// rolled back after its workflow had started finds the workflow instead of starting a second one. Several
// dispatchers (several `parry server`s) can run at once: alerts are claimed with FOR UPDATE SKIP LOCKED and
// incidents are serialised per (playbook, key) with an advisory lock.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/jackc/pgx/v5"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// Temporal is the part of the Temporal client the dispatcher uses; client.Client is one.
type Temporal interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow interface{}, args ...interface{}) (client.WorkflowRun, error)
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg interface{}) error
	GetWorkflowHistory(ctx context.Context, workflowID, runID string, isLongPoll bool, filterType enums.HistoryEventFilterType) client.HistoryEventIterator
}

// Defaults of the Dispatcher's tuning fields.
const (
	DefaultBatchSize     = 100
	DefaultSweepInterval = 5 * time.Second
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 30 * time.Second
	DefaultCallTimeout   = 10 * time.Second
	DefaultConcurrency   = 8
	// StartedBy is the started_by of the runs the dispatcher starts.
	StartedBy = "dispatcher"
)

// Dispatcher turns pending alerts into incidents and runs. Set the fields, then call Run (or DispatchOnce).
type Dispatcher struct {
	Store *store.Store
	// Runs records runs and builds their workflow input; its Temporal field is not used.
	Runs     *runs.Starter
	Temporal Temporal
	Logger   *slog.Logger
	Metrics  *Metrics
	// BatchSize is how many alerts one transaction claims.
	BatchSize int
	// SweepInterval is how often the dispatcher looks for pending alerts without being notified.
	SweepInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed batch (Temporal or PostgreSQL unreachable).
	MinBackoff, MaxBackoff time.Duration
	// CallTimeout bounds one Temporal call.
	CallTimeout time.Duration
	// Concurrency bounds the Temporal calls of one batch in flight at once.
	Concurrency int
	// Now is the clock of trigger expressions; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	cache   map[string]*trigger
	engOnce sync.Once
	eng     *expression.Engine
}

// RunID is the run id (and workflow id) of the incident that playbook opened for its first alert. Being
// derived from them, a retried dispatch finds the workflow an earlier attempt started.
func RunID(playbook string, firstAlertID int64) string {
	return fmt.Sprintf("alert-%s-%d", playbook, firstAlertID)
}

// Result counts what one dispatch batch did.
type Result struct {
	Alerts    int // alerts claimed
	Matched   int // (alert, playbook) matches
	Opened    int // incidents opened
	Attached  int // alerts attached to incidents that were open already
	Signalled int // alerts signalled to running workflows
	Errors    int // alerts whose trigger evaluation failed for some playbook
}

func (r *Result) add(o Result) {
	r.Alerts += o.Alerts
	r.Matched += o.Matched
	r.Opened += o.Opened
	r.Attached += o.Attached
	r.Signalled += o.Signalled
	r.Errors += o.Errors
}

// engine is the run starter's expression engine (one cache for the process), or the dispatcher's own.
func (d *Dispatcher) engine() *expression.Engine {
	d.engOnce.Do(func() {
		d.eng = d.Runs.Engine
		if d.eng == nil {
			d.eng = expression.NewEngine()
		}
	})
	return d.eng
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// work is one incident a batch touches: a new one to open (and start) or an open one to attach alerts to.
type work struct {
	t      *trigger
	inc    store.Incident
	isNew  bool
	alerts []store.Alert // the batch's alerts for this incident, in id order
	// Set by the Temporal phase.
	workflowRunID string
	adopted       *workflows.Input // the input of a workflow an earlier, rolled-back attempt started
	closed        bool             // the incident's workflow has ended: alerts are attached, not signalled
	signalled     int
}

// DispatchOnce claims one batch of pending alerts and dispatches it in one transaction. It returns what it did;
// Result.Alerts below the batch size means the queue was empty. On error the transaction is rolled back, the
// alerts stay pending and their attempts and last_error record the failure.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (Result, error) {
	var res Result
	// Everything read from the pool is read before the transaction: while it is open the dispatcher holds a
	// connection, and waiting for a second one could starve the pool (several dispatchers, a busy API).
	triggers, err := d.loadTriggers(ctx)
	if err != nil {
		return res, err
	}
	tx, err := d.Store.Pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("beginning a dispatch transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	alerts, err := store.LockPendingAlerts(ctx, tx, orDefault(d.BatchSize, DefaultBatchSize))
	if err != nil {
		return res, err
	}
	res.Alerts = len(alerts)
	if len(alerts) == 0 {
		committed = true
		return res, tx.Commit(ctx)
	}
	works, outcomes, r, err := d.plan(ctx, tx, triggers, alerts)
	res.add(r)
	if err == nil {
		err = d.callTemporal(ctx, works)
	}
	if err == nil {
		err = d.record(ctx, tx, works, outcomes)
	}
	if err == nil {
		if err = tx.Commit(ctx); err != nil {
			err = fmt.Errorf("committing the dispatch: %w", err)
		} else {
			committed = true
		}
	}
	if err != nil {
		// Release the alerts' row locks first: the failure is recorded on them from another connection.
		_ = tx.Rollback(context.WithoutCancel(ctx))
		committed = true
		d.failed(ctx, alerts, err)
		return res, err
	}
	for _, w := range works {
		if w.isNew {
			res.Opened++
		} else {
			res.Attached += len(w.alerts)
		}
		res.Signalled += w.signalled
	}
	d.observe(alerts, res)
	return res, nil
}

// failed records a failed attempt on the alerts (which stay pending) unless the dispatcher is shutting down.
func (d *Dispatcher) failed(ctx context.Context, alerts []store.Alert, cause error) {
	if ctx.Err() != nil {
		return
	}
	ids := make([]int64, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	if err := d.Store.RecordDispatchFailure(ctx, ids, cause.Error()); err != nil {
		d.logger().Warn("recording a failed dispatch", "error", err)
	}
	if d.Metrics != nil {
		d.Metrics.failures.Inc()
	}
}

// loadTriggers returns the triggers of the enabled versions, each with the workflow input its runs start
// from (the plan and the enabled plans of the playbooks it calls, resolved now for this batch).
func (d *Dispatcher) loadTriggers(ctx context.Context) ([]*trigger, error) {
	versions, err := store.EnabledVersions(ctx, d.Store.Pool)
	if err != nil {
		return nil, err
	}
	cached, err := d.triggers(ctx, versions)
	if err != nil {
		return nil, err
	}
	out := make([]*trigger, len(cached))
	for i, t := range cached {
		c := *t // the cached trigger is shared; the base input is this batch's
		if c.err == nil {
			in, err := d.Runs.Input(ctx, store.Run{Plan: c.planJSON, PlaybookName: c.name, PlaybookVersion: c.version,
				PlaybookSHA256: c.sha, StartedBy: StartedBy})
			if err != nil {
				return nil, fmt.Errorf("preparing the runs of %s: %w", c.name, err)
			}
			c.base = &in
		}
		out[i] = &c
	}
	return out, nil
}

// plan evaluates the triggers, takes the dedup locks and decides, alert by alert in id order, which incident
// each match opens or joins. It writes nothing.
func (d *Dispatcher) plan(ctx context.Context, tx pgx.Tx, triggers []*trigger, alerts []store.Alert) ([]*work, []store.DispatchOutcome, Result, error) {
	var res Result
	eng := d.engine()
	type hit struct {
		alert int
		t     *trigger
		key   string
		value map[string]any
	}
	var hits []hit
	outcomes := make([]store.DispatchOutcome, len(alerts))
	locks := map[store.DedupLock]bool{}
	for i, a := range alerts {
		outcomes[i].AlertID = a.ID
		if len(triggers) == 0 {
			continue
		}
		value := runs.AlertValue(a)
		scope := expression.NewScope(d.now)
		scope[expression.ScopeAlert] = value
		var problems []string
		for _, t := range triggers {
			ok, key, err := t.match(eng, scope)
			if err != nil {
				problems = append(problems, fmt.Sprintf("playbook %s (version %d): %v", t.name, t.version, err))
				continue
			}
			if !ok {
				continue
			}
			hits = append(hits, hit{alert: i, t: t, key: key, value: value})
			if t.key != "" {
				locks[store.DedupLock{Playbook: t.name, Key: key}] = true
			}
		}
		if len(problems) > 0 {
			outcomes[i].Error = strings.Join(problems, "; ")
			res.Errors++
		}
	}
	lockList := make([]store.DedupLock, 0, len(locks))
	for l := range locks {
		lockList = append(lockList, l)
	}
	if err := store.LockDedupKeys(ctx, tx, lockList); err != nil {
		return nil, nil, res, err
	}
	var works []*work
	current := map[store.DedupLock]*work{}
	for _, h := range hits {
		a := alerts[h.alert]
		if h.t.key != "" {
			l := store.DedupLock{Playbook: h.t.name, Key: h.key}
			w := current[l]
			if w == nil || !w.inc.WindowEndsAt.After(a.ReceivedAt) {
				w = nil
				inc, found, err := store.OpenIncidentFor(ctx, tx, h.t.name, h.key, a.ReceivedAt)
				if err != nil {
					return nil, nil, res, err
				}
				if found {
					w = &work{t: h.t, inc: inc}
					works = append(works, w)
					current[l] = w
				}
			}
			if w != nil {
				w.alerts = append(w.alerts, a)
				outcomes[h.alert].Matched++
				res.Matched++
				continue
			}
		}
		// A new incident: check now that the alert gives the playbook valid inputs, so that a run that could
		// only fail is never started (the alert records why).
		if _, err := workflows.ResolveInputs(d.engine(), h.t.plan, nil, h.value, d.now()); err != nil {
			msg := fmt.Sprintf("playbook %s (version %d): inputs: %v", h.t.name, h.t.version, err)
			if outcomes[h.alert].Error == "" {
				res.Errors++
				outcomes[h.alert].Error = msg
			} else {
				outcomes[h.alert].Error += "; " + msg
			}
			continue
		}
		id, err := store.NextIncidentID(ctx, tx)
		if err != nil {
			return nil, nil, res, err
		}
		w := &work{t: h.t, isNew: true, alerts: []store.Alert{a}, inc: store.Incident{
			ID: id, PlaybookName: h.t.name, PlaybookVersion: h.t.version, DedupKey: h.key, Status: store.IncidentOpen,
			RunID: RunID(h.t.name, a.ID), FirstAlertID: a.ID, WindowEndsAt: a.ReceivedAt.Add(h.t.window),
			LastAlertAt: a.ReceivedAt,
		}}
		works = append(works, w)
		if h.t.key != "" {
			current[store.DedupLock{Playbook: h.t.name, Key: h.key}] = w
		}
		outcomes[h.alert].Matched++
		res.Matched++
	}
	return works, outcomes, res, nil
}

// callTemporal starts the workflows of new incidents (with every alert of the batch in their input) and
// signals the alerts joining running ones, a bounded number at a time. The first failure cancels the rest.
func (d *Dispatcher) callTemporal(ctx context.Context, works []*work) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, orDefault(d.Concurrency, DefaultConcurrency))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, w := range works {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			if w.isNew {
				err = d.start(ctx, w)
			} else {
				err = d.signal(ctx, w, w.alerts)
			}
			if err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

func (d *Dispatcher) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, orDefault(d.CallTimeout, DefaultCallTimeout))
}

// start starts a new incident's workflow. A workflow that exists with its id was started by an attempt that
// rolled back: it is adopted (its incident id and plan are the ones recorded) and sent the batch's alerts.
func (d *Dispatcher) start(ctx context.Context, w *work) error {
	if w.t.base == nil {
		return fmt.Errorf("building the input of run %s: the trigger was not prepared", w.inc.RunID)
	}
	in := *w.t.base
	in.RunID = w.inc.RunID
	in.Alert = runs.AlertValue(w.alerts[0])
	in.Incident = &workflows.Incident{ID: w.inc.ID, Key: w.inc.DedupKey, Alerts: make([]map[string]any, 0, len(w.alerts))}
	for _, a := range w.alerts {
		in.Incident.Alerts = append(in.Incident.Alerts, runs.AlertValue(a))
	}
	cctx, cancel := d.callCtx(ctx)
	defer cancel()
	run, err := d.Temporal.ExecuteWorkflow(cctx, d.Runs.WorkflowOptions(w.inc.RunID, w.t.plan), workflows.PlaybookWorkflow, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		w.workflowRunID = run.GetRunID()
		return nil
	case errors.As(err, &already):
	default:
		return fmt.Errorf("starting run %s: %w", w.inc.RunID, err)
	}
	orig, err := d.startedInput(ctx, w.inc.RunID, already.RunId)
	if err != nil {
		return fmt.Errorf("adopting run %s, started by an earlier attempt: %w", w.inc.RunID, err)
	}
	w.workflowRunID, w.adopted = already.RunId, orig
	if orig.Incident != nil && orig.Incident.ID != 0 {
		w.inc.ID = orig.Incident.ID
	}
	if orig.Playbook.Version != 0 {
		w.inc.PlaybookVersion = orig.Playbook.Version
	}
	d.logger().Info("adopted a run started by a dispatch that rolled back", "run", w.inc.RunID, "incident", w.inc.ID)
	// The earlier attempt may have started it with fewer alerts; the workflow drops repeats by alert id.
	return d.signal(ctx, w, w.alerts[1:])
}

// startedInput reads the input a workflow was started with from its first history event.
func (d *Dispatcher) startedInput(ctx context.Context, workflowID, runID string) (*workflows.Input, error) {
	cctx, cancel := d.callCtx(ctx)
	defer cancel()
	it := d.Temporal.GetWorkflowHistory(cctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return nil, errors.New("its history is empty")
	}
	ev, err := it.Next()
	if err != nil {
		return nil, fmt.Errorf("reading its history: %w", err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return nil, fmt.Errorf("its first event is %s, not the start", ev.GetEventType())
	}
	var in workflows.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &in); err != nil {
		return nil, fmt.Errorf("decoding its input: %w", err)
	}
	return &in, nil
}

// signal sends alerts to an incident's workflow. A workflow that has ended takes no signal: the alerts are
// attached to the incident only.
func (d *Dispatcher) signal(ctx context.Context, w *work, alerts []store.Alert) error {
	for _, a := range alerts {
		cctx, cancel := d.callCtx(ctx)
		err := d.Temporal.SignalWorkflow(cctx, w.inc.RunID, "", workflows.SignalAlert, runs.AlertValue(a))
		cancel()
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			w.signalled++
		case errors.As(err, &nf):
			w.closed = true
			return nil
		default:
			return fmt.Errorf("signalling alert %d to run %s: %w", a.ID, w.inc.RunID, err)
		}
	}
	return nil
}

// record writes the batch's outcome inside the transaction: new incidents with their runs, attached alerts,
// and every alert's dispatch outcome.
func (d *Dispatcher) record(ctx context.Context, tx pgx.Tx, works []*work, outcomes []store.DispatchOutcome) error {
	for _, w := range works {
		last := w.alerts[len(w.alerts)-1].ReceivedAt
		ids := make([]int64, len(w.alerts))
		for i, a := range w.alerts {
			ids[i] = a.ID
		}
		if !w.isNew {
			if err := store.AttachAlerts(ctx, tx, w.inc.ID, ids, last); err != nil {
				return err
			}
			continue
		}
		w.inc.LastAlertAt = last
		if err := store.InsertIncident(ctx, tx, w.inc); err != nil {
			return err
		}
		if err := store.AttachAlerts(ctx, tx, w.inc.ID, ids, last); err != nil {
			return err
		}
		p, version := w.t.plan, w.t.version
		if w.adopted != nil {
			// The run is the one Temporal has: record the plan it runs.
			adoptedPlan, err := plan.Decode(w.adopted.Plan)
			if err != nil {
				return fmt.Errorf("decoding the plan of adopted run %s: %w", w.inc.RunID, err)
			}
			p, version = adoptedPlan, w.adopted.Playbook.Version
		}
		first := w.alerts[0]
		incID := w.inc.ID
		if _, _, err := d.Runs.Record(ctx, tx, runs.Request{
			RunID: w.inc.RunID, Plan: p, Version: version, AlertID: &first.ID, Alert: runs.AlertValue(first),
			Incident: &incID, StartedBy: StartedBy,
		}); err != nil {
			return err
		}
		if err := store.MarkRunStartedTx(ctx, tx, w.inc.RunID, w.workflowRunID); err != nil {
			return err
		}
	}
	return store.MarkDispatched(ctx, tx, outcomes)
}

func (d *Dispatcher) observe(alerts []store.Alert, res Result) {
	if d.Metrics == nil {
		return
	}
	now := time.Now()
	for _, a := range alerts {
		d.Metrics.lag.Observe(now.Sub(a.ReceivedAt).Seconds())
	}
	d.Metrics.dispatched.Add(float64(len(alerts)))
	d.Metrics.opened.Add(float64(res.Opened))
	d.Metrics.attached.Add(float64(res.Attached))
	d.Metrics.evalErrors.Add(float64(res.Errors))
}

// Drain dispatches batches until no pending alert is left (or one fails) and returns the totals.
func (d *Dispatcher) Drain(ctx context.Context) (Result, error) {
	var total Result
	for {
		res, err := d.DispatchOnce(ctx)
		total.add(res)
		if err != nil || res.Alerts < orDefault(d.BatchSize, DefaultBatchSize) {
			return total, err
		}
	}
}

// Run dispatches until ctx ends: whenever parry_alerts is notified, every SweepInterval, and after a failure
// with an exponential backoff between MinBackoff and MaxBackoff (notifications do not cut a backoff short, so
// an outage is not hammered by every new alert).
func (d *Dispatcher) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go d.listen(ctx, wake)
	log := d.logger()
	backoff := time.Duration(0)
	for {
		res, err := d.Drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := orDefault(d.SweepInterval, DefaultSweepInterval)
		if err != nil {
			backoff = min(max(backoff*2, orDefault(d.MinBackoff, DefaultMinBackoff)), orDefault(d.MaxBackoff, DefaultMaxBackoff))
			wait = backoff
			log.Warn("dispatching alerts failed; they stay pending", "error", err, "retry_in", backoff)
		} else {
			if backoff > 0 {
				log.Info("dispatching alerts again")
			}
			backoff = 0
			if res.Alerts > 0 {
				log.Debug("dispatched alerts", "alerts", res.Alerts, "opened", res.Opened, "attached", res.Attached, "errors", res.Errors)
			}
		}
		t := time.NewTimer(wait)
		if backoff > 0 {
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		} else {
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-wake:
			}
		}
		t.Stop()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// listen holds a connection that LISTENs on parry_alerts and wakes the loop on every notification,
// reconnecting after failures. Missed notifications only delay work until the next sweep.
func (d *Dispatcher) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		d.logger().Debug("alert notifications interrupted; sweeping meanwhile", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(orDefault(d.MinBackoff, DefaultMinBackoff)):
		}
	}
}

func (d *Dispatcher) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	// A connection of its own, outside the pool: it is held for as long as the dispatcher runs.
	conn, err := pgx.ConnectConfig(ctx, d.Store.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN parry_alerts"); err != nil {
		return err
	}
	// Alerts committed before LISTEN took effect are found by this first wake-up.
	select {
	case wake <- struct{}{}:
	default:
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}
