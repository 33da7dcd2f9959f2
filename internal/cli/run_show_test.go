package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api/apitypes"
)

// runShowAPI is a fake API with two alert runs: one whose alert it serves, one whose alert is gone.
func runShowAPI(t *testing.T, created time.Time) (map[string]string, func() []string) {
	t.Helper()
	long := strings.Repeat("x", 500)
	inputs := `{"sender":"a@evil.test","lookback":7,"tags":["x","y"],"note":null,"body":"` + long + `","big":12345678901234567890}`
	alertID, goneID, incident := int64(42), int64(43), int64(7)
	views := map[string]apitypes.RunView{
		"alert-phish-42": {Run: apitypes.Run{ID: "alert-phish-42", PlaybookName: "phish", PlaybookVersion: 3, PlaybookSHA256: "abcdef0123456789",
			Status: "running", StartedBy: "dispatcher", IncidentID: &incident, AlertID: &alertID, Inputs: json.RawMessage(inputs), CreatedAt: created},
			Steps:   []apitypes.Step{{ID: "sweep", Kind: "action", Action: "cecp.sweep", Status: "succeeded", Attempts: 1, Input: map[string]any{"sender": "a@evil.test"}}},
			Waiting: []apitypes.Wait{}},
		"approve-1": {Run: apitypes.Run{ID: "approve-1", PlaybookName: "ask", PlaybookVersion: 1, PlaybookSHA256: "abcdef0123456789",
			Status: "waiting", StartedBy: "token:ann", Inputs: json.RawMessage(`{}`), CreatedAt: created},
			Steps: []apitypes.Step{{ID: "ok", Kind: "approval", Status: "waiting"}},
			Waiting: []apitypes.Wait{{Step: "ok", Kind: "approval", Until: created.Add(time.Hour), Prompt: "Disable bob?",
				Detail: `chat notification to soc-chat failed (VendorRejected: posting to webhook "soc-chat": HTTP 404 Not Found); the approval waits all the same`}}},
		"alert-phish-43": {Run: apitypes.Run{ID: "alert-phish-43", PlaybookName: "phish", PlaybookVersion: 3, PlaybookSHA256: "abcdef0123456789",
			Status: "pending", StartedBy: "dispatcher", AlertID: &goneID, Inputs: json.RawMessage(`{}`), CreatedAt: created},
			Steps: []apitypes.Step{}, Waiting: []apitypes.Wait{}},
	}
	var mu sync.Mutex
	var calls []string
	called := func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.URL.RequestURI())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		called(r)
		v, ok := views[r.PathValue("id")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(apitypes.ErrorBody{Error: apitypes.Error{Code: apitypes.CodeNotFound, Message: "no run " + r.PathValue("id")}})
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	})
	mux.HandleFunc("GET /v1/alerts/{id}", func(w http.ResponseWriter, r *http.Request) {
		called(r)
		if r.PathValue("id") != "42" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(apitypes.ErrorBody{Error: apitypes.Error{Code: apitypes.CodeNotFound, Message: "no alert " + r.PathValue("id")}})
			return
		}
		_ = json.NewEncoder(w).Encode(apitypes.Alert{ID: 42, Source: "mail gateway", Kind: "phish", Severity: "high",
			Title: "Odd <b>mail</b>\x1b[31m", Data: json.RawMessage(`{"password":"hunter2"}`), Status: "dispatched"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return map[string]string{"PARRY_URL": srv.URL, "PARRY_TOKEN": "tok"}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}
}

func TestRunShowInputsAndAlert(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env, calls := runShowAPI(t, created)
	head := `run       alert-phish-42
playbook  phish v3 (sha256 abcdef012345)
status    running
incident  7
alert     42 phish "Odd <b>mail</b>\x1b[31m" (severity high, source "mail gateway")
created   ` + created.Local().Format(time.DateTime) + ` by dispatcher

inputs
  big       12345678901234567890
  body      "` + strings.Repeat("x", 300) + `…(200 more bytes)"
  lookback  7
  note      null
  sender    "a@evil.test"
  tags      ["x","y"]

STEP   KIND        STATUS     ATTEMPTS  DURATION  ERROR
sweep  cecp.sweep  succeeded  1         -         

sweep
  input:  {"sender":"a@evil.test"}
`
	out, errOut, code := runCLI(t, env, "", "run", "show", "alert-phish-42")
	if code != 0 || out != head || errOut != "" {
		t.Fatalf("run show: %d\n%s\nwant\n%s\nstderr %q", code, out, head, errOut)
	}
	if got := strings.Join(calls(), " "); got != "/v1/runs/alert-phish-42 /v1/alerts/42" {
		t.Fatalf("calls %s", got)
	}
	// --full: no value is shortened by runs.Truncate; a line still stops at 400 bytes, as a step's does.
	out, _, code = runCLI(t, env, "", "run", "show", "alert-phish-42", "--full")
	if want := `  body      "` + strings.Repeat("x", 399) + "…\n"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("run show --full: %d\n%s", code, out)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("run show prints the alert's data:\n%s", out)
	}
}

// An alert the API does not give is shown by id, with why on stderr; the run is still shown (and a run without
// inputs has no inputs block).
func TestRunShowAlertUnreadable(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env, _ := runShowAPI(t, created)
	out, errOut, code := runCLI(t, env, "", "run", "show", "alert-phish-43")
	want := `run       alert-phish-43
playbook  phish v3 (sha256 abcdef012345)
status    pending
alert     43
created   ` + created.Local().Format(time.DateTime) + ` by dispatcher

STEP  KIND  STATUS  ATTEMPTS  DURATION  ERROR
`
	if code != 0 || out != want || errOut != "parry: reading alert 43 of the run: no alert 43 (HTTP 404 not_found)\n" {
		t.Fatalf("run show: %d\n%s\nwant\n%s\nstderr %q", code, out, want, errOut)
	}
}

// A waiting approval's line says how its chat notification (approval.notify) went.
func TestRunShowApprovalNotification(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env, _ := runShowAPI(t, created)
	out, errOut, code := runCLI(t, env, "", "run", "show", "approve-1")
	want := `
waiting for
  approval of ok until ` + created.Add(time.Hour).Local().Format(time.DateTime) + `: Disable bob?
    parry run approve approve-1 ok [--reject] [--comment TEXT]
    chat notification to soc-chat failed (VendorRejected: posting to webhook "soc-chat": HTTP 404 Not Found); the approval waits all the same
`
	if code != 0 || !strings.HasSuffix(out, want) {
		t.Fatalf("run show: %d %s\n%s\nwant the end\n%s", code, errOut, out, want)
	}
}
