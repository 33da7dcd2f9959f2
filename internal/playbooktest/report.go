package playbooktest

import (
	"fmt"
	"io"
	"time"

	"github.com/parry-soar/parry/internal/yamlnode"
)

// WriteDiags writes a test file's diagnostics the way parry lint does, and when they stop the file, a FAIL
// line for it.
func WriteDiags(w io.Writer, file string, diags []Diagnostic) {
	errs := 0
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
		if d.Severity == yamlnode.Error {
			errs++
		}
	}
	if errs > 0 {
		fmt.Fprintf(w, "FAIL %s [not run: %s]\n", file, plural(errs, "error"))
	}
}

// WriteCase writes one case's result like go test: "ok   NAME (12ms)" or "FAIL NAME (8ms)", then its
// failures and warnings indented.
func WriteCase(w io.Writer, c CaseResult) {
	word := "ok  "
	if c.Status != StatusPass {
		word = "FAIL"
	}
	fmt.Fprintf(w, "%s %s (%dms)\n", word, c.Name(), (c.Duration+time.Millisecond/2)/time.Millisecond)
	for _, f := range c.Failures {
		fmt.Fprintf(w, "    %s\n", f)
	}
	for _, warn := range c.Warnings {
		fmt.Fprintf(w, "    warning: %s\n", warn)
	}
}

// ErrorResult is the JSON entry of a test file that did not load: its errors as failures, its warnings as
// warnings.
func ErrorResult(file string, diags []Diagnostic) CaseResult {
	r := CaseResult{File: file, Status: StatusError, Failures: []string{}, Warnings: []string{}}
	for _, d := range diags {
		if d.Severity == yamlnode.Error {
			r.Failures = append(r.Failures, d.String())
		} else {
			r.Warnings = append(r.Warnings, d.String())
		}
	}
	return r
}

// Summary is the last line of a test run: "3 passed, 1 failed", with the files that did not load.
func Summary(passed, failed, broken int) string {
	s := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if broken > 0 {
		s += fmt.Sprintf(", %s with errors", plural(broken, "test file"))
	}
	return s
}
