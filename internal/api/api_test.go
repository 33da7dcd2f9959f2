package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

type fixture struct {
	srv    *httptest.Server
	store  *store.Store
	tokens map[store.Role]string
}

func newFixture(t *testing.T, checks ...api.Check) *fixture {
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
	s := &api.Server{Store: st, Checks: checks, MaxBodyBytes: 4096, Connections: []string{"prod", "sim"}}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, token, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %q", s)
	}
	return strings.TrimSpace(b.String())
}

func TestHealthAndReady(t *testing.T) {
	down := errors.New("dial tcp 127.0.0.1:7233: connection refused")
	var temporalErr error
	f := newFixture(t,
		api.Check{Name: "postgres", Check: func(ctx context.Context) error { return nil }},
		api.Check{Name: "temporal", Check: func(ctx context.Context) error { return temporalErr }})
	code, body, hdr := f.do(t, "GET", "/healthz", "", "")
	if code != 200 || compact(t, body) != `{"status":"ok"}` || hdr.Get("X-Request-Id") == "" {
		t.Fatalf("healthz %d %s", code, body)
	}
	code, body, _ = f.do(t, "GET", "/readyz", "", "")
	if code != 200 || compact(t, body) != `{"checks":{"postgres":"ok","temporal":"ok"},"status":"ok"}` {
		t.Fatalf("readyz %d %s", code, body)
	}
	temporalErr = down
	code, body, _ = f.do(t, "GET", "/readyz", "", "")
	if code != 503 || compact(t, body) != `{"checks":{"postgres":"ok","temporal":"unavailable"},"status":"unavailable"}` {
		t.Fatalf("readyz down %d %s", code, body)
	}
	code, body, _ = f.do(t, "GET", "/metrics", "", "")
	if code != 200 || !strings.Contains(body, `parry_http_requests_total{code="503",route="GET /readyz"} 1`) {
		t.Fatalf("metrics %d %s", code, body)
	}
}

func TestAuthAndErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, method, path, token, body string
		code                            int
		want                            string
	}{
		{"no header", "GET", "/v1/whoami", "", "", 401, `{"error":{"code":"unauthorized","message":"missing Authorization: Bearer <token> header"}}`},
		{"bad token", "GET", "/v1/whoami", "pry_wrong", "", 401, `{"error":{"code":"unauthorized","message":"invalid or revoked token"}}`},
		{"whoami", "GET", "/v1/whoami", f.tokens[store.RoleIngest], "", 200, `{"name":"ingest-token","role":"ingest"}`},
		{"forbidden", "GET", "/v1/tokens", f.tokens[store.RoleAuthor], "", 403, `{"error":{"code":"forbidden","message":"token \"author-token\" has role author; this needs admin or higher"}}`},
		{"unknown endpoint", "GET", "/v1/nope", f.tokens[store.RoleAdmin], "", 404, `{"error":{"code":"not_found","message":"no endpoint GET /v1/nope"}}`},
		{"malformed json", "POST", "/v1/tokens", f.tokens[store.RoleAdmin], `{"name":`, 400, `{"error":{"code":"bad_json","message":"malformed JSON: the body ends in the middle of a value"}}`},
		{"unknown field", "POST", "/v1/tokens", f.tokens[store.RoleAdmin], `{"name":"x","role":"viewer","admin":true}`, 400, `{"error":{"code":"bad_json","message":"unknown field \"admin\" (fields: name, role, webhook)"}}`},
		{"wrong type", "POST", "/v1/tokens", f.tokens[store.RoleAdmin], `{"name":5}`, 400, `{"error":{"code":"bad_json","message":"field \"name\" must be a string, not number"}}`},
		{"empty body", "POST", "/v1/tokens", f.tokens[store.RoleAdmin], ``, 400, `{"error":{"code":"bad_json","message":"request body is empty; expected JSON"}}`},
		{"bad role", "POST", "/v1/tokens", f.tokens[store.RoleAdmin], `{"name":"x","role":"root"}`, 400, `{"error":{"code":"invalid_parameter","message":"unknown role \"root\" (roles: ingest, viewer, responder, author, admin)"}}`},
		{"too large", "POST", "/v1/tokens", f.tokens[store.RoleAdmin], `{"name":"` + strings.Repeat("a", 5000) + `"}`, 413, `{"error":{"code":"body_too_large","message":"request body is larger than 4096 bytes"}}`},
		{"revoke unknown", "DELETE", "/v1/tokens/ghost", f.tokens[store.RoleAdmin], ``, 404, `{"error":{"code":"not_found","message":"no live token named \"ghost\""}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, tc.method, tc.path, tc.token, tc.body)
			if code != tc.code || compact(t, body) != tc.want {
				t.Fatalf("got %d %s\nwant %d %s", code, compact(t, body), tc.code, tc.want)
			}
		})
	}
}

func TestTokenLifecycleOverAPI(t *testing.T) {
	f := newFixture(t)
	admin := f.tokens[store.RoleAdmin]
	code, body, _ := f.do(t, "POST", "/v1/tokens", admin, `{"name":"siem","role":"ingest"}`)
	if code != 201 {
		t.Fatalf("create %d %s", code, body)
	}
	var created api.CreateTokenResponse
	if err := json.Unmarshal([]byte(body), &created); err != nil || !strings.HasPrefix(created.Token, "pry_") || created.Info.Role != "ingest" {
		t.Fatalf("create body %s", body)
	}
	if code, _, _ := f.do(t, "GET", "/v1/whoami", created.Token, ""); code != 200 {
		t.Fatalf("new token rejected: %d", code)
	}
	if code, body, _ := f.do(t, "POST", "/v1/tokens", admin, `{"name":"siem","role":"ingest"}`); code != 409 {
		t.Fatalf("duplicate %d %s", code, body)
	}
	code, body, _ = f.do(t, "GET", "/v1/tokens", admin, "")
	if code != 200 || !strings.Contains(body, `"name": "siem"`) || strings.Contains(body, created.Token) {
		t.Fatalf("list %d %s", code, body)
	}
	if code, body, _ := f.do(t, "DELETE", "/v1/tokens/siem", admin, ""); code != 200 {
		t.Fatalf("revoke %d %s", code, body)
	}
	if code, _, _ := f.do(t, "GET", "/v1/whoami", created.Token, ""); code != 401 {
		t.Fatalf("revoked token accepted: %d", code)
	}
	evs, err := f.store.ListAudit(context.Background(), store.AuditQuery{})
	if err != nil || len(evs) != 2 || evs[0].Action != "token.create" || evs[1].Action != "token.revoke" || evs[0].Actor != "token:admin-token" {
		t.Fatalf("audit %+v %v", evs, err)
	}
}
