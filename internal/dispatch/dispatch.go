// Package dispatch moves committed alerts into playbook runs. A Dispatcher matches every pending alert against
// the trigger (on.alert.when) of every enabled playbook version, groups matches into incidents by dedup key and
// window, and records what Temporal must do: start one run per new incident, signal each repeat alert to the
// run of the open incident it joins.
//
// The dispatcher is an outbox: a batch commits its incidents, runs and outbox entries in one PostgreSQL
// transaction that makes no network call, and only then are the entries carried out (runs.Outbox), each call
// idempotent because run ids are derived from (playbook, first alert id). Nothing is ever held across a
// Temporal call, and Temporal never hears of an incident that did not commit. While Temporal is unreachable
// alerts still join their incidents; the runs start, and the repeats are signalled, when it is back. Several
// dispatchers (several `parry server`s) can run at once: alerts are claimed with FOR UPDATE SKIP LOCKED and
// incidents are serialised per (playbook, key) with a lock held for the transaction only.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// Inbox is the alert inbox as the dispatcher sees it. StoreInbox puts *store.Store behind it; tests use an
// in-memory fake.
type Inbox interface {
	EnabledVersions(ctx context.Context) ([]store.EnabledVersion, error)
	GetPlaybookVersion(ctx context.Context, name string, version int) (store.PlaybookVersion, error)
	// Dispatch runs fn in one transaction, committed when fn returns nil.
	Dispatch(ctx context.Context, fn func(Tx) error) error
	RecordDispatchFailure(ctx context.Context, alertIDs []int64, msg string) error
	// ListenAlerts calls wake for every notification of new alerts until ctx ends or the listening fails.
	ListenAlerts(ctx context.Context, wake func()) error
}

// Tx is one dispatch transaction (*store.Tx is one).
type Tx interface {
	LockPendingAlerts(ctx context.Context, limit int) ([]store.Alert, error)
	LockDedupKeys(ctx context.Context, locks []store.DedupLock) error
	OpenIncidentFor(ctx context.Context, playbook, key string, at time.Time) (store.Incident, bool, error)
	InsertIncident(ctx context.Context, inc store.Incident) (int64, error)
	AttachAlerts(ctx context.Context, incidentID int64, alertIDs []int64, lastAlertAt time.Time) error
	InsertRun(ctx context.Context, r store.Run) (bool, error)
	Enqueue(ctx context.Context, entries []store.OutboxEntry) error
	MarkDispatched(ctx context.Context, outcomes []store.DispatchOutcome) error
}

// StoreInbox is the PostgreSQL inbox.
type StoreInbox struct{ *store.Store }

// Dispatch implements Inbox.
func (s StoreInbox) Dispatch(ctx context.Context, fn func(Tx) error) error {
	return s.Store.InTx(ctx, func(tx *store.Tx) error { return fn(tx) })
}

// ListenAlerts implements Inbox.
func (s StoreInbox) ListenAlerts(ctx context.Context, wake func()) error {
	return s.Store.Listen(ctx, store.AlertsChannel, wake)
}

// Defaults of the Dispatcher's tuning fields.
const (
	DefaultBatchSize     = 100
	DefaultSweepInterval = 5 * time.Second
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 30 * time.Second
	// StartedBy is the started_by of the runs the dispatcher starts.
	StartedBy = "dispatcher"
)

// Dispatcher turns pending alerts into incidents and runs. Set the fields, then call Run (or DispatchOnce).
type Dispatcher struct {
	Inbox Inbox
	// Runs checks the inputs of the runs the dispatcher records and builds their rows.
	Runs *runs.Starter
	// Outbox carries out what a committed batch queued.
	Outbox *runs.Outbox
	// Tracer, when set, records a span per batch of alerts, the parent of the runs' workflow starts (the trace
	// of each run begins there).
	Tracer  trace.Tracer
	Logger  *slog.Logger
	Metrics *Metrics
	// BatchSize is how many alerts one transaction claims.
	BatchSize int
	// SweepInterval is how often the dispatcher looks for pending alerts (and outbox entries due again)
	// without being notified.
	SweepInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed pass (Temporal or PostgreSQL unreachable).
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock of trigger expressions; time.Now when nil.
	Now func() time.Time
	// beforeLock, when set (tests), runs in a batch's transaction before its alerts are locked.
	beforeLock func()
	// beforeCommit, when set (tests), runs at the end of a batch's transaction; an error rolls it back.
	beforeCommit func(alerts []store.Alert) error

	mu      sync.Mutex
	cache   map[string]*trigger
	engOnce sync.Once
	eng     *expression.Engine
}

// RunID is the run id (and workflow id) of the incident that playbook opened for its first alert. Being
// derived from them, a start carried out twice finds the workflow the first one started.
func RunID(playbook string, firstAlertID int64) string {
	return fmt.Sprintf("alert-%s-%d", playbook, firstAlertID)
}

// Result counts what one dispatch pass did.
type Result struct {
	Alerts    int // alerts claimed
	Matched   int // (alert, playbook) matches
	Opened    int // incidents opened
	Attached  int // alerts attached to incidents that were open already
	Errors    int // alerts whose trigger evaluation failed for some playbook
	Started   int // runs started by the outbox (this batch's or earlier ones')
	Signalled int // alerts the outbox signalled to running workflows
}

func (r *Result) add(o Result) {
	r.Alerts += o.Alerts
	r.Matched += o.Matched
	r.Opened += o.Opened
	r.Attached += o.Attached
	r.Errors += o.Errors
	r.Started += o.Started
	r.Signalled += o.Signalled
}

// engine is the run starter's expression engine (one cache for the process), or the dispatcher's own.
func (d *Dispatcher) engine() *expression.Engine {
	d.engOnce.Do(func() {
		if d.Runs != nil {
			d.eng = d.Runs.Engine
		}
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
	// inputs are a new incident's run inputs, resolved from its first alert: the run records them and its
	// workflow is given them (see record).
	inputs map[string]any
}

// DispatchOnce claims one batch of pending alerts and commits what becomes of them, then carries out the
// outbox. Result.Alerts below the batch size means the queue was empty. When the transaction fails it is
// rolled back, the alerts stay pending and their attempts and last_error record the failure; when the outbox
// fails (Temporal unreachable) the batch stays committed and its entries wait for their retry.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (Result, error) {
	var res Result
	var alerts []store.Alert
	err := d.Inbox.Dispatch(ctx, func(tx Tx) error {
		res = Result{}
		if d.beforeLock != nil {
			d.beforeLock()
		}
		var err error
		if alerts, err = tx.LockPendingAlerts(ctx, orDefault(d.BatchSize, DefaultBatchSize)); err != nil || len(alerts) == 0 {
			return err
		}
		res.Alerts = len(alerts)
		// The triggers are read after the alerts are locked: every playbook enabled before an alert was
		// received is seen, so an alert that arrives just after an enable (or a new version) is not matched
		// against the playbooks of before.
		triggers, err := d.loadTriggers(ctx)
		if err != nil {
			return err
		}
		if err := d.dispatch(ctx, tx, triggers, alerts, &res); err != nil {
			return err
		}
		if d.beforeCommit != nil {
			return d.beforeCommit(alerts)
		}
		return nil
	})
	if err != nil {
		d.failed(ctx, alerts, err)
		return Result{Alerts: res.Alerts}, fmt.Errorf("dispatching %d alerts (they stay pending): %w", len(alerts), err)
	}
	d.observe(alerts, res)
	if d.Outbox == nil {
		return res, nil
	}
	if d.Tracer != nil && res.Alerts > 0 {
		var span trace.Span
		ctx, span = d.Tracer.Start(ctx, "dispatch", trace.WithAttributes(attribute.Int("parry.alerts", res.Alerts),
			attribute.Int("parry.incidents_opened", res.Opened)))
		defer span.End()
	}
	ores, err := d.Outbox.Drain(ctx)
	res.Started, res.Signalled = ores.Started, ores.Signalled
	if err != nil {
		return res, fmt.Errorf("starting and signalling runs (the alerts are recorded in their incidents; this is retried): %w", err)
	}
	return res, nil
}

// failed records a failed attempt on the alerts (which stay pending) unless the dispatcher is shutting down.
func (d *Dispatcher) failed(ctx context.Context, alerts []store.Alert, cause error) {
	if ctx.Err() != nil || len(alerts) == 0 {
		return
	}
	ids := make([]int64, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	if err := d.Inbox.RecordDispatchFailure(ctx, ids, cause.Error()); err != nil {
		d.logger().Warn("recording a failed dispatch", "error", err)
	}
	if d.Metrics != nil {
		d.Metrics.failures.Inc()
	}
}

// loadTriggers returns the triggers of the enabled versions.
func (d *Dispatcher) loadTriggers(ctx context.Context) ([]*trigger, error) {
	versions, err := d.Inbox.EnabledVersions(ctx)
	if err != nil {
		return nil, err
	}
	return d.triggers(ctx, versions)
}

// hit is one (alert, playbook) match.
type hit struct {
	alert int
	t     *trigger
	key   string
	value map[string]any
}

// dispatch evaluates the triggers, takes the dedup locks, decides alert by alert in id order which incident
// each match opens or joins, and writes it all with the outbox entries inside tx.
func (d *Dispatcher) dispatch(ctx context.Context, tx Tx, triggers []*trigger, alerts []store.Alert, res *Result) error {
	hits, outcomes, locks := d.match(triggers, alerts, res)
	if err := tx.LockDedupKeys(ctx, locks); err != nil {
		return err
	}
	works, err := d.group(ctx, tx, hits, alerts, outcomes, res)
	if err != nil {
		return err
	}
	if err := d.record(ctx, tx, works, res); err != nil {
		return err
	}
	return tx.MarkDispatched(ctx, outcomes)
}

// match evaluates every trigger on every alert; it returns the matches, each alert's outcome so far and the
// dedup locks the matches need.
func (d *Dispatcher) match(triggers []*trigger, alerts []store.Alert, res *Result) ([]hit, []store.DispatchOutcome, []store.DedupLock) {
	eng := d.engine()
	var hits []hit
	outcomes := make([]store.DispatchOutcome, len(alerts))
	locks := map[store.DedupLock]bool{}
	var lockList []store.DedupLock
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
			if l := (store.DedupLock{Playbook: t.name, Key: key}); t.key != "" && !locks[l] {
				locks[l] = true
				lockList = append(lockList, l)
			}
		}
		if len(problems) > 0 {
			outcomes[i].Error = strings.Join(problems, "; ")
			res.Errors++
		}
	}
	return hits, outcomes, lockList
}

// group decides, hit by hit, the incident each match opens or joins.
func (d *Dispatcher) group(ctx context.Context, tx Tx, hits []hit, alerts []store.Alert, outcomes []store.DispatchOutcome, res *Result) ([]*work, error) {
	var works []*work
	current := map[store.DedupLock]*work{}
	for _, h := range hits {
		a := alerts[h.alert]
		l := store.DedupLock{Playbook: h.t.name, Key: h.key}
		if h.t.key != "" {
			w := current[l]
			if w == nil || !w.inc.WindowEndsAt.After(a.ReceivedAt) {
				w = nil
				inc, found, err := tx.OpenIncidentFor(ctx, h.t.name, h.key, a.ReceivedAt)
				if err != nil {
					return nil, err
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
		// A new incident: check now that the alert gives the playbook valid inputs the runs row can hold, so that
		// a run that could only fail is never started and the batch is not refused (the alert records why).
		inputs, err := workflows.ResolveInputs(d.engine(), h.t.plan, nil, h.value, d.now())
		if err == nil {
			_, err = runs.EncodeInputs(inputs)
		}
		if err != nil {
			msg := fmt.Sprintf("playbook %s (version %d): inputs: %v", h.t.name, h.t.version, err)
			if outcomes[h.alert].Error == "" {
				res.Errors++
				outcomes[h.alert].Error = msg
			} else {
				outcomes[h.alert].Error += "; " + msg
			}
			continue
		}
		w := &work{t: h.t, isNew: true, alerts: []store.Alert{a}, inputs: inputs, inc: store.Incident{
			PlaybookName: h.t.name, PlaybookVersion: h.t.version, DedupKey: h.key, Status: store.IncidentOpen,
			RunID: RunID(h.t.name, a.ID), FirstAlertID: a.ID, WindowEndsAt: a.ReceivedAt.Add(h.t.window),
			LastAlertAt: a.ReceivedAt,
		}}
		works = append(works, w)
		if h.t.key != "" {
			current[l] = w
		}
		outcomes[h.alert].Matched++
		res.Matched++
	}
	return works, nil
}

// record writes the batch's incidents, attached alerts, runs and outbox entries: a start for each new
// incident (its input, built when it is carried out, has every alert attached by then), a signal for each
// alert joining an incident that was open already.
func (d *Dispatcher) record(ctx context.Context, tx Tx, works []*work, res *Result) error {
	var entries []store.OutboxEntry
	for _, w := range works {
		last := w.alerts[len(w.alerts)-1].ReceivedAt
		ids := make([]int64, len(w.alerts))
		for i, a := range w.alerts {
			ids[i] = a.ID
		}
		if !w.isNew {
			if err := tx.AttachAlerts(ctx, w.inc.ID, ids, last); err != nil {
				return err
			}
			for _, id := range ids {
				entries = append(entries, store.OutboxEntry{Kind: store.OutboxSignal, RunID: w.inc.RunID, AlertID: id})
			}
			res.Attached += len(ids)
			continue
		}
		w.inc.LastAlertAt = last
		id, err := tx.InsertIncident(ctx, w.inc)
		if err != nil {
			return err
		}
		if err := tx.AttachAlerts(ctx, id, ids, last); err != nil {
			return err
		}
		first := w.alerts[0]
		// The run records the inputs its alert resolved to, and its workflow is started with those (not
		// resolving them again), so what `run show` says the run ran with is what it ran with.
		r, err := d.Runs.Prepare(runs.Request{
			RunID: w.inc.RunID, Plan: w.t.plan, Version: w.t.version, Inputs: w.inputs, AlertID: &first.ID,
			Alert: runs.AlertValue(first), Incident: &id, StartedBy: StartedBy,
		})
		if err != nil {
			return err
		}
		if _, err := tx.InsertRun(ctx, r); err != nil {
			return err
		}
		entries = append(entries, store.OutboxEntry{Kind: store.OutboxStart, RunID: w.inc.RunID})
		res.Opened++
	}
	return tx.Enqueue(ctx, entries)
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

// Run dispatches until ctx ends: whenever new alerts are notified, every SweepInterval, and after a failure
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
			log.Warn("dispatching alerts failed; nothing is lost, it is retried", "error", err, "retry_in", backoff)
		} else {
			if backoff > 0 {
				log.Info("dispatching alerts again")
			}
			backoff = 0
			if res.Alerts > 0 || res.Started > 0 {
				log.Debug("dispatched alerts", "alerts", res.Alerts, "opened", res.Opened, "attached", res.Attached,
					"started", res.Started, "signalled", res.Signalled, "errors", res.Errors)
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

// listen wakes the loop on every notification of new alerts, listening again after failures. Missed
// notifications only delay work until the next sweep.
func (d *Dispatcher) listen(ctx context.Context, wake chan<- struct{}) {
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		err := d.Inbox.ListenAlerts(ctx, notify)
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
