package alerts_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
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
