package dispatch_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/workflows"
)

const triage = `name: triage
on:
  alert:
    when: alert.kind == "phish"
inputs:
  sender:   { type: string, required: true, from: alert.data.sender }
  score:    { type: int, from: alert.data.score }
  lookback: { type: int, default: 7 }
  tags:     { type: list, from: alert.data.tags }
  headers:  { type: object, from: alert.data.headers }
  note:     { type: string }
  severity: { type: string, from: alert.severity, enum: [low, high] }
steps:
  - id: pause
    wait: 1m
`

// An alert's run records the inputs its alert resolved to, and its workflow is given exactly those.
func TestDispatchRecordsResolvedInputs(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(triage)
		ids := f.alerts(t, `phish {"sender":"a@evil.test","score":"42","tags":["x",{"y":1.5}],"headers":{"X-Mailer":"m\u00e9l"}}`)
		res, err := f.d.Drain(f.ctx)
		if err != nil || res.Opened != 1 || res.Errors != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		id := dispatch.RunID("triage", ids[0])
		r, err := f.b.GetRun(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		a, err := f.b.GetAlert(f.ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Decode(r.Plan)
		if err != nil {
			t.Fatal(err)
		}
		resolved, err := workflows.ResolveInputs(expression.NewEngine(), p, nil, runs.AlertValue(a), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		const want = `{"headers":{"X-Mailer":"mél"},"lookback":7,"note":null,"score":42,"sender":"a@evil.test","severity":"high","tags":["x",{"y":1.5}]}`
		if got := canonical(t, r.Inputs); got != want || got != canonical(t, mustJSON(t, resolved)) {
			t.Fatalf("stored inputs %s\nwant %s\nresolved %s", got, want, mustJSON(t, resolved))
		}
		if r.AlertID == nil || *r.AlertID != ids[0] || r.IncidentID == nil || r.StartedBy != dispatch.StartedBy {
			t.Fatalf("run %+v", r)
		}
		w := f.tc.run(id)
		if w == nil {
			t.Fatal("no workflow started")
		}
		if got := canonical(t, mustJSON(t, w.input.Inputs)); got != want {
			t.Fatalf("workflow inputs %s, want %s", got, want)
		}
		// The workflow resolves them again to the same values.
		again, err := workflows.ResolveInputs(expression.NewEngine(), p, w.input.Inputs, w.input.Alert, time.Now())
		if err != nil || canonical(t, mustJSON(t, again)) != want {
			t.Fatalf("the workflow's inputs %s %v", mustJSON(t, again), err)
		}
	})
}

// Inputs the runs row cannot hold refuse the run, not the batch: the alert records why, the others are
// dispatched.
func TestDispatchUnstorableInputsOpenNothing(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(...string) *fixture) {
		f := newFixture(`name: nul
on:
  alert:
    when: alert.kind == "phish"
inputs:
  who: { type: string, from: 'alert.data.sender + (alert.data.sender == "bad@x.test" ? "\u0000" : "")' }
steps:
  - id: pause
    wait: 1m
`)
		ids := f.alerts(t, `phish {"sender":"bad@x.test"}`, `phish {"sender":"ok@x.test"}`)
		res, err := f.d.Drain(f.ctx)
		if err != nil || res.Opened != 1 || res.Errors != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		want := fmt.Sprintf("%d dispatched 0 playbook nul (version 1): inputs: input who contains a NUL character (\\u0000)\n%d dispatched 1 ", ids[0], ids[1])
		if got := f.alertLines(); got != want {
			t.Fatalf("alerts:\n%s\nwant\n%s", got, want)
		}
		r, err := f.b.GetRun(f.ctx, dispatch.RunID("nul", ids[1]))
		if err != nil || canonical(t, r.Inputs) != `{"who":"ok@x.test"}` {
			t.Fatalf("run %s %v", r.Inputs, err)
		}
	})
}

// A retry of an alert's run keeps the inputs the alert resolved to; on a version that no longer declares one,
// it leaves that one out.
func TestRetryKeepsAlertInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs.Service works on PostgreSQL")
	}
	pg := pgBackend{StoreInbox: dispatch.StoreInbox{Store: storetest.NewStore(t)}, t: t}
	f := build(t, pg, []string{triage})
	ids := f.alerts(t, `phish {"sender":"a@evil.test","score":3}`)
	if _, err := f.d.Drain(f.ctx); err != nil {
		t.Fatal(err)
	}
	id := dispatch.RunID("triage", ids[0])
	if _, err := pg.Store.UpdateRun(f.ctx, store.RunUpdate{ID: id, Status: store.RunFailed, FailedStep: "pause", Error: "boom",
		Steps: json.RawMessage(`{"pause":{"status":"failed"}}`)}); err != nil {
		t.Fatal(err)
	}
	starter := f.d.Runs
	svc := &runs.Service{Store: pg.Store, Starter: starter, Outbox: &runs.Outbox{Store: pg.Store, Starter: starter, Temporal: f.tc}}
	const want = `{"headers":null,"lookback":7,"note":null,"score":3,"sender":"a@evil.test","severity":"high","tags":null}`
	same, err := svc.Retry(f.ctx, id, runs.RetryParams{From: "pause", StartedBy: "token:t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := canonical(t, same.Inputs); got != want || same.AlertID == nil || *same.AlertID != ids[0] {
		t.Fatalf("retry inputs %s, want %s (alert %v)", got, want, same.AlertID)
	}
	if w := f.tc.run(same.ID); w == nil || canonical(t, mustJSON(t, w.input.Inputs)) != want {
		t.Fatalf("retry's workflow %+v", w)
	}
	v2 := f.push(t, `name: triage
inputs:
  sender: { type: string, required: true, from: alert.data.sender }
  extra:  { type: string, default: "new" }
steps:
  - id: pause
    wait: 1m
`)
	latest, err := svc.Retry(f.ctx, id, runs.RetryParams{From: "pause", Latest: true, StartedBy: "token:t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := canonical(t, latest.Inputs); got != `{"sender":"a@evil.test"}` || latest.PlaybookVersion != v2.Version || v2.Version != 2 {
		t.Fatalf("retry on v%d (pushed v%d): inputs %s", latest.PlaybookVersion, v2.Version, got)
	}
	if w := f.tc.run(latest.ID); w == nil || canonical(t, mustJSON(t, w.input.Inputs)) != `{"sender":"a@evil.test"}` {
		t.Fatalf("retry's workflow %+v", w)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// canonical re-encodes JSON with sorted keys and no spaces (jsonb reorders and spaces what it returns).
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return string(mustJSON(t, v))
}
