package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

func (s *Server) runRoutes() []Route {
	if s.Runs == nil {
		return nil
	}
	return []Route{
		{"POST /v1/runs", store.RoleResponder, s.startRun},
		{"GET /v1/runs", store.RoleViewer, s.listRuns},
		{"GET /v1/runs/{id}", store.RoleViewer, s.showRun},
		{"GET /v1/runs/{id}/export", store.RoleViewer, s.exportRun},
		{"POST /v1/runs/{id}/approvals/{step}", store.RoleResponder, s.approveRun},
		{"POST /v1/runs/{id}/cancel", store.RoleResponder, s.cancelRun},
		{"POST /v1/runs/{id}/retry", store.RoleResponder, s.retryRun},
	}
}

// StartRunRequest is the body of POST /v1/runs.
type StartRunRequest struct {
	// Playbook names a registered playbook (its enabled version, or Version); Source is inline YAML instead.
	Playbook string         `json:"playbook,omitempty"`
	Version  int            `json:"version,omitempty"`
	Source   string         `json:"source,omitempty"`
	Inputs   map[string]any `json:"inputs,omitempty"`
	// Alert is an alert in the intake format, given to the run as `alert`.
	Alert json.RawMessage `json:"alert,omitempty"`
	// RunID makes the request idempotent: the same id starts one run.
	RunID string `json:"run_id,omitempty"`
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request) error {
	var req StartRunRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if (req.Playbook == "") == (req.Source == "") {
		return Errorf(http.StatusBadRequest, "invalid", "give either playbook (a registered name) or source (the playbook's YAML)")
	}
	if req.RunID != "" && (len(req.RunID) > 200 || strings.ContainsAny(req.RunID, " /\t\n")) {
		return Errorf(http.StatusBadRequest, "invalid", "run_id must be at most 200 characters without spaces or slashes")
	}
	sp := runs.StartParams{Playbook: req.Playbook, Version: req.Version, Source: req.Source, Inputs: req.Inputs,
		StartedBy: "token:" + TokenFrom(r.Context()).Name, RunID: req.RunID}
	if len(req.Alert) > 0 && string(req.Alert) != "null" {
		a, problems := s.parseAlert(0, req.Alert)
		if len(problems) > 0 {
			return &Error{Status: http.StatusBadRequest, Code: "invalid_alerts", Message: "alert: " + problems[0].Message, Details: problems}
		}
		sp.Alert = &a
	}
	run, err := s.Runs.StartRun(r.Context(), sp)
	if err != nil {
		return runError(err)
	}
	status := http.StatusCreated
	if run.Status == store.RunPending {
		status = http.StatusAccepted // recorded; it starts when Temporal is reachable again
	}
	return WriteJSON(w, status, run)
}

// runError maps the run service's errors to API errors.
func runError(err error) error {
	var in *runs.InputError
	var nf *runs.NotFoundError
	var conflict *runs.ConflictError
	switch {
	case errors.As(err, &in):
		return Errorf(http.StatusBadRequest, "invalid", "%s", in.Err)
	case errors.As(err, &nf):
		return Errorf(http.StatusNotFound, "not_found", "%s", nf.Error())
	case errors.As(err, &conflict):
		return Errorf(http.StatusConflict, "conflict", "%s", conflict.Msg)
	}
	return err
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rq := store.RunQuery{Status: q.Get("status"), Playbook: q.Get("playbook")}
	if v := q.Get("incident"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Errorf(http.StatusBadRequest, "invalid", "incident %q is not a number", v)
		}
		rq.IncidentID = id
	}
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t, terr := time.Parse(time.RFC3339, v)
			if terr != nil {
				return Errorf(http.StatusBadRequest, "invalid", "since %q is neither a duration (24h) nor an RFC 3339 time", v)
			}
			rq.Since = t
		} else {
			rq.Since = time.Now().Add(-d)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return Errorf(http.StatusBadRequest, "invalid", "limit %q is not a positive number", v)
		}
		rq.Limit = n
	}
	switch rq.Status {
	case "", store.RunPending, store.RunRunning, store.RunWaiting, store.RunSucceeded, store.RunFailed, store.RunCancelled:
	default:
		return Errorf(http.StatusBadRequest, "invalid", "status must be pending, running, waiting, succeeded, failed or cancelled, not %q", rq.Status)
	}
	list, err := s.Store.ListRuns(r.Context(), rq)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Run{}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"runs": list})
}

func (s *Server) showRun(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Runs.Show(r.Context(), r.PathValue("id"), r.URL.Query().Get("full") != "true")
	if err != nil {
		return runError(err)
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (s *Server) exportRun(w http.ResponseWriter, r *http.Request) error {
	ex, err := s.Runs.Export(r.Context(), r.PathValue("id"))
	if err != nil {
		return runError(err)
	}
	return WriteJSON(w, http.StatusOK, ex)
}

// ApprovalRequest is the body of POST /v1/runs/{id}/approvals/{step}.
type ApprovalRequest struct {
	Approved bool   `json:"approved"`
	Comment  string `json:"comment,omitempty"`
}

func (s *Server) approveRun(w http.ResponseWriter, r *http.Request) error {
	var req ApprovalRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	out, err := s.Runs.Approve(r.Context(), r.PathValue("id"), r.PathValue("step"),
		workflows.ApprovalDecision{Approved: req.Approved, By: TokenFrom(r.Context()).Name, Roles: heldRoles(TokenFrom(r.Context()).Role), Comment: req.Comment})
	if err != nil {
		return runError(err)
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	if err := s.Runs.Cancel(r.Context(), r.PathValue("id")); err != nil {
		return runError(err)
	}
	return WriteJSON(w, http.StatusAccepted, map[string]string{"status": "cancelling"})
}

// RetryRequest is the body of POST /v1/runs/{id}/retry.
type RetryRequest struct {
	From    string `json:"from,omitempty"`
	Source  string `json:"source,omitempty"`
	Version int    `json:"version,omitempty"`
	Latest  bool   `json:"latest,omitempty"`
}

func (s *Server) retryRun(w http.ResponseWriter, r *http.Request) error {
	var req RetryRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{req.Source != "", req.Version > 0, req.Latest} {
		if set {
			n++
		}
	}
	if n > 1 {
		return Errorf(http.StatusBadRequest, "invalid", "give at most one of source, version and latest")
	}
	run, err := s.Runs.Retry(r.Context(), r.PathValue("id"), runs.RetryParams{From: req.From, Source: req.Source, Version: req.Version,
		Latest: req.Latest, StartedBy: "token:" + TokenFrom(r.Context()).Name})
	if err != nil {
		return runError(err)
	}
	return WriteJSON(w, http.StatusCreated, run)
}

// heldRoles lists a role and every role below it.
func heldRoles(r store.Role) []string {
	var out []string
	for _, x := range store.Roles() {
		if r.Allows(x) {
			out = append(out, string(x))
		}
	}
	return out
}
