// Package artifact keeps the files runs collect (quarantined mail ZIPs) outside Temporal's history: the bytes in
// a directory under the data dir, named by their SHA-256 and written atomically, and one metadata row per
// (run, step, content) in PostgreSQL. Identical content is stored once on disk however many runs keep it.
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned (wrapped) for an unknown artifact id.
var ErrNotFound = errors.New("artifact not found")

// Meta describes an artifact being stored.
type Meta struct {
	RunID  string
	StepID string
	// Kind says what the bytes are (quarantined-mail).
	Kind string
	// Name is a file name to offer on download (the mail's unique id + .zip).
	Name        string
	ContentType string
}

// Artifact is a stored artifact's metadata.
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

// Store writes and reads artifacts. It is safe for concurrent use, across processes too: files are written
// under temporary names and renamed into place, and rows are inserted with their derived id.
type Store struct {
	// Dir holds the bytes (DataDir/artifacts).
	Dir  string
	Pool *pgxpool.Pool
}

// New returns a store over dir and pool.
func New(dir string, pool *pgxpool.Pool) *Store { return &Store{Dir: dir, Pool: pool} }

// idPrefix marks artifact ids, so an id pasted into the wrong command is recognisable.
const idPrefix = "art_"

var idRE = regexp.MustCompile(`^art_[0-9a-f]{32}$`)

// ID is the id of the artifact with content hash sha (hex SHA-256) kept by step of run. Deriving it makes
// storing idempotent: a retried step gets the same id back.
func ID(runID, stepID, sha string) string {
	h := sha256.Sum256([]byte(runID + "\x00" + stepID + "\x00" + sha))
	return idPrefix + hex.EncodeToString(h[:16])
}

// ValidID reports whether id has the form of an artifact id.
func ValidID(id string) bool { return idRE.MatchString(id) }

// Path is where the bytes with hash sha live: two levels keep directories small.
func (s *Store) Path(sha string) string {
	return filepath.Join(s.Dir, sha[:2], sha)
}

// Put stores data for meta and returns its metadata. Storing the same content for the same run and step again
// returns the existing artifact.
func (s *Store) Put(ctx context.Context, meta Meta, data []byte) (Artifact, error) {
	if meta.Kind == "" {
		return Artifact{}, errors.New("storing artifact: no kind given")
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	if err := s.writeFile(sha, data); err != nil {
		return Artifact{}, fmt.Errorf("storing artifact: %w", err)
	}
	id := ID(meta.RunID, meta.StepID, sha)
	_, err := s.Pool.Exec(ctx, `INSERT INTO artifacts (id, sha256, size, run_id, step_id, kind, name, content_type)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		id, sha, int64(len(data)), meta.RunID, meta.StepID, meta.Kind, meta.Name, meta.ContentType)
	if err != nil {
		return Artifact{}, fmt.Errorf("recording artifact %s: %w", id, err)
	}
	return s.Get(ctx, id)
}

// writeFile puts data at Path(sha) unless a complete copy is already there.
func (s *Store) writeFile(sha string, data []byte) error {
	path := s.Path(sha)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating artifact directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+sha[:16]+".tmp-")
	if err != nil {
		return fmt.Errorf("creating artifact file: %w", err)
	}
	defer os.Remove(tmp.Name())
	// Quarantined mail is hostile and private: only parry's user reads it.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing artifact file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing artifact file: %w", err)
	}
	// The row that points at the file is committed after this returns; the bytes must be on disk first.
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing artifact file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing artifact file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("moving artifact file into place: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

const columns = `id, sha256, size, run_id, step_id, kind, name, content_type, created_at`

func scan(row pgx.Row) (Artifact, error) {
	var a Artifact
	err := row.Scan(&a.ID, &a.SHA256, &a.Size, &a.RunID, &a.StepID, &a.Kind, &a.Name, &a.ContentType, &a.CreatedAt)
	return a, err
}

// Get returns an artifact's metadata.
func (s *Store) Get(ctx context.Context, id string) (Artifact, error) {
	if !ValidID(id) {
		return Artifact{}, fmt.Errorf("artifact %q: %w (ids look like art_ and 32 hex digits)", id, ErrNotFound)
	}
	a, err := scan(s.Pool.QueryRow(ctx, `SELECT `+columns+` FROM artifacts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Artifact{}, fmt.Errorf("artifact %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("reading artifact %s: %w", id, err)
	}
	return a, nil
}

// Read returns an artifact's metadata and bytes, checking the bytes still hash to what was stored.
func (s *Store) Read(ctx context.Context, id string) (Artifact, []byte, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return Artifact{}, nil, err
	}
	data, err := os.ReadFile(s.Path(a.SHA256))
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil, fmt.Errorf("reading artifact %s: its file %s is missing", id, s.Path(a.SHA256))
	}
	if err != nil {
		return a, nil, fmt.Errorf("reading artifact %s: %w", id, err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != a.SHA256 {
		return a, nil, fmt.Errorf("reading artifact %s: its file %s no longer matches its SHA-256", id, s.Path(a.SHA256))
	}
	return a, data, nil
}

// List returns the artifacts a run stored, oldest first.
func (s *Store) List(ctx context.Context, runID string) ([]Artifact, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+columns+` FROM artifacts WHERE run_id = $1 ORDER BY created_at, id`, runID)
	if err != nil {
		return nil, fmt.Errorf("listing artifacts of run %s: %w", runID, err)
	}
	defer rows.Close()
	out := []Artifact{}
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("listing artifacts of run %s: %w", runID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing artifacts of run %s: %w", runID, err)
	}
	return out, nil
}
