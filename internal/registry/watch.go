package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/parry-soar/parry/internal/playbook"
)

// readFiles reads playbook files; a file over the size cap is read only up to it plus one byte, so Push
// reports it as too large.
func readFiles(paths []string) ([]File, error) {
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, playbook.MaxFileBytes+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		files = append(files, File{Name: p, Source: string(b)})
	}
	return files, nil
}

// ReadFiles reads the playbook files named by paths (files, or directories searched as `parry lint` does).
func ReadFiles(paths []string) ([]File, error) {
	expanded, err := playbook.PlaybookFiles(paths)
	if err != nil {
		return nil, err
	}
	return readFiles(expanded)
}

// fingerprint hashes the names and contents of the playbook files in dir.
func fingerprint(dir string) (string, error) {
	paths, err := playbook.PlaybookFiles([]string{dir})
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed between listing and reading: the next poll sees it gone
			}
			return "", err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%s\x00%x\x00", p, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Watcher keeps the registry in sync with a directory: it syncs once, then polls the files' hashes and syncs
// again when they change. Polling (every second or two) needs no platform-specific notification API and also
// sees edits on network and container-mounted file systems.
type Watcher struct {
	Store    Store
	Linter   *playbook.Linter
	Dir      string
	Interval time.Duration // 2s when 0
	Logger   *slog.Logger
	// OnSync, when set, is told the outcome of every sync (tests, and dev's console).
	OnSync func(SyncResult, error)
}

// Run syncs until ctx ends. A sync that fails (lint errors, database down) is logged and retried on the next
// change (or, for a database error, the next poll); the registry keeps the last good versions meanwhile.
func (w *Watcher) Run(ctx context.Context) error {
	interval := w.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	last, failing := "", false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fp, err := fingerprint(w.Dir)
		switch {
		case err != nil:
			if !failing {
				log.Warn("reading the playbooks directory", "dir", w.Dir, "error", err)
			}
			failing, last = true, ""
		case fp != last:
			failing = false
			res, err := SyncDir(ctx, w.Store, w.Linter, w.Dir)
			var lint *LintError
			switch {
			case err == nil:
				log.Info("playbooks synced", "dir", w.Dir, "summary", res.Summary())
				last = fp
			case errors.As(err, &lint):
				for _, d := range lint.Diagnostics {
					log.Warn("playbook problem: " + d.String())
				}
				log.Warn("playbooks not synced: fix the problems above; the registry keeps the previous versions", "dir", w.Dir)
				last = fp // retry on the next change, not every poll
			default:
				if ctx.Err() == nil {
					log.Warn("syncing playbooks failed; retrying", "dir", w.Dir, "error", err)
				}
			}
			if w.OnSync != nil && ctx.Err() == nil {
				w.OnSync(res, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
