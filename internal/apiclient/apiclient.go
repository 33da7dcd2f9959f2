// Package apiclient is the typed client of parry's HTTP API: one method per endpoint, the request and answer
// types of internal/api/apitypes. The CLI uses it (and a web console can); it imports neither the server, the
// store nor the Temporal SDK.
package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/parry-soar/parry/internal/api/apitypes"
)

// Client calls one parry API with one token.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client with a sane timeout.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Error is an error answer of the API, or a failure to reach it or to understand its answer.
type Error struct {
	Status    int // 0 when the API was not reached or did not answer with parry's JSON
	Code      string
	Message   string
	RequestID string // of a 5xx answer: the server log has the cause under it
	Details   json.RawMessage
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return e.Message
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// Usage reports whether the API refused a value the caller gave (a parameter, path value or field out of
// what the endpoint takes): for a CLI, a usage mistake.
func (e *Error) Usage() bool {
	return e.Status == http.StatusBadRequest && (e.Code == apitypes.CodeInvalidParameter || e.Code == apitypes.CodeUnknownParameter)
}

// usageError is a value refused before any request (an empty id), reported like the API would.
func usageError(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: apitypes.CodeInvalidParameter, Message: fmt.Sprintf(format, args...)}
}

// segment escapes one path segment; empty values are refused (they would name another endpoint).
func segment(what, v string) (string, error) {
	if v == "" {
		return "", usageError("the %s is empty", what)
	}
	return url.PathEscape(v), nil
}

// request is one call: the body is JSON of in (unless nil) or raw; out receives the answer's JSON (unless nil).
type request struct {
	method, path string
	query        url.Values
	in           any
	raw          []byte
	out          any
	// body receives the answer's bytes instead of out (a download).
	body *[]byte
	// accept lists non-2xx statuses whose body is decoded into out rather than read as an error.
	accept []int
}

func (c *Client) call(ctx context.Context, rq request) (int, error) {
	var body io.Reader
	switch {
	case rq.raw != nil:
		body = bytes.NewReader(rq.raw)
	case rq.in != nil:
		b, err := json.Marshal(rq.in)
		if err != nil {
			return 0, fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	u := c.BaseURL + rq.path
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u, body)
	if err != nil {
		return 0, &Error{Message: fmt.Sprintf("the parry API URL %q is not a URL (set PARRY_URL to http://host:port)", c.BaseURL)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &Error{Message: fmt.Sprintf("cannot reach the parry API at %s: %s (is `parry dev` or `parry server` running? set PARRY_URL)", c.BaseURL, whyUnreachable(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return resp.StatusCode, &Error{Message: fmt.Sprintf("the parry API at %s broke off its answer (HTTP %d); try again", c.BaseURL, resp.StatusCode)}
	}
	accepted := false
	for _, s := range rq.accept {
		accepted = accepted || s == resp.StatusCode
	}
	if resp.StatusCode >= 300 && !accepted {
		var env apitypes.ErrorBody
		if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
			rid := env.Error.RequestID
			if rid == "" && resp.StatusCode >= 500 {
				rid = resp.Header.Get("X-Request-Id")
			}
			return resp.StatusCode, &Error{Status: resp.StatusCode, Code: env.Error.Code, Message: env.Error.Message, RequestID: rid, Details: env.Error.Details}
		}
		return resp.StatusCode, &Error{Message: fmt.Sprintf("%s answered HTTP %d without parry's error JSON%s (is PARRY_URL pointing at parry?)", c.BaseURL, resp.StatusCode, excerpt(data))}
	}
	if rq.body != nil {
		*rq.body = data
		return resp.StatusCode, nil
	}
	if rq.out == nil {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(data, rq.out); err != nil {
		return resp.StatusCode, &Error{Message: fmt.Sprintf("%s answered %s %s with JSON this parry does not understand (is it another parry version?)", c.BaseURL, rq.method, rq.path)}
	}
	return resp.StatusCode, nil
}

// whyUnreachable says in words why a connection failed (never the Go error's own text).
func whyUnreachable(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host name %q does not resolve", dnsErr.Name)
	case errors.As(err, &certErr):
		return "its TLS certificate is not trusted"
	case errors.As(err, &recordErr):
		return "it does not speak TLS (use http:// for a plain-HTTP API)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "it did not answer in time"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return "it closed the connection"
	}
	return "the connection failed"
}

func excerpt(data []byte) string {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return ": " + strconv.Quote(s)
}

func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	_, err := c.call(ctx, request{method: http.MethodGet, path: path, query: query, out: out})
	return err
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	_, err := c.call(ctx, request{method: http.MethodPost, path: path, in: in, out: out})
	return err
}

// Health asks GET /healthz.
func (c *Client) Health(ctx context.Context) (apitypes.Health, error) {
	var h apitypes.Health
	return h, c.get(ctx, "/healthz", nil, &h)
}

// Ready asks GET /readyz. When a dependency is unavailable it returns the answer and an error naming them.
func (c *Client) Ready(ctx context.Context) (apitypes.Ready, error) {
	var r apitypes.Ready
	status, err := c.call(ctx, request{method: http.MethodGet, path: "/readyz", out: &r, accept: []int{http.StatusServiceUnavailable}})
	if err != nil {
		return r, err
	}
	if status != http.StatusOK {
		var down []string
		for name, state := range r.Checks {
			if state != "ok" {
				down = append(down, name)
			}
		}
		return r, &Error{Status: status, Code: apitypes.CodeUnavailable, Message: "unavailable: " + strings.Join(slicesSorted(down), ", ")}
	}
	return r, nil
}

// Whoami asks which token the client uses.
func (c *Client) Whoami(ctx context.Context) (apitypes.Whoami, error) {
	var w apitypes.Whoami
	return w, c.get(ctx, "/v1/whoami", nil, &w)
}

// ListRuns lists runs, newest first.
func (c *Client) ListRuns(ctx context.Context, f apitypes.RunFilter) ([]apitypes.Run, error) {
	var out apitypes.RunList
	return out.Runs, c.get(ctx, "/v1/runs", f.Query(), &out)
}

// GetRun returns a run's view (its timeline; full: long inputs and outputs not shortened).
func (c *Client) GetRun(ctx context.Context, id string, full bool) (apitypes.RunView, error) {
	var v apitypes.RunView
	seg, err := segment("run id", id)
	if err != nil {
		return v, err
	}
	var q url.Values
	if full {
		q = url.Values{apitypes.ParamFull: {"true"}}
	}
	return v, c.get(ctx, "/v1/runs/"+seg, q, &v)
}

// StartRun starts a run; a run whose Status is pending is recorded and starts when Temporal is reachable.
func (c *Client) StartRun(ctx context.Context, req apitypes.StartRunRequest) (apitypes.Run, error) {
	var r apitypes.Run
	return r, c.post(ctx, "/v1/runs", req, &r)
}

// Approve answers a run's approval step.
func (c *Client) Approve(ctx context.Context, id, step string, req apitypes.ApprovalRequest) (apitypes.ApprovalResponse, error) {
	var out apitypes.ApprovalResponse
	seg, err := segment("run id", id)
	if err != nil {
		return out, err
	}
	st, err := segment("step id", step)
	if err != nil {
		return out, err
	}
	return out, c.post(ctx, "/v1/runs/"+seg+"/approvals/"+st, req, &out)
}

// Cancel asks a run to stop; the answer's status is cancelling.
func (c *Client) Cancel(ctx context.Context, id string) (apitypes.CancelResponse, error) {
	var out apitypes.CancelResponse
	seg, err := segment("run id", id)
	if err != nil {
		return out, err
	}
	return out, c.post(ctx, "/v1/runs/"+seg+"/cancel", struct{}{}, &out)
}

// Retry starts a run that reuses a failed run's completed steps.
func (c *Client) Retry(ctx context.Context, id string, req apitypes.RetryRequest) (apitypes.Run, error) {
	var r apitypes.Run
	seg, err := segment("run id", id)
	if err != nil {
		return r, err
	}
	return r, c.post(ctx, "/v1/runs/"+seg+"/retry", req, &r)
}

// Export returns a run in one document: record, plan, alerts and workflow history.
func (c *Client) Export(ctx context.Context, id string) (apitypes.Export, error) {
	var ex apitypes.Export
	seg, err := segment("run id", id)
	if err != nil {
		return ex, err
	}
	return ex, c.get(ctx, "/v1/runs/"+seg+"/export", nil, &ex)
}

// Replay replays a run's history against the server's code (req.Source: as if it had used that playbook).
func (c *Client) Replay(ctx context.Context, id string, req apitypes.ReplayRequest) (apitypes.ReplayResult, error) {
	var res apitypes.ReplayResult
	seg, err := segment("run id", id)
	if err != nil {
		return res, err
	}
	return res, c.post(ctx, "/v1/runs/"+seg+"/replay", req, &res)
}

// SendAlerts posts alerts: body is one JSON object, a JSON array of objects, or NDJSON.
func (c *Client) SendAlerts(ctx context.Context, body []byte) (apitypes.IntakeResponse, error) {
	var out apitypes.IntakeResponse
	if body == nil {
		body = []byte{}
	}
	_, err := c.call(ctx, request{method: http.MethodPost, path: "/v1/alerts", raw: body, out: &out})
	return out, err
}

// ListAlerts lists alerts, newest first.
func (c *Client) ListAlerts(ctx context.Context, f apitypes.AlertFilter) ([]apitypes.Alert, error) {
	var out apitypes.AlertList
	return out.Alerts, c.get(ctx, "/v1/alerts", f.Query(), &out)
}

// GetAlert returns one alert.
func (c *Client) GetAlert(ctx context.Context, id int64) (apitypes.Alert, error) {
	var a apitypes.Alert
	return a, c.get(ctx, "/v1/alerts/"+strconv.FormatInt(id, 10), nil, &a)
}

// ListIncidents lists incidents, newest first.
func (c *Client) ListIncidents(ctx context.Context, f apitypes.IncidentFilter) ([]apitypes.Incident, error) {
	var out apitypes.IncidentList
	return out.Incidents, c.get(ctx, "/v1/incidents", f.Query(), &out)
}

// GetIncident returns an incident with its alerts and runs.
func (c *Client) GetIncident(ctx context.Context, id int64) (apitypes.IncidentDetail, error) {
	var d apitypes.IncidentDetail
	return d, c.get(ctx, "/v1/incidents/"+strconv.FormatInt(id, 10), nil, &d)
}

// CloseIncident closes an incident (ClosedNow is false when it was closed already).
func (c *Client) CloseIncident(ctx context.Context, id int64) (apitypes.CloseIncidentResponse, error) {
	var out apitypes.CloseIncidentResponse
	return out, c.post(ctx, "/v1/incidents/"+strconv.FormatInt(id, 10)+"/close", nil, &out)
}

// ListPlaybooks lists the registry's playbooks.
func (c *Client) ListPlaybooks(ctx context.Context) ([]apitypes.PlaybookSummary, error) {
	var out apitypes.PlaybookList
	return out.Playbooks, c.get(ctx, "/v1/playbooks", nil, &out)
}

// GetPlaybook returns one version with its source and plan (version 0: the enabled one, else the latest).
func (c *Client) GetPlaybook(ctx context.Context, name string, version int) (apitypes.PlaybookVersion, error) {
	var v apitypes.PlaybookVersion
	seg, err := segment("playbook name", name)
	if err != nil {
		return v, err
	}
	var q url.Values
	if version != 0 {
		q = url.Values{apitypes.ParamVersion: {strconv.Itoa(version)}}
	}
	return v, c.get(ctx, "/v1/playbooks/"+seg, q, &v)
}

// ListVersions lists a playbook's versions, newest first.
func (c *Client) ListVersions(ctx context.Context, name string) ([]apitypes.PlaybookVersion, error) {
	var out apitypes.VersionList
	seg, err := segment("playbook name", name)
	if err != nil {
		return nil, err
	}
	return out.Versions, c.get(ctx, "/v1/playbooks/"+seg+"/versions", nil, &out)
}

// PushPlaybooks stores new versions; a lint failure is an *Error with Code lint_failed and the diagnostics in
// Details.
func (c *Client) PushPlaybooks(ctx context.Context, req apitypes.PushRequest) (apitypes.PushResponse, error) {
	var out apitypes.PushResponse
	return out, c.post(ctx, "/v1/playbooks", req, &out)
}

// EnablePlaybook makes a version (0: the latest) the one alerts trigger.
func (c *Client) EnablePlaybook(ctx context.Context, name string, version int) (apitypes.PlaybookVersion, error) {
	var v apitypes.PlaybookVersion
	seg, err := segment("playbook name", name)
	if err != nil {
		return v, err
	}
	return v, c.post(ctx, "/v1/playbooks/"+seg+"/enable", apitypes.EnableRequest{Version: version}, &v)
}

// DisablePlaybook stops alerts from triggering a playbook.
func (c *Client) DisablePlaybook(ctx context.Context, name string) (apitypes.DisableResponse, error) {
	var out apitypes.DisableResponse
	seg, err := segment("playbook name", name)
	if err != nil {
		return out, err
	}
	return out, c.post(ctx, "/v1/playbooks/"+seg+"/disable", nil, &out)
}

// ListTokens lists API tokens (all: revoked ones too).
func (c *Client) ListTokens(ctx context.Context, all bool) ([]apitypes.Token, error) {
	var out apitypes.TokenList
	var q url.Values
	if all {
		q = url.Values{apitypes.ParamAll: {"true"}}
	}
	return out.Tokens, c.get(ctx, "/v1/tokens", q, &out)
}

// CreateToken creates a token; the answer carries it, shown this once.
func (c *Client) CreateToken(ctx context.Context, req apitypes.CreateTokenRequest) (apitypes.CreateTokenResponse, error) {
	var out apitypes.CreateTokenResponse
	return out, c.post(ctx, "/v1/tokens", req, &out)
}

// RevokeToken revokes the live token with the name.
func (c *Client) RevokeToken(ctx context.Context, name string) (apitypes.Token, error) {
	var out apitypes.RevokeTokenResponse
	seg, err := segment("token name", name)
	if err != nil {
		return out.Revoked, err
	}
	_, err = c.call(ctx, request{method: http.MethodDelete, path: "/v1/tokens/" + seg, out: &out})
	return out.Revoked, err
}

func slicesSorted(xs []string) []string {
	slices.Sort(xs)
	return xs
}

// ListSchedules lists the schedules of the enabled playbooks.
func (c *Client) ListSchedules(ctx context.Context) ([]apitypes.Schedule, error) {
	var out apitypes.ScheduleList
	return out.Schedules, c.get(ctx, "/v1/schedules", nil, &out)
}

// TriggerSchedule fires on.schedule[index] of a playbook now.
func (c *Client) TriggerSchedule(ctx context.Context, playbook string, index int) (apitypes.ScheduleTriggered, error) {
	var out apitypes.ScheduleTriggered
	name, err := segment("playbook name", playbook)
	if err != nil {
		return out, err
	}
	_, err = c.call(ctx, request{method: http.MethodPost, path: "/v1/schedules/" + name + "/trigger",
		query: url.Values{"index": {strconv.Itoa(index)}}, out: &out})
	return out, err
}

// ListAudit lists audit events, newest first.
func (c *Client) ListAudit(ctx context.Context, f apitypes.AuditFilter) ([]apitypes.AuditEvent, error) {
	var out apitypes.AuditList
	return out.Events, c.get(ctx, "/v1/audit", f.Query(), &out)
}

// ListApprovals lists every approval a run waits for.
func (c *Client) ListApprovals(ctx context.Context) ([]apitypes.PendingApproval, error) {
	var out apitypes.ApprovalList
	return out.Approvals, c.get(ctx, "/v1/approvals", nil, &out)
}

// ListArtifacts lists the files a run kept.
func (c *Client) ListArtifacts(ctx context.Context, runID string) ([]apitypes.Artifact, error) {
	var out apitypes.ArtifactList
	seg, err := segment("run id", runID)
	if err != nil {
		return nil, err
	}
	return out.Artifacts, c.get(ctx, "/v1/runs/"+seg+"/artifacts", nil, &out)
}

// DownloadArtifact returns the bytes of a run's artifact, named by id or name (the download is audited).
func (c *Client) DownloadArtifact(ctx context.Context, runID, artifact string) ([]byte, error) {
	seg, err := segment("run id", runID)
	if err != nil {
		return nil, err
	}
	name, err := segment("artifact", artifact)
	if err != nil {
		return nil, err
	}
	var data []byte
	_, err = c.call(ctx, request{method: http.MethodGet, path: "/v1/runs/" + seg + "/artifacts/" + name, body: &data})
	return data, err
}

// Lint lints one playbook source as a push would, storing nothing.
func (c *Client) Lint(ctx context.Context, req apitypes.LintRequest) (apitypes.LintResponse, error) {
	var out apitypes.LintResponse
	return out, c.post(ctx, "/v1/lint", req, &out)
}

// CreateSigninCode makes a single-use console sign-in code (admin).
func (c *Client) CreateSigninCode(ctx context.Context, req apitypes.SigninCodeRequest) (apitypes.SigninCode, error) {
	var out apitypes.SigninCode
	return out, c.post(ctx, "/v1/console/codes", req, &out)
}

// PushSources stores a file of source definitions; a lint failure is an *Error with Code lint_failed and the
// diagnostics ([]apitypes.Diagnostic) in Details.
func (c *Client) PushSources(ctx context.Context, req apitypes.SourcePushRequest) (apitypes.SourcePushResponse, error) {
	var out apitypes.SourcePushResponse
	return out, c.post(ctx, "/v1/sources", req, &out)
}

// ListSources lists the sources of the server's parry.yaml and of the registry.
func (c *Client) ListSources(ctx context.Context) ([]apitypes.SourceSummary, error) {
	var out apitypes.SourceList
	return out.Sources, c.get(ctx, "/v1/sources", nil, &out)
}

// GetSource returns one source: its mapping, and its latest rejected bodies.
func (c *Client) GetSource(ctx context.Context, name string) (apitypes.SourceDetail, error) {
	var out apitypes.SourceDetail
	seg, err := segment("source name", name)
	if err != nil {
		return out, err
	}
	return out, c.get(ctx, "/v1/sources/"+seg, nil, &out)
}
