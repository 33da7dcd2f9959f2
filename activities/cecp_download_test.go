package activities

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/mailzip"
	"github.com/parry-soar/parry/internal/plan"
)

func TestQuarantineDownload(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	box := h.sim.Tenants()[0].Mailboxes[1]
	content := []byte("%PDF-1.4 pretend invoice")
	now := time.Now().UTC()
	added, err := h.sim.AddMails("", []cecpsim.NewMail{
		{Mailbox: box, MailMessageSender: "billing@bad.example", MailMessageSubject: "Invoice 42",
			MailURLs: []string{"https://bad.example/pay"}, State: "quarantined",
			MailMessageDeliveryTime: now.Add(-30 * time.Minute).Format(time.RFC3339),
			MailAttachments:         []cecpsim.NewAttachment{{FileName: "invoice.pdf", Content: content}}},
		{Mailbox: box, MailMessageSender: "friend@ok.example", MailMessageSubject: "Lunch",
			MailMessageDeliveryTime: now.Add(-20 * time.Minute).Format(time.RFC3339)},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := h.mustExec("cecp.quarantine_events", "q", map[string]any{"start": now.Add(-time.Hour).Format(time.RFC3339),
		"end": now.Add(time.Minute).Format(time.RFC3339)})
	var event map[string]any
	for _, e := range q["quarantine_events"].([]any) {
		if m := e.(map[string]any)["message"].(map[string]any); m["mail_unique_id"] == added[0].MailUniqueID {
			event = m
		}
	}
	if event == nil {
		t.Fatal("no quarantine event for the seeded mail")
	}
	pw := []plan.SecretRef{{Path: []string{"password"}, Name: "quarantine-zip"}}
	out := h.mustExec("cecp.quarantine_download", "sample", map[string]any{"mail": event}, pw...)
	sum1, sum256 := sha1.Sum(content), sha256.Sum256(content)
	if out["subject"] != "Invoice 42" || out["from"] != "billing@bad.example" || out["message_id"] != added[0].MailMessageID ||
		len(out["to"].([]any)) == 0 {
		t.Errorf("summary %v", out)
	}
	if urls := out["urls"].([]any); len(urls) == 0 || !strings.Contains(urls[0].(string), "bad.example/pay") {
		t.Errorf("urls %v", urls)
	}
	atts := out["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments %v", atts)
	}
	att := atts[0].(map[string]any)
	if att["file_name"] != "invoice.pdf" || att["size"] != float64(len(content)) || att["sha1"] != hex.EncodeToString(sum1[:]) ||
		att["sha256"] != hex.EncodeToString(sum256[:]) {
		t.Errorf("attachment %v", att)
	}
	art, zip, err := h.arts.Read(context.Background(), out["artifact_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if art.RunID != h.runID || art.StepID != "sample" || art.Kind != ArtifactKindMail || art.SHA256 != out["sha256"] ||
		float64(art.Size) != out["size"] || art.Name != added[0].MailUniqueID+".zip" {
		t.Errorf("artifact %+v", art)
	}
	// The stored ZIP is the vendor's, encrypted with the password.
	if _, _, err := mailzip.ReadMessage(zip, "", mailzip.Limits{}); !errors.Is(err, mailzip.ErrPasswordRequired) {
		t.Errorf("reading the stored ZIP without a password: %v", err)
	}

	// A sweep item works too: the activity finds its quarantine event. Without a password the ZIP is plain.
	sweep := h.mustExec("cecp.sweep", "sweep", map[string]any{"sender": "billing@bad.example", "lastndays": 1.0})
	out2 := h.mustExec("cecp.quarantine_download", "sample2", map[string]any{"mail": sweep["mails"].([]any)[0]})
	if out2["subject"] != "Invoice 42" || out2["artifact_id"] == out["artifact_id"] {
		t.Errorf("download from a sweep item: %v", out2)
	}

	lunch := h.mustExec("cecp.sweep", "sweep3", map[string]any{"sender": "friend@ok.example", "lastndays": 1.0})
	_, err = h.exec("cecp.quarantine_download", "sample3", map[string]any{"mail": lunch["mails"].([]any)[0]})
	ae := appErr(t, err)
	if ae.Type() != action.VendorRejected || !strings.HasPrefix(ae.Message(), "mail "+added[1].MailUniqueID+" in "+box+" has no quarantine event since ") {
		t.Errorf("download of a delivered mail: %s %q", ae.Type(), ae.Message())
	}
	_, err = h.exec("cecp.quarantine_download", "sample4", map[string]any{"mail": map[string]any{"mailbox": box}})
	wantErr(t, err, action.InvalidInput, "with.mail has no mail_unique_id: pass a quarantine event's message or a sweep item")
	_, err = h.exec("cecp.quarantine_download", "sample5", map[string]any{"mail": event},
		plan.SecretRef{Path: []string{"password"}, Name: "zip-password-missing"})
	wantErr(t, err, action.InvalidInput, `with.password: secret "zip-password-missing" not found`)
}
