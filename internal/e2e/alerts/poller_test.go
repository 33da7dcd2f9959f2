package alerts_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/activities/poller"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/pollers"
	"github.com/parry-soar/parry/internal/quota"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/workflows"
)

// vendorEvents returns the ids the simulator has for the poller's streams with times after since, as the
// poller names them (log_item_id, or quarantine:<mail_log_id>).
func vendorEvents(t *testing.T, url string, streams []workflows.PollStream, since time.Time) map[string]bool {
	t.Helper()
	c, err := cecp.New(cecp.Options{BaseURL: url, Token: cecp.StaticToken(cecpsim.DefaultToken)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out := map[string]bool{}
	for _, s := range streams {
		if s.Event == workflows.QuarantineEvent {
			start := later(since, time.Now().Add(-cecp.QuarantineEventsReach+time.Minute))
			evs, err := c.QuarantineEventPages(cecp.QuarantineEventsQuery{Start: start, End: time.Now(), MaxResults: 1e6}).Collect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				out["quarantine:"+ev.Message.MailLogID] = true
			}
			continue
		}
		start := later(since, time.Now().Add(-cecp.SecurityEventsReach+time.Minute))
		evs, err := c.SecurityEventPages(cecp.SecurityEventsQuery{Service: s.Service, Event: s.Event, Start: start, End: time.Now(), MaxResults: 1e6}).Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			out[ev.LogItemID] = true
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (e *env) cecpAlerts(t *testing.T) map[string]int {
	t.Helper()
	rows, err := e.st.Pool.Query(context.Background(), "SELECT source_id, count(*) FROM alerts WHERE source = 'cecp' GROUP BY source_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		out[id] = n
	}
	return out
}

// TestPollerAgainstSimulator: the poller turns each vendor event into exactly one alert across worker restarts,
// a restart of the workflow itself, continue-as-new and a 429 storm.
func TestPollerAgainstSimulator(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	sim, err := cecpsim.New(cecpsim.Options{Seed: 11, Mailboxes: 60, RateLimit: cecpsim.NoRateLimit})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	cfg := config.Config{
		Temporal: config.TemporalConfig{TaskQueue: taskQueue},
		CECP: config.CECPConfig{Connections: []config.CECPConnection{{Name: "sim", BaseURL: srv.URL, TokenSecret: "tok",
			Poll: config.CECPPoll{Enabled: true, Services: []string{"exchange", "gmail"}, FirstFetch: 6 * 24 * time.Hour}}}},
	}
	limiter, err := quota.NewMemory(quota.Options{Default: quota.Limit{Requests: 1000, Window: time.Second, Reserve: 1}})
	if err != nil {
		t.Fatal(err)
	}
	acts := &poller.Activities{Store: e.st, Client: poller.Clients(cfg, secret.Static{"tok": cecpsim.DefaultToken}, limiter), PageSize: 50, PagesPerCall: 2}
	startWorker := func() worker.Worker {
		w := worker.New(e.direct, taskQueue, worker.Options{})
		w.RegisterWorkflowWithOptions(workflows.CECPPoller, workflow.RegisterOptions{Name: workflows.PollerWorkflow})
		poller.Register(w, acts)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	in, err := pollers.Input(cfg.CECP.Connections[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Streams) != 9 {
		t.Fatalf("streams %+v", in.Streams)
	}
	// Fast rounds, and continue-as-new every other round.
	in.Interval, in.Rounds = 300*time.Millisecond, 2
	startPoller := func() string {
		run, err := e.direct.SignalWithStartWorkflow(ctx, pollers.WorkflowID("sim"), workflows.SignalPollerConfig, in,
			client.StartWorkflowOptions{ID: pollers.WorkflowID("sim"), TaskQueue: taskQueue}, workflows.PollerWorkflow, in)
		if err != nil {
			t.Fatal(err)
		}
		return run.GetRunID()
	}
	testStart := time.Now()
	w := startWorker()
	firstRun := startPoller()

	// The first rounds read everything the vendor keeps.
	waitFor(t, 2*time.Minute, "the backlog polled", func() bool {
		want := vendorEvents(t, srv.URL, in.Streams, testStart.Add(-cecp.SecurityEventsReach+10*time.Minute))
		got := e.cecpAlerts(t)
		for id := range want {
			if got[id] == 0 {
				return false
			}
		}
		return len(want) > 0
	})
	all := vendorEvents(t, srv.URL, in.Streams, time.Time{})
	for id, n := range e.cecpAlerts(t) {
		if n != 1 || !all[id] {
			t.Fatalf("alert %s stored %d times (vendor has it: %v)", id, n, all[id])
		}
	}
	backlog := len(e.cecpAlerts(t))
	t.Logf("backlog: %d alerts", backlog)

	// Worker down while new events arrive, then a 429 storm as it comes back.
	w.Stop()
	var mails []cecpsim.NewMail
	for i := range 5 {
		mails = append(mails, cecpsim.NewMail{Mailbox: fmt.Sprintf("victim%d@corp.example", i), MailMessageSender: "boss@evil.test",
			MailMessageSubject: "urgent wire", State: cecpsim.StateQuarantined})
	}
	if _, err := sim.AddMails("", mails); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetFaults(cecpsim.Faults{Storm429: cecpsim.Duration(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	w = startWorker()
	defer func() { w.Stop() }()
	waitFor(t, 2*time.Minute, "the new events polled after the storm", func() bool {
		return len(e.cecpAlerts(t)) >= backlog+10
	})
	if len(sim.Requests()) == 0 {
		t.Fatal("no vendor requests recorded")
	}

	// Restart the workflow itself: the cursor is in PostgreSQL, so nothing is read twice into alerts.
	if err := e.direct.TerminateWorkflow(ctx, pollers.WorkflowID("sim"), "", "e2e restart"); err != nil {
		t.Fatal(err)
	}
	restarted := startPoller()
	// The restarted run continues as new after two whole rounds: every stream has been read again from its
	// cursor by then, so a double read would be stored (no sleep: the condition says when).
	waitFor(t, time.Minute, "continue-as-new", func() bool {
		desc, err := e.direct.DescribeWorkflowExecution(ctx, pollers.WorkflowID("sim"), "")
		if err != nil {
			t.Fatal(err)
		}
		runID := desc.WorkflowExecutionInfo.Execution.RunId
		return runID != firstRun && runID != restarted
	})
	final := e.cecpAlerts(t)
	all = vendorEvents(t, srv.URL, in.Streams, time.Time{})
	if len(final) != backlog+10 {
		t.Fatalf("%d alerts after the restart and two rounds, want %d", len(final), backlog+10)
	}
	for id, n := range final {
		if n != 1 || !all[id] {
			t.Fatalf("alert %s stored %d times (vendor has it: %v)", id, n, all[id])
		}
	}
	// A configuration without streams stops it.
	if err := e.direct.SignalWorkflow(ctx, pollers.WorkflowID("sim"), "", workflows.SignalPollerConfig, workflows.PollerInput{Connection: "sim"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the poller stopped", func() bool {
		d, err := e.direct.DescribeWorkflowExecution(ctx, pollers.WorkflowID("sim"), "")
		return err == nil && d.WorkflowExecutionInfo.Status.String() == "Completed"
	})
}
