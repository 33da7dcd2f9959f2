package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Outbox entry kinds.
const (
	OutboxStart  = "start"  // start the run's workflow
	OutboxSignal = "signal" // signal the alert to the run's workflow
)

// OutboxEntry is one thing to do in Temporal after the transaction that queued it committed.
type OutboxEntry struct {
	ID       int64
	Kind     string
	RunID    string
	AlertID  int64 // signal entries
	Attempts int   // claims so far, this one included
}

func enqueue(ctx context.Context, q Querier, entries []OutboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	kinds, runIDs, alertIDs := make([]string, len(entries)), make([]string, len(entries)), make([]*int64, len(entries))
	for i, e := range entries {
		kinds[i], runIDs[i] = e.Kind, e.RunID
		if e.Kind == OutboxSignal {
			id := e.AlertID
			alertIDs[i] = &id
		}
	}
	_, err := q.Exec(ctx, `INSERT INTO outbox (kind, run_id, alert_id)
		SELECT kind, run_id, alert_id FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS t(kind, run_id, alert_id, ord)
		ORDER BY ord`, kinds, runIDs, alertIDs)
	if err != nil {
		return fmt.Errorf("queueing %d outbox entries: %w", len(entries), err)
	}
	return nil
}

// ClaimOutbox leases up to limit entries nobody holds, oldest first, for lease: until then no other processor
// takes them. Entries of one run come back in the order they were queued.
func (s *Store) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]OutboxEntry, error) {
	return s.claimOutbox(ctx, `SELECT id FROM outbox WHERE claimed_until < now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
		lease, limit)
}

// ClaimOutboxOf leases the unheld entries of one run (a manual start carried out at once).
func (s *Store) ClaimOutboxOf(ctx context.Context, runID string, lease time.Duration) ([]OutboxEntry, error) {
	return s.claimOutbox(ctx, `SELECT id FROM outbox WHERE run_id = $1 AND claimed_until < now() ORDER BY id FOR UPDATE SKIP LOCKED`,
		lease, runID)
}

func (s *Store) claimOutbox(ctx context.Context, pick string, lease time.Duration, arg any) ([]OutboxEntry, error) {
	rows, err := s.Pool.Query(ctx, `UPDATE outbox SET claimed_until = now() + $2 * interval '1 millisecond', attempts = attempts + 1
		WHERE id IN (`+pick+`) RETURNING id, kind, run_id, coalesce(alert_id, 0), attempts`, arg, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claiming outbox entries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutboxEntry, error) {
		var e OutboxEntry
		return e, row.Scan(&e.ID, &e.Kind, &e.RunID, &e.AlertID, &e.Attempts)
	})
	if err != nil {
		return nil, fmt.Errorf("claiming outbox entries: %w", err)
	}
	// UPDATE … RETURNING gives no order.
	slices.SortFunc(out, func(a, b OutboxEntry) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// OutboxFailure is an entry that could not be carried out: it is retried after RetryIn.
type OutboxFailure struct {
	ID      int64
	Error   string
	RetryIn time.Duration
}

// FinishOutbox deletes the entries done and releases the failed ones until their retry time.
func (s *Store) FinishOutbox(ctx context.Context, done []int64, failed []OutboxFailure) error {
	if len(done) > 0 {
		if _, err := s.Pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, done); err != nil {
			return fmt.Errorf("finishing %d outbox entries: %w", len(done), err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	ids, msgs, waits := make([]int64, len(failed)), make([]string, len(failed)), make([]int64, len(failed))
	for i, f := range failed {
		ids[i], msgs[i], waits[i] = f.ID, truncate(f.Error, 2000), f.RetryIn.Milliseconds()
	}
	_, err := s.Pool.Exec(ctx, `UPDATE outbox o SET last_error = f.err, claimed_until = now() + f.wait * interval '1 millisecond'
		FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS f(id, err, wait) WHERE o.id = f.id`, ids, msgs, waits)
	if err != nil {
		return fmt.Errorf("recording %d failed outbox entries: %w", len(failed), err)
	}
	return nil
}

// OutboxStats summarises the outbox (metrics, readiness detail).
type OutboxStats struct {
	Pending  int
	Failing  int // entries with at least one failed attempt
	OldestAt time.Time
}

// OutboxStats counts the outbox's entries.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	var oldest *time.Time
	err := s.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE last_error <> ''), min(created_at) FROM outbox`).
		Scan(&st.Pending, &st.Failing, &oldest)
	if err != nil {
		return st, fmt.Errorf("counting outbox entries: %w", err)
	}
	if oldest != nil {
		st.OldestAt = *oldest
	}
	return st, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
