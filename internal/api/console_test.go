package api_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/console"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// newConsoleFixture serves every route with the console and an artifact directory, Temporal down.
func newConsoleFixture(t *testing.T) (*fixture, *artifact.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	f := &fixture{store: st, tokens: map[store.Role]string{}}
	for _, role := range store.Roles() {
		plain, _, err := st.CreateToken(context.Background(), string(role)+"-token", role, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[role] = plain
	}
	arts := artifact.New(t.TempDir(), st)
	s := &api.Server{Store: st, Runs: &runs.Service{Store: st, Temporal: downTemporal{}, Starter: &runs.Starter{Store: st, Temporal: downTemporal{}, TaskQueue: "q"}}, Console: console.Handler(), Artifacts: arts, MaxBodyBytes: 1 << 20,
		Extra: append(api.PlaybookRoutes(st, nil), api.IncidentRoutes(st)...)}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f, arts
}

func TestConsoleSignInCodes(t *testing.T) {
	f, _ := newConsoleFixture(t)
	code, body, _ := f.do(t, "POST", "/v1/console/codes", f.tokens[store.RoleResponder], `{"role":"viewer"}`)
	if code != 403 {
		t.Fatalf("responder creating a code: %d %s", code, body)
	}
	code, body, _ = f.do(t, "POST", "/v1/console/codes", f.tokens[store.RoleAdmin], `{"role":"boss"}`)
	if code != 400 || !strings.Contains(body, `unknown role \"boss\"`) {
		t.Fatalf("bad role: %d %s", code, body)
	}
	code, body, _ = f.do(t, "POST", "/v1/console/codes", f.tokens[store.RoleAdmin], `{"role":"viewer","ttl_seconds":7200}`)
	if code != 400 || !strings.Contains(body, "ttl_seconds must be from 1 to 3600") {
		t.Fatalf("long ttl: %d %s", code, body)
	}
	code, body, _ = f.do(t, "POST", "/v1/console/codes", f.tokens[store.RoleAdmin], `{"role":"viewer"}`)
	var sc apitypes.SigninCode
	if code != 201 || json.Unmarshal([]byte(body), &sc) != nil || !strings.HasPrefix(sc.Code, store.SigninCodePrefix) {
		t.Fatalf("create code: %d %s", code, body)
	}
	code, body, _ = f.do(t, "POST", "/v1/console/session", "", `{"code":"`+sc.Code+`"}`)
	var sess apitypes.Session
	if code != 201 || json.Unmarshal([]byte(body), &sess) != nil || sess.Role != "viewer" || !strings.HasPrefix(sess.Name, "console-") {
		t.Fatalf("exchange: %d %s", code, body)
	}
	if left := time.Until(sess.ExpiresAt); left < api.ConsoleSessionTTL-time.Minute || left > api.ConsoleSessionTTL {
		t.Fatalf("session expires in %v", left)
	}
	if code, body, _ = f.do(t, "POST", "/v1/console/session", "", `{"code":"`+sc.Code+`"}`); code != 401 || !strings.Contains(body, "invalid, used or expired") {
		t.Fatalf("second exchange: %d %s", code, body)
	}
	code, body, _ = f.do(t, "GET", "/v1/whoami", sess.Token, "")
	if code != 200 || !strings.Contains(body, `"role": "viewer"`) || !strings.Contains(body, `"expires_at"`) {
		t.Fatalf("whoami with the session: %d %s", code, body)
	}
	if code, _, _ = f.do(t, "POST", "/v1/runs/x/approvals/y", sess.Token, `{"approved":true}`); code != 403 {
		t.Fatalf("viewer session approving: %d", code)
	}
	// A session past its lifetime is refused like a revoked token.
	ctx := context.Background()
	c2, err := f.store.CreateSigninCode(ctx, store.RoleAdmin, time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := f.store.RedeemSigninCode(ctx, c2, -time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ = f.do(t, "GET", "/v1/whoami", expired, ""); code != 401 {
		t.Fatalf("expired session: %d %s", code, body)
	}
	// An expired code buys nothing.
	c3, _ := f.store.CreateSigninCode(ctx, store.RoleAdmin, -time.Second, "test")
	if code, _, _ = f.do(t, "POST", "/v1/console/session", "", `{"code":"`+c3+`"}`); code != 401 {
		t.Fatalf("expired code: %d", code)
	}
	evs, _ := f.store.ListAudit(ctx, store.AuditQuery{Action: "console"})
	var got []string
	for _, e := range evs {
		got = append(got, e.Actor+" "+e.Action)
	}
	if want := "token:admin-token console.code.create,token:" + sess.Name + " console.session.start"; strings.Join(got, ",") != want {
		t.Fatalf("audit %v, want %s", got, want)
	}
}

func TestConsolePagesAndHeaders(t *testing.T) {
	f, _ := newConsoleFixture(t)
	code, body, h := f.do(t, "GET", "/", "", "")
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(body, `<script type="module" src="/ui/app.js">`) {
		t.Fatalf("GET /: %d %s %s", code, h.Get("Content-Type"), body)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", h)
	}
	if code, _, h = f.do(t, "GET", "/ui/app.js", "", ""); code != 200 || h.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("app.js: %d %v", code, h)
	}
	for _, p := range []string{"/ui/nope.js", "/ui/../console.go", "/ui/"} {
		if code, _, _ = f.do(t, "GET", p, "", ""); code != 404 {
			t.Fatalf("GET %s: %d", p, code)
		}
	}
	// The API keeps its JSON-only policy.
	if _, _, h = f.do(t, "GET", "/v1/whoami", f.tokens[store.RoleViewer], ""); h.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" {
		t.Fatalf("API CSP %q", h.Get("Content-Security-Policy"))
	}
}

// TestConsoleSourcesSetNoMarkup: the console's files never turn text into markup or code (the browser test
// checks one attacker-controlled title; this keeps every other output on the same path) and carry no inline
// script or handler the CSP would refuse.
func TestConsoleSourcesSetNoMarkup(t *testing.T) {
	banned := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|<script>|\son[a-z]+=`)
	err := fs.WalkDir(console.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(console.Files(), path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := banned.FindString(line); m != "" {
				t.Errorf("%s:%d: %s", path, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLintEndpoint(t *testing.T) {
	f, _ := newConsoleFixture(t)
	src := "name: x\nsteps:\n  - id: a\n    actoin: notify.webhook\n"
	req, _ := json.Marshal(apitypes.LintRequest{File: "x.yaml", Source: src})
	if code, _, _ := f.do(t, "POST", "/v1/lint", f.tokens[store.RoleIngest], string(req)); code != 403 {
		t.Fatalf("ingest linting: %d", code)
	}
	code, body, _ := f.do(t, "POST", "/v1/lint", f.tokens[store.RoleViewer], string(req))
	var out apitypes.LintResponse
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Graph != nil || len(out.Diagnostics) != 2 {
		t.Fatalf("lint typo: %d %s", code, body)
	}
	if d := out.Diagnostics[1]; d.File != "x.yaml" || d.Line != 4 || d.Column != 5 || d.Message != `unknown key "actoin" in step "a" (did you mean "action"?)` {
		t.Fatalf("diagnostic %+v", d)
	}
	req, _ = json.Marshal(apitypes.LintRequest{Source: "name: x\nsteps:\n  - id: a\n    wait: 1m\n  - id: b\n    wait: 2m\n"})
	code, body, _ = f.do(t, "POST", "/v1/lint", f.tokens[store.RoleViewer], string(req))
	out = apitypes.LintResponse{}
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out.Diagnostics) != 0 || out.Graph == nil {
		t.Fatalf("lint good: %d %s", code, body)
	}
	var steps []string
	for _, n := range out.Graph.Nodes {
		steps = append(steps, n.ID+"@"+itoa(n.Y))
	}
	if strings.Join(steps, " ") != "run_start@34 s_a@107 s_b@195 run_end@283" || len(out.Graph.Edges) != 3 {
		t.Fatalf("graph nodes %v edges %+v", steps, out.Graph.Edges)
	}
	if n, _ := f.store.ListPlaybookVersions(context.Background(), "", false); len(n) != 0 {
		t.Fatalf("lint stored %d versions", len(n))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAuditApprovalsAndArtifacts(t *testing.T) {
	f, arts := newConsoleFixture(t)
	ctx := context.Background()
	if _, err := f.store.InsertRun(ctx, store.Run{ID: "r1", PlaybookName: "p", PlaybookSHA256: "abc", Status: store.RunRunning, Plan: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	waits := `[{"step":"ok_to_go","kind":"approval","until":"2030-01-01T00:00:00Z","prompt":"Go <b>now</b>?","approvers":["responder"]},{"step":"t","kind":"timer"}]`
	if err := f.store.SetRunWaiting(ctx, "r1", store.RunWaiting, "approval of ok_to_go", json.RawMessage(waits)); err != nil {
		t.Fatal(err)
	}
	code, body, _ := f.do(t, "GET", "/v1/approvals", f.tokens[store.RoleViewer], "")
	var al apitypes.ApprovalList
	if code != 200 || json.Unmarshal([]byte(body), &al) != nil || len(al.Approvals) != 1 {
		t.Fatalf("approvals: %d %s", code, body)
	}
	if a := al.Approvals[0]; a.RunID != "r1" || a.Step != "ok_to_go" || a.Prompt != "Go <b>now</b>?" || !a.Deadline.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("approval %+v", a)
	}

	if _, err := arts.Put(ctx, artifact.Meta{RunID: "r1", StepID: "download", Kind: "quarantined-mail", Name: "../mail.zip", ContentType: "text/html"}, []byte("PK zip bytes")); err != nil {
		t.Fatal(err)
	}
	code, body, _ = f.do(t, "GET", "/v1/runs/r1/artifacts", f.tokens[store.RoleViewer], "")
	if code != 200 || !strings.Contains(body, `"name": "../mail.zip"`) || !strings.Contains(body, `"size": 12`) {
		t.Fatalf("artifacts: %d %s", code, body)
	}
	if code, _, _ = f.do(t, "GET", "/v1/runs/r1/artifacts/..%2Fmail.zip", f.tokens[store.RoleViewer], ""); code != 403 {
		t.Fatalf("viewer download: %d", code)
	}
	code, body, h := f.do(t, "GET", "/v1/runs/r1/artifacts/..%2Fmail.zip", f.tokens[store.RoleResponder], "")
	if code != 200 || body != "PK zip bytes" || h.Get("Content-Type") != "application/octet-stream" || h.Get("Content-Disposition") != `attachment; filename=.._mail.zip` {
		t.Fatalf("download: %d %q %v", code, body, h)
	}
	if code, _, _ = f.do(t, "GET", "/v1/runs/r1/artifacts/other.zip", f.tokens[store.RoleResponder], ""); code != 404 {
		t.Fatalf("unknown artifact: %d", code)
	}
	if code, _, _ = f.do(t, "GET", "/v1/runs/nope/artifacts", f.tokens[store.RoleViewer], ""); code != 404 {
		t.Fatalf("unknown run: %d", code)
	}

	code, body, _ = f.do(t, "GET", "/v1/audit?action=artifact&run=r1", f.tokens[store.RoleViewer], "")
	var audit apitypes.AuditList
	if code != 200 || json.Unmarshal([]byte(body), &audit) != nil || len(audit.Events) != 1 {
		t.Fatalf("audit: %d %s", code, body)
	}
	if e := audit.Events[0]; e.Actor != "token:responder-token" || e.Action != "artifact.download" || !strings.Contains(string(e.Details), `"name": "../mail.zip"`) {
		t.Fatalf("audit row %+v %s", e, e.Details)
	}
	for q, want := range map[string]string{"?since=1week": "since", "?limit=0": "limit", "?run=a%20b": "run", "?bogus=1": "bogus"} {
		if code, body, _ = f.do(t, "GET", "/v1/audit"+q, f.tokens[store.RoleViewer], ""); code != 400 || !strings.Contains(body, want) {
			t.Fatalf("audit%s: %d %s", q, code, body)
		}
	}
}

func TestAlertReasonAndIncidentFilters(t *testing.T) {
	f, _ := newConsoleFixture(t)
	code, body, _ := f.do(t, "POST", "/v1/alerts", f.tokens[store.RoleIngest],
		`{"source":"s","kind":"k","severity":"high","title":"t","observed_at":"2026-01-01T00:00:00Z"}`)
	if code != 202 {
		t.Fatalf("post: %d %s", code, body)
	}
	code, body, _ = f.do(t, "GET", "/v1/alerts?since=1h", f.tokens[store.RoleViewer], "")
	if code != 200 || !strings.Contains(body, `"reason": "waiting for the dispatcher"`) {
		t.Fatalf("alerts: %d %s", code, body)
	}
	for q, want := range map[string]int{"?severity=high": 200, "?severity=urgent": 400, "?since=24h": 200, "?since=soon": 400} {
		if code, body, _ = f.do(t, "GET", "/v1/incidents"+q, f.tokens[store.RoleViewer], ""); code != want {
			t.Fatalf("incidents%s: %d %s", q, code, body)
		}
	}
}
