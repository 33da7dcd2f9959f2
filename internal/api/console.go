package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
)

// Console sessions: a sign-in code lives minutes and works once; the session token it buys expires.
const (
	DefaultSigninCodeTTL = 5 * time.Minute
	maxSigninCodeTTL     = time.Hour
	ConsoleSessionTTL    = 8 * time.Hour
)

// consoleRoutes are the endpoints the web console needs besides the ones the CLI uses: the audit trail, the
// approvals inbox, a run's drawn plan and its artifacts, and sign-in.
func (s *Server) consoleRoutes() []Route {
	routes := []Route{
		{Pattern: "GET /v1/audit", Role: store.RoleViewer, Handler: s.listAudit,
			Query: []string{apitypes.ParamSince, apitypes.ParamAction, apitypes.ParamActor, apitypes.ParamRun, apitypes.ParamLimit, apitypes.ParamBefore}},
		{Pattern: "POST /v1/console/codes", Role: store.RoleAdmin, Handler: s.createSigninCode, Audit: "console.code.create"},
		// No bearer token: the code is the credential (single use, minutes long).
		{Pattern: "POST /v1/console/session", Handler: s.startSession, Audit: "console.session.start"},
	}
	if s.Runs != nil {
		routes = append(routes,
			Route{Pattern: "GET /v1/approvals", Role: store.RoleViewer, Handler: s.listApprovals, Query: []string{apitypes.ParamLimit}},
			Route{Pattern: "GET /v1/runs/{id}/graph", Role: store.RoleViewer, Handler: s.runGraph},
		)
	}
	if s.Artifacts != nil {
		routes = append(routes,
			Route{Pattern: "GET /v1/runs/{id}/artifacts", Role: store.RoleViewer, Handler: s.listArtifacts},
			// A download is audited: the bytes are a quarantined mail.
			Route{Pattern: "GET /v1/runs/{id}/artifacts/{artifact}", Role: store.RoleResponder, Handler: s.downloadArtifact, Audit: "artifact.download"},
		)
	}
	return routes
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := store.AuditQuery{Action: q.Get(apitypes.ParamAction), Actor: q.Get(apitypes.ParamActor), RunID: q.Get(apitypes.ParamRun), Newest: true}
	for name, v := range map[string]string{"action": aq.Action, "actor": aq.Actor} {
		if len(v) > 200 || !cleanText(v) {
			return paramErrorf("%s must be text of at most 200 bytes", name)
		}
	}
	if aq.RunID != "" {
		if err := runIDValue("run", aq.RunID); err != nil {
			return err
		}
	}
	var err error
	if aq.Since, err = sinceParam(q, time.Now()); err != nil {
		return err
	}
	if aq.Limit, err = limitParam(q, 200); err != nil {
		return err
	}
	if aq.Before, err = beforeParam(q); err != nil {
		return err
	}
	evs, err := s.Store.ListAudit(r.Context(), aq)
	if err != nil {
		return err
	}
	out := apitypes.AuditList{Events: make([]apitypes.AuditEvent, 0, len(evs))}
	for _, e := range evs {
		out.Events = append(out.Events, apitypes.AuditEvent{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, RunID: e.RunID,
			StepID: e.StepID, Attempt: e.Attempt, Connection: e.Connection, Operation: e.Operation, Targets: e.Targets,
			VendorIDs: e.VendorIDs, Outcome: e.Outcome, Details: e.Details})
	}
	return WriteJSON(w, http.StatusOK, out)
}

// listApprovals is the inbox: every approval a running run waits for, as the tracker last recorded it.
func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r.URL.Query(), 200)
	if err != nil {
		return err
	}
	rs, err := s.Store.RunsWaitingFor(r.Context(), "approval", limit)
	if err != nil {
		return err
	}
	out := apitypes.ApprovalList{Approvals: []apitypes.PendingApproval{}}
	for _, run := range rs {
		var waits []runs.WaitView
		if err := json.Unmarshal(run.Waits, &waits); err != nil {
			return fmt.Errorf("reading the waits of run %s: %w", run.ID, err)
		}
		for _, wv := range waits {
			if wv.Kind != "approval" {
				continue
			}
			pa := apitypes.PendingApproval{RunID: run.ID, Playbook: run.PlaybookName, Incident: run.IncidentID, Step: wv.Step,
				Prompt: wv.Prompt, Approvers: wv.Approvers, Deadline: wv.Until, Since: run.CreatedAt}
			pa.Version = run.PlaybookVersion
			out.Approvals = append(out.Approvals, pa)
		}
	}
	return WriteJSON(w, http.StatusOK, out)
}

// runGraph draws the plan the run was started with.
func (s *Server) runGraph(w http.ResponseWriter, r *http.Request) error {
	id, err := runIDParam(r)
	if err != nil {
		return err
	}
	run, err := s.Store.GetRun(r.Context(), id)
	if err != nil {
		return notFoundAs(err, "no run %s", id)
	}
	p, err := plan.Decode(run.Plan)
	if err != nil {
		return fmt.Errorf("decoding the plan of run %s: %w", id, err)
	}
	return WriteJSON(w, http.StatusOK, toDrawing(plan.Layout(p)))
}

func toDrawing(d plan.Drawing) *apitypes.Drawing {
	out := &apitypes.Drawing{Width: d.Width, Height: d.Height, Nodes: []apitypes.DrawNode{}, Clusters: []apitypes.DrawCluster{}, Edges: []apitypes.DrawEdge{}}
	for _, n := range d.Nodes {
		out.Nodes = append(out.Nodes, apitypes.DrawNode{ID: n.ID, Step: n.Step, Lines: n.Lines, Shape: n.Shape, X: n.X, Y: n.Y, W: n.W, H: n.H})
	}
	for _, c := range d.Clusters {
		out.Clusters = append(out.Clusters, apitypes.DrawCluster{ID: c.ID, Step: c.Step, Label: c.Label, X: c.X, Y: c.Y, W: c.W, H: c.H, Depth: c.Depth})
	}
	for _, e := range d.Edges {
		out.Edges = append(out.Edges, apitypes.DrawEdge{From: e.From, To: e.To, Label: e.Label, Dashed: e.Dashed, Points: e.Points})
	}
	return out
}

func (s *Server) runArtifacts(r *http.Request) (string, []store.Artifact, error) {
	id, err := runIDParam(r)
	if err != nil {
		return "", nil, err
	}
	if _, err := s.Store.GetRun(r.Context(), id); err != nil {
		return "", nil, notFoundAs(err, "no run %s", id)
	}
	list, err := s.Artifacts.List(r.Context(), id)
	return id, list, err
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	_, list, err := s.runArtifacts(r)
	if err != nil {
		return err
	}
	out := apitypes.ArtifactList{Artifacts: make([]apitypes.Artifact, 0, len(list))}
	for _, a := range list {
		out.Artifacts = append(out.Artifacts, toArtifact(a))
	}
	return WriteJSON(w, http.StatusOK, out)
}

func toArtifact(a store.Artifact) apitypes.Artifact {
	return apitypes.Artifact{ID: a.ID, Name: a.Name, Kind: a.Kind, Step: a.StepID, Size: a.Size, SHA256: a.SHA256,
		ContentType: a.ContentType, CreatedAt: a.CreatedAt}
}

// downloadArtifact sends one of a run's artifacts, named by id or by name, always as an attachment of an
// opaque type: its bytes come from outside (a quarantined mail) and must never render in the console's origin.
func (s *Server) downloadArtifact(w http.ResponseWriter, r *http.Request) error {
	runID, list, err := s.runArtifacts(r)
	if err != nil {
		return err
	}
	want := r.PathValue("artifact")
	var match []store.Artifact
	for _, a := range list {
		if a.ID == want || a.Name == want {
			match = append(match, a)
		}
	}
	switch {
	case len(match) == 0:
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "run %s has no artifact %q", runID, clip(want, 200))
	case len(match) > 1:
		return Errorf(http.StatusConflict, apitypes.CodeConflict, "run %s has %d artifacts named %q; name one by its id (%s)", runID, len(match), clip(want, 200), match[0].ID)
	}
	a, data, err := s.Artifacts.Read(r.Context(), match[0].ID)
	if errors.Is(err, artifact.ErrNotFound) {
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "run %s has no artifact %q", runID, clip(want, 200))
	}
	if err != nil {
		return err
	}
	auditRun(r, runID, map[string]any{"artifact": a.ID, "name": a.Name, "sha256": a.SHA256, "size": a.Size})
	name := a.Name
	if name == "" {
		name = a.ID
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": safeFileName(name)}))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Parry-Artifact-Sha256", a.SHA256)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(data)
	return err
}

// safeFileName keeps a downloaded file's name to one plain path element.
func safeFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:"*?<>|`, r) {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		return "artifact"
	}
	return clip(name, 200)
}

// createSigninCode lets an admin hand out a console sign-in link for a role (parry dev prints one at start).
func (s *Server) createSigninCode(w http.ResponseWriter, r *http.Request) error {
	var req apitypes.SigninCodeRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	role, err := store.ParseRole(req.Role)
	if err != nil {
		return paramErrorf("role: %v", err)
	}
	ttl := DefaultSigninCodeTTL
	if req.TTLSeconds != 0 {
		if req.TTLSeconds < 1 || time.Duration(req.TTLSeconds)*time.Second > maxSigninCodeTTL {
			return paramErrorf("ttl_seconds must be from 1 to %d", int(maxSigninCodeTTL.Seconds()))
		}
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	by := "token:" + TokenFrom(r.Context()).Name
	code, err := s.Store.CreateSigninCode(r.Context(), role, ttl, by)
	if err != nil {
		return err
	}
	auditTarget(r, "sign-in code", map[string]any{"role": string(role), "ttl_seconds": int(ttl.Seconds())})
	return WriteJSON(w, http.StatusCreated, apitypes.SigninCode{Code: code, ExpiresAt: time.Now().Add(ttl).UTC()})
}

// startSession exchanges a sign-in code for a session token that expires; the code is spent.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request) error {
	var req apitypes.SessionRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	plain, tok, err := s.Store.RedeemSigninCode(r.Context(), req.Code, ConsoleSessionTTL)
	if errors.Is(err, store.ErrBadSigninCode) {
		return Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "the sign-in code is invalid, used or expired; ask for a new link (parry dev prints one at start)")
	}
	if err != nil {
		return err
	}
	auditActor(r, "token:"+tok.Name)
	auditTarget(r, "token "+tok.Name, map[string]any{"role": string(tok.Role), "expires_at": tok.ExpiresAt})
	return WriteJSON(w, http.StatusCreated, apitypes.Session{Token: plain, Name: tok.Name, Role: string(tok.Role), ExpiresAt: tok.ExpiresAt.UTC()})
}
