package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/memstore"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/workflows"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// fakeTemporal records starts and signals like a Temporal frontend would: a workflow id starts once, signals to
// an unknown or ended workflow are NotFound, and down makes every call fail as an unreachable server does.
type fakeTemporal struct {
	mu      sync.Mutex
	down    bool
	failOn  func(kind, id string) error // an extra failure hook
	started map[string]*fakeRun
	order   []string
	starts  int
	// spans are the spans current in the starts' contexts (tracing).
	spans []trace.SpanContext
}

type fakeRun struct {
	id, runID string
	input     workflows.Input
	opts      client.StartWorkflowOptions
	signals   []int64
	closed    bool
}

func newFake() *fakeTemporal { return &fakeTemporal{started: map[string]*fakeRun{}} }

func (f *fakeTemporal) check(kind, id string) error {
	if f.down {
		return serviceerror.NewUnavailable("connection refused")
	}
	if f.failOn != nil {
		return f.failOn(kind, id)
	}
	return nil
}

func (f *fakeTemporal) ExecuteWorkflow(ctx context.Context, opts client.StartWorkflowOptions, wf interface{}, args ...interface{}) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("start", opts.ID); err != nil {
		return nil, err
	}
	if wf != workflows.PlaybookWorkflow || len(args) != 1 {
		return nil, fmt.Errorf("unexpected workflow %v with %d args", wf, len(args))
	}
	if r, ok := f.started[opts.ID]; ok {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", r.runID)
	}
	in := args[0].(workflows.Input)
	// Round-trip through JSON as Temporal's payloads do.
	b, _ := json.Marshal(in)
	var got workflows.Input
	_ = json.Unmarshal(b, &got)
	f.starts++
	f.spans = append(f.spans, trace.SpanContextFromContext(ctx))
	r := &fakeRun{id: opts.ID, runID: fmt.Sprintf("wfrun-%d", f.starts), input: got, opts: opts}
	f.started[opts.ID] = r
	f.order = append(f.order, opts.ID)
	return r, nil
}

func (f *fakeTemporal) SignalWorkflow(ctx context.Context, workflowID, runID, name string, arg interface{}) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("signal", workflowID); err != nil {
		return err
	}
	r, ok := f.started[workflowID]
	if !ok || r.closed {
		return serviceerror.NewNotFound("workflow execution already completed")
	}
	if name != workflows.SignalAlert {
		return fmt.Errorf("unexpected signal %s", name)
	}
	r.signals = append(r.signals, arg.(map[string]any)["id"].(int64))
	return nil
}

func (r *fakeRun) GetID() string    { return r.id }
func (r *fakeRun) GetRunID() string { return r.runID }
func (r *fakeRun) Get(context.Context, interface{}) error {
	return errors.New("not implemented in the fake")
}
func (r *fakeRun) GetWithOptions(context.Context, interface{}, client.WorkflowRunGetOptions) error {
	return errors.New("not implemented in the fake")
}

func (f *fakeTemporal) run(id string) *fakeRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started[id]
}

// delivered counts, per alert id, how often an alert reached a workflow: in a start input or by a signal.
func (f *fakeTemporal) delivered() map[int64]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[int64]int{}
	for _, r := range f.started {
		if r.input.Incident != nil {
			for _, a := range r.input.Incident.Alerts {
				seen[int64(a["id"].(float64))]++
			}
		}
		for _, s := range r.signals {
			seen[s]++
		}
	}
	return seen
}

const phish = `name: phish
on:
  alert:
    when: alert.kind == "phish"
    dedup:
      key: alert.data.sender
      window: 1h
inputs:
  sender: { type: string, required: true, from: alert.data.sender }
steps:
  - id: pause
    wait: 1m
`

const malware = `name: malware
on:
  alert:
    when: alert.kind == "malware" && alert.data.score > 50
steps:
  - id: pause
    wait: 1m
`

// backend is the store a dispatcher works on, with what the tests read back from it.
type backend interface {
	dispatch.Inbox
	runs.RunStore
	runs.OutboxStore
	InsertAlerts(ctx context.Context, alerts []store.NewAlert, ingestedBy string) ([]store.InsertedAlert, error)
	PutPlaybookVersion(ctx context.Context, name, sha, source string, planJSON []byte, createdBy string) (store.PlaybookVersion, bool, error)
	EnablePlaybook(ctx context.Context, name string, version int) (store.PlaybookVersion, error)
	CloseIncident(ctx context.Context, id int64, by string) (store.Incident, bool, error)
	alertsNow() []store.Alert
	incidentsNow() []store.Incident
	runsNow() []store.Run
	outboxNow() []store.OutboxEntry
	receivedLater(id int64, d time.Duration)
}

// memBackend is the in-memory store: every test runs on it, also under -short.
type memBackend struct{ *memstore.Store }

func (m memBackend) Dispatch(ctx context.Context, fn func(dispatch.Tx) error) error {
	return m.InTx(ctx, func(tx *memstore.Tx) error { return fn(tx) })
}
func (m memBackend) alertsNow() []store.Alert       { return m.Alerts() }
func (m memBackend) incidentsNow() []store.Incident { return m.Incidents() }
func (m memBackend) runsNow() []store.Run           { return m.Runs() }
func (m memBackend) outboxNow() []store.OutboxEntry { o, _ := m.Outbox(); return o }
func (m memBackend) receivedLater(id int64, d time.Duration) {
	a, _ := m.GetAlert(context.Background(), id)
	m.SetReceivedAt(id, a.ReceivedAt.Add(d))
}

// pgBackend is PostgreSQL: the same tests check the SQL.
type pgBackend struct {
	dispatch.StoreInbox
	t testing.TB
}

func (p pgBackend) alertsNow() []store.Alert {
	out, err := p.ListAlerts(context.Background(), store.AlertQuery{Limit: 1000})
	if err != nil {
		p.t.Fatal(err)
	}
	slices.Reverse(out)
	return out
}
func (p pgBackend) incidentsNow() []store.Incident {
	out, err := p.ListIncidents(context.Background(), store.IncidentQuery{Limit: 1000})
	if err != nil {
		p.t.Fatal(err)
	}
	slices.Reverse(out)
	return out
}
func (p pgBackend) runsNow() []store.Run {
	out, err := p.ListRuns(context.Background(), store.RunQuery{Limit: 1000})
	if err != nil {
		p.t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b store.Run) int { return strings.Compare(a.ID, b.ID) })
	return out
}
func (p pgBackend) outboxNow() []store.OutboxEntry {
	rows, err := p.Pool.Query(context.Background(), `SELECT id, kind, run_id, coalesce(alert_id, 0), attempts FROM outbox ORDER BY id`)
	if err != nil {
		p.t.Fatal(err)
	}
	defer rows.Close()
	var out []store.OutboxEntry
	for rows.Next() {
		var e store.OutboxEntry
		if err := rows.Scan(&e.ID, &e.Kind, &e.RunID, &e.AlertID, &e.Attempts); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
func (p pgBackend) receivedLater(id int64, d time.Duration) {
	if _, err := p.Pool.Exec(context.Background(), "UPDATE alerts SET received_at = received_at + $2 * interval '1 second' WHERE id = $1", id, d.Seconds()); err != nil {
		p.t.Fatal(err)
	}
}

type fixture struct {
	b    backend
	tc   *fakeTemporal
	d    *dispatch.Dispatcher
	ctx  context.Context
	vers map[string]store.PlaybookVersion
}

// each runs test on the in-memory store and, unless -short, on PostgreSQL.
func each(t *testing.T, test func(t *testing.T, newFixture func(sources ...string) *fixture)) {
	t.Run("memory", func(t *testing.T) {
		test(t, func(sources ...string) *fixture { return build(t, memBackend{memstore.New()}, sources) })
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, func(sources ...string) *fixture {
			return build(t, pgBackend{StoreInbox: dispatch.StoreInbox{Store: storetest.NewStore(t)}, t: t}, sources)
		})
	})
}

func build(t *testing.T, b backend, sources []string) *fixture {
	t.Helper()
	f := &fixture{b: b, tc: newFake(), ctx: context.Background(), vers: map[string]store.PlaybookVersion{}}
	f.d = f.dispatcher(25)
	for _, src := range sources {
		f.push(t, src)
	}
	return f
}

func (f *fixture) dispatcher(batch int) *dispatch.Dispatcher {
	starter := &runs.Starter{Store: f.b, Temporal: f.tc, TaskQueue: "parry"}
	return &dispatch.Dispatcher{Inbox: f.b, Runs: starter, BatchSize: batch,
		Outbox: &runs.Outbox{Store: f.b, Starter: starter, Temporal: f.tc}}
}

func (f *fixture) push(t *testing.T, src string) store.PlaybookVersion {
	t.Helper()
	p, diags := playbook.Load("test.yaml", []byte(src))
	if p == nil {
		t.Fatalf("playbook does not compile: %v", diags)
	}
	b, _ := json.Marshal(p)
	v, _, err := f.b.PutPlaybookVersion(f.ctx, p.Name, p.SHA256, src, b, "test")
	if err != nil {
		t.Fatal(err)
	}
	v, err = f.b.EnablePlaybook(f.ctx, p.Name, v.Version)
	if err != nil {
		t.Fatal(err)
	}
	f.vers[p.Name] = v
	return v
}

func (f *fixture) alerts(t *testing.T, specs ...string) []int64 {
	t.Helper()
	var in []store.NewAlert
	for _, s := range specs {
		kind, data, _ := strings.Cut(s, " ")
		in = append(in, store.NewAlert{Source: "test", Kind: kind, Severity: "high", Title: s, ObservedAt: time.Now(), Data: json.RawMessage(data)})
	}
	out, err := f.b.InsertAlerts(f.ctx, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(out))
	for i, o := range out {
		ids[i] = o.ID
	}
	return ids
}

// incidentLines renders the incidents as "playbook version key status run first count" lines.
func (f *fixture) incidentLines() string {
	var lines []string
	for _, i := range f.b.incidentsNow() {
		lines = append(lines, fmt.Sprintf("%s %d %s %s %s %d %d", i.PlaybookName, i.PlaybookVersion, i.DedupKey, i.Status, i.RunID, i.FirstAlertID, i.AlertCount))
	}
	return strings.Join(lines, "\n")
}

func (f *fixture) alertLines() string {
	var lines []string
	for _, a := range f.b.alertsNow() {
		lines = append(lines, fmt.Sprintf("%d %s %d %s", a.ID, a.Status, a.Matched, a.LastError))
	}
	return strings.Join(lines, "\n")
}

func (f *fixture) incidentOf(t *testing.T, firstAlert int64) store.Incident {
	t.Helper()
	for _, i := range f.b.incidentsNow() {
		if i.FirstAlertID == firstAlert {
			return i
		}
	}
	t.Fatalf("no incident starts with alert %d", firstAlert)
	return store.Incident{}
}

func TestDispatchOpensIncidentsAndSignalsRepeats(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(phish, malware)
		ids := f.alerts(t,
			`phish {"sender":"a@evil.test"}`,
			`phish {"sender":"b@evil.test"}`,
			`phish {"sender":"a@evil.test"}`,
			`malware {"score":90}`,
			`malware {"score":10}`,
			`other {}`,
		)
		res, err := f.d.Drain(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (dispatch.Result{Alerts: 6, Matched: 4, Opened: 3, Started: 3}); res != want {
			t.Fatalf("result %+v, want %+v", res, want)
		}
		a1, b1, mal := dispatch.RunID("phish", ids[0]), dispatch.RunID("phish", ids[1]), dispatch.RunID("malware", ids[3])
		if got, want := f.incidentLines(), fmt.Sprintf("phish 1 a@evil.test open %s %d 2\nphish 1 b@evil.test open %s %d 1\nmalware 1  open %s %d 1",
			a1, ids[0], b1, ids[1], mal, ids[3]); got != want {
			t.Fatalf("incidents:\n%s\nwant\n%s", got, want)
		}
		if got, want := f.alertLines(), fmt.Sprintf("%d dispatched 1 \n%d dispatched 1 \n%d dispatched 1 \n%d dispatched 1 \n%d dispatched 0 \n%d dispatched 0 ",
			ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]); got != want {
			t.Fatalf("alerts:\n%s\nwant\n%s", got, want)
		}
		// Runs pin the version and SHA, and are started; the outbox is empty.
		var lines []string
		for _, r := range f.b.runsNow() {
			inc, _ := f.b.GetIncident(f.ctx, *r.IncidentID)
			lines = append(lines, fmt.Sprintf("%s %d %v %s %s %d %v %v", r.ID, r.PlaybookVersion, r.PlaybookSHA256 == f.vers[r.PlaybookName].SHA256,
				r.Status, r.StartedBy, *r.AlertID, inc.RunID == r.ID, r.WorkflowRunID != ""))
		}
		if got, want := strings.Join(lines, "\n"), fmt.Sprintf("%s 1 true running dispatcher %d true true\n%s 1 true running dispatcher %d true true\n%s 1 true running dispatcher %d true true",
			mal, ids[3], a1, ids[0], b1, ids[1]); got != want {
			t.Fatalf("runs:\n%s\nwant\n%s", got, want)
		}
		if o := f.b.outboxNow(); len(o) != 0 {
			t.Fatalf("outbox not empty: %+v", o)
		}
		// The new incident's workflow got both of the batch's alerts in its input, none by signal.
		r := f.tc.run(a1)
		if r.input.Incident == nil || len(r.input.Incident.Alerts) != 2 || r.input.Alert["id"] != float64(ids[0]) || len(r.signals) != 0 {
			t.Fatalf("input of %s: %+v, signals %v", a1, r.input.Incident, r.signals)
		}
		if r.input.Incident.Key != "a@evil.test" || r.input.Playbook.Name != "phish" || r.input.RunID != a1 || r.opts.TaskQueue != "parry" {
			t.Fatalf("input of %s: %+v %+v", a1, r.input.Playbook, r.opts)
		}
		// A repeat in a later batch joins the open incident and is signalled.
		later := f.alerts(t, `phish {"sender":"a@evil.test"}`)
		res, err = f.d.Drain(f.ctx)
		if err != nil || res != (dispatch.Result{Alerts: 1, Matched: 1, Attached: 1, Signalled: 1}) {
			t.Fatalf("repeat: %+v %v", res, err)
		}
		if got := f.tc.run(a1).signals; len(got) != 1 || got[0] != later[0] {
			t.Fatalf("signals %v, want [%d]", got, later[0])
		}
		if got := f.incidentOf(t, ids[0]).AlertCount; got != 3 {
			t.Fatalf("alert_count %d", got)
		}
	})
}

func TestDispatchWindowAndClosedIncidents(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(phish)
		first := f.alerts(t, `phish {"sender":"a@evil.test"}`)
		if _, err := f.d.Drain(f.ctx); err != nil {
			t.Fatal(err)
		}
		// Received two hours later: outside the one-hour window, so a new incident.
		late := f.alerts(t, `phish {"sender":"a@evil.test"}`)
		f.b.receivedLater(late[0], 2*time.Hour)
		if res, err := f.d.Drain(f.ctx); err != nil || res.Opened != 1 {
			t.Fatalf("late alert: %+v %v", res, err)
		}
		// A closed incident takes no more alerts.
		inc, changed, err := f.b.CloseIncident(f.ctx, f.incidentOf(t, late[0]).ID, "tester")
		if err != nil || !changed || inc.Status != "closed" || inc.ClosedBy != "tester" {
			t.Fatalf("close: %+v %v %v", inc, changed, err)
		}
		if _, again, err := f.b.CloseIncident(f.ctx, inc.ID, "tester"); err != nil || again {
			t.Fatalf("second close: %v %v", again, err)
		}
		// The first incident's workflow has ended: the next alert is attached, not signalled.
		f.tc.run(dispatch.RunID("phish", first[0])).closed = true
		f.alerts(t, `phish {"sender":"a@evil.test"}`)
		res, err := f.d.Drain(f.ctx)
		if err != nil || res != (dispatch.Result{Alerts: 1, Matched: 1, Attached: 1}) {
			t.Fatalf("attach to ended run: %+v %v", res, err)
		}
		var lines []string
		for _, i := range f.b.incidentsNow() {
			lines = append(lines, fmt.Sprintf("%d %s %d", i.FirstAlertID, i.Status, i.AlertCount))
		}
		if got := strings.Join(lines, "\n"); got != fmt.Sprintf("%d open 2\n%d closed 1", first[0], late[0]) {
			t.Fatalf("incidents:\n%s", got)
		}
		if o := f.b.outboxNow(); len(o) != 0 {
			t.Fatalf("outbox not empty: %+v", o)
		}
	})
}

// While Temporal is down the alerts still join their incidents: the runs are recorded as pending with their
// outbox entries, and start (and get their signals) once Temporal is back.
func TestDispatchWhileTemporalIsDown(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(phish)
		ids := f.alerts(t, `phish {"sender":"a@evil.test"}`, `phish {"sender":"b@evil.test"}`, `other {}`)
		f.tc.down = true
		res, err := f.d.Drain(f.ctx)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("want the Temporal error, got %v", err)
		}
		if res.Opened != 2 || res.Started != 0 {
			t.Fatalf("result while down: %+v", res)
		}
		if got, want := f.alertLines(), fmt.Sprintf("%d dispatched 1 \n%d dispatched 1 \n%d dispatched 0 ", ids[0], ids[1], ids[2]); got != want {
			t.Fatalf("alerts:\n%s\nwant\n%s", got, want)
		}
		for _, r := range f.b.runsNow() {
			if r.Status != store.RunPending || r.WorkflowRunID != "" {
				t.Fatalf("run %s is %s (%q) while Temporal is down", r.ID, r.Status, r.WorkflowRunID)
			}
		}
		// A repeat arriving meanwhile is attached and queued for its signal.
		rep := f.alerts(t, `phish {"sender":"a@evil.test"}`)
		if _, err := f.d.Drain(f.ctx); err == nil {
			t.Fatal("the outbox worked while Temporal is down")
		}
		var kinds []string
		for _, e := range f.b.outboxNow() {
			kinds = append(kinds, e.Kind)
		}
		if got := strings.Join(kinds, " "); got != "start start signal" {
			t.Fatalf("outbox: %s", got)
		}
		f.tc.down = false
		releaseClaims(f.b)
		res, err = f.d.Drain(f.ctx)
		if err != nil || res.Started != 2 || res.Alerts != 0 {
			t.Fatalf("after Temporal is back: %+v %v", res, err)
		}
		for _, r := range f.b.runsNow() {
			if r.Status != store.RunRunning {
				t.Fatalf("run %s is %s after Temporal came back", r.ID, r.Status)
			}
		}
		// The repeat reached its run: in the start input (it was attached before the start) or by its signal.
		if got := f.tc.delivered(); got[rep[0]] == 0 || got[ids[0]] != 1 || got[ids[1]] != 1 {
			t.Fatalf("deliveries %v", got)
		}
		if o := f.b.outboxNow(); len(o) != 0 {
			t.Fatalf("outbox not empty: %+v", o)
		}
	})
}

// releaseClaims makes the failed outbox entries due now instead of after their back-off.
func releaseClaims(b backend) {
	switch x := b.(type) {
	case memBackend:
		x.ReleaseOutboxClaims()
	case pgBackend:
		if _, err := x.Pool.Exec(context.Background(), "UPDATE outbox SET claimed_until = '-infinity'"); err != nil {
			x.t.Fatal(err)
		}
	}
}

// TestNoWorkflowForAnUncommittedIncident interleaves two dispatchers the way that used to leave a workflow
// running for an incident that never committed: A claims alert a1 and plans a new incident for key K; B claims
// a2 (same key) and waits for K's lock; A's transaction rolls back; B opens K's incident with a2; A then
// dispatches a1 again, into B's incident. With the outbox, Temporal hears of nothing before a commit: the only
// workflow is B's, and it gets both alerts.
func TestNoWorkflowForAnUncommittedIncident(t *testing.T) {
	mem := memstore.New()
	f := build(t, memBackend{mem}, []string{phish})
	a := f.dispatcher(1)
	b := f.dispatcher(1)
	ids := f.alerts(t, `phish {"sender":"k@evil.test"}`, `phish {"sender":"k@evil.test"}`)
	bWaiting := make(chan struct{})
	mem.OnLockWait = func(store.DedupLock) { close(bWaiting) }
	bDone := make(chan error, 1)
	dispatch.SetBeforeCommit(a, func(alerts []store.Alert) error {
		if len(alerts) != 1 || alerts[0].ID != ids[0] {
			return fmt.Errorf("a claimed %v", alerts)
		}
		go func() { _, err := b.DispatchOnce(f.ctx); bDone <- err }()
		<-bWaiting // B holds a2 and waits for K's lock, which A holds
		return errors.New("a's commit fails")
	})
	if _, err := a.DispatchOnce(f.ctx); err == nil || !strings.Contains(err.Error(), "a's commit fails") {
		t.Fatalf("a: %v", err)
	}
	if err := <-bDone; err != nil {
		t.Fatalf("b: %v", err)
	}
	mem.OnLockWait = nil
	dispatch.SetBeforeCommit(a, nil)
	if f.tc.starts != 1 || f.tc.run(dispatch.RunID("phish", ids[1])) == nil {
		t.Fatalf("after the interleaving: %d starts, %v", f.tc.starts, f.tc.order)
	}
	if _, err := a.Drain(f.ctx); err != nil {
		t.Fatal(err)
	}
	if f.tc.starts != 1 || f.tc.run(dispatch.RunID("phish", ids[0])) != nil {
		t.Fatalf("a workflow was started for the incident that never committed: %v", f.tc.order)
	}
	incs := f.b.incidentsNow()
	if len(incs) != 1 || incs[0].FirstAlertID != ids[1] || incs[0].AlertCount != 2 {
		t.Fatalf("incidents: %+v", incs)
	}
	if got := f.tc.delivered(); got[ids[0]] != 1 || got[ids[1]] != 1 {
		t.Fatalf("deliveries: %v", got)
	}
	// Every workflow Temporal has belongs to a committed incident.
	for _, id := range f.tc.order {
		found := false
		for _, inc := range incs {
			found = found || inc.RunID == id
		}
		if !found {
			t.Fatalf("workflow %s has no committed incident", id)
		}
	}
}

func TestDispatchRecordsTriggerAndInputErrors(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(phish, malware, `name: strict
on:
  alert:
    when: alert.kind == "phish" && alert.data.sender.domain == "x"
steps:
  - id: pause
    wait: 1m
`)
		ids := f.alerts(t,
			`phish {"sender":"a@evil.test"}`,
			`malware {"score":"high"}`,
			`phish {"subject":"no sender"}`,
		)
		res, err := f.d.Drain(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 3 || res.Opened != 1 {
			t.Fatalf("result %+v", res)
		}
		got := f.alertLines()
		for _, want := range []string{
			fmt.Sprintf("%d dispatched 1 playbook strict (version 1): on.alert.when: evaluating", ids[0]),
			fmt.Sprintf("%d dispatched 0 playbook malware (version 1): on.alert.when: evaluating", ids[1]),
			fmt.Sprintf("%d dispatched 0 playbook phish (version 1): dedup.key: the key is null (the alert lacks the field it names?)", ids[2]),
		} {
			if !strings.Contains(got, want) {
				t.Errorf("alerts lack %q:\n%s", want, got)
			}
		}
	})
}

func TestDispatchInputErrorOpensNothing(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(`name: needs
on:
  alert:
    when: alert.kind == "phish"
inputs:
  sender: { type: string, required: true, from: alert.data.sender }
steps:
  - id: pause
    wait: 1m
`)
		ids := f.alerts(t, `phish {"subject":"x"}`, `phish {"sender":"a@x.test"}`)
		res, err := f.d.Drain(f.ctx)
		if err != nil || res.Opened != 1 || res.Errors != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		a, _ := f.b.GetAlert(f.ctx, ids[0])
		if got := fmt.Sprintf("%d %s", a.Matched, a.LastError); got != "0 playbook needs (version 1): inputs: input sender is required" {
			t.Fatalf("alert: %s", got)
		}
	})
}

func TestDispatchVersionsPinRuns(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(phish)
		first := f.alerts(t, `phish {"sender":"a@evil.test"}`)
		if _, err := f.d.Drain(f.ctx); err != nil {
			t.Fatal(err)
		}
		v1 := f.vers["phish"]
		v2 := f.push(t, strings.Replace(phish, "wait: 1m", "wait: 2m", 1))
		if v2.Version != 2 {
			t.Fatalf("version %d", v2.Version)
		}
		second := f.alerts(t, `phish {"sender":"b@evil.test"}`, `phish {"sender":"a@evil.test"}`)
		if _, err := f.d.Drain(f.ctx); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, r := range f.b.runsNow() {
			lines = append(lines, fmt.Sprintf("%s %d %s", r.ID, r.PlaybookVersion, r.PlaybookSHA256))
		}
		slices.Sort(lines)
		want := []string{fmt.Sprintf("%s 1 %s", dispatch.RunID("phish", first[0]), v1.SHA256), fmt.Sprintf("%s 2 %s", dispatch.RunID("phish", second[0]), v2.SHA256)}
		slices.Sort(want)
		if v1.SHA256 == v2.SHA256 || !slices.Equal(lines, want) {
			t.Fatalf("runs:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		if w := f.tc.run(dispatch.RunID("phish", second[0])); w == nil || !strings.Contains(string(w.input.Plan), `"wait":"2m"`) || w.input.Playbook.Version != 2 {
			t.Fatalf("version-2 run: %+v", w)
		}
		// The repeat joined the version-1 incident: a run in flight keeps its version.
		var incs []string
		for _, i := range f.b.incidentsNow() {
			incs = append(incs, fmt.Sprintf("%d %d", i.PlaybookVersion, i.AlertCount))
		}
		if got := strings.Join(incs, "\n"); got != "1 2\n2 1" {
			t.Fatalf("incidents:\n%s", got)
		}
	})
}

// An alert received just after a playbook is enabled (or given a new version) is matched by it, even when the
// dispatch pass that takes the alert began before the enable: the triggers are read after the alerts are locked.
func TestAlertJustAfterAnEnableMeetsThePlaybook(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(malware)
		var ids []int64
		hooked := false
		dispatch.SetBeforeLock(f.d, func() {
			if hooked {
				return
			}
			hooked = true
			f.push(t, phish)
			ids = f.alerts(t, `phish {"sender":"a@evil.test"}`)
		})
		if _, err := f.d.DispatchOnce(f.ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := f.alertLines(), fmt.Sprintf("%d dispatched 1 ", ids[0]); got != want {
			t.Fatalf("alerts:\n%s\nwant\n%s", got, want)
		}
		// A new version enabled just before an alert: the alert's new incident runs that version.
		hooked = false
		dispatch.SetBeforeLock(f.d, func() {
			if hooked {
				return
			}
			hooked = true
			f.push(t, strings.Replace(phish, "wait: 1m", "wait: 2m", 1))
			ids = append(ids, f.alerts(t, `phish {"sender":"b@evil.test"}`)...)
		})
		if _, err := f.d.DispatchOnce(f.ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := f.incidentLines(), fmt.Sprintf("phish 1 a@evil.test open %s %d 1\nphish 2 b@evil.test open %s %d 1",
			dispatch.RunID("phish", ids[0]), ids[0], dispatch.RunID("phish", ids[1]), ids[1]); got != want {
			t.Fatalf("incidents:\n%s\nwant\n%s", got, want)
		}
	})
}

func TestConcurrentDispatchersDispatchEachAlertOnce(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(phish)
		const n, keys = 600, 12
		var specs []string
		for i := range n {
			specs = append(specs, fmt.Sprintf(`phish {"sender":"s%d@evil.test"}`, i%keys))
		}
		f.alerts(t, specs...)
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			d := f.dispatcher(25)
			wg.Go(func() { _, errs[i] = d.Drain(f.ctx) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		incs, total := f.b.incidentsNow(), 0
		for _, i := range incs {
			total += i.AlertCount
		}
		pending := 0
		for _, a := range f.b.alertsNow() {
			if a.Status == "pending" {
				pending++
			}
		}
		if len(incs) != keys || len(f.b.runsNow()) != keys || total != n || pending != 0 || f.tc.starts != keys {
			t.Fatalf("%d incidents, %d runs, %d starts, %d alerts attached, %d pending", len(incs), len(f.b.runsNow()), f.tc.starts, total, pending)
		}
		// Every alert reached its workflow: in the start input or by a signal, and twice only when it was
		// attached before its run's start and signalled too (the workflow drops the repeat by alert id).
		seen := f.tc.delivered()
		if len(seen) != n {
			t.Fatalf("%d alerts reached workflows, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c > 2 {
				t.Fatalf("alert %d reached its workflow %d times", id, c)
			}
		}
		if o := f.b.outboxNow(); len(o) != 0 {
			t.Fatalf("outbox not empty: %d entries", len(o))
		}
	})
}

func TestRunWakesOnNotify(t *testing.T) {
	st := storetest.NewStore(t)
	f := build(t, pgBackend{StoreInbox: dispatch.StoreInbox{Store: st}, t: t}, []string{phish})
	f.d.SweepInterval = time.Hour // only a notification can wake it
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The alert may commit before the listener subscribes: its first wake-up finds it then.
	f.alerts(t, `phish {"sender":"a@evil.test"}`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if as := f.b.alertsNow(); len(as) == 1 && as[0].Status == "dispatched" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the alert was not dispatched after its notification")
}

// TestNoWorkflowForAnUncommittedIncidentPostgres is the same interleaving on PostgreSQL: B waits on K's
// advisory lock (seen in pg_locks) while A's transaction is open, then A rolls back.
func TestNoWorkflowForAnUncommittedIncidentPostgres(t *testing.T) {
	st := storetest.NewStore(t)
	f := build(t, pgBackend{StoreInbox: dispatch.StoreInbox{Store: st}, t: t}, []string{phish})
	a, b := f.dispatcher(1), f.dispatcher(1)
	ids := f.alerts(t, `phish {"sender":"k@evil.test"}`, `phish {"sender":"k@evil.test"}`)
	bDone := make(chan error, 1)
	dispatch.SetBeforeCommit(a, func(alerts []store.Alert) error {
		go func() { _, err := b.DispatchOnce(f.ctx); bDone <- err }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var waiting int
			if err := st.Pool.QueryRow(f.ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("b never waited for the dedup lock")
			}
			time.Sleep(5 * time.Millisecond)
		}
		return errors.New("a's commit fails")
	})
	if _, err := a.DispatchOnce(f.ctx); err == nil || !strings.Contains(err.Error(), "a's commit fails") {
		t.Fatalf("a: %v", err)
	}
	if err := <-bDone; err != nil {
		t.Fatalf("b: %v", err)
	}
	dispatch.SetBeforeCommit(a, nil)
	if _, err := a.Drain(f.ctx); err != nil {
		t.Fatal(err)
	}
	incs := f.b.incidentsNow()
	if f.tc.starts != 1 || f.tc.run(dispatch.RunID("phish", ids[1])) == nil || len(incs) != 1 || incs[0].AlertCount != 2 {
		t.Fatalf("starts %v, incidents %+v", f.tc.order, incs)
	}
}

// TestDispatchSpanParentsTheStarts: with a tracer, a batch that held alerts is a "dispatch" span and the runs
// it starts are started inside it (Temporal's client interceptor makes StartWorkflow its child, and the run's
// spans follow); a sweep that found nothing makes no span.
func TestDispatchSpanParentsTheStarts(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(phish)
		rec := tracetest.NewSpanRecorder()
		f.d.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
		f.alerts(t, `phish {"sender":"a@evil.test"}`, `phish {"sender":"b@evil.test"}`)
		if _, err := f.d.Drain(f.ctx); err != nil {
			t.Fatal(err)
		}
		spans := rec.Ended()
		if len(spans) != 1 || spans[0].Name() != "dispatch" {
			t.Fatalf("spans %v, want one dispatch span", spans)
		}
		if len(f.tc.spans) != 2 {
			t.Fatalf("%d starts", len(f.tc.spans))
		}
		for i, sc := range f.tc.spans {
			if sc.SpanID() != spans[0].SpanContext().SpanID() {
				t.Errorf("start %d is not inside the dispatch span", i)
			}
		}
	})
}
