package runs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/memstore"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

const five = `name: five
steps:
  - id: s1
    action: cecp.sweep
    with: { sender: a@evil.test }
  - id: s2
    action: cecp.block
    with: { senders: [a@evil.test] }
  - id: s3
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.s1.output.mails }}" }
  - id: s4
    action: cecp.block
    with: { urls: [evil.test/x] }
`

func compile(t *testing.T, src string) *plan.Plan {
	t.Helper()
	p, diags := playbook.Load("t.yaml", []byte(src))
	if p == nil {
		t.Fatalf("does not compile: %v", diags)
	}
	return p
}

func failedRun(t *testing.T, src string, records map[string]workflows.StepRecord) store.Run {
	t.Helper()
	raw, _ := plan.Encode(compile(t, src))
	steps, _ := json.Marshal(records)
	return store.Run{ID: "r1", Plan: raw, Steps: steps, Status: store.RunFailed, FailedStep: "s3"}
}

func TestReusable(t *testing.T) {
	ok := workflows.StepRecord{Status: workflows.StatusSucceeded, Output: map[string]any{"mails": []any{}}}
	records := map[string]workflows.StepRecord{"s1": ok, "s2": ok, "s3": {Status: workflows.StatusFailed, Error: &workflows.StepError{Type: "VendorAuth"}}}
	old := failedRun(t, five, records)
	for _, tc := range []struct {
		name, src, from string
		reused          string
		err             string
	}{
		{"same plan, first failed step", five, "", "s1,s2", ""},
		{"from s2", five, "s2", "s1", ""},
		{"from s1", five, "s1", "", ""},
		{"edited after the failure", strings.Replace(five, "urls: [evil.test/x]", "urls: [evil.test/y]", 1), "s3", "s1,s2", ""},
		{"reused step changed", strings.Replace(five, "senders: [a@evil.test]", "senders: [b@evil.test]", 1), "s3", "",
			"cannot reuse step s2: its inputs (with) changed, so its recorded output no longer applies; retry from s2 or an earlier step"},
		{"reused step's action changed", strings.Replace(five, "action: cecp.block\n    with: { senders", "action: cecp.unblock\n    with: { senders", 1), "s3", "",
			"cannot reuse step s2: its action changed, so its recorded output no longer applies; retry from s2 or an earlier step"},
		{"completed step removed", strings.Replace(five, "  - id: s2\n    action: cecp.block\n    with: { senders: [a@evil.test] }\n", "", 1), "s3", "",
			"the new plan no longer has step s2, which the failed run completed; its effects would be lost or repeated"},
		{"unknown from", five, "s9", "", `step "s9" is not in the plan of five`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reuse, err := Reusable(old, compile(t, tc.src), tc.from)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, id := range []string{"s1", "s2", "s3", "s4"} {
				if _, ok := reuse[id]; ok {
					ids = append(ids, id)
				}
			}
			if strings.Join(ids, ",") != tc.reused {
				t.Fatalf("reused %v, want %s", ids, tc.reused)
			}
		})
	}
	if _, err := Reusable(store.Run{ID: "r2", Plan: old.Plan}, compile(t, five), "s3"); err == nil || err.Error() != "run r2 has no step records yet (is it finished?)" {
		t.Fatalf("no records: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("x", 350)
	list := make([]any, 12)
	for i := range list {
		list[i] = i
	}
	got, _ := json.Marshal(Truncate(map[string]any{"s": long, "l": list, "n": 3}))
	want := `{"l":[0,1,2,3,4,5,6,7,8,9,"…(2 more items)"],"n":3,"s":"` + strings.Repeat("x", 300) + `…(50 more bytes)"}`
	if string(got) != want {
		t.Fatalf("got %s", got)
	}
}

func TestWaitingSummary(t *testing.T) {
	for _, tc := range []struct {
		waits        []WaitView
		status, text string
	}{
		{nil, store.RunRunning, ""},
		{[]WaitView{{Step: "approve", Kind: "approval"}}, store.RunWaiting, "approval of approve"},
		{[]WaitView{{Step: "pause", Kind: "timer", Until: time.Now()}, {Step: "child", Kind: "call"}}, store.RunWaiting, "timer in pause, called playbook in child"},
		{[]WaitView{{Step: "approve", Kind: "approval"}, {Step: "sweep", Kind: "vendor quota"}}, store.RunRunning, "approval of approve, vendor quota for sweep"},
		{[]WaitView{{Step: "block", Kind: "retry back-off"}}, store.RunRunning, "retry of block"},
	} {
		status, text := waitingSummary(tc.waits)
		if status != tc.status || text != tc.text {
			t.Errorf("%v: got %s %q", tc.waits, status, text)
		}
	}
}

func TestFirstFailed(t *testing.T) {
	p := compile(t, five)
	recs := map[string]workflows.StepRecord{"s1": {Status: workflows.StatusSucceeded}, "s3": {Status: workflows.StatusFailed}, "s4": {Status: workflows.StatusFailed}}
	if got := FirstFailed(p, recs, "x"); got != "s3" {
		t.Fatalf("got %s", got)
	}
	if got := FirstFailed(p, map[string]workflows.StepRecord{}, "fallback"); got != "fallback" {
		t.Fatalf("got %s", got)
	}
}

func TestBatchProgress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    mitigation.Progress
		want string
	}{
		{mitigation.Progress{Total: 1, Queued: 1, BatchFill: 3, BatchSize: 10, FlushIn: 1400 * time.Millisecond, Flusher: true},
			"waiting for batch (3 of 10, flushes in 1.4s)"},
		{mitigation.Progress{Total: 7, Queued: 2, Out: 5}, "2 of 7 waiting for a batch; 5 posted, waiting for the vendor's outcome"},
		{mitigation.Progress{Total: 7, Out: 3, Done: 4, LastError: "GET /v1/mitigation/mails: HTTP 503"},
			"3 posted, waiting for the vendor's outcome; 4 of 7 done; vendor failing: GET /v1/mitigation/mails: HTTP 503"},
	}
	for _, tt := range tests {
		payloads, err := converter.GetDefaultDataConverter().ToPayloads(tt.p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := batchProgress(payloadcrypt.Plain(), payloads)
		if !ok || got != tt.want {
			t.Errorf("batchProgress(%+v) = %q, %v; want %q", tt.p, got, ok, tt.want)
		}
	}
	if _, ok := batchProgress(payloadcrypt.Plain(), nil); ok {
		t.Error("no details read as progress")
	}
	if status, detail := waitingSummary([]WaitView{{Step: "quarantine", Kind: "batch", Detail: "waiting for batch (3 of 10)"}}); status != store.RunRunning || detail != "quarantine: waiting for batch (3 of 10)" {
		t.Errorf("summary %s %q", status, detail)
	}
}

// liveFake answers liveState's two calls: the workflow's status query and its pending activities.
type liveFake struct {
	pending []*workflowpb.PendingActivityInfo
}

func (f liveFake) QueryWorkflow(context.Context, string, string, string, ...interface{}) (converter.EncodedValue, error) {
	p, err := converter.GetDefaultDataConverter().ToPayloads(workflows.Status{})
	if err != nil {
		return nil, err
	}
	return encodedValue{p}, nil
}

func (f liveFake) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{PendingActivities: f.pending}, nil
}

type encodedValue struct{ p *commonpb.Payloads }

func (v encodedValue) HasValue() bool { return v.p != nil }
func (v encodedValue) Get(ptr interface{}) error {
	return converter.GetDefaultDataConverter().FromPayloads(v.p, ptr)
}

// TestQuotaWaitInsideAnAttempt: an action that sleeps for a slot of the quota heartbeats a wire.QuotaWait
// after its progress; the run's view says the step waits for the vendor quota until then, and not once the
// time has passed. A mitigation's progress with no quota wait stays a batch wait.
func TestQuotaWaitInsideAnAttempt(t *testing.T) {
	t.Parallel()
	dc := converter.GetDefaultDataConverter()
	until := time.Now().Add(40 * time.Second).UTC()
	details := func(vals ...any) *commonpb.Payloads {
		p, err := dc.ToPayloads(vals...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	act := func(step string, d *commonpb.Payloads) *workflowpb.PendingActivityInfo {
		return &workflowpb.PendingActivityInfo{ActivityId: step, ActivityType: &commonpb.ActivityType{Name: "cecp.sweep"}, Attempt: 1, HeartbeatDetails: d}
	}
	_, waits, err := liveState(context.Background(), liveFake{pending: []*workflowpb.PendingActivityInfo{
		act("sweep", details(nil, wire.QuotaWait{Connection: "tenant-a", Until: until})),
		act("stale", details(nil, wire.QuotaWait{Connection: "tenant-a", Until: until.Add(-time.Hour)})),
		act("quarantine", details(mitigation.Progress{Total: 1, Queued: 1})),
		act("busy", nil),
	}}, payloadcrypt.Plain(), nil, "run")
	if err != nil {
		t.Fatal(err)
	}
	want := []WaitView{
		{Step: "quarantine", Kind: "batch", Detail: "1 of 1 waiting for a batch"},
		{Step: "sweep", Kind: "vendor quota", Until: until, Detail: "cecp.sweep attempt 1 waits for a slot of connection tenant-a's quota"},
	}
	if len(waits) != len(want) {
		t.Fatalf("waits %+v, want %+v", waits, want)
	}
	for i := range want {
		if waits[i].Step != want[i].Step || waits[i].Kind != want[i].Kind || waits[i].Detail != want[i].Detail || !waits[i].Until.Equal(want[i].Until) {
			t.Errorf("wait %d: %+v, want %+v", i, waits[i], want[i])
		}
	}
	if _, ok := quotaProgress(payloadcrypt.Plain(), details(mitigation.Progress{Total: 1})); ok {
		t.Error("a lone progress read as a quota wait")
	}
}

// TestBatchWaitFromTheQueue: a mitigation step's batch is read from the queue, as the connection's flusher (in
// any process) last recorded it, ahead of any heartbeat; posted items say they wait for the vendor.
func TestBatchWaitFromTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := memstore.New()
	if _, err := ms.EnqueueMitigation(ctx, store.MitigationRequest{RunID: "run", Step: "quarantine", Connection: "tenant-a", Kind: "mails",
		ActionType: "MAIL_QUARANTINE", Items: []store.NewMitigationItem{{Key: "a", Payload: []byte(`{}`)}, {Key: "b", Payload: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Hour)
	if err := ms.SetFlusherState(ctx, "tenant-a", "mails", store.FlusherState{Fill: 3, BatchSize: 10, FlushAt: &at}); err != nil {
		t.Fatal(err)
	}
	act := &workflowpb.PendingActivityInfo{ActivityId: "quarantine", ActivityType: &commonpb.ActivityType{Name: "cecp.mitigate_mails"}, Attempt: 1}
	_, waits, err := liveState(ctx, liveFake{pending: []*workflowpb.PendingActivityInfo{act}}, payloadcrypt.Plain(), ms, "run")
	if err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0].Kind != "batch" || !strings.HasPrefix(waits[0].Detail, "waiting for batch (3 of 10, flushes in ") || !strings.HasSuffix(waits[0].Detail, ")") {
		t.Fatalf("waits %+v", waits)
	}
	// The vendor failing while the batch waits: the flusher's error is shown with it.
	if err := ms.SetFlusherState(ctx, "tenant-a", "mails", store.FlusherState{LastError: "cecp: 503 busy"}); err != nil {
		t.Fatal(err)
	}
	_, waits, _ = liveState(ctx, liveFake{pending: []*workflowpb.PendingActivityInfo{act}}, payloadcrypt.Plain(), ms, "run")
	if len(waits) != 1 || waits[0].Detail != "2 of 2 waiting for a batch; vendor failing: cecp: 503 busy" {
		t.Fatalf("waits %+v", waits)
	}
	// Another step of the run queued nothing: it is an activity running, not a wait.
	other := &workflowpb.PendingActivityInfo{ActivityId: "other", ActivityType: &commonpb.ActivityType{Name: "cecp.mitigate_mails"}, Attempt: 1}
	if _, waits, _ = liveState(ctx, liveFake{pending: []*workflowpb.PendingActivityInfo{other}}, payloadcrypt.Plain(), ms, "run"); len(waits) != 0 {
		t.Fatalf("waits %+v", waits)
	}
}

// A retry back-off after a failure that carries no application type (a heartbeat timeout, a cancellation, a
// worker's panic) names a type anyway: no message has an empty part ("failed: : activity Heartbeat timeout").
func TestRetryBackOffAfterAFailureWithoutAType(t *testing.T) {
	t.Parallel()
	fail := func(f *failurepb.Failure) *workflowpb.PendingActivityInfo {
		return &workflowpb.PendingActivityInfo{ActivityId: "quarantine", ActivityType: &commonpb.ActivityType{Name: "cecp.mitigate_mails"}, Attempt: 3, LastFailure: f}
	}
	cases := []struct {
		failure *failurepb.Failure
		want    string
	}{
		{&failurepb.Failure{Message: "activity Heartbeat timeout", FailureInfo: &failurepb.Failure_TimeoutFailureInfo{TimeoutFailureInfo: &failurepb.TimeoutFailureInfo{}}},
			"attempt 2 of cecp.mitigate_mails failed: Timeout: activity Heartbeat timeout"},
		{&failurepb.Failure{Message: "canceled", FailureInfo: &failurepb.Failure_CanceledFailureInfo{CanceledFailureInfo: &failurepb.CanceledFailureInfo{}}},
			"attempt 2 of cecp.mitigate_mails failed: Cancelled: canceled"},
		{&failurepb.Failure{Message: "panic: boom", FailureInfo: &failurepb.Failure_ApplicationFailureInfo{ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{}}},
			"attempt 2 of cecp.mitigate_mails failed: InternalError: panic: boom"},
		{&failurepb.Failure{Message: "HTTP 503", FailureInfo: &failurepb.Failure_ApplicationFailureInfo{ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{Type: wire.VendorUnavailable}}},
			"attempt 2 of cecp.mitigate_mails failed: " + wire.VendorUnavailable + ": HTTP 503"},
	}
	for _, c := range cases {
		_, waits, err := liveState(context.Background(), liveFake{pending: []*workflowpb.PendingActivityInfo{fail(c.failure)}}, payloadcrypt.Plain(), nil, "run")
		if err != nil {
			t.Fatal(err)
		}
		if len(waits) != 1 || waits[0].Kind != "retry back-off" || waits[0].Detail != c.want {
			t.Errorf("waits %+v, want one retry back-off %q", waits, c.want)
		}
	}
}
