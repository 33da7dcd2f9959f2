package cecpsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sweepRetention     = 90 * 24 * time.Hour
	sweepDefaultWindow = 7 * 24 * time.Hour
	sweepDefaultLimit  = 20
	sweepMaxLimit      = 1000
)

var sweepParams = []string{"mailbox", "lastndays", "start", "end", "subject", "file_sha1", "file_sha256",
	"file_name", "file_extension", "url", "sender", "recipient", "message_id", "source_ip", "source_domain",
	"limit", "skiptoken"}

// sweepFilter is a parsed sweep query.
type sweepFilter struct {
	start, end                            time.Time
	mailbox, sender, recipient, messageID *glob
	fileName, url, sourceDomain           *glob
	fileExt, sha1, sha256                 string
	subject                               *subjectQuery
	sourceIP                              *netip.Prefix
}

func optGlob(p params, k string) *glob {
	if !p.has(k) {
		return nil
	}
	g := newGlob(p.get(k))
	return &g
}

func parseSweep(p params, now time.Time) (sweepFilter, error) {
	var f sweepFilter
	var err error
	if p.has("lastndays") {
		if p.has("start") || p.has("end") {
			return f, errorf("parameter lastndays cannot be combined with start or end")
		}
		n, convErr := strconv.Atoi(p.get("lastndays"))
		if convErr != nil || n < 1 || n > 90 {
			return f, errorf("parameter lastndays=%q must be a whole number of days from 1 to 90", p.get("lastndays"))
		}
		f.start, f.end = now.Add(-time.Duration(n)*24*time.Hour), now
	} else if f.start, f.end, err = p.window(now, sweepDefaultWindow); err != nil {
		return f, err
	}
	if oldest := now.Add(-sweepRetention); f.start.Before(oldest) {
		f.start = oldest // mail metadata is kept 90 days: older mail is simply gone
	}
	f.mailbox, f.sender, f.recipient = optGlob(p, "mailbox"), optGlob(p, "sender"), optGlob(p, "recipient")
	f.messageID, f.fileName, f.url, f.sourceDomain = optGlob(p, "message_id"), optGlob(p, "file_name"), optGlob(p, "url"), optGlob(p, "source_domain")
	if p.has("subject") {
		q := newSubjectQuery(p.get("subject"))
		f.subject = &q
	}
	if v := p.get("file_extension"); v != "" {
		f.fileExt = "." + strings.ToLower(strings.TrimPrefix(v, "."))
	}
	if v := p.get("file_sha1"); v != "" {
		if !isHex(v, 40) {
			return f, errorf("parameter file_sha1=%q is not 40 hexadecimal digits", clip(v))
		}
		f.sha1 = strings.ToLower(v)
	}
	if v := p.get("file_sha256"); v != "" {
		if !isHex(v, 64) {
			return f, errorf("parameter file_sha256=%q is not 64 hexadecimal digits", clip(v))
		}
		f.sha256 = strings.ToLower(v)
	}
	if v := p.get("source_ip"); v != "" {
		pfx, ok := parseIPFilter(v)
		if !ok {
			return f, errorf("parameter source_ip=%q is neither an IP address nor a CIDR block", v)
		}
		f.sourceIP = &pfx
	}
	return f, nil
}

func (f *sweepFilter) match(m *mail) bool {
	if m.delivery.Before(f.start) || m.delivery.After(f.end) {
		return false
	}
	if f.mailbox != nil && !f.mailbox.match(m.mailbox) ||
		f.sender != nil && !f.sender.match(m.sender) ||
		f.recipient != nil && !f.recipient.any(m.recipients) ||
		f.messageID != nil && !f.messageID.match(m.messageID) ||
		f.url != nil && !f.url.any(m.urls) ||
		f.sourceDomain != nil && !f.sourceDomain.match(m.sourceDomain) ||
		f.subject != nil && !f.subject.match(m.subject) ||
		f.sourceIP != nil && !ipIn(*f.sourceIP, m.sourceIP) {
		return false
	}
	if f.fileName != nil || f.fileExt != "" || f.sha1 != "" || f.sha256 != "" {
		// Attachment filters must hold for one and the same attachment.
		found := false
		for _, a := range m.attachments {
			if (f.fileName == nil || f.fileName.match(a.name)) &&
				(f.fileExt == "" || strings.HasSuffix(strings.ToLower(a.name), f.fileExt)) &&
				(f.sha1 == "" || a.sha1 == f.sha1) && (f.sha256 == "" || a.sha256 == f.sha256) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sweep serves GET /v1/sweeping/mails.
func (s *Server) sweep(t *tenant, r *http.Request, now time.Time) *response {
	p, err := readParams(r, sweepParams...)
	if err != nil {
		return s.badRequest("%v", err)
	}
	f, err := parseSweep(p, now)
	if err != nil {
		return s.badRequest("%v", err)
	}
	limit, err := p.limit(sweepDefaultLimit, sweepMaxLimit)
	if err != nil {
		return s.badRequest("%v", err)
	}
	// Start at the window (or just after the page token): mails are in sweep order.
	from := sort.Search(len(t.mails), func(i int) bool { return !t.mails[i].delivery.Before(f.start) })
	if tok := p.get("skiptoken"); tok != "" {
		ms, id, err := decodeSkip(tok)
		if err != nil {
			return s.badRequest("%v", err)
		}
		from = max(from, sort.Search(len(t.mails), func(i int) bool {
			m := t.mails[i]
			return after(m.deliveryMS(), m.uniqueID, ms, id)
		}))
	}
	var page []*mail
	next := ""
	for i := from; i < len(t.mails) && !t.mails[i].delivery.After(f.end); i++ {
		m := t.mails[i]
		if !f.match(m) {
			continue
		}
		if len(page) == limit {
			last := page[len(page)-1]
			next = nextLink(r, encodeSkip(last.deliveryMS(), last.uniqueID))
			break
		}
		page = append(page, m)
	}
	// Written by hand around each mail's cached encoding: the sweep is the hottest endpoint.
	size := 512 + 2*len(r.URL.RawQuery)
	for _, m := range page {
		size += len(m.json()) + 1
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(`{"current_link":`)
	writeJSONString(&b, currentLink(r))
	b.WriteString(`,"next_link":`)
	writeJSONString(&b, next)
	b.WriteString(`,"traceId":`)
	writeJSONString(&b, s.traceID())
	b.WriteString(`,"value":[`)
	for i, m := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m.json())
	}
	b.WriteString("]}\n")
	return &response{status: http.StatusOK, contentType: "application/json", body: b.Bytes()}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}
