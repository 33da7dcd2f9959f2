package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Incident statuses.
const (
	IncidentOpen   = "open"
	IncidentClosed = "closed"
)

// Incident groups the alerts one playbook handles together; it has one run.
type Incident struct {
	ID              int64      `json:"id"`
	PlaybookName    string     `json:"playbook"`
	PlaybookVersion int        `json:"version"`
	DedupKey        string     `json:"dedup_key"`
	Status          string     `json:"status"`
	RunID           string     `json:"run_id"`
	FirstAlertID    int64      `json:"first_alert_id"`
	AlertCount      int        `json:"alert_count"`
	OpenedAt        time.Time  `json:"opened_at"`
	WindowEndsAt    time.Time  `json:"window_ends_at"`
	LastAlertAt     time.Time  `json:"last_alert_at"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`
	ClosedBy        string     `json:"closed_by,omitempty"`
}

const incidentColumns = `id, playbook_name, playbook_version, dedup_key, status, run_id, first_alert_id, alert_count,
	opened_at, window_ends_at, last_alert_at, closed_at, closed_by`

func scanIncident(row pgx.CollectableRow) (Incident, error) {
	var i Incident
	err := row.Scan(&i.ID, &i.PlaybookName, &i.PlaybookVersion, &i.DedupKey, &i.Status, &i.RunID, &i.FirstAlertID,
		&i.AlertCount, &i.OpenedAt, &i.WindowEndsAt, &i.LastAlertAt, &i.ClosedAt, &i.ClosedBy)
	return i, err
}

// IncidentQuery filters ListIncidents.
type IncidentQuery struct {
	Status   string
	Playbook string
	Limit    int
	Before   int64 // id cursor: only incidents with a smaller id
	// Severity keeps the incidents whose first alert has it; Since those opened at or after it.
	Severity string
	Since    time.Time
}

// ListIncidents returns incidents, newest first.
func (s *Store) ListIncidents(ctx context.Context, q IncidentQuery) ([]Incident, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	rows, err := s.Pool.Query(ctx, "SELECT "+incidentColumns+` FROM incidents
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR playbook_name = $2) AND ($3::bigint = 0 OR id < $3::bigint)
			AND ($5 = '' OR first_alert_id IN (SELECT a.id FROM alerts a WHERE a.id = first_alert_id AND a.severity = $5))
			AND opened_at >= $6
		ORDER BY id DESC LIMIT $4`, q.Status, q.Playbook, q.Before, q.Limit, q.Severity, q.Since)
	if err != nil {
		return nil, fmt.Errorf("listing incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanIncident)
	if err != nil {
		return nil, fmt.Errorf("listing incidents: %w", err)
	}
	return out, nil
}

// GetIncident returns one incident.
func (s *Store) GetIncident(ctx context.Context, id int64) (Incident, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+incidentColumns+" FROM incidents WHERE id = $1", id)
	if err != nil {
		return Incident{}, fmt.Errorf("reading incident %d: %w", id, err)
	}
	inc, err := pgx.CollectExactlyOneRow(rows, scanIncident)
	if err != nil {
		return Incident{}, notFound(err, fmt.Sprintf("incident %d", id))
	}
	return inc, nil
}

// MaxIncidentAlerts bounds the alerts IncidentAlerts returns (a storm may attach thousands).
const MaxIncidentAlerts = 1000

// IncidentAlerts returns the alerts attached to an incident in the order they arrived (at most limit, and at
// most MaxIncidentAlerts).
func (s *Store) IncidentAlerts(ctx context.Context, id int64, limit int) ([]Alert, error) {
	if limit <= 0 || limit > MaxIncidentAlerts {
		limit = MaxIncidentAlerts
	}
	rows, err := s.Pool.Query(ctx, alertSelect+` WHERE id IN (SELECT alert_id FROM incident_alerts WHERE incident_id = $1)
		ORDER BY id LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the alerts of incident %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("reading the alerts of incident %d: %w", id, err)
	}
	return out, nil
}

// CloseIncident closes an open incident: later alerts with its key open a new one. Closing does not stop the
// incident's run. It returns the incident and whether it was open.
func (s *Store) CloseIncident(ctx context.Context, id int64, by string) (Incident, bool, error) {
	rows, err := s.Pool.Query(ctx, `UPDATE incidents SET status = 'closed', closed_at = now(), closed_by = $2
		WHERE id = $1 AND status = 'open' RETURNING `+incidentColumns, id, by)
	if err != nil {
		return Incident{}, false, fmt.Errorf("closing incident %d: %w", id, err)
	}
	inc, err := pgx.CollectExactlyOneRow(rows, scanIncident)
	if err == nil {
		return inc, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Incident{}, false, fmt.Errorf("closing incident %d: %w", id, err)
	}
	inc, err = s.GetIncident(ctx, id)
	return inc, false, err
}

// The queries below run inside a dispatch transaction (Tx).

// lockPendingAlerts locks up to limit pending alerts, oldest first, skipping alerts another dispatcher holds.
func lockPendingAlerts(ctx context.Context, q Querier, limit int) ([]Alert, error) {
	rows, err := q.Query(ctx, alertSelect+` WHERE status = 'pending' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("locking pending alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("locking pending alerts: %w", err)
	}
	return out, nil
}

// DedupLock names what one advisory lock serialises: the incidents of one playbook and dedup key.
type DedupLock struct{ Playbook, Key string }

func (l DedupLock) hash() int64 {
	h := fnv.New64a()
	h.Write([]byte(l.Playbook))
	h.Write([]byte{0})
	h.Write([]byte(l.Key))
	return int64(h.Sum64())
}

// lockDedupKeys takes transaction-scoped advisory locks on the given (playbook, key) pairs, in ascending lock
// order so that two dispatchers locking overlapping sets cannot deadlock.
func lockDedupKeys(ctx context.Context, q Querier, locks []DedupLock) error {
	if len(locks) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(locks))
	for _, l := range locks {
		ids = append(ids, l.hash())
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// The sorted subquery feeds the aggregate in order, so the locks are taken in that order.
	if _, err := q.Exec(ctx, `SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest($1::bigint[]) AS k ORDER BY 1) s`, ids); err != nil {
		return fmt.Errorf("locking dedup keys: %w", err)
	}
	return nil
}

// openIncidentFor returns the open incident of (playbook, key) whose window covers at, if any.
func openIncidentFor(ctx context.Context, q Querier, playbook, key string, at time.Time) (Incident, bool, error) {
	rows, err := q.Query(ctx, "SELECT "+incidentColumns+` FROM incidents
		WHERE playbook_name = $1 AND dedup_key = $2 AND status = 'open' AND window_ends_at > $3
		ORDER BY window_ends_at DESC LIMIT 1`, playbook, key, at)
	if err != nil {
		return Incident{}, false, fmt.Errorf("finding the open incident of %s: %w", playbook, err)
	}
	inc, err := pgx.CollectExactlyOneRow(rows, scanIncident)
	if errors.Is(err, pgx.ErrNoRows) {
		return Incident{}, false, nil
	}
	if err != nil {
		return Incident{}, false, fmt.Errorf("finding the open incident of %s: %w", playbook, err)
	}
	return inc, true, nil
}

// insertIncident opens a new incident (its alerts are attached by attachAlerts) and returns its id.
func insertIncident(ctx context.Context, q Querier, inc Incident) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO incidents (playbook_name, playbook_version, dedup_key, status, run_id,
			first_alert_id, alert_count, opened_at, window_ends_at, last_alert_at)
		VALUES ($1, $2, $3, 'open', $4, $5, 0, now(), $6, $7) RETURNING id`,
		inc.PlaybookName, inc.PlaybookVersion, inc.DedupKey, inc.RunID, inc.FirstAlertID, inc.WindowEndsAt, inc.LastAlertAt).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("opening the incident of run %s: %w", inc.RunID, err)
	}
	return id, nil
}

// attachAlerts links alerts to an incident and counts them (an alert already linked is not counted twice).
func attachAlerts(ctx context.Context, q Querier, incidentID int64, alertIDs []int64, lastAlertAt time.Time) error {
	_, err := q.Exec(ctx, `WITH ins AS (
			INSERT INTO incident_alerts (incident_id, alert_id) SELECT $1, unnest($2::bigint[])
			ON CONFLICT DO NOTHING RETURNING 1)
		UPDATE incidents SET alert_count = alert_count + (SELECT count(*) FROM ins),
			last_alert_at = greatest(last_alert_at, $3) WHERE id = $1`, incidentID, alertIDs, lastAlertAt)
	if err != nil {
		return fmt.Errorf("attaching %d alerts to incident %d: %w", len(alertIDs), incidentID, err)
	}
	return nil
}

// DispatchOutcome is what became of one alert in a dispatch transaction.
type DispatchOutcome struct {
	AlertID int64
	Matched int
	// Error lists the playbooks whose trigger failed on the alert ("" when none did).
	Error string
}

// markDispatched records the outcomes of a dispatch transaction.
func markDispatched(ctx context.Context, q Querier, outcomes []DispatchOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	ids, matched, errs := make([]int64, len(outcomes)), make([]int32, len(outcomes)), make([]string, len(outcomes))
	for i, o := range outcomes {
		ids[i], matched[i], errs[i] = o.AlertID, int32(o.Matched), o.Error
	}
	_, err := q.Exec(ctx, `UPDATE alerts a SET status = 'dispatched', matched = o.matched, dispatched_at = now(),
			last_error = o.err
		FROM unnest($1::bigint[], $2::int[], $3::text[]) AS o(id, matched, err) WHERE a.id = o.id`, ids, matched, errs)
	if err != nil {
		return fmt.Errorf("marking %d alerts dispatched: %w", len(outcomes), err)
	}
	return nil
}

// RecordDispatchFailure counts a failed dispatch attempt on alerts that stay pending (after the transaction
// that tried rolled back).
func (s *Store) RecordDispatchFailure(ctx context.Context, alertIDs []int64, msg string) error {
	if len(alertIDs) == 0 {
		return nil
	}
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	_, err := s.Pool.Exec(ctx, `UPDATE alerts SET attempts = attempts + 1, last_error = $2
		WHERE id = ANY($1) AND status = 'pending'`, alertIDs, msg)
	if err != nil {
		return fmt.Errorf("recording a failed dispatch: %w", err)
	}
	return nil
}

// EnabledVersion identifies the enabled version of a playbook without its source or plan.
type EnabledVersion struct {
	Name    string
	Version int
	SHA256  string
}

// EnabledVersions lists the enabled version of every playbook, cheaply (no sources, no plans), by name.
func (s *Store) EnabledVersions(ctx context.Context) ([]EnabledVersion, error) {
	rows, err := s.Pool.Query(ctx, "SELECT name, version, sha256 FROM playbook_versions WHERE enabled ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing enabled playbooks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EnabledVersion, error) {
		var v EnabledVersion
		return v, row.Scan(&v.Name, &v.Version, &v.SHA256)
	})
	if err != nil {
		return nil, fmt.Errorf("listing enabled playbooks: %w", err)
	}
	return out, nil
}

// AlertIncidents returns the incidents an alert belongs to (the playbooks it matched), newest first.
func (s *Store) AlertIncidents(ctx context.Context, alertID int64) ([]Incident, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+incidentColumns+` FROM incidents
		WHERE id IN (SELECT incident_id FROM incident_alerts WHERE alert_id = $1) ORDER BY id DESC LIMIT 1000`, alertID)
	if err != nil {
		return nil, fmt.Errorf("listing the incidents of alert %d: %w", alertID, err)
	}
	out, err := pgx.CollectRows(rows, scanIncident)
	if err != nil {
		return nil, fmt.Errorf("listing the incidents of alert %d: %w", alertID, err)
	}
	return out, nil
}
