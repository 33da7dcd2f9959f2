package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/parry-soar/parry/activities"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/quota"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/workflows"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestNew(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deps := activities.Deps{Secrets: secret.Static{}, Store: &store.Store{}}
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Activities: deps}, "building the worker: no task queue (temporal.task_queue)"},
		{Options{TaskQueue: "q", Activities: deps, Worker: config.WorkerConfig{MaxConcurrentWorkflows: 1}},
			"building the worker: worker.max_concurrent_workflows must be at least 2"},
		{Options{TaskQueue: "q", Activities: deps, Worker: config.WorkerConfig{MaxConcurrentActivities: -1}},
			"building the worker: worker.max_concurrent_activities and worker.max_concurrent_workflows cannot be negative"},
		{Options{TaskQueue: "q"}, "building the worker: creating activities: no secret provider"},
		{Options{TaskQueue: "q", Activities: deps, Extra: []func(Registry) error{func(Registry) error { return fmt.Errorf("poller: no store") }}},
			"building the worker: poller: no store"},
		{Options{TaskQueue: "q", Activities: deps, Worker: config.WorkerConfig{MaxConcurrentActivities: 3, MaxConcurrentWorkflows: 4}}, ""},
	}
	for _, tt := range tests {
		w, err := New(c, tt.opts)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want || (err == nil) != (w != nil) {
			t.Errorf("New(%+v) = %v, %q; want %q", tt.opts.Worker, w, got, tt.want)
		}
	}
	if _, err := New(nil, Options{TaskQueue: "q", Activities: deps}); err == nil {
		t.Error("New without a client succeeded")
	}
	o := WorkerOptions(config.WorkerConfig{MaxConcurrentActivities: 7, MaxConcurrentWorkflows: 9})
	if o.MaxConcurrentActivityExecutionSize != 7 || o.MaxConcurrentWorkflowTaskExecutionSize != 9 || o.WorkerStopTimeout != stopTimeout {
		t.Errorf("worker options %+v", o)
	}
}

// TestPhishingContainment runs the shipped playbook through the interpreter with the real activities, on
// Temporal's test environment, against the simulator and a real database.
func TestPhishingContainment(t *testing.T) {
	sim, err := cecpsim.New(cecpsim.Options{Seed: 3, Mailboxes: 6, MailsPerMailbox: 3, RateLimit: cecpsim.NoRateLimit,
		ActionDelay: -1, Tokens: []string{"tok-phish-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	boxes := sim.Tenants()[0].Mailboxes
	var seed []cecpsim.NewMail
	for i := range 5 {
		seed = append(seed, cecpsim.NewMail{Mailbox: boxes[i], MailMessageSender: "ceo@evil.example", MailMessageSubject: "Wire transfer",
			MailURLs: []string{"https://evil.example/wire"}, MailMessageDeliveryTime: time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)})
	}
	if _, err := sim.AddMails("", seed); err != nil {
		t.Fatal(err)
	}
	st := storetest.NewStore(t)
	cfg := config.Config{}
	cfg.CECP.Connections = []config.CECPConnection{{Name: "sim", BaseURL: srv.URL, TokenSecret: "cecp-token", BatchSize: 2}}
	deps := activities.Deps{Config: cfg, Store: st, Artifacts: artifact.New(filepath.Join(t.TempDir(), "artifacts"), st),
		Secrets: secret.Static{"cecp-token": "tok-phish-0123456789", "quarantine-zip": "zip-phish-987654"},
		Logger:  slog.New(slog.DiscardHandler), PollInterval: 10 * time.Millisecond}

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	// The machine running the tests may be busy; deadlock detection is not what this test is about.
	env.SetWorkerOptions(sdkworker.Options{DeadlockDetectionTimeout: time.Minute})
	if err := Register(env, deps); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../playbooks/phishing-containment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, diags := playbook.Load("phishing-containment.yaml", src)
	if p == nil {
		t.Fatalf("the shipped playbook does not compile: %v", diags)
	}
	encoded, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	env.ExecuteWorkflow(workflows.PlaybookWorkflow, workflows.Input{RunID: "run-phish", Plan: encoded,
		Playbook: workflows.PlaybookRef{Name: "phishing-containment", SHA256: "test"},
		Inputs:   map[string]any{"sender": "ceo@evil.example", "lookback": 2}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("run failed: %v", err)
	}
	var res workflows.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Output["mails_found"] != 5.0 || res.Output["quarantined"] != 5.0 {
		t.Errorf("run output %v", res.Output)
	}
	sample := res.Steps["sample"]
	out, _ := sample.Output.(map[string]any)
	if sample.Status != workflows.StatusSucceeded || out["subject"] != "Wire transfer" || !artifact.ValidID(fmt.Sprint(out["artifact_id"])) {
		t.Errorf("sample step %+v", sample)
	}
	st2, _ := sim.State("")
	quarantined := 0
	for _, m := range st2.Mails {
		if m.State == cecpsim.StateQuarantined {
			quarantined++
		}
	}
	if quarantined < 5 {
		t.Errorf("%d mails quarantined, want at least the campaign's 5", quarantined)
	}
	if !strings.Contains(strings.Join(st2.Blocklist.Senders, ","), "ceo@evil.example") {
		t.Errorf("sender not blocked: %v", st2.Blocklist.Senders)
	}
	counts := map[string]int{}
	for _, a := range sim.Applied() {
		counts[a.MailUniqueID]++
	}
	if len(counts) != 5 {
		t.Errorf("%d mails mitigated, want the campaign's 5", len(counts))
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("mail %s mitigated %d times", id, n)
		}
	}
	hist, _ := json.Marshal(res)
	if strings.Contains(string(hist), "zip-phish-987654") || strings.Contains(string(hist), "tok-phish-0123456789") {
		t.Error("a secret is in the run's result")
	}
	rows, err := st.ListAudit(t.Context(), store.AuditQuery{RunID: "run-phish"})
	if err != nil || len(rows) != 4 { // three quarantine batches of 2, 2, 1 and one blocklist update
		t.Errorf("audit rows %d, %v", len(rows), err)
	}
}

// fakeSDK stands in for the SDK worker in Serve's tests.
type fakeSDK struct {
	sdkworker.Worker
	events   []string
	startErr error
}

func (f *fakeSDK) Start() error { f.events = append(f.events, "start"); return f.startErr }
func (f *fakeSDK) Stop()        { f.events = append(f.events, "stop") }

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeSDK{}
	if err := (&Worker{Worker: f, fatal: make(chan error, 1)}).Serve(ctx); err != nil || strings.Join(f.events, ",") != "start,stop" {
		t.Errorf("Serve until cancelled: %v, %v", err, f.events)
	}

	f = &fakeSDK{}
	w := &Worker{Worker: f, fatal: make(chan error, 1)}
	w.fatal <- errors.New("namespace parry is not found")
	if err := w.Serve(context.Background()); err == nil || err.Error() != "the worker stopped: namespace parry is not found" ||
		strings.Join(f.events, ",") != "start,stop" {
		t.Errorf("Serve after a fatal error: %v, %v", err, f.events)
	}

	f = &fakeSDK{startErr: errors.New("no activities")}
	if err := (&Worker{Worker: f, fatal: make(chan error, 1)}).Serve(context.Background()); err == nil ||
		err.Error() != "starting the worker: no activities" || strings.Join(f.events, ",") != "start" {
		t.Errorf("Serve with a failed start: %v, %v", err, f.events)
	}
}

func TestFromConfig(t *testing.T) {
	st := storetest.NewStore(t)
	cfg := config.Default(t.TempDir())
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.CECP.Connections = []config.CECPConnection{{Name: "prod", Region: "eu", TokenSecret: "t", RateLimit: "2/1h"}}
	opts, err := FromConfig(cfg, st, secret.Static{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if opts.TaskQueue != "parry" || opts.Worker != cfg.Worker || opts.Activities.Artifacts.Dir != ArtifactDir(cfg.DataDir) {
		t.Errorf("options %+v", opts)
	}
	if fi, err := os.Stat(ArtifactDir(cfg.DataDir)); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("artifact dir: %v, %v", fi, err)
	}
	// The limiter is the cluster-wide one with the connection's own limit.
	lim, ok := opts.Activities.Limiter.(*quota.Shared)
	if !ok || lim.Limit("prod").Requests != 2 || lim.Limit("prod").Window != time.Hour {
		t.Errorf("limiter %T %+v", opts.Activities.Limiter, opts.Activities.Limiter)
	}

	cfg.CECP.Connections[0].RateLimit = "lots"
	if _, err := FromConfig(cfg, st, secret.Static{}, nil); err == nil || !strings.HasPrefix(err.Error(), `building the worker: reading quota of connection "prod"`) {
		t.Errorf("bad rate limit: %v", err)
	}
}
