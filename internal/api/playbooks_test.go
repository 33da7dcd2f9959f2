package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func newRegistryFixture(t *testing.T) *fixture {
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
	s := &api.Server{Store: st, MaxBodyBytes: 1 << 20, Extra: append(api.PlaybookRoutes(st, nil), api.IncidentRoutes(st)...)}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// scrubTimes replaces timestamps and SHA-256 digests so answers compare exactly.
func scrubTimes(s string) string {
	s = regexp.MustCompile(`"20\d\d-[0-9T:.\-+Z]+"`).ReplaceAllString(s, `"TIME"`)
	return regexp.MustCompile(`"[0-9a-f]{64}"`).ReplaceAllString(s, `"SHA"`)
}

func pushBody(enable bool, files ...string) string {
	var pbs []map[string]string
	for i := 0; i+1 < len(files); i += 2 {
		pbs = append(pbs, map[string]string{"file": files[i], "source": files[i+1]})
	}
	b, _ := json.Marshal(map[string]any{"playbooks": pbs, "enable": enable})
	return string(b)
}

const apiPB = "name: alpha\nsteps:\n  - id: pause\n    wait: 1m\n"

func TestPlaybookRegistryAPI(t *testing.T) {
	f := newRegistryFixture(t)
	author, viewer := f.tokens[store.RoleAuthor], f.tokens[store.RoleViewer]
	for _, tc := range []struct {
		name, method, path, token, body string
		code                            int
		want                            string
	}{
		{"viewer may not push", "POST", "/v1/playbooks", viewer, pushBody(false, "a.yaml", apiPB), 403,
			`{"error":{"code":"forbidden","message":"token \"viewer-token\" has role viewer; this needs author or higher"}}`},
		{"lint errors", "POST", "/v1/playbooks", author, pushBody(false, "a.yaml", apiPB, "b.yaml", "name: Bad\nsteps: []\n"), 400,
			`{"error":{"code":"lint_failed","message":"the playbooks have 2 problems, nothing was stored; the first: b.yaml:1:7: error: name \"Bad\" must be lower-case letters, digits and dashes, starting with a letter (at most 64 characters), like phishing-containment","details":[{"file":"b.yaml","line":1,"column":7,"severity":"error","message":"name \"Bad\" must be lower-case letters, digits and dashes, starting with a letter (at most 64 characters), like phishing-containment"},{"file":"b.yaml","line":2,"column":8,"severity":"error","message":"\"steps\" is empty: a playbook needs at least one step"}]}}`},
		{"nothing stored", "GET", "/v1/playbooks", viewer, "", 200, `{"playbooks":[]}`},
		{"no playbooks", "POST", "/v1/playbooks", author, `{"playbooks":[]}`, 400,
			`{"error":{"code":"invalid_parameter","message":"no playbooks: send {\"playbooks\": [{\"file\": \"name.yaml\", \"source\": \"...\"}]}"}}`},
		{"push", "POST", "/v1/playbooks", author, pushBody(false, "a.yaml", apiPB), 200,
			`{"playbooks":[{"file":"a.yaml","name":"alpha","version":1,"sha256":"SHA","created":true,"enabled":false}]}`},
		{"push again", "POST", "/v1/playbooks", author, pushBody(true, "a.yaml", apiPB), 200,
			`{"playbooks":[{"file":"a.yaml","name":"alpha","version":1,"sha256":"SHA","created":false,"enabled":true}]}`},
		{"push v2", "POST", "/v1/playbooks", author, pushBody(false, "a.yaml", apiPB+"description: two\n"), 200,
			`{"playbooks":[{"file":"a.yaml","name":"alpha","version":2,"sha256":"SHA","created":true,"enabled":false}]}`},
		{"list", "GET", "/v1/playbooks", viewer, "", 200,
			`{"playbooks":[{"name":"alpha","versions":2,"latest":2,"enabled":1,"sha256":"SHA","last_changed_at":"TIME"}]}`},
		{"versions", "GET", "/v1/playbooks/alpha/versions", viewer, "", 200,
			`{"versions":[{"id":2,"name":"alpha","version":2,"sha256":"SHA","enabled":false,"created_at":"TIME","created_by":"token:author-token"},{"id":1,"name":"alpha","version":1,"sha256":"SHA","enabled":true,"created_at":"TIME","created_by":"token:author-token"}]}`},
		{"show enabled", "GET", "/v1/playbooks/alpha", viewer, "", 200, ""},
		{"show unknown version", "GET", "/v1/playbooks/alpha?version=9", viewer, "", 404,
			`{"error":{"code":"not_found","message":"playbook \"alpha\" has no version 9"}}`},
		{"bad version", "GET", "/v1/playbooks/alpha?version=x", viewer, "", 400,
			`{"error":{"code":"invalid_parameter","message":"version \"x\" is not a positive whole number"}}`},
		{"bad name", "GET", "/v1/playbooks/Alpha", viewer, "", 400,
			`{"error":{"code":"invalid_parameter","message":"\"Alpha\" is not a playbook name ([a-z][a-z0-9-]*, at most 100 characters)"}}`},
		{"unknown playbook", "GET", "/v1/playbooks/ghost/versions", viewer, "", 404,
			`{"error":{"code":"not_found","message":"no playbook \"ghost\""}}`},
		{"enable v2", "POST", "/v1/playbooks/alpha/enable", author, `{"version":2}`, 200,
			`{"id":2,"name":"alpha","version":2,"sha256":"SHA","enabled":true,"created_at":"TIME","created_by":"token:author-token"}`},
		{"enable missing", "POST", "/v1/playbooks/alpha/enable", author, `{"version":7}`, 404,
			`{"error":{"code":"not_found","message":"playbook \"alpha\" has no version 7"}}`},
		{"disable", "POST", "/v1/playbooks/alpha/disable", author, "", 200, `{"name":"alpha","was_enabled":true}`},
		{"disable again", "POST", "/v1/playbooks/alpha/disable", author, "", 200, `{"name":"alpha","was_enabled":false}`},
		{"disable unknown", "POST", "/v1/playbooks/ghost/disable", author, "", 404, `{"error":{"code":"not_found","message":"no playbook \"ghost\""}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, tc.method, tc.path, tc.token, tc.body)
			got := scrubTimes(compact(t, body))
			if tc.want == "" {
				if code != tc.code || !strings.Contains(body, `"source": "name: alpha\nsteps:\n  - id: pause\n    wait: 1m\n"`) || !strings.Contains(body, `"plan": {`) {
					t.Fatalf("got %d %s", code, body)
				}
				return
			}
			if code != tc.code || got != tc.want {
				t.Fatalf("got %d %s\nwant %d %s", code, got, tc.code, tc.want)
			}
		})
	}
}

func TestIncidentAPI(t *testing.T) {
	f := newRegistryFixture(t)
	ctx := context.Background()
	viewer, responder := f.tokens[store.RoleViewer], f.tokens[store.RoleResponder]
	ins, err := f.store.InsertAlerts(ctx, []store.NewAlert{{Source: "s", Kind: "k", Severity: "low", Title: "t", ObservedAt: time.Now()}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var incID int64
	if err := f.store.Pool.QueryRow(ctx, `INSERT INTO incidents (playbook_name, playbook_version, dedup_key, run_id, first_alert_id, window_ends_at, last_alert_at)
		VALUES ('alpha', 1, 'k1', 'alert-alpha-1', $1, now(), now()) RETURNING id`, ins[0].ID).Scan(&incID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Pool.Exec(ctx, "INSERT INTO incident_alerts (incident_id, alert_id) VALUES ($1, $2)", incID, ins[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.InsertRun(ctx, f.store.Pool, store.Run{ID: "alert-alpha-1", PlaybookName: "alpha", PlaybookVersion: 1, PlaybookSHA256: "abc", IncidentID: &incID}); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(incID)
	for _, tc := range []struct {
		name, method, path, token string
		code                      int
		want                      string
	}{
		{"list", "GET", "/v1/incidents?status=open", viewer, 200,
			`{"incidents":[{"id":` + id + `,"playbook":"alpha","version":1,"dedup_key":"k1","status":"open","run_id":"alert-alpha-1","first_alert_id":1,"alert_count":1,"opened_at":"TIME","window_ends_at":"TIME","last_alert_at":"TIME"}]}`},
		{"bad status", "GET", "/v1/incidents?status=shut", viewer, 400, `{"error":{"code":"invalid_parameter","message":"status must be open or closed, not \"shut\""}}`},
		{"viewer may not close", "POST", "/v1/incidents/" + id + "/close", viewer, 403,
			`{"error":{"code":"forbidden","message":"token \"viewer-token\" has role viewer; this needs responder or higher"}}`},
		{"close", "POST", "/v1/incidents/" + id + "/close", responder, 200,
			`{"closed_now":true,"incident":{"id":` + id + `,"playbook":"alpha","version":1,"dedup_key":"k1","status":"closed","run_id":"alert-alpha-1","first_alert_id":1,"alert_count":1,"opened_at":"TIME","window_ends_at":"TIME","last_alert_at":"TIME","closed_at":"TIME","closed_by":"token:responder-token"}}`},
		{"closed list", "GET", "/v1/incidents?status=open", viewer, 200, `{"incidents":[]}`},
		{"unknown", "GET", "/v1/incidents/999", viewer, 404, `{"error":{"code":"not_found","message":"no incident 999"}}`},
		{"not a number", "POST", "/v1/incidents/x/close", responder, 400, `{"error":{"code":"invalid_parameter","message":"incident id \"x\" is not a positive whole number"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, tc.method, tc.path, tc.token, "")
			if got := scrubTimes(compact(t, body)); code != tc.code || got != tc.want {
				t.Fatalf("got %d %s\nwant %d %s", code, got, tc.code, tc.want)
			}
		})
	}
	code, body, _ := f.do(t, "GET", "/v1/incidents/"+id, viewer, "")
	var d api.IncidentDetail
	if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil || d.ID != incID || len(d.Alerts) != 1 || d.Alerts[0].ID != ins[0].ID || len(d.Runs) != 1 || d.Runs[0].ID != "alert-alpha-1" || d.Status != "closed" {
		t.Fatalf("show: %d %s", code, body)
	}
}
