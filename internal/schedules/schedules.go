// Package schedules keeps the Temporal Schedules of playbooks' on.schedule triggers in step with the
// registry: every schedule of every enabled playbook version exists in Temporal with that version's spec and
// inputs, and no other parry schedule does. Enabling a version creates or updates its schedules, disabling a
// playbook deletes them.
//
// The state is reconciled, not pushed: a Reconciler reads the enabled versions (one query) and parry's
// schedules (one list call) and makes the difference, whoever changed the registry (the API, a directory sync
// of parry dev, another server) and whatever crashed in between. Each schedule starts the ScheduledRun
// workflow, which records and starts the run through parry's normal run path (the runs table, started_by
// schedule:NAME) and waits for it to end, so that Temporal's overlap policy (skip) keeps a slow run from
// overlapping the next fire, and counts the fires it skipped.
package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// IDPrefix starts the id of every schedule parry owns: parry-playbook-NAME-N for on.schedule[N] of NAME.
const IDPrefix = "parry-playbook-"

// ID is the schedule id of on.schedule[index] of a playbook.
func ID(playbook string, index int) string { return fmt.Sprintf("%s%s-%d", IDPrefix, playbook, index) }

// ParseID splits a schedule id into the playbook and the index (ok false for an id parry does not own).
func ParseID(id string) (string, int, bool) {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(rest[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return rest[:i], n, true
}

// Desired is one schedule as the registry wants it.
type Desired struct {
	ID       string
	Playbook string
	Version  int
	SHA256   string
	Index    int
	Schedule plan.Schedule
	// Note is written on the schedule: what it is, with a fingerprint of everything that decides what it does,
	// so that a reconcile sees an outdated schedule without describing each one.
	Note string
}

// Input is what the schedule's workflow gets at each fire.
func (d Desired) Input() workflows.ScheduledRunInput {
	return workflows.ScheduledRunInput{Playbook: d.Playbook, Version: d.Version, Index: d.Index, With: d.Schedule.With}
}

// Entry is a schedule as Temporal has it.
type Entry struct {
	ID     string
	Note   string
	Paused bool
	// Next are the next fire times; Recent the latest fires (newest last).
	Next   []time.Time
	Recent []Fire
	// Skipped counts fires skipped because the previous run was still going (from Describe only).
	Skipped int64
}

// Fire is one action a schedule took.
type Fire struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	WorkflowID  string    `json:"workflow_id"`
}

// Scheduler is the part of Temporal's schedule client the package uses (TemporalScheduler is one; tests use
// a fake).
type Scheduler interface {
	// List returns parry's schedules (ids with IDPrefix).
	List(ctx context.Context) ([]Entry, error)
	Describe(ctx context.Context, id string) (Entry, error)
	Create(ctx context.Context, d Desired) error
	Update(ctx context.Context, d Desired) error
	Delete(ctx context.Context, id string) error
	Trigger(ctx context.Context, id string) error
}

// ErrNotFound is a schedule that does not exist.
var ErrNotFound = errors.New("schedule not found")

// Store is what the reconciler reads of the registry (*store.Store is one).
type Store interface {
	EnabledPlaybooks(ctx context.Context) ([]store.PlaybookVersion, error)
}

// DesiredFrom lists the schedules of the enabled versions, sorted by id. A version whose plan does not decode
// is skipped (and reported in the error, after the others are listed).
func DesiredFrom(versions []store.PlaybookVersion) ([]Desired, error) {
	var out []Desired
	var errs []error
	for _, v := range versions {
		p, err := plan.Decode(v.Plan)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the plan of %s v%d: %w", v.Name, v.Version, err))
			continue
		}
		for i, sc := range p.Schedules {
			d := Desired{ID: ID(v.Name, i), Playbook: v.Name, Version: v.Version, SHA256: v.SHA256, Index: i, Schedule: sc}
			d.Note = note(d)
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, errors.Join(errs...)
}

// note describes a desired schedule and fingerprints it.
func note(d Desired) string {
	b, _ := json.Marshal(struct {
		V   int
		SHA string
		S   plan.Schedule
	}{d.Version, d.SHA256, d.Schedule})
	sum := sha256.Sum256(b)
	return fmt.Sprintf("parry: on.schedule[%d] of %s v%d (%s)", d.Index, d.Playbook, d.Version, hex.EncodeToString(sum[:6]))
}

// Reconciler keeps Temporal's schedules in step with the registry.
type Reconciler struct {
	Store     Store
	Scheduler Scheduler
	Logger    *slog.Logger
	// Interval between reconciles in Run; DefaultInterval when 0.
	Interval time.Duration
}

// DefaultInterval is how often a server reconciles: how long an enable takes to reach Temporal at most.
const DefaultInterval = 5 * time.Second

// Result counts what a reconcile changed.
type Result struct {
	Created, Updated, Deleted []string
}

// Changed reports whether the reconcile changed anything.
func (r Result) Changed() bool { return len(r.Created)+len(r.Updated)+len(r.Deleted) > 0 }

// Reconcile makes parry's schedules in Temporal those of the enabled versions: it creates the missing ones,
// updates those of another version or spec, and deletes those of playbooks disabled (or schedules removed).
// Every call is idempotent; a failure leaves the rest for the next reconcile.
func (rc *Reconciler) Reconcile(ctx context.Context) (Result, error) {
	var res Result
	versions, err := rc.Store.EnabledPlaybooks(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the enabled playbooks: %w", err)
	}
	desired, derr := DesiredFrom(versions)
	actual, err := rc.Scheduler.List(ctx)
	if err != nil {
		return res, fmt.Errorf("listing schedules: %w", err)
	}
	have := make(map[string]Entry, len(actual))
	for _, e := range actual {
		have[e.ID] = e
	}
	var errs []error
	if derr != nil {
		errs = append(errs, derr)
	}
	want := make(map[string]bool, len(desired))
	for _, d := range desired {
		want[d.ID] = true
		e, ok := have[d.ID]
		switch {
		case !ok:
			if err := rc.Scheduler.Create(ctx, d); err != nil {
				errs = append(errs, fmt.Errorf("creating schedule %s: %w", d.ID, err))
				continue
			}
			res.Created = append(res.Created, d.ID)
		case e.Note != d.Note:
			if err := rc.Scheduler.Update(ctx, d); err != nil {
				errs = append(errs, fmt.Errorf("updating schedule %s: %w", d.ID, err))
				continue
			}
			res.Updated = append(res.Updated, d.ID)
		}
	}
	ids := make([]string, 0, len(have))
	for id := range have {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if want[id] {
			continue
		}
		if err := rc.Scheduler.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("deleting schedule %s: %w", id, err))
			continue
		}
		res.Deleted = append(res.Deleted, id)
	}
	return res, errors.Join(errs...)
}

// Run reconciles now and then every Interval until ctx ends, logging what changed and what failed.
func (rc *Reconciler) Run(ctx context.Context) {
	logger := rc.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	every := rc.Interval
	if every <= 0 {
		every = DefaultInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := rc.Reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Warn("reconciling playbook schedules", "error", err)
		}
		if res.Changed() {
			logger.Info("playbook schedules changed", "created", res.Created, "updated", res.Updated, "deleted", res.Deleted)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// View is one schedule as `parry schedule list` shows it: what the registry wants, and what Temporal says of
// it. The JSON field names are part of the API.
type View struct {
	ID       string         `json:"id"`
	Playbook string         `json:"playbook"`
	Version  int            `json:"version"`
	Index    int            `json:"index"`
	Cron     string         `json:"cron,omitempty"`
	Timezone string         `json:"timezone,omitempty"`
	Every    string         `json:"every,omitempty"`
	With     map[string]any `json:"with,omitempty"`
	// State is active, paused, or pending (not in Temporal yet: the next reconcile creates it).
	State   string      `json:"state"`
	Next    []time.Time `json:"next"`
	Recent  []Fire      `json:"recent"`
	Skipped int64       `json:"skipped"`
}

// List reconciles, then describes every schedule of the enabled versions.
func (rc *Reconciler) List(ctx context.Context) ([]View, error) {
	_, rerr := rc.Reconcile(ctx)
	versions, err := rc.Store.EnabledPlaybooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the enabled playbooks: %w", err)
	}
	desired, _ := DesiredFrom(versions)
	out := make([]View, 0, len(desired))
	for _, d := range desired {
		v := View{ID: d.ID, Playbook: d.Playbook, Version: d.Version, Index: d.Index, Cron: d.Schedule.Cron,
			Timezone: d.Schedule.Timezone, With: d.Schedule.With, State: "pending", Next: []time.Time{}, Recent: []Fire{}}
		if d.Schedule.Every > 0 {
			v.Every = d.Schedule.Every.String()
		}
		if d.Schedule.Cron != "" && v.Timezone == "" {
			v.Timezone = "UTC"
		}
		e, err := rc.Scheduler.Describe(ctx, d.ID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("describing schedule %s: %w", d.ID, err)
		default:
			v.State = "active"
			if e.Paused {
				v.State = "paused"
			}
			v.Next, v.Recent, v.Skipped = orEmpty(e.Next), orEmptyFires(e.Recent), e.Skipped
		}
		out = append(out, v)
	}
	if len(out) == 0 && rerr != nil {
		return nil, rerr
	}
	return out, nil
}

func orEmpty(t []time.Time) []time.Time {
	if t == nil {
		return []time.Time{}
	}
	return t
}

func orEmptyFires(f []Fire) []Fire {
	if f == nil {
		return []Fire{}
	}
	return f
}

// Trigger fires on.schedule[index] of a playbook now (reconciling first, so a just-enabled playbook's
// schedule exists).
func (rc *Reconciler) Trigger(ctx context.Context, playbook string, index int) (string, error) {
	if _, err := rc.Reconcile(ctx); err != nil {
		return "", err
	}
	versions, err := rc.Store.EnabledPlaybooks(ctx)
	if err != nil {
		return "", err
	}
	desired, _ := DesiredFrom(versions)
	names := map[string]int{}
	for _, d := range desired {
		names[d.Playbook]++
		if d.Playbook == playbook && d.Index == index {
			return d.ID, rc.Scheduler.Trigger(ctx, d.ID)
		}
	}
	switch n := names[playbook]; {
	case n == 0:
		return "", fmt.Errorf("%w: playbook %q has no enabled version with a schedule", ErrNotFound, playbook)
	default:
		return "", fmt.Errorf("%w: playbook %q has %d schedules (0 to %d), not %d", ErrNotFound, playbook, n, n-1, index)
	}
}
