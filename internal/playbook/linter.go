package playbook

import (
	"errors"
	"fmt"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/fileread"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Linter lints and compiles playbooks against one action catalog, within limits, and against the
// connections a configuration defines when it knows them. It is safe for concurrent use.
type Linter struct {
	catalog     *action.Catalog
	limits      Limits
	connections *Connections
}

// NewLinter returns a linter for the given catalog (action.Default() when nil), with DefaultLimits and no
// connection checks.
func NewLinter(cat *action.Catalog) *Linter {
	if cat == nil {
		cat = action.Default()
	}
	return &Linter{catalog: cat, limits: DefaultLimits()}
}

// WithLimits returns a copy of the linter with other bounds (a zero field keeps its default).
func (l *Linter) WithLimits(lim Limits) *Linter {
	c := *l
	c.limits = lim.withDefaults()
	return &c
}

// Limits returns the linter's bounds.
func (l *Linter) Limits() Limits { return l.limits }

// WithConnections returns a copy of the linter that checks the connection a step names against conns.
func (l *Linter) WithConnections(conns Connections) *Linter {
	c := *l
	c.connections = &conns
	return &c
}

// Load parses, validates and compiles one playbook. The diagnostics are sorted; the plan is nil when any of
// them is an error (warnings do not stop compilation).
func (l *Linter) Load(file string, src []byte) (*plan.Plan, []Diagnostic) {
	pb, r, _ := l.check(file, src)
	yamlnode.Sort(r.Diags)
	diags := r.Diags
	if len(diags) > MaxDiagnostics {
		next := diags[MaxDiagnostics]
		diags = append(diags[:MaxDiagnostics:MaxDiagnostics], Diagnostic{File: file, Line: next.Line, Column: next.Column,
			Severity: next.Severity, Message: fmt.Sprintf("too many problems: only the first %d are shown", MaxDiagnostics)})
	}
	if pb == nil || r.HasErrors() {
		return nil, diags
	}
	return compile(pb, l.catalog), diags
}

// check parses and validates, reporting every problem (unsorted, all of them) to the returned reporter.
func (l *Linter) check(file string, src []byte) (*Playbook, *yamlnode.Reporter, *validator) {
	r := &yamlnode.Reporter{File: file}
	pb := parse(file, src, l.limits, r)
	if pb == nil {
		return nil, r, nil
	}
	v := &validator{
		pb: pb, d: &yamlnode.Decoder{Src: pb.Src, R: r}, r: r, cat: l.catalog, lim: l.limits, conns: l.connections,
		out: &outputTypes{byAction: map[string]expression.Type{}},
		ps:  expression.NewParser(), entries: map[string]expression.Type{},
	}
	v.run()
	return pb, r, v
}

// MaxDiagnostics is how many problems Load reports for one file; the rest usually follow from them.
const MaxDiagnostics = 200

// Load parses, validates and compiles one playbook with the default catalog.
func Load(file string, src []byte) (*plan.Plan, []Diagnostic) {
	return NewLinter(nil).Load(file, src)
}

// LoadFile reads and loads one file. The error is for a file that cannot be read; a file over the size
// limit is a diagnostic.
func (l *Linter) LoadFile(path string) (*plan.Plan, []Diagnostic, error) {
	data, err := fileread.ReadCapped(path, int64(l.limits.MaxBytes))
	var tooLarge *fileread.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, []Diagnostic{{File: path, Line: 1, Column: 1, Severity: yamlnode.Error, Bound: yamlnode.BoundBytes,
			Message: fmt.Sprintf("file is larger than the limit of %d bytes", tooLarge.Limit)}}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	p, diags := l.Load(path, data)
	return p, diags, nil
}

// Lint loads every playbook named by paths (files, or directories searched recursively for .yaml and .yml
// files, skipping NAME.test.yaml test files and hidden directories) and returns all diagnostics, sorted.
func (l *Linter) Lint(paths []string) ([]Diagnostic, error) {
	files, err := PlaybookFiles(paths)
	if err != nil {
		return nil, err
	}
	var all []Diagnostic
	for _, f := range files {
		_, diags, err := l.LoadFile(f)
		if err != nil {
			return nil, err
		}
		all = append(all, diags...)
	}
	yamlnode.Sort(all)
	return all, nil
}
