package activities

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

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
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 429 Too Many Requests, vendor code -4290001: "Maximum allowed requests exceeded" (retrying in 1m0s)`},
		{name: "rate limit in a 200", stub: vendorStub{status: 200, body: `{"code":-4290001,"msg":"Maximum allowed requests exceeded"}`},
			typ: action.VendorRateLimited, delay: time.Minute,
			msg: `reading the blocked lists on connection "sim": GET /v1/remediation/mails: HTTP 200 OK, vendor code -4290001: "Maximum allowed requests exceeded" (retrying in 1m0s)`},
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
			// A rate limit is expected back-off: benign, so the worker does not log it as an error.
			if benign := ae.Category() == temporal.ApplicationErrorCategoryBenign; benign != (tt.typ == action.VendorRateLimited) {
				t.Errorf("category %v for %s", ae.Category(), tt.typ)
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

// scriptedLimiter answers Take with its waits in turn (then 0): a quota whose next slot frees in a known time.
type scriptedLimiter struct {
	mu    sync.Mutex
	waits []time.Duration
	takes int
}

func (l *scriptedLimiter) Take(context.Context, string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.takes++
	if len(l.waits) == 0 {
		return 0, nil
	}
	w := l.waits[0]
	l.waits = l.waits[1:]
	return w, nil
}

func (l *scriptedLimiter) Block(context.Context, string, time.Time) error { return nil }

// TestShortQuotaWaitIsNotAFailedAttempt: when the quota's next slot frees within MaxQuotaWait, the attempt
// sleeps for it (heartbeating that it waits for the quota, logged at INFO) and succeeds as attempt 1; a longer
// wait still fails the attempt with the delay, for Temporal to retry.
func TestShortQuotaWaitIsNotAFailedAttempt(t *testing.T) {
	lim := &scriptedLimiter{waits: []time.Duration{0, 30 * time.Millisecond}}
	h := newHarness(t, harnessOpts{limiter: lim})
	h.mustExec("cecp.blocklist", "first", map[string]any{})
	h.mustExec("cecp.blocklist", "second", map[string]any{}) // exec checks the result is attempt 1
	if lim.takes != 3 {
		t.Errorf("%d takes, want 3 (the second read waited once, then took its slot)", lim.takes)
	}
	if !strings.Contains(h.logs.String(), `msg="waiting for the vendor quota" action=cecp.blocklist`) || strings.Contains(h.logs.String(), "action failed") {
		t.Errorf("logs:\n%s", h.logs.String())
	}
	lim.mu.Lock()
	lim.waits = []time.Duration{MaxQuotaWait + time.Second}
	lim.mu.Unlock()
	_, err := h.exec("cecp.blocklist", "third", map[string]any{})
	if ae := appErr(t, err); ae.Type() != action.VendorRateLimited || ae.NextRetryDelay() != MaxQuotaWait+time.Second {
		t.Fatalf("a wait over MaxQuotaWait: %s after %s", ae.Type(), ae.NextRetryDelay())
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

// TestReadLoopWithCursor: a hunt larger than max_results is a loop in a playbook. Each read returns
// next_cursor; passing it back continues exactly where the last stopped, also inside a vendor page (a page
// size that does not divide max_results), so every mail comes once.
func TestReadLoopWithCursor(t *testing.T) {
	h := newHarness(t, harnessOpts{sim: &cecpsim.Options{Seed: 7, Mailboxes: 30, MailsPerMailbox: 2, RateLimit: cecpsim.NoRateLimit, ActionDelay: -1}})
	camp := h.sim.Tenants()[0].Campaigns[0]
	for _, c := range h.sim.Tenants()[0].Campaigns {
		if c.Mails > camp.Mails {
			camp = c
		}
	}
	all := h.mustExec("cecp.sweep", "all", map[string]any{"sender": camp.Sender, "lastndays": 30.0})["mails"].([]any)
	if len(all) < 5 {
		t.Fatalf("campaign of %d mails is too small", len(all))
	}
	for _, limit := range []float64{3, 2} {
		var got []string
		cursor := ""
		for round := 0; ; round++ {
			with := map[string]any{"sender": camp.Sender, "lastndays": 30.0, "limit": limit, "max_results": 2.0}
			if cursor != "" {
				with["cursor"] = cursor
			}
			out := h.mustExec("cecp.sweep", "hunt", with)
			for _, m := range out["mails"].([]any) {
				got = append(got, m.(map[string]any)["mail_unique_id"].(string))
			}
			cursor = out["next_cursor"].(string)
			if (cursor != "") != out["truncated"].(bool) {
				t.Fatalf("next_cursor %q with truncated %v", cursor, out["truncated"])
			}
			if cursor == "" {
				break
			}
			if strings.Contains(cursor, simToken) || !strings.HasPrefix(cursor, h.url) {
				t.Fatalf("cursor %q", cursor)
			}
			if round > len(all) {
				t.Fatal("the loop does not end")
			}
		}
		var want []string
		for _, m := range all {
			want = append(want, m.(map[string]any)["mail_unique_id"].(string))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("limit %v: the loop read\n%v\nwant\n%v", limit, got, want)
		}
	}

	// A cursor is followed only on the connection's own host, and only for the query that returned it.
	_, err := h.exec("cecp.sweep", "foreign", map[string]any{"sender": camp.Sender, "cursor": "https://evil.example/v1/sweeping/mails?skiptoken=x"})
	if ae := appErr(t, err); ae.Type() != action.InvalidInput || !strings.Contains(ae.Message(), "a cursor is only followed on the connection's own host") {
		t.Errorf("foreign cursor: %s %s", ae.Type(), ae.Message())
	}
	first := h.mustExec("cecp.sweep", "first", map[string]any{"sender": camp.Sender, "lastndays": 30.0, "max_results": 1.0})
	_, err = h.exec("cecp.sweep", "mixed", map[string]any{"sender": "other@x.example", "cursor": first["next_cursor"]})
	if ae := appErr(t, err); ae.Type() != action.InvalidInput || !strings.Contains(ae.Message(), `was returned by a read with sender=`) {
		t.Errorf("cursor of another query: %s %s", ae.Type(), ae.Message())
	}
}

// TestStartWithoutEnd: a start alone reads up to now (the vendor would read 5 minutes after it).
func TestStartWithoutEnd(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	h := newHarness(t, harnessOpts{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}})
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		name string
		with map[string]any
	}{
		{"cecp.security_events", map[string]any{"service": "exchange", "event": "securityrisk"}},
		{"cecp.quarantine_events", map[string]any{}},
		{"cecp.mitigation_results", map[string]any{}},
		{"cecp.sweep", map[string]any{"sender": "x@y.example"}},
	} {
		tc.with["start"] = start.Format(time.RFC3339)
		h.mustExec(tc.name, "s", tc.with)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 4 {
		t.Fatalf("queries %v", queries)
	}
	for _, q := range queries {
		if !strings.Contains(q, "start="+start.Format("2006-01-02T15")) || !strings.Contains(q, "&end=") && !strings.Contains(q, "?end=") {
			t.Errorf("%s: no end sent with the start", q)
		}
	}
}

// TestUndecodableItemListed: an item that does not decode at all is listed in the output, the read goes on.
func TestUndecodableItemListed(t *testing.T) {
	h := newHarness(t, harnessOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"next_link":"","security_events":[{"log_item_id":"a","service":"Exchange","event":"dlp",` +
			`"message":{"triggered_dlp_template":["PCI-DSS","GDPR"]}},17]}`))
	})})
	out := h.mustExec("cecp.security_events", "s", map[string]any{"service": "exchange", "event": "dlp"})
	events := out["security_events"].([]any)
	if len(events) != 1 || events[0].(map[string]any)["message"].(map[string]any)["triggered_dlp_template"] != "PCI-DSS, GDPR" {
		t.Fatalf("events %v", events)
	}
	bad := out["undecodable"].([]any)
	if len(bad) != 1 || bad[0].(map[string]any)["raw"] != "17" || bad[0].(map[string]any)["index"] != 1.0 {
		t.Errorf("undecodable %v", bad)
	}
}
