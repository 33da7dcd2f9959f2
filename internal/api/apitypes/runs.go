package apitypes

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// Run statuses.
const (
	RunPending   = "pending" // recorded, not started yet (Temporal was unreachable)
	RunRunning   = "running"
	RunWaiting   = "waiting" // for an approval or a timer
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// RunStatuses lists every run status.
var RunStatuses = []string{RunPending, RunRunning, RunWaiting, RunSucceeded, RunFailed, RunCancelled}

// Terminal reports whether a run status is final.
func Terminal(status string) bool {
	return status == RunSucceeded || status == RunFailed || status == RunCancelled
}

// Step statuses of a run's timeline.
const (
	StepPending   = "pending"
	StepRunning   = "running"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepSkipped   = "skipped"
	StepCancelled = "cancelled"
)

// Run is one playbook run.
type Run struct {
	ID string `json:"id"`
	// WorkflowRunID is Temporal's run id of the run's workflow (whose workflow id is ID).
	WorkflowRunID   string          `json:"workflow_run_id,omitempty"`
	PlaybookName    string          `json:"playbook"`
	PlaybookVersion int             `json:"version,omitempty"` // 0: not from the registry (a file)
	PlaybookSHA256  string          `json:"sha256"`
	Status          string          `json:"status"`
	ResultStatus    string          `json:"result_status,omitempty"` // what the playbook's finish step said
	WaitingFor      string          `json:"waiting_for,omitempty"`
	FailedStep      string          `json:"failed_step,omitempty"`
	Error           string          `json:"error,omitempty"`
	RetryOf         string          `json:"retry_of,omitempty"`
	RetryFromStep   string          `json:"retry_from_step,omitempty"`
	StartedBy       string          `json:"started_by,omitempty"`
	IncidentID      *int64          `json:"incident_id,omitempty"`
	AlertID         *int64          `json:"alert_id,omitempty"`
	Inputs          json.RawMessage `json:"inputs,omitempty"`
	Output          json.RawMessage `json:"output,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	StartedAt       *time.Time      `json:"started_at,omitempty"`
	FinishedAt      *time.Time      `json:"finished_at,omitempty"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

// RunList answers GET /v1/runs.
type RunList struct {
	Runs []Run `json:"runs"`
}

// Query parameters of GET /v1/runs.
const (
	ParamStatus   = "status"
	ParamPlaybook = "playbook"
	ParamIncident = "incident"
	ParamSince    = "since"
	ParamLimit    = "limit"
	ParamBefore   = "before"
	ParamSource   = "source"
	ParamVersion  = "version"
	ParamFull     = "full"
	ParamAll      = "all"
	ParamRetryOf  = "retry_of"
)

// MaxListLimit is the largest limit a list endpoint takes.
const MaxListLimit = 1000

// RunFilter selects runs for GET /v1/runs; zero fields do not filter.
type RunFilter struct {
	Status   string // one of RunStatuses
	Playbook string
	Incident int64
	// Since is a duration back from now (24h, 30m) or an RFC 3339 time.
	Since string
	Limit int // 1 to MaxListLimit; 0: 100
	// RetryOf keeps the retries of one run.
	RetryOf string
}

// Query encodes the filter as the endpoint's query parameters.
func (f RunFilter) Query() url.Values {
	q := url.Values{}
	set(q, ParamStatus, f.Status)
	set(q, ParamPlaybook, f.Playbook)
	set(q, ParamSince, f.Since)
	set(q, ParamRetryOf, f.RetryOf)
	if f.Incident != 0 {
		q.Set(ParamIncident, strconv.FormatInt(f.Incident, 10))
	}
	if f.Limit != 0 {
		q.Set(ParamLimit, strconv.Itoa(f.Limit))
	}
	return q
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// RunView answers GET /v1/runs/{id}: the record, the timeline of steps and what the run waits for.
type RunView struct {
	Run     Run    `json:"run"`
	Steps   []Step `json:"steps"`
	Waiting []Wait `json:"waiting"`
	// Note explains missing detail (Temporal unreachable, history gone).
	Note string `json:"note,omitempty"`
}

// Step is one step (or one loop item) of a run's timeline.
type Step struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Action     string     `json:"action,omitempty"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	DurationMS int64      `json:"duration_ms,omitempty"`
	Error      *StepError `json:"error,omitempty"`
	Input      any        `json:"input,omitempty"`
	Output     any        `json:"output,omitempty"`
	Reused     bool       `json:"reused,omitempty"` // taken from the failed run a retry reuses
	Depth      int        `json:"depth,omitempty"`
	Items      []Step     `json:"items,omitempty"`
}

// StepError is a step's failure: Type is one of the error types in docs/operations.md.
type StepError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Step    string `json:"step,omitempty"`
}

// Wait is one thing a running run waits for.
type Wait struct {
	Step      string    `json:"step"`
	Kind      string    `json:"kind"` // approval, timer, call, vendor quota, retry back-off
	Until     time.Time `json:"until,omitempty"`
	Prompt    string    `json:"prompt,omitempty"`
	Approvers []string  `json:"approvers,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// StartRunRequest is the body of POST /v1/runs. Give Playbook or Source, not both.
type StartRunRequest struct {
	// Playbook names a registered playbook (its enabled version, or Version); Source is inline YAML instead.
	Playbook string         `json:"playbook,omitempty"`
	Version  int            `json:"version,omitempty"`
	Source   string         `json:"source,omitempty"`
	Inputs   map[string]any `json:"inputs,omitempty"`
	// Alert is an alert in the intake format (AlertIn), given to the run as `alert`.
	Alert json.RawMessage `json:"alert,omitempty"`
	// RunID makes the request idempotent: the same id starts one run.
	RunID string `json:"run_id,omitempty"`
}

// ApprovalRequest is the body of POST /v1/runs/{id}/approvals/{step}.
type ApprovalRequest struct {
	Approved bool   `json:"approved"`
	Comment  string `json:"comment,omitempty"`
}

// ApprovalResponse answers an approval: the decision as the run recorded it.
type ApprovalResponse struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
	TimedOut bool      `json:"timed_out,omitempty"`
}

// CancelResponse answers POST /v1/runs/{id}/cancel (202).
type CancelResponse struct {
	Status string `json:"status"` // cancelling
}

// RetryRequest is the body of POST /v1/runs/{id}/retry. At most one of Source, Version and Latest.
type RetryRequest struct {
	// From is the first step to execute again (default: the first failed step).
	From    string `json:"from,omitempty"`
	Source  string `json:"source,omitempty"`
	Version int    `json:"version,omitempty"`
	Latest  bool   `json:"latest,omitempty"`
}

// ExportVersion is the format of Export.
const ExportVersion = 1

// Export answers GET /v1/runs/{id}/export: one run in one JSON document (what `parry run export` writes).
type Export struct {
	ExportVersion int             `json:"export_version"`
	ExportedAt    time.Time       `json:"exported_at"`
	Run           Run             `json:"run"`
	Plan          json.RawMessage `json:"plan"`
	Steps         json.RawMessage `json:"steps,omitempty"`
	Alerts        []Alert         `json:"alerts"`
	// History is the workflow history in Temporal's JSON form (`temporal workflow show --output json`).
	History json.RawMessage `json:"history"`
	// Decrypted says the history is encrypted in Temporal and was decrypted for this export.
	Decrypted bool `json:"decrypted,omitempty"`
}

// ReplayRequest is the optional body of POST /v1/runs/{id}/replay: replay as if the run had used Source.
type ReplayRequest struct {
	Source string `json:"source,omitempty"`
}

// ReplayResult says whether a run's history replays against the server's code, and where it first differs.
type ReplayResult struct {
	OK bool `json:"ok"`
	// Step is the step id (its execution id: disable#3, per_ioc#2.lookup) at which the current code first
	// does something else.
	Step string `json:"step,omitempty"`
	// What names the difference: action, input, condition, order, added, removed, timer, call, output,
	// failure, or replay (the replayer refused the history for another reason).
	What    string `json:"what,omitempty"`
	Message string `json:"message"`
	Events  int    `json:"events"`
}
