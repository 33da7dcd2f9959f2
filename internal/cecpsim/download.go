package cecpsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/mailzip"
)

// downloadQuarantined serves POST /v1/siem/quarantine_mails (and the vendor's misspelt quanrantine_mails): one
// quarantined mail as a ZIP holding its .eml, encrypted when a compression password is given.
func (s *Server) downloadQuarantined(t *tenant, r *http.Request, now time.Time) *response {
	var req downloadRequest
	// The body may carry a whole quarantine event as received, so unknown fields are accepted here.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return s.badRequest("request body is larger than %d bytes", mbe.Limit)
		}
		return s.badRequest("reading the request body: %v", err)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return s.badRequest("request body is not valid JSON: %v", err)
	}
	if len(req.QuarantineEvents) != 1 {
		return s.badRequest("quarantine_events must hold exactly one event, not %d", len(req.QuarantineEvents))
	}
	ev := req.QuarantineEvents[0]
	if ev.Service != "Exchange Online" && ev.Service != "exchange" {
		return s.badRequest("service %q must be \"Exchange Online\" or \"exchange\"", ev.Service)
	}
	// The reference lists eight message fields of the request and says the blob paths and the direction are
	// what the endpoint needs; the stricter reading requires all eight present, those and the ids non-empty.
	var keys struct {
		QuarantineEvents []struct {
			Message map[string]json.RawMessage `json:"message"`
		} `json:"quarantine_events"`
	}
	_ = json.Unmarshal(body, &keys)
	var missing []string
	for _, k := range downloadFields {
		if _, ok := keys.QuarantineEvents[0].Message[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return s.badRequest("message lacks %s (a download names the mail with every field of its quarantine event: %s)",
			strings.Join(missing, ", "), strings.Join(downloadFields, ", "))
	}
	msg := ev.Message
	for _, f := range []struct{ name, v string }{{"mail_unique_id", msg.MailUniqueID}, {"mail_log_id", msg.MailLogID},
		{"mail_blob_path", msg.MailBlobPath}, {"mail_backup_blob_path", msg.MailBackupBlobPath}, {"mail_message_direction", msg.MailMessageDirection}} {
		if f.v == "" {
			return s.badRequest("message.%s is empty: it comes from the mail's quarantine event", f.name)
		}
	}
	m := t.byUID[msg.MailUniqueID]
	if m == nil || m.state != StateQuarantined || m.quarantine == nil || m.quarantine.logID != msg.MailLogID ||
		msg.MailBlobPath != m.quarantine.blobPath || msg.MailBackupBlobPath != m.quarantine.backupBlobPath ||
		msg.Mailbox != "" && !strings.EqualFold(msg.Mailbox, m.mailbox) {
		return s.vendorError(http.StatusNotFound, "The quarantined mail could not be found")
	}
	t.markDirty() // the archive's randomness comes from the tenant's generator
	eml := buildEML(m)
	opts := mailzip.WriteOptions{Rand: rand.NewChaCha8(seed32(t.rng.Uint64(), t.rng.Uint64()))}
	if pw := req.DownloadOptions.CompressionPassword; pw != "" {
		opts.Encryption, opts.Password = s.opts.DownloadEncryption, pw
	}
	var buf bytes.Buffer
	name := m.quarantine.logID + ".eml"
	if err := mailzip.Write(&buf, []mailzip.File{{Name: name, Data: eml, Modified: m.delivery}}, opts); err != nil {
		return s.vendorError(http.StatusInternalServerError, "building the archive failed")
	}
	return &response{status: http.StatusOK, contentType: "application/zip", body: buf.Bytes(),
		header: http.Header{"Content-Disposition": {`attachment; filename="` + m.quarantine.logID + `.zip"`}}}
}

// downloadFields are the message fields of a download request, as the reference lists them.
var downloadFields = []string{"affected_user", "mailbox", "mail_unique_id", "mail_log_id", "mail_message_id",
	"mail_blob_path", "mail_backup_blob_path", "mail_message_direction"}

func seed32(a, b uint64) [32]byte {
	var s [32]byte
	for i := 0; i < 8; i++ {
		s[i], s[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	return s
}

// headerValue keeps a value on one line: data posted to /_sim/mails must not inject headers.
func headerValue(v string) string {
	v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", v)
		}
	}
	return v
}

// buildEML writes m as an RFC 5322 message: its internet headers, a text and an HTML body naming its URLs, and
// its attachments with exactly the bytes whose hashes the sweep reports.
func buildEML(m *mail) []byte {
	var b bytes.Buffer
	for _, h := range m.headers {
		if strings.EqualFold(h.HeaderName, "Content-Type") || strings.EqualFold(h.HeaderName, "MIME-Version") {
			continue
		}
		fmt.Fprintf(&b, "%s: %s\r\n", headerValue(h.HeaderName), headerValue(h.Value))
	}
	boundary := fmt.Sprintf("sim-mixed-%x", splitmix(uint64(m.delivery.UnixMilli())))
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
	mw := multipart.NewWriter(&b)
	mw.SetBoundary(boundary)

	alt := boundary + "-alt"
	part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {`multipart/alternative; boundary="` + alt + `"`}})
	aw := multipart.NewWriter(part)
	aw.SetBoundary(alt)
	writeQP(aw, "text/plain; charset=utf-8", m.body)
	writeQP(aw, "text/html; charset=utf-8", htmlBody(m))
	aw.Close()

	for _, a := range m.attachments {
		h := textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(a.contentType, map[string]string{"name": a.name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.name})},
			"Content-Transfer-Encoding": {"base64"},
		}
		if h.Get("Content-Type") == "" { // a content type FormatMediaType refuses
			h.Set("Content-Type", "application/octet-stream")
		}
		w, _ := mw.CreatePart(h)
		enc := base64.StdEncoding.EncodeToString(a.bytes())
		for len(enc) > 76 {
			w.Write([]byte(enc[:76] + "\r\n"))
			enc = enc[76:]
		}
		w.Write([]byte(enc + "\r\n"))
	}
	mw.Close()
	return b.Bytes()
}

func writeQP(w *multipart.Writer, contentType, text string) {
	part, _ := w.CreatePart(textproto.MIMEHeader{"Content-Type": {contentType}, "Content-Transfer-Encoding": {"quoted-printable"}})
	qp := quotedprintable.NewWriter(part)
	qp.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	qp.Close()
}

func htmlBody(m *mail) string {
	var b strings.Builder
	b.WriteString("<html><body>\n")
	for _, line := range strings.Split(strings.TrimRight(m.body, "\n"), "\n") {
		isURL := false
		for _, u := range m.urls {
			if line == u {
				isURL = true
			}
		}
		if isURL {
			fmt.Fprintf(&b, "<p><a href=\"%s\">%s</a></p>\n", htmlEscape(line), htmlEscape(line))
		} else if line != "" {
			fmt.Fprintf(&b, "<p>%s</p>\n", htmlEscape(line))
		}
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
