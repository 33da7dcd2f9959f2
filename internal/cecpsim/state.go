package cecpsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The state file. A simulator with Options.StateFile keeps its tenants in that file (parry dev puts it in the
// data dir), so a restart finds the mails, the mitigation actions where their state machine stood, the blocked
// lists, the accounts, the events and the random generators as they were: a run in flight across a restart
// still finds its batches. The file is written whole, to a temporary file renamed over the old one, after
// every request that changed something (before the answer is sent, so an answered POST is never lost) and on
// Close. A file that cannot be read is an error of New (*StateError): the simulator never starts afresh over it
// on its own.

// stateVersion is the format of the file; another version is refused.
const stateVersion = 1

// StateError is a state file that New could not use: unreadable, corrupt, or made by a simulator configured
// otherwise (another seed or other tenants). Its message is one line naming the file.
type StateError struct {
	Path string
	Err  error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("the simulator's state %s is unusable: %v", e.Path, e.Err)
}

func (e *StateError) Unwrap() error { return e.Err }

// stateFile is the JSON of the file.
type stateFile struct {
	Version int    `json:"version"`
	Seed    int64  `json:"seed"`
	SavedAt string `json:"saved_at"`
	// Rng is the state of the fault generator; TraceSeq numbers trace ids, so they stay unique.
	Rng      []byte            `json:"rng"`
	TraceSeq uint64            `json:"trace_seq"`
	Requests map[string]int    `json:"requests"`
	Tenants  []json.RawMessage `json:"tenants"` // tenantState each, encoded under the tenant's lock
	tenants  []tenantState
}

type tenantState struct {
	Name            string `json:"name"`
	Domain          string `json:"domain"`
	Mailboxes       int    `json:"mailboxes"`
	MailsPerMailbox int    `json:"mails_per_mailbox"`
	Rng             []byte `json:"rng"`

	MailboxList []string          `json:"mailbox_list"`
	Attachments []attachmentState `json:"attachments"`
	Campaigns   []campaignState   `json:"campaigns"`
	Mails       []mailState       `json:"mails"`
	Quarantine  []quarantineState `json:"quarantine_events"`
	Security    []securityState   `json:"security_events"`
	Actions     []actionState     `json:"actions"`
	NextPending int               `json:"next_pending"`
	Applied     []Applied         `json:"applied"`
	Disabled    []string          `json:"disabled_accounts"`
	Accounts    []string          `json:"accounts"`
	Blocklist   Rules             `json:"blocklist"`
	WinStart    time.Time         `json:"window_start"`
	WinCount    int               `json:"window_count"`
}

type attachmentState struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	SHA1        string `json:"sha1"`
	SHA256      string `json:"sha256"`
	Seed        uint64 `json:"seed"`
	Size        int    `json:"size"`
	Content     []byte `json:"content,omitempty"`
	Placeholder bool   `json:"placeholder,omitempty"`
}

type campaignState struct {
	Kind         string   `json:"kind"`
	Sender       string   `json:"sender"`
	Subject      string   `json:"subject"`
	URLs         []string `json:"urls"`
	Attachments  []int    `json:"attachments"`
	SourceIP     string   `json:"source_ip"`
	SourceDomain string   `json:"source_domain"`
	Risk         string   `json:"risk"`
	Mails        []string `json:"mails"`
}

type mailState struct {
	Mailbox      string           `json:"mailbox"`
	Sender       string           `json:"sender"`
	Recipients   []string         `json:"recipients"`
	Subject      string           `json:"subject"`
	MessageID    string           `json:"message_id"`
	UniqueID     string           `json:"unique_id"`
	Delivery     time.Time        `json:"delivery"`
	URLs         []string         `json:"urls"`
	Attachments  []int            `json:"attachments"`
	Headers      []InternetHeader `json:"headers"`
	SourceIP     string           `json:"source_ip"`
	SourceDomain string           `json:"source_domain"`
	Body         string           `json:"body"`
	State        string           `json:"state"`
	Quarantine   int              `json:"quarantine"` // index in the tenant's quarantine events, -1 for none
	Campaign     int              `json:"campaign"`   // index in the tenant's campaigns, -1 for none
}

type quarantineState struct {
	Mail           string    `json:"mail"`
	Detection      time.Time `json:"detection"`
	LogID          string    `json:"log_id"`
	QuarantineType string    `json:"quarantine_type"`
	Filter         string    `json:"filter"`
	RiskName       string    `json:"risk_name"`
	BlobPath       string    `json:"blob_path"`
	BackupBlobPath string    `json:"backup_blob_path"`
}

type securityState struct {
	Generated time.Time         `json:"generated"`
	Service   string            `json:"service"`
	Event     string            `json:"event"`
	Item      securityEventItem `json:"item"`
}

type actionState struct {
	ID            string        `json:"id"`
	BatchID       string        `json:"batch_id"`
	Account       bool          `json:"account,omitempty"`
	ActionType    string        `json:"action_type"`
	Service       string        `json:"service"`
	Provider      string        `json:"provider"`
	Mailbox       string        `json:"mailbox,omitempty"`
	MessageID     string        `json:"message_id,omitempty"`
	UniqueID      string        `json:"unique_id,omitempty"`
	AccountEmail  string        `json:"account_email,omitempty"`
	DetectionTime time.Time     `json:"detection_time,omitzero"`
	LogID         string        `json:"log_id,omitempty"`
	Requested     time.Time     `json:"requested"`
	Due           time.Time     `json:"due"`
	Skew          time.Duration `json:"skew"`
	Fail          bool          `json:"fail,omitempty"`
	Status        string        `json:"status,omitempty"`
	Executed      time.Time     `json:"executed,omitzero"`
	ErrorCode     int           `json:"error_code,omitempty"`
	ErrorMessage  string        `json:"error_message,omitempty"`
}

// snapshot captures t's state. The caller holds t.mu.
func (t *tenant) snapshot() (tenantState, error) {
	rng, err := t.src.MarshalBinary()
	if err != nil {
		return tenantState{}, err
	}
	st := tenantState{Name: t.name, Domain: t.domain, Mailboxes: t.cfg.Mailboxes, MailsPerMailbox: t.cfg.MailsPerMailbox,
		Rng: rng, MailboxList: t.mailboxes, NextPending: t.nextPending, Applied: t.applied, Accounts: t.accountOrder,
		Blocklist: t.blocklist.sorted(), WinStart: t.winStart, WinCount: t.winCount}
	atts := map[*attachment]int{}
	attIndex := func(a *attachment) int {
		if i, ok := atts[a]; ok {
			return i
		}
		atts[a] = len(st.Attachments)
		st.Attachments = append(st.Attachments, attachmentState{Name: a.name, ContentType: a.contentType, SHA1: a.sha1,
			SHA256: a.sha256, Seed: a.seed, Size: a.size, Content: a.content, Placeholder: a.placeholder})
		return atts[a]
	}
	indices := func(as []*attachment) []int {
		out := make([]int, len(as))
		for i, a := range as {
			out[i] = attIndex(a)
		}
		return out
	}
	camps := map[*campaign]int{}
	for i, c := range t.campaigns {
		camps[c] = i
		cs := campaignState{Kind: c.kind.kind, Sender: c.sender, Subject: c.subject, URLs: c.urls, Attachments: indices(c.attachments),
			SourceIP: c.sourceIP, SourceDomain: c.sourceDomain, Risk: c.risk}
		for _, m := range c.mails {
			cs.Mails = append(cs.Mails, m.uniqueID)
		}
		st.Campaigns = append(st.Campaigns, cs)
	}
	qIndex := map[*quarantineEv]int{}
	for i, q := range t.qEvents {
		qIndex[q] = i
		st.Quarantine = append(st.Quarantine, quarantineState{Mail: q.mail.uniqueID, Detection: q.detection, LogID: q.logID,
			QuarantineType: q.quarantineType, Filter: q.filter, RiskName: q.riskName, BlobPath: q.blobPath, BackupBlobPath: q.backupBlobPath})
	}
	for _, m := range t.mails {
		ms := mailState{Mailbox: m.mailbox, Sender: m.sender, Recipients: m.recipients, Subject: m.subject, MessageID: m.messageID,
			UniqueID: m.uniqueID, Delivery: m.delivery, URLs: m.urls, Attachments: indices(m.attachments), Headers: m.headers,
			SourceIP: m.sourceIP, SourceDomain: m.sourceDomain, Body: m.body, State: m.state, Quarantine: -1, Campaign: -1}
		if m.quarantine != nil {
			ms.Quarantine = qIndex[m.quarantine]
		}
		if i, ok := camps[m.campaign]; ok && m.campaign != nil {
			ms.Campaign = i
		}
		st.Mails = append(st.Mails, ms)
	}
	for _, e := range t.secEvents {
		st.Security = append(st.Security, securityState{Generated: e.generated, Service: e.service, Event: e.event, Item: e.item})
	}
	for _, a := range t.actions {
		st.Actions = append(st.Actions, actionState{ID: a.id, BatchID: a.batchID, Account: a.account, ActionType: a.actionType,
			Service: a.service, Provider: a.provider, Mailbox: a.mailbox, MessageID: a.messageID, UniqueID: a.uniqueID,
			AccountEmail: a.accountEmail, DetectionTime: a.detectionTime, LogID: a.logID, Requested: a.requested, Due: a.due,
			Skew: a.skew, Fail: a.fail, Status: a.status, Executed: a.executed, ErrorCode: a.errorCode, ErrorMessage: a.errorMessage})
	}
	for _, email := range t.accountOrder {
		if t.accounts[email].disabled {
			st.Disabled = append(st.Disabled, email)
		}
	}
	return st, nil
}

// restore replaces t's generated state with st. t is not shared yet.
func (t *tenant) restore(st tenantState) error {
	if err := t.src.UnmarshalBinary(st.Rng); err != nil {
		return fmt.Errorf("tenant %s: random state: %w", st.Name, err)
	}
	t.mailboxes = st.MailboxList
	atts := make([]*attachment, len(st.Attachments))
	for i, a := range st.Attachments {
		atts[i] = &attachment{name: a.Name, contentType: a.ContentType, sha1: a.SHA1, sha256: a.SHA256, seed: a.Seed, size: a.Size,
			content: a.Content, placeholder: a.Placeholder}
	}
	pick := func(idx []int) ([]*attachment, error) {
		var out []*attachment
		for _, i := range idx {
			if i < 0 || i >= len(atts) {
				return nil, fmt.Errorf("tenant %s: attachment %d does not exist", st.Name, i)
			}
			out = append(out, atts[i])
		}
		return out, nil
	}
	kinds := map[string]campaignKind{}
	for _, k := range campaignKinds {
		kinds[k.kind] = k
	}
	t.campaigns = nil
	for _, cs := range st.Campaigns {
		k, ok := kinds[cs.Kind]
		if !ok {
			return fmt.Errorf("tenant %s: unknown campaign kind %q", st.Name, cs.Kind)
		}
		as, err := pick(cs.Attachments)
		if err != nil {
			return err
		}
		t.campaigns = append(t.campaigns, &campaign{kind: k, sender: cs.Sender, subject: cs.Subject, urls: cs.URLs, attachments: as,
			sourceIP: cs.SourceIP, sourceDomain: cs.SourceDomain, risk: cs.Risk})
	}
	t.mails, t.byUID = nil, map[string]*mail{}
	for _, ms := range st.Mails {
		as, err := pick(ms.Attachments)
		if err != nil {
			return err
		}
		m := &mail{mailbox: ms.Mailbox, sender: ms.Sender, recipients: ms.Recipients, subject: ms.Subject, messageID: ms.MessageID,
			uniqueID: ms.UniqueID, delivery: ms.Delivery, urls: ms.URLs, attachments: as, headers: ms.Headers, sourceIP: ms.SourceIP,
			sourceDomain: ms.SourceDomain, body: ms.Body, state: ms.State}
		if ms.Campaign >= 0 {
			if ms.Campaign >= len(t.campaigns) {
				return fmt.Errorf("tenant %s: mail %s names campaign %d of %d", st.Name, ms.UniqueID, ms.Campaign, len(t.campaigns))
			}
			m.campaign = t.campaigns[ms.Campaign]
		}
		if _, dup := t.byUID[m.uniqueID]; dup {
			return fmt.Errorf("tenant %s: mail %s is stored twice", st.Name, m.uniqueID)
		}
		t.mails = append(t.mails, m)
		t.byUID[m.uniqueID] = m
	}
	for i, cs := range st.Campaigns {
		for _, uid := range cs.Mails {
			if m := t.byUID[uid]; m != nil {
				t.campaigns[i].mails = append(t.campaigns[i].mails, m)
			}
		}
	}
	t.qEvents = nil
	for _, qs := range st.Quarantine {
		m := t.byUID[qs.Mail]
		if m == nil {
			return fmt.Errorf("tenant %s: quarantine event %s of an unknown mail", st.Name, qs.LogID)
		}
		t.qEvents = append(t.qEvents, &quarantineEv{mail: m, detection: qs.Detection, logID: qs.LogID, quarantineType: qs.QuarantineType,
			filter: qs.Filter, riskName: qs.RiskName, blobPath: qs.BlobPath, backupBlobPath: qs.BackupBlobPath})
	}
	for i, ms := range st.Mails {
		if ms.Quarantine >= 0 {
			if ms.Quarantine >= len(t.qEvents) {
				return fmt.Errorf("tenant %s: mail %s names quarantine event %d of %d", st.Name, ms.UniqueID, ms.Quarantine, len(t.qEvents))
			}
			t.mails[i].quarantine = t.qEvents[ms.Quarantine]
		}
	}
	t.secEvents = nil
	for _, ss := range st.Security {
		t.secEvents = append(t.secEvents, &secEvent{generated: ss.Generated, service: ss.Service, event: ss.Event, item: ss.Item})
	}
	t.actions, t.batches, t.actionByID = nil, map[string][]*action{}, map[string]*action{}
	for i, as := range st.Actions {
		a := &action{id: as.ID, batchID: as.BatchID, seq: i, account: as.Account, actionType: as.ActionType, service: as.Service,
			provider: as.Provider, mailbox: as.Mailbox, messageID: as.MessageID, uniqueID: as.UniqueID, accountEmail: as.AccountEmail,
			detectionTime: as.DetectionTime, logID: as.LogID, requested: as.Requested, due: as.Due, skew: as.Skew, fail: as.Fail,
			status: as.Status, executed: as.Executed, errorCode: as.ErrorCode, errorMessage: as.ErrorMessage}
		t.actions = append(t.actions, a)
		t.batches[a.batchID] = append(t.batches[a.batchID], a)
		t.actionByID[a.id] = a
	}
	if st.NextPending < 0 || st.NextPending > len(t.actions) {
		return fmt.Errorf("tenant %s: next pending action %d of %d", st.Name, st.NextPending, len(t.actions))
	}
	t.nextPending, t.applied = st.NextPending, st.Applied
	t.accounts, t.accountOrder = map[string]*account{}, nil
	for _, email := range st.Accounts {
		t.ensureAccount(email)
	}
	for _, email := range st.Disabled {
		t.ensureAccount(email)
		t.accounts[email].disabled = true
	}
	set := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, v := range list {
			m[v] = true
		}
		return m
	}
	t.blocklist = blocklist{senders: set(st.Blocklist.Senders), urls: set(st.Blocklist.URLs), sha1: set(st.Blocklist.FileHashes),
		sha256: set(st.Blocklist.File256Hashes)}
	t.winStart, t.winCount = st.WinStart, st.WinCount
	// The orders pagination relies on, whatever wrote the file.
	sort.SliceStable(t.mails, func(i, j int) bool { return t.mails[i].less(t.mails[j]) })
	sortSecEvents(t.secEvents)
	return nil
}

// readState reads the state file; a missing file is (nil, nil).
func readState(path string) (*stateFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &StateError{Path: path, Err: err}
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, &StateError{Path: path, Err: fmt.Errorf("not a state file (%v)", err)}
	}
	if st.Version != stateVersion {
		return nil, &StateError{Path: path, Err: fmt.Errorf("format version %d, this simulator reads %d", st.Version, stateVersion)}
	}
	for i, raw := range st.Tenants {
		var ts tenantState
		if err := json.Unmarshal(raw, &ts); err != nil {
			return nil, &StateError{Path: path, Err: fmt.Errorf("tenant %d: %v", i+1, err)}
		}
		st.tenants = append(st.tenants, ts)
	}
	return &st, nil
}

// checkState compares a loaded file with the simulator's configuration: a file made with another seed or
// other tenants is not this simulator's.
func (s *Server) checkState(st *stateFile, tenants []Tenant) error {
	var diffs []string
	if st.Seed != s.opts.Seed {
		diffs = append(diffs, fmt.Sprintf("seed %d, not %d", st.Seed, s.opts.Seed))
	}
	if len(st.Tenants) != len(tenants) {
		diffs = append(diffs, fmt.Sprintf("%d tenants, not %d", len(st.Tenants), len(tenants)))
	} else {
		for i, tc := range tenants {
			ts := st.tenants[i]
			if ts.Name != tc.Name || ts.Domain != tc.Domain || ts.Mailboxes != tc.Mailboxes || ts.MailsPerMailbox != tc.MailsPerMailbox {
				diffs = append(diffs, fmt.Sprintf("tenant %s@%s with %d mailboxes of %d mails, not %s@%s with %d of %d",
					ts.Name, ts.Domain, ts.Mailboxes, ts.MailsPerMailbox, tc.Name, tc.Domain, tc.Mailboxes, tc.MailsPerMailbox))
			}
		}
	}
	if len(diffs) > 0 {
		return &StateError{Path: s.opts.StateFile, Err: fmt.Errorf("it was made by a simulator with %s", strings.Join(diffs, "; "))}
	}
	return nil
}

// markDirty records a change the state file must keep. The caller holds t.mu.
func (t *tenant) markDirty() { t.dirty = true }

// persist writes the state file when a tenant changed (or always, with force). A failed write is returned and
// also kept for Save; the simulator goes on serving.
func (s *Server) persist(force bool) error {
	if s.opts.StateFile == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	dirty := force
	for _, t := range s.tenants {
		t.mu.Lock()
		dirty = dirty || t.dirty
		t.mu.Unlock()
	}
	if !dirty {
		return nil
	}
	s.mu.Lock()
	rng, err := s.rngSrc.MarshalBinary()
	requests := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		requests[k] = v
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	st := stateFile{Version: stateVersion, Seed: s.opts.Seed, SavedAt: fmtTime(s.now()), Rng: rng, TraceSeq: s.traceSeq.Load(),
		Requests: requests}
	for _, t := range s.tenants {
		t.mu.Lock()
		ts, err := t.snapshot()
		// Marshalled under the lock: the snapshot shares the tenant's slices.
		var raw json.RawMessage
		if err == nil {
			raw, err = json.Marshal(ts)
		}
		if err == nil {
			t.dirty = false
		}
		t.mu.Unlock()
		if err != nil {
			return s.saveFailed(fmt.Errorf("saving tenant %s: %w", t.name, err))
		}
		st.Tenants = append(st.Tenants, raw)
	}
	data, err := json.Marshal(st)
	if err != nil {
		return s.saveFailed(err)
	}
	if err := writeAtomic(s.opts.StateFile, data); err != nil {
		for _, t := range s.tenants {
			t.mu.Lock()
			t.dirty = true
			t.mu.Unlock()
		}
		return s.saveFailed(err)
	}
	s.saveErr = nil
	return nil
}

func (s *Server) saveFailed(err error) error {
	err = fmt.Errorf("saving the simulator's state to %s: %w", s.opts.StateFile, err)
	if s.saveErr == nil && s.opts.OnSaveError != nil {
		s.opts.OnSaveError(err)
	}
	s.saveErr = err
	return err
}

// Save writes the state file now (a no-op without Options.StateFile).
func (s *Server) Save() error { return s.persist(true) }

// writeAtomic writes data to a temporary file beside path, syncs it and renames it over path, so a crash leaves
// the old file or the new one, never half of one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// ResetState moves an existing state file aside (to <path>.<time>.bak, never deleting it) so that the next New
// starts from the seed, and returns where it went ("" when there was none).
func ResetState(path string, now time.Time) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	aside := path + "." + now.UTC().Format("20060102T150405Z") + ".bak"
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("moving the simulator's state aside: %w", err)
	}
	return aside, nil
}
