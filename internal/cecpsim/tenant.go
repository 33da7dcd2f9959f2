package cecpsim

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// tenant is one customer's data. Every field is guarded by mu.
type tenant struct {
	mu     sync.Mutex
	s      *Server
	name   string
	tokens []string
	domain string
	cfg    Tenant
	rng    *rand.Rand
	src    *rand.PCG // rng's source, whose state the state file keeps
	// dirty is set by every change a state file must keep (see state.go).
	dirty bool

	mailboxes []string
	mails     []*mail // sorted by (delivery, uniqueID): the sweep order
	byUID     map[string]*mail
	campaigns []*campaign

	secEvents []*secEvent     // sorted by generation time
	qEvents   []*quarantineEv // sorted by detection time

	actions     []*action // in request order, which is also due order (the delay is constant)
	nextPending int       // actions before this index have reached their outcome
	batches     map[string][]*action
	actionByID  map[string]*action
	applied     []Applied

	accounts     map[string]*account
	accountOrder []string // sorted

	blocklist blocklist

	winStart time.Time
	winCount int
}

func newTenant(s *Server, cfg Tenant, seed, index uint64) *tenant {
	src := rand.NewPCG(seed, 0x7e7a_0000+index)
	return &tenant{
		s: s, name: cfg.Name, tokens: append([]string(nil), cfg.Tokens...), domain: cfg.Domain, cfg: cfg,
		rng: rand.New(src), src: src,
		byUID:      map[string]*mail{},
		batches:    map[string][]*action{},
		actionByID: map[string]*action{},
		accounts:   map[string]*account{},
		blocklist: blocklist{senders: map[string]bool{}, urls: map[string]bool{}, sha1: map[string]bool{},
			sha256: map[string]bool{}},
	}
}

// takeSlot counts a request in the tenant's fixed window (opened by the first request, as the vendor's is) and
// says whether it is over the limit and how long until the window resets.
func (t *tenant) takeSlot(now time.Time) (time.Duration, bool) {
	limit := t.s.opts.RateLimit
	if limit < 0 {
		return 0, false
	}
	if t.winStart.IsZero() || !now.Before(t.winStart.Add(t.s.window)) {
		t.winStart, t.winCount = now, 0
	}
	t.winCount++
	if t.winCount > limit {
		return t.winStart.Add(t.s.window).Sub(now), true
	}
	return 0, false
}

func (t *tenant) uuid() string { return uuidFrom(t.rng.Uint64(), t.rng.Uint64()) }

// mail is one message in one mailbox (a message to three mailboxes is three mails, as in the sweep).
type mail struct {
	mailbox      string
	sender       string
	recipients   []string
	subject      string
	messageID    string
	uniqueID     string
	delivery     time.Time // millisecond precision
	urls         []string
	attachments  []*attachment
	headers      []InternetHeader
	sourceIP     string
	sourceDomain string
	body         string // the text part of the generated message
	state        string
	quarantine   *quarantineEv // the latest quarantine, nil when never quarantined
	campaign     *campaign
	encoded      []byte // the sweep item's JSON, made on first use (a mail's sweep fields never change)
}

// json returns the mail's sweep item as JSON, encoding it once.
func (m *mail) json() []byte {
	if m.encoded == nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m.sweepItem()); err != nil {
			panic("cecpsim: encoding a sweep item: " + err.Error()) // plain strings and slices cannot fail
		}
		m.encoded = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	return m.encoded
}

func (m *mail) deliveryMS() int64 { return m.delivery.UnixMilli() }

// less orders mails as the sweep does: by delivery time, then unique id.
func (m *mail) less(o *mail) bool {
	if a, b := m.deliveryMS(), o.deliveryMS(); a != b {
		return a < b
	}
	return m.uniqueID < o.uniqueID
}

func (m *mail) sweepItem() SweepMail {
	item := SweepMail{
		Mailbox: m.mailbox, MailMessageSender: m.sender, MailMessageRecipient: append([]string{}, m.recipients...),
		MailMessageSubject: m.subject, MailMessageID: m.messageID, MailUniqueID: m.uniqueID,
		MailMessageDeliveryTime: fmtTime(m.delivery), MailURLs: append([]string{}, m.urls...),
		MailAttachments: make([]SweepAttachment, 0, len(m.attachments)), MailInternetHeaders: append([]InternetHeader{}, m.headers...),
		SourceIP: m.sourceIP, SourceDomain: m.sourceDomain,
	}
	for _, a := range m.attachments {
		item.MailAttachments = append(item.MailAttachments, SweepAttachment{FileName: a.name, FileSHA1: a.sha1, FileSHA256: a.sha256})
	}
	return item
}

// attachment is a file attached to a mail. Generated content is not kept (a large tenant would hold gigabytes)
// but regenerated from its seed when a download needs it.
type attachment struct {
	name, contentType string
	sha1, sha256      string
	seed              uint64
	size              int
	content           []byte // set when given through POST /_sim/mails
	placeholder       bool   // hashes were given without content: downloads carry a stand-in
}

func (a *attachment) bytes() []byte {
	if a.content != nil {
		return a.content
	}
	if a.placeholder {
		return []byte("placeholder for " + a.name + ": the simulator was given only its hashes\n")
	}
	return attachmentContent(a.name, a.seed, a.size)
}

func newAttachment(name string, content []byte) *attachment {
	a := &attachment{name: name, contentType: contentTypeFor(name), content: content, size: len(content)}
	a.setHashes(content)
	return a
}

func (a *attachment) setHashes(content []byte) {
	s1, s256 := sha1.Sum(content), sha256.Sum256(content)
	a.sha1, a.sha256 = hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:])
}

// quarantineEv is a quarantine event: the vendor (or a MAIL_QUARANTINE action) moved a mail to quarantine.
type quarantineEv struct {
	mail           *mail
	detection      time.Time
	logID          string
	quarantineType string
	filter         string
	riskName       string
	blobPath       string
	backupBlobPath string
}

func (q *quarantineEv) item() quarantineEventItem {
	m := q.mail
	return quarantineEventItem{Service: "Exchange Online", Message: quarantineMessage{
		AffectedUser: m.mailbox, Mailbox: m.mailbox, DetectionTime: fmtTime(q.detection), MailUniqueID: m.uniqueID,
		MailLogID: q.logID, MailMessageID: m.messageID, MailMessageDeliveryTime: fmtTime(m.delivery),
		MailMessageSender: m.sender, MailMessageRecipient: append([]string{}, m.recipients...),
		MailMessageSubject: m.subject, MailStatus: "Quarantined", Location: "Quarantine",
		MailQuarantineType: q.quarantineType, TriggeredSecurityFilter: q.filter, SecurityRiskName: q.riskName,
		MailBlobPath: q.blobPath, MailBackupBlobPath: q.backupBlobPath, MailMessageDirection: "Inbound",
	}}
}

// quarantine moves m to quarantine at time at and records the event that says so.
func (t *tenant) quarantine(m *mail, at time.Time, qtype, filter, risk string) *quarantineEv {
	logID := t.uuid()
	day := at.UTC().Format("2006/01/02")
	q := &quarantineEv{mail: m, detection: at.Truncate(time.Millisecond), logID: logID, quarantineType: qtype,
		filter: filter, riskName: risk,
		blobPath:       "quarantine/" + day + "/" + logID + ".eml",
		backupBlobPath: "backup/" + day + "/" + logID + ".eml"}
	m.state = StateQuarantined
	m.quarantine = q
	// Keep (detection, log id) order, which pagination relies on; events are nearly always appended at the end.
	i := sort.Search(len(t.qEvents), func(i int) bool {
		o := t.qEvents[i]
		return after(o.detection.UnixMilli(), o.logID, q.detection.UnixMilli(), q.logID)
	})
	t.qEvents = append(t.qEvents, nil)
	copy(t.qEvents[i+1:], t.qEvents[i:])
	t.qEvents[i] = q
	return q
}

// insertMail adds m in sweep order.
func (t *tenant) insertMail(m *mail) {
	i := sort.Search(len(t.mails), func(i int) bool { return m.less(t.mails[i]) })
	t.mails = append(t.mails, nil)
	copy(t.mails[i+1:], t.mails[i:])
	t.mails[i] = m
	t.byUID[m.uniqueID] = m
	t.ensureAccount(m.mailbox)
}

// account is a mailbox owner's account.
type account struct {
	disabled bool
}

func (t *tenant) ensureAccount(email string) {
	key := strings.ToLower(email)
	if _, ok := t.accounts[key]; ok {
		return
	}
	t.accounts[key] = &account{}
	i := sort.SearchStrings(t.accountOrder, key)
	t.accountOrder = append(t.accountOrder, "")
	copy(t.accountOrder[i+1:], t.accountOrder[i:])
	t.accountOrder[i] = key
}

// secEvent is a security event.
type secEvent struct {
	generated time.Time
	service   string // query value: exchange, onedrive…
	event     string // query value: securityrisk, virtualanalyzer, ransomware, dlp
	item      securityEventItem
}

// blocklist holds the blocked lists as stored (normalised).
type blocklist struct {
	senders, urls, sha1, sha256 map[string]bool
}

// sorted returns the lists sorted alphabetically (for /_sim/state; the vendor's own order is hashed).
func (b *blocklist) sorted() Rules {
	return Rules{Senders: sortedKeys(b.senders), URLs: sortedKeys(b.urls), FileHashes: sortedKeys(b.sha1),
		File256Hashes: sortedKeys(b.sha256)}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// vendorOrder returns the keys in a stable order that is not insertion order, as the vendor's lists are not.
func vendorOrder(m map[string]bool) []string {
	out := sortedKeys(m)
	h := func(s string) uint64 { f := fnv.New64a(); f.Write([]byte(s)); return f.Sum64() }
	sort.SliceStable(out, func(i, j int) bool { return h(out[i]) < h(out[j]) })
	return out
}
