package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/wire"
)

// Workflows holds what workflow code shares across executions. The engine is only a cache of compiled
// expressions: sharing it changes no result.
type Workflows struct {
	Engine *expression.Engine
}

// New returns the workflows with a fresh expression engine.
func New() *Workflows { return &Workflows{Engine: expression.NewEngine()} }

// Playbook interprets a plan. Every condition and template is evaluated here, deterministically, with the
// workflow clock as now(); each action step is one activity (type = action name, ActivityID = step id, id#N in
// for_each loops). Interpreting adds no history events of its own: no markers, side effects or local
// activities (a run started before inputs carried the interpreter version has one version marker). A run that succeeds returns a Result; a run that fails returns an application error of type
// FailureType whose details are a Failure.
func (w *Workflows) Playbook(ctx workflow.Context, in Input) (*Result, error) {
	p, err := plan.Decode(in.Plan)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), wire.InvalidInput, nil)
	}
	v, err := interpreterVersion(ctx, in)
	if err != nil {
		return nil, err
	}
	r := newRunner(ctx, w.Engine, in, p, v)
	if err := r.registerHandlers(ctx); err != nil {
		return nil, err
	}
	if err := r.prepare(ctx); err != nil {
		return nil, r.fail(ctx, err)
	}
	err = r.runList(ctx, r.top, p.Steps)
	var fin *finishSignal
	switch {
	case err == nil:
	case errors.As(err, &fin):
	default:
		if errors.Is(ctx.Err(), workflow.ErrCanceled) {
			r.cancelOpen()
			return nil, temporal.NewCanceledError(r.snapshot())
		}
		return nil, r.fail(ctx, err)
	}
	res := &Result{Status: StatusSucceeded}
	if fin != nil {
		if fin.status != "" {
			res.Status = fin.status
		}
		res.Output = fin.output
	}
	if res.Output == nil && p.Output != nil {
		out, err := r.eval.EvalValue(p.Output, r.scope)
		if err != nil {
			return nil, r.fail(ctx, &stepFailure{err: StepError{Type: wire.Expression, Message: "evaluating the playbook's output: " + err.Error()}})
		}
		res.Output, _ = out.(map[string]any)
	}
	if n := jsonSize(res.Output); n > r.limits.MaxOutputBytes {
		return nil, r.fail(ctx, &stepFailure{err: StepError{Type: wire.LimitExceeded, Message: fmt.Sprintf("the playbook's output is %d bytes, over the %d-byte limit", n, r.limits.MaxOutputBytes)}})
	}
	res.Steps = r.snapshot()
	return res, nil
}

// VersionChangeID names the interpreter's version in workflow.GetVersion: one marker at the start of every
// run says which interpreter semantics the run was started with, so that a run started by an older parry
// replays with the decisions it made then.
const VersionChangeID = "parry-interpreter"

// Interpreter versions. Each version keeps what the ones before it did for runs that recorded them.
const (
	// interpreterOriginal (no marker): the first interpreter.
	interpreterOriginal = workflow.DefaultVersion
	// interpreterTyped: vars and set keep times and durations; expressions evaluate in
	// expression.DialectTyped (string(t) is RFC 3339, empty lists stay lists); a failed action's attempts are
	// counted; error.step names the innermost step that failed and error.path the steps around it; a
	// parallel branch whose own step failed is failed, not cancelled, when another branch failed first.
	interpreterTyped workflow.Version = 1
	// interpreterNotify: an approval with approval.notify (plan.Approval.Notify) posts its prompt to a chat
	// when it starts waiting: one more activity. A worker that predates it refuses such runs (the input's
	// version is beyond its own) instead of running them without the notification, which a newer worker
	// replaying the history would find missing.
	interpreterNotify workflow.Version = 2
	// InterpreterVersion is the newest version this code runs.
	InterpreterVersion = interpreterNotify
)

// InterpreterFor is the interpreter version a new run of p starts with: the oldest with the newest semantics
// that runs every construct p uses. A plan without approval.notify gets interpreterTyped, so that during a
// rolling upgrade a worker of the previous parry still runs it; only a plan that needs the new version is
// refused by such a worker (with a message saying so) rather than run without what it asks for.
func InterpreterFor(p *plan.Plan) int {
	v := interpreterTyped
	p.Walk(func(s *plan.Step) bool {
		if s.Approval != nil && s.Approval.Notify != nil {
			v = interpreterNotify
			return false
		}
		return true
	})
	return int(v)
}

// interpreterVersion is the interpreter version a run executes with: the one its input names, or for a run
// started before inputs named it, the one its version marker recorded (workflow.GetVersion, which adds the
// marker and a search-attribute upsert when it runs first).
func interpreterVersion(ctx workflow.Context, in Input) (workflow.Version, error) {
	if in.Interpreter == 0 {
		return workflow.GetVersion(ctx, VersionChangeID, interpreterOriginal, InterpreterVersion), nil
	}
	v := workflow.Version(in.Interpreter)
	if v < interpreterTyped || v > InterpreterVersion {
		return 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the run asks for interpreter version %d; this parry runs versions %d to %d (a run started by a newer parry runs on a worker of that version)",
			in.Interpreter, interpreterTyped, InterpreterVersion), wire.InvalidInput, nil)
	}
	return v, nil
}

// runner is the state of one execution of the interpreter.
type runner struct {
	eval    *expression.Engine
	in      Input
	plan    *plan.Plan
	limits  Limits
	version workflow.Version
	top     *frame

	scope    expression.Scope
	steps    map[string]any // the scope's "steps": id → {status, output, error, started_at, finished_at, attempts}
	vars     map[string]any
	incident map[string]any
	records  map[string]*StepRecord

	executions int
	current    map[string]CurrentStep
	waits      map[string]Wait
	approvals  map[string]*pendingApproval
	decided    map[string]ApprovalOutput // approvals already decided, so a second decision gets a clear refusal
	seenAlerts map[string]bool
}

type pendingApproval struct {
	approvers []string
	decision  *ApprovalOutput
}

func newRunner(ctx workflow.Context, eng *expression.Engine, in Input, p *plan.Plan, v workflow.Version) *runner {
	if v < interpreterTyped {
		eng = eng.Dialect(expression.DialectOriginal)
	} else {
		eng = eng.Dialect(expression.DialectTyped)
	}
	r := &runner{
		eval: eng, in: in, plan: p, limits: in.Limits.withDefaults(), version: v,
		steps: map[string]any{}, vars: map[string]any{}, records: map[string]*StepRecord{},
		current: map[string]CurrentStep{}, waits: map[string]Wait{}, approvals: map[string]*pendingApproval{}, decided: map[string]ApprovalOutput{},
		seenAlerts: map[string]bool{},
	}
	info := workflow.GetInfo(ctx)
	r.scope = expression.NewScope(func() time.Time { return workflow.Now(ctx) })
	r.scope[expression.ScopeSteps] = r.steps
	r.scope[expression.ScopeVars] = r.vars
	r.scope[expression.ScopeAlert] = nilIfEmpty(in.Alert)
	r.scope[expression.ScopeRun] = map[string]any{
		"id": in.RunID, "playbook": in.Playbook.Name, "version": int64(in.Playbook.Version), "sha256": in.Playbook.SHA256,
		"started_at": info.WorkflowStartTime.UTC().Format(time.RFC3339Nano), "retry_of": in.RetryOf,
	}
	if in.Incident != nil {
		alerts := make([]any, 0, len(in.Incident.Alerts))
		for _, a := range in.Incident.Alerts {
			alerts = append(alerts, a)
			r.seenAlerts[alertKey(a)] = true
		}
		r.incident = map[string]any{"id": in.Incident.ID, "key": in.Incident.Key, "alerts": alerts}
		r.scope[expression.ScopeIncident] = r.incident
	} else {
		r.scope[expression.ScopeIncident] = nil
	}
	r.top = &frame{scope: r.scope, steps: r.steps}
	return r
}

// typed reports whether the run has interpreterTyped's semantics.
func (r *runner) typed() bool { return r.version >= interpreterTyped }

func nilIfEmpty(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func alertKey(a map[string]any) string { return fmt.Sprint(a["id"]) }

// registerHandlers installs the status query, the approval update and the alert signal. None writes history
// by being installed.
func (r *runner) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return r.status(), nil }); err != nil {
		return err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproval,
		func(ctx workflow.Context, d ApprovalDecision) (ApprovalOutput, error) {
			out := ApprovalOutput{Approved: d.Approved, By: d.By, Comment: d.Comment, At: workflow.Now(ctx).UTC()}
			if p := r.approvals[d.Step]; p != nil {
				// (The validator saw it pending; a replay with an edited plan may not have the step.)
				p.decision = &out
			}
			return out, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d ApprovalDecision) error {
			if prev, ok := r.decided[d.Step]; ok {
				return fmt.Errorf("step %q was already decided by %s", d.Step, prev.By)
			}
			p, ok := r.approvals[d.Step]
			if !ok {
				pending := make([]string, 0, len(r.approvals))
				//workflowcheck:ignore map order: the ids are sorted after
				for id := range r.approvals {
					pending = append(pending, id)
				}
				sort.Strings(pending)
				if len(pending) == 0 {
					return fmt.Errorf("step %q is not waiting for an approval (no step is)", d.Step)
				}
				return fmt.Errorf("step %q is not waiting for an approval (waiting: %s)", d.Step, strings.Join(pending, ", "))
			}
			if p.decision != nil {
				return fmt.Errorf("step %q was already decided by %s", d.Step, p.decision.By)
			}
			if strings.TrimSpace(d.By) == "" {
				return errors.New("an approval decision needs who decided (by)")
			}
			if len(p.approvers) > 0 && !mayApprove(p.approvers, d) {
				return fmt.Errorf("%s may not decide step %q (approvers: %s)", d.By, d.Step, strings.Join(p.approvers, ", "))
			}
			return nil
		}})
	if err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, SignalAlert)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a map[string]any
			if !ch.Receive(ctx, &a) {
				return
			}
			r.addAlert(a)
		}
	})
	return nil
}

func (r *runner) addAlert(a map[string]any) {
	if a == nil || r.seenAlerts[alertKey(a)] {
		return
	}
	r.seenAlerts[alertKey(a)] = true
	if r.incident == nil {
		r.incident = map[string]any{"id": nil, "key": "", "alerts": []any{}}
		r.scope[expression.ScopeIncident] = r.incident
	}
	alerts, _ := r.incident["alerts"].([]any)
	// A new slice each time: a loop iterating the old one keeps seeing what it started with.
	next := make([]any, len(alerts), len(alerts)+1)
	copy(next, alerts)
	r.incident["alerts"] = append(next, a)
}

// prepare resolves the inputs and evaluates the vars.
func (r *runner) prepare(ctx workflow.Context) error {
	inputs, err := ResolveInputs(r.eval, r.plan, r.in.Inputs, r.in.Alert, workflow.Now(ctx))
	if err != nil {
		return &stepFailure{err: StepError{Type: wire.InvalidInput, Message: err.Error()}}
	}
	r.scope[expression.ScopeInputs] = inputs
	for _, v := range r.plan.Vars {
		val, err := r.evalVar(v.Value, r.scope)
		if err != nil {
			return &stepFailure{err: StepError{Type: wire.Expression, Message: fmt.Sprintf("evaluating vars.%s: %s", v.Name, err)}}
		}
		r.vars[v.Name] = val
	}
	return nil
}

// evalVar evaluates a var's value: from interpreterTyped on, a time stays a time (and a duration a duration),
// so that what lint typed a var as is what expressions read.
func (r *runner) evalVar(v any, scope expression.Scope) (any, error) {
	if r.typed() {
		return r.eval.EvalValueTyped(v, scope)
	}
	return r.eval.EvalValue(v, scope)
}

// frame is where a list of steps runs: the scope its expressions see, its steps.ID results, and the prefix
// of its steps' execution ids. The top level and parallel branches share the run's frame; each item of a
// loop body has its own, in which steps.ID of the body's steps is that item's.
type frame struct {
	scope  expression.Scope
	steps  map[string]any
	prefix string // "" at the top, "per_ioc#2." inside item 2 of loop per_ioc
	// records are the item's step records by id (loop bodies only): the loop's output is built from them.
	records map[string]StepRecord
}

// execID is the execution id of step id in the frame.
func (f *frame) execID(id string) string { return f.prefix + id }

// Control flow that unwinds step lists.
type (
	// stepFailure is a step failure the step's on_error did not handle: it fails the run.
	stepFailure struct {
		err StepError
	}
	// finishSignal is a finish step: the run succeeds now.
	finishSignal struct {
		status string
		output map[string]any
	}
	// failSignal is a fail step: the run fails now, whatever on_error says.
	failSignal struct {
		err StepError
	}
)

func (e *stepFailure) Error() string  { return e.err.Step + ": " + e.err.Message }
func (e *finishSignal) Error() string { return "finished" }
func (e *failSignal) Error() string   { return e.err.Message }

// skipped is returned by runStep for a step whose `if` was false: its next rules are not evaluated.
var errSkipped = errors.New("skipped")

// runList runs steps in order, following next rules, on_error and goto; `end` ends the list.
func (r *runner) runList(ctx workflow.Context, f *frame, steps []plan.Step) error {
	index := make(map[string]int, len(steps))
	for i := range steps {
		index[steps[i].ID] = i
	}
	for i := 0; i < len(steps); {
		st := &steps[i]
		jump := ""
		err := r.runStep(ctx, f, st)
		var se *StepError
		switch {
		case err == nil:
		case errors.Is(err, errSkipped):
			i++
			continue
		case errors.As(err, &se):
			if ctx.Err() != nil {
				return &stepFailure{err: *se}
			}
			switch st.OnError.Action {
			case plan.OnErrorContinue:
			case plan.OnErrorGoto:
				jump = st.OnError.Goto
			default:
				return &stepFailure{err: *se}
			}
		default:
			return err // finish, fail, or a failure from inside (parallel branch, loop)
		}
		if jump == "" {
			j, err := r.nextRule(f, st)
			if err != nil {
				return err
			}
			jump = j
		}
		switch jump {
		case "":
			i++
		case plan.End:
			return nil
		default:
			j, ok := index[jump]
			if !ok || j <= i {
				return &stepFailure{err: r.pathed(StepError{Type: wire.InvalidInput, Step: st.ID, Message: fmt.Sprintf("goto %q: no such later step in this list", jump)}, st.ID)}
			}
			i = j
		}
	}
	return nil
}

// pathed gives an error raised at step id its path (from interpreterTyped on).
func (r *runner) pathed(se StepError, id string) StepError {
	if r.typed() && se.Path == "" {
		se.Path = id
	}
	return se
}

// nextRule returns the goto of the first next rule whose condition holds ("" when none).
func (r *runner) nextRule(f *frame, st *plan.Step) (string, error) {
	for _, n := range st.Next {
		if n.If == "" {
			return n.Goto, nil
		}
		ok, err := r.eval.EvalBool(n.If, f.scope)
		if err != nil {
			return "", &stepFailure{err: r.pathed(StepError{Type: wire.Expression, Step: st.ID, Message: "evaluating next.if: " + err.Error()}, st.ID)}
		}
		if ok {
			return n.Goto, nil
		}
	}
	return "", nil
}

// reusable kinds take a retried run's recorded result instead of executing again.
func reusable(k plan.Kind) bool {
	return k == plan.KindAction || k == plan.KindApproval || k == plan.KindWait || k == plan.KindCall || k == plan.KindSteps
}

// runStep runs one step with its modifiers and records the outcome. A failure comes back as *StepError (for
// runList to apply on_error); finish and fail steps and failures from nested lists come back as they are.
func (r *runner) runStep(ctx workflow.Context, f *frame, st *plan.Step) error {
	id := f.execID(st.ID)
	if rec, ok := r.in.Reuse[id]; ok && reusable(st.Kind) {
		rec.Reused = true
		r.setRecord(f, st.ID, rec)
		if st.Kind == plan.KindSteps {
			// The loop's items' step records come with it, so the timeline shows what they did.
			for _, k := range sortedKeys(r.in.Reuse) {
				if strings.HasPrefix(k, id+"#") {
					item := r.in.Reuse[k]
					item.Reused = true
					r.records[k] = &item
				}
			}
		}
		if rec.Status == StatusSkipped {
			return errSkipped
		}
		return nil
	}
	if st.If != "" {
		ok, err := r.eval.EvalBool(st.If, f.scope)
		if err != nil {
			return r.finishStep(ctx, f, st.ID, nil, &StepError{Type: wire.Expression, Step: st.ID, Message: "evaluating if: " + err.Error()}, 0)
		}
		if !ok {
			now := workflow.Now(ctx).UTC()
			r.setRecord(f, st.ID, StepRecord{Status: StatusSkipped, StartedAt: &now, FinishedAt: &now})
			return errSkipped
		}
	}
	now := workflow.Now(ctx).UTC()
	r.setRecord(f, st.ID, StepRecord{Status: StatusRunning, StartedAt: &now})
	var out any
	var attempts int
	var err error
	if st.ForEach != nil {
		out, attempts, err = r.runForEach(ctx, f, st)
	} else {
		out, attempts, err = r.runRepeat(ctx, f, st, id, f.scope)
	}
	var se *StepError
	if err != nil && !errors.As(err, &se) {
		// finish/fail signals and nested failures: record the step's end, then unwind.
		var fs *failSignal
		switch {
		case errors.As(err, &fs):
			fs.err.Step = st.ID
			if r.typed() && fs.err.Path == "" {
				fs.err.Path = st.ID
			}
			r.endRecord(ctx, f, st.ID, nil, &fs.err, attempts)
		case isFinish(err):
			r.endRecord(ctx, f, st.ID, out, nil, attempts)
		default:
			var sf *stepFailure
			if errors.As(err, &sf) {
				r.endRecord(ctx, f, st.ID, nil, &StepError{Type: sf.err.Type, Message: sf.err.Message, Step: sf.err.Step, Path: sf.err.Path}, attempts)
			}
		}
		return err
	}
	if se != nil && st.Kind == plan.KindParallel && r.typed() {
		// A failed parallel step keeps its output: which branch failed, which were cancelled.
		return r.finishStepKeeping(ctx, f, st.ID, out, se)
	}
	return r.finishStep(ctx, f, st.ID, out, se, attempts)
}

func (r *runner) finishStepKeeping(ctx workflow.Context, f *frame, id string, out any, se *StepError) error {
	if se.Step == "" {
		se.Step = id
	}
	if se.Path == "" {
		se.Path = id
	}
	r.endRecord(ctx, f, id, out, se, 0)
	return se
}

func isFinish(err error) bool {
	var f *finishSignal
	return errors.As(err, &f)
}

// finishStep records a step's end, enforcing the output bound, and returns the error as *StepError.
func (r *runner) finishStep(ctx workflow.Context, f *frame, id string, out any, se *StepError, attempts int) error {
	if se == nil {
		if n := jsonSize(out); n > r.limits.MaxOutputBytes {
			se = &StepError{Type: wire.LimitExceeded, Message: fmt.Sprintf("the output of step %s is %d bytes, over the %d-byte limit: return less (filter or chunk the work)", f.execID(id), n, r.limits.MaxOutputBytes)}
			out = nil
		}
	}
	if se != nil {
		if se.Step == "" {
			se.Step = id
		}
		if r.typed() && se.Path == "" {
			se.Path = id
		}
		r.endRecord(ctx, f, id, nil, se, attempts)
		return se
	}
	r.endRecord(ctx, f, id, out, nil, attempts)
	return nil
}

// Error implements error so a *StepError can travel as one.
func (e *StepError) Error() string { return e.Type + ": " + e.Message }

func (r *runner) setRecord(f *frame, id string, rec StepRecord) {
	cp := rec
	r.records[f.execID(id)] = &cp
	f.steps[id] = recordScope(cp)
	if f.records != nil {
		f.records[id] = cp
	}
}

func (r *runner) endRecord(ctx workflow.Context, f *frame, id string, out any, se *StepError, attempts int) {
	rec := r.records[f.execID(id)]
	if rec == nil {
		rec = &StepRecord{}
	}
	now := workflow.Now(ctx).UTC()
	rec.FinishedAt = &now
	rec.Output = out
	rec.Error = se
	rec.Attempts = attempts
	switch {
	case se == nil:
		rec.Status = StatusSucceeded
	case se.Type == wire.Cancelled:
		rec.Status = StatusCancelled
	default:
		rec.Status = StatusFailed
	}
	r.setRecord(f, id, *rec)
}

// recordScope is how playbooks see a step: steps.ID.{status, output, error, started_at, finished_at, attempts}.
func recordScope(rec StepRecord) map[string]any {
	m := map[string]any{"status": rec.Status, "output": rec.Output, "error": nil, "started_at": nil, "finished_at": nil, "attempts": int64(rec.Attempts)}
	if rec.Error != nil {
		e := map[string]any{"type": rec.Error.Type, "message": rec.Error.Message, "step": rec.Error.Step}
		if rec.Error.Path != "" {
			e["path"] = rec.Error.Path
		}
		m["error"] = e
	}
	if rec.StartedAt != nil {
		m["started_at"] = rec.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	if rec.FinishedAt != nil {
		m["finished_at"] = rec.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	return m
}

// countExecution enforces the bound on step executions per run.
func (r *runner) countExecution(id string) *StepError {
	r.executions++
	if r.executions > r.limits.MaxStepExecutions {
		return &StepError{Type: wire.LimitExceeded, Step: id, Message: fmt.Sprintf("this run executed more than %d steps (loops and repeats count each time): a runaway loop, or raise the limit", r.limits.MaxStepExecutions)}
	}
	return nil
}

// runRepeat runs a step's body once, or with until/every until its condition holds.
func (r *runner) runRepeat(ctx workflow.Context, f *frame, st *plan.Step, execID string, scope expression.Scope) (any, int, error) {
	if st.Until == nil {
		out, attempts, err := r.runOnce(ctx, f, st, execID, scope)
		return out, attempts, err
	}
	for attempt := 1; ; attempt++ {
		out, _, err := r.runOnce(ctx, f, st, execID, scope)
		if err != nil {
			return nil, attempt, err
		}
		ok, err := r.eval.EvalBool(st.Until.Condition, scope.With(expression.ScopeOutput, out))
		if err != nil {
			return nil, attempt, &StepError{Type: wire.Expression, Message: "evaluating until: " + err.Error()}
		}
		if ok {
			return out, attempt, nil
		}
		if attempt >= st.Until.MaxAttempts {
			return nil, attempt, &StepError{Type: wire.UntilExhausted, Message: fmt.Sprintf("the until condition was still false after %d attempts", attempt)}
		}
		every := st.Until.Every.D()
		if st.Until.EveryExpr != "" {
			d, se := r.evalDuration(st.Until.EveryExpr, scope, "every", time.Second, 24*time.Hour)
			if se != nil {
				return nil, attempt, se
			}
			every = d
		}
		if err := r.sleep(ctx, execID, every); err != nil {
			return nil, attempt, err
		}
	}
}

// runForEach runs the step once per item, at most concurrency at a time, keeping the outputs in item order.
// The first failing item fails the step and cancels the items still running. A loop body (kind steps) runs
// its list of steps for each item, each item in a frame of its own.
// A loop's attempts, from interpreterTyped on, are those of its failing item (0 when it succeeded: each item
// has its own).
func (r *runner) runForEach(ctx workflow.Context, f *frame, st *plan.Step) (any, int, error) {
	v, err := r.eval.EvalValue(st.ForEach.Items, f.scope)
	if err != nil {
		return nil, 0, &StepError{Type: wire.Expression, Message: "evaluating for_each: " + err.Error()}
	}
	if v == nil {
		v = []any{}
	}
	items, ok := v.([]any)
	if !ok {
		return nil, 0, &StepError{Type: wire.InvalidInput, Message: fmt.Sprintf("for_each must give a list, got %s", typeName(v))}
	}
	if st.ForEach.MaxItems > 0 && len(items) > st.ForEach.MaxItems {
		return nil, 0, &StepError{Type: wire.LimitExceeded, Message: fmt.Sprintf("for_each gave %d items, more than its bound of %d (nothing was run)", len(items), st.ForEach.MaxItems)}
	}
	as := st.ForEach.As
	if as == "" {
		as = "item"
	}
	outs := make([]any, len(items))
	conc := max(1, st.ForEach.Concurrency)
	lctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	var firstErr error
	failedAttempts := 0
	sem := workflow.NewSemaphore(lctx, int64(conc))
	wg := workflow.NewWaitGroup(lctx)
	for i, item := range items {
		if firstErr != nil {
			break
		}
		if err := sem.Acquire(lctx, 1); err != nil {
			break
		}
		if firstErr != nil {
			sem.Release(1)
			break
		}
		wg.Add(1)
		i, item := i, item
		workflow.Go(lctx, func(gctx workflow.Context) {
			defer wg.Done()
			defer sem.Release(1)
			execID := fmt.Sprintf("%s#%d", f.execID(st.ID), i)
			scope := f.scope.With(as, item, expression.ScopeIndex, int64(i))
			var out any
			var err error
			attempts := 0
			if st.Kind == plan.KindSteps {
				out, err = r.runItem(gctx, f, st, i, item, scope)
			} else {
				out, attempts, err = r.runRepeat(gctx, f, st, execID, scope)
			}
			if err != nil {
				if firstErr == nil {
					firstErr = r.wrapItem(st, i, err)
					if r.typed() {
						failedAttempts = attempts
					}
					cancel()
				}
				return
			}
			outs[i] = out
		})
	}
	wg.Wait(ctx)
	if firstErr != nil {
		return nil, failedAttempts, firstErr
	}
	if st.Kind == plan.KindSteps {
		return map[string]any{"items": outs}, 0, nil
	}
	return outs, 0, nil
}

// runItem runs a loop body for one item in a frame of its own: the body's steps.ID are this item's, and what
// they read of the steps before the loop is what the loop saw when the item started. The item's output is
// {item, steps: {id: {status, output, error}}}.
func (r *runner) runItem(ctx workflow.Context, f *frame, st *plan.Step, i int, item any, scope expression.Scope) (any, error) {
	steps := make(map[string]any, len(f.steps)+len(st.Steps))
	//workflowcheck:ignore map order: a copy: every key is set whatever the order
	for k, v := range f.steps {
		steps[k] = v
	}
	inner := &frame{
		scope:   scope.With(expression.ScopeSteps, steps),
		steps:   steps,
		prefix:  fmt.Sprintf("%s#%d.", f.execID(st.ID), i),
		records: map[string]StepRecord{},
	}
	if err := r.runList(ctx, inner, st.Steps); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(inner.records))
	for _, id := range sortedKeys(inner.records) {
		rec := inner.records[id]
		e := map[string]any{"status": rec.Status, "output": rec.Output, "error": nil}
		if rec.Error != nil {
			e["error"] = map[string]any{"type": rec.Error.Type, "message": rec.Error.Message, "step": rec.Error.Step, "path": rec.Error.Path}
		}
		out[id] = e
	}
	return map[string]any{"item": item, "steps": out}, nil
}

// wrapItem names the item in a failure of one. From interpreterTyped on, the error keeps the step that failed
// (the loop step, or the body's step) and gets its path (disable#3, per_ioc#2.lookup).
func (r *runner) wrapItem(st *plan.Step, i int, err error) error {
	var se *StepError
	if errors.As(err, &se) {
		if r.typed() {
			// The path names the item: the message is the item's own.
			return &StepError{Type: se.Type, Message: se.Message, Step: st.ID, Path: fmt.Sprintf("%s#%d", st.ID, i)}
		}
		return &StepError{Type: se.Type, Message: fmt.Sprintf("item %d: %s", i, se.Message)}
	}
	var sf *stepFailure
	if errors.As(err, &sf) && st.Kind == plan.KindSteps {
		return &StepError{Type: sf.err.Type, Step: sf.err.Step, Path: fmt.Sprintf("%s#%d.%s", st.ID, i, sf.err.Path), Message: sf.err.Message}
	}
	return err
}

// runOnce runs the step's kind once and returns its output and, for actions, the activity's attempts.
func (r *runner) runOnce(ctx workflow.Context, f *frame, st *plan.Step, execID string, scope expression.Scope) (any, int, error) {
	if se := r.countExecution(execID); se != nil {
		return nil, 0, se
	}
	switch st.Kind {
	case plan.KindAction:
		return r.runAction(ctx, st, execID, scope)
	case plan.KindParallel:
		out, err := r.runParallel(ctx, f, st)
		return out, 0, err
	case plan.KindCall:
		out, err := r.runCall(ctx, st, execID, scope)
		return out, 0, err
	case plan.KindApproval:
		out, err := r.runApproval(ctx, st, execID, scope)
		return out, 0, err
	case plan.KindWait:
		return nil, 0, r.runWait(ctx, st, execID, scope)
	case plan.KindSet:
		out := make(map[string]any, len(st.Set))
		for _, v := range st.Set {
			val, err := r.evalVar(v.Value, scope)
			if err != nil {
				return nil, 0, &StepError{Type: wire.Expression, Message: fmt.Sprintf("evaluating set.%s: %s", v.Name, err)}
			}
			r.vars[v.Name] = val
			out[v.Name] = r.eval.PlainValue(val)
		}
		return out, 0, nil
	case plan.KindFinish:
		var out map[string]any
		if st.Finish.Output != nil {
			v, err := r.eval.EvalValue(st.Finish.Output, scope)
			if err != nil {
				return nil, 0, &StepError{Type: wire.Expression, Message: "evaluating finish.output: " + err.Error()}
			}
			out, _ = v.(map[string]any)
		}
		return out, 0, &finishSignal{status: st.Finish.Status, output: out}
	case plan.KindFail:
		msg, err := r.eval.EvalTemplate(st.Fail, scope)
		if err != nil {
			return nil, 0, &StepError{Type: wire.Expression, Message: "evaluating fail: " + err.Error()}
		}
		return nil, 0, &failSignal{err: StepError{Type: wire.FailStep, Message: fmt.Sprint(msg)}}
	}
	return nil, 0, &StepError{Type: wire.InvalidInput, Message: fmt.Sprintf("step kind %q is not known to this parry", st.Kind)}
}

// evalDuration evaluates a template that gives a duration: a duration value, a text such as 15m or 2d, or a
// number of seconds; the result must be within [lo, hi].
func (r *runner) evalDuration(tmpl string, scope expression.Scope, what string, lo, hi time.Duration) (time.Duration, *StepError) {
	v, err := r.eval.EvalValueTyped(tmpl, scope)
	if err != nil {
		return 0, &StepError{Type: wire.Expression, Message: "evaluating " + what + ": " + err.Error()}
	}
	d, err := DurationValue(v)
	if err != nil {
		return 0, &StepError{Type: wire.Expression, Message: what + ": " + err.Error()}
	}
	if d < lo || d > hi {
		return 0, &StepError{Type: wire.Expression, Message: fmt.Sprintf("%s: %s is not between %s and %s", what, humanDuration(d), humanDuration(lo), humanDuration(hi))}
	}
	return d, nil
}

// humanDuration writes whole days as days (30d), the way playbooks write them.
func humanDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return plan.FormatDuration(d)
}

// DurationValue reads a computed duration: a duration, a text such as 90s, 15m or 2d, or a number of seconds.
func DurationValue(v any) (time.Duration, error) {
	switch x := v.(type) {
	case time.Duration:
		return x, nil
	case string:
		d, err := plan.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 30s, 15m, 4h or 2d", x)
		}
		return d, nil
	case int64:
		if x >= 0 && x <= math.MaxInt64/int64(time.Second) {
			return time.Duration(x) * time.Second, nil
		}
	case int:
		return DurationValue(int64(x))
	case float64:
		if x >= 0 && x < float64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(x * float64(time.Second)), nil
		}
	case nil:
		return 0, errors.New("the expression gave null, not a duration")
	}
	return 0, fmt.Errorf("%s is not a duration (a text such as 15m, or a number of seconds)", typeName(v))
}

// runWait waits for a fixed or computed duration, or until a computed time.
func (r *runner) runWait(ctx workflow.Context, st *plan.Step, execID string, scope expression.Scope) error {
	d := st.Wait.D()
	switch {
	case st.WaitExpr != "":
		var se *StepError
		if d, se = r.evalDuration(st.WaitExpr, scope, "wait", time.Second, 30*24*time.Hour); se != nil {
			return se
		}
	case st.WaitUntil != "":
		v, err := r.eval.EvalValueTyped(st.WaitUntil, scope)
		if err != nil {
			return &StepError{Type: wire.Expression, Message: "evaluating wait.until: " + err.Error()}
		}
		t, err := TimeValue(v)
		if err != nil {
			return &StepError{Type: wire.Expression, Message: "wait.until: " + err.Error()}
		}
		d = t.Sub(workflow.Now(ctx))
		if d <= 0 {
			return nil // the time has passed: nothing to wait for
		}
		if d > 30*24*time.Hour {
			return &StepError{Type: wire.Expression, Message: fmt.Sprintf("wait.until: %s is more than 30 days away", expression.FormatTime(t))}
		}
	}
	return r.sleep(ctx, execID, d)
}

// TimeValue reads a computed time: a time, or RFC 3339 text.
func TimeValue(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-01-02T03:04:05Z", x)
		}
		return t, nil
	case nil:
		return time.Time{}, errors.New("the expression gave null, not a time")
	}
	return time.Time{}, fmt.Errorf("%s is not a time", typeName(v))
}

func (r *runner) runAction(ctx workflow.Context, st *plan.Step, execID string, scope expression.Scope) (any, int, error) {
	a := st.Action
	v, err := r.eval.EvalValue(a.With, scope)
	if err != nil {
		return nil, 0, &StepError{Type: wire.Expression, Message: "evaluating with." + err.Error()}
	}
	with, _ := v.(map[string]any)
	if with == nil {
		with = map[string]any{}
	}
	// Inputs the step leaves empty take the alert's field when the action says so (a cecp.* step acts on the
	// tenant the alert came from).
	for _, name := range sortedKeys(a.AlertDefaults) {
		if !isEmpty(with[name]) || r.in.Alert == nil {
			continue
		}
		if v, ok := r.in.Alert[a.AlertDefaults[name]].(string); ok && v != "" {
			with[name] = v
		}
	}
	timeout := a.Timeout.D()
	if a.TimeoutExpr != "" {
		d, se := r.evalDuration(a.TimeoutExpr, scope, "timeout", time.Second, 24*time.Hour)
		if se != nil {
			return nil, 0, se
		}
		timeout = d
	}
	retry := a.Retry
	if retry.DelayExpr != "" {
		d, se := r.evalDuration(retry.DelayExpr, scope, "retry.delay", 100*time.Millisecond, 24*time.Hour)
		if se != nil {
			return nil, 0, se
		}
		retry.InitialInterval, retry.MaxInterval, retry.Backoff = plan.Duration(d), plan.Duration(d), 1
	}
	actx := workflow.WithActivityOptions(ctx, r.activityOptions(execID, a, timeout, retry))
	r.current[execID] = CurrentStep{ID: execID, Kind: string(st.Kind), Action: a.Name, StartedAt: workflow.Now(ctx).UTC()}
	defer delete(r.current, execID)
	in := wire.ActionInput{
		Run:     wire.RunInfo{ID: r.in.RunID, Playbook: r.in.Playbook.Name, Version: r.in.Playbook.Version, SHA256: r.in.Playbook.SHA256},
		Step:    execID,
		With:    with,
		Secrets: a.Secrets,
	}
	var res wire.ActionResult
	if err := workflow.ExecuteActivity(actx, a.Name, in).Get(actx, &res); err != nil {
		attempts := 0
		if r.typed() {
			attempts = wire.AttemptOf(err)
		}
		return nil, attempts, activityError(err)
	}
	out, err := decodeJSON(res.Output)
	if err != nil {
		return nil, res.Attempt, &StepError{Type: wire.InvalidInput, Message: "decoding the output of " + a.Name + ": " + err.Error()}
	}
	return out, res.Attempt, nil
}

// activityOptions are the options of one execution of an action: ActivityID = the step's execution id, the
// action's timeouts and retry policy as the plan (and the step's evaluated overrides) say.
func (r *runner) activityOptions(execID string, a *plan.Action, timeout time.Duration, retry plan.Retry) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		ActivityID:             execID,
		StartToCloseTimeout:    timeout,
		HeartbeatTimeout:       min(r.limits.HeartbeatTimeout.D(), timeout),
		ScheduleToCloseTimeout: a.ScheduleToClose.D(),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        retry.InitialInterval.D(),
			BackoffCoefficient:     retry.Backoff,
			MaximumInterval:        retry.MaxInterval.D(),
			MaximumAttempts:        int32(retry.MaxAttempts),
			NonRetryableErrorTypes: retry.NonRetryable,
		},
	}
}

func isEmpty(v any) bool {
	s, ok := v.(string)
	return v == nil || (ok && s == "")
}

// activityError turns what ExecuteActivity returned into the step's error: the activity's own error type
// (VendorAuth, VendorRejected…) and message, or Timeout, Cancelled, InternalError (wire.Classify).
func activityError(err error) *StepError {
	c := wire.Classify(err)
	return &StepError{Type: c.Type, Message: c.Message}
}

// runParallel runs the branches at once. A branch that fails (a step failure its on_error does not handle)
// cancels the others and fails the step. The output maps each branch to its outcome: succeeded when all its
// steps ran to its end, failed when a step of its own failed it, cancelled when it was stopped because another
// branch failed.
func (r *runner) runParallel(ctx workflow.Context, f *frame, st *plan.Step) (any, error) {
	pctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	results := make([]error, len(st.Parallel))
	var first error
	wg := workflow.NewWaitGroup(ctx)
	for i := range st.Parallel {
		wg.Add(1)
		i := i
		workflow.Go(pctx, func(gctx workflow.Context) {
			defer wg.Done()
			err := r.runList(gctx, f, st.Parallel[i].Steps)
			results[i] = err
			if err != nil && first == nil {
				first = err
				cancel()
			}
		})
	}
	wg.Wait(ctx)
	out := make(map[string]any, len(st.Parallel))
	failedBranch := ""
	for i, b := range st.Parallel {
		switch {
		case results[i] == nil:
			out[b.Name] = StatusSucceeded
		case results[i] != first && pctx.Err() != nil && (!r.typed() || cancelledBy(results[i])):
			out[b.Name] = StatusCancelled
		default:
			out[b.Name] = StatusFailed
			if results[i] == first {
				failedBranch = b.Name
			}
		}
	}
	// A branch's unhandled step failure fails this step, so that this step's own on_error applies to it;
	// finish and fail steps inside a branch end the run as they would anywhere.
	var sf *stepFailure
	if errors.As(first, &sf) {
		if r.typed() {
			// The step and its path say where: the message is the failing step's own.
			return out, &StepError{Type: sf.err.Type, Message: sf.err.Message, Step: sf.err.Step, Path: st.ID + "." + sf.err.Path}
		}
		return out, &StepError{Type: sf.err.Type, Message: fmt.Sprintf("branch %s: step %s failed: %s", failedBranch, sf.err.Step, sf.err.Message)}
	}
	if first != nil {
		return out, first
	}
	return out, nil
}

// cancelledBy reports whether a branch ended because it was cancelled (rather than by a failure of its own).
func cancelledBy(err error) bool {
	var sf *stepFailure
	return errors.As(err, &sf) && sf.err.Type == wire.Cancelled
}

func (r *runner) runCall(ctx workflow.Context, st *plan.Step, execID string, scope expression.Scope) (any, error) {
	raw, ok := r.in.Subplans[st.Call.Playbook]
	if !ok {
		return nil, &StepError{Type: wire.PlaybookMissing, Message: fmt.Sprintf("playbook %q was not given to this run (is it in the registry and enabled?)", st.Call.Playbook)}
	}
	sub, err := plan.Decode(raw)
	if err != nil {
		return nil, &StepError{Type: wire.InvalidInput, Message: fmt.Sprintf("the plan of %q: %s", st.Call.Playbook, err)}
	}
	v, err := r.eval.EvalValue(st.Call.With, scope)
	if err != nil {
		return nil, &StepError{Type: wire.Expression, Message: "evaluating with." + err.Error()}
	}
	with, _ := v.(map[string]any)
	timeout := st.Call.Timeout.D()
	if st.Call.TimeoutExpr != "" {
		d, se := r.evalDuration(st.Call.TimeoutExpr, scope, "timeout", time.Second, 24*time.Hour)
		if se != nil {
			return nil, se
		}
		timeout = d
	}
	if timeout == 0 {
		timeout = sub.Timeout.D()
	}
	childID := r.in.RunID + "/" + execID
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: childID, WorkflowExecutionTimeout: timeout})
	child := Input{
		RunID: childID, Plan: raw, Playbook: PlaybookRef{Name: sub.Name, SHA256: sub.SHA256},
		Inputs: with, Alert: r.in.Alert, Incident: r.in.Incident, Subplans: r.in.Subplans,
		StartedBy: "call:" + r.in.RunID, Limits: r.in.Limits, Interpreter: InterpreterFor(sub),
	}
	r.waits[execID] = Wait{Step: execID, Kind: "call"}
	defer delete(r.waits, execID)
	var res Result
	if err := workflow.ExecuteChildWorkflow(cctx, PlaybookWorkflow, child).Get(ctx, &res); err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == FailureType {
			return nil, &StepError{Type: wire.CallFailed, Message: fmt.Sprintf("playbook %s failed: %s", st.Call.Playbook, app.Message())}
		}
		se := activityError(err)
		if se.Type == "Error" {
			se.Type = wire.CallFailed
		}
		return nil, se
	}
	if res.Output == nil {
		return map[string]any{}, nil
	}
	return res.Output, nil
}

func (r *runner) runApproval(ctx workflow.Context, st *plan.Step, execID string, scope expression.Scope) (any, error) {
	ap := st.Approval
	prompt, err := r.eval.EvalTemplate(ap.Prompt, scope)
	if err != nil {
		return nil, &StepError{Type: wire.Expression, Message: "evaluating approval.prompt: " + err.Error()}
	}
	timeout := ap.Timeout.D()
	if ap.TimeoutExpr != "" {
		d, se := r.evalDuration(ap.TimeoutExpr, scope, "approval.timeout", time.Minute, 30*24*time.Hour)
		if se != nil {
			return nil, se
		}
		timeout = d
	}
	p := &pendingApproval{approvers: ap.Approvers}
	until := workflow.Now(ctx).Add(timeout).UTC()
	r.approvals[execID] = p
	r.waits[execID] = Wait{Step: execID, Kind: "approval", Until: until, Prompt: fmt.Sprint(prompt), Approvers: ap.Approvers}
	defer delete(r.approvals, execID)
	defer delete(r.waits, execID)
	var note *NotifyStatus
	if ap.Notify != nil && r.version >= interpreterNotify {
		// Alongside the wait, never before it: the approval can be answered while the message is on its way,
		// and a chat that is down delays nothing. The message is moot once the approval has ended.
		nctx, stopNotify := workflow.WithCancel(ctx)
		defer stopNotify()
		note = r.notifyApproval(nctx, st, execID, fmt.Sprint(prompt), until)
	}
	ok, err := workflow.AwaitWithTimeout(workflow.WithValue(ctx, stepKey{}, execID), timeout, func() bool { return p.decision != nil })
	if err != nil {
		return nil, &StepError{Type: wire.Cancelled, Message: "cancelled while waiting for an approval"}
	}
	now := workflow.Now(ctx).UTC()
	var out ApprovalOutput
	switch {
	case ok:
		out = *p.decision
	case ap.OnTimeout == "approve":
		out = ApprovalOutput{Approved: true, By: "timeout", At: now, TimedOut: true}
	case ap.OnTimeout == "reject":
		out = ApprovalOutput{Approved: false, By: "timeout", At: now, TimedOut: true}
	default:
		r.decided[execID] = ApprovalOutput{By: "timeout", At: now, TimedOut: true}
		return nil, &StepError{Type: wire.ApprovalTimeout, Message: fmt.Sprintf("no decision within %s", plan.FormatDuration(timeout))}
	}
	r.decided[execID] = out
	res := approvalScope(out)
	if note != nil {
		res["notify"] = note.output()
	}
	return res, nil
}

// notifyApproval posts the approval's prompt to its chat webhook (approval.notify) with the notify.webhook
// activity, under the step's execution id, and returns the notification's status, which the run's status query
// shows on the wait and the step's output keeps. A failure (after the action's own retries) is recorded
// there and in the worker's log; it never fails or stops the approval.
func (r *runner) notifyApproval(ctx workflow.Context, st *plan.Step, execID, prompt string, until time.Time) *NotifyStatus {
	a := st.Approval.Notify
	webhook, _ := a.With["connection"].(string)
	note := &NotifyStatus{Webhook: webhook, State: NotifySending}
	if w, ok := r.waits[execID]; ok {
		w.Notify = note
		r.waits[execID] = w
	}
	in := wire.ActionInput{
		Run:  wire.RunInfo{ID: r.in.RunID, Playbook: r.in.Playbook.Name, Version: r.in.Playbook.Version, SHA256: r.in.Playbook.SHA256},
		Step: execID,
		With: ApprovalMessage(webhook, r.plan.Name, r.in.RunID, execID, prompt, st.Approval.Approvers, until, st.Approval.OnTimeout),
	}
	actx := workflow.WithActivityOptions(ctx, r.activityOptions(execID, a, a.Timeout.D(), a.Retry))
	fut := workflow.ExecuteActivity(actx, a.Name, in)
	workflow.Go(ctx, func(gctx workflow.Context) {
		var res wire.ActionResult
		if err := fut.Get(gctx, &res); err != nil {
			note.State, note.Error = NotifyFailed, activityError(err)
			if note.Error.Type != wire.Cancelled {
				workflow.GetLogger(gctx).Warn("the approval's chat notification failed; the approval still waits",
					"run_id", r.in.RunID, "step", execID, "webhook", webhook, "error", note.Error.Type+": "+note.Error.Message)
			}
			return
		}
		note.State = NotifySent
	})
	return note
}

// ApprovalMessage is the notify.webhook input that tells a chat an approval waits: the prompt, how to answer,
// the run, the step, the deadline and what an unanswered approval becomes, who may answer; run_link makes
// the activity add the run's console link from the worker's console.url (outside history, so a run replays
// the same wherever the console is).
func ApprovalMessage(webhook, playbook, runID, step, prompt string, approvers []string, until time.Time, onTimeout string) map[string]any {
	unanswered := map[string]string{"approve": "approved", "reject": "rejected", "fail": "the step fails"}[onTimeout]
	fields := map[string]any{
		"run":           runID,
		"step":          step,
		"answer by":     until.UTC().Format(time.RFC3339),
		"if unanswered": unanswered,
	}
	if len(approvers) > 0 {
		fields["approvers"] = strings.Join(approvers, ", ")
	}
	return map[string]any{
		"connection": webhook,
		"title":      "Approval needed: " + playbook + " / " + step,
		"text":       prompt + "\n\nAnswer in the console, or: `parry run approve " + runID + " " + step + " [--reject] [--comment TEXT]`",
		"fields":     fields,
		"run_link":   true,
	}
}

func approvalScope(o ApprovalOutput) map[string]any {
	return map[string]any{"approved": o.Approved, "by": o.By, "comment": o.Comment, "at": o.At.UTC().Format(time.RFC3339Nano), "timed_out": o.TimedOut}
}

// stepKey is the context key under which a timer's step travels (StepOf).
type stepKey struct{}

// StepOf is the execution id of the step a timer belongs to (a wait, an until's pause, an approval's
// timeout), for a replay's explanations; "" when not known.
func StepOf(ctx workflow.Context) string {
	s, _ := ctx.Value(stepKey{}).(string)
	return s
}

// sleep is a durable timer that the status query reports.
func (r *runner) sleep(ctx workflow.Context, execID string, d time.Duration) error {
	r.waits[execID] = Wait{Step: execID, Kind: "timer", Until: workflow.Now(ctx).Add(d).UTC()}
	defer delete(r.waits, execID)
	if err := workflow.Sleep(workflow.WithValue(ctx, stepKey{}, execID), d); err != nil {
		return &StepError{Type: wire.Cancelled, Message: "cancelled while waiting"}
	}
	return nil
}

// fail runs on_failure with `error` in scope, then returns the run's failure.
func (r *runner) fail(ctx workflow.Context, err error) error {
	se := StepError{Type: wire.Internal, Message: err.Error()}
	var sf *stepFailure
	var fs *failSignal
	switch {
	case errors.As(err, &sf):
		se = sf.err
	case errors.As(err, &fs):
		se = fs.err
	}
	if len(r.plan.OnFailure) > 0 {
		e := map[string]any{"type": se.Type, "message": se.Message, "step": se.Step}
		if r.typed() {
			e["path"] = se.Path
		}
		r.scope[expression.ScopeError] = e
		// on_failure's own failure does not change the outcome; its steps are recorded like any other.
		_ = r.runList(ctx, r.top, r.plan.OnFailure)
	}
	msg := se.Message
	if where := se.Step; where != "" {
		if r.typed() && se.Path != "" {
			where = se.Path
		}
		msg = fmt.Sprintf("step %s failed: %s: %s", where, se.Type, se.Message)
	}
	return temporal.NewNonRetryableApplicationError(msg, FailureType, nil,
		Failure{Step: se.Step, Path: se.Path, Type: se.Type, Message: se.Message, Steps: r.snapshot()})
}

// cancelOpen marks steps still running as cancelled (the run was cancelled).
func (r *runner) cancelOpen() {
	//workflowcheck:ignore map order: marks each running record on its own; issues no command
	for id, rec := range r.records {
		if rec.Status == StatusRunning {
			rec.Status = StatusCancelled
			rec.Error = &StepError{Type: wire.Cancelled, Message: "the run was cancelled", Step: id}
			if _, top := r.steps[id]; top {
				r.steps[id] = recordScope(*rec)
			}
		}
	}
}

func (r *runner) snapshot() map[string]StepRecord {
	out := make(map[string]StepRecord, len(r.records))
	//workflowcheck:ignore map order: a copy: every key is set whatever the order
	for id, rec := range r.records {
		out[id] = *rec
	}
	return out
}

func (r *runner) status() Status {
	s := Status{RunID: r.in.RunID, Playbook: r.in.Playbook.Name, State: StatusRunning, Current: []CurrentStep{}, Waiting: []Wait{}, Steps: r.snapshot()}
	//workflowcheck:ignore map order: sorted after
	for _, c := range r.current {
		s.Current = append(s.Current, c)
	}
	sort.Slice(s.Current, func(i, j int) bool { return s.Current[i].ID < s.Current[j].ID })
	//workflowcheck:ignore map order: sorted after
	for _, w := range r.waits {
		s.Waiting = append(s.Waiting, w)
	}
	sort.Slice(s.Waiting, func(i, j int) bool { return s.Waiting[i].Step < s.Waiting[j].Step })
	if len(s.Current) == 0 && len(s.Waiting) > 0 {
		s.State = StatusWaiting
	}
	return s
}

// decodeJSON decodes an activity's output keeping whole numbers as int64, as the plan's own values are.
func decodeJSON(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return Normalize(v), nil
}

// Normalize turns the json.Number values of a UseNumber decoding into int64 when whole and float64 otherwise,
// all the way down, in place: the values the plan's own templates hold.
func Normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		//workflowcheck:ignore map order: each value is normalised in place, on its own
		for k, e := range x {
			x[k] = Normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = Normalize(e)
		}
	}
	return v
}

func jsonSize(v any) int {
	if v == nil {
		return 0
	}
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// mayApprove matches a decider against approvers: token names, or role:R for anyone holding role R.
func mayApprove(approvers []string, d ApprovalDecision) bool {
	if contains(approvers, d.By) {
		return true
	}
	for _, r := range d.Roles {
		if contains(approvers, "role:"+r) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case int, int64, float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// sortedKeys lists a map's keys in order, so that workflow code never depends on map iteration order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore map order: the keys are sorted after
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
