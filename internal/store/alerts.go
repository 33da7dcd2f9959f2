package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Severities an alert may have, lowest first.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// Alert is one stored alert.
type Alert struct {
	ID           int64           `json:"id"`
	Source       string          `json:"source"`
	SourceID     string          `json:"source_id,omitempty"`
	Kind         string          `json:"kind"`
	Severity     string          `json:"severity"`
	Title        string          `json:"title"`
	Connection   string          `json:"connection,omitempty"`
	ObservedAt   time.Time       `json:"observed_at"`
	ReceivedAt   time.Time       `json:"received_at"`
	Data         json.RawMessage `json:"data"`
	IngestedBy   string          `json:"ingested_by,omitempty"`
	Status       string          `json:"status"`
	Matched      int             `json:"matched"`
	DispatchedAt *time.Time      `json:"dispatched_at,omitempty"`
	// Attempts counts dispatch attempts that failed (Temporal unreachable); LastError says why, or which
	// playbook's trigger could not be evaluated on this alert.
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// NewAlert is an alert to insert.
type NewAlert struct {
	Source     string
	SourceID   string // empty: no source id, never deduplicated
	Kind       string
	Severity   string
	Title      string
	Connection string
	ObservedAt time.Time
	Data       json.RawMessage
	// Manual marks an alert given to a manual run: stored for the record, never matched by the dispatcher.
	Manual bool
}

// InsertedAlert says what became of one NewAlert.
type InsertedAlert struct {
	ID        int64 `json:"id"`
	Duplicate bool  `json:"duplicate"`
}

// InsertAlerts stores a batch of alerts in one transaction; an alert whose (source, source_id) is already
// stored (or appears earlier in the batch) is not inserted again and reports the stored id with Duplicate set.
// The result is in input order. NOTIFY parry_alerts wakes the dispatchers when the transaction commits.
func (s *Store) InsertAlerts(ctx context.Context, alerts []NewAlert, ingestedBy string) ([]InsertedAlert, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	for i, a := range alerts {
		if err := checkAlert(i, a); err != nil {
			return nil, err
		}
	}
	rows, out := prepareAlerts(alerts)
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		return insertAlertRows(ctx, tx, alerts, rows, out, ingestedBy)
	})
	if err != nil {
		return nil, fmt.Errorf("storing %d alerts: %w", len(alerts), err)
	}
	resolveBatchRepeats(out)
	return out, nil
}

// checkAlert refuses an alert PostgreSQL cannot store (the API validates and sanitises before; this keeps
// every other caller honest).
func checkAlert(i int, a NewAlert) error {
	f := func(name string) string { return fmt.Sprintf("alerts[%d].%s", i, name) }
	for _, t := range []struct{ field, v string }{{"source", a.Source}, {"id", a.SourceID}, {"kind", a.Kind},
		{"severity", a.Severity}, {"title", a.Title}, {"connection", a.Connection}} {
		if err := CheckText(f(t.field), t.v); err != nil {
			return err
		}
	}
	if len(a.Data) > 0 {
		if !json.Valid(a.Data) {
			return &InvalidError{Field: f("data"), Reason: "is not valid JSON"}
		}
		return CheckJSON(f("data"), a.Data)
	}
	return nil
}

// prepareAlerts maps batch-internal repeats to their first occurrence (as negative placeholders in out) and
// returns the indexes of the alerts to insert, in input order.
func prepareAlerts(alerts []NewAlert) (rows []int, out []InsertedAlert) {
	type key struct{ source, id string }
	out = make([]InsertedAlert, len(alerts))
	firstOf := map[key]int{}
	for i, a := range alerts {
		if a.SourceID != "" {
			k := key{a.Source, a.SourceID}
			if j, seen := firstOf[k]; seen {
				out[i] = InsertedAlert{ID: int64(-j - 1), Duplicate: true}
				continue
			}
			firstOf[k] = i
		}
		rows = append(rows, i)
	}
	return rows, out
}

// resolveBatchRepeats gives a repeat inside the batch the id of its first occurrence.
func resolveBatchRepeats(out []InsertedAlert) {
	for i := range out {
		if out[i].ID < 0 {
			out[i].ID = out[-out[i].ID-1].ID
		}
	}
}

// insertAlertRows inserts alerts[rows] inside tx and fills out; see InsertAlerts.
func insertAlertRows(ctx context.Context, tx pgx.Tx, alerts []NewAlert, rows []int, out []InsertedAlert, ingestedBy string) error {
	type key struct{ source, id string }
	n := len(rows)
	sources, sourceIDs, kinds, sevs, titles, conns := make([]string, n), make([]*string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	observed, data, statuses := make([]time.Time, n), make([]string, n), make([]string, n)
	for r, i := range rows {
		a := alerts[i]
		sources[r], kinds[r], sevs[r], titles[r], conns[r], observed[r] = a.Source, a.Kind, a.Severity, a.Title, a.Connection, a.ObservedAt
		if a.SourceID != "" {
			id := a.SourceID
			sourceIDs[r] = &id
		}
		data[r] = string(a.Data)
		if len(a.Data) == 0 {
			data[r] = "{}"
		}
		statuses[r] = "pending"
		if a.Manual {
			statuses[r] = "dispatched"
		}
	}
	// Rows are inserted in input order, so identity values ascend in input order: rows without a source id
	// (which never conflict) map back by position, rows with one by their key.
	res, err := tx.Query(ctx, `
			INSERT INTO alerts (source, source_id, kind, severity, title, connection, observed_at, data, ingested_by, status)
			SELECT source, source_id, kind, severity, title, connection, observed_at, data, $9, status
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::jsonb[], $10::text[])
			     WITH ORDINALITY AS t(source, source_id, kind, severity, title, connection, observed_at, data, status, ord)
			ORDER BY ord
			ON CONFLICT (source, source_id) WHERE source_id IS NOT NULL DO NOTHING
			RETURNING id, source, coalesce(source_id, '')`,
		sources, sourceIDs, kinds, sevs, titles, conns, observed, data, ingestedBy, statuses)
	if err != nil {
		return err
	}
	inserted := map[key]int64{}
	var anonymous []int64
	for res.Next() {
		var id int64
		var k key
		if err := res.Scan(&id, &k.source, &k.id); err != nil {
			res.Close()
			return err
		}
		if k.id == "" {
			anonymous = append(anonymous, id)
		} else {
			inserted[k] = id
		}
	}
	res.Close()
	if err := res.Err(); err != nil {
		return err
	}
	slices.Sort(anonymous)
	var missing []key
	for _, i := range rows {
		a := alerts[i]
		if a.SourceID == "" {
			out[i] = InsertedAlert{ID: anonymous[0]}
			anonymous = anonymous[1:]
		} else if id, ok := inserted[key{a.Source, a.SourceID}]; ok {
			out[i] = InsertedAlert{ID: id}
		} else {
			missing = append(missing, key{a.Source, a.SourceID})
		}
	}
	if len(missing) > 0 {
		srcs, ids := make([]string, len(missing)), make([]string, len(missing))
		for j, k := range missing {
			srcs[j], ids[j] = k.source, k.id
		}
		res, err := tx.Query(ctx, `SELECT a.id, a.source, a.source_id FROM alerts a
				JOIN unnest($1::text[], $2::text[]) AS m(source, source_id) ON a.source = m.source AND a.source_id = m.source_id`, srcs, ids)
		if err != nil {
			return err
		}
		for res.Next() {
			var id int64
			var k key
			if err := res.Scan(&id, &k.source, &k.id); err != nil {
				res.Close()
				return err
			}
			inserted[k] = id
		}
		res.Close()
		if err := res.Err(); err != nil {
			return err
		}
		for _, i := range rows {
			a := alerts[i]
			if a.SourceID != "" && out[i].ID == 0 {
				out[i] = InsertedAlert{ID: inserted[key{a.Source, a.SourceID}], Duplicate: true}
			}
		}
	}
	if len(rows) > len(missing) {
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", AlertsChannel); err != nil {
			return err
		}
	}
	return nil
}

// GetAlert returns one alert.
func (s *Store) GetAlert(ctx context.Context, id int64) (Alert, error) {
	rows, err := s.Pool.Query(ctx, alertSelect+" WHERE id = $1", id)
	if err != nil {
		return Alert{}, fmt.Errorf("reading alert %d: %w", id, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAlert)
	if err != nil {
		return Alert{}, notFound(err, fmt.Sprintf("alert %d", id))
	}
	return a, nil
}

// AlertQuery filters ListAlerts.
type AlertQuery struct {
	Status string
	Source string
	Limit  int
	Before int64     // id cursor: only alerts with a smaller id
	Since  time.Time // received at or after
}

// ListAlerts returns alerts, newest first.
func (s *Store) ListAlerts(ctx context.Context, q AlertQuery) ([]Alert, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	rows, err := s.Pool.Query(ctx, alertSelect+` WHERE ($1 = '' OR status = $1) AND ($2 = '' OR source = $2)
		AND ($3::bigint = 0 OR id < $3::bigint) AND received_at >= $5 ORDER BY id DESC LIMIT $4`, q.Status, q.Source, q.Before, q.Limit, q.Since)
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	return pgx.CollectRows(rows, scanAlert)
}

const alertSelect = `SELECT id, source, coalesce(source_id, ''), kind, severity, title, connection, observed_at,
	received_at, data, ingested_by, status, matched, dispatched_at, attempts, last_error FROM alerts`

func scanAlert(row pgx.CollectableRow) (Alert, error) {
	var a Alert
	err := row.Scan(&a.ID, &a.Source, &a.SourceID, &a.Kind, &a.Severity, &a.Title, &a.Connection, &a.ObservedAt,
		&a.ReceivedAt, &a.Data, &a.IngestedBy, &a.Status, &a.Matched, &a.DispatchedAt, &a.Attempts, &a.LastError)
	return a, err
}

// AlertsChannel is the notification channel InsertAlerts notifies when new alerts commit.
const AlertsChannel = "parry_alerts"

// Listen holds a connection of its own (outside the pool: it is held for as long as the listener runs) that
// LISTENs on channel, and calls wake once when listening starts (what was notified before is found by the
// caller's first look) and then for every notification, until ctx ends or the connection fails.
func (s *Store) Listen(ctx context.Context, channel string, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}

// AlertCounts are how many alerts of a source are stored, how many distinct source ids they carry, and how
// many still wait for dispatch.
type AlertCounts struct {
	Total, DistinctSourceIDs, Pending int
}

// CountAlerts counts the alerts of a source.
func (s *Store) CountAlerts(ctx context.Context, source string) (AlertCounts, error) {
	var c AlertCounts
	err := s.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT source_id), count(*) FILTER (WHERE status = 'pending')
		FROM alerts WHERE source = $1`, source).Scan(&c.Total, &c.DistinctSourceIDs, &c.Pending)
	if err != nil {
		return c, fmt.Errorf("counting the alerts of %s: %w", source, err)
	}
	return c, nil
}
