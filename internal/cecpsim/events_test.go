package cecpsim

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

func iso(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339Nano)) }

// allSecurityEvents reads every security event of one kind in the 72 hours reachable, following next_link.
func (h *harness) allSecurityEvents(service, event string, limit int) ([]securityEventItem, int) {
	h.t.Helper()
	path := fmt.Sprintf("/v1/siem/security_events?service=%s&event=%s&limit=%d&start=%s&end=%s", service, event, limit,
		iso(epoch.Add(-72*time.Hour)), iso(epoch))
	var all []securityEventItem
	pages := 0
	for path != "" {
		var page securityEventsResponse
		h.getJSON(path, &page)
		pages++
		all = append(all, page.SecurityEvents...)
		if n := len(page.SecurityEvents); n > 0 && page.LastLogItemGenerationTime != page.SecurityEvents[n-1].Message.DetectionTime {
			h.t.Fatalf("last_log_item_generation_time %q, last item at %q", page.LastLogItemGenerationTime, page.SecurityEvents[n-1].Message.DetectionTime)
		}
		path = page.NextLink
	}
	return all, pages
}

func TestSecurityEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 61, Mailboxes: 60})
	all, _ := h.allSecurityEvents("exchange", "securityrisk", 500)
	if len(all) < 3 {
		t.Fatalf("only %d exchange securityrisk events in 72 hours", len(all))
	}
	mails, _ := h.sim.Mails("")
	st, _ := h.sim.State("")
	bySubjectAndBox := map[string]int{}
	for i, m := range mails {
		bySubjectAndBox[m.MailMessageID+"|"+m.Mailbox] = i
	}
	for _, e := range all {
		if e.Service != "Exchange" || e.Event != "security_risk_scan" || e.LogItemID != e.Message.LogItemID {
			t.Fatalf("event %+v", e)
		}
		i, ok := bySubjectAndBox[e.Message.MailMessageID+"|"+e.Message.AffectedUser]
		if !ok {
			t.Fatalf("event for a mail the sweep does not know: %+v", e.Message)
		}
		if m := mails[i]; st.Mails[i].State != StateQuarantined || m.MailMessageSubject != e.Message.MailMessageSubject ||
			m.MailMessageSender != e.Message.MailMessageSender {
			t.Fatalf("event %+v does not match mail %+v (%s)", e.Message, m, st.Mails[i].State)
		}
		if len(mails[i].MailAttachments) > 0 && e.Message.FileSHA256 != mails[i].MailAttachments[0].FileSHA256 {
			t.Fatalf("event file hash %s, mail %+v", e.Message.FileSHA256, mails[i].MailAttachments)
		}
	}
	// Pagination: every event once, in order, for every page size.
	for _, limit := range []int{1, 2, 5} {
		paged, pages := h.allSecurityEvents("exchange", "securityrisk", limit)
		if len(paged) != len(all) || pages != (len(all)+limit-1)/limit {
			t.Fatalf("limit %d: %d events in %d pages, want %d", limit, len(paged), pages, len(all))
		}
		for i := range paged {
			if paged[i].LogItemID != all[i].LogItemID {
				t.Fatalf("limit %d: event %d differs", limit, i)
			}
		}
	}
	// Windows: default last 5 minutes, start+5m, end-5m.
	last := all[len(all)-1]
	at, _ := time.Parse(time.RFC3339Nano, last.Message.DetectionTime)
	h.clock.Advance(at.Add(2 * time.Minute).Sub(epoch))
	count := func(query string) int {
		var page securityEventsResponse
		h.getJSON("/v1/siem/security_events?service=exchange&event=securityrisk"+query, &page)
		for _, e := range page.SecurityEvents {
			if e.LogItemID == last.LogItemID {
				return 1
			}
		}
		return 0
	}
	for query, want := range map[string]int{
		"":                                      1,
		"&start=" + iso(at.Add(-5*time.Minute)): 1,
		"&start=" + iso(at.Add(-5*time.Minute-time.Millisecond)): 0,
		"&end=" + iso(at.Add(5*time.Minute)):                     1,
		"&end=" + iso(at.Add(-time.Millisecond)):                 0,
	} {
		if got := count(query); got != want {
			t.Errorf("window %q: found %d, want %d", query, got, want)
		}
	}
	h.clock.Advance(6 * time.Minute)
	if count("") != 0 {
		t.Error("the default window reaches back more than 5 minutes")
	}
	// Other services have their own events.
	var fileEvents int
	for _, svc := range []string{"onedrive", "sharepoint", "box", "dropbox", "googledrive", "teams"} {
		for _, ev := range eventKinds {
			es, _ := h.allSecurityEvents(svc, ev, 500)
			for _, e := range es {
				if e.Service != serviceDisplay[svc] || e.Event != eventDisplay[ev] || e.Message.FileSHA1 == "" {
					t.Fatalf("%s/%s event %+v", svc, ev, e)
				}
			}
			fileEvents += len(es)
		}
	}
	if fileEvents == 0 {
		t.Fatal("no file-service events")
	}
}

func TestEventBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 62})
	for _, tc := range []struct{ path, msg string }{
		{"/v1/siem/security_events?event=securityrisk", "parameter service is required (one of exchange, sharepoint, onedrive, dropbox, box, googledrive, gmail, teams, exchangeserver, salesforce_sandbox, salesforce_production, teams_chat)"},
		{"/v1/siem/security_events?service=exchange", "parameter event is required (one of securityrisk, virtualanalyzer, ransomware, dlp)"},
		{"/v1/siem/security_events?service=exchang&event=dlp", `parameter service="exchang" is not one of exchange, sharepoint, onedrive, dropbox, box, googledrive, gmail, teams, exchangeserver, salesforce_sandbox, salesforce_production, teams_chat (did you mean "exchange"?)`},
		{"/v1/siem/security_events?service=exchange&event=dlp&start=" + iso(epoch.Add(-73*time.Hour)), "start 2026-03-07T11:00:00.000Z is more than 72 hours ago: only the last 72 hours can be queried"},
		{"/v1/siem/security_events?service=exchange&event=dlp&end=" + iso(epoch.Add(-80*time.Hour)), "end 2026-03-07T04:00:00.000Z is more than 72 hours ago: only the last 72 hours can be queried"},
		{"/v1/siem/security_events?service=exchange&event=dlp&limit=501", `parameter limit="501" must be a whole number from 1 to 500`},
		{"/v1/siem/quarantine_events", "parameter service is required (one of exchange)"},
		{"/v1/siem/quarantine_events?service=gmail", `parameter service="gmail" is not one of exchange`},
		{"/v1/siem/quarantine_events?service=exchange&start=" + iso(epoch.Add(-8*24*time.Hour)), "start 2026-03-02T12:00:00.000Z is more than 7 days ago: only the last 7 days can be queried"},
	} {
		code, _, body := h.do("GET", tc.path, nil)
		wantError(t, code, body, 400, tc.msg)
	}
}

func TestQuarantineEventsWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 63, Mailboxes: 40})
	all := h.quarantineEvents() // the whole 7 days
	var lastDay int
	for _, e := range all {
		at, _ := time.Parse(time.RFC3339Nano, e.Message.DetectionTime)
		if !at.Before(epoch.Add(-24 * time.Hour)) {
			lastDay++
		}
		if e.Service != "Exchange Online" || e.Message.MailStatus != "Quarantined" || e.Message.MailBlobPath == "" ||
			e.Message.MailBackupBlobPath == "" || e.Message.MailMessageDirection != "Inbound" || len(e.Message.MailLogID) != 36 {
			t.Fatalf("event %+v", e)
		}
	}
	var page quarantineEventsResponse
	h.getJSON("/v1/siem/quarantine_events?service=exchange", &page)
	if len(page.QuarantineEvents) != lastDay {
		t.Fatalf("default window: %d events, want the last day's %d", len(page.QuarantineEvents), lastDay)
	}
	if len(all) <= lastDay {
		t.Fatal("all events are from the last day: the default is not exercised")
	}
}
