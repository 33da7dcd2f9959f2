package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parry-soar/parry/internal/action"
)

// Chunk states in the mitigation ledger.
const (
	chunkSending  = "sending"
	chunkAccepted = "accepted"
	chunkNotSent  = "not_sent"
)

// chunkRow is one posted (or to-be-posted) batch of a mitigation step.
type chunkRow struct {
	Chunk       int
	Kind        string
	Connection  string
	ActionType  string
	Keys        []string
	State       string
	Uncertain   bool
	FirstSentAt time.Time
	BatchIDs    []string
	Sends       int
	Audited     bool
}

// ledger reads and writes mitigation_chunks.
type ledger struct {
	pool *pgxpool.Pool
}

func (l ledger) load(ctx context.Context, runID, step string) (map[int]chunkRow, error) {
	rows, err := l.pool.Query(ctx, `SELECT chunk, kind, connection, action_type, item_keys, state, uncertain,
			coalesce(first_sent_at, 'epoch'), batch_ids, sends, audited
		FROM mitigation_chunks WHERE run_id = $1 AND step_id = $2`, runID, step)
	if err != nil {
		return nil, fmt.Errorf("reading the mitigation ledger: %w", err)
	}
	defer rows.Close()
	out := map[int]chunkRow{}
	for rows.Next() {
		var r chunkRow
		var keys, batches []byte
		if err := rows.Scan(&r.Chunk, &r.Kind, &r.Connection, &r.ActionType, &keys, &r.State, &r.Uncertain,
			&r.FirstSentAt, &batches, &r.Sends, &r.Audited); err != nil {
			return nil, fmt.Errorf("reading the mitigation ledger: %w", err)
		}
		if err := json.Unmarshal(keys, &r.Keys); err != nil {
			return nil, fmt.Errorf("reading the mitigation ledger: item keys of chunk %d: %w", r.Chunk, err)
		}
		if err := json.Unmarshal(batches, &r.BatchIDs); err != nil {
			return nil, fmt.Errorf("reading the mitigation ledger: batch ids of chunk %d: %w", r.Chunk, err)
		}
		if r.FirstSentAt.Unix() == 0 {
			r.FirstSentAt = time.Time{}
		}
		out[r.Chunk] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the mitigation ledger: %w", err)
	}
	return out, nil
}

// markSending records, before the POST, that chunk is about to be sent: from here until markAccepted or
// markNotSent, the vendor may have the batch.
func (l ledger) markSending(ctx context.Context, runID, step string, r chunkRow, now time.Time) error {
	keys, _ := json.Marshal(r.Keys)
	batches, _ := json.Marshal(nonNil(r.BatchIDs))
	_, err := l.pool.Exec(ctx, `INSERT INTO mitigation_chunks
			(run_id, step_id, chunk, kind, connection, action_type, item_keys, state, uncertain, first_sent_at, batch_ids, sends)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'sending', true, $8, $9, 1)
		ON CONFLICT (run_id, step_id, chunk) DO UPDATE SET state = 'sending', uncertain = true,
			first_sent_at = coalesce(mitigation_chunks.first_sent_at, excluded.first_sent_at),
			batch_ids = excluded.batch_ids, sends = mitigation_chunks.sends + 1, updated_at = now()`,
		runID, step, r.Chunk, r.Kind, r.Connection, r.ActionType, keys, now, batches)
	if err != nil {
		return fmt.Errorf("recording chunk %d in the mitigation ledger: %w", r.Chunk, err)
	}
	return nil
}

// markAccepted records the chunk's batch ids; the chunk is never posted again.
func (l ledger) markAccepted(ctx context.Context, runID, step string, chunk int, batchIDs []string, audited bool) error {
	batches, _ := json.Marshal(nonNil(batchIDs))
	_, err := l.pool.Exec(ctx, `UPDATE mitigation_chunks SET state = 'accepted', uncertain = false, batch_ids = $4,
			audited = $5, updated_at = now()
		WHERE run_id = $1 AND step_id = $2 AND chunk = $3`, runID, step, chunk, batches, audited)
	if err != nil {
		return fmt.Errorf("recording batch of chunk %d in the mitigation ledger: %w", chunk, err)
	}
	return nil
}

// markAcceptedFound records a chunk whose items were all found at the vendor by a lookup.
func (l ledger) markAcceptedFound(ctx context.Context, runID, step string, r chunkRow) error {
	return l.markAccepted(ctx, runID, step, r.Chunk, r.BatchIDs, true)
}

// markNotSent records a POST the vendor certainly did not apply. uncertain stays true when an earlier POST
// of the chunk may still have reached the vendor.
func (l ledger) markNotSent(ctx context.Context, runID, step string, chunk int, uncertain bool) error {
	_, err := l.pool.Exec(ctx, `UPDATE mitigation_chunks SET state = 'not_sent', uncertain = $4, updated_at = now()
		WHERE run_id = $1 AND step_id = $2 AND chunk = $3`, runID, step, chunk, uncertain)
	if err != nil {
		return fmt.Errorf("recording chunk %d as not sent in the mitigation ledger: %w", chunk, err)
	}
	return nil
}

func (l ledger) markAudited(ctx context.Context, runID, step string, chunk int) error {
	_, err := l.pool.Exec(ctx, `UPDATE mitigation_chunks SET audited = true, updated_at = now()
		WHERE run_id = $1 AND step_id = $2 AND chunk = $3`, runID, step, chunk)
	if err != nil {
		return fmt.Errorf("recording the audit of chunk %d in the mitigation ledger: %w", chunk, err)
	}
	return nil
}

// leaseTTL is how long a mitigation lease lasts unless renewed; the holder renews it before every batch,
// each of which takes at most a vendor timeout or two.
const leaseTTL = 3 * time.Minute

// lease is an attempt's exclusive right to post a step's batches. It is a row rather than a lock held on a
// connection, so that waiting mitigations never pin the pool's connections.
type lease struct {
	l      ledger
	runID  string
	step   string
	holder string
}

// acquire takes the step's lease for holder, unless another holder has a live one.
func (l ledger) acquire(ctx context.Context, runID, step, holder string) (*lease, error) {
	ls := &lease{l: l, runID: runID, step: step, holder: holder}
	if err := ls.take(ctx); err != nil {
		return nil, err
	}
	return ls, nil
}

func (ls *lease) take(ctx context.Context) error {
	var got string
	err := ls.l.pool.QueryRow(ctx, `INSERT INTO mitigation_leases (run_id, step_id, holder, expires_at)
		VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
		ON CONFLICT (run_id, step_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE mitigation_leases.holder = excluded.holder OR mitigation_leases.expires_at < now()
		RETURNING holder`, ls.runID, ls.step, ls.holder, leaseTTL.Milliseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return &failure{typ: action.VendorUnavailable,
			msg: fmt.Sprintf("another attempt of step %s is still posting its batches; this one will retry", ls.step)}
	}
	if err != nil {
		return fmt.Errorf("taking the mitigation lease: %w", err)
	}
	return nil
}

// renew extends the lease before the next batch; it fails when the lease expired and another attempt took it.
func (ls *lease) renew(ctx context.Context) error { return ls.take(ctx) }

// release gives the lease up, even when ctx was cancelled.
func (ls *lease) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// A lease that could not be deleted expires on its own.
	_, _ = ls.l.pool.Exec(rctx, `DELETE FROM mitigation_leases WHERE run_id = $1 AND step_id = $2 AND holder = $3`,
		ls.runID, ls.step, ls.holder)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
