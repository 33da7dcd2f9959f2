// Package apitypes is the wire contract of parry's HTTP API: every request and response body, the query
// parameters of the list endpoints and the error codes. The server (internal/api) maps its store and run values
// to these types; the typed client (internal/apiclient), the CLI and a web console decode into them.
//
// It is a leaf package (standard library only) so that a client never pulls in the server's dependencies (pgx,
// the Temporal SDK). JSON field names are stable: the CLI's --json output and the documentation depend on them.
package apitypes

import (
	"encoding/json"
	"time"
)

// Error codes of the API's error answers, {"error": {"code": ..., "message": ...}}.
const (
	// CodeUnauthorized: no token, a malformed Authorization header, or an unknown or revoked token (401).
	CodeUnauthorized = "unauthorized"
	// CodeForbidden: the token's role is too low for the endpoint (403).
	CodeForbidden = "forbidden"
	// CodeNotFound: no such endpoint or object (404).
	CodeNotFound = "not_found"
	// CodeMethodNotAllowed: the path exists with other methods, listed in the Allow header (405).
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeBadJSON: the body is not the JSON the endpoint takes (syntax, unknown fields, wrong types) (400).
	CodeBadJSON = "bad_json"
	// CodeInvalidParameter: a query parameter, path value or request field has a value the endpoint does not
	// take (malformed, out of range, contradicting another); a client's usage mistake (400).
	CodeInvalidParameter = "invalid_parameter"
	// CodeUnknownParameter: the endpoint takes no query parameter of that name (400).
	CodeUnknownParameter = "unknown_parameter"
	// CodeInvalid: a well-formed request refused for what it asks (a playbook that does not compile, a retry
	// whose reused steps changed, inputs the playbook does not take) (400).
	CodeInvalid = "invalid"
	// CodeInvalidAlerts: some alerts of an intake request are invalid; details lists each (400).
	CodeInvalidAlerts = "invalid_alerts"
	// CodeLintFailed: a pushed playbook has lint errors; details lists the diagnostics (400).
	CodeLintFailed = "lint_failed"
	// CodeLimitExceeded: a pushed playbook exceeds a bound on the work it makes the server do (YAML nodes,
	// aliases, expression length); the message names the bound and the limit (400).
	CodeLimitExceeded = "limit_exceeded"
	// CodeConflict: the request does not fit the object's state (approving a step that does not wait) (409).
	CodeConflict = "conflict"
	// CodeExists: a live object with that name exists (409).
	CodeExists = "exists"
	// CodeBodyTooLarge: the body is over api.max_body_bytes (413).
	CodeBodyTooLarge = "body_too_large"
	// CodePlaybookTooLarge: a pushed playbook is over the size bound (413).
	CodePlaybookTooLarge = "playbook_too_large"
	// CodeTooManyAlerts: more alerts in one request than the API takes (413).
	CodeTooManyAlerts = "too_many_alerts"
	// CodeDatabaseUnavailable: PostgreSQL is unreachable; retry when it is back (503).
	CodeDatabaseUnavailable = "database_unavailable"
	// CodeTemporalUnavailable: Temporal is unreachable; retry when it is back (503).
	CodeTemporalUnavailable = "temporal_unavailable"
	// CodeUnavailable: the database or Temporal did not answer in time; retry (503).
	CodeUnavailable = "unavailable"
	// CodeInternal: a fault in parry; the server log has the cause under the request id (500).
	CodeInternal = "internal"
)

// ErrorBody is every error answer.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is what went wrong, for people (Message) and programs (Code).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RequestID is set on 5xx answers: the server log has the cause under it.
	RequestID string `json:"request_id,omitempty"`
	// Details lists per-item problems ([]AlertProblem for invalid_alerts, []Diagnostic for lint_failed).
	Details json.RawMessage `json:"details,omitempty"`
}

// Health answers GET /healthz.
type Health struct {
	Status string `json:"status"`
}

// Ready answers GET /readyz (200 when every check is ok, else 503 with the same body). A failed check says
// "unavailable"; the server log has why.
type Ready struct {
	Checks map[string]string `json:"checks"`
	Status string            `json:"status"` // ok or unavailable
}

// Whoami answers GET /v1/whoami.
type Whoami struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// ExpiresAt is when a session token (the console's) stops working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ListResponse is the shape of every list the CLI prints with --json: {"items": [...]}.
type ListResponse[T any] struct {
	Items []T `json:"items"`
}
