// Package registry keeps the playbook registry: immutable versions (by content SHA-256) stored only after they
// lint clean, the enabled version of each playbook, and a directory of playbook files (a playbooks repository)
// kept in sync with the registry for `parry dev --playbooks DIR`.
package registry

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Store is what the registry needs of the store; *store.Store is one.
type Store interface {
	PutPlaybookVersion(ctx context.Context, name, sha, source string, planJSON []byte, createdBy string) (store.PlaybookVersion, bool, error)
	EnablePlaybook(ctx context.Context, name string, version int) (store.PlaybookVersion, error)
	DisablePlaybook(ctx context.Context, name string) (bool, error)
	EnabledPlaybooks(ctx context.Context) ([]store.PlaybookVersion, error)
}

// File is one playbook source to push; Name is what diagnostics call it (its path).
type File struct {
	Name   string `json:"file"`
	Source string `json:"source"`
}

// Pushed says what became of one pushed playbook.
type Pushed struct {
	File    string `json:"file,omitempty"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	// Created is false when the same content was stored already (that version is reported).
	Created bool `json:"created"`
	Enabled bool `json:"enabled"`
}

// LintError is a push refused because some file has lint errors; nothing was stored.
type LintError struct {
	Diagnostics []yamlnode.Diagnostic
}

func (e *LintError) Error() string {
	n := 0
	var first string
	for _, d := range e.Diagnostics {
		if d.Severity == yamlnode.Error {
			if n == 0 {
				first = d.String()
			}
			n++
		}
	}
	if n == 1 {
		return "the playbook has a problem, nothing was stored: " + first
	}
	return fmt.Sprintf("the playbooks have %d problems, nothing was stored; the first: %s", n, first)
}

// MaxPushFiles bounds one push.
const MaxPushFiles = 500

// Push lints every file and, only when all are clean (warnings allowed), stores each as a new version of its
// playbook unless that content is stored already. With enable, each pushed version becomes the enabled one.
// Two files naming the same playbook are refused.
func Push(ctx context.Context, st Store, linter *playbook.Linter, files []File, by string, enable bool) ([]Pushed, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("pushing playbooks: no files")
	}
	if len(files) > MaxPushFiles {
		return nil, fmt.Errorf("pushing playbooks: %d files in one push; at most %d", len(files), MaxPushFiles)
	}
	if linter == nil {
		linter = playbook.NewLinter(nil)
	}
	ok, all := compileFiles(linter, files)
	if yamlnode.HasErrors(all) {
		return nil, &LintError{Diagnostics: all}
	}
	out := make([]Pushed, 0, len(ok))
	for _, c := range ok {
		v, created, err := st.PutPlaybookVersion(ctx, c.plan.Name, c.plan.SHA256, c.file.Source, c.json, by)
		if err != nil {
			return out, err
		}
		p := Pushed{File: c.file.Name, Name: v.Name, Version: v.Version, SHA256: v.SHA256, Created: created, Enabled: v.Enabled}
		if enable && !v.Enabled {
			if _, err := st.EnablePlaybook(ctx, v.Name, v.Version); err != nil {
				return out, err
			}
			p.Enabled = true
		}
		out = append(out, p)
	}
	return out, nil
}

// Lint returns every diagnostic of files that would stop a push: lint errors, files over the size cap and two
// files naming one playbook. It stores nothing.
func Lint(linter *playbook.Linter, files []File) []yamlnode.Diagnostic {
	_, all := compileFiles(linter, files)
	if !yamlnode.HasErrors(all) {
		return nil
	}
	return all
}

// Warnings returns the warnings of a set of files (Push stores files with warnings; a CLI may show them).
func Warnings(linter *playbook.Linter, files []File) []yamlnode.Diagnostic {
	if linter == nil {
		linter = playbook.NewLinter(nil)
	}
	var out []yamlnode.Diagnostic
	for _, f := range files {
		_, diags := linter.Load(f.Name, []byte(f.Source))
		for _, d := range diags {
			if d.Severity != yamlnode.Error {
				out = append(out, d)
			}
		}
	}
	yamlnode.Sort(out)
	return out
}

type compiled struct {
	file File
	plan *plan.Plan
	json []byte
}

// compileFiles lints and compiles files; the diagnostics are sorted.
func compileFiles(linter *playbook.Linter, files []File) ([]compiled, []yamlnode.Diagnostic) {
	if linter == nil {
		linter = playbook.NewLinter(nil)
	}
	var all []yamlnode.Diagnostic
	var ok []compiled
	byName := map[string]string{}
	for _, f := range files {
		if len(f.Source) > playbook.MaxFileBytes {
			all = append(all, yamlnode.Diagnostic{File: f.Name, Line: 1, Column: 1, Severity: yamlnode.Error,
				Message: fmt.Sprintf("file is larger than the limit of %d bytes", playbook.MaxFileBytes)})
			continue
		}
		p, diags := linter.Load(f.Name, []byte(f.Source))
		all = append(all, diags...)
		if p == nil {
			continue
		}
		if other, dup := byName[p.Name]; dup {
			all = append(all, yamlnode.Diagnostic{File: f.Name, Line: 1, Column: 1, Severity: yamlnode.Error,
				Message: fmt.Sprintf("playbook %q is also defined in %s; a push takes each playbook once", p.Name, other)})
			continue
		}
		byName[p.Name] = f.Name
		b, err := plan.Encode(p)
		if err != nil {
			all = append(all, yamlnode.Diagnostic{File: f.Name, Line: 1, Column: 1, Severity: yamlnode.Error,
				Message: fmt.Sprintf("encoding the plan: %v", err)})
			continue
		}
		ok = append(ok, compiled{file: f, plan: p, json: b})
	}
	yamlnode.Sort(all)
	return ok, all
}

// SyncResult says what a directory sync changed.
type SyncResult struct {
	Pushed []Pushed `json:"pushed"`
	// Disabled are playbooks a previous sync of the same directory enabled whose file is gone.
	Disabled []string `json:"disabled,omitempty"`
}

// SyncBy is the created_by of versions a sync of dir stores; it marks which playbooks the directory owns. The
// directory is made absolute, so ./playbooks and playbooks own the same playbooks.
func SyncBy(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return "sync:" + dir
}

// SyncDir pushes and enables every playbook in dir (recursively, as `parry lint` finds them), and disables the
// playbooks an earlier sync of dir enabled whose file is gone, so that the directory is the source of truth
// for its playbooks. Nothing changes when any file has lint errors (a *LintError).
func SyncDir(ctx context.Context, st Store, linter *playbook.Linter, dir string) (SyncResult, error) {
	paths, err := playbook.PlaybookFiles([]string{dir})
	if err != nil {
		return SyncResult{}, err
	}
	files, err := readFiles(paths)
	if err != nil {
		return SyncResult{}, err
	}
	var res SyncResult
	if len(files) > 0 {
		if res.Pushed, err = Push(ctx, st, linter, files, SyncBy(dir), true); err != nil {
			return res, err
		}
	}
	present := map[string]bool{}
	for _, p := range res.Pushed {
		present[p.Name] = true
	}
	enabled, err := st.EnabledPlaybooks(ctx)
	if err != nil {
		return res, err
	}
	for _, v := range enabled {
		if v.CreatedBy == SyncBy(dir) && !present[v.Name] {
			if _, err := st.DisablePlaybook(ctx, v.Name); err != nil {
				return res, err
			}
			res.Disabled = append(res.Disabled, v.Name)
		}
	}
	sort.Strings(res.Disabled)
	return res, nil
}

// Summary is a one-line account of a sync for logs.
func (r SyncResult) Summary() string {
	var created []string
	for _, p := range r.Pushed {
		if p.Created {
			created = append(created, fmt.Sprintf("%s v%d", p.Name, p.Version))
		}
	}
	parts := []string{fmt.Sprintf("%d playbooks", len(r.Pushed))}
	if len(created) > 0 {
		parts = append(parts, "new: "+strings.Join(created, ", "))
	}
	if len(r.Disabled) > 0 {
		parts = append(parts, "disabled: "+strings.Join(r.Disabled, ", "))
	}
	return strings.Join(parts, "; ")
}
