// Package cecpsim simulates the Trend Micro CECP (Cloud App Security) REST API: a stateful, seeded http.Handler
// with tenants, tokens, mailboxes and mails (campaigns included), security and quarantine events consistent with
// the mails, sweeping with the vendor's filters and pagination, asynchronous mitigation that changes mail and
// account state, blocked lists, quarantined-mail download as a real (optionally encrypted) ZIP, the vendor's
// 20-requests-a-minute window, and fault injection (5xx, latency, hangs, malformed JSON, 429 storms, connections
// dropped after a POST was applied).
//
// It is an independent implementation of the vendor's side, written from the API reference rather than from the
// client, so that it catches the client's misreadings; where the reference says a behaviour is unknown, the
// simulator picks the stricter reading (a request the simulator accepts should be one the vendor accepts).
// Everything is deterministic given Options.Seed, Options.Now and the order of requests.
//
// Admin endpoints outside /v1 let tests and demos look inside: GET /_sim/state, POST /_sim/mails and
// POST /_sim/faults.
package cecpsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parry-soar/parry/internal/mailzip"
)

// Defaults for zero Options fields.
const (
	DefaultToken           = "sim-token"
	DefaultDomain          = "corp.example"
	DefaultMailboxes       = 20
	DefaultMailsPerMailbox = 12
	DefaultRateLimit       = 20
	DefaultWindow          = time.Minute
	DefaultActionDelay     = 10 * time.Second
	DefaultMaxBatchItems   = 100
	// NoRateLimit as Options.RateLimit turns the request window off.
	NoRateLimit = -1
	// maxMailboxes bounds a tenant's generated data.
	maxMailboxes = 100_000
)

// Options configure a simulator. The zero value is a usable single-tenant simulator.
type Options struct {
	Seed            int64
	Mailboxes       int // per tenant unless the tenant says otherwise; DefaultMailboxes when 0
	MailsPerMailbox int // ordinary mails per mailbox over the last 10 days, campaigns aside; DefaultMailsPerMailbox when 0
	// Tokens of the single default tenant (used when Tenants is empty); DefaultToken when empty.
	Tokens []string
	Domain string // the default tenant's mail domain; DefaultDomain when ""
	// Tenants, each with its own tokens, data, quota and blocked lists.
	Tenants []Tenant
	// RateLimit is the number of requests a tenant may make per Window; DefaultRateLimit when 0, NoRateLimit
	// (or any negative number) for none.
	RateLimit int
	Window    time.Duration // DefaultWindow when 0
	// RetryAfter adds a Retry-After header (seconds until the window resets) to 429 answers. The vendor
	// documents none, so it is off by default.
	RetryAfter bool
	// TimeScale divides the rate-limit window and the action delay, so tests can run minutes in seconds.
	// 1 when 0.
	TimeScale float64
	// ActionDelay is how long a mitigation action takes from Created to its outcome (Executing from a third
	// of it). DefaultActionDelay when 0; a negative value makes actions end as soon as they are created.
	ActionDelay time.Duration
	// ActionFailRate is the share of mitigation actions that end Failed (error_code -999).
	ActionFailRate float64
	// MaxBatchItems bounds the items of one mitigation POST (the vendor's bound is unknown).
	// DefaultMaxBatchItems when 0.
	MaxBatchItems int
	// DownloadEncryption is the cipher of password-protected downloads (the vendor's is unknown); AES-256 when 0.
	DownloadEncryption mailzip.Encryption
	Faults             Faults
	// Now is the simulator's clock; time.Now when nil. Generated mails are dated relative to Now at New.
	Now func() time.Time
	// StateFile, when set, keeps the tenants' state across restarts (see state.go): New loads it when it
	// exists (and fails with a *StateError when it cannot), and every change is written to it before the
	// answer goes out. The file holds no secret (tokens come from the options).
	StateFile string
	// OnSaveError is told when writing the state file fails (once, until a write succeeds again).
	OnSaveError func(error)
}

// Tenant is one customer of the simulated service.
type Tenant struct {
	Name            string
	Tokens          []string
	Domain          string // DefaultDomain when "" (tenants may share a domain)
	Mailboxes       int    // Options.Mailboxes when 0
	MailsPerMailbox int    // Options.MailsPerMailbox when 0
}

// Server is the simulator. It is safe for concurrent use.
type Server struct {
	opts        Options
	now         func() time.Time
	window      time.Duration // scaled
	actionDelay time.Duration // scaled; 0 means immediate
	tenants     []*tenant
	byToken     map[string]*tenant

	mu         sync.Mutex // guards the fields below
	faults     Faults
	stormUntil time.Time
	rng        *rand.Rand
	rngSrc     *rand.PCG
	requests   map[string]int

	saveMu  sync.Mutex // serialises writes of the state file
	saveErr error      // the last failed save, reported once

	traceSeq  atomic.Uint64
	done      chan struct{}
	closeOnce sync.Once
}

// New builds a simulator and generates its tenants' data.
func New(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Mailboxes == 0 {
		opts.Mailboxes = DefaultMailboxes
	}
	if opts.MailsPerMailbox == 0 {
		opts.MailsPerMailbox = DefaultMailsPerMailbox
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.Window == 0 {
		opts.Window = DefaultWindow
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	if opts.ActionDelay == 0 {
		opts.ActionDelay = DefaultActionDelay
	}
	if opts.MaxBatchItems == 0 {
		opts.MaxBatchItems = DefaultMaxBatchItems
	}
	if opts.DownloadEncryption == mailzip.NoEncryption {
		opts.DownloadEncryption = mailzip.AES256
	}
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	switch {
	case opts.Mailboxes < 0 || opts.Mailboxes > maxMailboxes:
		return nil, fmt.Errorf("mailboxes %d is outside 1..%d", opts.Mailboxes, maxMailboxes)
	case opts.MailsPerMailbox < 0 || opts.MailsPerMailbox > 1000:
		return nil, fmt.Errorf("mails per mailbox %d is outside 0..1000", opts.MailsPerMailbox)
	case opts.Window < 0:
		return nil, fmt.Errorf("window %s is negative", opts.Window)
	case opts.TimeScale < 0 || opts.TimeScale > 1e6:
		return nil, fmt.Errorf("time scale %g is outside (0, 1e6]", opts.TimeScale)
	case opts.ActionFailRate < 0 || opts.ActionFailRate > 1:
		return nil, fmt.Errorf("action fail rate %g is outside [0, 1]", opts.ActionFailRate)
	case opts.MaxBatchItems < 0:
		return nil, fmt.Errorf("max batch items %d is negative", opts.MaxBatchItems)
	case opts.DownloadEncryption > mailzip.AES256:
		return nil, fmt.Errorf("unknown download encryption %v", opts.DownloadEncryption)
	}
	if err := opts.Faults.validate(); err != nil {
		return nil, err
	}
	tenants := opts.Tenants
	if len(tenants) == 0 {
		tokens := opts.Tokens
		if len(tokens) == 0 {
			tokens = []string{DefaultToken}
		}
		tenants = []Tenant{{Name: "default", Tokens: tokens, Domain: opts.Domain}}
	}
	s := &Server{
		opts:     opts,
		now:      opts.Now,
		window:   time.Duration(float64(opts.Window) / opts.TimeScale),
		byToken:  map[string]*tenant{},
		faults:   opts.Faults,
		rngSrc:   rand.NewPCG(uint64(opts.Seed), 0x5eed_fa17),
		requests: map[string]int{},
		done:     make(chan struct{}),
	}
	s.rng = rand.New(s.rngSrc)
	if opts.ActionDelay > 0 {
		s.actionDelay = time.Duration(float64(opts.ActionDelay) / opts.TimeScale)
	}
	var saved *stateFile
	if opts.StateFile != "" {
		var err error
		if saved, err = readState(opts.StateFile); err != nil {
			return nil, err
		}
	}
	names := map[string]bool{}
	start := opts.Now()
	resolved := make([]Tenant, 0, len(tenants))
	for i, tc := range tenants {
		if tc.Name == "" {
			return nil, fmt.Errorf("tenant %d has no name", i+1)
		}
		if names[tc.Name] {
			return nil, fmt.Errorf("tenant %q is defined twice", tc.Name)
		}
		names[tc.Name] = true
		if len(tc.Tokens) == 0 {
			return nil, fmt.Errorf("tenant %q has no token", tc.Name)
		}
		if tc.Domain == "" {
			tc.Domain = DefaultDomain
		}
		if tc.Mailboxes == 0 {
			tc.Mailboxes = opts.Mailboxes
		}
		if tc.MailsPerMailbox == 0 {
			tc.MailsPerMailbox = opts.MailsPerMailbox
		}
		if tc.Mailboxes < 1 || tc.Mailboxes > maxMailboxes {
			return nil, fmt.Errorf("tenant %q: mailboxes %d is outside 1..%d", tc.Name, tc.Mailboxes, maxMailboxes)
		}
		resolved = append(resolved, tc)
	}
	if saved != nil {
		if err := s.checkState(saved, resolved); err != nil {
			return nil, err
		}
	}
	for i, tc := range resolved {
		t := newTenant(s, tc, uint64(opts.Seed), uint64(i))
		for _, tok := range tc.Tokens {
			// Tokens are compared whole; an empty or padded one would never be sent by a real client.
			if tok == "" || strings.TrimSpace(tok) != tok {
				return nil, fmt.Errorf("tenant %q has an empty token or one with surrounding spaces", tc.Name)
			}
			if _, dup := s.byToken[tok]; dup {
				return nil, fmt.Errorf("tenant %q reuses another tenant's token", tc.Name)
			}
			s.byToken[tok] = t
		}
		if saved != nil {
			if err := t.restore(saved.tenants[i]); err != nil {
				return nil, &StateError{Path: opts.StateFile, Err: err}
			}
		} else {
			t.generate(start)
		}
		s.tenants = append(s.tenants, t)
	}
	if saved != nil {
		if err := s.rngSrc.UnmarshalBinary(saved.Rng); err != nil {
			return nil, &StateError{Path: opts.StateFile, Err: fmt.Errorf("random state: %v", err)}
		}
		s.traceSeq.Store(saved.TraceSeq)
		for k, v := range saved.Requests {
			s.requests[k] = v
		}
	} else if err := s.persist(true); err != nil {
		// A state file that cannot be written at all is a configuration error, better told now.
		return nil, err
	}
	// Through SetFaults, so a storm given at start begins now.
	if err := s.SetFaults(opts.Faults); err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases requests held by the hang fault and writes the state file one last time (see Save for its
// error). The server keeps answering other requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	_ = s.persist(true)
}

// TenantInfo describes a tenant for banners and tests.
type TenantInfo struct {
	Name      string
	Tokens    []string
	Domain    string
	Mailboxes []string
	Mails     int
	Campaigns []Campaign
}

// Campaign summarises a generated campaign: mails sharing sender, subject, URLs and attachments.
type Campaign struct {
	Kind        string // phishing, malware, ransomware, bec
	Sender      string
	Subject     string
	URLs        []string
	Attachments []SweepAttachment
	Mails       int
	Quarantined int // detected and quarantined by the (simulated) vendor at delivery
}

// Tenants describes every tenant, in configuration order.
func (s *Server) Tenants() []TenantInfo {
	out := make([]TenantInfo, 0, len(s.tenants))
	for _, t := range s.tenants {
		t.mu.Lock()
		info := TenantInfo{Name: t.name, Tokens: append([]string(nil), t.tokens...), Domain: t.domain,
			Mailboxes: append([]string(nil), t.mailboxes...), Mails: len(t.mails)}
		for _, c := range t.campaigns {
			info.Campaigns = append(info.Campaigns, c.summary())
		}
		t.mu.Unlock()
		out = append(out, info)
	}
	return out
}

func (s *Server) tenant(name string) (*tenant, error) {
	if name == "" {
		return s.tenants[0], nil
	}
	for _, t := range s.tenants {
		if t.name == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no tenant %q", name)
}

// State is what GET /_sim/state returns.
type State struct {
	Mails     []MailState    `json:"mails"`
	Blocklist Rules          `json:"blocklist"`
	Accounts  []AccountState `json:"accounts"`
	Requests  map[string]int `json:"requests"`
}

// MailState is a mail's place: delivered, quarantined or deleted.
type MailState struct {
	MailUniqueID string `json:"mail_unique_id"`
	Mailbox      string `json:"mailbox"`
	State        string `json:"state"`
}

// AccountState is an account's state: enabled or disabled.
type AccountState struct {
	Email string `json:"email"`
	State string `json:"state"`
}

// Mail states.
const (
	StateDelivered   = "delivered"
	StateQuarantined = "quarantined"
	StateDeleted     = "deleted"
)

// State returns a tenant's state ("" for the first tenant), after running the actions that are due.
func (s *Server) State(tenant string) (State, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return State{}, err
	}
	t.mu.Lock()
	t.advance(s.now())
	st := State{Mails: make([]MailState, 0, len(t.mails)), Accounts: []AccountState{}}
	for _, m := range t.mails {
		st.Mails = append(st.Mails, MailState{MailUniqueID: m.uniqueID, Mailbox: m.mailbox, State: m.state})
	}
	st.Blocklist = t.blocklist.sorted()
	for _, email := range t.accountOrder {
		state := "enabled"
		if t.accounts[email].disabled {
			state = "disabled"
		}
		st.Accounts = append(st.Accounts, AccountState{Email: email, State: state})
	}
	t.mu.Unlock()
	st.Requests = s.Requests()
	// advance may have carried out actions.
	_ = s.persist(false)
	return st, nil
}

// Mails returns every mail of a tenant ("" for the first) as sweep items, in sweep order.
func (s *Server) Mails(tenant string) ([]SweepMail, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]SweepMail, len(t.mails))
	for i, m := range t.mails {
		out[i] = m.sweepItem()
	}
	return out, nil
}

// Requests counts the requests received under /v1 (and elsewhere outside /_sim), per "METHOD /path".
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// Applied is one mitigation action carried out: the record tests use to prove nothing was mitigated twice.
type Applied struct {
	Tenant       string
	BatchID      string
	ActionID     string
	ActionType   string
	Mailbox      string
	MailUniqueID string
	AccountEmail string
	Status       string // Success, Skipped or Failed
	At           time.Time
}

// Applied returns every action that has reached its outcome, in order, after running those that are due.
func (s *Server) Applied() []Applied {
	var out []Applied
	now := s.now()
	for _, t := range s.tenants {
		t.mu.Lock()
		t.advance(now)
		out = append(out, t.applied...)
		t.mu.Unlock()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	_ = s.persist(false)
	return out
}

// SetFaults replaces the fault settings. A storm (Storm429) starts now.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.stormUntil = time.Time{}
	if f.Storm429 > 0 {
		s.stormUntil = s.now().Add(time.Duration(float64(f.Storm429) / s.opts.TimeScale))
	}
	return nil
}

// Faults returns the current fault settings.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// response is an answer built before it is written, so faults can garble or withhold it.
type response struct {
	status      int
	contentType string
	header      http.Header
	body        []byte
}

func (s *Server) json(status int, v any) *response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a programming error can get here: every response type is plain data.
		return s.vendorError(http.StatusInternalServerError, "encoding response: "+err.Error())
	}
	return &response{status: status, contentType: "application/json", body: buf.Bytes()}
}

// Vendor error codes. Only -4290001 is documented; the others follow its pattern (minus the status, then 0001).
func vendorCode(status int) int { return -(status*10000 + 1) }

func (s *Server) vendorError(status int, msg string) *response {
	r := s.json(status, errorBody{Code: vendorCode(status), TraceID: s.traceID(), Msg: msg})
	r.status = status
	return r
}

func (s *Server) badRequest(format string, args ...any) *response {
	return s.vendorError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// traceID returns a UUID-shaped id, unique per request and deterministic given the seed.
func (s *Server) traceID() string {
	n := s.traceSeq.Add(1)
	return uuidFrom(splitmix(uint64(s.opts.Seed)^0x7ace_0000_0000_0000+n), splitmix(n*0x9e3779b97f4a7c15))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func uuidFrom(hi, lo uint64) string {
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	const hexdigits = "0123456789abcdef"
	var b [36]byte
	pos := 0
	put := func(v uint64, nibbles int) {
		for i := nibbles - 1; i >= 0; i-- {
			b[pos] = hexdigits[(v>>(4*uint(i)))&0xf]
			pos++
		}
	}
	put(hi>>32, 8)
	b[pos] = '-'
	pos++
	put(hi>>16&0xffff, 4)
	b[pos] = '-'
	pos++
	put(hi&0xffff, 4)
	b[pos] = '-'
	pos++
	put(lo>>48, 4)
	b[pos] = '-'
	pos++
	put(lo&0xffffffffffff, 12)
	return string(b[:])
}

// route is one vendor endpoint.
type route struct {
	method  string
	handler func(s *Server, t *tenant, r *http.Request, now time.Time) *response
}

var routes = map[string][]route{
	"/v1/siem/security_events":   {{http.MethodGet, (*Server).securityEvents}},
	"/v1/siem/quarantine_events": {{http.MethodGet, (*Server).quarantineEvents}},
	"/v1/siem/quarantine_mails":  {{http.MethodPost, (*Server).downloadQuarantined}},
	"/v1/siem/quanrantine_mails": {{http.MethodPost, (*Server).downloadQuarantined}}, // the vendor's own spelling
	"/v1/sweeping/mails":         {{http.MethodGet, (*Server).sweep}},
	"/v1/mitigation/mails":       {{http.MethodPost, (*Server).mitigateMails}, {http.MethodGet, (*Server).mailActionResults}},
	"/v1/mitigation/accounts":    {{http.MethodPost, (*Server).mitigateAccounts}, {http.MethodGet, (*Server).accountActionResults}},
	"/v1/remediation/mails":      {{http.MethodGet, (*Server).getBlocklist}, {http.MethodPost, (*Server).updateBlocklist}},
}

// maxBodyBytes bounds request bodies: four lists of 2,048 long URLs fit.
const maxBodyBytes = 8 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.admin(w, r)
		return
	}
	key := r.Method + " " + r.URL.Path
	now := s.now()
	s.mu.Lock()
	s.requests[key]++
	f := s.faults
	var roll faultRoll
	if f.applies(key) {
		roll = s.rollFaults(f, now)
	}
	s.mu.Unlock()

	if f.Latency > 0 && f.applies(key) {
		select {
		case <-time.After(time.Duration(f.Latency)):
		case <-r.Context().Done():
			return
		}
	}
	if resp := s.beforeFaults(w, r, roll); resp != nil {
		s.write(w, resp)
		return
	}
	resp := s.serveVendor(r, key, now)
	// Before the answer: a client that was told a batch exists must find it after a restart.
	if err := s.persist(false); err != nil && r.Method == http.MethodPost && resp.status < 300 {
		resp = s.vendorError(http.StatusInternalServerError, "the simulator could not save its state")
	}
	if roll.dropAfterPost && r.Method == http.MethodPost && resp.status < 300 {
		dropConnection(w)
		return
	}
	if roll.malformed && resp.contentType == "application/json" {
		resp.body = resp.body[:len(resp.body)/2]
	}
	s.write(w, resp)
}

func (s *Server) serveVendor(r *http.Request, key string, now time.Time) *response {
	t := s.authenticate(r)
	if t == nil {
		return s.vendorError(http.StatusUnauthorized, "Authentication token not found")
	}
	rs, ok := routes[r.URL.Path]
	if !ok {
		return s.vendorError(http.StatusNotFound, "The requested API could not be found")
	}
	var h func(*Server, *tenant, *http.Request, time.Time) *response
	for _, rt := range rs {
		if rt.method == r.Method {
			h = rt.handler
		}
	}
	if h == nil {
		return s.vendorError(http.StatusMethodNotAllowed, "The requested method is not supported for the requested API")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if wait, limited := t.takeSlot(now); limited {
		resp := s.vendorError(http.StatusTooManyRequests, "Maximum allowed requests exceeded")
		if s.opts.RetryAfter {
			resp.header = http.Header{"Retry-After": {retryAfterSeconds(wait)}}
		}
		return resp
	}
	t.advance(now)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	}
	return h(s, t, r, now)
}

func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

// authenticate returns the tenant of the request's bearer token, or nil.
func (s *Server) authenticate(r *http.Request) *tenant {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	return s.byToken[strings.TrimSpace(tok)]
}

func (s *Server) write(w http.ResponseWriter, resp *response) {
	for k, vs := range resp.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if resp.contentType != "" {
		w.Header().Set("Content-Type", resp.contentType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	w.Write(resp.body)
}

// dropConnection closes the client's connection without an answer, as a proxy or a crash would.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// Where hijacking is impossible (HTTP/2), aborting the handler resets the stream.
	panic(http.ErrAbortHandler)
}

// readJSON decodes a request body strictly: one JSON value, no unknown fields.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body is larger than %d bytes", mbe.Limit)
		}
		return fmt.Errorf("request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return errors.New("request body has data after the JSON value")
	}
	return nil
}
