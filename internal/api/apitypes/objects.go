package apitypes

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// Alert severities, lowest first.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// Alert statuses.
const (
	AlertPending    = "pending"
	AlertDispatched = "dispatched"
)

// AlertIn is one alert as sources send it to POST /v1/alerts (one object, an array, or NDJSON).
type AlertIn struct {
	ID         json.RawMessage `json:"id,omitempty"` // the source's own id: a string or a number
	Source     string          `json:"source"`
	Kind       string          `json:"kind"`
	Severity   string          `json:"severity"`
	Title      string          `json:"title"`
	Connection string          `json:"connection,omitempty"`
	ObservedAt string          `json:"observed_at"` // RFC 3339; empty: when parry received the alert
	Data       json.RawMessage `json:"data,omitempty"`
}

// AlertProblem is one invalid field of one alert of a request (the details of invalid_alerts).
type AlertProblem struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// IntakeResponse answers POST /v1/alerts (202): the stored ids in request order.
type IntakeResponse struct {
	Accepted   int             `json:"accepted"`
	Duplicates int             `json:"duplicates"`
	Alerts     []InsertedAlert `json:"alerts"`
}

// InsertedAlert says what became of one alert of an intake request.
type InsertedAlert struct {
	ID        int64 `json:"id"`
	Duplicate bool  `json:"duplicate"`
	// Replaced lists the places in data whose text PostgreSQL cannot store (NUL, invalid UTF-8, lone
	// surrogates) and which were stored with U+FFFD instead; see docs/alerts.md.
	Replaced []string `json:"replaced,omitempty"`
}

// Alert is one stored alert.
type Alert struct {
	ID           int64           `json:"id"`
	Source       string          `json:"source"`
	SourceID     string          `json:"source_id,omitempty"`
	Kind         string          `json:"kind"`
	Severity     string          `json:"severity"`
	Title        string          `json:"title"`
	Connection   string          `json:"connection,omitempty"`
	ObservedAt   time.Time       `json:"observed_at"`
	ReceivedAt   time.Time       `json:"received_at"`
	Data         json.RawMessage `json:"data"`
	IngestedBy   string          `json:"ingested_by,omitempty"`
	Status       string          `json:"status"`
	Matched      int             `json:"matched"`
	DispatchedAt *time.Time      `json:"dispatched_at,omitempty"`
	Attempts     int             `json:"attempts,omitempty"`
	LastError    string          `json:"last_error,omitempty"`
	// Reason says in words what became of the alert: waiting for dispatch, the playbooks it started or joined,
	// that no enabled playbook's trigger matched, or which trigger or dedup key could not be evaluated.
	Reason string `json:"reason"`
	// Incidents are the incidents the alert belongs to (GET /v1/alerts/{id} only).
	Incidents []Incident `json:"incidents,omitempty"`
}

// AlertList answers GET /v1/alerts.
type AlertList struct {
	Alerts []Alert `json:"alerts"`
}

// AlertFilter selects alerts for GET /v1/alerts, newest first.
type AlertFilter struct {
	Status string // pending or dispatched
	Source string
	Limit  int
	Before int64 // id cursor: only alerts with a smaller id
	Since  string
}

// Query encodes the filter as the endpoint's query parameters.
func (f AlertFilter) Query() url.Values {
	q := url.Values{}
	set(q, ParamStatus, f.Status)
	set(q, ParamSource, f.Source)
	set(q, ParamSince, f.Since)
	if f.Limit != 0 {
		q.Set(ParamLimit, strconv.Itoa(f.Limit))
	}
	if f.Before != 0 {
		q.Set(ParamBefore, strconv.FormatInt(f.Before, 10))
	}
	return q
}

// Incident statuses.
const (
	IncidentOpen   = "open"
	IncidentClosed = "closed"
)

// Incident is alerts grouped by playbook and dedup key, with the run they started.
type Incident struct {
	ID              int64      `json:"id"`
	PlaybookName    string     `json:"playbook"`
	PlaybookVersion int        `json:"version"`
	DedupKey        string     `json:"dedup_key"`
	Status          string     `json:"status"`
	RunID           string     `json:"run_id"`
	FirstAlertID    int64      `json:"first_alert_id"`
	AlertCount      int        `json:"alert_count"`
	OpenedAt        time.Time  `json:"opened_at"`
	WindowEndsAt    time.Time  `json:"window_ends_at"`
	LastAlertAt     time.Time  `json:"last_alert_at"`
	ClosedAt        *time.Time `json:"closed_at,omitempty"`
	ClosedBy        string     `json:"closed_by,omitempty"`
}

// IncidentList answers GET /v1/incidents.
type IncidentList struct {
	Incidents []Incident `json:"incidents"`
}

// IncidentFilter selects incidents for GET /v1/incidents, newest first.
type IncidentFilter struct {
	Status   string // open or closed
	Playbook string
	Limit    int
	Before   int64
	Severity string // of the incident's first alert
	Since    string // opened since: a duration back from now or an RFC 3339 time
}

// Query encodes the filter as the endpoint's query parameters.
func (f IncidentFilter) Query() url.Values {
	q := url.Values{}
	set(q, ParamStatus, f.Status)
	set(q, ParamPlaybook, f.Playbook)
	set(q, ParamSeverity, f.Severity)
	set(q, ParamSince, f.Since)
	if f.Limit != 0 {
		q.Set(ParamLimit, strconv.Itoa(f.Limit))
	}
	if f.Before != 0 {
		q.Set(ParamBefore, strconv.FormatInt(f.Before, 10))
	}
	return q
}

// IncidentDetail answers GET /v1/incidents/{id}: the incident, its alerts (at most 1000, oldest first) and
// its runs.
type IncidentDetail struct {
	Incident
	Alerts []Alert `json:"alerts"`
	// AlertsTruncated is set when the incident has more alerts than were returned.
	AlertsTruncated bool  `json:"alerts_truncated,omitempty"`
	Runs            []Run `json:"runs"`
}

// CloseIncidentResponse answers POST /v1/incidents/{id}/close.
type CloseIncidentResponse struct {
	ClosedNow bool     `json:"closed_now"` // false: it was closed already
	Incident  Incident `json:"incident"`
}

// PlaybookSummary is one playbook in GET /v1/playbooks.
type PlaybookSummary struct {
	Name          string    `json:"name"`
	Versions      int       `json:"versions"`
	Latest        int       `json:"latest"`
	Enabled       int       `json:"enabled"` // 0: no version is enabled
	SHA256        string    `json:"sha256"`  // of the enabled version, else the latest
	LastChangedAt time.Time `json:"last_changed_at"`
}

// PlaybookList answers GET /v1/playbooks.
type PlaybookList struct {
	Playbooks []PlaybookSummary `json:"playbooks"`
}

// PlaybookVersion is one immutable version of a playbook; Source and Plan are left out of lists.
type PlaybookVersion struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	Version   int             `json:"version"`
	SHA256    string          `json:"sha256"`
	Source    string          `json:"source,omitempty"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	Enabled   bool            `json:"enabled"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// VersionList answers GET /v1/playbooks/{name}/versions, newest first.
type VersionList struct {
	Versions []PlaybookVersion `json:"versions"`
}

// PlaybookFile is one playbook source to push; Name is what diagnostics call it (its path).
type PlaybookFile struct {
	Name   string `json:"file"`
	Source string `json:"source"`
}

// PushRequest is the body of POST /v1/playbooks.
type PushRequest struct {
	Playbooks []PlaybookFile `json:"playbooks"`
	// Enable makes every pushed version the enabled one.
	Enable bool `json:"enable,omitempty"`
}

// Pushed says what became of one pushed playbook.
type Pushed struct {
	File    string `json:"file,omitempty"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
	// Created is false when the same content was stored already (that version is reported).
	Created bool `json:"created"`
	Enabled bool `json:"enabled"`
}

// PushResponse answers POST /v1/playbooks.
type PushResponse struct {
	Playbooks []Pushed     `json:"playbooks"`
	Warnings  []Diagnostic `json:"warnings,omitempty"`
}

// Diagnostic is one lint finding (the details of lint_failed, the warnings of a push).
type Diagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"` // error or warning
	Message  string `json:"message"`
}

// String formats the diagnostic as file:line:col: severity: message.
func (d Diagnostic) String() string {
	return d.File + ":" + strconv.Itoa(d.Line) + ":" + strconv.Itoa(d.Column) + ": " + d.Severity + ": " + d.Message
}

// EnableRequest is the optional body of POST /v1/playbooks/{name}/enable; version 0 is the latest.
type EnableRequest struct {
	Version int `json:"version,omitempty"`
}

// DisableResponse answers POST /v1/playbooks/{name}/disable.
type DisableResponse struct {
	Name       string `json:"name"`
	WasEnabled bool   `json:"was_enabled"`
}

// Token roles, lowest first; each includes the ones before it.
var Roles = []string{"ingest", "viewer", "responder", "author", "admin"}

// Token is a stored API token (never the token itself).
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// TokenList answers GET /v1/tokens (?all=true includes revoked tokens).
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Webhook also creates a secret for HMAC-signed alert webhooks (POST /v1/webhooks/alerts/{name}).
	Webhook bool `json:"webhook,omitempty"`
}

// CreateTokenResponse carries the token, shown this once.
type CreateTokenResponse struct {
	Token         string `json:"token"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
	Info          Token  `json:"info"`
}

// RevokeTokenResponse answers DELETE /v1/tokens/{name}.
type RevokeTokenResponse struct {
	Revoked Token `json:"revoked"`
}

// Schedule is one on.schedule entry of an enabled playbook version (NAME#INDEX), as GET /v1/schedules shows it.
type Schedule struct {
	ID       string         `json:"id"` // the Temporal schedule id, parry-playbook-NAME-INDEX
	Playbook string         `json:"playbook"`
	Version  int            `json:"version"`
	Index    int            `json:"index"`
	Cron     string         `json:"cron,omitempty"`
	Timezone string         `json:"timezone,omitempty"`
	Every    string         `json:"every,omitempty"`
	With     map[string]any `json:"with,omitempty"`
	// State is active, paused, or pending (not in Temporal yet: the next reconcile creates it).
	State   string         `json:"state"`
	Next    []time.Time    `json:"next"`
	Recent  []ScheduleFire `json:"recent"`
	Skipped int64          `json:"skipped"` // fires skipped because the previous run was still going
}

// ScheduleFire is one recent fire of a schedule.
type ScheduleFire struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	WorkflowID  string    `json:"workflow_id"`
}

// ScheduleList answers GET /v1/schedules.
type ScheduleList struct {
	Schedules []Schedule `json:"schedules"`
}

// ScheduleTriggered answers POST /v1/schedules/{playbook}/trigger.
type ScheduleTriggered struct {
	Schedule string `json:"schedule"`
	Playbook string `json:"playbook"`
	Index    int    `json:"index"`
}
