// Package plan is the compiled form of a playbook: versioned, JSON-serialisable, self-contained. The
// Playbook workflow takes a Plan as its input, so a run is pinned to the plan that started it, and it needs
// nothing else to run: every step, modifier, expression source and resolved action default is here.
//
// Strings in template positions (action and call `with` values, vars, set, output, finish output, approval
// prompts, fail messages, for_each items) are expression.Template sources: evaluate them with
// expression.Engine.EvalValue. Strings in condition positions (If, Next.If, Until.Condition, Trigger.When,
// Dedup.Key, Input.From) are bare expressions: evaluate them with Engine.Eval or EvalBool.
package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Version is the plan format this package writes and reads. A change to the meaning of an existing field
// needs a new version (and workflow.GetVersion in the interpreter).
const Version = 1

// Plan is a compiled playbook.
type Plan struct {
	PlanVersion int    `json:"plan_version"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// SHA256 is the hex SHA-256 of the playbook source the plan was compiled from.
	SHA256  string   `json:"sha256"`
	Trigger *Trigger `json:"trigger,omitempty"`
	// Schedules start runs on a calendar or at an interval, as Temporal Schedules (see internal/schedules).
	Schedules []Schedule `json:"schedules,omitempty"`
	// Inputs in declaration order; the run fills them from the manual run's `with` or from the alert (From).
	Inputs []Input `json:"inputs,omitempty"`
	// Vars are evaluated in order when the run starts; a var may read the ones before it.
	Vars  []Var  `json:"vars,omitempty"`
	Steps []Step `json:"steps"`
	// Output is a template tree evaluated when the run succeeds (unless a finish step sets its own).
	Output map[string]any `json:"output,omitempty"`
	// OnFailure runs when the run fails, with `error` in scope; its own failure does not change the outcome.
	OnFailure []Step `json:"on_failure,omitempty"`
	// Timeout bounds the whole run.
	Timeout Duration `json:"timeout"`
}

// Trigger says which alerts start the playbook (for the dispatcher).
type Trigger struct {
	// When is a condition over `alert`.
	When  string `json:"when"`
	Dedup *Dedup `json:"dedup,omitempty"`
}

// Dedup groups alerts into one incident: alerts whose Key evaluates to the same string within Window of
// the incident's first alert join it instead of starting a run.
type Dedup struct {
	Key    string   `json:"key"`
	Window Duration `json:"window"`
}

// Schedule is one entry of on.schedule: a five-field cron expression in a time zone, or an interval; With
// are the inputs of the runs it starts.
type Schedule struct {
	Cron string `json:"cron,omitempty"`
	// Timezone is an IANA zone name for Cron ("" is UTC).
	Timezone string   `json:"timezone,omitempty"`
	Every    Duration `json:"every,omitempty"`
	// With holds plain values (no templates): a scheduled run has no alert to compute them from.
	With map[string]any `json:"with,omitempty"`
}

// Input is one declared input.
type Input struct {
	Name string `json:"name"`
	// Type is string, int, number, bool, list, object or any.
	Type     string `json:"type"`
	Required bool   `json:"required,omitempty"`
	// Default is used when neither the manual run nor From gives a value (nil: the input is null).
	Default any `json:"default,omitempty"`
	// From is an expression over `alert`, used when the run was started by an alert.
	From        string `json:"from,omitempty"`
	Description string `json:"description,omitempty"`
	// Enum lists the values the input may take (nil: any of its type).
	Enum []any `json:"enum,omitempty"`
}

// Var is a name bound to a template tree (vars, set).
type Var struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// Kind is what a step does.
type Kind string

// Step kinds.
const (
	KindAction   Kind = "action"
	KindParallel Kind = "parallel"
	KindCall     Kind = "call"
	KindApproval Kind = "approval"
	KindWait     Kind = "wait"
	KindSet      Kind = "set"
	KindFinish   Kind = "finish"
	KindFail     Kind = "fail"
	// KindSteps is a loop body of several steps: a for_each whose every item runs the list Steps.
	KindSteps Kind = "steps"
)

// Kinds lists the step kinds in documentation order.
var Kinds = []Kind{KindAction, KindParallel, KindCall, KindApproval, KindWait, KindSet, KindFinish, KindFail, KindSteps}

// Step is one step. Exactly the field of its Kind is set (Action, Parallel, Call, Approval, Wait, Set,
// Finish, Fail); the modifiers apply as documented on each.
type Step struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Kind Kind   `json:"kind"`
	// If is a condition evaluated once before the step (before any loop); false or null skips the step.
	If string `json:"if,omitempty"`

	Action   *Action   `json:"action,omitempty"`
	Parallel []Branch  `json:"parallel,omitempty"`
	Call     *Call     `json:"call,omitempty"`
	Approval *Approval `json:"approval,omitempty"`
	Wait     Duration  `json:"wait,omitempty"`
	// WaitExpr is a template giving the wait's duration (a duration text such as 15m, or seconds) when the
	// playbook computes it; WaitUntil a template giving the RFC 3339 time to wait until.
	WaitExpr  string  `json:"wait_expr,omitempty"`
	WaitUntil string  `json:"wait_until,omitempty"`
	Set       []Var   `json:"set,omitempty"`
	Finish    *Finish `json:"finish,omitempty"`
	Fail      string  `json:"fail,omitempty"` // message template
	// Steps is the body of a KindSteps loop: run once per for_each item, in order, each item with its own
	// steps.ID results.
	Steps []Step `json:"steps,omitempty"`

	ForEach *ForEach `json:"for_each,omitempty"`
	Until   *Until   `json:"until,omitempty"`
	// OnError says what a failure of this step does to the run.
	OnError OnError `json:"on_error"`
	// Next rules are evaluated in order after the step (the step's own output is in scope); the first whose
	// If is true (or empty) jumps to its Goto. None true: the following step.
	Next []Next `json:"next,omitempty"`
}

// Action runs one activity whose type is Name. ActivityID is the step id (id#N inside loops).
type Action struct {
	Name string `json:"name"`
	// With is the activity input as a template tree, with the spec's defaults filled in. Secret values are
	// not here: see Secrets.
	With map[string]any `json:"with"`
	// Secrets are resolved by the activity worker and placed into the evaluated With at Path; their values
	// never enter workflow history.
	Secrets []SecretRef `json:"secrets,omitempty"`
	// Timeout bounds one attempt (start-to-close); ScheduleToClose all attempts (0: unbounded). TimeoutExpr,
	// when set, is a template computing Timeout for each execution.
	Timeout         Duration `json:"timeout"`
	TimeoutExpr     string   `json:"timeout_expr,omitempty"`
	ScheduleToClose Duration `json:"schedule_to_close,omitempty"`
	Retry           Retry    `json:"retry"`
	// Mutates is true for actions that change state outside parry (audited, bounded retries).
	Mutates bool `json:"mutates,omitempty"`
	// AlertDefaults map inputs to fields of the triggering alert: when the evaluated With leaves an input
	// empty and the run has an alert with that field, the field's value fills it (action.Input.FromAlert).
	AlertDefaults map[string]string `json:"alert_defaults,omitempty"`
}

// SecretRef says that the value at Path inside With is the secret Name. Path elements are map keys or, for
// lists, decimal indexes.
type SecretRef struct {
	Path []string `json:"path"`
	Name string   `json:"name"`
}

// Retry is a Temporal retry policy.
type Retry struct {
	InitialInterval Duration `json:"initial_interval"`
	Backoff         float64  `json:"backoff"`
	MaxInterval     Duration `json:"max_interval"`
	// MaxAttempts 0 means unlimited (bounded by ScheduleToClose).
	MaxAttempts  int      `json:"max_attempts,omitempty"`
	NonRetryable []string `json:"non_retryable,omitempty"`
	// DelayExpr is a template computing a fixed wait between attempts (retry.delay written as an expression):
	// it sets InitialInterval and MaxInterval, with Backoff 1.
	DelayExpr string `json:"delay_expr,omitempty"`
}

// Branch is one named list of steps of a parallel step.
type Branch struct {
	Name  string `json:"name"`
	Steps []Step `json:"steps"`
}

// Call runs another playbook as a child workflow; its output is the step's output.
type Call struct {
	Playbook    string         `json:"playbook"`
	With        map[string]any `json:"with,omitempty"`
	Timeout     Duration       `json:"timeout,omitempty"`
	TimeoutExpr string         `json:"timeout_expr,omitempty"`
}

// Approval waits for a human decision. Its output is {approved, by, comment, at}.
type Approval struct {
	Prompt    string   `json:"prompt"` // template
	Approvers []string `json:"approvers,omitempty"`
	Timeout   Duration `json:"timeout"`
	// TimeoutExpr, when set, is a template computing Timeout when the approval starts.
	TimeoutExpr string `json:"timeout_expr,omitempty"`
	// OnTimeout is approve, reject or fail.
	OnTimeout string `json:"on_timeout"`
	// Notify, when set (approval.notify), is the notify.webhook call that posts the prompt to a chat when the
	// approval starts waiting: With holds the webhook (connection), the interpreter adds the message, and the
	// action's timeouts and retries apply. Its failure is recorded, never the approval's.
	Notify *Action `json:"notify,omitempty"`
}

// Finish ends the run successfully. Status is a free label recorded on the run (resolved, false_positive…);
// Output, when set, replaces the playbook's output.
type Finish struct {
	Status string         `json:"status,omitempty"`
	Output map[string]any `json:"output,omitempty"`
}

// ForEach runs the step once per item of Items, with As and index in scope, at most Concurrency at a time;
// the output is the list of outputs in input order. Items is a template tree that evaluates to a list (a
// whole template such as "${{ steps.sweep.output.mails }}", or a literal list). More than MaxItems items
// fail the step.
type ForEach struct {
	Items       any    `json:"items"`
	As          string `json:"as"`
	Concurrency int    `json:"concurrency"`
	MaxItems    int    `json:"max_items"`
}

// Until repeats the step (a durable timer of Every between attempts) until Condition, evaluated with the
// step's `output` in scope, is true; after MaxAttempts attempts the step fails.
type Until struct {
	Condition string   `json:"condition"`
	Every     Duration `json:"every"`
	// EveryExpr, when set, is a template computing Every before each wait.
	EveryExpr   string `json:"every_expr,omitempty"`
	MaxAttempts int    `json:"max_attempts"`
}

// OnError actions.
const (
	OnErrorFail     = "fail"
	OnErrorContinue = "continue" // the error goes to steps.ID.error and the run moves on
	OnErrorGoto     = "goto"
)

// OnError is what a step's failure does.
type OnError struct {
	Action string `json:"action"`
	Goto   string `json:"goto,omitempty"`
}

// End is the Goto target that ends the current step list (at the top level: the run, successfully).
const End = "end"

// Next is one jump rule.
type Next struct {
	If   string `json:"if,omitempty"`
	Goto string `json:"goto"`
}

// Encode writes the plan as indented JSON with a final newline. The same plan always gives the same bytes
// (struct fields in declaration order, map keys sorted).
func Encode(p *Plan) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encoding plan: %w", err)
	}
	return b.Bytes(), nil
}

// Decode reads a plan and refuses versions this code does not know.
func Decode(data []byte) (*Plan, error) {
	var head struct {
		PlanVersion int `json:"plan_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decoding plan: %w", err)
	}
	if head.PlanVersion != Version {
		return nil, fmt.Errorf("decoding plan: plan version %d is not supported (this parry reads version %d)", head.PlanVersion, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding plan: %w", err)
	}
	normalizeNumbers(&p)
	upgradeAlertDefaults(&p)
	return &p, nil
}

// upgradeAlertDefaults gives the cecp.* actions of plans compiled before AlertDefaults existed the default
// every cecp.* action has had since the first plan (connection from the alert), so runs pinned to such a plan
// keep acting on their alert's tenant. Plans compiled now carry it themselves.
func upgradeAlertDefaults(p *Plan) {
	p.Walk(func(s *Step) bool {
		if a := s.Action; a != nil && a.AlertDefaults == nil && strings.HasPrefix(a.Name, "cecp.") {
			a.AlertDefaults = map[string]string{"connection": "connection"}
		}
		return true
	})
}

// Walk calls fn for every step, depth first in plan order (branch steps after their parallel step, loop body
// steps after their loop step), including on_failure steps; fn returns false to stop.
func (p *Plan) Walk(fn func(s *Step) bool) {
	walkSteps(p.Steps, fn)
	walkSteps(p.OnFailure, fn)
}

func walkSteps(steps []Step, fn func(s *Step) bool) bool {
	for i := range steps {
		if !fn(&steps[i]) {
			return false
		}
		for b := range steps[i].Parallel {
			if !walkSteps(steps[i].Parallel[b].Steps, fn) {
				return false
			}
		}
		if !walkSteps(steps[i].Steps, fn) {
			return false
		}
	}
	return true
}

// Loop returns the loop step whose body holds the step with the given id ("" when the step is not in a
// loop body, or does not exist).
func (p *Plan) Loop(id string) string {
	var find func(steps []Step, loop string) (string, bool)
	find = func(steps []Step, loop string) (string, bool) {
		for i := range steps {
			st := &steps[i]
			if st.ID == id {
				return loop, true
			}
			for _, b := range st.Parallel {
				if l, ok := find(b.Steps, loop); ok {
					return l, true
				}
			}
			if l, ok := find(st.Steps, st.ID); ok {
				return l, true
			}
		}
		return "", false
	}
	if l, ok := find(p.Steps, ""); ok {
		return l
	}
	l, _ := find(p.OnFailure, "")
	return l
}

// Step returns the step with the given id, wherever it is.
func (p *Plan) Step(id string) (*Step, bool) {
	var found *Step
	p.Walk(func(s *Step) bool {
		if s.ID == id {
			found = s
			return false
		}
		return true
	})
	return found, found != nil
}
