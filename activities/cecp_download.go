package activities

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/eml"
	"github.com/parry-soar/parry/internal/mailzip"
)

// ArtifactKindMail is the kind of a stored quarantined-mail ZIP.
const ArtifactKindMail = "quarantined-mail"

// quarantineSearchMax bounds the quarantine events read to find a swept mail's event.
const quarantineSearchMax = 20_000

type attachmentOut struct {
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA1        string `json:"sha1"`
	SHA256      string `json:"sha256"`
}

type downloadOut struct {
	ArtifactID  string          `json:"artifact_id"`
	SHA256      string          `json:"sha256"`
	Size        int64           `json:"size"`
	Subject     string          `json:"subject"`
	From        string          `json:"from"`
	To          []string        `json:"to"`
	MessageID   string          `json:"message_id"`
	URLs        []string        `json:"urls"`
	Attachments []attachmentOut `json:"attachments"`
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (a *Activities) quarantineDownload(ctx context.Context, c *call) (any, error) {
	var in struct {
		Mail     map[string]any `json:"mail"`
		Password string         `json:"password"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	ev, err := quarantineRef(in.Mail)
	if err != nil {
		return nil, err
	}
	if a.deps.Artifacts == nil {
		return nil, failf(action.InvalidInput, "this worker has no artifact store to keep the mail in")
	}
	v, err := a.vendorFor(c)
	if err != nil {
		return nil, err
	}
	if ev.Message.MailBlobPath == "" && ev.Message.MailBackupBlobPath == "" {
		// A sweep item: the download needs the storage paths of the mail's quarantine event.
		if ev, err = a.findQuarantineEvent(ctx, v, ev.Message); err != nil {
			return nil, err
		}
	}
	zip, err := v.client.DownloadQuarantinedMail(ctx, ev, in.Password)
	if err != nil {
		return nil, v.fail("downloading quarantined mail "+ev.Message.MailUniqueID, err)
	}
	name := unsafeName.ReplaceAllString(ev.Message.MailUniqueID, "_")
	if name == "" {
		name = "mail"
	}
	art, err := a.deps.Artifacts.Put(ctx, artifact.Meta{RunID: c.runID, StepID: c.step, Kind: ArtifactKindMail,
		Name: clip(name) + ".zip", ContentType: "application/zip"}, zip)
	if err != nil {
		return nil, err
	}
	// The archive is kept as received even when it cannot be read, so an analyst can look at it.
	_, content, err := mailzip.ReadMessage(zip, in.Password, mailzip.Limits{MaxArchiveBytes: max(int64(len(zip)), mailzip.DefaultMaxArchiveBytes)})
	switch {
	case errors.Is(err, mailzip.ErrWrongPassword):
		return nil, failf(action.InvalidInput, "opening the ZIP (artifact %s): the password does not open it", art.ID)
	case errors.Is(err, mailzip.ErrPasswordRequired):
		return nil, failf(action.InvalidInput, "opening the ZIP (artifact %s): it is encrypted and the step gives no password (with.password: secret(\"name\"))", art.ID)
	case err != nil:
		return nil, failf(action.VendorRejected, "opening the ZIP (artifact %s): %v", art.ID, err)
	}
	msg, err := eml.Parse(content, eml.Limits{})
	if err != nil {
		return nil, failf(action.VendorRejected, "parsing the mail in the ZIP (artifact %s): %v", art.ID, err)
	}
	out := downloadOut{ArtifactID: art.ID, SHA256: art.SHA256, Size: art.Size, Subject: msg.Subject,
		MessageID: msg.MessageID, To: []string{}, URLs: strs(msg.AllURLs()), Attachments: []attachmentOut{}}
	if len(msg.From) > 0 {
		out.From = msg.From[0].Address
	}
	for _, to := range msg.To {
		out.To = append(out.To, to.Address)
	}
	for _, att := range msg.AllAttachments() {
		out.Attachments = append(out.Attachments, attachmentOut{FileName: att.FileName, ContentType: att.ContentType,
			Size: att.Size, SHA1: att.SHA1, SHA256: att.SHA256})
	}
	c.logger.Info("quarantined mail stored", "artifact_id", art.ID, "size", art.Size)
	return out, nil
}

// quarantineRef reads with.mail: a quarantine event's message, a whole quarantine event, or a sweep item.
func quarantineRef(mail map[string]any) (cecp.QuarantineEvent, error) {
	ev := cecp.QuarantineEvent{Service: cecp.ServiceExchange}
	src, where := mail, "with.mail"
	if msg, ok := mail["message"].(map[string]any); ok && mail["mailbox"] == nil {
		src, where = msg, "with.mail.message"
		if s, ok := mail["service"].(string); ok && s != "" {
			ev.Service = s
		}
	}
	b, err := json.Marshal(src)
	if err == nil {
		err = json.Unmarshal(b, &ev.Message)
	}
	if err != nil {
		return ev, failf(action.InvalidInput, "reading %s: %v", where, err)
	}
	if ev.Message.MailUniqueID == "" {
		return ev, failf(action.InvalidInput, "%s has no mail_unique_id: pass a quarantine event's message or a sweep item", where)
	}
	return ev, nil
}

// findQuarantineEvent finds the quarantine event of a swept mail by its unique id, searching from its delivery
// (or as far back as the vendor keeps events) to now.
func (a *Activities) findQuarantineEvent(ctx context.Context, v *vendor, m cecp.QuarantineMessage) (cecp.QuarantineEvent, error) {
	now := a.now().UTC()
	start := now.Add(-cecp.QuarantineEventsReach + time.Minute)
	if d := m.MailMessageDeliveryTime.Time; !d.IsZero() && d.Add(-lookupSkew).After(start) {
		start = d.Add(-lookupSkew)
	}
	if !start.Before(now) {
		start = now.Add(-lookupSkew)
	}
	pager := v.client.QuarantineEventPages(cecp.QuarantineEventsQuery{Service: cecp.ServiceExchange, Start: start, End: now,
		MaxResults: quarantineSearchMax})
	for ev, err := range pager.All(ctx) {
		if err != nil {
			return cecp.QuarantineEvent{}, v.fail("looking up the quarantine event of mail "+m.MailUniqueID, err)
		}
		if ev.Message.MailUniqueID == m.MailUniqueID && (m.Mailbox == "" || strings.EqualFold(ev.Message.Mailbox, m.Mailbox)) {
			return ev, nil
		}
	}
	return cecp.QuarantineEvent{}, failf(action.VendorRejected, "mail %s%s has no quarantine event since %s: only quarantined "+
		"mail can be downloaded (quarantine it first, with wait: true)", m.MailUniqueID, inMailbox(m.Mailbox),
		start.Format(time.RFC3339))
}

func inMailbox(mb string) string {
	if mb == "" {
		return ""
	}
	return " in " + mb
}
