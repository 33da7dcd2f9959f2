package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEvent is one row of the append-only audit trail: who did what, and for vendor mutations, to how many
// targets with which vendor ids and what outcome.
type AuditEvent struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	RunID      string          `json:"run_id,omitempty"`
	StepID     string          `json:"step_id,omitempty"`
	Attempt    int             `json:"attempt,omitempty"`
	Connection string          `json:"connection,omitempty"`
	Operation  string          `json:"operation,omitempty"`
	Targets    int             `json:"targets,omitempty"`
	VendorIDs  []string        `json:"vendor_ids,omitempty"`
	Outcome    string          `json:"outcome,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
}

// AppendAudit writes one audit event.
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) (int64, error) {
	ids := e.VendorIDs
	if ids == nil {
		ids = []string{}
	}
	details := e.Details
	if len(details) == 0 {
		details = json.RawMessage("{}")
	}
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO audit_events
		(actor, action, run_id, step_id, attempt, connection, operation, targets, vendor_ids, outcome, details)
		VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, 0), NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, 0), $9, $10, $11)
		RETURNING id`,
		e.Actor, e.Action, e.RunID, e.StepID, e.Attempt, e.Connection, e.Operation, e.Targets, ids, e.Outcome, details).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("appending audit event %s: %w", e.Action, err)
	}
	return id, nil
}

// AuditQuery filters ListAudit.
type AuditQuery struct {
	RunID string
	Since time.Time
	Limit int
	// Action keeps the events whose action is it or starts with it and a dot (run: run.approve, run.retry…).
	Action string
	// Actor keeps one actor's events (token:NAME).
	Actor string
	// Before is an id cursor (only smaller ids); with Newest, the newest come first.
	Before int64
	Newest bool
}

// ListAudit returns audit events, oldest first.
func (s *Store) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	if q.Limit <= 0 || q.Limit > 10000 {
		q.Limit = 1000
	}
	rows, err := s.Pool.Query(ctx, `SELECT id, at, actor, action, coalesce(run_id, ''), coalesce(step_id, ''),
			coalesce(attempt, 0), coalesce(connection, ''), coalesce(operation, ''), coalesce(targets, 0),
			vendor_ids, outcome, details
		FROM audit_events WHERE ($1 = '' OR run_id = $1) AND at >= $2
			AND ($4 = '' OR action = $4 OR starts_with(action, $4 || '.')) AND ($5 = '' OR actor = $5)
			AND ($6::bigint = 0 OR id < $6::bigint)
		ORDER BY CASE WHEN $7 THEN -id ELSE id END LIMIT $3`, q.RunID, q.Since, q.Limit, q.Action, q.Actor, q.Before, q.Newest)
	if err != nil {
		return nil, fmt.Errorf("listing audit events: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.RunID, &e.StepID, &e.Attempt, &e.Connection,
			&e.Operation, &e.Targets, &e.VendorIDs, &e.Outcome, &e.Details); err != nil {
			return nil, fmt.Errorf("listing audit events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
