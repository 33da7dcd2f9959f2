package cecpsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/suggest"
)

// NewMail is a mail to add through POST /_sim/mails or AddMails: a sweep item (mail_unique_id, message id,
// delivery time, recipients, headers and source are generated when absent) plus two extensions: state
// (delivered, the default, or quarantined, which also raises a quarantine and a security event) and the
// attachments' content (base64 in JSON), from which their hashes are computed.
type NewMail struct {
	Mailbox                 string           `json:"mailbox"`
	MailMessageSender       string           `json:"mail_message_sender"`
	MailMessageRecipient    []string         `json:"mail_message_recipient"`
	MailMessageSubject      string           `json:"mail_message_subject"`
	MailMessageID           string           `json:"mail_message_id"`
	MailUniqueID            string           `json:"mail_unique_id"`
	MailMessageDeliveryTime string           `json:"mail_message_delivery_time"`
	MailURLs                []string         `json:"mail_urls"`
	MailAttachments         []NewAttachment  `json:"mail_attachments"`
	MailInternetHeaders     []InternetHeader `json:"mail_internet_headers"`
	SourceIP                string           `json:"source_ip"`
	SourceDomain            string           `json:"source_domain"`
	State                   string           `json:"state"`
}

// NewAttachment is an attachment of a NewMail. With Content, the hashes are computed (and must agree when also
// given); with only a name, content is generated; with only hashes, downloads carry a stand-in file.
type NewAttachment struct {
	FileName   string `json:"file_name"`
	FileSHA1   string `json:"file_sha1"`
	FileSHA256 string `json:"file_sha256"`
	Content    []byte `json:"content"`
}

// maxNewMails bounds one POST /_sim/mails.
const maxNewMails = 10_000

// AddMails adds mails to a tenant ("" for the first) and returns them as stored. Nothing is added unless every
// mail is valid.
func (s *Server) AddMails(tenantName string, in []NewMail) ([]SweepMail, error) {
	t, err := s.tenant(tenantName)
	if err != nil {
		return nil, err
	}
	if len(in) > maxNewMails {
		return nil, fmt.Errorf("%d mails in one request; at most %d", len(in), maxNewMails)
	}
	out, err := t.addMails(in, s.now())
	if err != nil {
		return nil, err
	}
	return out, s.persist(false)
}

func (t *tenant) addMails(in []NewMail, now time.Time) ([]SweepMail, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advance(now)
	seen := map[string]bool{}
	for i, nm := range in {
		if err := t.checkNewMail(nm, seen); err != nil {
			return nil, fmt.Errorf("mail %d: %w", i+1, err)
		}
	}
	t.markDirty()
	out := make([]SweepMail, 0, len(in))
	for _, nm := range in {
		m := t.buildNewMail(nm, now)
		t.insertMail(m)
		if nm.State == StateQuarantined {
			at := m.delivery.Add(2 * time.Second)
			if at.After(now) {
				at = now.Truncate(time.Millisecond)
			}
			c := &campaign{kind: campaignKinds[0], risk: "Phishing_URL"}
			if len(m.attachments) > 0 {
				c.kind, c.risk, c.attachments = campaignKinds[1], "TROJ_GEN.R002C0PLQ20", m.attachments
			}
			t.quarantine(m, at, c.kind.qtype, c.kind.filter, c.risk)
			t.addMailEvent(c, m, at)
			sortSecEvents(t.secEvents)
		}
		out = append(out, m.sweepItem())
	}
	return out, nil
}

func (t *tenant) checkNewMail(nm NewMail, seen map[string]bool) error {
	switch {
	case !strings.Contains(nm.Mailbox, "@"):
		return fmt.Errorf("mailbox %q is not an email address", nm.Mailbox)
	case !strings.Contains(nm.MailMessageSender, "@"):
		return fmt.Errorf("mail_message_sender %q is not an email address", nm.MailMessageSender)
	case nm.State != "" && nm.State != StateDelivered && nm.State != StateQuarantined:
		return fmt.Errorf("state %q must be delivered or quarantined", nm.State)
	}
	if id := nm.MailUniqueID; id != "" {
		if _, dup := t.byUID[id]; dup || seen[id] {
			return fmt.Errorf("mail_unique_id %q already exists", clip(id))
		}
		seen[id] = true
	}
	if nm.MailMessageDeliveryTime != "" {
		if _, err := time.Parse(time.RFC3339Nano, nm.MailMessageDeliveryTime); err != nil {
			return fmt.Errorf("mail_message_delivery_time %q is not an ISO-8601 time", clip(nm.MailMessageDeliveryTime))
		}
	}
	if nm.SourceIP != "" {
		if _, ok := parseIPFilter(nm.SourceIP); !ok || strings.Contains(nm.SourceIP, "/") {
			return fmt.Errorf("source_ip %q is not an IP address", nm.SourceIP)
		}
	}
	for j, a := range nm.MailAttachments {
		if a.FileName == "" {
			return fmt.Errorf("attachment %d has no file_name", j+1)
		}
		if a.FileSHA1 != "" && !isHex(a.FileSHA1, 40) || a.FileSHA256 != "" && !isHex(a.FileSHA256, 64) {
			return fmt.Errorf("attachment %q: file_sha1 must be 40 and file_sha256 64 hexadecimal digits", a.FileName)
		}
		if a.Content != nil {
			probe := newAttachment(a.FileName, a.Content)
			if a.FileSHA1 != "" && !strings.EqualFold(a.FileSHA1, probe.sha1) || a.FileSHA256 != "" && !strings.EqualFold(a.FileSHA256, probe.sha256) {
				return fmt.Errorf("attachment %q: the given hashes are not those of its content", a.FileName)
			}
		}
	}
	return nil
}

func (t *tenant) buildNewMail(nm NewMail, now time.Time) *mail {
	at := now.Truncate(time.Millisecond)
	if nm.MailMessageDeliveryTime != "" {
		v, _ := time.Parse(time.RFC3339Nano, nm.MailMessageDeliveryTime)
		at = v.Truncate(time.Millisecond)
	}
	recipients := nm.MailMessageRecipient
	if len(recipients) == 0 {
		recipients = []string{nm.Mailbox}
	}
	ip := nm.SourceIP
	if ip == "" {
		ip = "198.51.100.77"
	}
	srcDomain := nm.SourceDomain
	if srcDomain == "" {
		srcDomain = domainOf(nm.MailMessageSender)
	}
	var atts []*attachment
	for _, a := range nm.MailAttachments {
		switch {
		case a.Content != nil:
			atts = append(atts, newAttachment(a.FileName, append([]byte(nil), a.Content...)))
		case a.FileSHA1 == "" && a.FileSHA256 == "":
			atts = append(atts, t.genAttachment(a.FileName))
		default:
			atts = append(atts, &attachment{name: a.FileName, contentType: contentTypeFor(a.FileName),
				sha1: strings.ToLower(a.FileSHA1), sha256: strings.ToLower(a.FileSHA256), placeholder: true})
		}
	}
	m := t.newMail(nm.Mailbox, nm.MailMessageSender, recipients, nm.MailMessageSubject, at, ip, srcDomain, nm.MailURLs, atts, false)
	if nm.MailUniqueID != "" {
		delete(t.byUID, m.uniqueID)
		m.uniqueID = nm.MailUniqueID
	}
	if nm.MailMessageID != "" {
		m.messageID = nm.MailMessageID
		m.headers = mailHeaders(m, t.domain, false)
	}
	if len(nm.MailInternetHeaders) > 0 {
		m.headers = append([]InternetHeader{}, nm.MailInternetHeaders...)
	}
	return m
}

// admin serves the /_sim endpoints.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	tenantName := r.URL.Query().Get("tenant")
	switch r.Method + " " + r.URL.Path {
	case "GET /_sim/state":
		st, err := s.State(tenantName)
		if err != nil {
			s.adminError(w, http.StatusNotFound, err)
			return
		}
		s.write(w, s.json(http.StatusOK, st))
	case "POST /_sim/mails":
		var in []NewMail
		if err := readAdminJSON(r, &in, newMailFields); err != nil {
			s.adminError(w, http.StatusBadRequest, err)
			return
		}
		out, err := s.AddMails(tenantName, in)
		if err != nil {
			s.adminError(w, http.StatusBadRequest, err)
			return
		}
		s.write(w, s.json(http.StatusCreated, out))
	case "GET /_sim/faults":
		s.write(w, s.json(http.StatusOK, s.Faults()))
	case "POST /_sim/faults":
		var f Faults
		if err := readAdminJSON(r, &f, faultFields); err != nil {
			s.adminError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.SetFaults(f); err != nil {
			s.adminError(w, http.StatusBadRequest, err)
			return
		}
		s.write(w, s.json(http.StatusOK, s.Faults()))
	default:
		s.adminError(w, http.StatusNotFound, fmt.Errorf("no admin endpoint %s %s (there are GET /_sim/state, POST /_sim/mails, GET and POST /_sim/faults)", r.Method, r.URL.Path))
	}
}

var (
	newMailFields = []string{"mailbox", "mail_message_sender", "mail_message_recipient", "mail_message_subject",
		"mail_message_id", "mail_unique_id", "mail_message_delivery_time", "mail_urls", "mail_attachments",
		"mail_internet_headers", "source_ip", "source_domain", "state", "file_name", "file_sha1", "file_sha256", "content"}
	faultFields = []string{"error_500", "error_503", "error_429", "rate_limit_200", "storm_429", "latency", "hang",
		"malformed_json", "drop_after_post", "paths"}
)

func (s *Server) adminError(w http.ResponseWriter, status int, err error) {
	s.write(w, s.json(status, map[string]string{"error": err.Error()}))
}

// readAdminJSON decodes strictly and turns encoding/json's unknown-field error into one with a hint.
func readAdminJSON(r *http.Request, v any, fields []string) error {
	body := http.MaxBytesReader(nil, r.Body, 64<<20)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body is larger than %d bytes", mbe.Limit)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name = strings.Trim(name, `"`)
			return fmt.Errorf("unknown field %q%s", name, suggest.Hint(name, fields))
		}
		return fmt.Errorf("request body: %v", err)
	}
	if dec.More() {
		return errors.New("request body has data after the JSON value")
	}
	return nil
}
