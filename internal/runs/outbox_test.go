package runs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/memstore"
)

// starts is a Temporal that starts and signals workflows in memory.
type starts struct {
	mu      sync.Mutex
	down    bool
	refuse  error
	started map[string]bool
	signals map[string][]int64
	calls   int
}

func newStarts() *starts { return &starts{started: map[string]bool{}, signals: map[string][]int64{}} }

func (s *starts) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf interface{}, args ...interface{}) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	switch {
	case s.down:
		return nil, serviceerror.NewUnavailable("connection refused")
	case s.refuse != nil:
		return nil, s.refuse
	case s.started[o.ID]:
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("started", "", o.ID+"-r")
	}
	s.started[o.ID] = true
	return fakeRun{&fakeExec{id: o.ID, runID: o.ID + "-r"}}, nil
}

func (s *starts) SignalWorkflow(ctx context.Context, id, runID, name string, arg interface{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return serviceerror.NewUnavailable("connection refused")
	}
	if !s.started[id] {
		return serviceerror.NewNotFound("workflow not found")
	}
	s.signals[id] = append(s.signals[id], arg.(map[string]any)["id"].(int64))
	return nil
}

const waitPlaybook = `name: waits
steps:
  - id: pause
    wait: 1m
`

func outboxFixture(t *testing.T) (*memstore.Store, *starts, *runs.Outbox, *runs.Starter) {
	t.Helper()
	st, tc := memstore.New(), newStarts()
	starter := &runs.Starter{Store: st, Temporal: tc, TaskQueue: "q"}
	return st, tc, &runs.Outbox{Store: st, Starter: starter, Temporal: tc}, starter
}

func record(t *testing.T, st *memstore.Store, starter *runs.Starter, id string) {
	t.Helper()
	p, diags := playbook.Load("w.yaml", []byte(waitPlaybook))
	if p == nil {
		t.Fatal(diags)
	}
	if _, _, err := starter.Record(context.Background(), st, runs.Request{RunID: id, Plan: p}, 0); err != nil {
		t.Fatal(err)
	}
}

// signalBehindAHeldStart records run r1 with an alert to signal to it, and claims r1's start entry away, as
// another processor would hold it: the outbox then meets the signal before the run is started.
func signalBehindAHeldStart(t *testing.T, st *memstore.Store, starter *runs.Starter) {
	t.Helper()
	ctx := context.Background()
	record(t, st, starter, "r1")
	ids, _ := st.InsertAlerts(ctx, []store.NewAlert{{Source: "t", Kind: "k", Severity: "low", Title: "a"}}, "t")
	if err := st.InTx(ctx, func(tx *memstore.Tx) error {
		return tx.Enqueue(ctx, []store.OutboxEntry{{Kind: store.OutboxSignal, RunID: "r1", AlertID: ids[0].ID}})
	}); err != nil {
		t.Fatal(err)
	}
	held, _ := st.ClaimOutbox(ctx, 1, runs.DefaultOutboxLease)
	if len(held) != 1 || held[0].Kind != store.OutboxStart {
		t.Fatalf("held %+v", held)
	}
}

// A signal whose run's start entry is still with another processor starts the run itself, then signals it.
func TestOutboxSignalBeforeStart(t *testing.T) {
	t.Parallel()
	st, tc, ob, starter := outboxFixture(t)
	ctx := context.Background()
	signalBehindAHeldStart(t, st, starter)
	res, err := ob.Drain(ctx)
	if err != nil || res.Signalled != 1 {
		t.Fatalf("drain: %+v %v", res, err)
	}
	if r, _ := st.GetRun(ctx, "r1"); r.Status != store.RunRunning || !tc.started["r1"] || len(tc.signals["r1"]) != 1 {
		t.Fatalf("run %+v, signals %v", r, tc.signals)
	}
	// The other processor's start then finds the workflow started: nothing happens twice.
	st.ReleaseOutboxClaims()
	if res, err := ob.Drain(ctx); err != nil || res.Started != 1 || tc.calls != 3 {
		t.Fatalf("second drain: %+v %v, %d calls", res, err, tc.calls)
	}
}

// An outage stops the batch at once and keeps every entry for later; a refusal no retry can fix fails the run.
func TestOutboxOutageAndRefusal(t *testing.T) {
	t.Parallel()
	st, tc, ob, starter := outboxFixture(t)
	ctx := context.Background()
	for i := range 20 {
		record(t, st, starter, fmt.Sprintf("r%02d", i))
	}
	tc.down = true
	ob.Concurrency = 1
	res, err := ob.Drain(ctx)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || res.Failed != 20 || tc.calls != 1 {
		t.Fatalf("while down: %+v %v, %d calls", res, err, tc.calls)
	}
	if o, errs := st.Outbox(); len(o) != 20 || !strings.Contains(errs[0], "connection refused") {
		t.Fatalf("outbox: %d entries, %q", len(o), errs[0])
	}
	tc.down, tc.refuse = false, serviceerror.NewInvalidArgument("input too large")
	st.ReleaseOutboxClaims()
	if _, err := ob.Drain(ctx); err != nil {
		t.Fatalf("refused starts are not retried: %v", err)
	}
	r, _ := st.GetRun(ctx, "r00")
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "the run could not be started: starting run r00: input too large") {
		t.Fatalf("refused run: %s %q", r.Status, r.Error)
	}
	if o, _ := st.Outbox(); len(o) != 0 {
		t.Fatalf("%d entries left", len(o))
	}
}

// RunNow answers a manual start synchronously, and leaves the entry queued when Temporal is down.
func TestOutboxRunNow(t *testing.T) {
	t.Parallel()
	st, tc, ob, starter := outboxFixture(t)
	ctx := context.Background()
	record(t, st, starter, "a")
	record(t, st, starter, "b")
	if res, err := ob.RunNow(ctx, "a"); err != nil || res.Started != 1 || !tc.started["a"] || tc.started["b"] {
		t.Fatalf("run now: %+v %v %v", res, err, tc.started)
	}
	tc.down = true
	if _, err := ob.RunNow(ctx, "b"); err == nil {
		t.Fatal("no error while Temporal is down")
	}
	if o, _ := st.Outbox(); len(o) != 1 || o[0].RunID != "b" {
		t.Fatalf("outbox %+v", o)
	}
}

// TestOutboxCarryOutHeld: a start recorded held for its caller is left alone by a pass and started by the
// caller itself.
func TestOutboxCarryOutHeld(t *testing.T) {
	t.Parallel()
	st, tc, ob, starter := outboxFixture(t)
	ctx := context.Background()
	p, diags := playbook.Load("w.yaml", []byte(waitPlaybook))
	if p == nil {
		t.Fatal(diags)
	}
	inserted, entry, err := starter.Record(ctx, st, runs.Request{RunID: "held", Plan: p}, runs.DefaultOutboxLease)
	if err != nil || !inserted || entry.ID == 0 || entry.Attempts != 1 {
		t.Fatalf("record: %v %+v %v", inserted, entry, err)
	}
	if res, err := ob.Drain(ctx); err != nil || res.Entries != 0 || tc.started["held"] {
		t.Fatalf("a pass took the held entry: %+v %v", res, err)
	}
	if res, err := ob.CarryOut(ctx, []store.OutboxEntry{entry}); err != nil || res.Started != 1 || !tc.started["held"] {
		t.Fatalf("carry out: %+v %v", res, err)
	}
	if o, _ := st.Outbox(); len(o) != 0 {
		t.Fatalf("outbox after the start: %+v", o)
	}
}

// startsMeanwhile is a Temporal where another processor's start of the run lands just after this processor's
// first signal found no workflow.
type startsMeanwhile struct {
	*starts
	other func()
	once  sync.Once
}

func (s *startsMeanwhile) SignalWorkflow(ctx context.Context, id, runID, name string, arg interface{}) error {
	err := s.starts.SignalWorkflow(ctx, id, runID, name, arg)
	s.once.Do(s.other)
	return err
}

// A signal that finds no workflow because another processor's start is landing at that moment signals again:
// the alert reaches the workflow (it was taken for an ended run and attached only, found by the concurrent
// dispatchers' test).
func TestOutboxSignalWhileAnotherProcessorStarts(t *testing.T) {
	t.Parallel()
	st, tc, ob, starter := outboxFixture(t)
	ctx := context.Background()
	signalBehindAHeldStart(t, st, starter)
	other := &runs.Outbox{Store: st, Starter: starter, Temporal: tc}
	ob.Temporal = &startsMeanwhile{starts: tc, other: func() {
		r, err := st.GetRun(ctx, "r1")
		if err != nil {
			t.Error(err)
			return
		}
		if err := other.Starter.Start(ctx, r); err != nil {
			t.Error(err)
		}
	}}
	res, err := ob.Drain(ctx)
	if err != nil || res.Signalled != 1 || res.Closed != 0 {
		t.Fatalf("drain: %+v %v", res, err)
	}
	if len(tc.signals["r1"]) != 1 {
		t.Fatalf("signals %v", tc.signals)
	}
}
