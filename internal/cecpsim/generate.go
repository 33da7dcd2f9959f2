package cecpsim

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	netmail "net/mail"
	"path"
	"sort"
	"strings"
	"time"
)

// Campaign sizes: at most this many mailboxes, and at most bulkGroup recipients on one message.
const (
	maxCampaignTargets = 1000
	bulkGroup          = 25
)

// dataSpan is how far back generated mail goes: past the sweep's 7-day default and the 72-hour event reach, so
// window defaults matter.
const dataSpan = 10 * 24 * time.Hour

var firstNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
	"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "uma", "victor", "wendy", "xavier",
	"yasmin", "zoe", "arthur", "beatrice", "cedric", "delphine", "emile", "fatima", "gustav"}

// partner is an ordinary outside correspondent.
type partner struct {
	domain, ip string
	locals     []string
	subjects   []string
	paths      []string
}

var partners = []partner{
	{"northwind.example", "198.51.100.10", []string{"orders", "j.smith", "support"},
		[]string{"Order %d confirmation", "Your order %d has shipped", "Updated price list"}, []string{"/orders/%d", "/track?id=%d"}},
	{"fabrikam.example", "198.51.100.20", []string{"billing", "m.jones"},
		[]string{"Invoice %d", "Statement for account %d", "Payment received, thank you"}, []string{"/invoices/%d", "/portal"}},
	{"adatum.example", "192.0.2.33", []string{"newsletter", "events"},
		[]string{"This week at Adatum", "Webinar invitation: cloud security %d", "Event recap"}, []string{"/news/%d", "/events/register?e=%d"}},
	{"tailspin.example", "2001:db8:5::25", []string{"noreply", "travel"},
		[]string{"Booking %d confirmed", "Check in for your flight", "Itinerary change"}, []string{"/booking/%d", "/checkin"}},
	{"woodgrove.example", "192.0.2.140", []string{"alerts", "advisor"},
		[]string{"Monthly statement", "Security notice for account %d", "Meeting follow-up"}, []string{"/statements/%d", "/secure/login"}},
}

var internalSubjects = []string{"Meeting notes %d", "Re: project plan", "Weekly report", "Lunch on Friday?",
	"Draft for review", "Re: budget %d", "Holiday schedule", "Fwd: customer question"}

// campaignKind is a template for a malicious campaign.
type campaignKind struct {
	kind       string
	senders    []string // local@domain
	subjects   []string
	urlPaths   []string
	attachment string // file name pattern; "" for none
	qtype      string
	filter     string
	risks      []string
	event      string // security event kind raised on detection
	detect     float64
}

var campaignKinds = []campaignKind{
	{"phishing", []string{"it-helpdesk@mail-0ffice365.example", "security@micros0ft-support.example", "noreply@sharepoint-docs.example"},
		[]string{"Your mailbox is almost full", "Password expires today", "Shared document: Q%d salary review"},
		[]string{"/login?session=%d", "/verify/%d", "/owa/auth.html"}, "", "Phishing", "Web Reputation",
		[]string{"Phishing_URL", "Suspicious_URL"}, "securityrisk", 0.35},
	{"malware", []string{"billing@invoice-portal.example", "accounts@paypa1-secure.example", "scanner@printer-fleet.example"},
		[]string{"Invoice %d overdue", "Payment confirmation #%d", "Scanned document %d"},
		nil, "invoice_%d.docm", "Malware", "Malware Scanning",
		[]string{"TROJ_GEN.R002C0PLQ%d", "W2KM_DLOADR.ZTJL"}, "securityrisk", 0.4},
	{"ransomware", []string{"hr@careers-portal.example", "dhl@parcel-notice.example"},
		[]string{"Application for the open position", "Parcel %d could not be delivered"},
		[]string{"/track/%d"}, "document_%d.zip", "Ransomware", "Ransomware Protection",
		[]string{"Ransom.Win32.LOCKBIT.%d"}, "ransomware", 0.5},
	{"sandbox", []string{"partners@supplier-update.example"},
		[]string{"Updated bank details for invoice %d", "Contract %d for signature"},
		[]string{"/docs/%d"}, "contract_%d.pdf", "Suspicious Object", "Virtual Analyzer",
		[]string{"VAN_DROPPER.UMXX"}, "virtualanalyzer", 0.3},
	{"bec", []string{"ceo.office@company-exec.example"},
		[]string{"Urgent request", "Are you at your desk?", "Confidential: wire transfer"},
		nil, "", "", "", nil, "", 0},
}

var campaignIPs = []string{"203.0.113.7", "203.0.113.45", "203.0.113.200", "192.0.2.66", "198.51.100.201", "2001:db8:bad::7"}

// campaign is a set of mails sharing sender, subject, URLs and attachments.
type campaign struct {
	kind         campaignKind
	sender       string
	subject      string
	urls         []string
	attachments  []*attachment
	sourceIP     string
	sourceDomain string
	risk         string
	mails        []*mail
}

func (c *campaign) summary() Campaign {
	out := Campaign{Kind: c.kind.kind, Sender: c.sender, Subject: c.subject, URLs: append([]string{}, c.urls...),
		Attachments: []SweepAttachment{}, Mails: len(c.mails)}
	for _, a := range c.attachments {
		out.Attachments = append(out.Attachments, SweepAttachment{FileName: a.name, FileSHA1: a.sha1, FileSHA256: a.sha256})
	}
	for _, m := range c.mails {
		if m.quarantine != nil && m.quarantine.filter != manualFilter {
			out.Quarantined++
		}
	}
	return out
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func fill(pattern string, n int) string {
	if strings.Contains(pattern, "%d") {
		return fmt.Sprintf(pattern, n)
	}
	return pattern
}

// generate fills the tenant with mailboxes, mails, campaigns and events dated before now.
func (t *tenant) generate(now time.Time) {
	now = now.Truncate(time.Millisecond)
	r := t.rng
	n := t.cfg.Mailboxes
	for i := 0; i < n; i++ {
		local := firstNames[i%len(firstNames)]
		if i >= len(firstNames) {
			local = fmt.Sprintf("%s%d", local, i/len(firstNames)+1)
		}
		t.mailboxes = append(t.mailboxes, local+"@"+t.domain)
	}
	for _, mb := range t.mailboxes {
		t.ensureAccount(mb)
	}
	var all []*mail
	randomTime := func() time.Time {
		return now.Add(-time.Minute - time.Duration(r.Int64N(int64(dataSpan-time.Minute)))).Truncate(time.Millisecond)
	}
	// Ordinary mail: partners and colleagues.
	for _, mb := range t.mailboxes {
		for j := 0; j < t.cfg.MailsPerMailbox; j++ {
			at := randomTime()
			if r.IntN(4) == 0 && n > 1 {
				from := pick(r, t.mailboxes)
				for from == mb {
					from = pick(r, t.mailboxes)
				}
				m := t.newMail(mb, from, []string{mb}, fill(pick(r, internalSubjects), r.IntN(900)+100), at,
					"10.1."+fmt.Sprint(r.IntN(250)+1)+"."+fmt.Sprint(r.IntN(250)+1), t.domain, nil, nil, true)
				all = append(all, m)
				continue
			}
			p := pick(r, partners)
			num := r.IntN(90000) + 10000
			var urls []string
			for k := r.IntN(3); k > 0; k-- {
				urls = append(urls, "https://www."+p.domain+fill(pick(r, p.paths), r.IntN(90000)+10000))
			}
			var atts []*attachment
			if r.IntN(4) == 0 {
				ext := pick(r, []string{".pdf", ".xlsx", ".png", ".txt"})
				atts = append(atts, t.genAttachment(fmt.Sprintf("%s_%d%s", strings.Split(p.domain, ".")[0], num, ext)))
			}
			m := t.newMail(mb, pick(r, p.locals)+"@"+p.domain, []string{mb}, fill(pick(r, p.subjects), num), at,
				p.ip, p.domain, urls, atts, false)
			all = append(all, m)
		}
	}
	// Campaigns.
	nCampaigns := min(2+n/8, 50)
	for i := 0; i < nCampaigns; i++ {
		k := campaignKinds[i%len(campaignKinds)]
		if i >= len(campaignKinds) {
			k = pick(r, campaignKinds)
		}
		num := r.IntN(9000) + 1000
		c := &campaign{kind: k, sender: pick(r, k.senders), subject: fill(pick(r, k.subjects), num), sourceIP: pick(r, campaignIPs)}
		c.sourceDomain = c.sender[strings.IndexByte(c.sender, '@')+1:]
		for _, p := range k.urlPaths {
			if r.IntN(3) > 0 || len(c.urls) == 0 {
				c.urls = append(c.urls, "https://"+c.sourceDomain+fill(p, r.IntN(90000)+10000))
			}
		}
		if k.attachment != "" {
			c.attachments = append(c.attachments, t.genAttachment(fill(k.attachment, num)))
		}
		if len(k.risks) > 0 {
			c.risk = fill(pick(r, k.risks), r.IntN(90)+10)
		}
		targets := min(max(1, int(float64(n)*(0.15+0.45*r.Float64()))), maxCampaignTargets)
		perm := r.Perm(n)[:targets]
		sort.Ints(perm)
		start := randomTime()
		if i == 0 {
			// The first campaign is under way: recent enough for the 72-hour event reach and a poller started now.
			start = now.Add(-45*time.Minute - time.Duration(r.Int64N(int64(2*time.Hour)))).Truncate(time.Millisecond)
		}
		// A third of campaigns send one message to groups of recipients (sharing its message id); the others
		// send one message per recipient.
		group := 1
		if r.IntN(3) == 0 {
			group = bulkGroup
		}
		for g := 0; g < len(perm); g += group {
			var recipients []string
			for _, p := range perm[g:min(g+group, len(perm))] {
				recipients = append(recipients, t.mailboxes[p])
			}
			var msgID string
			for _, mb := range recipients {
				at := start.Add(time.Duration(r.Int64N(int64(40 * time.Minute)))).Truncate(time.Millisecond)
				if !at.Before(now) {
					at = now.Add(-time.Second)
				}
				m := t.newMail(mb, c.sender, recipients, c.subject, at, c.sourceIP, c.sourceDomain, c.urls, c.attachments, false)
				if msgID == "" {
					msgID = m.messageID
				}
				m.messageID = msgID
				m.headers = mailHeaders(m, t.domain, false)
				m.campaign = c
				m.body = campaignBody(k.kind, mb, c.urls)
				c.mails = append(c.mails, m)
				all = append(all, m)
			}
		}
		t.campaigns = append(t.campaigns, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].less(all[j]) })
	t.mails = all
	for _, m := range all {
		t.byUID[m.uniqueID] = m
	}
	// Detections: part of each campaign was caught at delivery; the rest is for a playbook to find.
	for _, c := range t.campaigns {
		if c.kind.detect == 0 {
			continue
		}
		caught := false
		for i, m := range c.mails {
			if r.Float64() < c.kind.detect || (!caught && i == len(c.mails)-1) {
				caught = true
				at := m.delivery.Add(time.Duration(2000+r.IntN(18000)) * time.Millisecond)
				if at.After(now) {
					at = now
				}
				t.quarantine(m, at, c.kind.qtype, c.kind.filter, c.risk)
				t.addMailEvent(c, m, at)
			}
		}
	}
	t.addFileEvents(now, randomTime)
	sortSecEvents(t.secEvents)
}

// newMail builds a delivered mail with fresh ids and realistic headers.
func (t *tenant) newMail(mailbox, sender string, recipients []string, subject string, at time.Time, ip, srcDomain string,
	urls []string, atts []*attachment, internal bool) *mail {
	m := &mail{mailbox: mailbox, sender: sender, recipients: append([]string{}, recipients...), subject: subject,
		delivery: at.Truncate(time.Millisecond), urls: append([]string{}, urls...), attachments: atts,
		sourceIP: ip, sourceDomain: srcDomain, state: StateDelivered}
	m.uniqueID = t.newUniqueID()
	m.messageID = fmt.Sprintf("<%016x.%08x@%s>", t.rng.Uint64(), t.rng.Uint32(), domainOf(sender))
	m.headers = mailHeaders(m, t.domain, internal)
	m.body = ordinaryBody(mailbox, sender, urls)
	return m
}

// newUniqueID returns an Exchange-style item id, unique in the tenant.
func (t *tenant) newUniqueID() string {
	var b [51]byte
	for {
		for i := 0; i < len(b); i += 8 {
			v := t.rng.Uint64()
			for j := 0; j < 8 && i+j < len(b); j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		id := "AAMkA" + base64.URLEncoding.EncodeToString(b[:])
		if _, dup := t.byUID[id]; !dup {
			t.byUID[id] = nil // reserved until the mail is stored
			return id
		}
	}
}

func domainOf(addr string) string {
	if strings.ContainsAny(addr, "<\"(") {
		if a, err := netmail.ParseAddress(addr); err == nil {
			addr = a.Address
		}
	}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return "unknown.example"
}

// mailHeaders writes the internet headers the sweep reports for m.
func mailHeaders(m *mail, domain string, internal bool) []InternetHeader {
	senderDomain := domainOf(m.sender)
	date := m.delivery.Add(-1500 * time.Millisecond).UTC().Format(time.RFC1123Z)
	hs := []InternetHeader{{"Return-Path", "<" + m.sender + ">"}}
	mx := "mx1." + domain
	if internal {
		hs = append(hs, InternetHeader{"Received", fmt.Sprintf("from mailhub.%s (%s) by %s with SMTP; %s", domain, m.sourceIP, mx, date)})
	} else {
		hs = append(hs,
			InternetHeader{"Received", fmt.Sprintf("from %s (%s) by %s with ESMTPS; %s", mx, "10.0.0.25", "exch01."+domain, date)},
			InternetHeader{"Received", fmt.Sprintf("from smtp.%s (smtp.%s [%s]) by %s with ESMTPS; %s", m.sourceDomain, m.sourceDomain, m.sourceIP, mx, date)})
	}
	spf, dmarc := "pass", "pass"
	if m.sourceDomain != senderDomain {
		spf, dmarc = "fail", "fail"
	}
	if !internal {
		hs = append(hs, InternetHeader{"Authentication-Results", fmt.Sprintf("spf=%s (sender IP is %s) smtp.mailfrom=%s; dkim=none (message not signed) header.d=none; dmarc=%s action=none header.from=%s",
			spf, m.sourceIP, senderDomain, dmarc, senderDomain)})
	}
	hs = append(hs,
		InternetHeader{"From", m.sender},
		InternetHeader{"To", strings.Join(m.recipients, ", ")},
		InternetHeader{"Subject", m.subject},
		InternetHeader{"Date", date},
		InternetHeader{"Message-ID", m.messageID},
		InternetHeader{"MIME-Version", "1.0"},
	)
	if !internal {
		hs = append(hs, InternetHeader{"X-MS-Exchange-Organization-AuthAs", "Anonymous"})
	}
	return hs
}

func greeting(mailbox string) string {
	name := mailbox
	if i := strings.IndexByte(name, '@'); i > 0 {
		name = name[:i]
	}
	if name == "" {
		return "Hello,"
	}
	return "Hello " + strings.ToUpper(name[:1]) + name[1:] + ","
}

func ordinaryBody(mailbox, sender string, urls []string) string {
	var b strings.Builder
	b.WriteString(greeting(mailbox) + "\n\nPlease find the details below.\n")
	for _, u := range urls {
		b.WriteString("\n" + u + "\n")
	}
	b.WriteString("\nBest regards,\n" + sender + "\n")
	return b.String()
}

func campaignBody(kind, mailbox string, urls []string) string {
	var b strings.Builder
	b.WriteString(greeting(mailbox) + "\n\n")
	switch kind {
	case "phishing":
		b.WriteString("Your account needs to be verified within 24 hours or it will be suspended.\n")
	case "malware", "sandbox":
		b.WriteString("Please review the attached document and confirm the payment today.\n")
	case "ransomware":
		b.WriteString("We could not deliver your parcel. Open the attached notice for details.\n")
	case "bec":
		b.WriteString("I need you to handle a confidential wire transfer today. Reply as soon as you can.\n")
	}
	for _, u := range urls {
		b.WriteString("\n" + u + "\n")
	}
	b.WriteString("\nThank you.\n")
	return b.String()
}

// genAttachment creates an attachment whose content is derived from a seed, computing its hashes once.
func (t *tenant) genAttachment(name string) *attachment {
	a := &attachment{name: name, contentType: contentTypeFor(name), seed: t.rng.Uint64(), size: 600 + t.rng.IntN(3400)}
	a.setHashes(attachmentContent(a.name, a.seed, a.size))
	return a
}

var contentTypes = map[string]string{
	".pdf": "application/pdf", ".docm": "application/vnd.ms-word.document.macroEnabled.12",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".zip": "application/zip",
	".html": "text/html", ".htm": "text/html", ".png": "image/png", ".txt": "text/plain",
	".jpg": "image/jpeg", ".iso": "application/x-iso9660-image", ".eml": "message/rfc822",
}

func contentTypeFor(name string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return ct
	}
	return "application/octet-stream"
}

// attachmentContent returns size bytes that start like a file of name's type, the rest seeded noise (or text,
// for text types), so a download carries files whose hashes match the sweep's.
func attachmentContent(name string, seed uint64, size int) []byte {
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24),
		byte(seed >> 32), byte(seed >> 40), byte(seed >> 48), byte(seed >> 56), 'a', 't', 't'})
	var head string
	switch strings.ToLower(path.Ext(name)) {
	case ".pdf":
		head = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
	case ".docm", ".docx", ".xlsx", ".zip":
		head = "PK\x03\x04\x14\x00\x06\x00"
	case ".png":
		head = "\x89PNG\r\n\x1a\n"
	case ".txt", ".html", ".htm":
		words := []string{"lorem", "ipsum", "dolor", "sit", "amet", "report", "total", "account", "invoice", "due"}
		var b strings.Builder
		for b.Len() < size {
			b.WriteString(words[rng.Uint64()%uint64(len(words))])
			b.WriteByte(' ')
		}
		return []byte(b.String()[:size])
	}
	out := make([]byte, max(size, len(head)))
	copy(out, head)
	rng.Read(out[len(head):])
	return out
}

// addMailEvent raises the security event of a detection at delivery.
func (t *tenant) addMailEvent(c *campaign, m *mail, at time.Time) {
	id := t.uuid()
	msg := securityEventMessage{
		LogItemID: id, ScanType: "Real-time scan", AffectedUser: m.mailbox, Location: "Inbox",
		DetectionTime: fmtTime(at), TriggeredPolicyName: "Default Exchange Policy ATP",
		TriggeredSecurityFilter: c.kind.filter, Action: "Quarantine", ActionResult: "success",
		SecurityRiskName: c.risk, RiskLevel: "high", MailMessageID: m.messageID, MailMessageSender: m.sender,
		MailMessageRecipient: append([]string{}, m.recipients...), MailMessageSubmitTime: fmtTime(m.delivery.Add(-1500 * time.Millisecond)),
		MailMessageDeliveryTime: fmtTime(m.delivery), MailMessageSubject: m.subject, DetectionType: "URL",
	}
	if len(c.attachments) > 0 {
		a := c.attachments[0]
		msg.FileName, msg.FileSHA1, msg.FileSHA256, msg.DetectionType = a.name, a.sha1, a.sha256, "File"
		msg.MailMessageFileName = a.name
		msg.VirusName = c.risk
	}
	switch c.kind.event {
	case "ransomware":
		msg.RansomwareName = c.risk
	case "virtualanalyzer":
		msg.VAReportLink = "https://va.tmcas.example/report/" + id
		msg.DetectedBy = "Virtual Analyzer"
	}
	t.secEvents = append(t.secEvents, &secEvent{generated: at, service: "exchange", event: c.kind.event,
		item: securityEventItem{LogItemID: id, Service: serviceDisplay["exchange"], Event: eventDisplay[c.kind.event], Message: msg}})
}

// Display names of services and events in responses (the query uses the lower-case values).
var serviceDisplay = map[string]string{
	"exchange": "Exchange", "sharepoint": "SharePoint", "onedrive": "OneDrive", "dropbox": "Dropbox", "box": "Box",
	"googledrive": "Google Drive", "gmail": "Gmail", "teams": "Teams", "exchangeserver": "Exchange Server",
	"salesforce_sandbox": "Salesforce Sandbox", "salesforce_production": "Salesforce", "teams_chat": "Teams Chat",
}

var eventDisplay = map[string]string{
	"securityrisk": "security_risk_scan", "virtualanalyzer": "virtual_analyzer", "ransomware": "ransomware",
	"dlp": "dlp",
}

// addFileEvents raises security events on the file services, unrelated to mail.
func (t *tenant) addFileEvents(now time.Time, randomTime func() time.Time) {
	r := t.rng
	services := []string{"onedrive", "sharepoint", "box", "dropbox", "googledrive", "teams"}
	events := []string{"securityrisk", "dlp", "virtualanalyzer", "ransomware"}
	for i := 0; i < min(max(2, t.cfg.Mailboxes/2), 500); i++ {
		svc, ev := pick(r, services), pick(r, events)
		at := randomTime()
		user := pick(r, t.mailboxes)
		name := fmt.Sprintf("%s_%d%s", pick(r, []string{"report", "budget", "scan", "notes"}), r.IntN(9000)+1000, pick(r, []string{".docx", ".xlsx", ".pdf", ".zip"}))
		a := t.genAttachment(name)
		id := t.uuid()
		msg := securityEventMessage{
			LogItemID: id, ScanType: "Real-time scan", AffectedUser: user, Location: "/" + user + "/Documents",
			DetectionTime: fmtTime(at), TriggeredPolicyName: "Default " + serviceDisplay[svc] + " Policy",
			Action: "Quarantine", ActionResult: "success", RiskLevel: pick(r, []string{"high", "medium", "low"}),
			FileName: a.name, FileUploadTime: fmtTime(at.Add(-3 * time.Second)), FileSHA1: a.sha1, FileSHA256: a.sha256,
			DetectionType: "File", MailMessageRecipient: []string{},
		}
		switch ev {
		case "securityrisk":
			msg.TriggeredSecurityFilter, msg.SecurityRiskName, msg.VirusName = "Malware Scanning", "TROJ_GEN.R00XC0WBM", "TROJ_GEN.R00XC0WBM"
		case "dlp":
			msg.TriggeredSecurityFilter, msg.TriggeredDLPTemplate, msg.Action = "Data Loss Prevention", pick(r, []string{"PCI-DSS", "GDPR: Personal Data", "U.S. SSN"}), "Pass"
		case "virtualanalyzer":
			msg.TriggeredSecurityFilter, msg.DetectedBy, msg.VAReportLink = "Virtual Analyzer", "Virtual Analyzer", "https://va.tmcas.example/report/"+id
		case "ransomware":
			msg.TriggeredSecurityFilter, msg.RansomwareName = "Ransomware Protection", "Ransom.Win32.CONTI.A"
		}
		t.secEvents = append(t.secEvents, &secEvent{generated: at, service: svc, event: ev,
			item: securityEventItem{LogItemID: id, Service: serviceDisplay[svc], Event: eventDisplay[ev], Message: msg}})
	}
}

// sortSecEvents puts events in (generation time, log item id) order, which pagination relies on.
func sortSecEvents(es []*secEvent) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		return after(b.generated.UnixMilli(), b.item.LogItemID, a.generated.UnixMilli(), a.item.LogItemID)
	})
}
