package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// OutboxStore is the outbox as the processor sees it (*store.Store is one; tests use an in-memory fake).
type OutboxStore interface {
	ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]store.OutboxEntry, error)
	ClaimOutboxOf(ctx context.Context, runID string, lease time.Duration) ([]store.OutboxEntry, error)
	FinishOutbox(ctx context.Context, done []int64, failed []store.OutboxFailure) error
	GetRun(ctx context.Context, id string) (store.Run, error)
	GetAlert(ctx context.Context, id int64) (store.Alert, error)
}

// Signaller is the part of the Temporal client that signals workflows.
type Signaller interface {
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg interface{}) error
}

// Defaults of the Outbox's tuning fields.
const (
	DefaultOutboxBatch       = 200
	DefaultOutboxConcurrency = 8
	DefaultOutboxLease       = time.Minute
	DefaultCallTimeout       = 10 * time.Second
	// maxRetryIn bounds the wait before an entry that failed is tried again.
	maxRetryIn = 30 * time.Second
	// maxSignalAttempts is how often a signal Temporal refuses (other than by being unreachable) is tried
	// before it is given up; the alert stays attached to its incident either way.
	maxSignalAttempts = 20
)

// Outbox carries out what committed transactions queued for Temporal: it starts the workflows of recorded runs
// and signals alerts to the runs of open incidents. Every call is idempotent (run ids are deterministic, the
// workflow drops an alert it already has), so an entry carried out twice — by two processes, or again after a
// crash between the call and its deletion — changes nothing. No transaction or lock is held across a call.
type Outbox struct {
	Store    OutboxStore
	Starter  *Starter
	Temporal Signaller
	Logger   *slog.Logger
	// Batch bounds the entries one claim takes; Concurrency the runs worked on at once; Lease how long a claim
	// keeps other processors off; CallTimeout bounds one Temporal call.
	Batch       int
	Concurrency int
	Lease       time.Duration
	CallTimeout time.Duration
}

// OutboxResult counts what one pass did.
type OutboxResult struct {
	Entries   int // entries claimed
	Started   int // workflows started (or found started)
	Signalled int // alerts signalled to running workflows
	Closed    int // alerts whose run had ended: attached to the incident only
	Failed    int // entries left for a later attempt
}

func (r *OutboxResult) add(o OutboxResult) {
	r.Entries += o.Entries
	r.Started += o.Started
	r.Signalled += o.Signalled
	r.Closed += o.Closed
	r.Failed += o.Failed
}

func (o *Outbox) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func positive[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Drain claims and carries out entries until none is claimable. It returns the first failure to reach
// Temporal (the entries stay queued for their retry time) so that the caller can back off.
func (o *Outbox) Drain(ctx context.Context) (OutboxResult, error) {
	var total OutboxResult
	batch := positive(o.Batch, DefaultOutboxBatch)
	for {
		entries, err := o.Store.ClaimOutbox(ctx, batch, positive(o.Lease, DefaultOutboxLease))
		if err != nil {
			return total, err
		}
		res, err := o.process(ctx, entries)
		total.add(res)
		if err != nil || len(entries) < batch {
			return total, err
		}
	}
}

// RunNow carries out the queued entries of one run at once (a manual start answered synchronously). An entry
// that fails stays queued: a dispatcher's outbox pass retries it.
func (o *Outbox) RunNow(ctx context.Context, runID string) (OutboxResult, error) {
	entries, err := o.Store.ClaimOutboxOf(ctx, runID, positive(o.Lease, DefaultOutboxLease))
	if err != nil {
		return OutboxResult{}, err
	}
	return o.process(ctx, entries)
}

// CarryOut carries out entries the caller already holds (a manual start that recorded its entry leased to
// itself, store.Store.RecordRun with a hold). An entry that fails is released until its retry time, as in a pass.
func (o *Outbox) CarryOut(ctx context.Context, entries []store.OutboxEntry) (OutboxResult, error) {
	return o.process(ctx, entries)
}

// outcome is what became of one entry.
type outcome struct {
	entry store.OutboxEntry
	err   error // nil: done
	kind  string
}

// process carries out entries: the runs at once (bounded), each run's entries in queue order, so a run is
// started before it is signalled. It records every outcome and returns the first failure (the entry stays
// queued for its retry time).
func (o *Outbox) process(ctx context.Context, entries []store.OutboxEntry) (OutboxResult, error) {
	res := OutboxResult{Entries: len(entries)}
	if len(entries) == 0 {
		return res, nil
	}
	var order []string
	byRun := map[string][]store.OutboxEntry{}
	for _, e := range entries {
		if _, ok := byRun[e.RunID]; !ok {
			order = append(order, e.RunID)
		}
		byRun[e.RunID] = append(byRun[e.RunID], e)
	}
	outcomes := make([][]outcome, len(order))
	// The first outage stops the rest of the batch: every other call would wait out its timeout too.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	sem := make(chan struct{}, positive(o.Concurrency, DefaultOutboxConcurrency))
	var wg sync.WaitGroup
	for i, id := range order {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outcomes[i] = o.processRun(pctx, byRun[id])
			for _, oc := range outcomes[i] {
				if oc.err != nil && unavailable(oc.err) {
					stop()
				}
			}
		})
	}
	wg.Wait()
	var done []int64
	var failed []store.OutboxFailure
	var outage error
	for _, list := range outcomes {
		for _, oc := range list {
			if oc.err == nil {
				done = append(done, oc.entry.ID)
				switch oc.kind {
				case "started":
					res.Started++
				case "signalled":
					res.Signalled++
				case "closed":
					res.Closed++
				}
				continue
			}
			if oc.entry.Kind == store.OutboxSignal && oc.entry.Attempts >= maxSignalAttempts && !unavailable(oc.err) {
				o.logger().Error("giving up a signal Temporal keeps refusing; the alert stays attached to its incident",
					"run", oc.entry.RunID, "alert", oc.entry.AlertID, "attempts", oc.entry.Attempts, "error", oc.err)
				done = append(done, oc.entry.ID)
				continue
			}
			res.Failed++
			if outage == nil || (unavailable(oc.err) && !unavailable(outage)) {
				outage = oc.err // the outage, rather than the calls it cut short
			}
			failed = append(failed, store.OutboxFailure{ID: oc.entry.ID, Error: oc.err.Error(), RetryIn: retryIn(oc.entry.Attempts)})
		}
	}
	// The outcomes are recorded even when ctx ended meanwhile: what Temporal did is done.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := o.Store.FinishOutbox(fctx, done, failed); err != nil {
		return res, err
	}
	if outage == nil && ctx.Err() != nil {
		outage = ctx.Err()
	}
	return res, outage
}

// retryIn is the wait before the attempt after the n-th: 1 s doubling, at most maxRetryIn.
func retryIn(attempts int) time.Duration {
	d := time.Second
	for i := 1; i < attempts && d < maxRetryIn; i++ {
		d *= 2
	}
	return min(d, maxRetryIn)
}

// processRun carries out one run's entries in order. Once one fails the rest wait for the next attempt, so
// that an alert is never signalled to a run whose start is still to come.
func (o *Outbox) processRun(ctx context.Context, entries []store.OutboxEntry) []outcome {
	out := make([]outcome, 0, len(entries))
	var blocked error
	for _, e := range entries {
		if blocked != nil || ctx.Err() != nil {
			err := blocked
			if err == nil {
				err = ctx.Err()
			}
			out = append(out, outcome{entry: e, err: err})
			continue
		}
		var kind string
		var err error
		switch e.Kind {
		case store.OutboxStart:
			kind, err = "started", o.start(ctx, e.RunID)
		case store.OutboxSignal:
			kind, err = o.signal(ctx, e)
		default:
			err = fmt.Errorf("outbox entry %d has an unknown kind %q", e.ID, e.Kind)
		}
		if err != nil {
			blocked = err
		}
		out = append(out, outcome{entry: e, err: err, kind: kind})
	}
	return out
}

func (o *Outbox) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, positive(o.CallTimeout, DefaultCallTimeout))
}

// start starts a recorded run's workflow (a workflow already started counts). A run that can never start (its
// inputs or plan are refused) is marked failed instead, so the entry does not come back forever.
func (o *Outbox) start(ctx context.Context, runID string) error {
	r, err := o.Store.GetRun(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the run was deleted: nothing to start
	}
	if err != nil {
		return err
	}
	if r.WorkflowRunID != "" || store.Terminal(r.Status) {
		return nil
	}
	cctx, cancel := o.callCtx(ctx)
	defer cancel()
	err = o.Starter.Start(cctx, r)
	if !permanent(err) {
		return err
	}
	o.logger().Error("a run cannot be started; it is marked failed", "run", runID, "error", err)
	msg := "the run could not be started: " + err.Error()
	_, uerr := o.Starter.Store.UpdateRun(ctx, store.RunUpdate{ID: runID, Status: store.RunFailed, Error: msg, FinishedAt: ptr(time.Now())})
	return uerr
}

// signal delivers an alert to its run's workflow. A workflow that does not exist yet (its start entry is with
// another processor) is started first, and one that another processor started meanwhile is signalled again;
// one that has ended takes no signal: the alert is attached only.
func (o *Outbox) signal(ctx context.Context, e store.OutboxEntry) (string, error) {
	a, err := o.Store.GetAlert(ctx, e.AlertID)
	if err != nil {
		return "", err
	}
	value := AlertValue(a)
	for try := 0; ; try++ {
		cctx, cancel := o.callCtx(ctx)
		err := o.Temporal.SignalWorkflow(cctx, e.RunID, "", workflows.SignalAlert, value)
		cancel()
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			if err != nil {
				return "", fmt.Errorf("signalling alert %d to run %s: %w", e.AlertID, e.RunID, err)
			}
			return "signalled", nil
		}
		if try > 0 {
			return "closed", nil
		}
		r, err := o.Store.GetRun(ctx, e.RunID)
		if err != nil {
			return "", err
		}
		if store.Terminal(r.Status) {
			return "closed", nil
		}
		// Not started yet: start it here. Started meanwhile (another processor's start landed between the
		// signal and the read): the signal is tried again; only a workflow that is still not found has ended.
		if r.WorkflowRunID == "" {
			if err := o.start(ctx, e.RunID); err != nil {
				return "", err
			}
		}
	}
}

// permanent reports a start that no retry can make work: the run's recorded plan or reuse is refused, or
// Temporal refuses the request itself.
func permanent(err error) bool {
	var bad *unstartableError
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &bad) || errors.As(err, &invalid)
}

// unstartableError is a recorded run whose workflow input cannot be built (its plan does not decode, the run
// it retries cannot be reused).
type unstartableError struct{ err error }

func (e *unstartableError) Error() string { return e.err.Error() }
func (e *unstartableError) Unwrap() error { return e.err }

// unavailable tells a Temporal (or network) outage, worth retrying, from a refusal.
func unavailable(err error) bool {
	var unav *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	var busy *serviceerror.ResourceExhausted
	return errors.As(err, &unav) || errors.As(err, &deadline) || errors.As(err, &busy) ||
		errors.Is(err, context.DeadlineExceeded)
}
