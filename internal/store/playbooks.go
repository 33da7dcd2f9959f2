package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PlaybookVersion is one immutable version of a playbook in the registry.
type PlaybookVersion struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	SHA256    string          `json:"sha256"`
	Source    string          `json:"source,omitempty"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	Enabled   bool            `json:"enabled"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// PutPlaybookVersion stores a new version of a playbook (numbered after the last one) unless a version with
// the same content SHA-256 exists, in which case that one is returned with created=false. Versions are never
// changed afterwards.
func (s *Store) PutPlaybookVersion(ctx context.Context, name, sha, source string, planJSON []byte, createdBy string) (PlaybookVersion, bool, error) {
	for _, t := range []struct{ field, v string }{{"name", name}, {"sha256", sha}, {"source", source}, {"created_by", createdBy}} {
		if err := CheckText(t.field, t.v); err != nil {
			return PlaybookVersion{}, false, err
		}
	}
	if err := CheckJSON("the compiled plan", planJSON); err != nil {
		return PlaybookVersion{}, false, err
	}
	var out PlaybookVersion
	created := false
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		// Serialise version numbering per playbook name.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('playbook:' || $1, 0))", name); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+pbColumns+" FROM playbook_versions WHERE name = $1 AND sha256 = $2", name, sha)
		if err != nil {
			return err
		}
		existing, err := pgx.CollectRows(rows, scanPlaybook)
		if err != nil {
			return err
		}
		if len(existing) == 1 {
			out = existing[0]
			return nil
		}
		rows, err = tx.Query(ctx, `INSERT INTO playbook_versions (name, version, sha256, source, plan, created_by)
			VALUES ($1, coalesce((SELECT max(version) FROM playbook_versions WHERE name = $1), 0) + 1, $2, $3, $4, $5)
			RETURNING `+pbColumns, name, sha, source, planJSON, createdBy)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanPlaybook)
		created = err == nil
		return err
	})
	if err != nil {
		return PlaybookVersion{}, false, fmt.Errorf("storing playbook %s: %w", name, err)
	}
	return out, created, nil
}

const pbColumns = "id, name, version, sha256, source, plan, enabled, created_at, created_by"

func scanPlaybook(row pgx.CollectableRow) (PlaybookVersion, error) {
	var p PlaybookVersion
	err := row.Scan(&p.ID, &p.Name, &p.Version, &p.SHA256, &p.Source, &p.Plan, &p.Enabled, &p.CreatedAt, &p.CreatedBy)
	return p, err
}

// GetPlaybookVersion returns one version; version 0 means the enabled one, else the latest.
func (s *Store) GetPlaybookVersion(ctx context.Context, name string, version int) (PlaybookVersion, error) {
	q := "SELECT " + pbColumns + " FROM playbook_versions WHERE name = $1 AND version = $2"
	args := []any{name, version}
	if version == 0 {
		q = "SELECT " + pbColumns + " FROM playbook_versions WHERE name = $1 ORDER BY enabled DESC, version DESC LIMIT 1"
		args = args[:1]
	}
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return PlaybookVersion{}, fmt.Errorf("reading playbook %s: %w", name, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPlaybook)
	if errors.Is(err, pgx.ErrNoRows) {
		if version == 0 {
			return PlaybookVersion{}, fmt.Errorf("playbook %q: %w", name, ErrNotFound)
		}
		return PlaybookVersion{}, fmt.Errorf("playbook %q version %d: %w", name, version, ErrNotFound)
	}
	return p, err
}

// GetEnabledPlaybook returns the enabled version of a playbook.
func (s *Store) GetEnabledPlaybook(ctx context.Context, name string) (PlaybookVersion, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+pbColumns+" FROM playbook_versions WHERE name = $1 AND enabled", name)
	if err != nil {
		return PlaybookVersion{}, fmt.Errorf("reading playbook %s: %w", name, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanPlaybook)
	if errors.Is(err, pgx.ErrNoRows) {
		return PlaybookVersion{}, fmt.Errorf("playbook %q has no enabled version: %w", name, ErrNotFound)
	}
	return p, err
}

// ListPlaybookVersions returns the versions of one playbook (all playbooks when name is empty), newest first.
// Sources and plans are left out unless full is set.
func (s *Store) ListPlaybookVersions(ctx context.Context, name string, full bool) ([]PlaybookVersion, error) {
	cols := "id, name, version, sha256, '' AS source, NULL::jsonb AS plan, enabled, created_at, created_by"
	if full {
		cols = pbColumns
	}
	rows, err := s.Pool.Query(ctx, "SELECT "+cols+" FROM playbook_versions WHERE $1 = '' OR name = $1 ORDER BY name, version DESC", name)
	if err != nil {
		return nil, fmt.Errorf("listing playbooks: %w", err)
	}
	return pgx.CollectRows(rows, scanPlaybook)
}

// EnabledPlaybooks returns the enabled version of every playbook, with plans, ordered by name.
func (s *Store) EnabledPlaybooks(ctx context.Context) ([]PlaybookVersion, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+pbColumns+" FROM playbook_versions WHERE enabled ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing enabled playbooks: %w", err)
	}
	return pgx.CollectRows(rows, scanPlaybook)
}

// EnablePlaybook makes one version (0: the latest) the enabled one, disabling the others.
func (s *Store) EnablePlaybook(ctx context.Context, name string, version int) (PlaybookVersion, error) {
	var out PlaybookVersion
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('playbook:' || $1, 0))", name); err != nil {
			return err
		}
		if version == 0 {
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM playbook_versions WHERE name = $1", name).Scan(&version); err != nil {
				return err
			}
			if version == 0 {
				return fmt.Errorf("playbook %q: %w", name, ErrNotFound)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE playbook_versions SET enabled = false WHERE name = $1 AND enabled AND version <> $2", name, version); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "UPDATE playbook_versions SET enabled = true WHERE name = $1 AND version = $2 RETURNING "+pbColumns, name, version)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanPlaybook)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("playbook %q version %d: %w", name, version, ErrNotFound)
		}
		if err == nil {
			_, err = tx.Exec(ctx, "SELECT pg_notify('parry_playbooks', $1)", name)
		}
		return err
	})
	if err != nil {
		return PlaybookVersion{}, fmt.Errorf("enabling playbook: %w", err)
	}
	return out, nil
}

// DisablePlaybook disables every version of a playbook; it reports whether one was enabled.
func (s *Store) DisablePlaybook(ctx context.Context, name string) (bool, error) {
	tag, err := s.Pool.Exec(ctx, "UPDATE playbook_versions SET enabled = false WHERE name = $1 AND enabled", name)
	if err != nil {
		return false, fmt.Errorf("disabling playbook %s: %w", name, err)
	}
	if _, err := s.Pool.Exec(ctx, "SELECT pg_notify('parry_playbooks', $1)", name); err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}
