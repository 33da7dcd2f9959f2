package alerts_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

// BenchmarkAlertIntake compares alerts accepted per second through the API (POST /v1/alerts over HTTP,
// NDJSON batches of 100, answered 202 after commit) with the raw insert rate of the same PostgreSQL (the same
// rows in one multi-row INSERT per batch, no HTTP, no validation, no duplicate handling), in the same run.
func BenchmarkAlertIntake(b *testing.B) {
	e := &env{st: storetest.NewStore(b)}
	ctx := context.Background()
	tok, _, err := e.st.CreateToken(ctx, "bench", store.RoleIngest, "bench")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer((&api.Server{Store: e.st}).Handler())
	defer srv.Close()
	const batch = 100
	const workers = 4
	body := func(offset int) []byte {
		var buf bytes.Buffer
		for i := range batch {
			fmt.Fprintf(&buf, `{"id":"b-%d","source":"bench","kind":"k","severity":"low","title":"alert %d","observed_at":"2026-01-02T03:04:05Z","data":{"key":"k%d"}}`+"\n", offset+i, offset+i, i%50)
		}
		return buf.Bytes()
	}
	run := func(n int, one func(i int) error) float64 {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					if err := one(i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		return float64(n*batch) / time.Since(start).Seconds()
	}
	n := max(b.N, 20)
	b.ResetTimer()
	apiRate := run(n, func(i int) error {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/alerts", bytes.NewReader(body(i*batch)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	rawRate := run(n, func(i int) error {
		rows := stormAlerts(batch, 50, i*batch)
		sources, kinds, titles, data := make([]string, batch), make([]string, batch), make([]string, batch), make([]string, batch)
		for j, a := range rows {
			sources[j], kinds[j], titles[j], data[j] = "raw", a.Kind, a.Title, string(a.Data)
		}
		_, err := e.st.Pool.Exec(ctx, `INSERT INTO alerts (source, kind, severity, title, observed_at, data)
			SELECT s, k, 'low', t, now(), d::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(s, k, t, d)`,
			sources, kinds, titles, data)
		return err
	})
	b.StopTimer()
	b.ReportMetric(apiRate, "api_alerts/s")
	b.ReportMetric(rawRate, "raw_inserts/s")
	b.ReportMetric(apiRate/rawRate, "ratio")
}

// BenchmarkDispatch compares the dispatcher's rate into Temporal (alerts that each open an incident and start a
// run, with every database write and the commit) with the raw workflow-start rate of the same server at the
// same concurrency, in the same run.
func BenchmarkDispatch(b *testing.B) {
	e := newEnv(b, false) // no worker: starting is what is measured, not running
	ctx := context.Background()
	push(b, e.st, stormPlaybook)
	n := max(b.N, 300)
	// Every alert its own key: one workflow start per alert, the dispatcher's most expensive case.
	if _, err := e.st.InsertAlerts(ctx, stormAlerts(n, n, 0), "bench"); err != nil {
		b.Fatal(err)
	}
	d := e.dispatcherOn(e.direct)
	b.ResetTimer()
	start := time.Now()
	res, err := d.Drain(ctx)
	if err != nil {
		b.Fatal(err)
	}
	dispatchRate := float64(res.Alerts) / time.Since(start).Seconds()
	if res.Opened != n {
		b.Fatalf("opened %d incidents, want %d", res.Opened, n)
	}
	in := workflows.Input{Plan: []byte(`{}`)}
	start = time.Now()
	sem := make(chan struct{}, 8) // the dispatcher's default concurrency
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := e.direct.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("raw-%d", i), TaskQueue: taskQueue}, workflows.PlaybookWorkflow, in)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	rawRate := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(dispatchRate, "dispatched_alerts/s")
	b.ReportMetric(rawRate, "raw_starts/s")
	b.ReportMetric(dispatchRate/rawRate, "ratio")
}

// runsPlaybook opens an incident per alert and runs three actions (answered by fakes): the runs' own work.
const runsPlaybook = `name: storm-runs
on:
  alert:
    when: alert.kind == "storm"
    dedup:
      key: alert.data.key
      window: 24h
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: "a@evil.test", lastndays: 1 }
  - id: notify
    action: notify.webhook
    with: { connection: soc, text: "contained" }
  - id: done
    action: notify.webhook
    with: { connection: soc, text: "closed" }
`

// BenchmarkDispatchWithRuns is BenchmarkDispatch with a worker running every started run at the same time, as
// in production: the dispatch rate with the runs' work included, the rate at which runs complete, and the raw
// start rate of the same server (no worker polling its queue) measured in the same run. PARRY_BENCH_ALERTS sets
// the number of alerts (default 2,000; the figure was taken at 20,000).
func BenchmarkDispatchWithRuns(b *testing.B) {
	e := newEnv(b, true)
	ctx := context.Background()
	push(b, e.st, runsPlaybook)
	n := max(b.N, 2000)
	if s := os.Getenv("PARRY_BENCH_ALERTS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	if _, err := e.st.InsertAlerts(ctx, stormAlerts(n, n, 0), "bench"); err != nil {
		b.Fatal(err)
	}
	d := e.dispatcherOn(e.direct)
	b.ResetTimer()
	start := time.Now()
	res, err := d.Drain(ctx)
	if err != nil {
		b.Fatal(err)
	}
	dispatched := time.Since(start)
	if res.Opened != n {
		b.Fatalf("opened %d incidents, want %d", res.Opened, n)
	}
	completed := func() int {
		resp, err := e.direct.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: e.ts.GetDefaultNamespace(), Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Completed'", workflows.PlaybookWorkflow)})
		if err != nil {
			b.Fatal(err)
		}
		return int(resp.Count)
	}
	deadline := time.Now().Add(30 * time.Minute)
	for completed() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d runs completed", completed(), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	finished := time.Since(start)
	// Raw starts on a queue nobody polls: the server's start rate alone.
	in := workflows.Input{Plan: []byte(`{}`)}
	start = time.Now()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := e.direct.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("raw-%d", i), TaskQueue: "unpolled"}, workflows.PlaybookWorkflow, in)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	rawRate := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	dispatchRate := float64(n) / dispatched.Seconds()
	b.ReportMetric(float64(n), "alerts")
	b.ReportMetric(dispatchRate, "dispatched_alerts/s")
	b.ReportMetric(float64(n)/finished.Seconds(), "completed_runs/s")
	b.ReportMetric(rawRate, "raw_starts/s")
	b.ReportMetric(dispatchRate/rawRate, "ratio")
}

// BenchmarkAlertToFirstAction measures, over 50 alerts sent one at a time to an otherwise idle stack (API over
// HTTP, the dispatcher woken by PostgreSQL's notification, Temporal, one worker), the time from the API's 202
// (the alert committed) to the start of the run's first action: the activity whose first I/O is the vendor
// request. It prints p50, p99 and the maximum.
func BenchmarkAlertToFirstAction(b *testing.B) {
	e := newEnv(b, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan time.Time, 1)
	e.ts.NewWorkerWithOptions(taskQueue, func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
		for _, name := range action.Default().Names() {
			r.RegisterActivityWithOptions(func(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
				if in.Step == "sweep" && activity.GetInfo(ctx).Attempt == 1 {
					select {
					case started <- time.Now():
					default:
					}
				}
				return fakeAction(ctx, in)
			}, activity.RegisterOptions{Name: name})
		}
	}, worker.Options{MaxConcurrentWorkflowTaskPollers: 4})
	push(b, e.st, runsPlaybook)
	tok, _, err := e.st.CreateToken(ctx, "bench", store.RoleIngest, "bench")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer((&api.Server{Store: e.st}).Handler())
	defer srv.Close()
	d := e.dispatcherOn(e.direct)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	n := max(b.N, 50)
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		body := fmt.Sprintf(`{"id":"first-%d","source":"bench","kind":"storm","severity":"high","title":"alert %d","observed_at":%q,"data":{"key":"first-%d"}}`,
			i, i, time.Now().UTC().Format(time.RFC3339Nano), i)
		req, _ := http.NewRequest("POST", srv.URL+"/v1/alerts", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		accepted := time.Now()
		resp.Body.Close()
		if resp.StatusCode != 202 {
			b.Fatalf("alert %d: status %d", i, resp.StatusCode)
		}
		select {
		case at := <-started:
			lat = append(lat, max(at.Sub(accepted), 0))
		case <-time.After(time.Minute):
			b.Fatalf("alert %d started no action within a minute", i)
		}
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}
