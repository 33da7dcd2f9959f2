package apitypes

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// Query parameters of GET /v1/audit (besides since, limit and before).
const (
	ParamAction   = "action"
	ParamActor    = "actor"
	ParamRun      = "run"
	ParamSeverity = "severity"
)

// AuditEvent is one row of the audit trail.
type AuditEvent struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	RunID      string          `json:"run_id,omitempty"`
	StepID     string          `json:"step_id,omitempty"`
	Attempt    int             `json:"attempt,omitempty"`
	Connection string          `json:"connection,omitempty"`
	Operation  string          `json:"operation,omitempty"`
	Targets    int             `json:"targets,omitempty"`
	VendorIDs  []string        `json:"vendor_ids,omitempty"`
	Outcome    string          `json:"outcome,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
}

// AuditList answers GET /v1/audit, newest first.
type AuditList struct {
	Events []AuditEvent `json:"events"`
}

// AuditFilter selects audit events; zero fields do not filter.
type AuditFilter struct {
	Since  string // a duration back from now or an RFC 3339 time
	Action string // an action (run.approve) or a prefix of actions (run)
	Actor  string // token:NAME
	Run    string
	Limit  int
	Before int64
}

// Query encodes the filter as the endpoint's query parameters.
func (f AuditFilter) Query() url.Values {
	q := url.Values{}
	set(q, ParamSince, f.Since)
	set(q, ParamAction, f.Action)
	set(q, ParamActor, f.Actor)
	set(q, ParamRun, f.Run)
	if f.Limit != 0 {
		q.Set(ParamLimit, strconv.Itoa(f.Limit))
	}
	if f.Before != 0 {
		q.Set(ParamBefore, strconv.FormatInt(f.Before, 10))
	}
	return q
}

// PendingApproval is one approval a run waits for, in GET /v1/approvals.
type PendingApproval struct {
	RunID     string    `json:"run_id"`
	Playbook  string    `json:"playbook"`
	Version   int       `json:"version,omitempty"`
	Incident  *int64    `json:"incident_id,omitempty"`
	Step      string    `json:"step"`
	Prompt    string    `json:"prompt,omitempty"`
	Approvers []string  `json:"approvers,omitempty"`
	Deadline  time.Time `json:"deadline,omitempty"`
	Since     time.Time `json:"run_started_at"`
}

// ApprovalList answers GET /v1/approvals: every approval waiting, newest run first.
type ApprovalList struct {
	Approvals []PendingApproval `json:"approvals"`
}

// LintRequest is the body of POST /v1/lint: one playbook's source, linted as `parry lint` does.
type LintRequest struct {
	File   string `json:"file,omitempty"` // the name diagnostics carry (default playbook.yaml)
	Source string `json:"source"`
}

// LintResponse answers POST /v1/lint: the diagnostics (sorted, errors and warnings) and, when the playbook
// compiles, its flow laid out for drawing.
type LintResponse struct {
	Diagnostics []Diagnostic `json:"diagnostics"`
	Graph       *Drawing     `json:"graph,omitempty"`
}

// Drawing is a plan's flow laid out (pixels): the console draws it as an SVG.
type Drawing struct {
	Width    int           `json:"width"`
	Height   int           `json:"height"`
	Nodes    []DrawNode    `json:"nodes"`
	Clusters []DrawCluster `json:"clusters"`
	Edges    []DrawEdge    `json:"edges"`
}

// DrawNode is one node of a Drawing; Step is the step id it stands for.
type DrawNode struct {
	ID    string   `json:"id"`
	Step  string   `json:"step,omitempty"`
	Lines []string `json:"lines"`
	Shape string   `json:"shape"`
	X     int      `json:"x"`
	Y     int      `json:"y"`
	W     int      `json:"w"`
	H     int      `json:"h"`
}

// DrawCluster is the box of a parallel step, a branch or a loop of steps.
type DrawCluster struct {
	ID    string `json:"id"`
	Step  string `json:"step,omitempty"`
	Label string `json:"label"`
	X     int    `json:"x"`
	Y     int    `json:"y"`
	W     int    `json:"w"`
	H     int    `json:"h"`
	Depth int    `json:"depth"`
}

// DrawEdge is one edge, as points.
type DrawEdge struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Label  string   `json:"label,omitempty"`
	Dashed bool     `json:"dashed,omitempty"`
	Points [][2]int `json:"points"`
}

// Artifact is a file a run kept (a quarantined mail's ZIP).
type Artifact struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Step        string    `json:"step"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ContentType string    `json:"content_type,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// ArtifactList answers GET /v1/runs/{id}/artifacts.
type ArtifactList struct {
	Artifacts []Artifact `json:"artifacts"`
}

// SigninCodeRequest is the body of POST /v1/console/codes: a single-use code for a console session of Role
// (at most the caller's), valid for TTLSeconds (default 300, at most 3600).
type SigninCodeRequest struct {
	Role       string `json:"role"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"`
}

// SigninCode answers POST /v1/console/codes.
type SigninCode struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SessionRequest is the body of POST /v1/console/session: the sign-in code to exchange.
type SessionRequest struct {
	Code string `json:"code"`
}

// Session answers POST /v1/console/session: an API token that expires (shown once).
type Session struct {
	Token     string    `json:"token"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}
