package schedules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/store"
)

// fakeScheduler keeps schedules in a map, as Temporal would.
type fakeScheduler struct {
	m         map[string]Desired
	triggered []string
	calls     []string
}

func newFake() *fakeScheduler { return &fakeScheduler{m: map[string]Desired{}} }

func (f *fakeScheduler) List(context.Context) ([]Entry, error) {
	var out []Entry
	for id, d := range f.m {
		out = append(out, Entry{ID: id, Note: d.Note})
	}
	return out, nil
}

func (f *fakeScheduler) Describe(_ context.Context, id string) (Entry, error) {
	d, ok := f.m[id]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return Entry{ID: id, Note: d.Note, Next: []time.Time{time.Date(2026, 1, 5, 5, 0, 0, 0, time.UTC)}, Skipped: 2}, nil
}

func (f *fakeScheduler) Create(_ context.Context, d Desired) error {
	f.calls = append(f.calls, "create "+d.ID)
	f.m[d.ID] = d
	return nil
}

func (f *fakeScheduler) Update(_ context.Context, d Desired) error {
	f.calls = append(f.calls, "update "+d.ID)
	f.m[d.ID] = d
	return nil
}

func (f *fakeScheduler) Delete(_ context.Context, id string) error {
	f.calls = append(f.calls, "delete "+id)
	if _, ok := f.m[id]; !ok {
		return ErrNotFound
	}
	delete(f.m, id)
	return nil
}

func (f *fakeScheduler) Trigger(_ context.Context, id string) error {
	if _, ok := f.m[id]; !ok {
		return ErrNotFound
	}
	f.triggered = append(f.triggered, id)
	return nil
}

// fakeRegistry holds the enabled version of each playbook.
type fakeRegistry struct {
	enabled map[string]store.PlaybookVersion
}

func (r *fakeRegistry) EnabledPlaybooks(context.Context) ([]store.PlaybookVersion, error) {
	var out []store.PlaybookVersion
	for _, v := range r.enabled {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *fakeRegistry) enable(t *testing.T, version int, src string) {
	t.Helper()
	p, diags := playbook.Load("p.yaml", []byte(src))
	if p == nil {
		t.Fatal(diags)
	}
	raw, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	r.enabled[p.Name] = store.PlaybookVersion{Name: p.Name, Version: version, SHA256: p.SHA256, Plan: raw, Enabled: true}
}

const huntV1 = `name: hunt
on:
  schedule:
    - cron: "0 6 * * 1-5"
      timezone: Europe/Berlin
      with: { lookback: 1 }
    - every: 15m
inputs:
  lookback: { type: int, default: 7 }
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: a@b.test, lastndays: "${{ inputs.lookback }}" }
`

func reconcile(t *testing.T, rc *Reconciler) Result {
	t.Helper()
	res, err := rc.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (r Result) String() string {
	return fmt.Sprintf("created %v updated %v deleted %v", r.Created, r.Updated, r.Deleted)
}

// TestReconcile: enabling a version creates its schedules, a new version moves them (same ids, the new spec
// and inputs), a schedule removed from the playbook and a disabled playbook are deleted, and a reconcile with
// nothing to do does nothing.
func TestReconcile(t *testing.T) {
	reg := &fakeRegistry{enabled: map[string]store.PlaybookVersion{}}
	sch := newFake()
	rc := &Reconciler{Store: reg, Scheduler: sch}

	reg.enable(t, 1, huntV1)
	if got := reconcile(t, rc).String(); got != "created [parry-playbook-hunt-0 parry-playbook-hunt-1] updated [] deleted []" {
		t.Fatalf("enable: %s", got)
	}
	d := sch.m["parry-playbook-hunt-0"]
	if d.Schedule.Cron != "0 6 * * 1-5" || d.Schedule.Timezone != "Europe/Berlin" || d.Version != 1 {
		t.Fatalf("schedule 0: %+v", d)
	}
	in, _ := json.Marshal(d.Input())
	if string(in) != `{"playbook":"hunt","version":1,"index":0,"with":{"lookback":1}}` {
		t.Fatalf("input %s", in)
	}
	if sch.m["parry-playbook-hunt-1"].Schedule.Every.D() != 15*time.Minute {
		t.Fatalf("schedule 1: %+v", sch.m["parry-playbook-hunt-1"])
	}
	if got := reconcile(t, rc); got.Changed() {
		t.Fatalf("nothing to do: %s", got)
	}

	// A new version moves the schedule: the same id, the new version's cron and inputs.
	reg.enable(t, 2, strings.Replace(strings.Replace(huntV1, `"0 6 * * 1-5"`, `"30 7 * * 1-5"`, 1), "lookback: 1 }", "lookback: 2 }", 1))
	if got := reconcile(t, rc).String(); got != "created [] updated [parry-playbook-hunt-0 parry-playbook-hunt-1] deleted []" {
		t.Fatalf("new version: %s", got)
	}
	if d := sch.m["parry-playbook-hunt-0"]; d.Schedule.Cron != "30 7 * * 1-5" || d.Version != 2 || d.Schedule.With["lookback"] != int64(2) {
		t.Fatalf("moved schedule: %+v", d)
	}

	// A version with one schedule fewer deletes the other.
	reg.enable(t, 3, strings.Replace(huntV1, "    - every: 15m\n", "", 1))
	if got := reconcile(t, rc).String(); got != "created [] updated [parry-playbook-hunt-0] deleted [parry-playbook-hunt-1]" {
		t.Fatalf("schedule removed: %s", got)
	}

	// Parry leaves other schedules alone; disabling deletes the playbook's.
	delete(reg.enabled, "hunt")
	if got := reconcile(t, rc).String(); got != "created [] updated [] deleted [parry-playbook-hunt-0]" {
		t.Fatalf("disable: %s", got)
	}
	if len(sch.m) != 0 {
		t.Fatalf("left %v", sch.m)
	}
}

func TestListAndTrigger(t *testing.T) {
	reg := &fakeRegistry{enabled: map[string]store.PlaybookVersion{}}
	sch := newFake()
	rc := &Reconciler{Store: reg, Scheduler: sch}
	reg.enable(t, 4, huntV1)
	views, err := rc.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(views)
	want := `[{"id":"parry-playbook-hunt-0","playbook":"hunt","version":4,"index":0,"cron":"0 6 * * 1-5","timezone":"Europe/Berlin","with":{"lookback":1},"state":"active","next":["2026-01-05T05:00:00Z"],"recent":[],"skipped":2},` +
		`{"id":"parry-playbook-hunt-1","playbook":"hunt","version":4,"index":1,"every":"15m","state":"active","next":["2026-01-05T05:00:00Z"],"recent":[],"skipped":2}]`
	if string(b) != want {
		t.Fatalf("list\n got %s\nwant %s", b, want)
	}
	if id, err := rc.Trigger(context.Background(), "hunt", 1); err != nil || id != "parry-playbook-hunt-1" || strings.Join(sch.triggered, ",") != id {
		t.Fatalf("trigger: %s %v %v", id, err, sch.triggered)
	}
	if _, err := rc.Trigger(context.Background(), "hunt", 5); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "has 2 schedules (0 to 1), not 5") {
		t.Fatalf("trigger index 5: %v", err)
	}
	if _, err := rc.Trigger(context.Background(), "other", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trigger other: %v", err)
	}
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		name string
		i    int
	}{{"hunt", 0}, {"ioc-hunt-2", 12}} {
		name, i, ok := ParseID(ID(tc.name, tc.i))
		if !ok || name != tc.name || i != tc.i {
			t.Errorf("%s %d: %s %d %v", tc.name, tc.i, name, i, ok)
		}
	}
	for _, bad := range []string{"other", "parry-playbook-", "parry-playbook-x-y"} {
		if _, _, ok := ParseID(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
	if a, b := RunID("parry-playbook-hunt-0-2026-01-05T05:00:00Z", time.Date(2026, 1, 5, 5, 0, 0, 0, time.UTC)), RunID("parry-playbook-hunt-0-2026-01-05T05:00:00Z", time.Date(2026, 1, 5, 5, 0, 0, 0, time.UTC)); a != b || !strings.HasPrefix(a, "run-20260105T050000-s") {
		t.Errorf("run ids %s %s", a, b)
	}
}
