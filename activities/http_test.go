package activities

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/plan"
)

func TestHostAllowed(t *testing.T) {
	allowed := []string{"api.example.com", "*.hooks.example", "10.0.0.5:8443", " Mixed.Example "}
	tests := map[string]bool{
		"https://api.example.com/x":         true,
		"https://API.example.com.:443/x":    true,
		"http://api.example.com:8080/x":     true,
		"https://evil.api.example.com/":     false,
		"https://a.hooks.example/":          true,
		"https://a.b.hooks.example/":        true,
		"https://hooks.example/":            false,
		"https://xhooks.example/":           false,
		"https://10.0.0.5:8443/":            true,
		"https://10.0.0.5/":                 false,
		"https://mixed.example/":            true,
		"https://api.example.com@evil.com/": false,
	}
	for raw, want := range tests {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed(allowed, u); got != want {
			t.Errorf("%s: allowed = %v, want %v", raw, got, want)
		}
	}
}

// echo answers with what it received, as JSON, and serves a few special paths.
type echo struct {
	mu   sync.Mutex
	seen []*http.Request
	body []string
}

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.seen = append(e.seen, r)
	e.body = append(e.body, string(b))
	e.mu.Unlock()
	switch r.URL.Path {
	case "/text":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "plain words")
		return
	case "/big":
		w.Header().Set("Content-Type", "text/plain")
		w.Write(make([]byte, MaxHTTPResponseBytes+1))
		return
	case "/busy":
		w.Header().Set("Retry-After", "9")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	case "/down":
		http.Error(w, "upstream down", http.StatusBadGateway)
		return
	case "/missing":
		http.Error(w, "no such thing", http.StatusNotFound)
		return
	case "/denied":
		http.Error(w, "who are you", http.StatusUnauthorized)
		return
	case "/redirect":
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("X-Multi", "a")
	w.Header().Add("X-Multi", "b")
	json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.Query(),
		"auth": r.Header.Get("Authorization"), "type": r.Header.Get("Content-Type"), "body": string(b), "n": 12345678901})
}

func httpHarness(t *testing.T) (*harness, *echo, *httptest.Server) {
	e := &echo{}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	h := newHarness(t, harnessOpts{config: func(c *config.Config) { c.HTTP.AllowedHosts = []string{u.Host} }})
	return h, e, srv
}

func TestHTTPRequest(t *testing.T) {
	h, e, srv := httpHarness(t)
	out := h.mustExec("http.request", "call", map[string]any{"method": "POST", "url": srv.URL + "/api?fixed=1",
		"query": map[string]any{"q": "x y", "many": []any{"1", "2"}}, "headers": map[string]any{"X-Trace": "abc"},
		"body": map[string]any{"ticket": "INC-1", "count": 2.0}},
		plan.SecretRef{Path: []string{"headers", "Authorization"}, Name: "api-key"})
	body := out["body"].(map[string]any)
	if out["status"] != 200.0 || body["method"] != "POST" || body["type"] != "application/json" ||
		body["body"] != `{"count":2,"ticket":"INC-1"}` || body["n"] != 12345678901.0 {
		t.Errorf("response %v", out)
	}
	if q := body["query"].(map[string]any); !reflect.DeepEqual(q, map[string]any{"fixed": []any{"1"}, "q": []any{"x y"}, "many": []any{"1", "2"}}) {
		t.Errorf("query %v", q)
	}
	// The endpoint echoed the secret back; the output carries it redacted, while the request carried it whole.
	if body["auth"] != "[redacted]" || e.seen[0].Header.Get("Authorization") != apiKey {
		t.Errorf("auth echoed as %v, sent as %q", body["auth"], e.seen[0].Header.Get("Authorization"))
	}
	if out["headers"].(map[string]any)["x-multi"] != "a, b" {
		t.Errorf("headers %v", out["headers"])
	}
	rows := h.audit()
	if len(rows) != 1 || rows[0].Operation != "POST "+srv.URL+"/api" || rows[0].Outcome != OutcomeAccepted || rows[0].Action != "http.request" {
		t.Errorf("audit %+v", rows)
	}

	out = h.mustExec("http.request", "text", map[string]any{"url": srv.URL + "/text", "body": "raw text"})
	if out["body"] != "plain words" || e.body[1] != "raw text" || e.seen[1].Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("text exchange: out %v, sent %q as %q", out, e.body[1], e.seen[1].Header.Get("Content-Type"))
	}
	out = h.mustExec("http.request", "expect", map[string]any{"url": srv.URL + "/missing", "expect_status": []any{404.0}})
	if out["status"] != 404.0 || out["body"] != "no such thing\n" {
		t.Errorf("expected 404: %v", out)
	}
	if len(h.audit()) != 1 {
		t.Error("a GET was audited")
	}
}

func TestHTTPRequestErrors(t *testing.T) {
	h, _, srv := httpHarness(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()
	tests := []struct {
		with  map[string]any
		typ   string
		msg   string
		delay time.Duration
	}{
		{map[string]any{"url": other.URL + "/x"}, action.InvalidInput,
			fmt.Sprintf("host %s is not in http.allowed_hosts (allowed: %s)", strings.TrimPrefix(other.URL, "http://"), strings.TrimPrefix(srv.URL, "http://")), 0},
		{map[string]any{"url": srv.URL + "/redirect?to=" + url.QueryEscape(other.URL+"/secret?k=v")}, action.InvalidInput,
			fmt.Sprintf("GET %s/redirect: redirected to %s/secret, whose host is not in http.allowed_hosts", srv.URL, other.URL), 0},
		{map[string]any{"url": srv.URL + "/busy?key=hidden"}, action.VendorRateLimited,
			fmt.Sprintf(`GET %s/busy: HTTP 429 Too Many Requests: "slow down" (retrying in 9s)`, srv.URL), 9 * time.Second},
		{map[string]any{"url": srv.URL + "/down"}, action.VendorUnavailable, fmt.Sprintf(`GET %s/down: HTTP 502 Bad Gateway: "upstream down"`, srv.URL), 0},
		{map[string]any{"url": srv.URL + "/missing"}, action.VendorRejected, fmt.Sprintf(`GET %s/missing: HTTP 404 Not Found: "no such thing"`, srv.URL), 0},
		{map[string]any{"url": srv.URL + "/denied"}, action.VendorAuth, fmt.Sprintf(`GET %s/denied: HTTP 401 Unauthorized: "who are you"`, srv.URL), 0},
		{map[string]any{"url": srv.URL + "/big"}, action.VendorRejected, fmt.Sprintf(`GET %s/big: HTTP 200 with a body over 1048576 bytes`, srv.URL), 0},
		{map[string]any{"url": srv.URL + "/", "expect_status": []any{201.0}}, action.VendorRejected, "", 0},
		{map[string]any{"url": "https://user:pw@" + strings.TrimPrefix(srv.URL, "http://")}, action.InvalidInput,
			`with.url must not carry credentials: put them in with.headers as secret("name")`, 0},
		{map[string]any{"url": srv.URL, "headers": map[string]any{"Bad Name": "x"}}, action.InvalidInput,
			"with.headers.Bad Name is not a valid header name and value", 0},
		{map[string]any{"url": srv.URL, "query": map[string]any{"q": map[string]any{}}}, action.InvalidInput,
			"with.query.q must be a string or a list of strings, got an object", 0},
	}
	for _, tt := range tests {
		_, err := h.exec("http.request", "call", tt.with)
		if tt.msg == "" {
			if ae := appErr(t, err); ae.Type() != tt.typ {
				t.Errorf("%v: %s %s", tt.with, ae.Type(), ae.Message())
			}
			continue
		}
		ae := wantErr(t, err, tt.typ, tt.msg)
		if ae.NextRetryDelay() != tt.delay {
			t.Errorf("%v: delay %s, want %s", tt.with, ae.NextRetryDelay(), tt.delay)
		}
	}

	// A POST that gets a 5xx may have done its work: audited as ambiguous.
	_, err := h.exec("http.request", "post", map[string]any{"method": "POST", "url": srv.URL + "/down"})
	appErr(t, err)
	rows := h.audit()
	if got := outcomes(rows); !slices.Equal(got, []string{OutcomeAmbiguous}) {
		t.Errorf("audit %v", got)
	}
}

// hook records webhook posts.
type hook struct {
	mu     sync.Mutex
	status int
	posts  []map[string]any
	paths  []string
}

func (k *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var v map[string]any
	_ = json.NewDecoder(r.Body).Decode(&v)
	k.mu.Lock()
	k.posts = append(k.posts, v)
	k.paths = append(k.paths, r.URL.Path)
	k.mu.Unlock()
	w.WriteHeader(k.status)
	// Some gateways echo the request path in their errors.
	fmt.Fprintf(w, "status for %s", r.URL.Path)
}

func TestNotifyWebhook(t *testing.T) {
	k := &hook{status: 200}
	srv := httptest.NewServer(k)
	defer srv.Close()
	h := newHarness(t, harnessOpts{
		secrets: map[string]string{"slack-url": srv.URL + hookPath, "teams-url": srv.URL + "/webhookb2/teamsecret987654?x=1"},
		config: func(c *config.Config) {
			c.Notify.Webhooks = []config.NotifyWebhook{{Name: "soc", URLSecret: "slack-url"}, {Name: "mgmt", URLSecret: "teams-url", Format: "teams"},
				{Name: "broken", URLSecret: "absent"}}
			c.Console.URL = "https://parry.example.com/"
		}})
	with := map[string]any{"connection": "soc", "text": "3 mails quarantined", "title": "Phishing", "severity": "high",
		"fields": map[string]any{"sender": "evil@bad.example", "count": 3.0}}
	out := h.mustExec("notify.webhook", "tell", with)
	if out["status"] != 200.0 {
		t.Errorf("output %v", out)
	}
	with["connection"] = "mgmt"
	h.mustExec("notify.webhook", "tell", with)
	slack, _ := json.Marshal(k.posts[0])
	teams, _ := json.Marshal(k.posts[1])
	wantSlack := `{"attachments":[{"color":"#E8710A","fallback":"3 mails quarantined","fields":[{"short":true,"title":"count","value":"3"},{"short":true,"title":"sender","value":"evil@bad.example"}]}],"text":"*Phishing*\n3 mails quarantined"}`
	wantTeams := `{"@context":"https://schema.org/extensions","@type":"MessageCard","sections":[{"facts":[{"name":"count","value":"3"},{"name":"sender","value":"evil@bad.example"}]}],"summary":"Phishing","text":"3 mails quarantined","themeColor":"E8710A","title":"Phishing"}`
	if string(slack) != wantSlack {
		t.Errorf("slack payload\n got %s\nwant %s", slack, wantSlack)
	}
	if string(teams) != wantTeams {
		t.Errorf("teams payload\n got %s\nwant %s", teams, wantTeams)
	}
	if k.paths[0] != hookPath {
		t.Errorf("posted to %s", k.paths[0])
	}

	// run_link adds the run's console page (TestRunLink: what it says without console.url).
	h.mustExec("notify.webhook", "tell", map[string]any{"connection": "soc", "text": "Approve?", "run_link": true})
	if got, want := k.posts[2]["text"], "Approve?\n\nRun: https://parry.example.com/#/runs/"+h.runID; got != want {
		t.Errorf("text with run_link\n got %q\nwant %q", got, want)
	}

	k.status = 500
	_, err := h.exec("notify.webhook", "tell", map[string]any{"connection": "soc", "text": "x"})
	wantErr(t, err, action.VendorUnavailable, `posting to webhook "soc": HTTP 500 Internal Server Error: "status for [redacted]"`)
	_, err = h.exec("notify.webhook", "tell", map[string]any{"connection": "pager", "text": "x"})
	wantErr(t, err, action.InvalidInput, `unknown webhook "pager" (configured: soc, mgmt, broken)`)
	_, err = h.exec("notify.webhook", "tell", map[string]any{"connection": "broken", "text": "x"})
	wantErr(t, err, action.InvalidInput, `reading the URL of webhook "broken" from secret "absent": secret "absent" not found`)
	if strings.Contains(h.logs.String(), "hooksecret") {
		t.Error("the webhook URL is in the logs")
	}
}
