// Package yamlnode decodes YAML documents that humans edit (playbooks, playbook tests) while keeping the file,
// line and column of every value, so that every problem can be reported where it is, all at once.
//
// It never unmarshals a document straight into structs: callers walk yaml.Node trees through Decoder, which
// checks kinds, unknown keys (with a did-you-mean), duplicates and scalar types, and collects Diagnostics.
// A format can also be declared as a Spec (keys, kinds, required and exclusive keys, closed sets of words)
// that Decoder.Check applies in one walk; the caller then checks only what the spec cannot say. Parse bounds
// the work a document can cause (Limits), and positions agree with the YAML parser's for every line ending.
package yamlnode

import (
	"cmp"
	"fmt"
	"slices"
)

// Severity says whether a diagnostic blocks compilation.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Pos is a 1-based line and column (columns count characters).
type Pos struct {
	Line   int
	Column int
}

// Diagnostic is one problem found in a file. The JSON field names are part of parry's stable CLI output.
type Diagnostic struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	// Bound names the limit the file exceeds (BoundBytes, BoundNodes...), for callers that answer such a
	// problem differently from a mistake (an API's 413); empty for every other problem.
	Bound string `json:"bound,omitempty"`
}

// Bounds a document can exceed (Limits).
const (
	BoundBytes   = "bytes"
	BoundDepth   = "depth"
	BoundNodes   = "nodes"
	BoundAliases = "aliases"
)

// String formats the diagnostic the way compilers do (file:line:col: error: message), which editors and CI
// annotators turn into links.
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Column, d.Severity, d.Message)
}

// Sort orders diagnostics by file, line, column, then severity and message, so output is stable.
func Sort(ds []Diagnostic) {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Severity, b.Severity),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// HasErrors reports whether any diagnostic is an error (warnings do not count).
func HasErrors(ds []Diagnostic) bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Reporter collects diagnostics for one file.
type Reporter struct {
	File  string
	Diags []Diagnostic

	errors int
}

// Errorf records an error at pos.
func (r *Reporter) Errorf(pos Pos, format string, args ...any) {
	r.add(Error, pos, fmt.Sprintf(format, args...))
}

// Warnf records a warning at pos.
func (r *Reporter) Warnf(pos Pos, format string, args ...any) {
	r.add(Warning, pos, fmt.Sprintf(format, args...))
}

// Exceeded records an error saying that the file exceeds the named bound.
func (r *Reporter) Exceeded(pos Pos, bound, format string, args ...any) {
	r.add(Error, pos, fmt.Sprintf(format, args...))
	r.Diags[len(r.Diags)-1].Bound = bound
}

// Exceeded returns the first diagnostic that reports an exceeded bound.
func Exceeded(ds []Diagnostic) (Diagnostic, bool) {
	for _, d := range ds {
		if d.Bound != "" {
			return d, true
		}
	}
	return Diagnostic{}, false
}

func (r *Reporter) add(sev Severity, pos Pos, msg string) {
	if pos.Line < 1 {
		pos.Line = 1
	}
	if pos.Column < 1 {
		pos.Column = 1
	}
	r.Diags = append(r.Diags, Diagnostic{File: r.File, Line: pos.Line, Column: pos.Column, Severity: sev, Message: msg})
	if sev == Error {
		r.errors++
	}
}

// HasErrors reports whether an error was recorded.
func (r *Reporter) HasErrors() bool { return HasErrors(r.Diags) }

// ErrorCount is how many errors were recorded, so that a pass can tell whether a part of a file had any.
func (r *Reporter) ErrorCount() int { return r.errors }
