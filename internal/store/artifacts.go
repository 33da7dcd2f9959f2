package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Artifact is the metadata row of a file a run kept (its bytes live in the artifact directory).
type Artifact struct {
	ID          string    `json:"id"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	RunID       string    `json:"run_id"`
	StepID      string    `json:"step_id"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
}

const artifactColumns = `id, sha256, size, run_id, step_id, kind, name, content_type, created_at`

func scanArtifact(row pgx.CollectableRow) (Artifact, error) {
	var a Artifact
	err := row.Scan(&a.ID, &a.SHA256, &a.Size, &a.RunID, &a.StepID, &a.Kind, &a.Name, &a.ContentType, &a.CreatedAt)
	return a, err
}

// InsertArtifact records an artifact unless its (derived) id exists, and returns the stored row.
func (s *Store) InsertArtifact(ctx context.Context, a Artifact) (Artifact, error) {
	_, err := s.Pool.Exec(ctx, `INSERT INTO artifacts (id, sha256, size, run_id, step_id, kind, name, content_type)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		a.ID, a.SHA256, a.Size, a.RunID, a.StepID, a.Kind, a.Name, a.ContentType)
	if err != nil {
		return Artifact{}, fmt.Errorf("recording artifact %s: %w", a.ID, err)
	}
	return s.GetArtifact(ctx, a.ID)
}

// GetArtifact returns an artifact's row.
func (s *Store) GetArtifact(ctx context.Context, id string) (Artifact, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+artifactColumns+` FROM artifacts WHERE id = $1`, id)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading artifact %s: %w", id, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanArtifact)
	if errors.Is(err, pgx.ErrNoRows) {
		return Artifact{}, fmt.Errorf("artifact %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("reading artifact %s: %w", id, err)
	}
	return a, nil
}

// ListArtifacts returns the artifacts a run kept, oldest first.
func (s *Store) ListArtifacts(ctx context.Context, runID string) ([]Artifact, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+artifactColumns+` FROM artifacts WHERE run_id = $1 ORDER BY created_at, id`, runID)
	if err != nil {
		return nil, fmt.Errorf("listing artifacts of run %s: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, scanArtifact)
	if err != nil {
		return nil, fmt.Errorf("listing artifacts of run %s: %w", runID, err)
	}
	if out == nil {
		out = []Artifact{}
	}
	return out, nil
}
