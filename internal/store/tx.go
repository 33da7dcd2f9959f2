package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tx is one transaction of the queries that must commit together (a dispatch batch: alerts claimed, incidents
// opened, runs recorded, outbox entries queued). Get one from InTx; it is only valid inside that function.
type Tx struct{ tx pgx.Tx }

// InTx runs fn in one transaction, committed when fn returns nil and rolled back otherwise. Nothing in fn may
// wait on the network beyond PostgreSQL: a transaction is never held across a call another process waits on.
func (s *Store) InTx(ctx context.Context, fn func(*Tx) error) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return fn(&Tx{tx: tx}) })
}

// LockPendingAlerts locks up to limit pending alerts, oldest first, skipping alerts another dispatcher holds.
func (t *Tx) LockPendingAlerts(ctx context.Context, limit int) ([]Alert, error) {
	return lockPendingAlerts(ctx, t.tx, limit)
}

// LockDedupKeys takes transaction-scoped locks on (playbook, key) pairs, so two dispatchers never open two
// incidents for one key.
func (t *Tx) LockDedupKeys(ctx context.Context, locks []DedupLock) error {
	return lockDedupKeys(ctx, t.tx, locks)
}

// OpenIncidentFor returns the open incident of (playbook, key) whose window covers at, if any.
func (t *Tx) OpenIncidentFor(ctx context.Context, playbook, key string, at time.Time) (Incident, bool, error) {
	return openIncidentFor(ctx, t.tx, playbook, key, at)
}

// InsertIncident opens an incident and returns its id.
func (t *Tx) InsertIncident(ctx context.Context, inc Incident) (int64, error) {
	return insertIncident(ctx, t.tx, inc)
}

// AttachAlerts links alerts to an incident and counts them.
func (t *Tx) AttachAlerts(ctx context.Context, incidentID int64, alertIDs []int64, lastAlertAt time.Time) error {
	return attachAlerts(ctx, t.tx, incidentID, alertIDs, lastAlertAt)
}

// InsertRun records a new run (see the package function InsertRun).
func (t *Tx) InsertRun(ctx context.Context, r Run) (bool, error) { return InsertRun(ctx, t.tx, r) }

// Enqueue adds entries to the outbox.
func (t *Tx) Enqueue(ctx context.Context, entries []OutboxEntry) error {
	return enqueue(ctx, t.tx, entries)
}

// MarkDispatched records the outcomes of a dispatch batch.
func (t *Tx) MarkDispatched(ctx context.Context, outcomes []DispatchOutcome) error {
	return markDispatched(ctx, t.tx, outcomes)
}

// InsertRun records a new run on its own (see the package function InsertRun).
func (s *Store) InsertRun(ctx context.Context, r Run) (bool, error) { return InsertRun(ctx, s.Pool, r) }

// RecordRun stores a run and the outbox entry that starts it in one transaction, and returns whether the run
// was new and the entry (zero when the id existed: nothing was queued). With hold > 0 the entry is recorded
// already leased to the caller for hold (and counted as its first attempt), so that no outbox pass takes it
// while the caller carries it out at once: a manual start answers with the run started, never with a run
// another process is starting. If the caller dies first, the lease runs out and an outbox pass starts the run.
func (s *Store) RecordRun(ctx context.Context, r Run, hold time.Duration) (inserted bool, entry OutboxEntry, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		var err error
		if inserted, err = tx.InsertRun(ctx, r); err != nil || !inserted {
			return err
		}
		entry = OutboxEntry{Kind: OutboxStart, RunID: r.ID}
		return tx.tx.QueryRow(ctx, `INSERT INTO outbox (kind, run_id, claimed_until, attempts)
			SELECT $1, $2, CASE WHEN $3::bigint > 0 THEN now() + $3 * interval '1 millisecond' ELSE '-infinity' END,
				CASE WHEN $3::bigint > 0 THEN 1 ELSE 0 END
			RETURNING id, attempts`, entry.Kind, entry.RunID, hold.Milliseconds()).Scan(&entry.ID, &entry.Attempts)
	})
	if err != nil {
		return false, OutboxEntry{}, fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	return inserted, entry, nil
}
