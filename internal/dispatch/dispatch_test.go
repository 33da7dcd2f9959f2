package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
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

func (f *fakeTemporal) GetWorkflowHistory(ctx context.Context, workflowID, runID string, long bool, filter enums.HistoryEventFilterType) client.HistoryEventIterator {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.started[workflowID]
	payloads, err := converter.GetDefaultDataConverter().ToPayloads(r.input)
	return &historyIter{err: err, ev: &history.HistoryEvent{EventType: enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		Attributes: &history.HistoryEvent_WorkflowExecutionStartedEventAttributes{
			WorkflowExecutionStartedEventAttributes: &history.WorkflowExecutionStartedEventAttributes{Input: payloads},
		}}}
}

type historyIter struct {
	ev   *history.HistoryEvent
	err  error
	done bool
}

func (h *historyIter) HasNext() bool { return !h.done }
func (h *historyIter) Next() (*history.HistoryEvent, error) {
	h.done = true
	return h.ev, h.err
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

type fixture struct {
	st   *store.Store
	tc   *fakeTemporal
	d    *dispatch.Dispatcher
	ctx  context.Context
	vers map[string]store.PlaybookVersion
}

func newFixture(t *testing.T, sources ...string) *fixture {
	t.Helper()
	st := storetest.NewStore(t)
	tc := newFake()
	f := &fixture{st: st, tc: tc, ctx: context.Background(), vers: map[string]store.PlaybookVersion{}}
	f.d = &dispatch.Dispatcher{Store: st, Runs: &runs.Starter{Store: st, TaskQueue: "parry"}, Temporal: tc, BatchSize: 10}
	for _, src := range sources {
		f.push(t, src)
	}
	return f
}

func (f *fixture) push(t *testing.T, src string) store.PlaybookVersion {
	t.Helper()
	p, diags := playbook.Load("test.yaml", []byte(src))
	if p == nil {
		t.Fatalf("playbook does not compile: %v", diags)
	}
	b, _ := json.Marshal(p)
	v, _, err := f.st.PutPlaybookVersion(f.ctx, p.Name, p.SHA256, src, b, "test")
	if err != nil {
		t.Fatal(err)
	}
	v, err = f.st.EnablePlaybook(f.ctx, p.Name, v.Version)
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
	out, err := f.st.InsertAlerts(f.ctx, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(out))
	for i, o := range out {
		ids[i] = o.ID
	}
	return ids
}

func (f *fixture) query(t *testing.T, sql string, args ...any) string {
	t.Helper()
	rows, err := f.st.Pool.Query(f.ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for _, v := range vals {
			cols = append(cols, fmt.Sprint(v))
		}
		lines = append(lines, strings.Join(cols, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestDispatchOpensIncidentsAndSignalsRepeats(t *testing.T) {
	f := newFixture(t, phish, malware)
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
	want := dispatch.Result{Alerts: 6, Matched: 4, Opened: 3, Attached: 0}
	if res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	a1, b1, mal := dispatch.RunID("phish", ids[0]), dispatch.RunID("phish", ids[1]), dispatch.RunID("malware", ids[3])
	if got := f.query(t, `SELECT playbook_name, playbook_version, dedup_key, status, run_id, first_alert_id, alert_count FROM incidents ORDER BY first_alert_id, playbook_name`); got != fmt.Sprintf(
		"phish 1 a@evil.test open %s %d 2\nphish 1 b@evil.test open %s %d 1\nmalware 1  open %s %d 1", a1, ids[0], b1, ids[1], mal, ids[3]) {
		t.Fatalf("incidents:\n%s", got)
	}
	if got := f.query(t, `SELECT id, status, matched, last_error FROM alerts ORDER BY id`); got != fmt.Sprintf(
		"%d dispatched 1 \n%d dispatched 1 \n%d dispatched 1 \n%d dispatched 1 \n%d dispatched 0 \n%d dispatched 0 ", ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]) {
		t.Fatalf("alerts:\n%s", got)
	}
	// Runs pin the version and SHA, and are started.
	if got := f.query(t, `SELECT r.id, r.playbook_version, r.playbook_sha256 = v.sha256, r.status, r.started_by, r.alert_id, r.incident_id = i.id, r.workflow_run_id <> ''
		FROM runs r JOIN incidents i ON i.run_id = r.id JOIN playbook_versions v ON v.name = r.playbook_name AND v.version = r.playbook_version ORDER BY r.alert_id, r.id`); got != fmt.Sprintf(
		"%s 1 true running dispatcher %d true true\n%s 1 true running dispatcher %d true true\n%s 1 true running dispatcher %d true true", a1, ids[0], b1, ids[1], mal, ids[3]) {
		t.Fatalf("runs:\n%s", got)
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
	if got := f.query(t, `SELECT alert_count FROM incidents WHERE run_id = $1`, a1); got != "3" {
		t.Fatalf("alert_count %s", got)
	}
}

func TestDispatchWindowAndClosedIncidents(t *testing.T) {
	f := newFixture(t, phish)
	first := f.alerts(t, `phish {"sender":"a@evil.test"}`)
	if _, err := f.d.Drain(f.ctx); err != nil {
		t.Fatal(err)
	}
	// Received two hours later: outside the one-hour window, so a new incident.
	late := f.alerts(t, `phish {"sender":"a@evil.test"}`)
	if _, err := f.st.Pool.Exec(f.ctx, "UPDATE alerts SET received_at = received_at + interval '2 hours' WHERE id = $1", late[0]); err != nil {
		t.Fatal(err)
	}
	if res, err := f.d.Drain(f.ctx); err != nil || res.Opened != 1 {
		t.Fatalf("late alert: %+v %v", res, err)
	}
	// A closed incident takes no more alerts.
	inc, changed, err := f.st.CloseIncident(f.ctx, mustIncident(t, f, late[0]), "tester")
	if err != nil || !changed || inc.Status != "closed" || inc.ClosedBy != "tester" {
		t.Fatalf("close: %+v %v %v", inc, changed, err)
	}
	if _, again, err := f.st.CloseIncident(f.ctx, inc.ID, "tester"); err != nil || again {
		t.Fatalf("second close: %v %v", again, err)
	}
	// The first incident's workflow has ended: the next alert is attached, not signalled.
	f.tc.run(dispatch.RunID("phish", first[0])).closed = true
	f.alerts(t, `phish {"sender":"a@evil.test"}`)
	res, err := f.d.Drain(f.ctx)
	if err != nil || res != (dispatch.Result{Alerts: 1, Matched: 1, Attached: 1}) {
		t.Fatalf("attach to ended run: %+v %v", res, err)
	}
	if got := f.query(t, "SELECT first_alert_id, status, alert_count FROM incidents ORDER BY id"); got != fmt.Sprintf("%d open 2\n%d closed 1", first[0], late[0]) {
		t.Fatalf("incidents:\n%s", got)
	}
}

func mustIncident(t *testing.T, f *fixture, firstAlert int64) int64 {
	t.Helper()
	var id int64
	if err := f.st.Pool.QueryRow(f.ctx, "SELECT id FROM incidents WHERE first_alert_id = $1", firstAlert).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDispatchLeavesAlertsPendingWhileTemporalIsDown(t *testing.T) {
	f := newFixture(t, phish)
	ids := f.alerts(t, `phish {"sender":"a@evil.test"}`, `phish {"sender":"b@evil.test"}`, `other {}`)
	f.tc.down = true
	if _, err := f.d.Drain(f.ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want the Temporal error, got %v", err)
	}
	if got := f.query(t, "SELECT status, attempts, last_error LIKE 'starting run alert-phish-%connection refused%' FROM alerts ORDER BY id"); got != "pending 1 true\npending 1 true\npending 1 true" {
		t.Fatalf("alerts:\n%s", got)
	}
	if got := f.query(t, "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM runs), (SELECT count(*) FROM incident_alerts)"); got != "0 0 0" {
		t.Fatalf("something was recorded: %s", got)
	}
	f.tc.down = false
	res, err := f.d.Drain(f.ctx)
	if err != nil || res.Opened != 2 || res.Alerts != 3 {
		t.Fatalf("after Temporal is back: %+v %v", res, err)
	}
	if got := f.query(t, "SELECT status, attempts FROM alerts WHERE id = $1", ids[2]); got != "dispatched 1" {
		t.Fatalf("alert: %s", got)
	}
}

func TestDispatchRetryAdoptsTheWorkflowOfARolledBackAttempt(t *testing.T) {
	f := newFixture(t, phish)
	// b's incident exists already, so the batch starts a's workflow and then signals b's, which fails.
	f.alerts(t, `phish {"sender":"b@evil.test"}`)
	if _, err := f.d.Drain(f.ctx); err != nil {
		t.Fatal(err)
	}
	ids := f.alerts(t, `phish {"sender":"a@evil.test"}`, `phish {"sender":"b@evil.test"}`, `phish {"sender":"a@evil.test"}`)
	f.d.Concurrency = 1
	f.tc.failOn = func(kind, id string) error {
		if kind == "signal" {
			return serviceerror.NewUnavailable("signal lost")
		}
		return nil
	}
	if _, err := f.d.Drain(f.ctx); err == nil || !strings.Contains(err.Error(), "signal lost") {
		t.Fatalf("want the signal failure, got %v", err)
	}
	a := dispatch.RunID("phish", ids[0])
	orphan := f.tc.run(a)
	if orphan == nil || orphan.input.Incident == nil {
		t.Fatal("the first attempt did not start a's workflow")
	}
	reserved := orphan.input.Incident.ID
	f.tc.failOn = nil
	res, err := f.d.Drain(f.ctx)
	if err != nil || res.Opened != 1 || res.Attached != 1 {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if f.tc.starts != 2 {
		t.Fatalf("%d workflows started, want 2 (b's, then a's once)", f.tc.starts)
	}
	// The incident recorded is the one the running workflow knows.
	if got := f.query(t, "SELECT id = $1, run_id, alert_count FROM incidents WHERE first_alert_id = $2", reserved, ids[0]); got != "true "+a+" 2" {
		t.Fatalf("incident: %s (workflow has incident %d)", got, reserved)
	}
	if got := f.query(t, "SELECT incident_id = $1, workflow_run_id, status FROM runs WHERE id = $2", reserved, a); got != "true "+orphan.runID+" running" {
		t.Fatalf("run: %s", got)
	}
	// The alerts the orphan had in its input are sent again; the workflow drops repeats by alert id.
	if got := f.tc.run(a).signals; len(got) != 1 || got[0] != ids[2] {
		t.Fatalf("signals to the adopted run: %v", got)
	}
}

func TestDispatchRecordsTriggerAndInputErrors(t *testing.T) {
	f := newFixture(t, phish, malware, `name: strict
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
	got := f.query(t, "SELECT id, status, matched, last_error FROM alerts ORDER BY id")
	for _, want := range []string{
		fmt.Sprintf("%d dispatched 1 playbook strict (version 1): on.alert.when: evaluating", ids[0]),
		fmt.Sprintf("%d dispatched 0 playbook malware (version 1): on.alert.when: evaluating", ids[1]),
		fmt.Sprintf("%d dispatched 0 playbook phish (version 1): dedup.key: the key is null (the alert lacks the field it names?)", ids[2]),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("alerts lack %q:\n%s", want, got)
		}
	}
}

func TestDispatchInputErrorOpensNothing(t *testing.T) {
	f := newFixture(t, `name: needs
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
	if got := f.query(t, "SELECT matched, last_error FROM alerts WHERE id = $1", ids[0]); got != "0 playbook needs (version 1): inputs: input sender is required" {
		t.Fatalf("alert: %s", got)
	}
}

func TestDispatchVersionsPinRuns(t *testing.T) {
	f := newFixture(t, phish)
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
	got := f.query(t, "SELECT id, playbook_version, playbook_sha256 FROM runs ORDER BY alert_id")
	want := fmt.Sprintf("%s 1 %s\n%s 2 %s", dispatch.RunID("phish", first[0]), v1.SHA256, dispatch.RunID("phish", second[0]), v2.SHA256)
	if v1.SHA256 == v2.SHA256 || got != want {
		t.Fatalf("runs:\n%s\nwant\n%s", got, want)
	}
	if w := f.tc.run(dispatch.RunID("phish", second[0])); w == nil || !strings.Contains(string(w.input.Plan), `"wait":"2m"`) || w.input.Playbook.Version != 2 {
		t.Fatalf("version-2 run: %+v", w)
	}
	// The repeat joined the version-1 incident: a run in flight keeps its version.
	if got := f.query(t, "SELECT playbook_version, alert_count FROM incidents ORDER BY id"); got != "1 2\n2 1" {
		t.Fatalf("incidents:\n%s", got)
	}
}

func TestConcurrentDispatchersDispatchEachAlertOnce(t *testing.T) {
	f := newFixture(t, phish)
	const n, keys = 600, 12
	var specs []string
	for i := range n {
		specs = append(specs, fmt.Sprintf(`phish {"sender":"s%d@evil.test"}`, i%keys))
	}
	f.alerts(t, specs...)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		d := &dispatch.Dispatcher{Store: f.st, Runs: &runs.Starter{Store: f.st, TaskQueue: "parry"}, Temporal: f.tc, BatchSize: 25}
		wg.Go(func() { _, errs[i] = d.Drain(f.ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := f.query(t, `SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM runs), (SELECT count(*) FROM incident_alerts),
		(SELECT count(DISTINCT alert_id) FROM incident_alerts), (SELECT count(*) FROM alerts WHERE status = 'pending'), (SELECT sum(alert_count) FROM incidents)`); got != fmt.Sprintf("%d %d %d %d 0 %d", keys, keys, n, n, n) {
		t.Fatalf("counts: %s", got)
	}
	// Every alert reached its workflow exactly once: in the start input or by one signal.
	seen := map[int64]int{}
	for _, id := range f.tc.order {
		r := f.tc.run(id)
		for _, a := range r.input.Incident.Alerts {
			seen[int64(a["id"].(float64))]++
		}
		for _, s := range r.signals {
			seen[s]++
		}
	}
	var dup []int64
	for id, c := range seen {
		if c != 1 {
			dup = append(dup, id)
		}
	}
	sort.Slice(dup, func(i, j int) bool { return dup[i] < dup[j] })
	if len(seen) != n || len(dup) > 0 {
		t.Fatalf("%d alerts reached workflows, want %d; repeated: %v", len(seen), n, dup)
	}
}

func TestRunWakesOnNotify(t *testing.T) {
	f := newFixture(t, phish)
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
	// Give the listener time to subscribe, then insert.
	deadline := time.Now().Add(10 * time.Second)
	time.Sleep(200 * time.Millisecond)
	f.alerts(t, `phish {"sender":"a@evil.test"}`)
	for time.Now().Before(deadline) {
		if f.query(t, "SELECT count(*) FROM alerts WHERE status = 'dispatched'") == "1" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the alert was not dispatched after its notification")
}
