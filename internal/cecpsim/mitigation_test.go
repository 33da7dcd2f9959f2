package cecpsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func mailActionFor(actionType string, m SweepMail) mailActionRequest {
	return mailActionRequest{ActionType: actionType, Service: "exchange", AccountProvider: "office365",
		Mailbox: m.Mailbox, MailMessageID: m.MailMessageID, MailUniqueID: m.MailUniqueID,
		MailMessageDeliveryTime: m.MailMessageDeliveryTime}
}

func (h *harness) postBatch(path string, items any) string {
	h.t.Helper()
	code, _, body := h.do(http.MethodPost, path, items)
	if code != http.StatusCreated {
		h.t.Fatalf("POST %s: %d %s", path, code, body)
	}
	var created batchCreated
	if err := json.Unmarshal(body, &created); err != nil || created.BatchID == "" || created.Code != 0 || created.TraceID == "" {
		h.t.Fatalf("POST %s: body %s", path, body)
	}
	return created.BatchID
}

func (h *harness) results(path string) []actionItem {
	h.t.Helper()
	var all []actionItem
	for path != "" {
		var page actionsResponse
		h.getJSON(path, &page)
		if page.Count != len(page.Actions) || page.Code != 0 {
			h.t.Fatalf("count %d for %d actions, code %d", page.Count, len(page.Actions), page.Code)
		}
		all = append(all, page.Actions...)
		path = ""
		if page.NextLink != nil {
			path = *page.NextLink
		}
	}
	return all
}

func (h *harness) mailState(uid string) string {
	h.t.Helper()
	st, err := h.sim.State("")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, m := range st.Mails {
		if m.MailUniqueID == uid {
			return m.State
		}
	}
	h.t.Fatalf("no mail %s", uid)
	return ""
}

// delivered returns n delivered mails of the tenant.
func (h *harness) delivered(n int) []SweepMail {
	h.t.Helper()
	all, _ := h.sim.Mails("")
	st, _ := h.sim.State("")
	var out []SweepMail
	for i, m := range all {
		if st.Mails[i].State == StateDelivered {
			out = append(out, m)
			if len(out) == n {
				return out
			}
		}
	}
	h.t.Fatalf("fewer than %d delivered mails", n)
	return nil
}

func statuses(items []actionItem) string {
	var s []string
	for _, it := range items {
		s = append(s, it.Status)
	}
	return strings.Join(s, ",")
}

func TestMitigationStateMachine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 11, ActionDelay: 30 * time.Second})
	ms := h.delivered(3)
	batch := h.postBatch("/v1/mitigation/mails", []mailActionRequest{
		mailActionFor("MAIL_QUARANTINE", ms[0]),
		mailActionFor("MAIL_DELETE", ms[1]),
		{ActionType: "MAIL_DELETE", Service: "exchange", AccountProvider: "office365", Mailbox: ms[2].Mailbox, MailMessageID: ms[2].MailMessageID},
	})
	q := "/v1/mitigation/mails?batch_id=" + batch
	items := h.results(q)
	if got := statuses(items); got != "Created,Created,Created" {
		t.Fatalf("at once: %s", got)
	}
	for i, it := range items {
		if it.ActionExecutedAt != nil || it.ErrorCode != nil || it.ErrorMessage != nil || it.BatchID != batch {
			t.Fatalf("pending item %+v", it)
		}
		// Requested a few milliseconds apart, in item order, the last when the POST was answered.
		at, _ := time.Parse(time.RFC3339Nano, it.ActionRequestedAt)
		if i > 0 && !at.After(mustTime(t, items[i-1].ActionRequestedAt)) || at.After(epoch) || epoch.Sub(at) > 100*time.Millisecond {
			t.Fatalf("item %d requested at %s (POST at %s)", i, it.ActionRequestedAt, fmtTime(epoch))
		}
	}
	if items[2].ActionRequestedAt != fmtTime(epoch) {
		t.Errorf("the last item is requested at %s, not when the POST was answered", items[2].ActionRequestedAt)
	}
	if h.mailState(ms[0].MailUniqueID) != StateDelivered {
		t.Fatal("state changed before the action ran")
	}
	h.clock.Advance(10 * time.Second)
	if got := statuses(h.results(q)); got != "Executing,Executing,Executing" {
		t.Fatalf("after 10s: %s", got)
	}
	h.clock.Advance(20 * time.Second)
	items = h.results(q)
	if got := statuses(items); got != "Success,Success,Success" {
		t.Fatalf("after 30s: %s", got)
	}
	for _, it := range items {
		if it.ActionExecutedAt == nil || *it.ErrorCode != 0 || *it.ErrorMessage != "" {
			t.Fatalf("done item %+v", it)
		}
		executed, _ := time.Parse(time.RFC3339Nano, *it.ActionExecutedAt)
		// Executed-at is the due time minus up to 1.5 s of simulated clock skew.
		if d := epoch.Add(30 * time.Second).Sub(executed); d < 0 || d >= 1500*time.Millisecond {
			t.Fatalf("executed at %s", *it.ActionExecutedAt)
		}
	}
	if h.mailState(ms[0].MailUniqueID) != StateQuarantined || h.mailState(ms[1].MailUniqueID) != StateDeleted || h.mailState(ms[2].MailUniqueID) != StateDeleted {
		t.Fatal("states not applied")
	}
	// The quarantine raised a quarantine event with what download and restore need.
	var qe quarantineEventsResponse
	h.getJSON("/v1/siem/quarantine_events?service=exchange&start="+epoch.Add(-time.Minute).Format(time.RFC3339), &qe)
	if len(qe.QuarantineEvents) != 1 || qe.QuarantineEvents[0].Message.MailUniqueID != ms[0].MailUniqueID ||
		qe.QuarantineEvents[0].Message.TriggeredSecurityFilter != manualFilter || qe.QuarantineEvents[0].Message.MailLogID == "" {
		t.Fatalf("quarantine events %+v", qe.QuarantineEvents)
	}

	// A second batch for the same mails: already gone, so Skipped with 200 ResourceNotFound; nothing twice.
	batch2 := h.postBatch("/v1/mitigation/mails", []mailActionRequest{
		mailActionFor("MAIL_QUARANTINE", ms[0]), mailActionFor("MAIL_DELETE", ms[1]),
		{ActionType: "MAIL_DELETE", Service: "exchange", AccountProvider: "office365", Mailbox: "nobody@corp.example", MailUniqueID: "AAMkAunknown"},
	})
	h.clock.Advance(31 * time.Second)
	items = h.results("/v1/mitigation/mails?batch_id=" + batch2)
	if got := statuses(items); got != "Skipped,Skipped,Skipped" {
		t.Fatalf("second batch: %s", got)
	}
	if *items[0].ErrorCode != 200 || *items[0].ErrorMessage != "ResourceNotFound" {
		t.Fatalf("skipped item %+v", items[0])
	}
	perMail := map[string]int{}
	for _, a := range h.sim.Applied() {
		if a.Status == statusSuccess {
			perMail[a.MailUniqueID]++
		}
	}
	for uid, n := range perMail {
		if n != 1 {
			t.Errorf("mail %s mitigated %d times", uid, n)
		}
	}
	if len(perMail) != 3 || len(h.sim.Applied()) != 6 {
		t.Fatalf("applied %+v", h.sim.Applied())
	}

	// Results by window: both batches, in request order, with pagination.
	all := h.results("/v1/mitigation/mails?limit=2")
	if len(all) != 6 || all[0].BatchID != batch || all[5].BatchID != batch2 {
		t.Fatalf("window results: %d items", len(all))
	}
	if accounts := h.results("/v1/mitigation/accounts"); len(accounts) != 0 {
		t.Fatalf("account results hold mail actions: %+v", accounts)
	}
	if unknown := h.results("/v1/mitigation/mails?batch_id=00000000-0000-4000-8000-000000000000"); len(unknown) != 0 {
		t.Fatal("an unknown batch has results")
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 12, ActionDelay: -1})
	var qe quarantineEventsResponse
	h.getJSON("/v1/siem/quarantine_events?service=exchange&start="+epoch.Add(-7*24*time.Hour+time.Minute).Format(time.RFC3339)+"&end="+epoch.Format(time.RFC3339), &qe)
	if len(qe.QuarantineEvents) < 2 {
		t.Fatalf("only %d quarantine events", len(qe.QuarantineEvents))
	}
	restore := func(ev quarantineEventItem, detection, logID string) mailActionRequest {
		return mailActionRequest{ActionType: "MAIL_RESTORE", Service: "exchange", AccountProvider: "office365",
			Mailbox: ev.Message.Mailbox, MailMessageID: ev.Message.MailMessageID, MailUniqueID: ev.Message.MailUniqueID,
			DetectionTime: detection, MailLogID: logID}
	}
	ok, wrong := qe.QuarantineEvents[0], qe.QuarantineEvents[1]
	batch := h.postBatch("/v1/mitigation/mails", []mailActionRequest{
		restore(ok, ok.Message.DetectionTime, ok.Message.MailLogID),
		restore(wrong, wrong.Message.DetectionTime, "4d7e0b0b-7f54-4b6a-a1f0-8d2f6a0e4a11"),
	})
	items := h.results("/v1/mitigation/mails?batch_id=" + batch)
	if got := statuses(items); got != "Success,Failed" {
		t.Fatalf("restore: %s", got)
	}
	if *items[1].ErrorCode != -999 {
		t.Fatalf("failed item %+v", items[1])
	}
	if h.mailState(ok.Message.MailUniqueID) != StateDelivered || h.mailState(wrong.Message.MailUniqueID) != StateQuarantined {
		t.Fatal("restore did not change the right states")
	}
	// Restoring a mail that is no longer quarantined is skipped.
	batch = h.postBatch("/v1/mitigation/mails", []mailActionRequest{restore(ok, ok.Message.DetectionTime, ok.Message.MailLogID)})
	if got := statuses(h.results("/v1/mitigation/mails?batch_id=" + batch)); got != "Skipped" {
		t.Fatalf("second restore: %s", got)
	}
	// Without detection_time and mail_log_id the POST itself is refused.
	code, _, body := h.do(http.MethodPost, "/v1/mitigation/mails", []mailActionRequest{restore(ok, "", ok.Message.MailLogID)})
	wantError(t, code, body, 400, "item 1: MAIL_RESTORE needs detection_time and mail_log_id from the quarantine event")
}

func TestAccountActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 13, ActionDelay: time.Minute, TimeScale: 60}) // a minute in a second
	batch := h.postBatch("/v1/mitigation/accounts", []accountActionRequest{
		{ActionType: "ACCOUNT_DISABLE", Service: "exchange", AccountProvider: "office365", AccountUserEmail: "Alice@corp.example"},
		{ActionType: "ACCOUNT_REVOKE_SIGNIN_SESSIONS", Service: "exchange", AccountProvider: "office365", AccountUserEmail: "bob@corp.example"},
		{ActionType: "ACCOUNT_RESET_PASSWORD", Service: "exchange", AccountProvider: "office365", AccountUserEmail: "ghost@corp.example"},
	})
	q := "/v1/mitigation/accounts?batch_id=" + batch
	// Items are requested up to 15 ms apart (the last at the POST): all are Executing just before the first
	// is due, and all done a scaled minute after the POST.
	h.clock.Advance(960 * time.Millisecond)
	if got := statuses(h.results(q)); got != "Executing,Executing,Executing" {
		t.Fatalf("before a scaled minute: %s", got)
	}
	h.clock.Advance(40 * time.Millisecond)
	items := h.results(q)
	if got := statuses(items); got != "Success,Success,Skipped" {
		t.Fatalf("after: %s", got)
	}
	if items[0].AccountUserEmail != "Alice@corp.example" || items[0].Mailbox != "" || items[0].Service != "exchange" {
		t.Fatalf("item %+v", items[0])
	}
	st, _ := h.sim.State("")
	for _, a := range st.Accounts {
		want := "enabled"
		if a.Email == "alice@corp.example" {
			want = "disabled"
		}
		if a.State != want {
			t.Errorf("account %s is %s, want %s", a.Email, a.State, want)
		}
	}
	if got := h.results("/v1/mitigation/mails"); len(got) != 0 {
		t.Fatal("mail results hold account actions")
	}
}

func TestActionFailRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 14, ActionDelay: -1, ActionFailRate: 1})
	ms := h.delivered(1)
	batch := h.postBatch("/v1/mitigation/mails", []mailActionRequest{mailActionFor("MAIL_DELETE", ms[0])})
	items := h.results("/v1/mitigation/mails?batch_id=" + batch)
	if statuses(items) != "Failed" || *items[0].ErrorCode != -999 || h.mailState(ms[0].MailUniqueID) != StateDelivered {
		t.Fatalf("%+v", items)
	}
}

func TestMitigationBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 15, MaxBatchItems: 2})
	ok := mailActionRequest{ActionType: "MAIL_DELETE", Service: "exchange", AccountProvider: "office365", Mailbox: "a@corp.example", MailUniqueID: "x"}
	mod := func(f func(*mailActionRequest)) []mailActionRequest { c := ok; f(&c); return []mailActionRequest{c} }
	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"object", `{"action_type":"MAIL_DELETE"}`, "request body is not valid JSON: json: cannot unmarshal object into Go value of type []cecpsim.mailActionRequest (the body is a JSON array of mail actions)"},
		{"empty", `[]`, "the batch is empty"},
		{"too many", []mailActionRequest{ok, ok, ok}, "the batch has 3 items; at most 2 are accepted"},
		{"unknown field", `[{"action_type":"MAIL_DELETE","mail_uniqueid":"x"}]`, `request body is not valid JSON: json: unknown field "mail_uniqueid" (the body is a JSON array of mail actions)`},
		{"action type", mod(func(a *mailActionRequest) { a.ActionType = "MAIL_DELET" }), `item 1: action_type "MAIL_DELET" is not one of MAIL_DELETE, MAIL_QUARANTINE, MAIL_RESTORE (did you mean "MAIL_DELETE"?)`},
		{"no action type", mod(func(a *mailActionRequest) { a.ActionType = "" }), `item 1: action_type is required (one of MAIL_DELETE, MAIL_QUARANTINE, MAIL_RESTORE)`},
		{"provider", mod(func(a *mailActionRequest) { a.AccountProvider = "google" }), `item 1: account_provider "google" must be office365 with service exchange`},
		{"gmail quarantine", mod(func(a *mailActionRequest) {
			a.Service, a.AccountProvider, a.ActionType = "gmail", "google", "MAIL_QUARANTINE"
		}), `item 1: Gmail supports only MAIL_DELETE, not MAIL_QUARANTINE`},
		{"no ids", mod(func(a *mailActionRequest) { a.MailUniqueID = "" }), `item 1: mail_message_id or mail_unique_id is required`},
		{"no mailbox", mod(func(a *mailActionRequest) { a.Mailbox = " " }), `item 1: mailbox is required`},
		{"bad time", mod(func(a *mailActionRequest) { a.MailMessageDeliveryTime = "1700000000000" }), `item 1: mail_message_delivery_time "1700000000000" is not an ISO-8601 time like 2026-01-02T03:04:05.000Z`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := h.do(http.MethodPost, "/v1/mitigation/mails", tc.body)
			wantError(t, code, body, 400, tc.msg)
		})
	}
	code, _, body := h.do(http.MethodPost, "/v1/mitigation/accounts", []accountActionRequest{{ActionType: "ACCOUNT_DISABLE", Service: "gmail", AccountProvider: "google", AccountUserEmail: "a@b.example"}})
	wantError(t, code, body, 400, `item 1: service "gmail" must be exchange (Google accounts are not supported)`)
	code, _, body = h.do(http.MethodGet, "/v1/mitigation/mails?start="+epoch.Add(-73*time.Hour).Format(time.RFC3339), nil)
	wantError(t, code, body, 400, "start 2026-03-07T11:00:00.000Z is more than 72 hours ago: only the last 72 hours can be queried")
	if len(h.sim.Applied()) != 0 {
		t.Fatal("a refused batch was applied")
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestActionResultWindows: as the vendor documents for its log endpoints, no start or end means the last 5
// minutes, a start alone the 5 minutes after it, an end alone the 5 before it; a batch id alone selects the
// batch whenever it was; a start older than 72 hours is refused.
func TestActionResultWindows(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 14, ActionDelay: -1})
	ms := h.delivered(2)
	old := h.postBatch("/v1/mitigation/mails", []mailActionRequest{mailActionFor("MAIL_DELETE", ms[0])})
	h.clock.Advance(time.Hour)
	recent := h.postBatch("/v1/mitigation/mails", []mailActionRequest{mailActionFor("MAIL_DELETE", ms[1])})
	h.clock.Advance(time.Minute)
	batches := func(q string) string {
		var ids []string
		for _, it := range h.results(q) {
			ids = append(ids, it.BatchID)
		}
		return strings.Join(ids, ",")
	}
	ts := func(d time.Duration) string { return url.QueryEscape(epoch.Add(d).Format(time.RFC3339)) }
	for _, tc := range []struct{ q, want string }{
		{"", recent},
		{"?start=" + ts(-time.Minute), old},
		{"?start=" + ts(10*time.Minute), ""},
		{"?end=" + ts(2*time.Minute), old},
		{"?start=" + ts(-time.Minute) + "&end=" + ts(2*time.Hour), old + "," + recent},
		{"?batch_id=" + old, old},
	} {
		if got := batches("/v1/mitigation/mails" + tc.q); got != tc.want {
			t.Errorf("%s: batches %q, want %q", tc.q, got, tc.want)
		}
	}
	h.clock.Advance(72 * time.Hour)
	code, _, body := h.do(http.MethodGet, "/v1/mitigation/mails?start="+ts(0), nil)
	wantError(t, code, body, 400, "start 2026-03-10T12:00:00.000Z is more than 72 hours ago: only the last 72 hours can be queried")
}
