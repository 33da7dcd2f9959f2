package activities

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/quota"
)

func TestSweep(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	camp := h.sim.Tenants()[0].Campaigns[0]
	out := h.mustExec("cecp.sweep", "sweep", map[string]any{"sender": camp.Sender, "lastndays": 30.0})
	mails := out["mails"].([]any)
	if len(mails) != camp.Mails || out["count"] != float64(camp.Mails) || out["truncated"] != false {
		t.Fatalf("sweep found %d mails (count %v, truncated %v), the campaign has %d", len(mails), out["count"], out["truncated"], camp.Mails)
	}
	for _, m := range mails {
		if got := m.(map[string]any)["mail_message_sender"]; got != camp.Sender {
			t.Errorf("mail from %v in a sweep for %s", got, camp.Sender)
		}
	}

	// max_results cuts the result short and says so; one more than what exists does not.
	if camp.Mails < 2 {
		t.Fatalf("campaign too small for the truncation test: %d", camp.Mails)
	}
	out = h.mustExec("cecp.sweep", "sweep_cut", map[string]any{"sender": camp.Sender, "lastndays": 30.0, "max_results": 1.0})
	if n := len(out["mails"].([]any)); n != 1 || out["truncated"] != true {
		t.Errorf("max_results 1: %d mails, truncated %v", n, out["truncated"])
	}
	out = h.mustExec("cecp.sweep", "sweep_pages", map[string]any{"sender": camp.Sender, "lastndays": 30.0, "limit": 1.0,
		"max_results": float64(camp.Mails)})
	if n := len(out["mails"].([]any)); n != camp.Mails || out["truncated"] != false {
		t.Errorf("page size 1, max_results = all: %d mails, truncated %v", n, out["truncated"])
	}
	out = h.mustExec("cecp.sweep", "sweep_pages_cut", map[string]any{"sender": camp.Sender, "lastndays": 30.0, "limit": 1.0,
		"max_results": float64(camp.Mails - 1)})
	if n := len(out["mails"].([]any)); n != camp.Mails-1 || out["truncated"] != true {
		t.Errorf("page size 1, max_results = all but one: %d mails, truncated %v", n, out["truncated"])
	}
}

func TestEventsAndResults(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	now := time.Now().UTC()
	if _, err := h.sim.AddMails("", []cecpsim.NewMail{{Mailbox: h.sim.Tenants()[0].Mailboxes[0], MailMessageSender: "evil@bad.example",
		MailMessageSubject: "Invoice", MailMessageDeliveryTime: now.Add(-time.Hour).Format(time.RFC3339), State: "quarantined"}}); err != nil {
		t.Fatal(err)
	}
	out := h.mustExec("cecp.quarantine_events", "q", map[string]any{"start": now.Add(-6 * 24 * time.Hour).Format(time.RFC3339),
		"end": now.Add(time.Minute).Format(time.RFC3339)})
	events := out["quarantine_events"].([]any)
	if len(events) == 0 {
		t.Fatal("no quarantine events in the simulator's week")
	}
	msg := events[0].(map[string]any)["message"].(map[string]any)
	if msg["mail_blob_path"] == "" || msg["mail_log_id"] == "" {
		t.Errorf("quarantine event lacks download and restore fields: %v", msg)
	}

	out = h.mustExec("cecp.security_events", "s", map[string]any{"service": "exchange", "event": "securityrisk",
		"start": now.Add(-71 * time.Hour).Format(time.RFC3339), "end": now.Format(time.RFC3339)})
	if out["count"].(float64) != float64(len(out["security_events"].([]any))) {
		t.Errorf("count %v for %d events", out["count"], len(out["security_events"].([]any)))
	}

	out = h.mustExec("cecp.mitigation_results", "r", map[string]any{"start": now.Add(-time.Hour).Format(time.RFC3339),
		"end": now.Add(time.Minute).Format(time.RFC3339)})
	if out["count"] != 0.0 || len(out["actions"].([]any)) != 0 {
		t.Errorf("results before any mitigation: %v", out)
	}
	out = h.mustExec("cecp.blocklist", "b", map[string]any{})
	for _, k := range []string{"senders", "urls", "filehashes", "file256hashes"} {
		if l, ok := out[k].([]any); !ok || len(l) != 0 {
			t.Errorf("blocklist %s = %v, want []", k, out[k])
		}
	}
}

func TestConnectionChoice(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) {
		c.CECP.Connections = append(c.CECP.Connections, config.CECPConnection{Name: "other", Region: "eu", TokenSecret: "x"})
	}})
	_, err := h.exec("cecp.blocklist", "b", map[string]any{})
	wantErr(t, err, action.InvalidInput, "choosing the CECP connection: no CECP connection named and no cecp.default_connection set")
	_, err = h.exec("cecp.blocklist", "b", map[string]any{"connection": "prod"})
	wantErr(t, err, action.InvalidInput, `choosing the CECP connection: unknown CECP connection "prod" (configured: sim, other)`)
	h.mustExec("cecp.blocklist", "b", map[string]any{"connection": "sim"})

	h2 := newHarness(t, harnessOpts{config: func(c *config.Config) {
		c.CECP.Connections = append(c.CECP.Connections, config.CECPConnection{Name: "other", Region: "eu", TokenSecret: "x"})
		c.CECP.DefaultConnection = "sim"
	}})
	h2.mustExec("cecp.blocklist", "b", map[string]any{})
}

// vendorStub answers every request with one status, body and headers, counting requests.
type vendorStub struct {
	status int
	body   string
	header http.Header
	calls  int
}

func (v *vendorStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.calls++
	for k, vs := range v.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(v.status)
	w.Write([]byte(v.body))
}

func TestVendorErrors(t *testing.T) {
	tests := []struct {
		name   string
		stub   vendorStub
		typ    string
		msg    string
		delay  time.Duration
		action string
		with   map[string]any
	}{
		{name: "401", stub: vendorStub{status: 401, body: `{"code":401,"msg":"Authentication token not found","traceId":"t-401"}`},
			typ: action.VendorAuth,
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 401 Unauthorized, vendor code 401: "Authentication token not found" (trace id t-401)`},
		{name: "403", stub: vendorStub{status: 403, body: `{"code":403,"msg":"no permission","traceId":"t-403"}`},
			typ: action.VendorAuth,
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 403 Forbidden, vendor code 403: "no permission" (trace id t-403)`},
		{name: "429 with Retry-After", stub: vendorStub{status: 429, body: `{"code":-4290001,"msg":"Maximum allowed requests exceeded","traceId":"t-429"}`,
			header: http.Header{"Retry-After": {"17"}}},
			typ: action.VendorRateLimited, delay: 17 * time.Second,
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 429 Too Many Requests, vendor code -4290001: "Maximum allowed requests exceeded" (trace id t-429), retry after 17s`},
		{name: "429 without Retry-After waits a window", stub: vendorStub{status: 429, body: `{"code":-4290001,"msg":"Maximum allowed requests exceeded"}`},
			typ: action.VendorRateLimited, delay: time.Minute,
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 429 Too Many Requests, vendor code -4290001: "Maximum allowed requests exceeded"`},
		{name: "rate limit in a 200", stub: vendorStub{status: 200, body: `{"code":-4290001,"msg":"Maximum allowed requests exceeded"}`},
			typ: action.VendorRateLimited, delay: time.Minute,
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 200 OK, vendor code -4290001: "Maximum allowed requests exceeded"`},
		{name: "503 HTML", stub: vendorStub{status: 503, body: `<html><body>Service Unavailable</body></html>`},
			typ: action.VendorUnavailable,
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 503 Service Unavailable: "<html><body>Service Unavailable</body></html>"`},
		{name: "400", stub: vendorStub{status: 400, body: `{"code":400,"msg":"Invalid parameter: sender","traceId":"t-400"}`},
			typ: action.VendorRejected, action: "cecp.sweep", with: map[string]any{"sender": "a@b.example"},
			msg: `sweeping mails on connection "sim": GET /v1/sweeping/mails: HTTP 400 Bad Request, vendor code 400: "Invalid parameter: sender" (trace id t-400)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := tt.stub
			h := newHarness(t, harnessOpts{handler: &stub})
			name, with := tt.action, tt.with
			if name == "" {
				name, with = "cecp.blocklist", map[string]any{}
			}
			_, err := h.exec(name, "step", with)
			ae := wantErr(t, err, tt.typ, tt.msg)
			if ae.NextRetryDelay() != tt.delay {
				t.Errorf("NextRetryDelay = %s, want %s", ae.NextRetryDelay(), tt.delay)
			}
			if strings.Contains(ae.Error(), simToken) || strings.Contains(h.logs.String(), simToken) {
				t.Error("the token leaked into the error or the logs")
			}
		})
	}
}

func TestQuotaRefusal(t *testing.T) {
	lim, err := quota.NewMemory(quota.Options{Default: quota.Limit{Requests: 1, Window: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{limiter: lim})
	h.mustExec("cecp.blocklist", "first", map[string]any{})
	_, err = h.exec("cecp.blocklist", "second", map[string]any{})
	ae := appErr(t, err)
	if ae.Type() != action.VendorRateLimited || ae.NonRetryable() {
		t.Fatalf("second read = %s %v", ae.Type(), ae)
	}
	if d := ae.NextRetryDelay(); d < 59*time.Minute || d > time.Hour {
		t.Errorf("NextRetryDelay = %s, want the rest of the hour window", d)
	}
	if !strings.HasPrefix(ae.Message(), `reading the blocked lists on connection "sim": GET /v1/remediation/mails: rate limited by the local quota (connection "sim"); a slot frees in `) {
		t.Errorf("message %q", ae.Message())
	}
	if got := h.sim.Requests()["GET /v1/remediation/mails"]; got != 1 {
		t.Errorf("the vendor saw %d reads, want 1 (a refused slot sends nothing)", got)
	}
}

func TestMissingToken(t *testing.T) {
	h := newHarness(t, harnessOpts{config: func(c *config.Config) { c.CECP.Connections[0].TokenSecret = "nope" }})
	_, err := h.exec("cecp.blocklist", "b", map[string]any{})
	wantErr(t, err, action.VendorAuth, `reading the blocked lists on connection "sim": GET /v1/remediation/mails: getting the API token: secret "nope" not found`)
}

func TestVendorRateWindowSimulated(t *testing.T) {
	// The simulator's own window (2 requests) answers the third read with 429 and no Retry-After.
	h := newHarness(t, harnessOpts{sim: &cecpsim.Options{Seed: 1, Mailboxes: 2, RateLimit: 2}})
	h.mustExec("cecp.blocklist", "1", map[string]any{})
	h.mustExec("cecp.blocklist", "2", map[string]any{})
	_, err := h.exec("cecp.blocklist", "3", map[string]any{})
	ae := appErr(t, err)
	if ae.Type() != action.VendorRateLimited || ae.NextRetryDelay() != time.Minute {
		t.Errorf("third read: %s after %s: %s", ae.Type(), ae.NextRetryDelay(), ae.Message())
	}
}
