package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Mitigation item states (mitigation_items.state).
const (
	ItemQueued  = "queued"
	ItemSending = "sending"
	ItemPosted  = "posted"
	ItemDone    = "done"
)

// Statuses of a done item besides the vendor's own (Success, Skipped, Failed).
const (
	ItemRejected = "Rejected" // the vendor refused the POST that carried it (400, 401, 403…)
	ItemMissing  = "Missing"  // the vendor lists no action for it after every listed action finished
)

// MitigationItem is one mail or account to act on, shared by every run step that asks for it.
type MitigationItem struct {
	ID         int64           `json:"id"`
	Connection string          `json:"connection"`
	Kind       string          `json:"kind"`
	ActionType string          `json:"action_type"`
	Key        string          `json:"key"`
	Payload    json.RawMessage `json:"payload"`
	Priority   int             `json:"priority"`
	State      string          `json:"state"`
	PostID     int64           `json:"post_id,omitempty"`
	BatchIDs   []string        `json:"batch_ids"`
	Status     string          `json:"status,omitempty"`
	Outcome    json.RawMessage `json:"outcome,omitempty"`
	EnqueuedAt time.Time       `json:"enqueued_at"`
	PostedAt   *time.Time      `json:"posted_at,omitempty"`
	DoneAt     *time.Time      `json:"done_at,omitempty"`
	Missing    int             `json:"missing,omitempty"`
	// Owner is the run whose request came first (queued lists only): fairness goes round the owners.
	Owner string `json:"-"`
}

// NewMitigationItem is one item of a request.
type NewMitigationItem struct {
	Key     string
	Payload json.RawMessage
}

// MitigationRequest is what one run step asks for.
type MitigationRequest struct {
	RunID, Step                  string
	Connection, Kind, ActionType string
	Priority                     int
	Items                        []NewMitigationItem
	// ReuseFor is how long a succeeded item is joined by later requests instead of being posted again.
	ReuseFor time.Duration
	// Wait: the request waits for the outcomes, so its items are polled.
	Wait bool
	// TraceParent is the asking step's W3C trace context (empty without tracing).
	TraceParent string
}

// ErrRequestChanged is returned when a run step asks again with other items or another action than it first
// asked: posting them could duplicate what the first request already sent.
var ErrRequestChanged = errors.New("the step was recorded with other items or another action by an earlier attempt")

const itemColumns = `id, connection, kind, action_type, item_key, payload, priority, state, coalesce(post_id, 0), batch_ids,
	status, outcome, enqueued_at, posted_at, done_at, missing`

func scanItem(row pgx.CollectableRow) (MitigationItem, error) {
	var it MitigationItem
	err := row.Scan(&it.ID, &it.Connection, &it.Kind, &it.ActionType, &it.Key, &it.Payload, &it.Priority, &it.State, &it.PostID,
		&it.BatchIDs, &it.Status, &it.Outcome, &it.EnqueuedAt, &it.PostedAt, &it.DoneAt, &it.Missing)
	return it, err
}

// EnqueueMitigation records a run step's request and returns its items in the order given. Asking again (a
// retried attempt) returns the items recorded the first time. Each item joins the live item with the same
// (connection, kind, action, key) if there is one (queued, out, or succeeded within ReuseFor), else is queued.
func (s *Store) EnqueueMitigation(ctx context.Context, req MitigationRequest) ([]MitigationItem, error) {
	var out []MitigationItem
	err := s.InTx(ctx, func(tx *Tx) error {
		existing, err := requestItems(ctx, tx.tx, req.RunID, req.Step)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			if len(existing) != len(req.Items) {
				return ErrRequestChanged
			}
			for i, it := range existing {
				if it.Key != req.Items[i].Key || it.ActionType != req.ActionType || it.Kind != req.Kind || it.Connection != req.Connection {
					return ErrRequestChanged
				}
			}
			out = existing
			if req.Wait {
				// Asked again, now waiting (a retried step whose first attempt did not): its items get polled.
				ids := make([]int64, len(existing))
				for i, it := range existing {
					ids[i] = it.ID
				}
				_, err := tx.tx.Exec(ctx, `UPDATE mitigation_items SET awaited = true WHERE id = ANY($1) AND NOT awaited`, ids)
				return err
			}
			return nil
		}
		legacy, err := legacyChunks(ctx, tx.tx, req.RunID, req.Step)
		if err != nil {
			return err
		}
		out = make([]MitigationItem, 0, len(req.Items))
		for ord, ni := range req.Items {
			it, err := liveItem(ctx, tx.tx, req, ni, legacy)
			if err != nil {
				return err
			}
			if _, err := tx.tx.Exec(ctx, `INSERT INTO mitigation_requests (run_id, step_id, item_id, ord, trace_parent) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT DO NOTHING`, req.RunID, req.Step, it.ID, ord, req.TraceParent); err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrRequestChanged) {
			return nil, err
		}
		return nil, fmt.Errorf("queueing %d %s for step %s of run %s: %w", len(req.Items), req.Kind, req.Step, req.RunID, err)
	}
	return out, nil
}

// liveItem finds the item a request joins, or queues a new one.
func liveItem(ctx context.Context, tx pgx.Tx, req MitigationRequest, ni NewMitigationItem, legacy map[string]legacyChunk) (MitigationItem, error) {
	find := func() (MitigationItem, bool, error) {
		rows, err := tx.Query(ctx, `SELECT `+itemColumns+` FROM mitigation_items
			WHERE connection = $1 AND kind = $2 AND action_type = $3 AND item_key = $4 AND NOT retired FOR UPDATE`,
			req.Connection, req.Kind, req.ActionType, ni.Key)
		if err != nil {
			return MitigationItem{}, false, err
		}
		it, err := pgx.CollectExactlyOneRow(rows, scanItem)
		if errors.Is(err, pgx.ErrNoRows) {
			return MitigationItem{}, false, nil
		}
		return it, err == nil, err
	}
	it, found, err := find()
	if err != nil {
		return it, err
	}
	if found {
		stale := it.State == ItemDone && (it.Status != "Success" && it.Status != "Skipped" ||
			it.DoneAt != nil && time.Since(*it.DoneAt) > req.ReuseFor)
		if !stale {
			if req.Wait && it.State != ItemDone {
				_, err := tx.Exec(ctx, `UPDATE mitigation_items SET awaited = true WHERE id = $1 AND NOT awaited`, it.ID)
				return it, err
			}
			return it, nil
		}
		if _, err := tx.Exec(ctx, `UPDATE mitigation_items SET retired = true WHERE id = $1`, it.ID); err != nil {
			return it, err
		}
	}
	state, batchIDs, postID := ItemQueued, []string{}, (*int64)(nil)
	var postedAt *time.Time
	if lc, ok := legacy[ni.Key]; ok && lc.actionType == req.ActionType {
		// Posted by the per-step ledger that came before the broker: carry what it knows over.
		switch lc.state {
		case "accepted":
			state, batchIDs, postedAt = ItemPosted, lc.batchIDs, &lc.firstSentAt
		case "sending":
			id, err := legacyPost(ctx, tx, req, lc)
			if err != nil {
				return it, err
			}
			state, postID = ItemSending, &id
		}
	}
	rows, err := tx.Query(ctx, `INSERT INTO mitigation_items (connection, kind, action_type, item_key, payload, priority, state,
			batch_ids, post_id, posted_at, awaited)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (connection, kind, action_type, item_key) WHERE NOT retired DO NOTHING
		RETURNING `+itemColumns, req.Connection, req.Kind, req.ActionType, ni.Key, ni.Payload, req.Priority, state, batchIDs, postID, postedAt, req.Wait)
	if err != nil {
		return it, err
	}
	it, err = pgx.CollectExactlyOneRow(rows, scanItem)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another request queued it meanwhile: join that one.
		it, found, err = find()
		if err == nil && !found {
			err = fmt.Errorf("item %s vanished while queueing it", ni.Key)
		}
		if err == nil && req.Wait {
			_, err = tx.Exec(ctx, `UPDATE mitigation_items SET awaited = true WHERE id = $1 AND NOT awaited`, it.ID)
		}
	}
	return it, err
}

type legacyChunk struct {
	state, actionType string
	batchIDs          []string
	firstSentAt       time.Time
}

// legacyChunks maps the item keys of a step's rows in the per-step ledger (mitigation_chunks) to their chunk.
func legacyChunks(ctx context.Context, tx pgx.Tx, runID, step string) (map[string]legacyChunk, error) {
	rows, err := tx.Query(ctx, `SELECT item_keys, state, action_type, batch_ids, coalesce(first_sent_at, now())
		FROM mitigation_chunks WHERE run_id = $1 AND step_id = $2 AND (state = 'accepted' OR uncertain)`, runID, step)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]legacyChunk{}
	for rows.Next() {
		var keys, batches []byte
		var lc legacyChunk
		if err := rows.Scan(&keys, &lc.state, &lc.actionType, &batches, &lc.firstSentAt); err != nil {
			return nil, err
		}
		if lc.state != "accepted" {
			lc.state = "sending"
		}
		var ks []string
		if json.Unmarshal(keys, &ks) != nil || json.Unmarshal(batches, &lc.batchIDs) != nil {
			continue
		}
		for _, k := range ks {
			out[k] = lc
		}
	}
	return out, rows.Err()
}

// legacyPost records an uncertain legacy chunk as a post still 'sending', so the flusher looks it up first.
func legacyPost(ctx context.Context, tx pgx.Tx, req MitigationRequest, lc legacyChunk) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO mitigation_posts (connection, kind, action_type, state, items, first_sent_at)
		VALUES ($1, $2, $3, 'sending', 0, $4) RETURNING id`, req.Connection, req.Kind, req.ActionType, lc.firstSentAt).Scan(&id)
	return id, err
}

func requestItems(ctx context.Context, q Querier, runID, step string) ([]MitigationItem, error) {
	rows, err := q.Query(ctx, `SELECT i.id, i.connection, i.kind, i.action_type, i.item_key, i.payload, i.priority, i.state,
			coalesce(i.post_id, 0), i.batch_ids, i.status, i.outcome, i.enqueued_at, i.posted_at, i.done_at, i.missing
		FROM mitigation_requests r JOIN mitigation_items i ON i.id = r.item_id
		WHERE r.run_id = $1 AND r.step_id = $2 ORDER BY r.ord`, runID, step)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanItem)
}

// RequestItems returns a run step's items, in the order it asked for them, as they stand now.
func (s *Store) RequestItems(ctx context.Context, runID, step string) ([]MitigationItem, error) {
	out, err := requestItems(ctx, s.Pool, runID, step)
	if err != nil {
		return nil, fmt.Errorf("reading the mitigation items of step %s of run %s: %w", step, runID, err)
	}
	return out, nil
}

// QueuedMitigations returns up to limit queued items of a connection and kind in the order a fair flush takes
// them: response work before background, then round-robin over the runs that asked (each run's first item,
// then each run's second…), then oldest first.
func (s *Store) QueuedMitigations(ctx context.Context, connection, kind string, limit int) ([]MitigationItem, error) {
	rows, err := s.Pool.Query(ctx, `WITH q AS (
			SELECT i.*, (SELECT r.run_id FROM mitigation_requests r WHERE r.item_id = i.id ORDER BY r.requested_at, r.run_id LIMIT 1) AS owner
			FROM mitigation_items i WHERE i.connection = $1 AND i.kind = $2 AND i.state = 'queued')
		SELECT id, connection, kind, action_type, item_key, payload, priority, state, coalesce(post_id, 0), batch_ids,
			status, outcome, enqueued_at, posted_at, done_at, missing, coalesce(owner, '')
		FROM q ORDER BY priority, row_number() OVER (PARTITION BY priority, action_type, owner ORDER BY id), id LIMIT $3`,
		connection, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the mitigation queue of %s: %w", connection, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (MitigationItem, error) {
		var it MitigationItem
		err := row.Scan(&it.ID, &it.Connection, &it.Kind, &it.ActionType, &it.Key, &it.Payload, &it.Priority, &it.State, &it.PostID,
			&it.BatchIDs, &it.Status, &it.Outcome, &it.EnqueuedAt, &it.PostedAt, &it.DoneAt, &it.Missing, &it.Owner)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the mitigation queue of %s: %w", connection, err)
	}
	return out, nil
}

// MitigationPost is one POST of the ledger.
type MitigationPost struct {
	ID          int64
	Connection  string
	Kind        string
	ActionType  string
	State       string
	Items       int
	BatchID     string
	TraceID     string
	FirstSentAt time.Time
}

// BeginPost records, before it is sent, that a POST carries the items: from here until AcceptPost, ReleasePost
// or RejectPost the vendor may have them.
func (s *Store) BeginPost(ctx context.Context, connection, kind, actionType string, itemIDs []int64) (int64, error) {
	var id int64
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := tx.tx.QueryRow(ctx, `INSERT INTO mitigation_posts (connection, kind, action_type, state, items)
			VALUES ($1, $2, $3, 'sending', $4) RETURNING id`, connection, kind, actionType, len(itemIDs)).Scan(&id); err != nil {
			return err
		}
		tag, err := tx.tx.Exec(ctx, `UPDATE mitigation_items SET state = 'sending', post_id = $2 WHERE id = ANY($1) AND state = 'queued'`, itemIDs, id)
		if err != nil {
			return err
		}
		if int(tag.RowsAffected()) != len(itemIDs) {
			return fmt.Errorf("%d of the %d items are no longer queued", len(itemIDs)-int(tag.RowsAffected()), len(itemIDs))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("recording a POST of %d %s in the mitigation ledger: %w", len(itemIDs), kind, err)
	}
	return id, nil
}

// AcceptPost records the vendor's batch id: the post's items are posted.
func (s *Store) AcceptPost(ctx context.Context, postID int64, batchID, traceID string) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.Exec(ctx, `UPDATE mitigation_posts SET state = 'accepted', batch_id = $2, trace_id = $3, updated_at = now()
			WHERE id = $1`, postID, batchID, traceID); err != nil {
			return err
		}
		_, err := tx.tx.Exec(ctx, `UPDATE mitigation_items SET state = 'posted', batch_ids = array_append(batch_ids, $2), posted_at = now()
			WHERE post_id = $1 AND state = 'sending'`, postID, batchID)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording batch %s in the mitigation ledger: %w", batchID, err)
	}
	return nil
}

// ReleasePost records a POST the vendor certainly did not apply: its items are queued again.
func (s *Store) ReleasePost(ctx context.Context, postID int64) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.Exec(ctx, `UPDATE mitigation_posts SET state = 'not_sent', updated_at = now() WHERE id = $1`, postID); err != nil {
			return err
		}
		_, err := tx.tx.Exec(ctx, `UPDATE mitigation_items SET state = 'queued', post_id = NULL WHERE post_id = $1 AND state = 'sending'`, postID)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording an unsent POST in the mitigation ledger: %w", err)
	}
	return nil
}

// RejectPost records a POST the vendor refused: its items are done as ItemRejected with the error's type and
// message, and retired (a later request posts them afresh).
func (s *Store) RejectPost(ctx context.Context, postID int64, errType, message string) error {
	outcome, _ := json.Marshal(map[string]string{"error": message, "type": errType})
	status := ItemRejected
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.Exec(ctx, `UPDATE mitigation_posts SET state = 'rejected', updated_at = now() WHERE id = $1`, postID); err != nil {
			return err
		}
		_, err := tx.tx.Exec(ctx, `UPDATE mitigation_items SET state = 'done', status = $2, outcome = $3, done_at = now(), retired = true
			WHERE post_id = $1 AND state = 'sending'`, postID, status, outcome)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording a refused POST in the mitigation ledger: %w", err)
	}
	return nil
}

// SendingPosts returns a connection's posts still 'sending': with no flusher posting them, they may or may not
// have reached the vendor.
func (s *Store) SendingPosts(ctx context.Context, connection, kind string) ([]MitigationPost, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, connection, kind, action_type, state, items, batch_id, trace_id, first_sent_at
		FROM mitigation_posts WHERE connection = $1 AND kind = $2 AND state = 'sending' ORDER BY id`, connection, kind)
	if err != nil {
		return nil, fmt.Errorf("reading the mitigation ledger: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (MitigationPost, error) {
		var p MitigationPost
		return p, row.Scan(&p.ID, &p.Connection, &p.Kind, &p.ActionType, &p.State, &p.Items, &p.BatchID, &p.TraceID, &p.FirstSentAt)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the mitigation ledger: %w", err)
	}
	return out, nil
}

// PostItems returns the items a post carries (or carried).
func (s *Store) PostItems(ctx context.Context, postID int64) ([]MitigationItem, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+itemColumns+` FROM mitigation_items WHERE post_id = $1 ORDER BY id`, postID)
	if err != nil {
		return nil, fmt.Errorf("reading the items of a POST: %w", err)
	}
	return pgx.CollectRows(rows, scanItem)
}

// ResolvePost settles a post left 'sending' after a lookup of the vendor's actions: the items found are posted
// (with the batch ids they were found in), the others are queued again.
func (s *Store) ResolvePost(ctx context.Context, postID int64, found map[int64][]string) error {
	ids, batches := make([]int64, 0, len(found)), make([]string, 0, len(found))
	for id, bs := range found {
		b, _ := json.Marshal(bs)
		ids, batches = append(ids, id), append(batches, string(b))
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.Exec(ctx, `UPDATE mitigation_posts SET state = 'resolved', updated_at = now() WHERE id = $1`, postID); err != nil {
			return err
		}
		if _, err := tx.tx.Exec(ctx, `UPDATE mitigation_items i SET state = 'posted', posted_at = now(),
				batch_ids = ARRAY(SELECT jsonb_array_elements_text(f.b::jsonb))
			FROM unnest($2::bigint[], $3::text[]) AS f(id, b) WHERE i.id = f.id AND i.post_id = $1 AND i.state = 'sending'`,
			postID, ids, batches); err != nil {
			return err
		}
		_, err := tx.tx.Exec(ctx, `UPDATE mitigation_items SET state = 'queued', post_id = NULL WHERE post_id = $1 AND state = 'sending'`, postID)
		return err
	})
	if err != nil {
		return fmt.Errorf("settling an uncertain POST in the mitigation ledger: %w", err)
	}
	return nil
}

// OutstandingMitigations returns a connection's posted items that some request waits for and that have no
// outcome yet, oldest first.
func (s *Store) OutstandingMitigations(ctx context.Context, connection, kind string) ([]MitigationItem, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+itemColumns+` FROM mitigation_items
		WHERE connection = $1 AND kind = $2 AND state = 'posted' AND awaited ORDER BY id`, connection, kind)
	if err != nil {
		return nil, fmt.Errorf("reading the outstanding mitigations of %s: %w", connection, err)
	}
	return pgx.CollectRows(rows, scanItem)
}

// MitigationOutcome is what a poll learned of one posted item: its outcome (Status set), or that it is still
// missing from the vendor's list (Missing counts the polls in a row).
type MitigationOutcome struct {
	ItemID  int64
	Status  string
	Outcome json.RawMessage
	Missing int
}

// RecordMitigationOutcomes stores what a poll learned.
func (s *Store) RecordMitigationOutcomes(ctx context.Context, outs []MitigationOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	ids, statuses, outcomes, missing := make([]int64, len(outs)), make([]string, len(outs)), make([]*string, len(outs)), make([]int32, len(outs))
	for i, o := range outs {
		ids[i], statuses[i], missing[i] = o.ItemID, o.Status, int32(o.Missing)
		if len(o.Outcome) > 0 {
			s := string(o.Outcome)
			outcomes[i] = &s
		}
	}
	_, err := s.Pool.Exec(ctx, `UPDATE mitigation_items i SET
			state = CASE WHEN o.status <> '' THEN 'done' ELSE i.state END,
			status = o.status, outcome = coalesce(o.outcome::jsonb, i.outcome),
			done_at = CASE WHEN o.status <> '' THEN now() ELSE i.done_at END,
			retired = i.retired OR o.status NOT IN ('', 'Success', 'Skipped'),
			missing = o.missing
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[]) AS o(id, status, outcome, missing)
		WHERE i.id = o.id AND i.state = 'posted'`, ids, statuses, outcomes, missing)
	if err != nil {
		return fmt.Errorf("recording %d mitigation outcomes: %w", len(outs), err)
	}
	return nil
}

// Requester is one run step with items in a post, and how many.
type Requester struct {
	RunID string
	Step  string
	Items int
	// TraceParent is the step's W3C trace context when it asked (empty without tracing).
	TraceParent string
}

// PostRequesters lists the run steps whose items a post carries (for their audit rows).
func (s *Store) PostRequesters(ctx context.Context, postID int64) ([]Requester, error) {
	rows, err := s.Pool.Query(ctx, `SELECT r.run_id, r.step_id, count(*), max(r.trace_parent) FROM mitigation_requests r
		JOIN mitigation_items i ON i.id = r.item_id WHERE i.post_id = $1 GROUP BY r.run_id, r.step_id ORDER BY r.run_id, r.step_id`, postID)
	if err != nil {
		return nil, fmt.Errorf("reading who asked for a POST's items: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Requester, error) {
		var r Requester
		return r, row.Scan(&r.RunID, &r.Step, &r.Items, &r.TraceParent)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MitigationQueueStats counts a connection's queue, for metrics and run views.
type MitigationQueueStats struct {
	Connection string
	Kind       string
	Queued     int
	Out        int // sending or posted, no outcome yet
	OldestAt   time.Time
}

// MitigationQueues counts every connection's queue.
func (s *Store) MitigationQueues(ctx context.Context) ([]MitigationQueueStats, error) {
	rows, err := s.Pool.Query(ctx, `SELECT connection, kind, count(*) FILTER (WHERE state = 'queued'),
			count(*) FILTER (WHERE state IN ('sending', 'posted')), coalesce(min(enqueued_at) FILTER (WHERE state = 'queued'), 'epoch')
		FROM mitigation_items WHERE state <> 'done' GROUP BY connection, kind ORDER BY connection, kind`)
	if err != nil {
		return nil, fmt.Errorf("counting the mitigation queues: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (MitigationQueueStats, error) {
		var q MitigationQueueStats
		return q, row.Scan(&q.Connection, &q.Kind, &q.Queued, &q.Out, &q.OldestAt)
	})
	if err != nil {
		return nil, err
	}
	return slices.Clip(out), nil
}

// FlusherPoll returns when a connection's flusher last read outcomes and the wait it set for the next read
// (zero before the first).
func (s *Store) FlusherPoll(ctx context.Context, connection, kind string) (time.Time, time.Duration, error) {
	var at time.Time
	var ms int64
	err := s.Pool.QueryRow(ctx, `SELECT last_poll_at, poll_delay FROM mitigation_flushers WHERE connection = $1 AND kind = $2`,
		connection, kind).Scan(&at, &ms)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, 0, nil
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("reading the flusher of %s: %w", connection, err)
	}
	return at, time.Duration(ms) * time.Millisecond, nil
}

// SetFlusherPoll records a read of outcomes and the wait before the next.
func (s *Store) SetFlusherPoll(ctx context.Context, connection, kind string, at time.Time, delay time.Duration) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO mitigation_flushers (connection, kind, last_poll_at, poll_delay) VALUES ($1, $2, $3, $4)
		ON CONFLICT (connection, kind) DO UPDATE SET last_poll_at = excluded.last_poll_at, poll_delay = excluded.poll_delay`,
		connection, kind, at, delay.Milliseconds())
	if err != nil {
		return fmt.Errorf("recording the flusher of %s: %w", connection, err)
	}
	return nil
}

// FlusherState is what a connection's flusher last left waiting: a partial batch of Fill of BatchSize items
// that goes at FlushAt (nil: nothing waits for a batch), and the vendor failure it waits out. At is when the
// flusher wrote it.
type FlusherState struct {
	Fill      int
	BatchSize int
	FlushAt   *time.Time
	LastError string
	At        time.Time
}

// SetFlusherState records what the flusher of a connection and kind leaves waiting.
func (s *Store) SetFlusherState(ctx context.Context, connection, kind string, st FlusherState) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO mitigation_flusher_states (connection, kind, fill, batch_size, flush_at, last_error, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())
		ON CONFLICT (connection, kind) DO UPDATE SET fill = excluded.fill, batch_size = excluded.batch_size,
			flush_at = excluded.flush_at, last_error = excluded.last_error, updated_at = excluded.updated_at`,
		connection, kind, st.Fill, st.BatchSize, st.FlushAt, st.LastError)
	if err != nil {
		return fmt.Errorf("recording the flusher state of %s: %w", connection, err)
	}
	return nil
}

// GetFlusherState reads what the flusher of a connection and kind last left waiting; the zero state when no
// flusher ever ran.
func (s *Store) GetFlusherState(ctx context.Context, connection, kind string) (FlusherState, error) {
	var st FlusherState
	err := s.Pool.QueryRow(ctx, `SELECT fill, batch_size, flush_at, last_error, updated_at FROM mitigation_flusher_states
		WHERE connection = $1 AND kind = $2`, connection, kind).Scan(&st.Fill, &st.BatchSize, &st.FlushAt, &st.LastError, &st.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return FlusherState{}, nil
	}
	if err != nil {
		return FlusherState{}, fmt.Errorf("reading the flusher state of %s: %w", connection, err)
	}
	return st, nil
}

// MitigationTimeline says when a connection's mitigation items were queued and posted, how many went in how many
// POSTs, and when the runs of playbooks named with a prefix were recorded and started (parry bench's --verbose).
type MitigationTimeline struct {
	QueuedFirst, QueuedLast, PostedFirst, PostedLast time.Time
	Items, Posts                                     int
	RunsRecordedFirst, RunsStartedLast               time.Time
}

// GetMitigationTimeline reads a connection's MitigationTimeline, with the runs of playbooks whose names start
// with runPrefix recorded since since.
func (s *Store) GetMitigationTimeline(ctx context.Context, conn, runPrefix string, since time.Time) (MitigationTimeline, error) {
	var tl MitigationTimeline
	var q0, q1, p0, p1, r0, r1 *time.Time
	err := s.Pool.QueryRow(ctx, `SELECT min(enqueued_at), max(enqueued_at), min(posted_at), max(posted_at),
			count(DISTINCT post_id), count(*) FROM mitigation_items WHERE connection = $1`, conn).Scan(&q0, &q1, &p0, &p1, &tl.Posts, &tl.Items)
	if err != nil {
		return tl, fmt.Errorf("reading the mitigation timeline of %s: %w", conn, err)
	}
	err = s.Pool.QueryRow(ctx, `SELECT min(created_at), max(started_at) FROM runs WHERE starts_with(playbook_name, $1) AND created_at >= $2`,
		runPrefix, since).Scan(&r0, &r1)
	if err != nil {
		return tl, fmt.Errorf("reading the runs' timeline: %w", err)
	}
	for _, p := range []struct {
		dst *time.Time
		src *time.Time
	}{{&tl.QueuedFirst, q0}, {&tl.QueuedLast, q1}, {&tl.PostedFirst, p0}, {&tl.PostedLast, p1}, {&tl.RunsRecordedFirst, r0}, {&tl.RunsStartedLast, r1}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return tl, nil
}
