package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what both a pool and a transaction offer, so the same queries run inside the dispatcher's
// transaction and on their own.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Run statuses.
const (
	RunPending   = "pending" // recorded, workflow not started yet (Temporal unreachable)
	RunRunning   = "running"
	RunWaiting   = "waiting" // waiting for a person (approval) or a timer
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// Run is one playbook run as the runs table keeps it.
type Run struct {
	ID              string          `json:"id"`
	WorkflowRunID   string          `json:"workflow_run_id,omitempty"`
	PlaybookName    string          `json:"playbook"`
	PlaybookVersion int             `json:"version,omitempty"`
	PlaybookSHA256  string          `json:"sha256"`
	Status          string          `json:"status"`
	ResultStatus    string          `json:"result_status,omitempty"`
	WaitingFor      string          `json:"waiting_for,omitempty"`
	FailedStep      string          `json:"failed_step,omitempty"`
	Error           string          `json:"error,omitempty"`
	RetryOf         string          `json:"retry_of,omitempty"`
	RetryFromStep   string          `json:"retry_from_step,omitempty"`
	StartedBy       string          `json:"started_by,omitempty"`
	IncidentID      *int64          `json:"incident_id,omitempty"`
	AlertID         *int64          `json:"alert_id,omitempty"`
	Inputs          json.RawMessage `json:"inputs,omitempty"`
	Output          json.RawMessage `json:"output,omitempty"`
	Plan            json.RawMessage `json:"-"`
	Steps           json.RawMessage `json:"-"`
	// Waits is what a running run waits for (a JSON list of runs.WaitView), as last seen.
	Waits      json.RawMessage `json:"-"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// Terminal reports whether a status is final.
func Terminal(status string) bool {
	return status == RunSucceeded || status == RunFailed || status == RunCancelled
}

// CheckRun refuses a run whose text or JSON PostgreSQL cannot store, naming the field, and defaults its inputs
// to {} (what InsertRun stores; the in-memory store applies the same rules).
func CheckRun(r *Run) error {
	if len(r.Inputs) == 0 {
		r.Inputs = json.RawMessage("{}")
	}
	for _, t := range []struct{ field, v string }{{"run id", r.ID}, {"playbook", r.PlaybookName}, {"started_by", r.StartedBy},
		{"retry_from_step", r.RetryFromStep}} {
		if err := CheckText(t.field, t.v); err != nil {
			return err
		}
	}
	if err := CheckJSON("inputs", r.Inputs); err != nil {
		return err
	}
	return CheckJSON("the compiled plan", r.Plan)
}

// InsertRun records a new run. A run id that exists already is left alone (a repeated start is a no-op) and
// reported with inserted=false.
func InsertRun(ctx context.Context, q Querier, r Run) (inserted bool, err error) {
	if err := CheckRun(&r); err != nil {
		return false, err
	}
	inputs := r.Inputs
	status := r.Status
	if status == "" {
		status = RunPending
	}
	var version *int
	if r.PlaybookVersion > 0 {
		version = &r.PlaybookVersion
	}
	tag, err := q.Exec(ctx, `INSERT INTO runs (id, playbook_name, playbook_version, playbook_sha256, status, retry_of,
			retry_from_step, started_by, incident_id, alert_id, inputs, plan)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9, $10, $11, $12)
		ON CONFLICT (id) DO NOTHING`,
		r.ID, r.PlaybookName, version, r.PlaybookSHA256, status, r.RetryOf, r.RetryFromStep, r.StartedBy,
		r.IncidentID, r.AlertID, inputs, nullJSON(r.Plan))
	if err != nil {
		return false, fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// MarkRunStarted records that the run's workflow exists (a pending run moves to running).
func (s *Store) MarkRunStarted(ctx context.Context, id, workflowRunID string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE runs SET workflow_run_id = $2, status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
		started_at = coalesce(started_at, now()), updated_at = now() WHERE id = $1`, id, workflowRunID)
	if err != nil {
		return fmt.Errorf("marking run %s started: %w", id, err)
	}
	return nil
}

// RunUpdate is what the run tracker learned about a run from Temporal.
type RunUpdate struct {
	ID            string
	WorkflowRunID string
	Status        string
	ResultStatus  string
	WaitingFor    string
	FailedStep    string
	Error         string
	Output        json.RawMessage
	Steps         json.RawMessage
	StartedAt     *time.Time
	FinishedAt    *time.Time
	// Waits replaces what the run waits for (nil keeps it; a run that ended waits for nothing).
	Waits json.RawMessage
}

// UpdateRun stores what the tracker observed. It returns false when nothing changed.
func (s *Store) UpdateRun(ctx context.Context, u RunUpdate) (bool, error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE runs SET
			workflow_run_id = CASE WHEN $2 = '' THEN workflow_run_id ELSE $2 END,
			status = $3, result_status = $4, waiting_for = $5, failed_step = $6, error = $7,
			output = coalesce($8, output), steps = coalesce($9, steps),
			started_at = coalesce(started_at, $10), finished_at = $11, updated_at = now(),
			waits = CASE WHEN $3 IN ('succeeded', 'failed', 'cancelled') THEN '[]' ELSE coalesce($12, waits) END
		WHERE id = $1 AND (status, result_status, waiting_for, failed_step, error, workflow_run_id, finished_at IS NULL, waits)
			IS DISTINCT FROM ($3, $4, $5, $6, $7, CASE WHEN $2 = '' THEN workflow_run_id ELSE $2 END, $11::timestamptz IS NULL,
				CASE WHEN $3 IN ('succeeded', 'failed', 'cancelled') THEN '[]' ELSE coalesce($12, waits) END)`,
		u.ID, u.WorkflowRunID, u.Status, u.ResultStatus, u.WaitingFor, u.FailedStep, u.Error,
		nullJSON(u.Output), nullJSON(u.Steps), u.StartedAt, u.FinishedAt, nullJSON(u.Waits))
	if err != nil {
		return false, fmt.Errorf("updating run %s: %w", u.ID, err)
	}
	return tag.RowsAffected() > 0, nil
}

const runColumns = `id, workflow_run_id, playbook_name, coalesce(playbook_version, 0), playbook_sha256, status, result_status,
	waiting_for, failed_step, error, coalesce(retry_of, ''), retry_from_step, started_by, incident_id, alert_id, inputs,
	output, plan, steps, created_at, started_at, finished_at, updated_at, waits`

func scanRun(row pgx.CollectableRow) (Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.WorkflowRunID, &r.PlaybookName, &r.PlaybookVersion, &r.PlaybookSHA256, &r.Status, &r.ResultStatus,
		&r.WaitingFor, &r.FailedStep, &r.Error, &r.RetryOf, &r.RetryFromStep, &r.StartedBy, &r.IncidentID, &r.AlertID, &r.Inputs,
		&r.Output, &r.Plan, &r.Steps, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.UpdatedAt, &r.Waits)
	return r, err
}

// GetRun returns one run.
func (s *Store) GetRun(ctx context.Context, id string) (Run, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+runColumns+" FROM runs WHERE id = $1", id)
	if err != nil {
		return Run{}, fmt.Errorf("reading run %s: %w", id, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return r, err
}

// RunQuery filters ListRuns.
type RunQuery struct {
	Status     string
	Playbook   string
	IncidentID int64
	Since      time.Time
	Active     bool // pending, running or waiting
	Limit      int
	RetryOf    string // only the retries of this run
}

// ListRuns returns runs, newest first.
func (s *Store) ListRuns(ctx context.Context, q RunQuery) ([]Run, error) {
	if q.Limit <= 0 || q.Limit > 10000 {
		q.Limit = 100
	}
	rows, err := s.Pool.Query(ctx, "SELECT "+runColumns+` FROM runs
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR playbook_name = $2) AND ($3::bigint = 0 OR incident_id = $3::bigint)
		  AND created_at >= $4 AND (NOT $5 OR status IN ('pending', 'running', 'waiting')) AND ($7 = '' OR retry_of = $7)
		ORDER BY created_at DESC, id DESC LIMIT $6`, q.Status, q.Playbook, q.IncidentID, q.Since, q.Active, q.Limit, q.RetryOf)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	return pgx.CollectRows(rows, scanRun)
}

// StaleActiveRuns returns up to limit running or waiting runs, least recently checked first, and marks them
// checked now (the tracker's refresh budget goes round every active run).
func (s *Store) StaleActiveRuns(ctx context.Context, limit int) ([]Run, error) {
	rows, err := s.Pool.Query(ctx, `UPDATE runs SET checked_at = now() WHERE id IN (
			SELECT id FROM runs WHERE status IN ('running', 'waiting') ORDER BY checked_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+runColumns, limit)
	if err != nil {
		return nil, fmt.Errorf("listing runs to check: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("listing runs to check: %w", err)
	}
	return out, nil
}

// SetRunWaiting records what a running run waits for (status running or waiting, the summary and the waits as
// JSON), read live when someone looked at it. A run that has ended meanwhile is left alone.
func (s *Store) SetRunWaiting(ctx context.Context, id, status, waitingFor string, waits json.RawMessage) error {
	if len(waits) == 0 {
		waits = json.RawMessage("[]")
	}
	_, err := s.Pool.Exec(ctx, `UPDATE runs SET status = $2, waiting_for = $3, waits = $4, checked_at = now(), updated_at = now()
		WHERE id = $1 AND status IN ('running', 'waiting') AND (status, waiting_for, waits) IS DISTINCT FROM ($2, $3, $4::jsonb)`,
		id, status, waitingFor, waits)
	if err != nil {
		return fmt.Errorf("recording what run %s waits for: %w", id, err)
	}
	return nil
}

// RunsWaitingFor returns the running runs whose recorded waits include one of the kind (approval), newest first.
func (s *Store) RunsWaitingFor(ctx context.Context, kind string, limit int) ([]Run, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	filter, _ := json.Marshal([]map[string]string{{"kind": kind}})
	rows, err := s.Pool.Query(ctx, "SELECT "+runColumns+` FROM runs
		WHERE status IN ('running', 'waiting') AND waits @> $1::jsonb ORDER BY created_at DESC, id DESC LIMIT $2`, filter, limit)
	if err != nil {
		return nil, fmt.Errorf("listing runs waiting for %s: %w", kind, err)
	}
	return pgx.CollectRows(rows, scanRun)
}
