package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/parry-soar/parry/internal/store"
)

// auditInfo is what a state-changing handler tells the audit row about its request: the object it acted on
// and anything worth keeping. wrap writes the row once the handler succeeded, before the answer leaves, so a
// client that has the answer can find the row.
type auditInfo struct {
	Actor   string // default: token:<name> of the authenticated token
	Target  string
	RunID   string
	Details map[string]any
}

const auditKey ctxKey = 100

// auditTarget records what the request acted on (a no-op outside audited routes).
func auditTarget(r *http.Request, target string, details map[string]any) {
	if a, ok := r.Context().Value(auditKey).(*auditInfo); ok {
		a.Target = target
		if a.Details == nil {
			a.Details = map[string]any{}
		}
		for k, v := range details {
			a.Details[k] = v
		}
	}
}

// auditRun also links the row to a run.
func auditRun(r *http.Request, runID string, details map[string]any) {
	auditTarget(r, "run "+runID, details)
	if a, ok := r.Context().Value(auditKey).(*auditInfo); ok {
		a.RunID = runID
	}
}

// auditActor names who acted when no bearer token did (a signed webhook).
func auditActor(r *http.Request, actor string) {
	if a, ok := r.Context().Value(auditKey).(*auditInfo); ok {
		a.Actor = actor
	}
}

// writeAudit appends the row of a successful state-changing request. When that fails the action has happened
// anyway: the answer still says so, and the row goes to the log in full so nothing is lost.
func (s *Server) writeAudit(ctx context.Context, action string, a *auditInfo, tok store.Token, status int) {
	details := map[string]any{"request_id": RequestID(ctx), "status": status}
	for k, v := range a.Details {
		details[k] = v
	}
	if a.Target != "" {
		details["target"] = a.Target
	}
	actor := a.Actor
	if actor == "" {
		actor = "token:" + tok.Name
	}
	b, err := json.Marshal(details)
	if err == nil {
		err = store.CheckJSON("audit details", b)
	}
	if err == nil {
		// The action is done: record it even when the client has gone away meanwhile.
		_, err = s.Store.AppendAudit(context.WithoutCancel(ctx), store.AuditEvent{Actor: actor, Action: action, RunID: a.RunID, Outcome: "ok", Details: b})
	}
	if err != nil {
		s.Logger.Error("audit row not written", "request_id", RequestID(ctx), "actor", actor, "action", action,
			"run_id", a.RunID, "details", string(b), "error", err)
	}
}

// bufferedWriter holds an audited handler's answer until its audit row is written.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedWriter() *bufferedWriter { return &bufferedWriter{header: http.Header{}} }

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// flush sends the held answer.
func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, vs := range b.header {
		w.Header()[k] = vs
	}
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.body.Bytes())
}
