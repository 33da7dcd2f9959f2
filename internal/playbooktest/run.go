package playbooktest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
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
	// onAnswer, when set, is called as each action is answered (in workflow code): tests use it to make a
	// workflow task slow, the way a busy machine does.
	onAnswer func()
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
//
// Actions never run as the test environment's activities: those run on goroutines of their own and their
// results reach the run in whatever order the machine's scheduler lets them, and while one runs the
// environment fires timers by the wall clock. An interceptor answers every action inside the workflow
// instead (see mockOutbound), so a case runs in one deterministic sequence whatever the machine's load, and
// its verdict is the same every time.
func (cr *caseRun) execute() (o *outcome) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	cr.env = env
	env.SetStartTime(cr.c.Now)
	env.SetWorkflowRunTimeout(cr.f.plan.Timeout.D())
	idle := cr.r.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	env.SetTestTimeout(idle)
	// A workflow task that takes long because the machine is busy is not a deadlock: nothing in an offline
	// case waits on anything but the interpreter itself.
	env.SetWorkerOptions(worker.Options{
		DeadlockDetectionTimeout: time.Duration(math.MaxInt64),
		Interceptors:             []interceptor.WorkerInterceptor{&mockInterceptor{cr: cr}},
	})
	env.RegisterWorkflowWithOptions(cr.r.wf.Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
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
		// As every run parry starts (runs.Starter).
		Interpreter: workflows.InterpreterFor(cr.f.plan),
	}
	if cr.c.Schedule != nil {
		in.StartedBy = fmt.Sprintf("schedule:%s#%d", cr.f.plan.Name, *cr.c.Schedule)
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

// DefaultIdleTimeout is how long, in wall time, a case may wait with nothing to do before it is failed as
// stuck. Every legitimate wait of a case is instant (time skipping, actions answered in the workflow); this
// only catches a run that waits for something that never comes, so it is generous.
const DefaultIdleTimeout = 5 * time.Minute

// mockInterceptor answers the actions of the run (and of the runs it calls) from the case's mocks.
type mockInterceptor struct {
	interceptor.WorkerInterceptorBase
	cr *caseRun
}

func (m *mockInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &mockInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, cr: m.cr}
}

type mockInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	cr *caseRun
}

func (i *mockInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&mockOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, cr: i.cr})
}

// mockOutbound replaces scheduling an activity by answering it inside the workflow: the answer, its retries
// (with the step's retry policy, back-off on the workflow's timers, so in no wall time) and its cancellation
// all happen in workflow code, in the order the run asks for them.
type mockOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	cr *caseRun
}

func (o *mockOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...interface{}) workflow.Future {
	fut, set := workflow.NewFuture(ctx)
	if ctx.Err() != nil {
		set.Set(nil, temporal.NewCanceledError())
		return fut
	}
	in, err := activityInput(args)
	if err != nil {
		set.Set(nil, temporal.NewNonRetryableApplicationError(err.Error(), wire.Internal, nil))
		return fut
	}
	opts := workflow.GetActivityOptions(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) { o.cr.emulate(ctx, activityType, opts, in, set) })
	return fut
}

// activityInput gives the action its input as the activity would see it: through JSON, so numbers are
// float64 and nothing of the workflow's own values is shared.
func activityInput(args []any) (wire.ActionInput, error) {
	var in wire.ActionInput
	if len(args) != 1 {
		return in, fmt.Errorf("an action takes one argument, got %d", len(args))
	}
	raw, err := json.Marshal(args[0])
	if err != nil {
		return in, err
	}
	err = json.Unmarshal(raw, &in)
	return in, err
}

// emulate answers one action execution the way Temporal runs an activity: attempt after attempt while the
// answer is a retryable error and the retry policy allows, waiting the back-off on a workflow timer.
func (cr *caseRun) emulate(ctx workflow.Context, act string, opts workflow.ActivityOptions, in wire.ActionInput, set workflow.Settable) {
	rp := opts.RetryPolicy
	if rp == nil {
		rp = &temporal.RetryPolicy{}
	}
	initial := cmp.Or(rp.InitialInterval, time.Second)
	coeff := rp.BackoffCoefficient
	if coeff < 1 {
		coeff = 2
	}
	maxInterval := cmp.Or(rp.MaximumInterval, 100*initial)
	start := workflow.Now(ctx)
	for attempt := 1; ; attempt++ {
		res, err := cr.answerCall(in, act, attempt)
		if err == nil {
			set.Set(res, nil)
			return
		}
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.NonRetryable() || slices.Contains(rp.NonRetryableErrorTypes, app.Type()) ||
			rp.MaximumAttempts > 0 && attempt >= int(rp.MaximumAttempts) {
			set.Set(nil, err)
			return
		}
		backoff := app.NextRetryDelay()
		if backoff <= 0 {
			backoff = time.Duration(float64(initial) * math.Pow(coeff, float64(attempt-1)))
			if backoff > maxInterval || backoff <= 0 {
				backoff = maxInterval
			}
		}
		if opts.ScheduleToCloseTimeout > 0 && workflow.Now(ctx).Add(backoff).Sub(start) > opts.ScheduleToCloseTimeout {
			set.Set(nil, err) // the next attempt would start after the schedule-to-close timeout: no retry
			return
		}
		if workflow.Sleep(ctx, backoff) != nil {
			set.Set(nil, temporal.NewCanceledError())
			return
		}
	}
}

// answerCall answers one attempt: the action's own input checks first (what the activity refuses, the mock
// refuses), then the case's mock, or an output synthesised from the action's spec. It records the call.
func (cr *caseRun) answerCall(in wire.ActionInput, act string, attempt int) (wire.ActionResult, error) {
	if cr.r.onAnswer != nil {
		cr.r.onAnswer()
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	key := in.Run.ID + "\x00" + in.Step
	n := cr.counts[key]
	cr.counts[key] = n + 1
	cr.calls = append(cr.calls, call{playbook: in.Run.Playbook, step: in.Step, action: act, with: in.With, attempt: int32(attempt), seq: len(cr.calls)})
	if spec, ok := cr.r.cat.Lookup(act); ok {
		with, _ := cloneValue(in.With).(map[string]any)
		if with == nil {
			with = map[string]any{}
		}
		for _, ref := range in.Secrets {
			setPath(with, ref.Path, "<secret "+ref.Name+">")
		}
		if problems := spec.CheckInputs(with); len(problems) > 0 {
			return wire.ActionResult{}, wire.NewActionError(wire.InvalidInput, strings.Join(problems, "; "), attempt, 0)
		}
	}
	mk := cr.lookup(in.Run.Playbook, in.Step, act)
	var rp reply
	switch {
	case mk == nil && cr.isApproval(in.Run.Playbook, in.Step):
		// An approval's chat notification (approval.notify) is posted, as a chat that accepts it would answer:
		// no mock needed, no warning; a mock of the step (or of notify.webhook) says otherwise.
		rp.output = json.RawMessage(`{"status":200}`)
	case mk == nil:
		rp.output = cr.synthesised(act)
		where := ""
		if in.Run.Playbook != cr.f.plan.Name {
			where = " of " + in.Run.Playbook
		}
		id := stepID(in.Step)
		cr.warnOnce("mock\x00"+in.Run.Playbook+"\x00"+id, "step %s%s has no mock: %s returned a synthesised output (empty lists, zero numbers, empty strings)", id, where, act)
	default:
		rp = mk.replies[min(n, len(mk.replies)-1)]
	}
	if rp.err != nil {
		// Retryable or not as the action's retry policy says, like the real activity's errors.
		return wire.ActionResult{}, temporal.NewApplicationErrorWithOptions(rp.err.Message, rp.err.Type,
			temporal.ApplicationErrorOptions{Details: []any{wire.FailureDetails{Attempt: attempt}}})
	}
	return wire.ActionResult{Output: rp.output, Attempt: attempt}, nil
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// setPath puts a stand-in for a secret where the worker would put its value, so the input checks see a
// string there as they do in production.
func setPath(m map[string]any, path []string, v string) {
	var cur any = m
	for i, p := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = v
				return
			}
			if c[p] == nil {
				c[p] = map[string]any{}
			}
			cur = c[p]
		case []any:
			idx, err := strconv.Atoi(p)
			if err != nil || idx < 0 || idx >= len(c) {
				return
			}
			if last {
				c[idx] = v
				return
			}
			if c[idx] == nil {
				c[idx] = map[string]any{}
			}
			cur = c[idx]
		default:
			return
		}
	}
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

// lookup finds the mock for a step execution of a playbook: the case's mocks before the file's; in each, the
// most specific key: PLAYBOOK/EXEC (one item of one playbook's step), PLAYBOOK/ID, EXEC (one item: disable#2,
// per_ioc#1.lookup), ID, then the action.
func (cr *caseRun) lookup(playbook, execID, act string) *mock {
	id := stepID(execID)
	keys := []string{playbook + "/" + execID, playbook + "/" + id, execID, id, act}
	for _, level := range cr.c.mocks {
		for _, k := range keys {
			if m := level[k]; m != nil {
				return m
			}
		}
	}
	return nil
}

// isApproval reports whether the execution is of an approval step of the playbook (its chat notification).
func (cr *caseRun) isApproval(playbook, execID string) bool {
	p := cr.f.plans[playbook]
	if p == nil {
		return false
	}
	s, ok := p.Step(stepID(execID))
	return ok && s.Kind == plan.KindApproval
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
			cr.answer(wid, st.Playbook, w)
		}
	}
}

func (cr *caseRun) answer(wid, playbook string, w workflows.Wait) {
	id := stepID(w.Step)
	var a answer
	ok := false
	for _, k := range []string{playbook + "/" + w.Step, playbook + "/" + id, w.Step, id} {
		if a, ok = cr.c.approvals[k]; ok {
			break
		}
	}
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
