package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/store"
)

const alertA = `{"id":"evt-1","source":"siem","kind":"phish","severity":"high","title":"Phish reported","observed_at":"2026-11-23T10:00:00Z","data":{"sender":"a@evil.test"}}`
const alertB = `{"source":"siem","kind":"phish","severity":"low","title":"Another","observed_at":"2026-11-23T10:01:00.5+01:00"}`
const alertC = `{"id":7,"source":"edr","kind":"malware","severity":"critical","title":"Ransomware","connection":"prod","observed_at":"2026-11-23T10:02:00Z","data":{"host":"pc-1"}}`

func TestAlertIntakeForms(t *testing.T) {
	f := newFixture(t)
	tok := f.tokens[store.RoleIngest]
	post := func(body string) (int, api.IntakeResponse, string) {
		code, resp, _ := f.do(t, "POST", "/v1/alerts", tok, body)
		var r api.IntakeResponse
		_ = json.Unmarshal([]byte(resp), &r)
		return code, r, resp
	}
	code, r, body := post(alertA)
	if code != 202 || r.Accepted != 1 || len(r.Alerts) != 1 || r.Alerts[0].ID == 0 {
		t.Fatalf("single: %d %s", code, body)
	}
	first := r.Alerts[0].ID
	// Array with a repeat of evt-1 (already stored) and a repeat inside the batch.
	code, r, body = post("[" + alertB + "," + alertA + "," + alertC + "," + strings.Replace(alertC, "Ransomware", "Ransomware again", 1) + "]")
	if code != 202 || r.Accepted != 2 || r.Duplicates != 2 {
		t.Fatalf("array: %d %s", code, body)
	}
	if !r.Alerts[1].Duplicate || r.Alerts[1].ID != first || r.Alerts[3].ID != r.Alerts[2].ID || !r.Alerts[3].Duplicate || r.Alerts[0].Duplicate {
		t.Fatalf("array ids: %+v", r.Alerts)
	}
	// NDJSON.
	code, r, body = post(alertB + "\n" + strings.Replace(alertB, "Another", "Third", 1) + "\n")
	if code != 202 || r.Accepted != 2 || r.Alerts[0].ID >= r.Alerts[1].ID {
		t.Fatalf("ndjson: %d %s", code, body)
	}
	a, err := f.store.GetAlert(context.Background(), r.Alerts[1].ID)
	if err != nil || a.Title != "Third" || a.Status != "pending" || a.IngestedBy != "token:ingest-token" || a.ObservedAt.UTC().Format("15:04:05.0") != "09:01:00.5" || string(a.Data) != "{}" {
		t.Fatalf("stored: %+v %v", a, err)
	}
	var sourceID, conn string
	if err := f.store.Pool.QueryRow(context.Background(), "SELECT source_id, connection FROM alerts WHERE source='edr'").Scan(&sourceID, &conn); err != nil || sourceID != "7" || conn != "prod" {
		t.Fatalf("numeric id: %q %q %v", sourceID, conn, err)
	}
	var n int
	f.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM alerts").Scan(&n)
	if n != 5 {
		t.Fatalf("%d alerts stored, want 5", n)
	}
}

func TestAlertIntakeErrors(t *testing.T) {
	f := newFixture(t)
	tok := f.tokens[store.RoleIngest]
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"empty", "  ", 400, `{"error":{"code":"bad_json","message":"request body is empty; expected an alert object, an array of alerts or NDJSON"}}`},
		{"ndjson syntax", alertA + "\n{\"source\": }\n", 400, `{"error":{"code":"bad_json","message":"alert 1: malformed JSON at line 2, column 12: unexpected character '}'"}}`},
		{"array syntax", "[" + alertA + ",]", 400, `{"error":{"code":"bad_json","message":"malformed JSON at line 1, column 160: unexpected character ']'"}}`},
		{"truncated", `{"source":"x"`, 400, `{"error":{"code":"bad_json","message":"alert 0: malformed JSON: the body ends in the middle of a value"}}`},
		{"not object", `[1]`, 400, `{"error":{"code":"invalid_alerts","message":"alert 0: an alert must be a JSON object (nothing was stored)","details":[{"index":0,"message":"an alert must be a JSON object"}]}}`},
		{"fields", "[" + alertA + `,{"source":"s","kind":"k","severity":"urgnt","title":"","observed_at":"yesterday","data":[1],"conection":"x"}]`, 400,
			`{"error":{"code":"invalid_alerts","message":"alert 1: unknown field \"conection\" (did you mean \"connection\"?) (alert fields: id, source, kind, severity, title, connection, observed_at, data) (nothing was stored)","details":[{"index":1,"field":"conection","message":"unknown field \"conection\" (did you mean \"connection\"?) (alert fields: id, source, kind, severity, title, connection, observed_at, data)"}]}}`},
		{"values", `{"source":"s","kind":"k","severity":"urgnt","title":"","observed_at":"yesterday","data":[1],"connection":"prd"}`, 400,
			`{"error":{"code":"invalid_alerts","message":"alert 0: title is required (and 4 more problems; nothing was stored)","details":[{"index":0,"field":"title","message":"title is required"},{"index":0,"field":"severity","message":"severity must be one of info, low, medium, high, critical, not \"urgnt\""},{"index":0,"field":"observed_at","message":"observed_at \"yesterday\" is not an RFC 3339 time (like 2026-01-02T03:04:05Z)"},{"index":0,"field":"connection","message":"unknown connection \"prd\" (did you mean \"prod\"?) (configured: prod, sim)"},{"index":0,"field":"data","message":"data must be a JSON object"}]}}`},
		{"type", `{"source":5}`, 400, `{"error":{"code":"invalid_alerts","message":"alert 0: field \"source\" must be a string, not number (nothing was stored)","details":[{"index":0,"field":"source","message":"field \"source\" must be a string, not number"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.do(t, "POST", "/v1/alerts", tok, tc.body)
			if code != tc.code || compact(t, body) != tc.want {
				t.Fatalf("got %d %s\nwant %d %s", code, compact(t, body), tc.code, tc.want)
			}
		})
	}
	var n int
	f.store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM alerts").Scan(&n)
	if n != 0 {
		t.Fatalf("%d alerts stored from invalid requests", n)
	}
	if code, _, _ := f.do(t, "POST", "/v1/alerts", "", alertA); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, body, _ := f.do(t, "POST", "/v1/alerts", tok, "["+strings.Repeat(alertA+",", 30)+alertA+"]"); code != 413 {
		t.Fatalf("oversized: %d %s", code, body)
	}
	if code, _, _ := f.do(t, "GET", "/v1/alerts", tok, ""); code != 403 {
		t.Fatalf("ingest token reading alerts: %d", code)
	}
}

func TestWebhookSignedAlerts(t *testing.T) {
	f := newFixture(t)
	code, body, _ := f.do(t, "POST", "/v1/tokens", f.tokens[store.RoleAdmin], `{"name":"mailgw","role":"ingest","webhook":true}`)
	var created api.CreateTokenResponse
	if code != 201 || json.Unmarshal([]byte(body), &created) != nil || len(created.WebhookSecret) != 64 {
		t.Fatalf("create: %d %s", code, body)
	}
	sign := func(secret, body string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	send := func(name, sigHeader, sig, body string) (int, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/webhooks/alerts/"+name, strings.NewReader(body))
		if sig != "" {
			req.Header.Set(sigHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := send("mailgw", "X-Parry-Signature-256", sign(created.WebhookSecret, alertA), alertA); code != 202 || !strings.Contains(body, `"accepted": 1`) {
		t.Fatalf("signed: %d %s", code, body)
	}
	if code, _ := send("mailgw", "X-Hub-Signature-256", sign(created.WebhookSecret, alertB), alertB); code != 202 {
		t.Fatalf("GitHub header: %d", code)
	}
	for _, tc := range []struct{ name, sig, want string }{
		{"mailgw", "", `missing X-Parry-Signature-256: sha256=<hex HMAC-SHA256 of the body> header`},
		{"mailgw", sign("wrong", alertA), `signature mismatch: sign the exact body with the token's webhook secret`},
		{"mailgw", sign(created.WebhookSecret, alertA+" "), `signature mismatch: sign the exact body with the token's webhook secret`},
		{"ingest-token", sign(created.WebhookSecret, alertA), `no live token with a webhook secret is named \"ingest-token\"`},
	} {
		code, body := send(tc.name, "X-Parry-Signature-256", tc.sig, alertA)
		if code != 401 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %q: %d %s", tc.name, tc.sig, code, body)
		}
	}
	var by string
	f.store.Pool.QueryRow(context.Background(), "SELECT ingested_by FROM alerts ORDER BY id LIMIT 1").Scan(&by)
	if by != "webhook:mailgw" {
		t.Fatalf("ingested_by %q", by)
	}
	evs, _ := f.store.ListAudit(context.Background(), store.AuditQuery{})
	if n := len(evs); n != 3 || evs[1].Action != "alerts.ingest" || evs[1].Actor != "webhook:mailgw" || evs[2].Actor != "webhook:mailgw" {
		t.Fatalf("audit: %+v", evs)
	}
}
