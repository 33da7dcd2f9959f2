package apiclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/apiclient"
)

// TestNoServerDependencies keeps the client light: a console or script that uses it must not pull in the
// database driver or the Temporal SDK.
func TestNoServerDependencies(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/parry-soar/parry/internal/apiclient").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/jackc/pgx", "go.temporal.io/", "github.com/parry-soar/parry/internal/store", "github.com/parry-soar/parry/internal/api\n"} {
			if strings.HasPrefix(dep+"\n", banned) {
				t.Errorf("apiclient depends on %s", dep)
			}
		}
	}
}

// recorder answers every request with answer and remembers what it was asked.
type recorder struct {
	method, path, query, auth, body string
	status                          int
	answer                          string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.method, r.path, r.query, r.auth, r.body = req.Method, req.URL.EscapedPath(), req.URL.RawQuery, req.Header.Get("Authorization"), string(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "rid-1")
	w.WriteHeader(r.status)
	io.WriteString(w, r.answer)
}

func TestPathsAndQueriesAreEscaped(t *testing.T) {
	t.Parallel()
	rec := &recorder{status: 200, answer: `{}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := apiclient.New(srv.URL+"/", "pry_t")
	ctx := context.Background()
	for _, tc := range []struct {
		call                string
		do                  func() error
		method, path, query string
	}{
		{"run with a slash", func() error { _, err := c.GetRun(ctx, "a/b c", true); return err }, "GET", "/v1/runs/a%2Fb%20c", "full=true"},
		{"approve", func() error {
			_, err := c.Approve(ctx, "r?1", "step#2", apitypes.ApprovalRequest{Approved: true})
			return err
		}, "POST", "/v1/runs/r%3F1/approvals/step%232", ""},
		{"list runs", func() error {
			_, err := c.ListRuns(ctx, apitypes.RunFilter{Status: "failed", Playbook: "p&q", Incident: 7, Since: "24h", Limit: 5})
			return err
		}, "GET", "/v1/runs", "incident=7&limit=5&playbook=p%26q&since=24h&status=failed"},
		{"playbook version", func() error { _, err := c.GetPlaybook(ctx, "alpha", 3); return err }, "GET", "/v1/playbooks/alpha", "version=3"},
		{"revoke", func() error { _, err := c.RevokeToken(ctx, "admin@host"); return err }, "DELETE", "/v1/tokens/admin@host", ""},
		{"tokens all", func() error { _, err := c.ListTokens(ctx, true); return err }, "GET", "/v1/tokens", "all=true"},
		{"incidents", func() error {
			_, err := c.ListIncidents(ctx, apitypes.IncidentFilter{Status: "open", Limit: 2})
			return err
		}, "GET", "/v1/incidents", "limit=2&status=open"},
		{"close", func() error { _, err := c.CloseIncident(ctx, 42); return err }, "POST", "/v1/incidents/42/close", ""},
	} {
		if err := tc.do(); err != nil {
			t.Errorf("%s: %v", tc.call, err)
			continue
		}
		if rec.method != tc.method || rec.path != tc.path || rec.query != tc.query || rec.auth != "Bearer pry_t" {
			t.Errorf("%s: %s %s ?%s (%s), want %s %s ?%s", tc.call, rec.method, rec.path, rec.query, rec.auth, tc.method, tc.path, tc.query)
		}
	}
	// An empty id would name another endpoint: refused before any request, as a usage mistake.
	rec.path = ""
	_, err := c.GetRun(ctx, "", false)
	var e *apiclient.Error
	if !errors.As(err, &e) || !e.Usage() || rec.path != "" {
		t.Fatalf("empty id: %v (sent %q)", err, rec.path)
	}
}

func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := apiclient.New(srv.URL, "pry_t")
	ctx := context.Background()
	for _, tc := range []struct {
		status       int
		answer, want string
		usage        bool
		requestID    string
	}{
		{400, `{"error":{"code":"invalid_parameter","message":"limit \"0\" must be a whole number from 1 to 1000"}}`, `limit "0" must be a whole number from 1 to 1000 (HTTP 400 invalid_parameter)`, true, ""},
		{400, `{"error":{"code":"unknown_parameter","message":"unknown query parameter"}}`, `unknown query parameter (HTTP 400 unknown_parameter)`, true, ""},
		{400, `{"error":{"code":"invalid","message":"cannot reuse step s2"}}`, `cannot reuse step s2 (HTTP 400 invalid)`, false, ""},
		{503, `{"error":{"code":"database_unavailable","message":"the database is unreachable","request_id":"rid-9"}}`, `the database is unreachable (HTTP 503 database_unavailable)`, false, "rid-9"},
		{502, `<html>Bad Gateway</html>`, srv.URL + ` answered HTTP 502 without parry's error JSON: "<html>Bad Gateway</html>" (is PARRY_URL pointing at parry?)`, false, ""},
		{200, `[1,2]`, srv.URL + ` answered GET /v1/runs with JSON this parry does not understand (is it another parry version?)`, false, ""},
	} {
		rec.status, rec.answer = tc.status, tc.answer
		_, err := c.ListRuns(ctx, apitypes.RunFilter{})
		var e *apiclient.Error
		if !errors.As(err, &e) || err.Error() != tc.want || e.Usage() != tc.usage || e.RequestID != tc.requestID {
			t.Errorf("HTTP %d %s:\n got %v (%+v)\nwant %s", tc.status, tc.answer, err, e, tc.want)
		}
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err := apiclient.New("http://"+addr, "").ListRuns(ctx, apitypes.RunFilter{})
	if err == nil || err.Error() != "cannot reach the parry API at http://"+addr+": nothing listens there (is `parry dev` or `parry server` running? set PARRY_URL)" {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestReadyReportsWhatIsDown(t *testing.T) {
	t.Parallel()
	rec := &recorder{status: 503, answer: `{"checks":{"postgres":"ok","temporal":"unavailable"},"status":"unavailable"}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	r, err := apiclient.New(srv.URL, "").Ready(context.Background())
	if err == nil || err.Error() != "unavailable: temporal (HTTP 503 unavailable)" || r.Checks["postgres"] != "ok" {
		t.Fatalf("%+v %v", r, err)
	}
}
