package cecpsim

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/eml"
	"github.com/parry-soar/parry/internal/mailzip"
)

func downloadBody(ev quarantineEventItem, password string) map[string]any {
	m := ev.Message
	return map[string]any{
		"quarantine_events": []any{map[string]any{"service": ev.Service, "message": map[string]any{
			"affected_user": m.AffectedUser, "mailbox": m.Mailbox, "mail_unique_id": m.MailUniqueID,
			"mail_log_id": m.MailLogID, "mail_message_id": m.MailMessageID, "mail_blob_path": m.MailBlobPath,
			"mail_backup_blob_path": m.MailBackupBlobPath, "mail_message_direction": m.MailMessageDirection}}},
		"download_options": map[string]any{"compression_password": password},
	}
}

func (h *harness) quarantineEvents() []quarantineEventItem {
	h.t.Helper()
	var all []quarantineEventItem
	path := "/v1/siem/quarantine_events?service=exchange&limit=7&start=" + epoch.Add(-7*24*time.Hour).Format(time.RFC3339) + "&end=" + epoch.Format(time.RFC3339)
	for path != "" {
		var page quarantineEventsResponse
		h.getJSON(path, &page)
		all = append(all, page.QuarantineEvents...)
		path = page.NextLink
	}
	return all
}

func TestQuarantineDownload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 31, Mailboxes: 40})
	events := h.quarantineEvents()
	mails, _ := h.sim.Mails("")
	byUID := map[string]SweepMail{}
	for _, m := range mails {
		byUID[m.MailUniqueID] = m
	}
	withAttachments := 0
	for i, ev := range events {
		password := ""
		path := "/v1/siem/quarantine_mails"
		if i%2 == 1 {
			password, path = "p@ss wörd", "/v1/siem/quanrantine_mails"
		}
		code, hdr, body := h.do(http.MethodPost, path, downloadBody(ev, password))
		if code != 200 || hdr.Get("Content-Type") != "application/zip" {
			t.Fatalf("download %d: %d %s", i, code, body)
		}
		a, err := mailzip.Open(body, mailzip.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		wantEnc := mailzip.NoEncryption
		if password != "" {
			wantEnc = mailzip.AES256
			if _, _, err := mailzip.ReadMessage(body, "wrong", mailzip.Limits{}); !errors.Is(err, mailzip.ErrWrongPassword) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if ms := a.Members(); len(ms) != 1 || ms[0].Encryption != wantEnc || ms[0].Name != ev.Message.MailLogID+".eml" {
			t.Fatalf("members %+v", ms)
		}
		_, raw, err := mailzip.ReadMessage(body, password, mailzip.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := eml.Parse(raw, eml.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		sw := byUID[ev.Message.MailUniqueID]
		if len(msg.Warnings) > 0 || msg.Subject != sw.MailMessageSubject || msg.MessageID != sw.MailMessageID ||
			len(msg.From) != 1 || msg.From[0].Address != sw.MailMessageSender {
			t.Fatalf("parsed %+v\nsweep %+v", msg, sw)
		}
		if !slices.Equal(msg.URLs, sw.MailURLs) {
			t.Errorf("urls %q, sweep %q", msg.URLs, sw.MailURLs)
		}
		if len(msg.Received) == 0 || len(msg.AuthenticationResults) != 1 {
			t.Errorf("received %q auth %q", msg.Received, msg.AuthenticationResults)
		}
		var got, want []SweepAttachment
		for _, at := range msg.Attachments {
			got = append(got, SweepAttachment{FileName: at.FileName, FileSHA1: at.SHA1, FileSHA256: at.SHA256})
		}
		want = sw.MailAttachments
		if len(want) == 0 {
			want = nil
		} else {
			withAttachments++
		}
		if !slices.Equal(got, want) {
			t.Fatalf("attachments %+v, sweep %+v", got, want)
		}
	}
	if len(events) < 4 || withAttachments == 0 {
		t.Fatalf("%d events, %d with attachments: not enough to test", len(events), withAttachments)
	}
}

func TestQuarantineDownloadOfAddedMail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 32})
	content := []byte("%PDF-1.7 hand made\n")
	added, err := h.sim.AddMails("", []NewMail{{Mailbox: "carol@corp.example", MailMessageSender: "Évil <bad@evil.example>",
		MailMessageSubject: "Réglez la facture", MailURLs: []string{"https://evil.example/pay?x=1&y=2"}, State: StateQuarantined,
		MailAttachments: []NewAttachment{{FileName: "facture n°1.pdf", Content: content}}}})
	if err != nil {
		t.Fatal(err)
	}
	events := h.quarantineEvents()
	ev := events[len(events)-1]
	if ev.Message.MailUniqueID != added[0].MailUniqueID {
		t.Fatalf("the added mail has no quarantine event: %+v", ev)
	}
	code, _, body := h.do(http.MethodPost, "/v1/siem/quarantine_mails", downloadBody(ev, ""))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	_, raw, err := mailzip.ReadMessage(body, "", mailzip.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := eml.Parse(raw, eml.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Réglez la facture" || len(msg.Attachments) != 1 || msg.Attachments[0].FileName != "facture n°1.pdf" ||
		string(msg.Attachments[0].Content) != string(content) || !slices.Equal(msg.URLs, []string{"https://evil.example/pay?x=1&y=2"}) {
		t.Fatalf("parsed %+v", msg)
	}
	// A security event was raised too, so a poller sees the detection.
	var se securityEventsResponse
	h.getJSON("/v1/siem/security_events?service=exchange&event=securityrisk", &se)
	if len(se.SecurityEvents) != 1 || se.SecurityEvents[0].Message.MailMessageSubject != "Réglez la facture" {
		t.Fatalf("security events %+v", se.SecurityEvents)
	}
}

func TestQuarantineDownloadErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 33, ActionDelay: -1})
	ev := h.quarantineEvents()[0]
	two := downloadBody(ev, "")
	two["quarantine_events"] = append(two["quarantine_events"].([]any), two["quarantine_events"].([]any)[0])
	code, _, body := h.do(http.MethodPost, "/v1/siem/quarantine_mails", two)
	wantError(t, code, body, 400, "quarantine_events must hold exactly one event, not 2")
	bad := downloadBody(ev, "")
	bad["quarantine_events"].([]any)[0].(map[string]any)["service"] = "gmail"
	code, _, body = h.do(http.MethodPost, "/v1/siem/quarantine_mails", bad)
	wantError(t, code, body, 400, `service "gmail" must be "Exchange Online" or "exchange"`)
	wrongLog := downloadBody(ev, "")
	wrongLog["quarantine_events"].([]any)[0].(map[string]any)["message"].(map[string]any)["mail_log_id"] = "nope"
	code, _, body = h.do(http.MethodPost, "/v1/siem/quarantine_mails", wrongLog)
	wantError(t, code, body, 404, "The quarantined mail could not be found")
	// What the reference requires of the request: every field of the event, the paths and direction set.
	partial := downloadBody(ev, "")
	delete(partial["quarantine_events"].([]any)[0].(map[string]any)["message"].(map[string]any), "mail_backup_blob_path")
	delete(partial["quarantine_events"].([]any)[0].(map[string]any)["message"].(map[string]any), "mail_message_direction")
	code, _, body = h.do(http.MethodPost, "/v1/siem/quarantine_mails", partial)
	wantError(t, code, body, 400, "message lacks mail_backup_blob_path, mail_message_direction (a download names the mail with every field of its quarantine event: affected_user, mailbox, mail_unique_id, mail_log_id, mail_message_id, mail_blob_path, mail_backup_blob_path, mail_message_direction)")
	empty := downloadBody(ev, "")
	empty["quarantine_events"].([]any)[0].(map[string]any)["message"].(map[string]any)["mail_blob_path"] = ""
	code, _, body = h.do(http.MethodPost, "/v1/siem/quarantine_mails", empty)
	wantError(t, code, body, 400, "message.mail_blob_path is empty: it comes from the mail's quarantine event")
	// Once deleted, the mail is no longer downloadable.
	h.postBatch("/v1/mitigation/mails", []mailActionRequest{{ActionType: "MAIL_DELETE", Service: "exchange", AccountProvider: "office365",
		Mailbox: ev.Message.Mailbox, MailUniqueID: ev.Message.MailUniqueID}})
	code, _, body = h.do(http.MethodPost, "/v1/siem/quarantine_mails", downloadBody(ev, ""))
	wantError(t, code, body, 404, "The quarantined mail could not be found")
	code, _, body = h.do(http.MethodPost, "/v1/siem/quarantine_mails", "{")
	if code != 400 || !strings.Contains(string(body), "request body is not valid JSON") {
		t.Fatalf("%d %s", code, body)
	}
}
