package alerts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/store"
)

const stormPlaybook = `name: storm
on:
  alert:
    when: alert.kind == "storm"
    dedup:
      key: alert.data.key
      window: 24h
steps:
  - id: hold
    wait: 24h
`

func push(t testing.TB, st *store.Store, src string) registry.Pushed {
	t.Helper()
	out, err := registry.Push(context.Background(), st, nil, []registry.File{{Name: "pb.yaml", Source: src}}, "e2e", true)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func stormAlerts(n, keys, offset int) []store.NewAlert {
	out := make([]store.NewAlert, n)
	for i := range out {
		out[i] = store.NewAlert{Source: "storm", Kind: "storm", Severity: "high", Title: fmt.Sprintf("storm %d", offset+i),
			ObservedAt: time.Now(), Data: json.RawMessage(fmt.Sprintf(`{"key":"k%02d","n":%d}`, (offset+i)%keys, offset+i))}
	}
	return out
}

// TestAlertStorm: 10,000 alerts with 50 dedup keys become 50 incidents and 50 runs, every alert linked to its
// incident and delivered to its run once (in the start input or by one signal), with the dispatcher stopped in
// the middle and two dispatchers finishing the work.
func TestAlertStorm(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	push(t, e.st, stormPlaybook)
	const n, keys = 10000, 50
	for i := 0; i < n; i += 2000 {
		if _, err := e.st.InsertAlerts(ctx, stormAlerts(2000, keys, i), "e2e"); err != nil {
			t.Fatal(err)
		}
	}
	first := e.dispatcher()
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- first.Run(dctx) }()
	waitFor(t, 3*time.Minute, "a third of the storm dispatched", func() bool {
		return e.count(t, "SELECT count(*) FROM alerts WHERE status = 'dispatched'") >= n/3
	})
	stop() // mid-batch or mid-outbox: what committed is carried out by the next dispatchers
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pending := e.count(t, "SELECT count(*) FROM alerts WHERE status = 'pending'")
	if pending == 0 {
		t.Fatal("the storm was fully dispatched before the restart; nothing was tested")
	}
	t.Logf("dispatcher stopped with %d alerts pending", pending)
	dctx, stop = context.WithCancel(ctx)
	defer stop()
	for range 2 {
		d := e.dispatcher()
		go d.Run(dctx)
	}
	waitFor(t, 5*time.Minute, "the whole storm dispatched and carried out", func() bool {
		return e.count(t, "SELECT (SELECT count(*) FROM alerts WHERE status = 'pending') + (SELECT count(*) FROM outbox)") == 0
	})
	stop()
	for _, c := range []struct {
		sql  string
		want int
	}{
		{"SELECT count(*) FROM incidents", keys},
		{"SELECT count(*) FROM runs", keys},
		{"SELECT count(*) FROM runs WHERE status = 'running' AND workflow_run_id <> ''", keys},
		{"SELECT count(*) FROM incident_alerts", n},
		{"SELECT count(DISTINCT alert_id) FROM incident_alerts", n},
		{"SELECT sum(alert_count) FROM incidents", n},
		{"SELECT count(*) FROM alerts WHERE matched = 1", n},
		{"SELECT count(DISTINCT dedup_key) FROM incidents", keys},
	} {
		if got := e.count(t, c.sql); got != c.want {
			t.Errorf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
	wfs := e.workflowsOfType(t, "Playbook")
	if len(wfs) != keys {
		t.Fatalf("%d Playbook workflows in Temporal, want %d", len(wfs), keys)
	}
	// Each run received exactly its incident's alerts.
	total := 0
	rows, err := e.st.Pool.Query(ctx, "SELECT run_id, array_agg(ia.alert_id ORDER BY ia.alert_id) FROM incidents i JOIN incident_alerts ia ON ia.incident_id = i.id GROUP BY run_id")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string][]int64{}
	for rows.Next() {
		var id string
		var ids []int64
		if err := rows.Scan(&id, &ids); err != nil {
			t.Fatal(err)
		}
		linked[id] = ids
	}
	rows.Close()
	for _, id := range wfs {
		input, signalled, _ := e.deliveredAlerts(t, id)
		got := slices.Compact(slices.Sorted(slices.Values(append(input, signalled...))))
		if !slices.Equal(got, linked[id]) {
			t.Fatalf("run %s received %d distinct alerts, its incident has %d", id, len(got), len(linked[id]))
		}
		total += len(got)
	}
	if total != n {
		t.Fatalf("runs received %d alerts, want %d", total, n)
	}
}

// TestTemporalDownDuringIntake: with Temporal unreachable the API still accepts alerts and the dispatcher still
// groups them into incidents, whose runs are recorded as pending with their outbox entries; nothing reaches
// Temporal. When Temporal is back every run starts and receives exactly its incident's alerts.
func TestTemporalDownDuringIntake(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	push(t, e.st, stormPlaybook)
	tok, _, err := e.st.CreateToken(ctx, "siem", store.RoleIngest, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&api.Server{Store: e.st}).Handler())
	defer srv.Close()

	e.proxy.stop()
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	d := e.dispatcher()
	go d.Run(dctx)

	const n, keys = 300, 20
	var body bytes.Buffer
	for _, a := range stormAlerts(n, keys, 0) {
		fmt.Fprintf(&body, `{"source":%q,"kind":%q,"severity":%q,"title":%q,"observed_at":%q,"data":%s}`+"\n",
			a.Source, a.Kind, a.Severity, a.Title, a.ObservedAt.UTC().Format(time.RFC3339), a.Data)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/alerts", &body)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var intake api.IntakeResponse
	json.NewDecoder(resp.Body).Decode(&intake)
	resp.Body.Close()
	if resp.StatusCode != 202 || intake.Accepted != n {
		t.Fatalf("intake while Temporal is down: %d %+v", resp.StatusCode, intake)
	}
	// Every alert joins its incident; the outbox keeps trying (with backoff) to start the runs.
	waitFor(t, time.Minute, "alerts grouped and outbox starts attempted", func() bool {
		return e.count(t, "SELECT count(*) FROM alerts WHERE status = 'pending'") == 0 &&
			e.count(t, "SELECT count(*) FROM outbox WHERE kind = 'start' AND attempts >= 1 AND last_error <> ''") > 0
	})
	if got := e.count(t, "SELECT count(*) FROM incidents"); got != keys {
		t.Fatalf("%d incidents while Temporal was down, want %d", got, keys)
	}
	if got := e.count(t, "SELECT count(*) FROM runs WHERE status = 'pending' AND workflow_run_id = ''"); got != keys {
		t.Fatalf("%d pending runs while Temporal was down, want %d", got, keys)
	}
	if got := e.count(t, "SELECT count(*) FROM incident_alerts"); got != n {
		t.Fatalf("%d alerts linked while Temporal was down, want %d", got, n)
	}
	var lastErr string
	e.st.Pool.QueryRow(ctx, "SELECT last_error FROM outbox WHERE last_error <> '' ORDER BY id LIMIT 1").Scan(&lastErr)
	if !strings.Contains(lastErr, "starting run alert-storm-") {
		t.Fatalf("outbox last_error %q", lastErr)
	}
	if wfs := e.workflowsOfType(t, "Playbook"); len(wfs) != 0 {
		t.Fatalf("%d workflows started while Temporal was unreachable", len(wfs))
	}

	e.proxy.start(t)
	waitFor(t, 2*time.Minute, "every run started after Temporal returned", func() bool {
		return e.count(t, "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM runs WHERE workflow_run_id = '')") == 0
	})
	wfs := e.workflowsOfType(t, "Playbook")
	if len(wfs) != keys {
		t.Fatalf("%d workflows, want %d", len(wfs), keys)
	}
	total := 0
	for _, id := range wfs {
		input, signalled, _ := e.deliveredAlerts(t, id)
		got := slices.Compact(slices.Sorted(slices.Values(append(input, signalled...))))
		want := e.count(t, "SELECT alert_count FROM incidents WHERE run_id = $1", id)
		if len(got) != want {
			t.Fatalf("run %s received %d distinct alerts, its incident has %d", id, len(got), want)
		}
		total += len(got)
	}
	if total != n {
		t.Fatalf("runs received %d alerts, want %d", total, n)
	}
}

// TestRegistryVersionsPinRuns: a run keeps the version (plan and SHA) that started it; a new version applies to
// new incidents only, while alerts joining an older incident go to its run.
func TestRegistryVersionsPinRuns(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	v1 := push(t, e.st, stormPlaybook)
	if _, err := e.st.InsertAlerts(ctx, stormAlerts(1, 50, 0), "e2e"); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher()
	if _, err := d.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	v2 := push(t, e.st, strings.Replace(stormPlaybook, "wait: 24h", "wait: 12h", 1))
	if v2.Version != 2 || v2.SHA256 == v1.SHA256 {
		t.Fatalf("v2: %+v", v2)
	}
	// Key k00 joins the version-1 incident; key k01 opens one on version 2.
	if _, err := e.st.InsertAlerts(ctx, stormAlerts(2, 50, 50), "e2e"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, _ := e.st.Pool.Query(ctx, "SELECT id FROM runs ORDER BY created_at")
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 2 {
		t.Fatalf("runs %v", ids)
	}
	for i, want := range []registry.Pushed{v1, v2} {
		input, signalled, in := e.deliveredAlerts(t, ids[i])
		r, err := e.st.GetRun(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if in.Playbook.Version != want.Version || in.Playbook.SHA256 != want.SHA256 || r.PlaybookVersion != want.Version || r.PlaybookSHA256 != want.SHA256 {
			t.Fatalf("run %s: workflow has %+v, row has v%d %s; want v%d %s", ids[i], in.Playbook, r.PlaybookVersion, r.PlaybookSHA256, want.Version, want.SHA256)
		}
		if i == 0 && (len(input) != 1 || len(signalled) != 1) {
			t.Fatalf("version-1 run got input %v and signals %v", input, signalled)
		}
	}
	if w, err := e.direct.DescribeWorkflowExecution(ctx, dispatch.RunID("storm", 1), ""); err != nil || w.WorkflowExecutionInfo.Status.String() != "Running" {
		t.Fatalf("describe: %v %v", w, err)
	}
}
