package playbooktest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

// Case statuses in results.
const (
	StatusPass  = "pass"
	StatusFail  = "fail"
	StatusError = "error" // the test file (or its playbook) has errors: no case ran
)

// Runner loads and runs test files. It is safe for concurrent use.
type Runner struct {
	// Filter selects cases by their full name, PLAYBOOK/CASE (nil: every case).
	Filter *regexp.Regexp
	// IdleTimeout bounds, in wall time, how long a case may wait with nothing to do before it is failed as
	// stuck (time skipping makes every legitimate wait instant). Zero: 10s.
	IdleTimeout time.Duration

	cat  *action.Catalog
	lint *playbook.Linter
	wf   *workflows.Workflows
}

// NewRunner returns a runner for the given action catalog (action.Default() when nil).
func NewRunner(cat *action.Catalog) *Runner {
	if cat == nil {
		cat = action.Default()
	}
	return &Runner{cat: cat, lint: playbook.NewLinter(cat), wf: workflows.New()}
}

func (r *Runner) catalog() *action.Catalog { return r.cat }
func (r *Runner) linter() *playbook.Linter { return r.lint }

// CaseResult is the outcome of one case. The JSON field names are part of parry's stable CLI output.
type CaseResult struct {
	File     string `json:"file"`
	Playbook string `json:"playbook"`
	Case     string `json:"case"`
	// Status is pass, fail, or error (for a test file that did not load).
	Status     string  `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	// Failures say what the case expected and what happened instead, each prefixed with FILE:LINE of the
	// expectation; for a test file with errors, its diagnostics.
	Failures []string `json:"failures"`
	// Warnings point at what the case left to defaults: actions without mocks, approvals without answers.
	Warnings []string      `json:"warnings"`
	Duration time.Duration `json:"-"`
}

// Name is PLAYBOOK/CASE, the name --run matches.
func (c CaseResult) Name() string { return c.Playbook + "/" + c.Case }

// FileResult is the outcome of one test file: its diagnostics, then its cases.
type FileResult struct {
	File     string
	Playbook string
	Diags    []Diagnostic
	Cases    []CaseResult
}

// Loaded reports whether the file loaded (no error among its diagnostics), so its cases ran.
func (f FileResult) Loaded() bool {
	for _, d := range f.Diags {
		if d.Severity == "error" {
			return false
		}
	}
	return true
}

// Selected lists the cases of f that the filter selects, in file order.
func (r *Runner) Selected(f *File) []*Case {
	var out []*Case
	for _, c := range f.Cases {
		if r.Filter == nil || r.Filter.MatchString(f.Name()+"/"+c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// RunFile loads one test file and runs its selected cases in file order. A caller that shows progress uses
// Load, Selected and RunCase itself.
func (r *Runner) RunFile(ctx context.Context, path string) FileResult {
	f, diags := r.Load(path)
	res := FileResult{File: path, Diags: diags}
	if f == nil {
		return res
	}
	res.Playbook = f.Name()
	for _, c := range r.Selected(f) {
		if ctx.Err() != nil {
			break
		}
		res.Cases = append(res.Cases, r.RunCase(ctx, f, c))
	}
	return res
}

// RunCase runs one case of a loaded file on a fresh test environment and checks its expectations. A case
// takes milliseconds, so ctx is only checked before it starts.
func (r *Runner) RunCase(ctx context.Context, f *File, c *Case) CaseResult {
	start := time.Now()
	cr := &caseRun{r: r, f: f, c: c, counts: map[string]int{}, warned: map[string]bool{}, answered: map[string]bool{}, synth: map[string]json.RawMessage{}}
	if err := ctx.Err(); err != nil {
		cr.failf(c.line, "not run: %v", err)
	} else if o := cr.execute(); o != nil {
		cr.check(o)
	}
	d := time.Since(start)
	res := CaseResult{
		File: f.Path, Playbook: f.Name(), Case: c.Name, Status: StatusPass,
		Failures: []string{}, Warnings: cr.warnings, Duration: d,
		DurationMS: float64(d.Microseconds()) / 1000,
	}
	slices.SortStableFunc(cr.failures, func(a, b failure) int { return cmp.Compare(a.line, b.line) })
	for _, f := range cr.failures {
		res.Failures = append(res.Failures, f.text)
	}
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	sort.Strings(res.Warnings)
	if len(res.Failures) > 0 {
		res.Status = StatusFail
	}
	return res
}

// caseRun is the state of one case: its test environment, the calls its mocks answered, what went wrong.
type caseRun struct {
	r *Runner
	f *File
	c *Case

	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	counts   map[string]int // calls so far per run and step execution (id or id#N)
	calls    []call
	synth    map[string]json.RawMessage
	warned   map[string]bool
	warnings []string
	failures []failure
	children []string
	answered map[string]bool
}

// call is one activity execution a mock answered.
type call struct {
	playbook string
	step     string // id, or id#N in a for_each loop
	action   string
	with     map[string]any
	attempt  int32
	seq      int // order of arrival
}

// outcome is how a run ended, decoded with whole numbers as int64 like the plan's own values.
type outcome struct {
	status string
	output map[string]any
	steps  map[string]workflows.StepRecord
	err    *workflows.StepError
	// text explains a failed run in one line.
	text string
	// now is the workflow clock when the run ended.
	now time.Time
}

func (cr *caseRun) failf(line int, format string, args ...any) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.failures = append(cr.failures, failure{line: line, text: cr.where(line) + fmt.Sprintf(format, args...)})
}

// failure is one difference, kept with its line so a case's failures read in the order of the test file.
type failure struct {
	line int
	text string
}

// where prefixes a failure with the test file's base name and the expectation's line, the way go test does.
func (cr *caseRun) where(line int) string {
	return fmt.Sprintf("%s:%d: ", filepath.Base(cr.f.Path), line)
}

func (cr *caseRun) warnOnce(key, format string, args ...any) {
	if cr.warned[key] {
		return
	}
	cr.warned[key] = true
	cr.warnings = append(cr.warnings, fmt.Sprintf(format, args...))
}

// execute runs the playbook on a test environment and returns how it ended (nil when it did not end, with a
// failure recorded).
func (cr *caseRun) execute() (o *outcome) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	cr.env = env
	env.SetStartTime(cr.c.Now)
	env.SetWorkflowRunTimeout(cr.f.plan.Timeout.D())
	idle := cr.r.IdleTimeout
	if idle <= 0 {
		idle = 10 * time.Second
	}
	env.SetTestTimeout(idle)
	env.RegisterWorkflowWithOptions(cr.r.wf.Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
	for _, name := range cr.r.cat.Names() {
		env.RegisterActivityWithOptions(cr.handle, activity.RegisterOptions{Name: name})
	}
	// An approval step starts a timer (its timeout) when it begins to wait: that is the moment to answer it.
	env.SetOnTimerScheduledListener(func(string, time.Duration) { env.RegisterDelayedCallback(cr.answerApprovals, 0) })
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		cr.mu.Lock()
		cr.children = append(cr.children, info.WorkflowExecution.ID)
		cr.mu.Unlock()
	})

	in := workflows.Input{
		RunID:    "test-run",
		Plan:     cr.f.planJSON,
		Playbook: workflows.PlaybookRef{Name: cr.f.plan.Name, SHA256: cr.f.plan.SHA256},
		Inputs:   cr.c.Inputs,
		Alert:    cr.c.Alert,
		Subplans: cr.f.subplans,
	}
	if cr.c.Alert != nil {
		in.Incident = &workflows.Incident{ID: 1, Key: "test", Alerts: []map[string]any{cr.c.Alert}}
		cr.checkTrigger()
	}
	defer func() {
		// The test environment panics when a run is stuck (nothing to do, no timer to skip to).
		if p := recover(); p != nil {
			msg := fmt.Sprint(p)
			if i := strings.Index(msg, ", workflow stack"); i > 0 {
				msg = msg[:i]
			}
			cr.failf(cr.c.line, "the run did not finish: %s", msg)
			o = nil
		}
	}()
	env.ExecuteWorkflow(workflows.PlaybookWorkflow, in)
	if !env.IsWorkflowCompleted() {
		cr.failf(cr.c.line, "the run did not finish")
		return nil
	}
	o, err := cr.outcome()
	if err != nil {
		cr.failf(cr.c.line, "reading the run's result: %v", err)
		return nil
	}
	return o
}

// checkTrigger warns when the case's alert would not start the playbook: the case then tests a run that
// cannot happen from an alert.
func (cr *caseRun) checkTrigger() {
	t := cr.f.plan.Trigger
	if t == nil || t.When == "" {
		return
	}
	scope := expression.NewScope(func() time.Time { return cr.c.Now })
	scope[expression.ScopeAlert] = cr.c.Alert
	ok, err := cr.r.wf.Engine.EvalBool(t.When, scope)
	switch {
	case err != nil:
		cr.warnOnce("trigger", "evaluating on.alert.when with this case's alert: %v", err)
	case !ok:
		cr.warnOnce("trigger", "this case's alert does not match on.alert.when, so such an alert would not start %s", cr.f.plan.Name)
	}
}

func (cr *caseRun) outcome() (*outcome, error) {
	o := &outcome{now: cr.env.Now().UTC()}
	werr := cr.env.GetWorkflowError()
	if werr == nil {
		var raw json.RawMessage
		if err := cr.env.GetWorkflowResult(&raw); err != nil {
			return nil, err
		}
		var res workflows.Result
		if err := decodeNumbers(raw, &res); err != nil {
			return nil, err
		}
		o.status, o.steps = res.Status, res.Steps
		if res.Output != nil {
			o.output, _ = workflows.Normalize(res.Output).(map[string]any)
		}
	} else {
		o.status = statusFailed
		var app *temporal.ApplicationError
		var timeout *temporal.TimeoutError
		switch {
		case errors.As(werr, &app) && app.Type() == workflows.FailureType:
			var raw json.RawMessage
			if err := app.Details(&raw); err != nil {
				return nil, err
			}
			var f workflows.Failure
			if err := decodeNumbers(raw, &f); err != nil {
				return nil, err
			}
			o.steps = f.Steps
			o.err = &workflows.StepError{Step: f.Step, Path: f.Path, Type: f.Type, Message: f.Message}
			o.text = app.Message()
		case errors.As(werr, &timeout):
			o.err = &workflows.StepError{Type: wire.Timeout, Message: fmt.Sprintf("the run timed out after %s (the playbook's timeout)", cr.f.plan.Timeout)}
			o.text = o.err.Message
		default:
			o.err = &workflows.StepError{Type: wire.Internal, Message: werr.Error()}
			o.text = werr.Error()
		}
	}
	for id, rec := range o.steps {
		rec.Output = workflows.Normalize(rec.Output)
		o.steps[id] = rec
	}
	return o, nil
}

// handle answers every action activity from the case's mocks, or with an output synthesised from the
// action's spec, and records the call.
func (cr *caseRun) handle(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	info := activity.GetInfo(ctx)
	act := info.ActivityType.Name
	cr.mu.Lock()
	key := in.Run.ID + "\x00" + in.Step
	n := cr.counts[key]
	cr.counts[key] = n + 1
	cr.calls = append(cr.calls, call{playbook: in.Run.Playbook, step: in.Step, action: act, with: in.With, attempt: info.Attempt, seq: len(cr.calls)})
	mk := cr.lookup(in.Step, act)
	var rp reply
	if mk == nil {
		rp.output = cr.synthesised(act)
		where := ""
		if in.Run.Playbook != cr.f.plan.Name {
			where = " of " + in.Run.Playbook
		}
		id := baseID(in.Step)
		cr.warnOnce("mock\x00"+in.Run.Playbook+"\x00"+id, "step %s%s has no mock: %s returned a synthesised output (empty lists, zero numbers, empty strings)", id, where, act)
	} else {
		rp = mk.replies[min(n, len(mk.replies)-1)]
	}
	cr.mu.Unlock()
	if rp.err != nil {
		// Retryable or not as the action's retry policy says, like the real activity's errors.
		return wire.ActionResult{}, temporal.NewApplicationError(rp.err.Message, rp.err.Type)
	}
	return wire.ActionResult{Output: rp.output, Attempt: int(info.Attempt)}, nil
}

// lookup finds the mock for a step execution: the case's mocks before the file's; in each, the for_each item
// (id#N), then the step, then the action.
func (cr *caseRun) lookup(execID, act string) *mock {
	id := baseID(execID)
	for _, level := range cr.c.mocks {
		if level == nil {
			continue
		}
		if id != execID {
			if m := level[execID]; m != nil {
				return m
			}
		}
		if m := level[id]; m != nil {
			return m
		}
		if m := level[act]; m != nil {
			return m
		}
	}
	return nil
}

func (cr *caseRun) synthesised(act string) json.RawMessage {
	if raw, ok := cr.synth[act]; ok {
		return raw
	}
	var v any = map[string]any{}
	if spec, ok := cr.r.cat.Lookup(act); ok {
		v = zero(spec.Output)
	}
	raw, _ := json.Marshal(v) // zero values always encode
	cr.synth[act] = raw
	return raw
}

// answerApprovals decides every approval the run (or a playbook it called) waits for, as the case says.
// It runs on the test environment's main loop, between workflow tasks.
func (cr *caseRun) answerApprovals() {
	cr.mu.Lock()
	ids := append([]string{""}, cr.children...)
	cr.mu.Unlock()
	for _, wid := range ids {
		var v converter.EncodedValue
		var err error
		if wid == "" {
			v, err = cr.env.QueryWorkflow(workflows.QueryStatus)
		} else {
			v, err = cr.env.QueryWorkflowByID(wid, workflows.QueryStatus)
		}
		if err != nil {
			continue // the run (or the called one) has ended
		}
		var st workflows.Status
		if v.Get(&st) != nil {
			continue
		}
		for _, w := range st.Waiting {
			if w.Kind != "approval" || cr.answered[wid+"\x00"+w.Step] {
				continue
			}
			cr.answered[wid+"\x00"+w.Step] = true
			cr.answer(wid, w)
		}
	}
}

func (cr *caseRun) answer(wid string, w workflows.Wait) {
	id := baseID(w.Step)
	a, ok := cr.c.approvals[id]
	if !ok {
		cr.mu.Lock()
		cr.warnOnce("approval\x00"+id, "step %s waited for an approval this case does not answer: it waits out its timeout (%s)", id, cr.timeoutNote(id))
		cr.mu.Unlock()
		return
	}
	if a.decision == decisionTimeout {
		return
	}
	d := workflows.ApprovalDecision{Step: w.Step, Approved: a.decision == decisionApprove, By: a.by, Roles: a.roles, Comment: a.comment}
	cb := &testsuite.TestUpdateCallback{
		OnReject: func(err error) {
			cr.failf(a.line, "the answer to approval %s was refused: %v", w.Step, err)
		},
	}
	updateID := "approval/" + wid + "/" + w.Step
	if wid == "" {
		cr.env.UpdateWorkflow(workflows.UpdateApproval, updateID, cb, d)
		return
	}
	if err := cr.env.UpdateWorkflowByID(wid, workflows.UpdateApproval, updateID, cb, d); err != nil {
		cr.failf(a.line, "answering approval %s: %v", w.Step, err)
	}
}

func (cr *caseRun) timeoutNote(id string) string {
	for _, p := range cr.f.plans {
		if s, ok := p.Step(id); ok && s.Approval != nil {
			return fmt.Sprintf("%s, then on_timeout: %s", s.Approval.Timeout, s.Approval.OnTimeout)
		}
	}
	return "its timeout"
}

// decodeNumbers decodes JSON keeping whole numbers whole (json.Number, normalised later).
func decodeNumbers(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}
