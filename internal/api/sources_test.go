package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/sources"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// Secrets of the shipped sources in these tests.
var sourceSecrets = secret.Static{"alertmanager-webhook": "am-s3cret-value", "generic-webhook": "gen-hmac-key", "cfg-secret": "cfg-value"}

const configSources = `api:
  listen: ":0"
sources:
  - name: cfgsrc
    auth: bearer
    secret: cfg-secret
    severity_default: low
    map:
      kind: '"cfg"'
      title: body.title
      source_id: body.id
`

type sourceFixture struct {
	*fixture
	handler http.Handler
}

// newSourceServer serves the sources endpoints on st: a new server on the same store is parry restarted.
func newSourceServer(t testing.TB, st *store.Store, f *fixture) *sourceFixture {
	t.Helper()
	cfg, diags := sources.Parse("parry.yaml", []byte(configSources), true)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	s := &api.Server{Store: st, MaxBodyBytes: 64 << 10, Connections: []string{"prod"}}
	routes, err := s.SourceRoutes(api.SourceOptions{Secrets: sourceSecrets, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	s.Extra = routes
	sf := &sourceFixture{fixture: &fixture{store: st, tokens: f.tokens}, handler: s.Handler()}
	sf.srv = httptest.NewServer(sf.handler)
	t.Cleanup(sf.srv.Close)
	return sf
}

func newSourceFixture(t testing.TB) *sourceFixture {
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
	return newSourceServer(t, st, f)
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *sourceFixture) push(t testing.TB, file, src string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(apitypes.SourcePushRequest{File: file, Source: src})
	req := httptest.NewRequest("POST", "/v1/sources", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+f.tokens[store.RoleAuthor])
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// send posts a body to a source with the given headers.
func (f *sourceFixture) send(t testing.TB, name, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/sources/"+name+"/alerts", strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bearer(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }

func signed(key, body string) map[string]string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(body))
	return map[string]string{"X-Parry-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil))}
}

func TestSourcePushLintsAndVersions(t *testing.T) {
	f := newSourceFixture(t)
	code, body := f.push(t, "bad.yaml", "sources:\n  - name: x\n    auth: bearr\n    secret: s\n    map:\n      kind: bdy.k\n      title: '\"t\"'\n      severity: '\"low\"'\n")
	want := `{"error":{"code":"lint_failed","message":"bad.yaml:3:11: error: auth must be hmac or bearer, not \"bearr\" (did you mean \"bearer\"?) (2 problems; nothing was stored)","details":[` +
		`{"file":"bad.yaml","line":3,"column":11,"severity":"error","message":"auth must be hmac or bearer, not \"bearr\" (did you mean \"bearer\"?)"},` +
		`{"file":"bad.yaml","line":6,"column":13,"severity":"error","message":"kind: unknown name \"bdy\" (did you mean \"body\"?)"}]}}`
	if code != 400 || compact(t, body) != want {
		t.Fatalf("lint: %d %s", code, body)
	}
	if vs, _ := f.store.ListSources(context.Background()); len(vs) != 0 {
		t.Fatalf("a file with errors stored %v", vs)
	}
	am := readFile(t, "../../deploy/sources/alertmanager.yaml")
	for i, want := range []string{`{"sources":[{"name":"alertmanager","version":1,"created":true}]}`, `{"sources":[{"name":"alertmanager","version":1,"created":false}]}`} {
		if code, body := f.push(t, "alertmanager.yaml", am); code != 200 || compact(t, body) != want {
			t.Fatalf("push %d: %d %s", i, code, body)
		}
	}
	if code, body := f.push(t, "alertmanager.yaml", am+"\n# changed\n"); code != 200 || compact(t, body) != `{"sources":[{"name":"alertmanager","version":2,"created":true}]}` {
		t.Fatalf("changed push: %d %s", code, body)
	}
	if code, body := f.push(t, "c.yaml", strings.SplitN(configSources, "sources:", 2)[0]+"sources:"+strings.SplitN(configSources, "sources:", 2)[1]); code != 400 || !strings.Contains(body, `unknown key \"api\" at the top level`) {
		t.Fatalf("a parry.yaml pushed: %d %s", code, body)
	}
	cfgOnly := "sources:" + strings.SplitN(configSources, "sources:", 2)[1]
	if code, body := f.push(t, "c.yaml", cfgOnly); code != 409 || !strings.Contains(body, `source \"cfgsrc\" is defined in the server's parry.yaml`) {
		t.Fatalf("shadowing parry.yaml: %d %s", code, body)
	}
	code, body, _ = f.do(t, "GET", "/v1/sources", f.tokens[store.RoleViewer], "")
	var list apitypes.SourceList
	_ = json.Unmarshal([]byte(body), &list)
	if code != 200 || len(list.Sources) != 2 || list.Sources[0].Name != "cfgsrc" || list.Sources[0].Origin != "config" ||
		list.Sources[1].Name != "alertmanager" || list.Sources[1].Version != 2 || list.Sources[1].Secret != "alertmanager-webhook" {
		t.Fatalf("list: %d %s", code, body)
	}
	if strings.Contains(body, "am-s3cret-value") {
		t.Fatal("the list shows a secret's value")
	}
	if code, _, _ := f.do(t, "POST", "/v1/sources", f.tokens[store.RoleViewer], `{"source":""}`); code != 403 {
		t.Fatalf("a viewer pushed: %d", code)
	}
}

func TestSourceIntakeMapsAndDeduplicates(t *testing.T) {
	f := newSourceFixture(t)
	if code, body := f.push(t, "alertmanager.yaml", readFile(t, "../../deploy/sources/alertmanager.yaml")); code != 200 {
		t.Fatalf("push: %d %s", code, body)
	}
	payload := readFile(t, "../sources/testdata/alertmanager/firing-two.json")
	code, body := f.send(t, "alertmanager", payload, bearer("am-s3cret-value"))
	var r api.IntakeResponse
	_ = json.Unmarshal([]byte(body), &r)
	if code != 202 || r.Accepted != 2 || r.Duplicates != 0 {
		t.Fatalf("intake: %d %s", code, body)
	}
	a, err := f.store.GetAlert(context.Background(), r.Alerts[0].ID)
	if err != nil || a.Source != "alertmanager" || a.SourceID != "c0ffee1234567890:2026-12-02T09:14:00.123Z:firing" || a.Kind != "alertmanager:HighErrorRate" ||
		a.Severity != "critical" || a.IngestedBy != "source:alertmanager" || !a.ObservedAt.Equal(time.Date(2026, 12, 2, 9, 14, 0, 123e6, time.UTC)) {
		t.Fatalf("stored: %+v %v", a, err)
	}
	// The same notification again, on a restarted server: the same alerts, as duplicates.
	restarted := newSourceServer(t, f.store, f.fixture)
	code, body = restarted.send(t, "alertmanager", payload, bearer("am-s3cret-value"))
	var again api.IntakeResponse
	_ = json.Unmarshal([]byte(body), &again)
	if code != 202 || again.Accepted != 0 || again.Duplicates != 2 || again.Alerts[0].ID != r.Alerts[0].ID || !again.Alerts[1].Duplicate || again.Alerts[1].ID != r.Alerts[1].ID {
		t.Fatalf("repeat: %d %s", code, body)
	}
	// A source from parry.yaml, with a default severity, and observed_at defaulting to when it was received.
	before := time.Now()
	code, body = f.send(t, "cfgsrc", `{"id":"c-1","title":"from config"}`, bearer("cfg-value"))
	_ = json.Unmarshal([]byte(body), &r)
	if code != 202 || r.Accepted != 1 {
		t.Fatalf("config source: %d %s", code, body)
	}
	a, _ = f.store.GetAlert(context.Background(), r.Alerts[0].ID)
	if a.Severity != "low" || a.Kind != "cfg" || a.ObservedAt.Before(before.Add(-time.Second)) || a.ObservedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("config source stored %+v", a)
	}
}

func TestSourceIntakeAuth(t *testing.T) {
	f := newSourceFixture(t)
	for _, file := range []string{"alertmanager.yaml", "generic.yaml"} {
		if code, body := f.push(t, file, readFile(t, "../../deploy/sources/"+file)); code != 200 {
			t.Fatalf("push: %d %s", code, body)
		}
	}
	generic := `{"id":"g-1","title":"hello","severity":"high"}`
	unauth := `{"error":{"code":"unauthorized","message":"not authenticated as this source: sign the body (X-Parry-Signature-256: sha256=<hex HMAC-SHA256>) or send Authorization: Bearer <secret>, as the source's auth says"}}`
	for _, tc := range []struct {
		name, source, body string
		hdr                map[string]string
		code               int
	}{
		{"bearer ok", "alertmanager", readFile(t, "../sources/testdata/alertmanager/resolved.json"), bearer("am-s3cret-value"), 202},
		{"bearer wrong", "alertmanager", "{}", bearer("am-s3cret-valuf"), 401},
		{"bearer prefix of the secret", "alertmanager", "{}", bearer("am-s3cret"), 401},
		{"bearer missing", "alertmanager", "{}", nil, 401},
		{"an API token is not the source's secret", "alertmanager", "{}", bearer(f.tokens[store.RoleAdmin]), 401},
		{"hmac ok", "generic", generic, signed("gen-hmac-key", generic), 202},
		{"hmac over another body", "generic", generic, signed("gen-hmac-key", generic+" "), 401},
		{"hmac wrong key", "generic", generic, signed("gen-hmac-kez", generic), 401},
		{"hmac not hex", "generic", generic, map[string]string{"X-Parry-Signature-256": "sha256=zz"}, 401},
		{"hmac in X-Parry-Signature", "generic", strings.Replace(generic, "g-1", "g-2", 1), map[string]string{"X-Parry-Signature": signed("gen-hmac-key", strings.Replace(generic, "g-1", "g-2", 1))["X-Parry-Signature-256"]}, 202},
		{"hmac without sha256=", "generic", generic, map[string]string{"X-Parry-Signature-256": strings.TrimPrefix(signed("gen-hmac-key", generic)["X-Parry-Signature-256"], "sha256=")}, 401},
		{"hmac source given a bearer", "generic", generic, bearer("gen-hmac-key"), 401},
		{"unknown source", "nosuch", generic, bearer("x"), 401},
	} {
		code, body := f.send(t, tc.source, tc.body, tc.hdr)
		if code != tc.code {
			t.Errorf("%s: %d %s", tc.name, code, body)
		}
		if code == 401 && compact(t, body) != unauth {
			t.Errorf("%s: the 401 says more than it should: %s", tc.name, body)
		}
	}
}

func TestSourceIntakeRejectsWholeBody(t *testing.T) {
	f := newSourceFixture(t)
	if code, body := f.push(t, "alertmanager.yaml", readFile(t, "../../deploy/sources/alertmanager.yaml")); code != 200 {
		t.Fatalf("push: %d %s", code, body)
	}
	key := bearer("am-s3cret-value")
	// One good alert, one without a fingerprint (no source id can be made), one whose title holds a NUL.
	body := `{"version":"4","status":"firing","receiver":"parry","alerts":[
		{"status":"firing","labels":{"alertname":"A"},"startsAt":"2026-12-02T09:00:00Z","fingerprint":"f1"},
		{"status":"firing","labels":{"alertname":"B"},"startsAt":"2026-12-02T09:00:00Z"},
		{"status":"firing","labels":{"alertname":"C"},"annotations":{"summary":"nul \u0000 here"},"startsAt":"2026-12-02T09:00:00Z","fingerprint":"f3"}]}`
	code, resp := f.send(t, "alertmanager", body, key)
	want := `{"error":{"code":"invalid_alerts","message":"alert 1: map.source_id: invalid operation: <nil> + string (and 1 more problems; nothing was stored but the body, as rejected alert 1)","details":[` +
		`{"index":1,"field":"source_id","message":"map.source_id: invalid operation: \u003cnil\u003e + string"},` +
		`{"index":2,"field":"title","message":"title holds a NUL character (\\u0000), which cannot be stored; remove it"}]}}`
	if code != 400 || compact(t, resp) != want {
		t.Fatalf("rejection: %d %s", code, resp)
	}
	var n int
	_ = f.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM alerts").Scan(&n)
	if n != 0 {
		t.Fatalf("half a batch stored: %d alerts", n)
	}
	rejected, total, err := f.store.ListRejectedAlerts(context.Background(), "alertmanager", 10)
	if err != nil || total != 1 || string(rejected[0].Body) != body || rejected[0].SourceVersion != 1 || !strings.Contains(string(rejected[0].Problems), "invalid operation") {
		t.Fatalf("rejected: %+v %d %v", rejected, total, err)
	}
	var audited int
	if err := f.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE action = 'alerts.reject' AND actor = 'source:alertmanager'").Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited != 1 {
		t.Fatalf("%d audit rows for the rejection", audited)
	}
	code, resp, _ = f.do(t, "GET", "/v1/sources/alertmanager", f.tokens[store.RoleViewer], "")
	var d apitypes.SourceDetail
	_ = json.Unmarshal([]byte(resp), &d)
	if code != 200 || d.RejectedCount != 1 || len(d.Rejected) != 1 || d.Rejected[0].BodyBytes != len(body) || d.Map["kind"] == "" || d.Version != 1 {
		t.Fatalf("show: %d %s", code, resp)
	}
	// Bodies the mapping cannot read are rejected too, never a 5xx.
	for _, b := range []string{"", "not json", "{\"alerts\": \xff\xfe}", `{"alerts": []}`, `{"alerts": "x"}`, "[1,2]", `{"alerts":[{"labels":"\xff","fingerprint":"\u0000","startsAt":"x","status":"firing"}]}`} {
		if code, resp := f.send(t, "alertmanager", b, key); code != 400 || !strings.Contains(resp, "invalid_alerts") {
			t.Errorf("%q: %d %s", b, code, resp)
		}
	}
	if code, resp := f.send(t, "alertmanager", `{"alerts":[`+strings.Repeat(`{"x":1},`, 10000)+`{}]}`, key); code != 413 {
		t.Errorf("a body over the cap: %d %s", code, resp)
	}
}

func TestEnvelopeObservedAtDefaults(t *testing.T) {
	f := newFixture(t)
	before := time.Now()
	code, body, _ := f.do(t, "POST", "/v1/alerts", f.tokens[store.RoleIngest], `{"source":"s","kind":"k","severity":"low","title":"no time"}`)
	var r api.IntakeResponse
	_ = json.Unmarshal([]byte(body), &r)
	if code != 202 || r.Accepted != 1 {
		t.Fatalf("%d %s", code, body)
	}
	a, _ := f.store.GetAlert(context.Background(), r.Alerts[0].ID)
	if a.ObservedAt.Before(before.Add(-time.Second)) || a.ObservedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("observed_at %v, want about now", a.ObservedAt)
	}
}

// TestSourceNewVersionServes: a push takes effect with the next request (mappings are cached by version).
func TestSourceNewVersionServes(t *testing.T) {
	f := newSourceFixture(t)
	def := "sources:\n  - name: ver\n    auth: bearer\n    secret: cfg-secret\n    severity_default: low\n    map:\n      kind: '\"k\"'\n      title: '\"TITLE\"'\n      source_id: body.id\n"
	for i, title := range []string{"v1", "v2", "v1"} {
		if code, body := f.push(t, "ver.yaml", strings.Replace(def, "TITLE", title, 1)+strings.Repeat("#\n", i)); code != 200 {
			t.Fatalf("push %s: %d %s", title, code, body)
		}
		code, body := f.send(t, "ver", `{"id":"`+title+`-`+string(rune('a'+i))+`"}`, bearer("cfg-value"))
		var r api.IntakeResponse
		_ = json.Unmarshal([]byte(body), &r)
		if code != 202 {
			t.Fatalf("send: %d %s", code, body)
		}
		a, err := f.store.GetAlert(context.Background(), r.Alerts[0].ID)
		if err != nil || a.Title != title {
			t.Fatalf("after pushing %s the alert is %q (%v)", title, a.Title, err)
		}
	}
}
