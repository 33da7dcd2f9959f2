package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

const fiveActions = `name: five-actions
steps:
  - id: a1
    action: cecp.blocklist
  - id: a2
    action: cecp.blocklist
  - id: a3
    action: cecp.blocklist
  - id: a4
    action: cecp.blocklist
  - id: a5
    action: cecp.blocklist
`

// handWritten is what a Go developer would write for the same five steps.
func handWritten(ctx workflow.Context) error {
	for _, id := range []string{"a1", "a2", "a3", "a4", "a5"} {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{ActivityID: id, StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
		var res wire.ActionResult
		if err := workflow.ExecuteActivity(actx, "cecp.blocklist", wire.ActionInput{Step: id}).Get(ctx, &res); err != nil {
			return err
		}
	}
	return nil
}

func noop(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	return wire.ActionResult{Output: json.RawMessage(`{"rules":{"senders":[],"urls":[],"filehashes":[],"file256hashes":[]}}`), Attempt: 1}, nil
}

func historyLen(b *testing.B, c client.Client, id, runID string) int {
	it := c.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}

// BenchmarkInterpreterOverhead runs the same five activities through a hand-written Go workflow and through a
// playbook, alternately, on one embedded server, and reports the wall-time ratio (target ≤ 1.10) and the
// history-event ratio (target 1.00: the interpreter adds no events).
func BenchmarkInterpreterOverhead(b *testing.B) {
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{Logger: quiet}))
	defer ts.Stop()
	c := ts.GetDefaultClient()
	ts.NewWorker("bench", func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
		r.RegisterWorkflowWithOptions(handWritten, workflow.RegisterOptions{Name: "HandWritten"})
		r.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: "cecp.blocklist"})
	})
	p := mustPlan(b, fiveActions)
	raw, _ := plan.Encode(p)
	ctx := context.Background()
	runOne := func(kind string, i int) (time.Duration, int) {
		id := kind + "-" + time.Now().Format("150405.000000000")
		start := time.Now()
		var run client.WorkflowRun
		var err error
		if kind == "hand" {
			run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench"}, "HandWritten")
		} else {
			run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench"}, workflows.PlaybookWorkflow,
				workflows.Input{RunID: id, Plan: raw, Playbook: workflows.PlaybookRef{Name: p.Name, SHA256: p.SHA256}})
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := run.Get(ctx, nil); err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if i == 0 {
			return d, historyLen(b, c, id, run.GetRunID())
		}
		return d, 0
	}
	// Warm both paths up (connections, caches) before measuring.
	runOne("hand", 1)
	runOne("playbook", 1)
	var hand, book time.Duration
	var handEvents, bookEvents int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, n := runOne("hand", i)
		hand += d
		if i == 0 {
			handEvents = n
		}
		d, n = runOne("playbook", i)
		book += d
		if i == 0 {
			bookEvents = n
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(hand.Microseconds())/float64(b.N)/1000, "hand_ms/run")
	b.ReportMetric(float64(book.Microseconds())/float64(b.N)/1000, "playbook_ms/run")
	b.ReportMetric(float64(book)/float64(hand), "wall_ratio")
	b.ReportMetric(float64(bookEvents)/float64(handEvents), "history_event_ratio")
	b.ReportMetric(float64(bookEvents), "events/run")
}

// BenchmarkPhishingRuns runs 100 phishing-containment runs at once against the simulator with its limits off,
// with the real activities, and reports runs per second and the interpreter's per-step overhead (from an
// activity's completion to the next activity's scheduling, read from the histories) at p50 and p99.
func BenchmarkPhishingRuns(b *testing.B) {
	t := b
	rs := newRealStack(t, cecpsim.Options{RateLimit: cecpsim.NoRateLimit, ActionDelay: -1})
	for i := range rs.cfg.CECP.Connections {
		rs.cfg.CECP.Connections[i].RateLimit = "1000000/1s" // the simulator's limits are off; so are parry's
	}
	rs.configureWorker(t)
	rs.wopts.Activities.PollInterval = 20 * time.Millisecond
	stop := rs.startWorker(t)
	defer stop()
	c := rs.campaign(t, "phishing")
	p := mustPlan(t, readFile(t, "../../playbooks/phishing-containment.yaml"))
	const n = 100
	ctx := context.Background()
	var gaps []time.Duration
	var total time.Duration
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
		ids := make([]string, n)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			ids[i] = runs.NewRunID(time.Now())
			if _, _, err := rs.svc.Starter.Record(ctx, rs.st, runs.Request{RunID: ids[i], Plan: p,
				Inputs: map[string]any{"sender": c.Sender, "subject": c.Subject}}, 0); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				r, err := rs.st.GetRun(ctx, id)
				if err == nil {
					err = rs.svc.Starter.Start(ctx, r)
				}
				if err == nil {
					err = rs.tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
				}
				if err != nil {
					errs <- err
				}
			}(ids[i])
		}
		wg.Wait()
		total += time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		for _, id := range ids {
			gaps = append(gaps, stepGaps(b, rs.tc, id)...)
		}
	}
	b.StopTimer()
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	pct := func(q float64) float64 {
		if len(gaps) == 0 {
			return 0
		}
		return float64(gaps[int(q*float64(len(gaps)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "runs/s")
	b.ReportMetric(pct(0.50), "p50_step_overhead_ms")
	b.ReportMetric(pct(0.99), "p99_step_overhead_ms")
}

// stepGaps returns, for one run, the time from each activity's completion to the scheduling of the next.
func stepGaps(b *testing.B, c client.Client, id string) []time.Duration {
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, ev)
	}
	var out []time.Duration
	var lastDone time.Time
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			lastDone = ev.GetEventTime().AsTime()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if !lastDone.IsZero() {
				out = append(out, ev.GetEventTime().AsTime().Sub(lastDone))
				lastDone = time.Time{}
			}
		}
	}
	return out
}
