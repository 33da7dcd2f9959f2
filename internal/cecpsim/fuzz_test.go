package cecpsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzServe sends arbitrary requests, as a buggy or hostile client would: the simulator must not panic, must
// answer with a status it documents, and every JSON answer must be valid JSON.
func FuzzServe(f *testing.F) {
	for _, seed := range []struct{ method, target, body string }{
		{"GET", "/v1/sweeping/mails?sender=u*ser@example.com&source_ip=203.0.113.0/24&limit=5", ""},
		{"GET", "/v1/sweeping/mails?skiptoken=WzE3NjczMTUwNjIwMDAsIkFBTWsiXQ==", ""},
		{"GET", "/v1/siem/security_events?service=exchange&event=securityrisk&start=2026-03-09T00:00:00Z", ""},
		{"GET", "/v1/siem/quarantine_events?service=exchange", ""},
		{"POST", "/v1/siem/quarantine_mails", `{"quarantine_events":[{"service":"exchange","message":{"mail_unique_id":"x","mail_log_id":"y"}}],"download_options":{"compression_password":"p"}}`},
		{"POST", "/v1/mitigation/mails", `[{"action_type":"MAIL_RESTORE","service":"exchange","account_provider":"office365","mailbox":"a@b","mail_unique_id":"x","detection_time":"2026-01-01T00:00:00Z","mail_log_id":"z"}]`},
		{"GET", "/v1/mitigation/mails?batch_id=x&skiptoken=bad", ""},
		{"POST", "/v1/mitigation/accounts", `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"office365","account_user_email":"alice@corp.example"}]`},
		{"POST", "/v1/remediation/mails", `{"action_type":"create","rules":{"urls":["https://x.example/a?b"]}}`},
		{"POST", "/_sim/mails", `[{"mailbox":"a@b.example","mail_message_sender":"c@d.example","state":"quarantined"}]`},
		{"POST", "/_sim/faults", `{"latency":"0s"}`},
	} {
		f.Add(seed.method, seed.target, seed.body)
	}
	sim, err := New(Options{Seed: 1, Mailboxes: 5, RateLimit: NoRateLimit, ActionDelay: -1, Now: func() time.Time { return epoch }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if method != "GET" && method != "POST" {
			method = "GET"
		}
		if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/_sim/faults") {
			return // faults would make later inputs hang or fail for reasons of their own
		}
		req, err := http.NewRequest(method, "http://sim.test"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201, 400, 401, 404, 405:
		default:
			t.Fatalf("%s %s: status %d", method, target, rec.Code)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: invalid JSON %q", method, target, rec.Body.String())
		}
	})
}
