package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/plan"
)

// leaky is an endpoint that repeats whatever credentials it gets, in success and error answers alike.
func leaky(w http.ResponseWriter, r *http.Request) {
	creds := r.Header.Get("Authorization") + " " + r.URL.String()
	if strings.HasSuffix(r.URL.Path, "/fail") {
		http.Error(w, "rejected credentials: "+creds, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"you_sent": creds})
}

// TestSecretsNeverLeak runs every action that handles a secret, successful and failing, and greps everything
// that leaves the activities (outputs, errors, logs, audit rows, ledger and artifact rows) for the values.
func TestSecretsNeverLeak(t *testing.T) {
	ep := httptest.NewServer(http.HandlerFunc(leaky))
	defer ep.Close()
	epURL, _ := url.Parse(ep.URL)
	h := newHarness(t, harnessOpts{batchSize: 2,
		secrets: map[string]string{"hook-url": ep.URL + hookPath, "hook-url-fail": ep.URL + hookPath + "/fail"},
		config: func(c *config.Config) {
			c.HTTP.AllowedHosts = []string{epURL.Host}
			c.Notify.Webhooks = []config.NotifyWebhook{{Name: "soc", URLSecret: "hook-url"}, {Name: "soc-fail", URLSecret: "hook-url-fail"}}
		}})
	var seen []string
	record := func(out map[string]any, err error) {
		b, _ := json.Marshal(out)
		seen = append(seen, string(b))
		if err != nil {
			ae := appErr(t, err)
			seen = append(seen, err.Error(), ae.Message())
		}
	}
	key := plan.SecretRef{Path: []string{"headers", "Authorization"}, Name: "api-key"}
	keyInQuery := plan.SecretRef{Path: []string{"query", "token"}, Name: "api-key"}
	record(h.exec("http.request", "ok", map[string]any{"method": "POST", "url": ep.URL + "/ok"}, key, keyInQuery))
	record(h.exec("http.request", "fail", map[string]any{"method": "POST", "url": ep.URL + "/fail"}, key, keyInQuery))
	record(h.exec("notify.webhook", "hook", map[string]any{"connection": "soc", "text": "hello"}))
	record(h.exec("notify.webhook", "hook_fail", map[string]any{"connection": "soc-fail", "text": "hello", "title": "x"}))

	now := time.Now().UTC()
	if _, err := h.sim.AddMails("", []cecpsim.NewMail{{Mailbox: h.sim.Tenants()[0].Mailboxes[0], MailMessageSender: "x@bad.example",
		MailMessageSubject: "held", MailMessageDeliveryTime: now.Add(-time.Hour).Format(time.RFC3339), State: "quarantined"}}); err != nil {
		t.Fatal(err)
	}
	sweep, err := h.exec("cecp.sweep", "sweep", map[string]any{"sender": "x@bad.example", "lastndays": 1.0})
	record(sweep, err)
	mails := sweep["mails"].([]any)
	pw := plan.SecretRef{Path: []string{"password"}, Name: "quarantine-zip"}
	record(h.exec("cecp.quarantine_download", "sample", map[string]any{"mail": mails[0]}, pw))
	_ = h.sim.SetFaults(cecpsim.Faults{DropAfterPost: 1, Paths: []string{"POST /v1/mitigation/mails"}})
	record(h.exec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails}))
	_ = h.sim.SetFaults(cecpsim.Faults{Error500: 1})
	record(h.exec("cecp.quarantine_download", "sample_fail", map[string]any{"mail": mails[0]}, pw))
	_ = h.sim.SetFaults(cecpsim.Faults{})
	record(h.exec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true}))
	record(h.exec("cecp.block", "block", map[string]any{"senders": []any{"x@bad.example"}}))

	// A vendor that quotes the token back in an error.
	bad := newHarness(t, harnessOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"code":400,"msg":"token %s is wrong"}`, r.Header.Get("Authorization"))
	})})
	record(bad.exec("cecp.blocklist", "b", map[string]any{}))

	ctx := context.Background()
	audit, _ := json.Marshal(h.audit())
	seen = append(seen, string(audit), h.logs.String(), bad.logs.String())
	for _, table := range []string{"mitigation_items", "mitigation_posts", "artifacts", "audit_events"} {
		var dump string
		if err := h.st.Pool.QueryRow(ctx, `SELECT coalesce(json_agg(t)::text, '') FROM `+table+` t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		if dump == "" {
			t.Errorf("table %s is empty: the test did not exercise it", table)
		}
		seen = append(seen, dump)
	}
	all := strings.Join(seen, "\n")
	for name, v := range map[string]string{"CECP token": simToken, "ZIP password": zipPassword, "API key": apiKey,
		"webhook URL": strings.TrimPrefix(hookPath, "/services/")} {
		if i := strings.Index(all, v); i >= 0 {
			t.Errorf("the %s leaked: …%s…", name, all[max(0, i-120):min(len(all), i+60)])
		}
	}
	if !strings.Contains(all, "[redacted]") {
		t.Error("nothing was redacted: the leaky endpoints did not exercise the redaction")
	}
}
