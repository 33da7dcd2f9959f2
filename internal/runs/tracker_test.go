package runs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/memstore"
	"github.com/parry-soar/parry/workflows"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeExec is one workflow execution the fake Temporal knows.
type fakeExec struct {
	id, runID string
	status    enumspb.WorkflowExecutionStatus
	start     time.Time
	close     time.Time
	result    any   // a completed run's result
	err       error // a failed run's error
	state     workflows.Status
}

// fakeTemporal answers the tracker's calls from a table of executions and counts them.
type fakeTemporal struct {
	mu    sync.Mutex
	execs map[string][]*fakeExec // by workflow id, oldest run first
	calls map[string]int
}

func newFakeTemporal() *fakeTemporal {
	return &fakeTemporal{execs: map[string][]*fakeExec{}, calls: map[string]int{}}
}

func (f *fakeTemporal) add(e *fakeExec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs[e.id] = append(f.execs[e.id], e)
}

func (f *fakeTemporal) current(id string) *fakeExec {
	f.mu.Lock()
	defer f.mu.Unlock()
	es := f.execs[id]
	if len(es) == 0 {
		return nil
	}
	return es[len(es)-1]
}

func (f *fakeTemporal) count(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
}

var sinceRE = regexp.MustCompile(`StartTime >= '([^']+)' OR CloseTime >= '([^']+)'`)

func (f *fakeTemporal) ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.count("list")
	m := sinceRE.FindStringSubmatch(req.GetQuery())
	if m == nil {
		return nil, fmt.Errorf("unexpected query %q", req.GetQuery())
	}
	since, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, es := range f.execs {
		for _, e := range es {
			if !e.start.Before(since) || (!e.close.IsZero() && !e.close.Before(since)) {
				resp.Executions = append(resp.Executions, e.info())
			}
		}
	}
	return resp, nil
}

func (e *fakeExec) info() *workflowpb.WorkflowExecutionInfo {
	info := &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: e.id, RunId: e.runID},
		Status:    e.status, StartTime: timestamppb.New(e.start),
	}
	if !e.close.IsZero() {
		info.CloseTime = timestamppb.New(e.close)
	}
	return info
}

func (f *fakeTemporal) DescribeWorkflowExecution(ctx context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.count("describe")
	e := f.current(id)
	if e == nil {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: e.info()}, nil
}

func (f *fakeTemporal) QueryWorkflow(ctx context.Context, id, runID, queryType string, args ...interface{}) (converter.EncodedValue, error) {
	f.count("query")
	e := f.current(id)
	if e == nil {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(e.state)
	if err != nil {
		return nil, err
	}
	return encoded{p}, nil
}

type encoded struct{ p *commonpb.Payloads }

func (e encoded) HasValue() bool { return true }
func (e encoded) Get(v interface{}) error {
	return converter.GetDefaultDataConverter().FromPayloads(e.p, v)
}

func (f *fakeTemporal) GetWorkflow(ctx context.Context, id, runID string) client.WorkflowRun {
	f.count("result")
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.execs[id] {
		if e.runID == runID {
			return fakeRun{e}
		}
	}
	return fakeRun{&fakeExec{id: id, runID: runID, err: serviceerror.NewNotFound("no such run")}}
}

type fakeRun struct{ e *fakeExec }

func (r fakeRun) GetID() string    { return r.e.id }
func (r fakeRun) GetRunID() string { return r.e.runID }
func (r fakeRun) Get(ctx context.Context, v interface{}) error {
	if r.e.err != nil {
		return r.e.err
	}
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(r.e.result)
	return json.Unmarshal(b, v)
}
func (r fakeRun) GetWithOptions(ctx context.Context, v interface{}, _ client.WorkflowRunGetOptions) error {
	return r.Get(ctx, v)
}

type trackerFixture struct {
	st  *memstore.Store
	tc  *fakeTemporal
	clk *clock
	ctx context.Context
}

func newTrackerFixture() *trackerFixture {
	clk := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	st := memstore.New()
	st.Now = clk.now
	return &trackerFixture{st: st, tc: newFakeTemporal(), clk: clk, ctx: context.Background()}
}

func (f *trackerFixture) tracker(holder string, budget int) *runs.Tracker {
	return &runs.Tracker{Store: f.st, Temporal: f.tc, Holder: holder, RefreshBudget: budget, Now: f.clk.now}
}

// running records a run started now, running in Temporal.
func (f *trackerFixture) running(t testing.TB, id string) *fakeExec {
	t.Helper()
	if _, err := f.st.InsertRun(f.ctx, store.Run{ID: id, PlaybookName: "p", PlaybookSHA256: "s"}); err != nil {
		t.Fatal(err)
	}
	e := &fakeExec{id: id, runID: id + "-r1", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, start: f.clk.now()}
	f.tc.add(e)
	if err := f.st.MarkRunStarted(f.ctx, id, e.runID); err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *trackerFixture) finish(e *fakeExec, status enumspb.WorkflowExecutionStatus, result any, err error) {
	f.tc.mu.Lock()
	defer f.tc.mu.Unlock()
	e.status, e.close, e.result, e.err = status, f.clk.now(), result, err
}

func (f *trackerFixture) run(t testing.TB, id string) store.Run {
	t.Helper()
	r, err := f.st.GetRun(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTrackerOneLeader(t *testing.T) {
	t.Parallel()
	f := newTrackerFixture()
	a, b := f.tracker("a", 5), f.tracker("b", 5)
	if p, err := a.Pass(f.ctx); err != nil || !p.Leader {
		t.Fatalf("a: %+v %v", p, err)
	}
	if p, err := b.Pass(f.ctx); err != nil || p.Leader || p.Calls != 0 {
		t.Fatalf("b worked while a holds the lease: %+v %v", p, err)
	}
	// a keeps it by passing; once a stops renewing, b takes over after the lease runs out.
	f.clk.add(10 * time.Second)
	if p, _ := a.Pass(f.ctx); !p.Leader {
		t.Fatal("a lost the lease it renewed")
	}
	f.clk.add(runs.DefaultTrackerLease - time.Second)
	if p, _ := b.Pass(f.ctx); p.Leader {
		t.Fatal("b took a live lease")
	}
	f.clk.add(2 * time.Second)
	if p, _ := b.Pass(f.ctx); !p.Leader {
		t.Fatal("b did not take the expired lease")
	}
}

func TestTrackerRecordsOutcomesFromTheDelta(t *testing.T) {
	t.Parallel()
	f := newTrackerFixture()
	tr := f.tracker("a", 1)
	ok, failed, cancelled, terminated := f.running(t, "ok"), f.running(t, "failed"), f.running(t, "cancelled"), f.running(t, "terminated")
	for i := range 30 {
		f.running(t, fmt.Sprintf("busy-%02d", i))
	}
	if _, err := tr.Pass(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.clk.add(5 * time.Second)
	f.finish(ok, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.Result{Status: "resolved", Output: map[string]any{"n": 3},
		Steps: map[string]workflows.StepRecord{"s1": {Status: workflows.StatusSucceeded}}}, nil)
	f.finish(failed, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, nil, temporal.NewApplicationError("step s2 failed: VendorAuth: bad token",
		workflows.FailureType, workflows.Failure{Step: "s2", Type: "VendorAuth", Message: "bad token",
			Steps: map[string]workflows.StepRecord{"s2": {Status: workflows.StatusFailed}}}))
	f.finish(cancelled, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, nil, temporal.NewCanceledError())
	f.finish(terminated, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, nil, nil)
	p, err := tr.Pass(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.run(t, "ok"); got.Status != store.RunSucceeded || got.ResultStatus != "resolved" || string(got.Output) != `{"n":3}` || got.FinishedAt == nil {
		t.Errorf("ok: %+v", got)
	}
	if got := f.run(t, "failed"); got.Status != store.RunFailed || got.FailedStep != "s2" || got.Error != "step s2 failed: VendorAuth: bad token" {
		t.Errorf("failed: %+v", got)
	}
	if got := f.run(t, "cancelled"); got.Status != store.RunCancelled || got.Error != "cancelled" {
		t.Errorf("cancelled: %+v", got)
	}
	if got := f.run(t, "terminated"); got.Status != store.RunCancelled || got.Error != "terminated from outside parry" {
		t.Errorf("terminated: %+v", got)
	}
	// The pass cost the four closed runs (a describe and a result each, but the terminated run has no
	// result), the visibility query and the refresh budget: not the 30 runs still going.
	if want := 1 + 4 + 3 + 1*3; p.Calls != want || p.Recorded < 4 {
		t.Errorf("pass: %+v, want %d calls", p, want)
	}
	// A pass with nothing closed records nothing again.
	f.clk.add(5 * time.Second)
	if p, err := tr.Pass(f.ctx); err != nil || p.Recorded != 0 {
		t.Errorf("quiet pass: %+v %v", p, err)
	}
}

func TestTrackerRefreshesWaitsWithinItsBudget(t *testing.T) {
	t.Parallel()
	f := newTrackerFixture()
	const n, budget = 10, 4
	for i := range n {
		e := f.running(t, fmt.Sprintf("r%02d", i))
		e.state = workflows.Status{Waiting: []workflows.Wait{{Step: "approve", Kind: "approval"}}}
	}
	tr := f.tracker("a", budget)
	for pass := 1; pass <= 3; pass++ {
		f.clk.add(time.Second)
		p, err := tr.Pass(f.ctx)
		if err != nil || p.Refreshed != budget {
			t.Fatalf("pass %d: %+v %v", pass, p, err)
		}
	}
	// Three passes of 4 went round all 10 runs, the longest-unchecked first.
	for i := range n {
		if r := f.run(t, fmt.Sprintf("r%02d", i)); r.Status != store.RunWaiting || r.WaitingFor != "approval of approve" ||
			!strings.Contains(string(r.Waits), `"kind":"approval"`) {
			t.Errorf("r%02d: %s %q %s", i, r.Status, r.WaitingFor, r.Waits)
		}
	}
}

func TestTrackerFollowsAResetFromOutside(t *testing.T) {
	t.Parallel()
	f := newTrackerFixture()
	tr := f.tracker("a", 1)
	e := f.running(t, "reset-me")
	f.clk.add(time.Second)
	f.finish(e, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, nil, temporal.NewApplicationError("boom", "Other"))
	if _, err := tr.Pass(f.ctx); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, "reset-me"); r.Status != store.RunFailed {
		t.Fatalf("before the reset: %s", r.Status)
	}
	// Someone resets it in Temporal's UI: a new run of the same workflow id starts.
	f.clk.add(time.Second)
	f.tc.add(&fakeExec{id: "reset-me", runID: "reset-me-r2", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, start: f.clk.now()})
	if _, err := tr.Pass(f.ctx); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, "reset-me"); r.Status != store.RunRunning || r.WorkflowRunID != "reset-me-r2" || r.FinishedAt != nil {
		t.Fatalf("after the reset: %+v", r)
	}
}

// BenchmarkTrackerPass measures what one pass costs with a steady trickle of runs ending (10 per pass) while
// 100 to 10,000 runs are active: Temporal calls per pass stay flat (the delta and the refresh budget), so the
// cost per tracked run falls as the number of active runs grows.
func BenchmarkTrackerPass(b *testing.B) {
	for _, active := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("active=%d", active), func(b *testing.B) {
			f := newTrackerFixture()
			execs := make([]*fakeExec, 0, active)
			for i := range active {
				execs = append(execs, f.running(b, fmt.Sprintf("run-%05d", i)))
			}
			tr := f.tracker("a", runs.DefaultRefreshBudget)
			if _, err := tr.Pass(f.ctx); err != nil {
				b.Fatal(err)
			}
			next, calls := 0, 0
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				f.clk.add(2 * time.Second)
				for range 10 {
					e := execs[next%active]
					next++
					f.finish(e, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.Result{Status: "succeeded"}, nil)
					// Keep the number of active runs constant: a new one for each that ended.
					execs[(next-1)%active] = f.running(b, fmt.Sprintf("run-%05d-%d", (next-1)%active, next))
				}
				b.StartTimer()
				p, err := tr.Pass(f.ctx)
				if err != nil {
					b.Fatal(err)
				}
				calls += p.Calls
			}
			b.ReportMetric(float64(calls)/float64(b.N), "calls/pass")
			b.ReportMetric(float64(calls)/float64(b.N)/float64(active), "calls/run/pass")
		})
	}
}
