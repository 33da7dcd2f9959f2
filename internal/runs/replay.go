package runs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/workflows"
)

// ReplayResult says whether a history replays against the current code, and if not, where it first differs
// and what differs there.
type ReplayResult struct {
	OK bool `json:"ok"`
	// Step is the step id (its execution id: disable#3, per_ioc#2.lookup) at which the current code first
	// does something else.
	Step string `json:"step,omitempty"`
	// What names the difference: action, input, condition, order, added, removed, timer, call, output,
	// failure, or replay (the SDK refused the history for another reason).
	What    string `json:"what,omitempty"`
	Message string `json:"message"`
	Events  int    `json:"events"`
}

// Replay runs the exported history through the current Playbook workflow code, without a server. It reports
// success, or the first step where the code now decides differently from what the history recorded. When
// newPlan is given (an edited playbook, compiled), the history is replayed as if the run had started with it:
// this shows whether the edit changes what the run did, and where.
func Replay(ex Export, newPlan json.RawMessage) (ReplayResult, error) {
	hist, err := client.HistoryFromJSON(bytes.NewReader(ex.History), client.HistoryJSONOptions{})
	if err != nil {
		return ReplayResult{}, fmt.Errorf("reading the exported history: %w", err)
	}
	return ReplayWithPlan(hist, newPlan)
}

// ReplayHistory replays one history as it is (see Replay).
func ReplayHistory(hist *historypb.History) (ReplayResult, error) { return ReplayWithPlan(hist, nil) }

// ReplayWithPlan replays a history, with newPlan in place of the run's plan when given.
//
// Temporal's replayer checks that the code schedules the same activities, timers and child runs in the same
// order; it does not look at their inputs, nor at the run's result, and it reports what it finds in its own
// words. So the replay here also records, through an interceptor, every command the code issues and the
// result it returns, compares them with the history event by event (activity inputs, timer durations, child
// inputs, the run's output), and explains the first difference in the playbook's terms with the two plans
// side by side: the step, and whether its action, inputs, condition or place changed, or whether it was added
// or removed. What does not change what the run does (a comment, a description, the playbook's hash) replays
// clean.
func ReplayWithPlan(hist *historypb.History, newPlan json.RawMessage) (ReplayResult, error) {
	res := ReplayResult{Events: len(hist.GetEvents())}
	if res.Events == 0 {
		return res, errors.New("the history is empty")
	}
	recorded, err := readHistory(hist)
	if err != nil {
		return res, err
	}
	oldPlan, _ := plan.Decode(recorded.plan)
	curPlan := oldPlan
	if len(newPlan) > 0 {
		if err := substitutePlan(hist, newPlan); err != nil {
			return res, err
		}
		if curPlan, err = plan.Decode(newPlan); err != nil {
			return res, fmt.Errorf("reading the new plan: %w", err)
		}
	}
	log := &commandLog{}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		Interceptors:             []interceptor.WorkerInterceptor{&recordInterceptor{log: log}},
		DisableDeadlockDetection: true, // a replay on a busy laptop is not a deadlock
	})
	if err != nil {
		return res, fmt.Errorf("preparing the replay: %w", err)
	}
	r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
	logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	sdkErr := r.ReplayWorkflowHistory(logger, hist)

	ex := explainer{old: oldPlan, cur: curPlan}
	if d := ex.compare(recorded, log); d != nil {
		res.Step, res.What, res.Message = d.step, d.what, d.message
		return res, nil
	}
	if sdkErr != nil {
		res.Step, res.Message = unexplained(recorded.cmds)
		res.What = "replay"
		return res, nil
	}
	res.OK = true
	res.Message = fmt.Sprintf("replayed %d events: the current code makes the same decisions", res.Events)
	return res, nil
}

// unexplained is the message for a history the SDK refuses although every command the code issued matches
// the history's: the code differs in a decision that issues no command of its own (a wait on a signal, a
// marker, a version, how the run ends). It names the last step both agree on.
func unexplained(cmds []command) (string, string) {
	for i := len(cmds) - 1; i >= 0; i-- {
		if step := (explainer{}).name(cmds[i]); step != "" {
			return step, fmt.Sprintf("not deterministic after step %s: the current code runs the same steps with the same inputs up to there, then decides differently (a wait, a version check or how the run ends)", step)
		}
	}
	return "", "not deterministic before the first step: the current code decides differently from the history (a wait, a version check or how the run ends)"
}

// substitutePlan replaces the plan in the run's start event.
func substitutePlan(hist *historypb.History, newPlan json.RawMessage) error {
	for _, ev := range hist.GetEvents() {
		if ev.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
			continue
		}
		payloads := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
		if len(payloads) == 0 {
			return errors.New("the history's start event has no input")
		}
		var in map[string]json.RawMessage
		if err := json.Unmarshal(payloads[0].GetData(), &in); err != nil {
			return fmt.Errorf("reading the run's input from the history: %w", err)
		}
		in["plan"] = newPlan
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		payloads[0].Data = data
		return nil
	}
	return errors.New("the history has no start event")
}

// command is one thing the workflow asked Temporal to do.
type command struct {
	kind string // activity, timer, child
	id   string // the activity's id (the step's execution id), the child's workflow id
	step string // the step it belongs to (timers: the step waiting)
	typ  string // the activity's type (the action), the child's workflow type
	in   any    // activity: {with, secrets}; child: its inputs
	dur  time.Duration
}

// recordedRun is what a history says the run did.
type recordedRun struct {
	plan   json.RawMessage
	cmds   []command
	result *workflows.Result // nil unless the run completed
	failed bool
	fail   workflows.Failure
}

func readHistory(hist *historypb.History) (recordedRun, error) {
	var rr recordedRun
	for _, ev := range hist.GetEvents() {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			p := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
			if len(p) > 0 {
				var in workflows.Input
				if err := json.Unmarshal(p[0].GetData(), &in); err != nil {
					return rr, fmt.Errorf("reading the run's input from the history: %w", err)
				}
				rr.plan = in.Plan
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := ev.GetActivityTaskScheduledEventAttributes()
			c := command{kind: "activity", id: a.GetActivityId(), step: a.GetActivityId(), typ: a.GetActivityType().GetName()}
			if p := a.GetInput().GetPayloads(); len(p) > 0 {
				c.in = actionInput(p[0].GetData())
			}
			rr.cmds = append(rr.cmds, c)
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			rr.cmds = append(rr.cmds, command{kind: "timer", dur: ev.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration()})
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes()
			c := command{kind: "child", id: a.GetWorkflowId(), typ: a.GetWorkflowType().GetName()}
			if p := a.GetInput().GetPayloads(); len(p) > 0 {
				c.in = childInputs(p[0].GetData())
			}
			rr.cmds = append(rr.cmds, c)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			if p := ev.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads(); len(p) > 0 {
				var res workflows.Result
				if decodeUseNumber(p[0].GetData(), &res) == nil {
					rr.result = &res
				}
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			rr.failed = true
			f := ev.GetWorkflowExecutionFailedEventAttributes().GetFailure()
			if d := f.GetApplicationFailureInfo().GetDetails().GetPayloads(); len(d) > 0 {
				_ = decodeUseNumber(d[0].GetData(), &rr.fail)
			}
		}
	}
	return rr, nil
}

// actionInput keeps of an activity's input what decides what the action does: its inputs and secrets (not
// the run's id or the playbook's hash, which a comment changes).
func actionInput(data []byte) any {
	var in struct {
		With    any `json:"with"`
		Secrets any `json:"secrets"`
	}
	if decodeUseNumber(data, &in) != nil {
		return nil
	}
	return map[string]any{"with": in.With, "secrets": in.Secrets}
}

func childInputs(data []byte) any {
	var in struct {
		Inputs any `json:"inputs"`
	}
	if decodeUseNumber(data, &in) != nil {
		return nil
	}
	return in.Inputs
}

func decodeUseNumber(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// normalizeJSON runs a value through JSON so that the code's values and the history's compare alike.
func normalizeJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if decodeUseNumber(b, &out) != nil {
		return nil
	}
	return out
}

// commandLog is what the current code did during the replay.
type commandLog struct {
	mu     sync.Mutex
	cmds   []command
	result *workflows.Result
	err    error
	done   bool
}

func (l *commandLog) add(c command) {
	l.mu.Lock()
	l.cmds = append(l.cmds, c)
	l.mu.Unlock()
}

type recordInterceptor struct {
	interceptor.WorkerInterceptorBase
	log *commandLog
}

func (r *recordInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &recordInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, log: r.log}
}

type recordInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	log *commandLog
}

func (i *recordInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&recordOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, log: i.log})
}

func (i *recordInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	out, err := i.Next.ExecuteWorkflow(ctx, in)
	i.log.mu.Lock()
	defer i.log.mu.Unlock()
	i.log.done, i.log.err = true, err
	if res, ok := out.(*workflows.Result); ok && res != nil {
		var cp workflows.Result
		if b, err := json.Marshal(res); err == nil && decodeUseNumber(b, &cp) == nil {
			i.log.result = &cp
		}
	}
	return out, err
}

type recordOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	log *commandLog
}

func (o *recordOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if ctx.Err() == nil {
		opts := workflow.GetActivityOptions(ctx)
		c := command{kind: "activity", id: opts.ActivityID, step: opts.ActivityID, typ: activityType}
		if len(args) == 1 {
			if b, err := json.Marshal(args[0]); err == nil {
				c.in = actionInput(b)
			}
		}
		o.log.add(c)
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *recordOutbound) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	if d > 0 && ctx.Err() == nil {
		o.log.add(command{kind: "timer", step: workflows.StepOf(ctx), dur: d})
	}
	return o.Next.NewTimer(ctx, d)
}

func (o *recordOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, opts workflow.TimerOptions) workflow.Future {
	if d > 0 && ctx.Err() == nil {
		o.log.add(command{kind: "timer", step: workflows.StepOf(ctx), dur: d})
	}
	return o.Next.NewTimerWithOptions(ctx, d, opts)
}

func (o *recordOutbound) ExecuteChildWorkflow(ctx workflow.Context, childWorkflowType string, args ...any) workflow.ChildWorkflowFuture {
	if ctx.Err() == nil {
		opts := workflow.GetChildWorkflowOptions(ctx)
		c := command{kind: "child", id: opts.WorkflowID, typ: childWorkflowType}
		if len(args) == 1 {
			if b, err := json.Marshal(args[0]); err == nil {
				c.in = childInputs(b)
			}
		}
		o.log.add(c)
	}
	return o.Next.ExecuteChildWorkflow(ctx, childWorkflowType, args...)
}

// difference is the first thing the current code does otherwise.
type difference struct {
	step, what, message string
}

// explainer puts a difference in the playbook's words, with the run's plan and the current one.
type explainer struct {
	old, cur *plan.Plan
}

func (e explainer) compare(h recordedRun, log *commandLog) *difference {
	log.mu.Lock()
	cmds := slices.Clone(log.cmds)
	result, runErr, done := log.result, log.err, log.done
	log.mu.Unlock()
	for i := 0; i < len(h.cmds) || i < len(cmds); i++ {
		switch {
		case i >= len(cmds):
			return e.missing(h.cmds[i])
		case i >= len(h.cmds):
			return e.extra(cmds[i], "")
		}
		if d := e.differ(h.cmds[i], cmds[i]); d != nil {
			return d
		}
	}
	if !done {
		return nil
	}
	switch {
	case h.result != nil && runErr == nil && result != nil:
		if h.result.Status != result.Status {
			return &difference{what: "output", message: fmt.Sprintf("the run would end %s instead of %s", result.Status, h.result.Status)}
		}
		if diffs := valueDiffs(normalizeJSON(h.result.Output), normalizeJSON(result.Output), "output"); len(diffs) > 0 {
			return &difference{what: "output", message: "the run's output would differ: " + strings.Join(diffs, "; ")}
		}
	case h.result != nil && runErr != nil:
		return &difference{what: "failure", message: "the run succeeded; the current code fails it: " + failureMessage(runErr)}
	case h.failed && runErr == nil && result != nil:
		return &difference{what: "failure", message: fmt.Sprintf("the run failed at step %s; the current code makes it succeed", orNone(h.fail.Step))}
	}
	return nil
}

// failureMessage is what a failing run says, in its own words: the message of the workflow's application error
// (the step's failure), not the SDK's wrapping.
func failureMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// stepOf is the step id of an execution id (disable#3 → disable, per_ioc#2.lookup → lookup).
func stepOf(execID string) string {
	if i := strings.LastIndexByte(execID, '.'); i >= 0 {
		execID = execID[i+1:]
	}
	id, _, _ := strings.Cut(execID, "#")
	return id
}

func (e explainer) differ(h, c command) *difference {
	if h.kind != c.kind || h.kind != "timer" && h.id != c.id {
		if h.kind == "activity" && c.kind == "activity" || h.kind == "child" && c.kind == "child" {
			return e.replaced(h, c)
		}
		return e.extra(c, h.id)
	}
	switch h.kind {
	case "activity":
		if h.typ != c.typ {
			return &difference{step: h.id, what: "action", message: fmt.Sprintf("step %s: its action changed: the run called %s, the current code calls %s", h.id, h.typ, c.typ)}
		}
		if diffs := valueDiffs(normalizeJSON(h.in), normalizeJSON(c.in), ""); len(diffs) > 0 {
			return &difference{step: h.id, what: "input", message: fmt.Sprintf("step %s: its inputs changed: %s", h.id, strings.Join(diffs, "; "))}
		}
	case "timer":
		if h.dur != c.dur {
			where := "a timer"
			if c.step != "" {
				where = "step " + c.step
			}
			return &difference{step: c.step, what: "timer", message: fmt.Sprintf("%s: the run waited %s, the current code waits %s", where, plan.FormatDuration(h.dur), plan.FormatDuration(c.dur))}
		}
	case "child":
		if h.typ != c.typ {
			return &difference{step: stepOfChild(h.id), what: "call", message: fmt.Sprintf("step %s: the run started %s, the current code starts %s", stepOfChild(h.id), h.typ, c.typ)}
		}
		if diffs := valueDiffs(normalizeJSON(h.in), normalizeJSON(c.in), "with"); len(diffs) > 0 {
			return &difference{step: stepOfChild(h.id), what: "call", message: fmt.Sprintf("step %s: the called playbook's inputs changed: %s", stepOfChild(h.id), strings.Join(diffs, "; "))}
		}
	}
	return nil
}

// stepOfChild is the execution id in a child run's workflow id (RUN/STEP).
func stepOfChild(workflowID string) string {
	if i := strings.LastIndexByte(workflowID, '/'); i >= 0 {
		return workflowID[i+1:]
	}
	return workflowID
}

func (e explainer) name(c command) string {
	if c.kind == "child" {
		return stepOfChild(c.id)
	}
	if c.kind == "timer" {
		return c.step
	}
	return c.id
}

// missing: the run did h next; the current code stops before (or does nothing more).
func (e explainer) missing(h command) *difference {
	id := e.name(h)
	if id == "" {
		return &difference{what: "order", message: "the run waited on a timer next; the current code does not"}
	}
	return e.whyNot(id, fmt.Sprintf("the run ran step %s (%s) next; the current code does not", id, h.typ))
}

// extra: the current code does c where the run did something else (instead) or nothing more.
func (e explainer) extra(c command, instead string) *difference {
	id := e.name(c)
	what := "step " + id
	if id == "" {
		what = "a timer"
	}
	s := stepOf(id)
	switch {
	case e.old != nil && id != "" && !hasStep(e.old, s):
		return &difference{step: id, what: "added", message: fmt.Sprintf("step %s was added: the current code runs it where the run %s", id, did(instead))}
	case e.old != nil && e.cur != nil && id != "" && conditionChanged(e.old, e.cur, s):
		return &difference{step: id, what: "condition", message: fmt.Sprintf("step %s: its condition (if) changed: the current code runs it where the run %s", id, did(instead))}
	}
	if instead != "" {
		return e.whyNot(stepOf(instead), fmt.Sprintf("the current code runs %s where the run ran step %s", what, instead))
	}
	return &difference{step: id, what: "order", message: fmt.Sprintf("the current code runs %s, which the run did not", what)}
}

func did(instead string) string {
	if instead == "" {
		return "ended"
	}
	return "ran step " + instead
}

// replaced: both did an activity (or a child run) there, but of different steps.
func (e explainer) replaced(h, c command) *difference {
	hs, cs := stepOf(e.name(h)), stepOf(e.name(c))
	switch {
	case e.cur != nil && !hasStep(e.cur, hs):
		return &difference{step: e.name(h), what: "removed", message: fmt.Sprintf("step %s was removed: the run ran it (%s) where the current code runs step %s", e.name(h), h.typ, e.name(c))}
	case e.old != nil && !hasStep(e.old, cs):
		return &difference{step: e.name(c), what: "added", message: fmt.Sprintf("step %s was added: the current code runs it where the run ran step %s", e.name(c), e.name(h))}
	case e.old != nil && e.cur != nil && orderChanged(e.old, e.cur, hs, cs):
		return &difference{step: e.name(h), what: "order", message: fmt.Sprintf("step %s: the order of steps changed: the run ran %s (%s) there, the current code runs %s (%s)", e.name(h), e.name(h), h.typ, e.name(c), c.typ)}
	case e.old != nil && e.cur != nil && conditionChanged(e.old, e.cur, hs):
		return &difference{step: e.name(h), what: "condition", message: fmt.Sprintf("step %s: its condition (if) changed: the run ran it, the current code runs step %s there", e.name(h), e.name(c))}
	case e.old != nil && e.cur != nil && conditionChanged(e.old, e.cur, cs):
		return &difference{step: e.name(c), what: "condition", message: fmt.Sprintf("step %s: its condition (if) changed: the current code runs it where the run ran step %s", e.name(c), e.name(h))}
	}
	return &difference{step: e.name(h), what: "order", message: fmt.Sprintf("step %s: the run ran %s (%s) there, the current code runs %s (%s): an earlier step's result or the flow changed", e.name(h), e.name(h), h.typ, e.name(c), c.typ)}
}

// whyNot explains why the current code does not run step id where the run did.
func (e explainer) whyNot(id, fallback string) *difference {
	s := stepOf(id)
	switch {
	case e.cur != nil && !hasStep(e.cur, s):
		return &difference{step: id, what: "removed", message: fmt.Sprintf("step %s was removed: the run ran it, the current code does not", id)}
	case e.old != nil && e.cur != nil && conditionChanged(e.old, e.cur, s):
		return &difference{step: id, what: "condition", message: fmt.Sprintf("step %s: its condition (if) changed: the run ran it, the current code does not", id)}
	}
	if e.old != nil && e.cur != nil {
		if d := firstChanged(e.old, e.cur); d != "" {
			return &difference{step: id, what: "order", message: fallback + " (" + d + ")"}
		}
	}
	return &difference{step: id, what: "order", message: fallback}
}

func hasStep(p *plan.Plan, id string) bool {
	_, ok := p.Step(id)
	return ok
}

func conditionChanged(a, b *plan.Plan, id string) bool {
	x, ok1 := a.Step(id)
	y, ok2 := b.Step(id)
	return ok1 && ok2 && (x.If != y.If || !reflect.DeepEqual(x.Next, y.Next))
}

// orderChanged reports whether steps x and y are in a different order in the two plans.
func orderChanged(a, b *plan.Plan, x, y string) bool {
	pos := func(p *plan.Plan, id string) int {
		i, n := -1, 0
		p.Walk(func(s *plan.Step) bool {
			if s.ID == id {
				i = n
				return false
			}
			n++
			return true
		})
		return i
	}
	ax, ay, bx, by := pos(a, x), pos(a, y), pos(b, x), pos(b, y)
	return ax >= 0 && ay >= 0 && bx >= 0 && by >= 0 && (ax < ay) != (bx < by)
}

// firstChanged names the first step of the run's plan, in order, that the current plan changed or lacks.
func firstChanged(a, b *plan.Plan) string {
	out := ""
	a.Walk(func(s *plan.Step) bool {
		t, ok := b.Step(s.ID)
		switch {
		case !ok:
			out = "step " + s.ID + " was removed"
		default:
			if d := stepDiff(s, t); d != "" {
				out = fmt.Sprintf("step %s: its %s changed", s.ID, d)
			}
		}
		return out == ""
	})
	return out
}

// valueDiffs lists where two JSON-like values differ, each as "path: was X, is now Y", at most five.
func valueDiffs(old, cur any, path string) []string {
	var out []string
	var walk func(a, b any, path string)
	walk = func(a, b any, path string) {
		if len(out) >= 5 {
			return
		}
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			keys := map[string]bool{}
			for k := range am {
				keys[k] = true
			}
			for k := range bm {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			sort.Strings(sorted)
			for _, k := range sorted {
				walk(am[k], bm[k], path+"."+k)
			}
			return
		}
		al, aok := a.([]any)
		bl, bok := b.([]any)
		if aok && bok && len(al) == len(bl) {
			for i := range al {
				walk(al[i], bl[i], fmt.Sprintf("%s[%d]", path, i))
			}
			return
		}
		if !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("%s was %s, is now %s", strings.TrimPrefix(path, "."), showValue(a), showValue(b)))
		}
	}
	walk(old, cur, path)
	return out
}

func showValue(v any) string {
	if v == nil {
		return "absent"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(b.String())
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
