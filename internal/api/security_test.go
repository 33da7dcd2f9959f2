package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// TestSecurityHeadersOnEveryAnswer checks successes, errors, 404s, 405s, health and metrics.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	f := newFullFixture(t)
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	for _, tc := range []struct {
		method, path string
		role         store.Role
		status       int
	}{
		{"GET", "/v1/whoami", store.RoleViewer, 200},
		{"GET", "/v1/runs", store.RoleViewer, 200},
		{"GET", "/v1/runs?limit=0", store.RoleViewer, 400},
		{"GET", "/v1/tokens", store.RoleViewer, 403},
		{"GET", "/v1/runs", "", 401},
		{"GET", "/v1/nothing-here", store.RoleViewer, 404},
		{"GET", "/", "", 404},
		{"PUT", "/v1/runs", store.RoleViewer, 405},
		{"POST", "/v1/alerts", store.RoleIngest, 400},
		{"GET", "/healthz", "", 200},
		{"GET", "/metrics", "", 200},
	} {
		code, _, hdr := f.do(t, tc.method, tc.path, f.tokens[tc.role], "")
		if code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, code, tc.status)
		}
		for k, v := range want {
			if got := hdr.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, k, got, v)
			}
		}
	}
}

// TestErrorsKeepTheCauseInTheLog checks that a 5xx says what it means and what to do, with a request id, and
// that the cause is only in the log under that id.
func TestErrorsKeepTheCauseInTheLog(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))

	// The database is down: nothing listens where the pool points.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	pool, err := pgxpool.New(context.Background(), "postgres://parry@"+addr+"/parry?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	down := httptest.NewServer((&api.Server{Store: store.New(pool), Logger: logger}).Handler())
	defer down.Close()
	req, _ := http.NewRequest("GET", down.URL+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer pry_anything")
	req.Header.Set("X-Request-Id", "req-db-down")
	code, e := send(t, req)
	if code != 503 || e.Code != apitypes.CodeDatabaseUnavailable || e.RequestID != "req-db-down" ||
		e.Message != "the database is unreachable; the request was not done, try again when it is back (request id req-db-down)" {
		t.Fatalf("database down: %d %+v", code, e)
	}
	if !strings.Contains(logs.String(), "request_id=req-db-down") || !strings.Contains(logs.String(), addr) {
		t.Fatalf("the log lacks the cause:\n%s", logs.String())
	}

	// A fault in parry: the answer is generic, the log has the cause.
	f := newFullFixture(t)
	st := f.store
	s := &api.Server{Store: st, Logger: logger, Extra: []api.Route{{Pattern: "GET /v1/boom", Role: store.RoleViewer,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return fmt.Errorf("scanning row: %w", errors.New("cannot scan NULL into *string (column 7)"))
		}}}}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	req, _ = http.NewRequest("GET", srv.URL+"/v1/boom", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens[store.RoleViewer])
	req.Header.Set("X-Request-Id", "req-boom")
	code, e = send(t, req)
	if code != 500 || e.Code != apitypes.CodeInternal || e.RequestID != "req-boom" || strings.Contains(e.Message, "scan") ||
		!strings.Contains(e.Message, "the server log has the cause under request id req-boom") {
		t.Fatalf("internal: %d %+v", code, e)
	}
	if !strings.Contains(logs.String(), "cannot scan NULL") {
		t.Fatalf("the log lacks the cause:\n%s", logs.String())
	}

	// Temporal down: 503 naming Temporal, the SDK's text only in the log.
	code, body, _ := f.do(t, "POST", "/v1/runs", f.tokens[store.RoleResponder], `{"source":`+jsonString(fivePB)+`,"run_id":"r1"}`)
	if code != 202 {
		t.Fatalf("start while Temporal is down: %d %s", code, body)
	}
	code, body, _ = f.do(t, "POST", "/v1/runs/r1/cancel", f.tokens[store.RoleResponder], "")
	if code != 200 && code != 202 {
		t.Fatalf("cancel a pending run: %d %s", code, body)
	}
	code, body, _ = f.do(t, "POST", "/v1/runs/r1/approvals/s1", f.tokens[store.RoleResponder], `{"approved":true}`)
	if code != 409 || strings.Contains(body, "connection refused") {
		t.Fatalf("approve a cancelled run: %d %s", code, body)
	}
}

func send(t *testing.T, req *http.Request) (int, apitypes.Error) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e apitypes.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error body: %s", b)
	}
	return resp.StatusCode, e.Error
}

// TestRevocationHoldsFromTheNextRequest revokes a token while requests with it are in flight. Ordering comes
// from the program, not the clock: a request counts as "after" when it started after the revoke's answer
// arrived, which is after the revocation committed; every such request must be refused.
func TestRevocationHoldsFromTheNextRequest(t *testing.T) {
	f := newFullFixture(t)
	victim, _, err := f.store.CreateToken(context.Background(), "victim", store.RoleViewer, "test")
	if err != nil {
		t.Fatal(err)
	}
	const workers = 4
	var revoked atomic.Bool
	var afterAccepted, afterRefused, before atomic.Int64
	stop := make(chan struct{})
	startedBefore := make(chan struct{}, workers) // a worker had a request answered before the revoke
	seenAfter := make(chan struct{}, workers)     // a worker had a request answered that it sent after it
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signalledBefore, signalledAfter := false, false
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load() // read before the request is sent
				req, _ := http.NewRequest("GET", f.srv.URL+"/v1/whoami", nil)
				req.Header.Set("Authorization", "Bearer "+victim)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case !after:
					before.Add(1)
					if !signalledBefore {
						signalledBefore = true
						startedBefore <- struct{}{}
					}
				case resp.StatusCode == http.StatusUnauthorized:
					afterRefused.Add(1)
				default:
					afterAccepted.Add(1)
				}
				if after && !signalledAfter {
					signalledAfter = true
					seenAfter <- struct{}{}
				}
			}
		}()
	}
	for range workers {
		<-startedBefore // every worker is sending requests with the token
	}
	code, body, _ := f.do(t, "DELETE", "/v1/tokens/victim", f.tokens[store.RoleAdmin], "")
	if code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	revoked.Store(true) // the revoke's answer is here, so its transaction has committed
	for range workers {
		<-seenAfter
	}
	close(stop)
	wg.Wait()
	if n := afterAccepted.Load(); n != 0 {
		t.Fatalf("%d requests started after the revocation committed were accepted", n)
	}
	if afterRefused.Load() < workers || before.Load() < workers {
		t.Fatalf("before %d, after %d", before.Load(), afterRefused.Load())
	}
}

// TestEveryStateChangeIsAudited runs every state-changing endpoint once and checks its audit row: the token,
// the action and the target. Routes without a row are a failure, so a new endpoint cannot forget it.
func TestEveryStateChangeIsAudited(t *testing.T) {
	f := newFullFixture(t)
	ctx := context.Background()
	admin, author, responder, ingest := f.tokens[store.RoleAdmin], f.tokens[store.RoleAuthor], f.tokens[store.RoleResponder], f.tokens[store.RoleIngest]
	// An incident to close and a run recorded by the dispatcher's queries.
	ids, err := f.store.InsertAlerts(ctx, []store.NewAlert{{Source: "s", Kind: "k", Severity: "low", Title: "t", ObservedAt: time.Now()}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Pool.Exec(ctx, `INSERT INTO incidents (playbook_name, playbook_version, dedup_key, run_id, first_alert_id, window_ends_at, last_alert_at)
		VALUES ('probe', 1, 'k', 'r', $1, now(), now())`, ids[0].ID); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		method, path, token, body string
		status                    int
		action, actor, target     string
	}{
		{"POST", "/v1/tokens", admin, `{"name":"siem","role":"ingest"}`, 201, "token.create", "token:admin-token", "token siem"},
		{"DELETE", "/v1/tokens/siem", admin, "", 200, "token.revoke", "token:admin-token", "token siem"},
		{"POST", "/v1/alerts", ingest, dataAlert(`{}`), 202, "alerts.ingest", "token:ingest-token", "1 alerts"},
		{"POST", "/v1/playbooks", author, `{"playbooks":[{"file":"p.yaml","source":` + jsonString(fivePB) + `}]}`, 200, "playbook.push", "token:author-token", "1 playbooks"},
		{"POST", "/v1/playbooks/probe/enable", author, "", 200, "playbook.enable", "token:author-token", "playbook probe"},
		{"POST", "/v1/playbooks/probe/disable", author, "", 200, "playbook.disable", "token:author-token", "playbook probe"},
		{"POST", "/v1/runs", responder, `{"source":` + jsonString(fivePB) + `,"run_id":"audited"}`, 202, "run.start", "token:responder-token", "run audited"},
		{"POST", "/v1/runs/audited/cancel", responder, "", 202, "run.cancel", "token:responder-token", "run audited"},
		{"POST", "/v1/incidents/1/close", responder, "", 200, "incident.close", "token:responder-token", "incident 1"},
	}
	for _, st := range steps {
		code, body, _ := f.do(t, st.method, st.path, st.token, st.body)
		if code != st.status {
			t.Fatalf("%s %s: %d %s", st.method, st.path, code, body)
		}
	}
	// Refused requests change nothing and leave no row.
	f.do(t, "POST", "/v1/tokens", f.tokens[store.RoleViewer], `{"name":"x","role":"admin"}`)
	f.do(t, "POST", "/v1/runs/audited/cancel", responder, "")

	evs, err := f.store.ListAudit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(steps) {
		t.Fatalf("%d audit rows, want %d: %+v", len(evs), len(steps), evs)
	}
	for i, st := range steps {
		e := evs[i]
		var d map[string]any
		_ = json.Unmarshal(e.Details, &d)
		if e.Action != st.action || e.Actor != st.actor || d["target"] != st.target || d["request_id"] == "" || e.Outcome != "ok" {
			t.Errorf("row %d: %s %s %v, want %s %s target %q", i, e.Action, e.Actor, d, st.action, st.actor, st.target)
		}
		if strings.HasPrefix(st.action, "run.") && e.RunID != "audited" {
			t.Errorf("row %d: run_id %q", i, e.RunID)
		}
	}
	// Every route that changes state is among the ones above (or the ones other tests cover).
	covered := map[string]bool{"POST /v1/runs/{id}/approvals/{step}": true, "POST /v1/runs/{id}/retry": true, "POST /v1/webhooks/alerts/{name}": true,
		// TestConsoleSignInCodes checks the console's sign-in rows.
		"console.code.create": true, "console.session.start": true}
	for _, st := range steps {
		covered[st.action] = true
	}
	srv := &api.Server{Store: f.store, Runs: nil, Extra: append(api.PlaybookRoutes(f.store, nil), api.IncidentRoutes(f.store)...)}
	for _, rt := range srv.Routes() {
		if rt.Audit != "" && !covered[rt.Audit] && !covered[rt.Pattern] {
			t.Errorf("route %s (audit %s) is not exercised", rt.Pattern, rt.Audit)
		}
	}
}

// TestWireConstantsMatch keeps the wire's enumerations equal to the store's and the interpreter's.
func TestWireConstantsMatch(t *testing.T) {
	if !slices.Equal(apitypes.Severities, store.Severities) {
		t.Errorf("severities %v vs %v", apitypes.Severities, store.Severities)
	}
	var roles []string
	for _, r := range store.Roles() {
		roles = append(roles, string(r))
	}
	if !slices.Equal(apitypes.Roles, roles) {
		t.Errorf("roles %v vs %v", apitypes.Roles, roles)
	}
	if !slices.Equal(apitypes.RunStatuses, []string{store.RunPending, store.RunRunning, store.RunWaiting, store.RunSucceeded, store.RunFailed, store.RunCancelled}) {
		t.Errorf("run statuses %v", apitypes.RunStatuses)
	}
	steps := []string{workflows.StatusPending, workflows.StatusRunning, workflows.StatusSucceeded, workflows.StatusFailed, workflows.StatusSkipped, workflows.StatusCancelled}
	if !slices.Equal(steps, []string{apitypes.StepPending, apitypes.StepRunning, apitypes.StepSucceeded, apitypes.StepFailed, apitypes.StepSkipped, apitypes.StepCancelled}) {
		t.Errorf("step statuses %v", steps)
	}
	if apitypes.IncidentOpen != store.IncidentOpen || apitypes.IncidentClosed != store.IncidentClosed {
		t.Error("incident statuses differ")
	}
}
