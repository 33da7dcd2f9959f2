package cli

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/playbook"
)

const cliToken = "tok-cli-8c1f5e"

// fakeCECP is a small stateful CECP tenant for the command tests.
type fakeCECP struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []string // METHOD PATH?QUERY
	bodies   []string // POST bodies
	batches  map[string][]map[string]any
	polls    map[string]int
	failLast bool // the last mail of every batch fails
	senders  []string
	urls     []string
}

func newFakeCECP(t *testing.T) *fakeCECP {
	f := &fakeCECP{batches: map[string][]map[string]any{}, polls: map[string]int{}, senders: []string{"old@evil.example"}, urls: []string{"evil.example/pay/"}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCECP) env() map[string]string { return map[string]string{"PARRY_CECP_TOKEN": cliToken} }

func (f *fakeCECP) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeCECP) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if r.Method == "POST" {
		f.bodies = append(f.bodies, string(body))
	}
	send := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != "Bearer "+cliToken {
		send(401, map[string]any{"code": 4010001, "traceId": "trace-401", "msg": "Authentication token not found"})
		return
	}
	q := r.URL.Query()
	switch r.Method + " " + r.URL.Path {
	case "GET /v1/sweeping/mails":
		if q.Get("sender") == "nobody@example.com" {
			send(400, map[string]any{"code": 4000002, "traceId": "trace-400", "msg": "Invalid parameter"})
			return
		}
		mail := func(i int, box string) map[string]any {
			return map[string]any{"mailbox": box, "mail_message_sender": "billing@evil.example", "mail_message_recipient": []string{box},
				"mail_message_subject": "Invoice 4411 overdue", "mail_message_id": fmt.Sprintf("<m%d@evil.example>", i),
				"mail_unique_id": fmt.Sprintf("AAMk%d", i), "mail_message_delivery_time": fmt.Sprintf("2026-01-02T00:51:0%d.000Z", i),
				"mail_urls": []string{"https://evil.example/pay"}, "mail_attachments": []any{}, "mail_internet_headers": []any{},
				"source_ip": "203.0.113.7", "source_domain": "evil.example"}
		}
		if q.Get("skiptoken") == "" {
			send(200, map[string]any{"current_link": "", "next_link": f.srv.URL + "/v1/sweeping/mails?skiptoken=p2", "traceId": "t1",
				"value": []any{mail(1, "alice@contoso.example"), mail(2, "bob@contoso.example")}})
			return
		}
		send(200, map[string]any{"next_link": "", "traceId": "t2", "value": []any{mail(3, "carol@contoso.example")}})
	case "POST /v1/mitigation/mails", "POST /v1/mitigation/accounts":
		var items []map[string]any
		_ = json.Unmarshal(body, &items)
		id := fmt.Sprintf("batch-%d", len(f.batches)+1)
		f.batches[id] = items
		send(201, map[string]any{"code": 0, "msg": "", "batch_id": id, "traceId": "trace-" + id})
	case "GET /v1/mitigation/mails", "GET /v1/mitigation/accounts":
		id := q.Get("batch_id")
		f.polls[id]++
		var acts []map[string]any
		for i, it := range f.batches[id] {
			status, code, msg := "Executing", 0, ""
			if f.polls[id] > 1 {
				status = "Success"
				if f.failLast && i == len(f.batches[id])-1 {
					status, code, msg = "Failed", -999, "The action for these mails failed."
				}
			}
			acts = append(acts, map[string]any{"action_id": fmt.Sprintf("%s-%d", id, i), "batch_id": id, "action_type": it["action_type"],
				"service": "exchange", "account_provider": "office365", "account_user_email": it["account_user_email"], "mailbox": it["mailbox"],
				"mail_message_id": it["mail_message_id"], "mail_unique_id": it["mail_unique_id"], "status": status,
				"action_requested_at": "2026-01-02T01:00:02.236Z", "action_executed_at": "", "error_code": code, "error_message": msg})
		}
		send(200, map[string]any{"code": 0, "msg": "", "count": len(acts), "next_link": nil, "traceId": "t", "actions": acts})
	case "GET /v1/remediation/mails":
		send(200, map[string]any{"code": 0, "message": "Get rules successfully.", "rules": map[string]any{"senders": f.senders, "urls": f.urls,
			"filehashes": []string{}, "file256hashes": []string{}}})
	case "POST /v1/remediation/mails":
		var up struct {
			ActionType string              `json:"action_type"`
			Rules      map[string][]string `json:"rules"`
		}
		_ = json.Unmarshal(body, &up)
		if up.ActionType == "create" {
			f.senders = append(f.senders, up.Rules["senders"]...)
			f.urls = append(f.urls, up.Rules["urls"]...)
		} else {
			f.senders, f.urls = without(f.senders, up.Rules["senders"]), without(f.urls, up.Rules["urls"])
		}
		send(200, map[string]any{"code": 0, "message": "Add rules successfully."})
	case "GET /v1/siem/security_events":
		send(200, map[string]any{"next_link": "", "last_log_item_generation_time": "2026-01-02T00:51:40.000Z", "traceId": "t",
			"security_events": []any{map[string]any{"log_item_id": "log-1", "service": "Exchange", "event": "security_risk_scan",
				"message": map[string]any{"affected_user": "alice@contoso.example", "detection_time": "2026-01-02T00:51:30.000Z",
					"security_risk_name": "TROJ_GEN.R002C0PLQ20", "action": "Quarantine", "action_result": "success"}}}})
	case "GET /v1/siem/quarantine_events":
		send(200, map[string]any{"next_link": "", "traceId": "t", "quarantine_events": []any{map[string]any{"service": "Exchange Online",
			"message": map[string]any{"mailbox": "alice@contoso.example", "detection_time": "2026-01-02T00:52:10.000Z", "mail_unique_id": "AAMk1",
				"mail_log_id": "log-1", "mail_message_id": "<m1@evil.example>", "mail_message_sender": "billing@evil.example",
				"mail_message_subject": "Invoice 4411 overdue", "mail_status": "Quarantined", "mail_quarantine_type": "Malware",
				"mail_blob_path": "q/1.eml", "mail_backup_blob_path": "b/1.eml", "mail_message_direction": "Inbound"}}}})
	case "POST /v1/siem/quarantine_mails":
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write([]byte("PK\x03\x04fake zip"))
	default:
		send(404, map[string]any{"code": 404, "msg": "no route " + r.URL.Path})
	}
}

func without(list, drop []string) []string {
	var out []string
	for _, v := range list {
		keep := true
		for _, d := range drop {
			if v == d {
				keep = false
			}
		}
		if keep {
			out = append(out, v)
		}
	}
	return out
}

func TestCECPSweep(t *testing.T) {
	f := newFakeCECP(t)
	out, errOut, code := runCLI(t, f.env(), "", "cecp", "sweep", "--base-url", f.srv.URL, "--sender", "billing@evil.example", "--lastndays", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "DELIVERED            MAILBOX                SENDER                SUBJECT               ATTACHMENTS  URLS  MESSAGE ID\n" +
		"2026-01-02 00:51:01  alice@contoso.example  billing@evil.example  Invoice 4411 overdue  0            1     <m1@evil.example>\n" +
		"2026-01-02 00:51:02  bob@contoso.example    billing@evil.example  Invoice 4411 overdue  0            1     <m2@evil.example>\n"
	if out != want {
		t.Errorf("stdout\n%s\nwant\n%s", out, want)
	}
	if errOut != "parry: more results on the next page: use --all to follow them\n" {
		t.Errorf("stderr %q", errOut)
	}
	if got := f.log(); len(got) != 1 || got[0] != "GET /v1/sweeping/mails?lastndays=3&limit=20&sender=billing%40evil.example" {
		t.Errorf("requests %v", got)
	}

	_, errOut, _ = runCLI(t, f.env(), "", "cecp", "sweep", "--base-url", f.srv.URL, "--limit", "2")
	if errOut != "parry: more results on the next page: use --all to follow them\n" {
		t.Errorf("--limit 2: stderr %q", errOut)
	}
	out, errOut, code = runCLI(t, f.env(), "", "cecp", "sweep", "--base-url", f.srv.URL, "--all", "--json", "--limit", "2")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list struct{ Items []map[string]any }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 3 {
		t.Fatalf("--json output %d mails, %v:\n%s", len(list.Items), err, out)
	}
	if !strings.HasPrefix(out, "{\n  \"items\": [\n    {\n      \"mailbox\": \"alice@contoso.example\",\n      \"mail_message_sender\": \"billing@evil.example\",\n") ||
		!strings.Contains(out, `"mail_message_delivery_time": "2026-01-02T00:51:01.000Z"`) || !strings.HasSuffix(out, "    }\n  ]\n}\n") {
		t.Errorf("--json output:\n%s", out)
	}
}

// fakeRunsAPI is a parry API that records the run a command starts and answers that it ended with output.
type fakeRunsAPI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	starts []apitypes.StartRunRequest
	output string
}

func newFakeRunsAPI(t *testing.T, output string) *fakeRunsAPI {
	f := &fakeRunsAPI{output: output}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		run := apitypes.Run{ID: "run-cli-1", PlaybookName: "cli-mitigate-mails", Status: apitypes.RunSucceeded, Output: json.RawMessage(f.output)}
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/runs":
			var req apitypes.StartRunRequest
			_ = json.NewDecoder(r.Body).Decode(&req)
			f.mu.Lock()
			f.starts = append(f.starts, req)
			f.mu.Unlock()
			run.Status = apitypes.RunRunning
			w.WriteHeader(201)
			_ = json.NewEncoder(w).Encode(run)
		case r.Method == "GET" && r.URL.Path == "/v1/runs/run-cli-1":
			_ = json.NewEncoder(w).Encode(apitypes.RunView{Run: run, Steps: []apitypes.Step{{ID: "mitigate", Kind: "action",
				Action: "cecp.mitigate_mails", Status: apitypes.StepSucceeded}}, Waiting: []apitypes.Wait{}})
		default:
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such route"}}`))
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRunsAPI) env() map[string]string {
	return map[string]string{"PARRY_URL": f.srv.URL, "PARRY_TOKEN": "tok", "PARRY_DATA_DIR": os.TempDir()}
}

// TestCECPSweepIntoMitigate is the pipeline of the issue, sweep --json | mitigate-mails --from -: the mails go to
// the server as a one-step run of cecp.mitigate_mails (batched with every run, never posted twice, audited),
// whose playbook lints clean and gets the mails as they were swept.
func TestCECPSweepIntoMitigate(t *testing.T) {
	f := newFakeCECP(t)
	swept, errOut, code := runCLI(t, f.env(), "", "cecp", "sweep", "--base-url", f.srv.URL, "--all", "--json")
	if code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, errOut)
	}
	api := newFakeRunsAPI(t, `{"result":{"batch_ids":["b-1"],"succeeded":0,"skipped":0,"failed":0,"pending":3}}`)
	_, errOut, code = runCLI(t, api.env(), swept, "cecp", "mitigate-mails", "--connection", "prod", "--action", "quarantine", "--from", "-")
	if code != 0 || !strings.Contains(errOut, "run run-cli-1 started: quarantine of 3 mails on connection prod") ||
		!strings.Contains(errOut, "batches b-1: 0 succeeded, 0 skipped, 0 failed, 3 pending") {
		t.Fatalf("mitigate: exit %d: %s", code, errOut)
	}
	req := api.starts[0]
	p, diags := playbook.Load("cli.yaml", []byte(req.Source))
	if p == nil {
		t.Fatalf("the run's playbook does not compile: %v\n%s", diags, req.Source)
	}
	a := p.Steps[0].Action
	if a.Name != "cecp.mitigate_mails" || a.With["action"] != "quarantine" || a.With["connection"] != "prod" || a.With["wait"] != false {
		t.Errorf("step %+v", a)
	}
	mails, _ := req.Inputs["mails"].([]any)
	if len(mails) != 3 || mails[0].(map[string]any)["mail_unique_id"] != "AAMk1" {
		t.Errorf("inputs %v", req.Inputs)
	}
}

func TestCECPMitigateWait(t *testing.T) {
	api := newFakeRunsAPI(t, `{"result":{"batch_ids":["b-1"],"succeeded":1,"skipped":0,"failed":1,"pending":0}}`)
	mails := `{"mailbox":"alice@contoso.example","mail_unique_id":"AAMk1","mail_message_id":"<m1@evil.example>"}
{"mailbox":"bob@contoso.example","mail_unique_id":"AAMk2"}`
	_, errOut, code := runCLI(t, api.env(), mails, "cecp", "mitigate-mails", "--action", "delete", "--from", "-", "--wait")
	if code != 1 || !strings.Contains(errOut, "parry: 1 of the 2 actions failed") {
		t.Fatalf("exit %d, want 1 (an action failed): %s", code, errOut)
	}
	if w := api.starts[0].Source; !strings.Contains(w, `"wait":true`) || strings.Contains(w, `"connection"`) {
		t.Errorf("with --wait and no --connection: %s", w)
	}
	api.output = `{"result":{"batch_ids":["b-2"],"succeeded":2,"skipped":0,"failed":0,"pending":0}}`
	out, errOut, code := runCLI(t, api.env(), "", "cecp", "mitigate-accounts", "--action", "revoke-sessions",
		"alice@contoso.example", "bob@contoso.example", "--wait", "--json")
	if code != 0 {
		t.Fatalf("accounts: exit %d: %s", code, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["run_id"] != "run-cli-1" || res["status"] != "succeeded" {
		t.Errorf("accounts --json:\n%s", out)
	}
	p, _ := playbook.Load("cli.yaml", []byte(api.starts[1].Source))
	if p == nil || p.Steps[0].Action.Name != "cecp.mitigate_accounts" || p.Steps[0].Action.With["action"] != "revoke_sessions" {
		t.Errorf("accounts run: %s", api.starts[1].Source)
	}
	// Straight to a tenant is refused: the CLI never spends the quota outside the broker.
	if _, errOut, code := runCLI(t, api.env(), "", "cecp", "mitigate-accounts", "--base-url", "http://x", "--action", "disable", "a@b.example"); code != 2 ||
		!strings.Contains(errOut, "mitigations go through parry's server") {
		t.Errorf("--base-url: %d %s", code, errOut)
	}
}

func TestCECPMitigationResults(t *testing.T) {
	f := newFakeCECP(t)
	c, err := cecp.New(cecp.Options{BaseURL: f.srv.URL, Token: cecp.StaticToken(cliToken)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MitigateAccounts(context.Background(), []cecp.AccountAction{{ActionType: cecp.AccountDisable, Service: "exchange",
		AccountProvider: "office365", AccountUserEmail: "alice@contoso.example"}}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, f.env(), "", "cecp", "mitigation-results", "--base-url", f.srv.URL, "--accounts", "--batch-id", "batch-1")
	if code != 0 {
		t.Fatal(errOut)
	}
	want := "REQUESTED            STATUS     ACTION           TARGET                 ERROR  BATCH ID\n" +
		"2026-01-02 01:00:02  Executing  ACCOUNT_DISABLE  alice@contoso.example  -      batch-1\n"
	if out != want {
		t.Errorf("stdout\n%s\nwant\n%s", out, want)
	}
	if last := f.log()[len(f.log())-1]; last != "GET /v1/mitigation/accounts?batch_id=batch-1&limit=500" {
		t.Errorf("request %s", last)
	}
}

func TestCECPBlocklist(t *testing.T) {
	f := newFakeCECP(t)
	base := []string{"--base-url", f.srv.URL}
	out, _, code := runCLI(t, f.env(), "", append([]string{"cecp", "blocklist", "add", "--sender", "old@evil.example", "--sender", "new@evil.example",
		"--url", "https://evil.example/pay"}, base...)...)
	if code != 0 || out != "added    sender  new@evil.example\npresent  sender  old@evil.example\npresent  url     https://evil.example/pay\n" {
		t.Errorf("add: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, f.env(), "", append([]string{"cecp", "blocklist", "get"}, base...)...)
	if code != 0 || out != "TYPE    ENTRY\nsender  old@evil.example\nsender  new@evil.example\nurl     evil.example/pay/\n" {
		t.Errorf("get: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, f.env(), "", append([]string{"cecp", "blocklist", "get", "--json"}, base...)...)
	if code != 0 || out != "{\n  \"senders\": [\n    \"old@evil.example\",\n    \"new@evil.example\"\n  ],\n  \"urls\": [\n    \"evil.example/pay/\"\n  ],\n  \"filehashes\": [],\n  \"file256hashes\": []\n}\n" {
		t.Errorf("get --json: %d\n%s", code, out)
	}
	out, _, code = runCLI(t, f.env(), "", append([]string{"cecp", "blocklist", "remove", "--url", "HTTPS://evil.example/pay", "--sender", "gone@x.example"}, base...)...)
	if code != 0 || out != "removed  url     evil.example/pay/\nabsent   sender  gone@x.example\n" {
		t.Errorf("remove: %d\n%s", code, out)
	}
	if got := f.bodies[len(f.bodies)-1]; got != `{"action_type":"delete","rules":{"urls":["evil.example/pay/"]}}` {
		t.Errorf("remove body %s", got)
	}
}

func TestCECPEvents(t *testing.T) {
	f := newFakeCECP(t)
	out, errOut, code := runCLI(t, f.env(), "", "cecp", "security-events", "--base-url", f.srv.URL, "--service", "exchange", "--event", "securityrisk")
	want := "DETECTED             SERVICE   EVENT               USER                   THREAT                ACTION              LOG ITEM ID\n" +
		"2026-01-02 00:51:30  Exchange  security_risk_scan  alice@contoso.example  TROJ_GEN.R002C0PLQ20  Quarantine/success  log-1\n"
	if code != 0 || out != want {
		t.Errorf("security-events: %d %s\n%s\nwant\n%s", code, errOut, out, want)
	}
	out, errOut, code = runCLI(t, f.env(), "", "cecp", "quarantine-events", "--base-url", f.srv.URL)
	want = "DETECTED             MAILBOX                SENDER                SUBJECT               TYPE     STATUS       MESSAGE ID\n" +
		"2026-01-02 00:52:10  alice@contoso.example  billing@evil.example  Invoice 4411 overdue  Malware  Quarantined  <m1@evil.example>\n"
	if code != 0 || out != want {
		t.Errorf("quarantine-events: %d %s\n%s\nwant\n%s", code, errOut, out, want)
	}
	log := f.log()
	if log[0] != "GET /v1/siem/security_events?event=securityrisk&limit=500&service=exchange" || log[1] != "GET /v1/siem/quarantine_events?limit=500&service=exchange" {
		t.Errorf("requests %v", log)
	}
}

func TestCECPQuarantineDownload(t *testing.T) {
	f := newFakeCECP(t)
	events, _, code := runCLI(t, f.env(), "", "cecp", "quarantine-events", "--base-url", f.srv.URL, "--json")
	if code != 0 {
		t.Fatal(events)
	}
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "mail.zip")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-zip\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, f.env(), events, "cecp", "quarantine-download", "--base-url", f.srv.URL, "--from", "-", "-o", zipPath,
		"--password-file", pwFile, "--mailbox", "override@contoso.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := fmt.Sprintf("%s\t12 bytes\tsha256 %x\n", zipPath, sha256.Sum256([]byte("PK\x03\x04fake zip"))); out != want {
		t.Errorf("stdout %q", out)
	}
	if data, err := os.ReadFile(zipPath); err != nil || string(data) != "PK\x03\x04fake zip" {
		t.Errorf("file %q %v", data, err)
	}
	if st, err := os.Stat(zipPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v %v", st.Mode(), err)
	}
	body := f.bodies[0]
	if !strings.Contains(body, `"mailbox":"override@contoso.example"`) || !strings.Contains(body, `"mail_blob_path":"q/1.eml"`) ||
		!strings.Contains(body, `"compression_password":"s3cret-zip"`) {
		t.Errorf("body %s", body)
	}
}

func TestCECPErrors(t *testing.T) {
	f := newFakeCECP(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "parry.yaml")
	cfg := "cecp:\n  default_connection: sim\n  connections:\n    - name: sim\n      base_url: " + f.srv.URL + "\n      token_secret: cecp-sim\n      rate_limit: 1/300ms\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "token")
	_ = os.WriteFile(tokFile, []byte(cliToken+"\n"), 0o600)
	badTok := filepath.Join(dir, "bad")
	_ = os.WriteFile(badTok, []byte("wrong-token-123\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	noSecretCfg := filepath.Join(dir, "no-secret.yaml")
	_ = os.WriteFile(noSecretCfg, []byte("cecp:\n  connections:\n    - name: prod\n      region: eu\n"), 0o600)
	simEnv := map[string]string{"PARRY_SECRET_CECP_SIM": cliToken}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"api error", nil, []string{"cecp", "blocklist", "get", "--base-url", f.srv.URL, "--token-file", badTok}, 1,
			"parry: GET /v1/remediation/mails: HTTP 401 Unauthorized, vendor code 4010001: \"Authentication token not found\" (trace id trace-401)\n"},
		{"400", f.env(), []string{"cecp", "sweep", "--base-url", f.srv.URL, "--sender", "nobody@example.com"}, 1,
			"parry: GET /v1/sweeping/mails: HTTP 400 Bad Request, vendor code 4000002: \"Invalid parameter\" (trace id trace-400)\n"},
		{"no tenant", f.env(), []string{"cecp", "sweep"}, 2,
			"parry: name a CECP tenant: --connection NAME (cecp.connections in the config), --base-url URL or --region REGION\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"connection and base url", f.env(), []string{"cecp", "sweep", "--connection", "x", "--base-url", f.srv.URL}, 2,
			"parry: --connection cannot be combined with --base-url or --region\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"unknown connection", simEnv, []string{"--config", cfgPath, "cecp", "sweep", "--connection", "prod"}, 2,
			"parry: unknown CECP connection \"prod\" (configured: sim)\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		// A missing token is a failure saying how to give one, not a usage mistake (issue 12).
		{"no token", nil, []string{"cecp", "sweep", "--region", "eu"}, 1,
			"parry: no CECP token: give one with --token-file FILE or set PARRY_CECP_TOKEN\n"},
		{"no token for the connection", nil, []string{"--config", noSecretCfg, "cecp", "sweep", "--connection", "prod"}, 1,
			"parry: no CECP token: connection \"prod\" has no token_secret; give one with --token-file FILE, set PARRY_CECP_TOKEN, or give the connection a token_secret in the config\n"},
		{"empty token file", nil, []string{"cecp", "sweep", "--region", "eu", "--token-file", empty}, 2,
			"parry: reading --token-file: " + empty + " is empty\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"bad region", f.env(), []string{"cecp", "sweep", "--region", "mars"}, 2,
			"parry: creating CECP client: unknown region \"mars\" (one of us, eu, jp, au, uk, ca, sg, in)\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"invalid query", f.env(), []string{"cecp", "sweep", "--base-url", f.srv.URL, "--limit", "5000", "--lastndays", "2", "--start", "now-1h"}, 2,
			"parry: invalid sweep query: lastndays cannot be combined with start or end; limit 5000 is outside 1..1000\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"bad time", f.env(), []string{"cecp", "sweep", "--base-url", f.srv.URL, "--start", "yesterday"}, 2,
			"parry: invalid argument \"yesterday\" for \"--start\" flag: \"yesterday\" is not a time: use RFC 3339 (2026-01-02T03:04:05Z), a date (2026-01-02), now or now-DURATION\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"bad action", f.env(), []string{"cecp", "mitigate-mails", "--base-url", f.srv.URL, "--action", "delet", "--from", "-"}, 2,
			"parry: --action \"delet\" is not one of delete, quarantine, restore (did you mean \"delete\"?)\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"empty input", f.env(), []string{"cecp", "mitigate-mails", "--base-url", f.srv.URL, "--action", "delete", "--from", os.DevNull}, 2,
			"parry: " + os.DevNull + " holds no mails\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"accounts need emails", f.env(), []string{"cecp", "mitigate-accounts", "--base-url", f.srv.URL, "--action", "disable"}, 2,
			"parry: parry cecp mitigate-accounts needs at least one EMAIL\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"blocklist needs entries", f.env(), []string{"cecp", "blocklist", "add", "--base-url", f.srv.URL}, 2,
			"parry: give at least one --sender, --url, --sha1 or --sha256\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"download needs output", f.env(), []string{"cecp", "quarantine-download", "--base-url", f.srv.URL}, 2,
			"parry: -o FILE is required (- writes the ZIP to stdout)\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdin := `{"mailbox":"a@b.example","mail_unique_id":"u"}`
			_, errOut, code := runCLI(t, tc.env, stdin, tc.args...)
			if code != tc.code || errOut != tc.stderr {
				t.Errorf("exit %d, stderr\n%s\nwant exit %d, stderr\n%s", code, errOut, tc.code, tc.stderr)
			}
			if strings.Contains(errOut, cliToken) {
				t.Error("stderr shows the token")
			}
		})
	}

	// The configured connection: token from its secret, quota from its rate_limit (1 per 300ms), so the add's
	// second request (read, then write) waits and says so.
	out, errOut, code := runCLI(t, simEnv, "", "--config", cfgPath, "cecp", "blocklist", "add", "--sender", "x@evil.example")
	if code != 0 || out != "added  sender  x@evil.example\n" {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if !strings.HasPrefix(errOut, "parry: waiting ") || !strings.HasSuffix(errOut, " for a slot of the CECP quota of sim (1 per 300ms)\n") {
		t.Errorf("stderr %q", errOut)
	}
}
