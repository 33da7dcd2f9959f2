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

	"github.com/parry-soar/parry/internal/store"
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
type Artifact = store.Artifact

// Index keeps the artifacts' metadata rows (*store.Store keeps them in PostgreSQL).
type Index interface {
	InsertArtifact(ctx context.Context, a store.Artifact) (store.Artifact, error)
	GetArtifact(ctx context.Context, id string) (store.Artifact, error)
	ListArtifacts(ctx context.Context, runID string) ([]store.Artifact, error)
}

// Store writes and reads artifacts. It is safe for concurrent use, across processes too: files are written
// under temporary names and renamed into place, and rows are inserted with their derived id.
type Store struct {
	// Dir holds the bytes (DataDir/artifacts).
	Dir   string
	Index Index
}

// New returns a store over dir and index.
func New(dir string, index Index) *Store { return &Store{Dir: dir, Index: index} }

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
	return s.Index.InsertArtifact(ctx, Artifact{ID: ID(meta.RunID, meta.StepID, sha), SHA256: sha, Size: int64(len(data)),
		RunID: meta.RunID, StepID: meta.StepID, Kind: meta.Kind, Name: meta.Name, ContentType: meta.ContentType})
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

// Get returns an artifact's metadata.
func (s *Store) Get(ctx context.Context, id string) (Artifact, error) {
	if !ValidID(id) {
		return Artifact{}, fmt.Errorf("artifact %q: %w (ids look like art_ and 32 hex digits)", id, ErrNotFound)
	}
	a, err := s.Index.GetArtifact(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Artifact{}, fmt.Errorf("artifact %s: %w", id, ErrNotFound)
	}
	return a, err
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
	return s.Index.ListArtifacts(ctx, runID)
}
