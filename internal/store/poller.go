package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PollCursor is where the log poller of one connection stands in one stream.
type PollCursor struct {
	Connection string `json:"connection"`
	Stream     string `json:"stream"`
	// Position is the vendor's last_log_item_generation_time of the last page stored.
	Position time.Time `json:"position"`
	// SeenIDs are the ids stored from the pages at Position, which the next query (starting at Position,
	// inclusive) returns again.
	SeenIDs []string `json:"seen_ids,omitempty"`
	// Events and Alerts count what the stream read and how many of those were new alerts.
	Events   int64      `json:"events"`
	Alerts   int64      `json:"alerts"`
	PolledAt time.Time  `json:"polled_at"`
	GapFrom  *time.Time `json:"gap_from,omitempty"`
	GapTo    *time.Time `json:"gap_to,omitempty"`
}

const cursorColumns = "connection, stream, position, seen_ids, events, alerts, polled_at, gap_from, gap_to"

func scanCursor(row pgx.CollectableRow) (PollCursor, error) {
	var c PollCursor
	err := row.Scan(&c.Connection, &c.Stream, &c.Position, &c.SeenIDs, &c.Events, &c.Alerts, &c.PolledAt, &c.GapFrom, &c.GapTo)
	return c, err
}

// GetPollCursor returns the cursor of one stream; found is false before the stream's first page.
func (s *Store) GetPollCursor(ctx context.Context, connection, stream string) (PollCursor, bool, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+cursorColumns+" FROM poller_cursors WHERE connection = $1 AND stream = $2", connection, stream)
	if err != nil {
		return PollCursor{}, false, fmt.Errorf("reading the poll cursor of %s/%s: %w", connection, stream, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return PollCursor{}, false, nil
	}
	if err != nil {
		return PollCursor{}, false, fmt.Errorf("reading the poll cursor of %s/%s: %w", connection, stream, err)
	}
	return c, true, nil
}

// ListPollCursors returns the cursors of a connection (every connection when empty).
func (s *Store) ListPollCursors(ctx context.Context, connection string) ([]PollCursor, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+cursorColumns+" FROM poller_cursors WHERE $1 = '' OR connection = $1 ORDER BY connection, stream", connection)
	if err != nil {
		return nil, fmt.Errorf("listing poll cursors: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanCursor)
	if err != nil {
		return nil, fmt.Errorf("listing poll cursors: %w", err)
	}
	return out, nil
}

// PollPage is one page of vendor events to store as alerts, with the cursor it moves the stream to.
type PollPage struct {
	Connection string
	Stream     string
	Position   time.Time
	SeenIDs    []string
	// Events is how many events the page had (some may have been dropped as already seen).
	Events int
	Alerts []NewAlert
	// GapFrom and GapTo, when set, record that the stream's cursor was older than the vendor keeps events.
	GapFrom, GapTo *time.Time
}

// MaxSeenIDs bounds the ids a cursor keeps; more events than this at one millisecond are re-read and dropped
// by the alerts' source ids instead.
const MaxSeenIDs = 5000

// StorePollPage stores the page's alerts (dropping repeats by source id) and moves the cursor, in one
// transaction: a crash between the two would otherwise skip a page or store it twice. A cursor never moves
// back (a late, stale attempt changes nothing but inserts no duplicates either).
func (s *Store) StorePollPage(ctx context.Context, p PollPage) ([]InsertedAlert, error) {
	seen := p.SeenIDs
	if len(seen) > MaxSeenIDs {
		seen = seen[len(seen)-MaxSeenIDs:]
	}
	if seen == nil {
		seen = []string{}
	}
	var out []InsertedAlert
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		// Serialise writers of one cursor so that the "never back" rule holds across concurrent attempts.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('poller:' || $1 || '/' || $2, 0))", p.Connection, p.Stream); err != nil {
			return err
		}
		if len(p.Alerts) > 0 {
			rows, o := prepareAlerts(p.Alerts)
			if err := insertAlertRows(ctx, tx, p.Alerts, rows, o, "poller:"+p.Connection); err != nil {
				return err
			}
			resolveBatchRepeats(o)
			out = o
		}
		fresh := 0
		for _, a := range out {
			if !a.Duplicate {
				fresh++
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO poller_cursors AS c (connection, stream, position, seen_ids, events, alerts, gap_from, gap_to)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (connection, stream) DO UPDATE SET
				position = greatest(c.position, EXCLUDED.position),
				seen_ids = CASE WHEN EXCLUDED.position > c.position THEN EXCLUDED.seen_ids
				                WHEN EXCLUDED.position = c.position THEN EXCLUDED.seen_ids
				                ELSE c.seen_ids END,
				events = c.events + EXCLUDED.events, alerts = c.alerts + EXCLUDED.alerts, polled_at = now(),
				gap_from = coalesce(EXCLUDED.gap_from, c.gap_from), gap_to = coalesce(EXCLUDED.gap_to, c.gap_to)`,
			p.Connection, p.Stream, p.Position, seen, p.Events, fresh, p.GapFrom, p.GapTo)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storing a page of %s/%s: %w", p.Connection, p.Stream, err)
	}
	return out, nil
}
