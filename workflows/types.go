// Package workflows holds parry's Temporal workflows: Playbook, the interpreter that runs a compiled plan
// (one activity per action step, conditions and templates evaluated in deterministic workflow code), and the
// CECP log poller. It imports the plan and expression packages, never the playbook parser, the vendor client
// or the store: everything a run needs is in its input.
package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/wire"
)

// Names other parts use to start, signal, query and update playbook runs.
const (
	// PlaybookWorkflow is the workflow type of every playbook run.
	PlaybookWorkflow = "Playbook"
	// SignalAlert delivers an alert that joined the run's incident; the playbook sees it in incident.alerts.
	SignalAlert = "alert"
	// QueryStatus returns a Status.
	QueryStatus = "status"
	// UpdateApproval decides a pending approval step (ApprovalDecision → ApprovalOutput).
	UpdateApproval = "approval"
	// FailureType is the Temporal error type of a failed run; its details are a Failure.
	FailureType = "PlaybookFailed"
)

// Step statuses.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusWaiting   = "waiting"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusCancelled = "cancelled"
)

// Input starts a playbook run. The plan is carried as its encoded JSON (plan.Encode) so that numbers keep
// their integer-ness through Temporal's JSON payloads.
type Input struct {
	RunID    string          `json:"run_id"`
	Plan     json.RawMessage `json:"plan"`
	Playbook PlaybookRef     `json:"playbook"`
	// Inputs are the manual run's values (`--with key=value`), or, for an alert's run, the values its alert resolved
	// to at dispatch (the plan's `from`), as recorded on the run.
	Inputs   map[string]any `json:"inputs,omitempty"`
	Alert    map[string]any `json:"alert,omitempty"`
	Incident *Incident      `json:"incident,omitempty"`
	// Subplans are the plans of the playbooks this one calls (recursively), by name, resolved when the run
	// was started so a run is pinned to them too.
	Subplans map[string]json.RawMessage `json:"subplans,omitempty"`
	// Reuse are recorded results of a failed run, by step id, that a retry takes instead of executing the
	// steps again (action, approval, wait and call steps; loops by their step id).
	Reuse map[string]StepRecord `json:"reuse,omitempty"`
	// RetryOf is the run this one retries.
	RetryOf   string `json:"retry_of,omitempty"`
	StartedBy string `json:"started_by,omitempty"`
	// Limits override the interpreter's guards (zero: the defaults).
	Limits Limits `json:"limits,omitempty"`
	// Interpreter is the interpreter version the run executes with (InterpreterFor its plan, for every run parry
	// starts). It travels in the input, recorded in the run's first history event, so that picking it costs no
	// marker and no search-attribute upsert (a visibility write per run). 0: a run started before the field
	// existed, whose version is in its history's version marker.
	Interpreter int `json:"interpreter,omitempty"`
}

// PlaybookRef names the playbook version a run executes.
type PlaybookRef struct {
	Name    string `json:"name"`
	Version int    `json:"version,omitempty"` // 0: not from the registry (a file or inline YAML)
	SHA256  string `json:"sha256"`
}

// Incident is the incident a run handles; repeat alerts arrive by SignalAlert and append to Alerts.
type Incident struct {
	ID     int64            `json:"id"`
	Key    string           `json:"key"`
	Alerts []map[string]any `json:"alerts"`
}

// Duration is a time.Duration that travels in JSON as text (30s).
type Duration = plan.Duration

// Limits are the interpreter's guards against runaway playbooks, well inside Temporal's hard limits.
type Limits struct {
	// MaxStepExecutions bounds step executions per run (loop items and until repeats count).
	MaxStepExecutions int `json:"max_step_executions,omitempty"`
	// HeartbeatTimeout is how long an action may go without a heartbeat before Temporal gives it to another
	// worker (the worker heartbeats every quarter of it while the action runs): how fast a dead worker's
	// actions move on.
	HeartbeatTimeout Duration `json:"heartbeat_timeout,omitempty"`
	// MaxOutputBytes bounds one step's output as JSON. Temporal refuses payloads over 2 MB; the default leaves room
	// for the rest of the workflow task. A 1,000-mail sweep without headers is about 400 KB.
	MaxOutputBytes int `json:"max_output_bytes,omitempty"`
}

// Default guards.
const (
	DefaultMaxStepExecutions = 5000
	DefaultMaxOutputBytes    = 1 << 20
	DefaultHeartbeatTimeout  = time.Minute
)

func (l Limits) withDefaults() Limits {
	if l.MaxStepExecutions <= 0 {
		l.MaxStepExecutions = DefaultMaxStepExecutions
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.HeartbeatTimeout <= 0 {
		l.HeartbeatTimeout = Duration(DefaultHeartbeatTimeout)
	}
	return l
}

// StepError is a failed step's error, visible to playbooks as steps.ID.error.
type StepError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	// Step is the step that failed: the innermost one (a branch's step, a loop body's step), from
	// interpreterTyped on.
	Step string `json:"step,omitempty"`
	// Path is where that step ran, from the top: contain.quarantine (a branch's step), disable#3 (a loop's
	// item), per_ioc#2.lookup (a step of a loop body's item).
	Path string `json:"path,omitempty"`
}

// StepRecord is what the run knows of one step; playbooks read it as steps.ID.
type StepRecord struct {
	Status     string     `json:"status"`
	Output     any        `json:"output"`
	Error      *StepError `json:"error,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Attempts   int        `json:"attempts,omitempty"`
	// Reused is set when a retry took this record from the failed run instead of executing the step.
	Reused bool `json:"reused,omitempty"`
}

// Result is a successful run's outcome.
type Result struct {
	// Status is the finish step's label (resolved, false_positive…), or "succeeded".
	Status string                `json:"status"`
	Output map[string]any        `json:"output,omitempty"`
	Steps  map[string]StepRecord `json:"steps"`
}

// Failure is the detail of a failed run's error (type FailureType).
type Failure struct {
	Step    string                `json:"step"`
	Path    string                `json:"path,omitempty"`
	Type    string                `json:"type"`
	Message string                `json:"message"`
	Steps   map[string]StepRecord `json:"steps"`
}

// ApprovalDecision is the argument of UpdateApproval.
type ApprovalDecision struct {
	Step     string `json:"step"`
	Approved bool   `json:"approved"`
	By       string `json:"by"`
	// Roles are the roles the decider holds (its token's role and every lower one), matched against
	// `role:R` entries of the step's approvers.
	Roles   []string `json:"roles,omitempty"`
	Comment string   `json:"comment,omitempty"`
}

// ApprovalOutput is an approval step's output.
type ApprovalOutput struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
	// TimedOut is set when on_timeout decided.
	TimedOut bool `json:"timed_out,omitempty"`
}

// Status is the answer of QueryStatus.
type Status struct {
	RunID    string `json:"run_id"`
	Playbook string `json:"playbook"`
	// State is running, or waiting when every active step waits for a person or a timer.
	State   string                `json:"state"`
	Current []CurrentStep         `json:"current"`
	Waiting []Wait                `json:"waiting"`
	Steps   map[string]StepRecord `json:"steps"`
}

// CurrentStep is a step in progress.
type CurrentStep struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Action    string    `json:"action,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// Wait is something the run waits for: an approval, a timer (wait, until/every) or a called playbook.
type Wait struct {
	Step   string    `json:"step"`
	Kind   string    `json:"kind"` // approval, timer, call
	Until  time.Time `json:"until,omitempty"`
	Prompt string    `json:"prompt,omitempty"`
	// Approvers who may decide (empty: anyone with the responder role).
	Approvers []string `json:"approvers,omitempty"`
	// Notify is how the approval's chat notification (approval.notify) is going.
	Notify *NotifyStatus `json:"notify,omitempty"`
}

// Chat notification states (NotifyStatus.State).
const (
	NotifySending = "sending"
	NotifySent    = "sent"
	NotifyFailed  = "failed"
)

// NotifyStatus is how an approval's chat notification (approval.notify) went. A failed one never fails the
// approval, which waits all the same: the failure shows on the wait (the run's view, the console), in the
// step's output (notify.error) and in the worker's log.
type NotifyStatus struct {
	Webhook string     `json:"webhook"`
	State   string     `json:"state"`
	Error   *StepError `json:"error,omitempty"`
}

// Summary words the status for a run's view ("" for none): chat notification to soc-chat: sent.
func (n *NotifyStatus) Summary() string {
	switch {
	case n == nil:
		return ""
	case n.Error != nil:
		return fmt.Sprintf("chat notification to %s failed (%s: %s); the approval waits all the same", n.Webhook, n.Error.Type, n.Error.Message)
	}
	return fmt.Sprintf("chat notification to %s: %s", n.Webhook, n.State)
}

// output is steps.ID.output.notify: {webhook, sent, error}. A message still on its way when the approval
// ended was not posted (its activity is cancelled with the wait).
func (n *NotifyStatus) output() map[string]any {
	out := map[string]any{"webhook": n.Webhook, "sent": n.State == NotifySent, "error": nil}
	switch {
	case n.Error != nil:
		out["error"] = map[string]any{"type": n.Error.Type, "message": n.Error.Message}
	case n.State == NotifySending:
		out["error"] = map[string]any{"type": wire.Cancelled, "message": "the approval ended before the message was posted"}
	}
	return out
}
