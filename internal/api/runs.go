package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

func (s *Server) runRoutes() []Route {
	if s.Runs == nil {
		return nil
	}
	return []Route{
		{Pattern: "POST /v1/runs", Role: store.RoleResponder, Handler: s.startRun, Audit: "run.start"},
		{Pattern: "GET /v1/runs", Role: store.RoleViewer, Handler: s.listRuns,
			Query: []string{apitypes.ParamStatus, apitypes.ParamPlaybook, apitypes.ParamIncident, apitypes.ParamSince, apitypes.ParamLimit, apitypes.ParamRetryOf}},
		{Pattern: "GET /v1/runs/{id}", Role: store.RoleViewer, Handler: s.showRun, Query: []string{apitypes.ParamFull}},
		{Pattern: "GET /v1/runs/{id}/export", Role: store.RoleViewer, Handler: s.exportRun},
		{Pattern: "POST /v1/runs/{id}/replay", Role: store.RoleViewer, Handler: s.replayRun, ReadOnly: true},
		{Pattern: "POST /v1/runs/{id}/approvals/{step}", Role: store.RoleResponder, Handler: s.approveRun, Audit: "run.approve"},
		{Pattern: "POST /v1/runs/{id}/cancel", Role: store.RoleResponder, Handler: s.cancelRun, Audit: "run.cancel"},
		{Pattern: "POST /v1/runs/{id}/retry", Role: store.RoleResponder, Handler: s.retryRun, Audit: "run.retry"},
	}
}

// StartRunRequest is the body of POST /v1/runs.
type StartRunRequest = apitypes.StartRunRequest

// ApprovalRequest is the body of POST /v1/runs/{id}/approvals/{step}.
type ApprovalRequest = apitypes.ApprovalRequest

// RetryRequest is the body of POST /v1/runs/{id}/retry.
type RetryRequest = apitypes.RetryRequest

func (s *Server) startRun(w http.ResponseWriter, r *http.Request) error {
	var req StartRunRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if (req.Playbook == "") == (req.Source == "") {
		return paramErrorf("give either playbook (a registered name) or source (the playbook's YAML)")
	}
	if req.Playbook != "" {
		if err := playbookNameValue("playbook", req.Playbook); err != nil {
			return err
		}
	}
	if err := versionValue("version", int64(req.Version), true); err != nil {
		return err
	}
	if req.RunID != "" {
		if err := runIDValue("run_id", req.RunID); err != nil {
			return err
		}
	}
	if err := textField("source", req.Source); err != nil {
		return err
	}
	if path, ok := findNUL(req.Inputs, "inputs"); ok {
		return paramErrorf(`%s holds a NUL character (\u0000)`, path)
	}
	sp := runs.StartParams{Playbook: req.Playbook, Version: req.Version, Source: req.Source, Inputs: req.Inputs,
		StartedBy: "token:" + TokenFrom(r.Context()).Name, RunID: req.RunID}
	if len(req.Alert) > 0 && string(req.Alert) != "null" {
		a, _, problems := s.parseAlert(0, req.Alert, time.Now().UTC())
		if len(problems) > 0 {
			return &Error{Status: http.StatusBadRequest, Code: apitypes.CodeInvalidAlerts, Message: "alert: " + problems[0].Message, Details: problems}
		}
		sp.Alert = &a
	}
	run, err := s.Runs.StartRun(r.Context(), sp)
	if err != nil {
		return err
	}
	auditRun(r, run.ID, map[string]any{"playbook": run.PlaybookName, "version": run.PlaybookVersion, "sha256": run.PlaybookSHA256})
	status := http.StatusCreated
	if run.Status == store.RunPending {
		status = http.StatusAccepted // recorded; it starts when Temporal is reachable again
	}
	return WriteJSON(w, status, toRun(run))
}

// textField refuses request text PostgreSQL cannot store, naming the field.
func textField(field, v string) error {
	if err := store.CheckText(field, v); err != nil {
		var inv *store.InvalidError
		if errors.As(err, &inv) {
			return paramErrorf("%s", inv.Error())
		}
		return err
	}
	return nil
}

// findNUL finds a NUL character in a decoded JSON value (keys included) and returns its path.
func findNUL(v any, path string) (string, bool) {
	switch x := v.(type) {
	case string:
		return path, store.CheckText(path, x) != nil
	case map[string]any:
		for k, el := range x {
			if store.CheckText(path, k) != nil {
				return joinPath(path, k), true
			}
			if p, ok := findNUL(el, joinPath(path, k)); ok {
				return p, true
			}
		}
	case []any:
		for i, el := range x {
			if p, ok := findNUL(el, path+"["+strconv.Itoa(i)+"]"); ok {
				return p, true
			}
		}
	}
	return "", false
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rq := store.RunQuery{Status: q.Get(apitypes.ParamStatus), Playbook: q.Get(apitypes.ParamPlaybook)}
	if err := enumParam("status", rq.Status, apitypes.RunStatuses); err != nil {
		return err
	}
	if rq.Playbook != "" {
		if err := playbookNameValue("playbook", rq.Playbook); err != nil {
			return err
		}
	}
	if v := q.Get(apitypes.ParamIncident); v != "" {
		id, err := positiveID("incident", v)
		if err != nil {
			return err
		}
		rq.IncidentID = id
	}
	if rq.RetryOf = q.Get(apitypes.ParamRetryOf); rq.RetryOf != "" {
		if err := runIDValue("retry_of", rq.RetryOf); err != nil {
			return err
		}
	}
	var err error
	if rq.Since, err = sinceParam(q, time.Now()); err != nil {
		return err
	}
	if rq.Limit, err = limitParam(q, 100); err != nil {
		return err
	}
	list, err := s.Store.ListRuns(r.Context(), rq)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, apitypes.RunList{Runs: toRuns(list)})
}

func (s *Server) showRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runIDParam(r)
	if err != nil {
		return err
	}
	full, err := queryBool(r.URL.Query(), apitypes.ParamFull)
	if err != nil {
		return err
	}
	v, err := s.Runs.Show(r.Context(), id, !full)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, toRunView(v))
}

func (s *Server) exportRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runIDParam(r)
	if err != nil {
		return err
	}
	ex, err := s.Runs.Export(r.Context(), id)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, toExport(ex))
}

// replayRun replays a run's history against the server's code, optionally as if it had used an edited
// playbook (source); it changes nothing.
func (s *Server) replayRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runIDParam(r)
	if err != nil {
		return err
	}
	var req apitypes.ReplayRequest
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	var newPlan []byte
	if req.Source != "" {
		p, _, err := s.Runs.ResolvePlan(r.Context(), "", 0, req.Source)
		if err != nil {
			return err
		}
		if newPlan, err = plan.Encode(p); err != nil {
			return err
		}
	}
	ex, err := s.Runs.Export(r.Context(), id)
	if err != nil {
		return err
	}
	res, err := runs.Replay(ex, newPlan)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, apitypes.ReplayResult{OK: res.OK, Step: res.Step, What: res.What, Message: res.Message, Events: res.Events})
}

func (s *Server) approveRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runIDParam(r)
	if err != nil {
		return err
	}
	step, err := stepParam(r)
	if err != nil {
		return err
	}
	var req ApprovalRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	tok := TokenFrom(r.Context())
	out, err := s.Runs.Approve(r.Context(), id, step,
		workflows.ApprovalDecision{Approved: req.Approved, By: tok.Name, Roles: heldRoles(tok.Role), Comment: req.Comment})
	if err != nil {
		return err
	}
	auditRun(r, id, map[string]any{"step": step, "approved": out.Approved})
	return WriteJSON(w, http.StatusOK, toApproval(out))
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runIDParam(r)
	if err != nil {
		return err
	}
	if err := s.Runs.Cancel(r.Context(), id); err != nil {
		return err
	}
	auditRun(r, id, nil)
	return WriteJSON(w, http.StatusAccepted, apitypes.CancelResponse{Status: "cancelling"})
}

func (s *Server) retryRun(w http.ResponseWriter, r *http.Request) error {
	id, err := runIDParam(r)
	if err != nil {
		return err
	}
	var req RetryRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{req.Source != "", req.Version != 0, req.Latest} {
		if set {
			n++
		}
	}
	if n > 1 {
		return paramErrorf("give at most one of source, version and latest")
	}
	if err := versionValue("version", int64(req.Version), true); err != nil {
		return err
	}
	if len(req.From) > maxStepIDBytes || !cleanText(req.From) {
		return paramErrorf("from must be a step id (at most %d bytes of text)", maxStepIDBytes)
	}
	if err := textField("source", req.Source); err != nil {
		return err
	}
	run, err := s.Runs.Retry(r.Context(), id, runs.RetryParams{From: req.From, Source: req.Source, Version: req.Version,
		Latest: req.Latest, StartedBy: "token:" + TokenFrom(r.Context()).Name})
	if err != nil {
		return err
	}
	auditRun(r, run.ID, map[string]any{"retry_of": id, "from": run.RetryFromStep})
	return WriteJSON(w, http.StatusCreated, toRun(run))
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
