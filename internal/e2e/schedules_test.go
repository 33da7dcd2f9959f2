package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/schedules"
	"github.com/parry-soar/parry/internal/store"
)

const scheduledHunt = `name: scheduled-hunt
on:
  schedule:
    - cron: "0 6 * * 1-5"
      timezone: Europe/Berlin
      with: { lookback: 1 }
inputs:
  lookback: { type: int, default: 7 }
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: a@evil.test, lastndays: "${{ inputs.lookback }}" }
`

// TestSchedules on a real Temporal server: enabling a playbook creates its schedule (06:00 Berlin time on
// weekdays), a trigger fires a run recorded like any other (started_by schedule:NAME#0, the schedule's
// inputs), a new version moves the schedule, a schedule fires on its own and skips a fire while its run is
// still going, and disabling the playbook deletes the schedule.
func TestSchedules(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	const queue = "parry-e2e-schedules"
	s.ts.NewWorker(queue, func(r worker.Registry) {
		schedules.Register(r, &schedules.Activities{Store: s.st, TaskQueue: s.queue})
	})
	rc := &schedules.Reconciler{Store: s.st, Scheduler: schedules.TemporalScheduler{Client: s.tc.ScheduleClient(), TaskQueue: queue}}
	push := func(src string) {
		t.Helper()
		if _, err := registry.Push(ctx, s.st, nil, []registry.File{{Name: "p.yaml", Source: src}}, "test", true); err != nil {
			t.Fatal(err)
		}
	}
	push(scheduledHunt)
	if res, err := rc.Reconcile(ctx); err != nil || strings.Join(res.Created, ",") != "parry-playbook-scheduled-hunt-0" {
		t.Fatalf("reconcile: %+v %v", res, err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	views, err := rc.List(ctx)
	if err != nil || len(views) != 1 || views[0].State != "active" || len(views[0].Next) == 0 {
		t.Fatalf("list: %+v %v", views, err)
	}
	for _, next := range views[0].Next {
		local := next.In(berlin)
		if local.Hour() != 6 || local.Minute() != 0 || local.Weekday() == time.Saturday || local.Weekday() == time.Sunday {
			t.Fatalf("next fire %s is not 06:00 on a weekday in Berlin", local)
		}
	}

	// A trigger fires the run through parry's run recording.
	if _, err := rc.Trigger(ctx, "scheduled-hunt", 0); err != nil {
		t.Fatal(err)
	}
	r := s.waitStartedBy("schedule:scheduled-hunt#0", store.RunSucceeded)
	if strings.ReplaceAll(string(r.Inputs), " ", "") != `{"lookback":1}` || r.PlaybookVersion != 1 {
		t.Fatalf("scheduled run %s of v%d, inputs %s", r.ID, r.PlaybookVersion, r.Inputs)
	}

	// A new version moves the schedule.
	push(strings.Replace(scheduledHunt, `"0 6 * * 1-5"`, `"30 7 * * *"`, 1))
	if res, err := rc.Reconcile(ctx); err != nil || strings.Join(res.Updated, ",") != "parry-playbook-scheduled-hunt-0" {
		t.Fatalf("reconcile v2: %+v %v", res, err)
	}
	views, _ = rc.List(ctx)
	if len(views) != 1 || views[0].Version != 2 || len(views[0].Next) == 0 || views[0].Next[0].In(berlin).Minute() != 30 {
		t.Fatalf("moved: %+v", views)
	}

	// A schedule that fires on its own: every 2 seconds (below what lint allows, written into the registry by
	// hand), of a run that waits an hour, so the fires after the first are skipped.
	p, diags := playbook.Load("slow.yaml", []byte(`name: slow-hunt
on:
  schedule:
    - every: 1m
steps:
  - id: hold
    wait: 1h
`))
	if p == nil {
		t.Fatal(diags)
	}
	p.Schedules[0].Every = plan.Duration(2 * time.Second)
	raw, _ := plan.Encode(p)
	if _, _, err := s.st.PutPlaybookVersion(ctx, p.Name, p.SHA256, "(by hand)", raw, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.EnablePlaybook(ctx, p.Name, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitStartedBy("schedule:slow-hunt#0", store.RunWaiting, store.RunRunning)
	deadline := time.Now().Add(60 * time.Second)
	for {
		views, err := rc.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		skipped := int64(-1)
		for _, v := range views {
			if v.Playbook == "slow-hunt" {
				skipped = v.Skipped
			}
		}
		if skipped > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fire skipped while the run was going: %+v", views)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := s.countStartedBy("schedule:slow-hunt#0"); n != 1 {
		t.Fatalf("%d runs of the slow schedule, want 1 (the others skipped)", n)
	}

	// Disabling deletes the schedules.
	for _, name := range []string{"scheduled-hunt", "slow-hunt"} {
		if _, err := s.st.DisablePlaybook(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := rc.Reconcile(ctx); err != nil || len(res.Deleted) != 2 {
		t.Fatalf("reconcile after disable: %+v %v", res, err)
	}
	if views, err := rc.List(ctx); err != nil || len(views) != 0 {
		t.Fatalf("list after disable: %+v %v", views, err)
	}
}

// waitStartedBy waits for a run started by who to reach one of the statuses.
func (s *stack) waitStartedBy(who string, statuses ...string) store.Run {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := s.st.ListRuns(context.Background(), store.RunQuery{Limit: 1000})
		if err == nil {
			for _, r := range list {
				if r.StartedBy != who {
					continue
				}
				for _, st := range statuses {
					if r.Status == st {
						return r
					}
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no run started by %s reached %v", who, statuses)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) countStartedBy(who string) int {
	list, _ := s.st.ListRuns(context.Background(), store.RunQuery{Limit: 1000})
	n := 0
	for _, r := range list {
		if r.StartedBy == who {
			n++
		}
	}
	return n
}
