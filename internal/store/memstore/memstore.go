// Package memstore is an in-memory stand-in for internal/store, for tests that check the logic of the parts
// built on the store (the dispatcher, the outbox, the run tracker) without PostgreSQL. It has the method set
// of *store.Store that those parts' interfaces name, with the same semantics where they matter: alerts claimed
// by one transaction are skipped by others, dedup locks are held until the transaction ends, writes of a
// transaction become visible together at commit and vanish at rollback, leases and outbox claims expire.
//
// The SQL itself is tested against PostgreSQL in internal/store and the packages' database tests.
package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parry-soar/parry/internal/store"
)

// Store is the in-memory store. The zero value is not usable: call New.
type Store struct {
	// Now is the store's clock (received_at, lease expiry); time.Now when nil. Set it before use.
	Now func() time.Time
	// OnLockWait, when set, is called (without the store's lock) when a transaction starts waiting for a
	// dedup lock another transaction holds: tests use it to interleave transactions deterministically.
	OnLockWait func(l store.DedupLock)

	mu        sync.Mutex
	cond      *sync.Cond
	nextAlert int64
	nextInc   int64
	nextOut   int64
	alerts    map[int64]*store.Alert
	sourceIDs map[[2]string]int64
	incidents map[int64]*store.Incident
	incAlerts map[int64][]int64
	runs      map[string]*runRow
	outbox    map[int64]*outRow
	versions  map[string][]store.PlaybookVersion
	leases    map[string]lease
	cursors   map[string]time.Time
	locked    map[int64]*Tx           // alert id → the transaction holding it
	keyLocks  map[store.DedupLock]*Tx // dedup lock → holder

	mitigation *mitState
}

type runRow struct {
	store.Run
	checkedAt time.Time
}

type outRow struct {
	store.OutboxEntry
	claimedUntil time.Time
	lastError    string
}

type lease struct {
	holder string
	until  time.Time
}

// New returns an empty store.
func New() *Store {
	s := &Store{
		alerts: map[int64]*store.Alert{}, sourceIDs: map[[2]string]int64{}, incidents: map[int64]*store.Incident{},
		incAlerts: map[int64][]int64{}, runs: map[string]*runRow{}, outbox: map[int64]*outRow{},
		versions: map[string][]store.PlaybookVersion{}, leases: map[string]lease{}, cursors: map[string]time.Time{},
		locked: map[int64]*Tx{}, keyLocks: map[store.DedupLock]*Tx{},
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// --- alerts

// InsertAlerts stores alerts as pending (or dispatched when Manual); repeats of a (source, source_id) report
// the stored id as a duplicate.
func (s *Store) InsertAlerts(ctx context.Context, alerts []store.NewAlert, ingestedBy string) ([]store.InsertedAlert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.InsertedAlert, len(alerts))
	for i, a := range alerts {
		if a.SourceID != "" {
			if id, ok := s.sourceIDs[[2]string{a.Source, a.SourceID}]; ok {
				out[i] = store.InsertedAlert{ID: id, Duplicate: true}
				continue
			}
		}
		s.nextAlert++
		data := a.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		st := "pending"
		if a.Manual {
			st = "dispatched"
		}
		s.alerts[s.nextAlert] = &store.Alert{ID: s.nextAlert, Source: a.Source, SourceID: a.SourceID, Kind: a.Kind,
			Severity: a.Severity, Title: a.Title, Connection: a.Connection, ObservedAt: a.ObservedAt,
			ReceivedAt: s.now(), Data: data, IngestedBy: ingestedBy, Status: st}
		if a.SourceID != "" {
			s.sourceIDs[[2]string{a.Source, a.SourceID}] = s.nextAlert
		}
		out[i] = store.InsertedAlert{ID: s.nextAlert}
	}
	return out, nil
}

// SetReceivedAt changes when an alert was received (tests of dedup windows).
func (s *Store) SetReceivedAt(id int64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts[id].ReceivedAt = at
}

// GetAlert returns one alert.
func (s *Store) GetAlert(ctx context.Context, id int64) (store.Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.alerts[id]
	if !ok {
		return store.Alert{}, fmt.Errorf("alert %d: %w", id, store.ErrNotFound)
	}
	return *a, nil
}

// Alerts returns every alert, by id.
func (s *Store) Alerts() []store.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Alert, 0, len(s.alerts))
	for _, a := range s.alerts {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b store.Alert) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// RecordDispatchFailure counts a failed attempt on alerts that are still pending.
func (s *Store) RecordDispatchFailure(ctx context.Context, alertIDs []int64, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range alertIDs {
		if a := s.alerts[id]; a != nil && a.Status == "pending" {
			a.Attempts++
			a.LastError = msg
		}
	}
	return nil
}

// --- incidents

// GetIncident returns one incident.
func (s *Store) GetIncident(ctx context.Context, id int64) (store.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc, ok := s.incidents[id]
	if !ok {
		return store.Incident{}, fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
	}
	return *inc, nil
}

// Incidents returns every incident, by id.
func (s *Store) Incidents() []store.Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Incident, 0, len(s.incidents))
	for _, i := range s.incidents {
		out = append(out, *i)
	}
	slices.SortFunc(out, func(a, b store.Incident) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// IncidentAlerts returns the alerts attached to an incident, by id.
func (s *Store) IncidentAlerts(ctx context.Context, id int64, limit int) ([]store.Alert, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Clone(s.incAlerts[id])
	slices.Sort(ids)
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]store.Alert, 0, len(ids))
	for _, aid := range ids {
		out = append(out, *s.alerts[aid])
	}
	return out, nil
}

// CloseIncident closes an open incident.
func (s *Store) CloseIncident(ctx context.Context, id int64, by string) (store.Incident, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc, ok := s.incidents[id]
	if !ok {
		return store.Incident{}, false, fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
	}
	if inc.Status != store.IncidentOpen {
		return *inc, false, nil
	}
	now := s.now()
	inc.Status, inc.ClosedAt, inc.ClosedBy = store.IncidentClosed, &now, by
	return *inc, true, nil
}

// --- playbooks

// PutPlaybookVersion stores a new version of a playbook (the same content twice is one version).
func (s *Store) PutPlaybookVersion(ctx context.Context, name, sha, source string, planJSON []byte, createdBy string) (store.PlaybookVersion, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.versions[name] {
		if v.SHA256 == sha {
			return v, false, nil
		}
	}
	v := store.PlaybookVersion{Name: name, Version: len(s.versions[name]) + 1, SHA256: sha, Source: source,
		Plan: planJSON, CreatedBy: createdBy, CreatedAt: s.now()}
	s.versions[name] = append(s.versions[name], v)
	return v, true, nil
}

// EnablePlaybook makes version the enabled one of name.
func (s *Store) EnablePlaybook(ctx context.Context, name string, version int) (store.PlaybookVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.versions[name]
	if version < 1 || version > len(vs) {
		return store.PlaybookVersion{}, fmt.Errorf("playbook %s version %d: %w", name, version, store.ErrNotFound)
	}
	for i := range vs {
		vs[i].Enabled = vs[i].Version == version
	}
	return vs[version-1], nil
}

// GetPlaybookVersion returns one version.
func (s *Store) GetPlaybookVersion(ctx context.Context, name string, version int) (store.PlaybookVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.versions[name]
	if version < 1 || version > len(vs) {
		return store.PlaybookVersion{}, fmt.Errorf("playbook %s version %d: %w", name, version, store.ErrNotFound)
	}
	return vs[version-1], nil
}

// GetEnabledPlaybook returns the enabled version of name.
func (s *Store) GetEnabledPlaybook(ctx context.Context, name string) (store.PlaybookVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.versions[name] {
		if v.Enabled {
			return v, nil
		}
	}
	return store.PlaybookVersion{}, fmt.Errorf("enabled version of playbook %s: %w", name, store.ErrNotFound)
}

// EnabledVersions lists the enabled version of every playbook, by name.
func (s *Store) EnabledVersions(ctx context.Context) ([]store.EnabledVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.EnabledVersion
	for _, vs := range s.versions {
		for _, v := range vs {
			if v.Enabled {
				out = append(out, store.EnabledVersion{Name: v.Name, Version: v.Version, SHA256: v.SHA256})
			}
		}
	}
	slices.SortFunc(out, func(a, b store.EnabledVersion) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// --- runs

// InsertRun records a run unless its id exists.
func (s *Store) InsertRun(ctx context.Context, r store.Run) (bool, error) {
	if err := store.CheckRun(&r); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insertRun(r), nil
}

func (s *Store) insertRun(r store.Run) bool {
	if _, ok := s.runs[r.ID]; ok {
		return false
	}
	if r.Status == "" {
		r.Status = store.RunPending
	}
	if len(r.Waits) == 0 {
		r.Waits = json.RawMessage("[]")
	}
	now := s.now()
	r.CreatedAt, r.UpdatedAt = now, now
	s.runs[r.ID] = &runRow{Run: r}
	return true
}

// RecordRun stores a run and the outbox entry that starts it, leased to the caller for hold when hold > 0.
func (s *Store) RecordRun(ctx context.Context, r store.Run, hold time.Duration) (bool, store.OutboxEntry, error) {
	if err := store.CheckRun(&r); err != nil {
		return false, store.OutboxEntry{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.insertRun(r) {
		return false, store.OutboxEntry{}, nil
	}
	s.enqueue([]store.OutboxEntry{{Kind: store.OutboxStart, RunID: r.ID}})
	o := s.outbox[s.nextOut]
	if hold > 0 {
		o.claimedUntil, o.Attempts = s.now().Add(hold), 1
	}
	return true, o.OutboxEntry, nil
}

// GetRun returns one run.
func (s *Store) GetRun(ctx context.Context, id string) (store.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return store.Run{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	return r.Run, nil
}

// Runs returns every run, by id.
func (s *Store) Runs() []store.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Run, 0, len(s.runs))
	for _, r := range s.runs {
		out = append(out, r.Run)
	}
	slices.SortFunc(out, func(a, b store.Run) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// MarkRunStarted records that the run's workflow exists.
func (s *Store) MarkRunStarted(ctx context.Context, id, workflowRunID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return nil
	}
	r.WorkflowRunID = workflowRunID
	if r.Status == store.RunPending {
		r.Status = store.RunRunning
	}
	if r.StartedAt == nil {
		now := s.now()
		r.StartedAt = &now
	}
	r.UpdatedAt = s.now()
	return nil
}

// UpdateRun stores what the tracker observed; false when nothing changed.
func (s *Store) UpdateRun(ctx context.Context, u store.RunUpdate) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[u.ID]
	if !ok {
		return false, nil
	}
	wfID := r.WorkflowRunID
	if u.WorkflowRunID != "" {
		wfID = u.WorkflowRunID
	}
	waits := r.Waits
	if store.Terminal(u.Status) {
		waits = json.RawMessage("[]")
	} else if u.Waits != nil {
		waits = u.Waits
	}
	same := r.Status == u.Status && r.ResultStatus == u.ResultStatus && r.WaitingFor == u.WaitingFor &&
		r.FailedStep == u.FailedStep && r.Error == u.Error && r.WorkflowRunID == wfID && (r.FinishedAt == nil) == (u.FinishedAt == nil) &&
		string(waits) == string(r.Waits)
	if same {
		return false, nil
	}
	r.WorkflowRunID, r.Status, r.ResultStatus, r.WaitingFor, r.FailedStep, r.Error = wfID, u.Status, u.ResultStatus, u.WaitingFor, u.FailedStep, u.Error
	r.Waits = waits
	if len(u.Output) > 0 {
		r.Output = u.Output
	}
	if len(u.Steps) > 0 {
		r.Steps = u.Steps
	}
	if r.StartedAt == nil {
		r.StartedAt = u.StartedAt
	}
	r.FinishedAt = u.FinishedAt
	r.UpdatedAt = s.now()
	return true, nil
}

// StaleActiveRuns returns up to limit running or waiting runs, least recently checked first, and marks them
// checked.
func (s *Store) StaleActiveRuns(ctx context.Context, limit int) ([]store.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var active []*runRow
	for _, r := range s.runs {
		if r.Status == store.RunRunning || r.Status == store.RunWaiting {
			active = append(active, r)
		}
	}
	slices.SortFunc(active, func(a, b *runRow) int {
		if c := a.checkedAt.Compare(b.checkedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(active) > limit {
		active = active[:limit]
	}
	out := make([]store.Run, len(active))
	for i, r := range active {
		r.checkedAt = s.now()
		out[i] = r.Run
	}
	return out, nil
}

// SetRunWaiting records what a running run waits for.
func (s *Store) SetRunWaiting(ctx context.Context, id, status, waitingFor string, waits json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runs[id]; ok && (r.Status == store.RunRunning || r.Status == store.RunWaiting) {
		r.Status, r.WaitingFor, r.Waits, r.checkedAt = status, waitingFor, waits, s.now()
	}
	return nil
}

// --- outbox

func (s *Store) enqueue(entries []store.OutboxEntry) {
	for _, e := range entries {
		s.nextOut++
		e.ID, e.Attempts = s.nextOut, 0
		s.outbox[e.ID] = &outRow{OutboxEntry: e}
	}
}

// Outbox returns the queued entries, by id, with their last errors.
func (s *Store) Outbox() ([]store.OutboxEntry, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.OutboxEntry
	for _, o := range s.outbox {
		out = append(out, o.OutboxEntry)
	}
	slices.SortFunc(out, func(a, b store.OutboxEntry) int { return cmp.Compare(a.ID, b.ID) })
	errs := make([]string, len(out))
	for i, e := range out {
		errs[i] = s.outbox[e.ID].lastError
	}
	return out, errs
}

// ClaimOutbox leases up to limit unheld entries, oldest first.
func (s *Store) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]store.OutboxEntry, error) {
	return s.claim(func(*outRow) bool { return true }, limit, lease), nil
}

// ClaimOutboxOf leases the unheld entries of one run.
func (s *Store) ClaimOutboxOf(ctx context.Context, runID string, lease time.Duration) ([]store.OutboxEntry, error) {
	return s.claim(func(o *outRow) bool { return o.RunID == runID }, 0, lease), nil
}

func (s *Store) claim(pick func(*outRow) bool, limit int, lease time.Duration) []store.OutboxEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var rows []*outRow
	for _, o := range s.outbox {
		if o.claimedUntil.Before(now) && pick(o) {
			rows = append(rows, o)
		}
	}
	slices.SortFunc(rows, func(a, b *outRow) int { return cmp.Compare(a.ID, b.ID) })
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	out := make([]store.OutboxEntry, len(rows))
	for i, o := range rows {
		o.claimedUntil = now.Add(lease)
		o.Attempts++
		out[i] = o.OutboxEntry
	}
	return out
}

// FinishOutbox deletes the entries done and releases the failed ones until their retry time.
func (s *Store) FinishOutbox(ctx context.Context, done []int64, failed []store.OutboxFailure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range done {
		delete(s.outbox, id)
	}
	now := s.now()
	for _, f := range failed {
		if o := s.outbox[f.ID]; o != nil {
			o.lastError, o.claimedUntil = f.Error, now.Add(f.RetryIn)
		}
	}
	return nil
}

// ReleaseOutboxClaims makes every entry claimable now (tests: "the retry time has come").
func (s *Store) ReleaseOutboxClaims() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outbox {
		o.claimedUntil = time.Time{}
	}
}

// --- leases and cursors

// TakeLease takes or renews a lease unless another holder's is live.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if l, ok := s.leases[name]; ok && l.holder != holder && l.until.After(now) {
		return false, nil
	}
	s.leases[name] = lease{holder: holder, until: now.Add(ttl)}
	return true, nil
}

// ReleaseLease gives a lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.holder == holder {
		delete(s.leases, name)
	}
	return nil
}

// TrackerCursor returns the named cursor.
func (s *Store) TrackerCursor(ctx context.Context, name string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[name], nil
}

// SetTrackerCursor saves a cursor (it never moves back).
func (s *Store) SetTrackerCursor(ctx context.Context, name string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.After(s.cursors[name]) {
		s.cursors[name] = at
	}
	return nil
}

// --- transactions

// Tx is one transaction: claimed alerts and dedup locks are held until it ends, writes are buffered and
// applied at commit.
type Tx struct {
	s       *Store
	claimed []int64
	keys    []store.DedupLock
	writes  []func()
	// uncommitted incidents, visible to this transaction only
	incidents []*store.Incident
}

// InTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(*Tx) error) error {
	tx := &Tx{s: s}
	err := fn(tx)
	s.mu.Lock()
	if err == nil {
		for _, w := range tx.writes {
			w()
		}
	}
	for _, id := range tx.claimed {
		delete(s.locked, id)
	}
	for _, k := range tx.keys {
		delete(s.keyLocks, k)
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	return err
}

// LockPendingAlerts claims up to limit pending alerts no other transaction holds, oldest first.
func (t *Tx) LockPendingAlerts(ctx context.Context, limit int) ([]store.Alert, error) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.alerts))
	for id, a := range s.alerts {
		if a.Status == "pending" && s.locked[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]store.Alert, len(ids))
	for i, id := range ids {
		s.locked[id] = t
		t.claimed = append(t.claimed, id)
		out[i] = *s.alerts[id]
	}
	return out, nil
}

// LockDedupKeys takes the dedup locks, waiting for other transactions that hold one to end.
func (t *Tx) LockDedupKeys(ctx context.Context, locks []store.DedupLock) error {
	s := t.s
	sorted := slices.Clone(locks)
	slices.SortFunc(sorted, func(a, b store.DedupLock) int {
		return cmp.Or(cmp.Compare(a.Playbook, b.Playbook), cmp.Compare(a.Key, b.Key))
	})
	for _, l := range sorted {
		s.mu.Lock()
		notified := false
		for {
			if h := s.keyLocks[l]; h == nil || h == t {
				break
			}
			if cb := s.OnLockWait; cb != nil && !notified {
				notified = true
				s.mu.Unlock()
				cb(l)
				s.mu.Lock()
				continue
			}
			s.cond.Wait()
		}
		s.keyLocks[l] = t
		t.keys = append(t.keys, l)
		s.mu.Unlock()
	}
	return nil
}

// OpenIncidentFor returns the open incident of (playbook, key) whose window covers at.
func (t *Tx) OpenIncidentFor(ctx context.Context, playbook, key string, at time.Time) (store.Incident, bool, error) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *store.Incident
	consider := func(i *store.Incident) {
		if i.PlaybookName == playbook && i.DedupKey == key && i.Status == store.IncidentOpen && i.WindowEndsAt.After(at) &&
			(best == nil || i.WindowEndsAt.After(best.WindowEndsAt)) {
			best = i
		}
	}
	for _, i := range s.incidents {
		consider(i)
	}
	for _, i := range t.incidents {
		consider(i)
	}
	if best == nil {
		return store.Incident{}, false, nil
	}
	return *best, true, nil
}

// InsertIncident opens an incident (visible to others at commit).
func (t *Tx) InsertIncident(ctx context.Context, inc store.Incident) (int64, error) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextInc++ // ids are not reused after a rollback, as with a sequence
	inc.ID, inc.Status, inc.OpenedAt = s.nextInc, store.IncidentOpen, s.now()
	t.incidents = append(t.incidents, &inc)
	t.writes = append(t.writes, func() { c := inc; s.incidents[c.ID] = &c })
	return inc.ID, nil
}

// AttachAlerts links alerts to an incident.
func (t *Tx) AttachAlerts(ctx context.Context, incidentID int64, alertIDs []int64, lastAlertAt time.Time) error {
	s := t.s
	ids := slices.Clone(alertIDs)
	t.writes = append(t.writes, func() {
		inc := s.incidents[incidentID]
		for _, id := range ids {
			if !slices.Contains(s.incAlerts[incidentID], id) {
				s.incAlerts[incidentID] = append(s.incAlerts[incidentID], id)
				inc.AlertCount++
			}
		}
		if lastAlertAt.After(inc.LastAlertAt) {
			inc.LastAlertAt = lastAlertAt
		}
	})
	return nil
}

// InsertRun records a run at commit (an existing id is left alone).
func (t *Tx) InsertRun(ctx context.Context, r store.Run) (bool, error) {
	if err := store.CheckRun(&r); err != nil {
		return false, err
	}
	s := t.s
	s.mu.Lock()
	_, exists := s.runs[r.ID]
	s.mu.Unlock()
	t.writes = append(t.writes, func() { s.insertRun(r) })
	return !exists, nil
}

// Enqueue adds outbox entries at commit.
func (t *Tx) Enqueue(ctx context.Context, entries []store.OutboxEntry) error {
	s := t.s
	es := slices.Clone(entries)
	t.writes = append(t.writes, func() { s.enqueue(es) })
	return nil
}

// MarkDispatched records the batch's outcomes at commit.
func (t *Tx) MarkDispatched(ctx context.Context, outcomes []store.DispatchOutcome) error {
	s := t.s
	os := slices.Clone(outcomes)
	t.writes = append(t.writes, func() {
		now := s.now()
		for _, o := range os {
			a := s.alerts[o.AlertID]
			a.Status, a.Matched, a.LastError, a.DispatchedAt = "dispatched", o.Matched, o.Error, &now
		}
	})
	return nil
}

// ListenAlerts has nothing to listen to: it blocks until ctx ends (tests call DispatchOnce or Drain).
func (s *Store) ListenAlerts(ctx context.Context, wake func()) error {
	wake()
	<-ctx.Done()
	return ctx.Err()
}
