package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SourceVersion is one immutable version of an alert source in the registry.
type SourceVersion struct {
	Name       string    `json:"name"`
	Version    int       `json:"version"`
	SHA256     string    `json:"sha256"`
	File       string    `json:"file"`
	Definition string    `json:"definition,omitempty"`
	Auth       string    `json:"auth"`
	SecretRef  string    `json:"secret"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
}

// PutSourceVersion stores a new version of a source unless its newest version has the same SHA-256, which is
// then returned with created=false.
func (s *Store) PutSourceVersion(ctx context.Context, v SourceVersion) (SourceVersion, bool, error) {
	for _, t := range []struct{ field, v string }{{"name", v.Name}, {"sha256", v.SHA256}, {"file", v.File},
		{"definition", v.Definition}, {"auth", v.Auth}, {"secret", v.SecretRef}, {"created_by", v.CreatedBy}} {
		if err := CheckText(t.field, t.v); err != nil {
			return SourceVersion{}, false, err
		}
	}
	var out SourceVersion
	created := false
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('source:' || $1, 0))", v.Name); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+srcColumns+" FROM sources WHERE name = $1 ORDER BY version DESC LIMIT 1", v.Name)
		if err != nil {
			return err
		}
		latest, err := pgx.CollectRows(rows, scanSource)
		if err != nil {
			return err
		}
		if len(latest) == 1 && latest[0].SHA256 == v.SHA256 {
			out = latest[0]
			return nil
		}
		rows, err = tx.Query(ctx, `INSERT INTO sources (name, version, sha256, file, definition, auth, secret_ref, created_by)
			VALUES ($1, coalesce((SELECT max(version) FROM sources WHERE name = $1), 0) + 1, $2, $3, $4, $5, $6, $7)
			RETURNING `+srcColumns, v.Name, v.SHA256, v.File, v.Definition, v.Auth, v.SecretRef, v.CreatedBy)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanSource)
		created = err == nil
		return err
	})
	if err != nil {
		return SourceVersion{}, false, fmt.Errorf("storing source %s: %w", v.Name, err)
	}
	return out, created, nil
}

// LatestSource returns the newest version of a source, with its definition.
func (s *Store) LatestSource(ctx context.Context, name string) (SourceVersion, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+srcColumns+" FROM sources WHERE name = $1 ORDER BY version DESC LIMIT 1", name)
	if err != nil {
		return SourceVersion{}, fmt.Errorf("reading source %s: %w", name, err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanSource)
	if err != nil {
		return SourceVersion{}, notFound(err, "source "+name)
	}
	return v, nil
}

// SourceVersionOf returns the newest version number and SHA-256 of a source, without its definition: what an
// intake request needs to find its compiled mapping in a cache.
func (s *Store) SourceVersionOf(ctx context.Context, name string) (int, error) {
	var version int
	err := s.Pool.QueryRow(ctx, "SELECT version FROM sources WHERE name = $1 ORDER BY version DESC LIMIT 1", name).Scan(&version)
	if err != nil {
		return 0, notFound(err, "source "+name)
	}
	return version, nil
}

// GetSourceVersion returns one version of a source.
func (s *Store) GetSourceVersion(ctx context.Context, name string, version int) (SourceVersion, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+srcColumns+" FROM sources WHERE name = $1 AND version = $2", name, version)
	if err != nil {
		return SourceVersion{}, fmt.Errorf("reading source %s version %d: %w", name, version, err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanSource)
	if err != nil {
		return SourceVersion{}, notFound(err, fmt.Sprintf("source %s version %d", name, version))
	}
	return v, nil
}

// ListSources returns the newest version of every source (without definitions), by name.
func (s *Store) ListSources(ctx context.Context) ([]SourceVersion, error) {
	rows, err := s.Pool.Query(ctx, `SELECT DISTINCT ON (name) name, version, sha256, file, '', auth, secret_ref, created_at, created_by
		FROM sources ORDER BY name, version DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing sources: %w", err)
	}
	return pgx.CollectRows(rows, scanSource)
}

const srcColumns = "name, version, sha256, file, definition, auth, secret_ref, created_at, created_by"

func scanSource(row pgx.CollectableRow) (SourceVersion, error) {
	var v SourceVersion
	err := row.Scan(&v.Name, &v.Version, &v.SHA256, &v.File, &v.Definition, &v.Auth, &v.SecretRef, &v.CreatedAt, &v.CreatedBy)
	return v, err
}

// RejectedAlert is a body a source could not map, kept with the problems.
type RejectedAlert struct {
	ID            int64           `json:"id"`
	Source        string          `json:"source"`
	SourceVersion int             `json:"source_version"`
	ReceivedAt    time.Time       `json:"received_at"`
	Problems      json.RawMessage `json:"problems"`
	Body          []byte          `json:"body"`
	IngestedBy    string          `json:"ingested_by"`
}

// InsertRejectedAlert stores a rejected body and returns its id.
func (s *Store) InsertRejectedAlert(ctx context.Context, r RejectedAlert) (int64, error) {
	if err := CheckJSON("problems", r.Problems); err != nil {
		return 0, err
	}
	for _, t := range []struct{ field, v string }{{"source", r.Source}, {"ingested_by", r.IngestedBy}} {
		if err := CheckText(t.field, t.v); err != nil {
			return 0, err
		}
	}
	var id int64
	err := s.Pool.QueryRow(ctx, `INSERT INTO rejected_alerts (source, source_version, problems, body, ingested_by)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, r.Source, r.SourceVersion, r.Problems, r.Body, r.IngestedBy).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storing a rejected alert of source %s: %w", r.Source, err)
	}
	return id, nil
}

// ListRejectedAlerts returns a source's rejected bodies, newest first, and how many there are in all.
func (s *Store) ListRejectedAlerts(ctx context.Context, source string, limit int) ([]RejectedAlert, int, error) {
	if limit <= 0 || limit > 1000 {
		limit = 20
	}
	var total int
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM rejected_alerts WHERE source = $1", source).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting rejected alerts of %s: %w", source, err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT id, source, source_version, received_at, problems, body, ingested_by
		FROM rejected_alerts WHERE source = $1 ORDER BY id DESC LIMIT $2`, source, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("listing rejected alerts of %s: %w", source, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RejectedAlert, error) {
		var r RejectedAlert
		err := row.Scan(&r.ID, &r.Source, &r.SourceVersion, &r.ReceivedAt, &r.Problems, &r.Body, &r.IngestedBy)
		return r, err
	})
	return out, total, err
}
