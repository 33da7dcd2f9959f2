package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

// ledgerLockClass is the first key of the advisory locks that keep two attempts of one step from posting at
// once (an attempt that outlived its timeout on a partitioned worker while the retry started elsewhere).
const ledgerLockClass = 0x6d697467 // "mitg"

// lock takes the step's posting lock for the duration of post. The lock belongs to a dedicated connection, so
// it is released when the worker dies and its connection closes.
func (l ledger) lock(ctx context.Context, runID, step string, post func() error) error {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("locking the mitigation ledger: %w", err)
	}
	defer conn.Release()
	key := runID + "/" + step
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, hashtext($2))`, ledgerLockClass, key).Scan(&ok); err != nil {
		return fmt.Errorf("locking the mitigation ledger: %w", err)
	}
	if !ok {
		return &failure{typ: action.VendorUnavailable, delay: 0,
			msg: fmt.Sprintf("another attempt of step %s is still posting its batches; this one will retry", step)}
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1::int4, hashtext($2))`, ledgerLockClass, key); err != nil {
			// A lock that could not be released must not go back to the pool with its connection.
			conn.Conn().Close(uctx)
		}
	}()
	return post()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
