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
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/yamlnode"
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

// SkippedFile is a playbook file a per-file sync left out, with the problems that stop it.
type SkippedFile struct {
	File string
	// Name is the playbook the file names, when it could be read ("" otherwise).
	Name        string
	Diagnostics []yamlnode.Diagnostic
}

// SkippedError says which files a per-file sync left out; the others were synced (the result says how).
type SkippedError struct {
	Skipped []SkippedFile
	// KeptAll is set when a skipped file names no playbook that could be read: then no playbook was
	// disabled, since the broken file may be one of them.
	KeptAll bool
}

func (e *SkippedError) Error() string {
	var parts []string
	for _, s := range e.Skipped {
		first := s.File + ": does not load"
		for _, d := range s.Diagnostics {
			if d.Severity == yamlnode.Error {
				first = d.String()
				break
			}
		}
		parts = append(parts, first)
	}
	noun := "files"
	if len(e.Skipped) == 1 {
		noun = "file"
	}
	return fmt.Sprintf("%d %s skipped (the registry keeps their previous versions): %s", len(e.Skipped), noun, strings.Join(parts, "; "))
}

// SyncFiles syncs dir file by file: every file that lints clean is pushed and enabled, a file with errors is
// skipped (its playbook keeps the version the registry has), and the playbooks an earlier sync of dir enabled
// whose file is gone are disabled. Skipped files come back as a *SkippedError beside the result; any other error
// (reading the directory, the database) means nothing more was done.
func SyncFiles(ctx context.Context, st Store, linter *playbook.Linter, dir string) (SyncResult, error) {
	if linter == nil {
		linter = playbook.NewLinter(nil)
	}
	paths, err := playbook.PlaybookFiles([]string{dir})
	if err != nil {
		return SyncResult{}, err
	}
	files, err := readFiles(paths)
	if err != nil {
		return SyncResult{}, err
	}
	var good []File
	var skipped []SkippedFile
	brokenNames := map[string]bool{}
	keptAll := false
	owner := map[string]string{}
	for _, f := range files {
		ok, diags := compileFiles(linter, []File{f})
		if len(ok) == 1 && !yamlnode.HasErrors(diags) {
			name := ok[0].plan.Name
			if other, dup := owner[name]; dup {
				skipped = append(skipped, SkippedFile{File: f.Name, Name: name, Diagnostics: []yamlnode.Diagnostic{{File: f.Name, Line: 1, Column: 1,
					Severity: yamlnode.Error, Message: fmt.Sprintf("playbook %q is also defined in %s; the first file keeps it", name, other)}}})
				continue
			}
			owner[name] = f.Name
			good = append(good, f)
			continue
		}
		name := playbookName(f.Source)
		if name == "" {
			keptAll = true
		} else {
			brokenNames[name] = true
		}
		skipped = append(skipped, SkippedFile{File: f.Name, Name: name, Diagnostics: diags})
	}
	var res SyncResult
	if len(good) > 0 {
		if res.Pushed, err = Push(ctx, st, linter, good, SyncBy(dir), true); err != nil {
			return res, err
		}
	}
	if !keptAll {
		present := map[string]bool{}
		for _, p := range res.Pushed {
			present[p.Name] = true
		}
		enabled, err := st.EnabledPlaybooks(ctx)
		if err != nil {
			return res, err
		}
		for _, v := range enabled {
			if v.CreatedBy == SyncBy(dir) && !present[v.Name] && !brokenNames[v.Name] {
				if _, err := st.DisablePlaybook(ctx, v.Name); err != nil {
					return res, err
				}
				res.Disabled = append(res.Disabled, v.Name)
			}
		}
		sort.Strings(res.Disabled)
	}
	if len(skipped) > 0 {
		return res, &SkippedError{Skipped: skipped, KeptAll: keptAll}
	}
	return res, nil
}

// playbookName reads the top-level name of a playbook that does not lint, so a sync can tell which playbook a
// broken file is ("" when even that cannot be read).
func playbookName(src string) string {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return ""
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "name" && m.Content[i+1].Kind == yaml.ScalarNode {
			return strings.TrimSpace(m.Content[i+1].Value)
		}
	}
	return ""
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

// Run syncs until ctx ends, file by file (SyncFiles): a file with lint errors is logged and skipped, the
// others load, and it is tried again on the next change; a sync that fails (the database down) is retried on
// the next poll. The registry keeps the last good version of a skipped file's playbook meanwhile.
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
			res, err := SyncFiles(ctx, w.Store, w.Linter, w.Dir)
			var skipped *SkippedError
			switch {
			case err == nil:
				log.Info("playbooks synced", "dir", w.Dir, "summary", res.Summary())
				last = fp
			case errors.As(err, &skipped):
				for _, s := range skipped.Skipped {
					for _, d := range s.Diagnostics {
						log.Warn("playbook problem: " + d.String())
					}
				}
				log.Warn("playbooks synced except the files above: fix them; the registry keeps their previous versions",
					"dir", w.Dir, "summary", res.Summary(), "skipped", len(skipped.Skipped))
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
