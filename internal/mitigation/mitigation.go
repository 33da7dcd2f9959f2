// Package mitigation is parry's one way to mitigate mails and accounts at a CECP tenant: batching, the ledger
// that keeps an ambiguous POST from being sent twice, the vendor quota and the audit trail. The
// cecp.mitigate_mails and cecp.mitigate_accounts activities call it, and so does `parry cecp mitigate-*` (by
// starting a one-step run).
//
// It is a broker with a durable queue in PostgreSQL. Every run step that mitigates on a connection queues its
// items and waits for their outcomes; one flusher per (connection, kind) — whichever waiting step holds the
// lease, in any worker process — packs the queued items of every run into full batches (up to the connection's
// batch size, flushed when full or after batch_linger), posts them, and polls the outcomes of every outstanding
// batch with one time-window query. Items are shared: the same mail asked by two incidents is mitigated once and
// both get the outcome. Response work goes before background work, and a flush goes round the runs that asked
// (each run's first item, then each run's second), so one huge campaign does not starve single-mail incidents.
//
// Why a queue in PostgreSQL rather than a broker workflow: the items, their outcomes and the ledger are the
// system of record parry already keeps there (the audit trail, the per-step ledger before it); a run's step
// stays one activity, so the interpreter, parry test's mocks, recorded histories and retries from a step are
// unchanged; and the flusher needs no long-lived workflow history or continue-as-new. The queue survives worker
// and server restarts: a retried step finds its items again, and a flusher that died mid-POST leaves a ledger
// row that the next flusher settles by looking the items up before posting any of them again.
package mitigation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/quota"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/wire"
)

// Store is the queue, the ledger, the leases and the audit trail (*store.Store is one; tests use memstore).
type Store interface {
	EnqueueMitigation(ctx context.Context, req store.MitigationRequest) ([]store.MitigationItem, error)
	RequestItems(ctx context.Context, runID, step string) ([]store.MitigationItem, error)
	QueuedMitigations(ctx context.Context, connection, kind string, limit int) ([]store.MitigationItem, error)
	BeginPost(ctx context.Context, connection, kind, actionType string, itemIDs []int64) (int64, error)
	AcceptPost(ctx context.Context, postID int64, batchID, traceID string) error
	ReleasePost(ctx context.Context, postID int64) error
	RejectPost(ctx context.Context, postID int64, errType, message string) error
	SendingPosts(ctx context.Context, connection, kind string) ([]store.MitigationPost, error)
	PostItems(ctx context.Context, postID int64) ([]store.MitigationItem, error)
	ResolvePost(ctx context.Context, postID int64, found map[int64][]string) error
	OutstandingMitigations(ctx context.Context, connection, kind string) ([]store.MitigationItem, error)
	RecordMitigationOutcomes(ctx context.Context, outs []store.MitigationOutcome) error
	PostRequesters(ctx context.Context, postID int64) ([]store.Requester, error)
	FlusherPoll(ctx context.Context, connection, kind string) (time.Time, time.Duration, error)
	SetFlusherPoll(ctx context.Context, connection, kind string, at time.Time, delay time.Duration) error
	SetFlusherState(ctx context.Context, connection, kind string, st store.FlusherState) error
	GetFlusherState(ctx context.Context, connection, kind string) (store.FlusherState, error)
	TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error)
	MitigationQueues(ctx context.Context) ([]store.MitigationQueueStats, error)
}

// Vendor is a connection's CECP client (*cecp.Client is one). Its limiter decides every request's quota slot.
type Vendor interface {
	MitigateMails(ctx context.Context, items []cecp.MailAction) (cecp.BatchResult, error)
	MitigateAccounts(ctx context.Context, items []cecp.AccountAction) (cecp.BatchResult, error)
	MailActionResultPages(q cecp.ActionResultsQuery) *cecp.Pager[cecp.Action]
	AccountActionResultPages(q cecp.ActionResultsQuery) *cecp.Pager[cecp.Action]
}

// Kinds of mitigation.
const (
	Mails    = "mails"
	Accounts = "accounts"
)

// Connection is what the broker needs of a configured CECP connection.
type Connection struct {
	Name   string
	Vendor Vendor
	// BatchSize is the most items one POST carries; Linger how long a partial batch waits for more.
	BatchSize int
	Linger    time.Duration
	// Window is the quota window: how long a vendor 429 without Retry-After keeps the connection closed.
	Window time.Duration
}

// Defaults of the Service's tuning fields.
const (
	DefaultLinger          = 2 * time.Second
	DefaultPollInterval    = 10 * time.Second
	DefaultMaxPollInterval = time.Minute
	DefaultCheckInterval   = time.Second
	DefaultMaxCheck        = 5 * time.Second
	DefaultLeaseTTL        = 2 * time.Minute
	DefaultReuseFor        = 24 * time.Hour
	DefaultBackoff         = time.Second
	// maxLingers bounds how many lingers the oldest item of a partial batch waits while others keep joining.
	maxLingers = 5
	// lookupSkew widens a results window before the first POST: the vendor's clock may lag parry's.
	lookupSkew = 5 * time.Minute
	// lookupMax bounds the actions one window query reads.
	lookupMax = 50_000
	// missingPolls is how many polls in a row may find every listed action of an item's batches finished
	// while the item has none before it is given up as Missing.
	missingPolls = 3
)

// Service runs mitigations. Set the fields once (the worker), then call Mitigate from any number of goroutines.
type Service struct {
	Store   Store
	Logger  *slog.Logger
	Metrics *Metrics
	// Tracer makes a span per POST, linked to the traces of the runs whose items it carries (internal/tracing);
	// none when nil.
	Tracer trace.Tracer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// PollInterval is how long after the latest POST a connection's outcomes are first read, and the wait
	// between polls, doubling up to MaxPollInterval while nothing changes.
	PollInterval, MaxPollInterval time.Duration
	// CheckInterval is how often a waiting step looks at its items (doubling to MaxCheck while nothing
	// changes); it is also how soon a waiting step takes over the flush when the flusher is gone.
	CheckInterval, MaxCheck time.Duration
	LeaseTTL                time.Duration
	// Backoff is the first wait after a transient vendor failure, doubling to 30 s.
	Backoff time.Duration
	// ReuseFor is how long a succeeded item is joined instead of posted again.
	ReuseFor time.Duration
	// Sleep waits d or until ctx ends (tests replace it); a real timer when nil.
	Sleep func(ctx context.Context, d time.Duration) error

	running atomic.Bool
	mu      sync.Mutex
	conns   map[string]Connection // every (connection, kind) a step of this process mitigated on
	daemon  map[string]*flusher   // the broker loop's flushers (only Run touches them)
	views   map[string]flusherView
	kick    chan struct{}
}

// Item is one mail or account of a request; Key identifies it (lower-cased mailbox and ids, or the account).
type Item struct {
	Key     string
	Mail    *cecp.MailAction
	Account *cecp.AccountAction
}

// Request is what one run step asks for.
type Request struct {
	RunID, Step string
	Attempt     int
	// Action names the asking action in audit rows (cecp.mitigate_mails).
	Action     string
	Kind       string // Mails or Accounts
	ActionType string // cecp.MailQuarantine…
	Items      []Item
	// Priority is quota.Response (0) or quota.Background (1).
	Priority quota.Class
	// Wait for every item's outcome; without it, return once every item is posted.
	Wait bool
}

// Result is what became of a request's items.
type Result struct {
	BatchIDs  []string
	Succeeded int
	Skipped   int
	Failed    int
	Pending   int
	Actions   []cecp.Action
}

// Progress is what a waiting step reports (heartbeat details, run show).
type Progress struct {
	Total  int `json:"total"`
	Queued int `json:"queued"` // not yet in a POST
	Out    int `json:"out"`    // posted, no outcome yet
	Done   int `json:"done"`
	// BatchFill of BatchSize: the items waiting in the queue for the batch this step's first queued item
	// goes into; FlushIn: when that batch goes at the latest (linger).
	BatchFill int           `json:"batch_fill,omitempty"`
	BatchSize int           `json:"batch_size,omitempty"`
	FlushIn   time.Duration `json:"flush_in,omitempty"`
	Flusher   bool          `json:"flusher,omitempty"`
	// LastError is the vendor failure the flusher is waiting out (a 5xx, a dropped connection).
	LastError string `json:"last_error,omitempty"`
}

// Error is a failure with its wire error type decided.
type Error struct {
	Type string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Service) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func or[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// LeaseName names the lease of a connection's flusher.
func LeaseName(connection, kind string) string { return "mitigation:" + connection + ":" + kind }

// Mitigate queues req's items on conn and waits until each has an outcome (req.Wait) or is posted. report,
// when not nil, is told the progress whenever it changes. It returns an *Error for what the step should fail
// with: the vendor refused a POST carrying the step's items, or lists no action for some of them.
func (s *Service) Mitigate(ctx context.Context, conn Connection, req Request, report func(Progress)) (Result, error) {
	if len(req.Items) == 0 {
		return Result{BatchIDs: []string{}, Actions: []cecp.Action{}}, nil
	}
	ctx = quota.WithClass(ctx, req.Priority)
	sreq := store.MitigationRequest{RunID: req.RunID, Step: req.Step, Connection: conn.Name, Kind: req.Kind,
		ActionType: req.ActionType, Priority: int(req.Priority), ReuseFor: or(s.ReuseFor, DefaultReuseFor), Wait: req.Wait,
		TraceParent: traceParent(ctx)}
	for _, it := range req.Items {
		payload, err := itemPayload(it)
		if err != nil {
			return Result{}, err
		}
		sreq.Items = append(sreq.Items, store.NewMitigationItem{Key: it.Key, Payload: payload})
	}
	if _, err := s.Store.EnqueueMitigation(ctx, sreq); err != nil {
		if errors.Is(err, store.ErrRequestChanged) {
			return Result{}, &Error{Type: wire.InvalidInput, Msg: fmt.Sprintf("step %s: %v; refusing to post what could duplicate it", req.Step, err)}
		}
		return Result{}, err
	}
	key := conn.Name + "\x00" + req.Kind
	s.register(key, conn, req.Kind)
	var b [6]byte
	_, _ = rand.Read(b[:])
	own := &flusher{s: s, conn: conn, kind: req.Kind, lease: LeaseName(conn.Name, req.Kind),
		holder: fmt.Sprintf("%s/%s#%d/%s", req.RunID, req.Step, req.Attempt, hex.EncodeToString(b[:]))}
	defer own.release(ctx)
	check := or(s.CheckInterval, DefaultCheckInterval)
	var last Progress
	for {
		items, err := s.Store.RequestItems(ctx, req.RunID, req.Step)
		if err != nil {
			return Result{}, err
		}
		p := progressOf(items)
		if done, err := finished(items, req); done || err != nil {
			return summarize(items), err
		}
		// The process's broker loop (Run) flushes when it runs; otherwise this step takes its turn itself.
		wait := check
		var view flusherView
		if s.running.Load() {
			if own.leader {
				// The broker loop started meanwhile: it takes the flush over.
				own.release(ctx)
				own.leader = false
			}
			view = s.view(key)
		} else {
			wake, err := own.turn(ctx)
			if err != nil {
				return Result{}, err
			}
			view = own.viewOf()
			if own.leader {
				wait = min(wake, check)
			}
		}
		p.Flusher = view.leader
		if view.leader {
			p.BatchFill, p.BatchSize, p.FlushIn, p.LastError = view.fill, or(conn.BatchSize, cecp.DefaultMaxBatch), view.flushIn, view.lastError
		}
		if report != nil && p != last {
			report(p)
		}
		if p != last {
			check = or(s.CheckInterval, DefaultCheckInterval)
		} else if !view.leader || s.running.Load() {
			check = min(check*2, or(s.MaxCheck, DefaultMaxCheck))
		}
		last = p
		if err := s.sleep(ctx, max(wait, 10*time.Millisecond)); err != nil {
			if view.lastError != "" {
				return Result{}, fmt.Errorf("waiting for %d %s on connection %q (%d posted, %d done): %w (the vendor last failed with: %s)",
					p.Total, req.Kind, conn.Name, p.Out, p.Done, err, view.lastError)
			}
			return Result{}, err
		}
	}
}

// flusherView is what a waiting step reports of the flusher of its connection.
type flusherView struct {
	leader    bool
	fill      int
	flushIn   time.Duration
	lastError string
}

func (f *flusher) viewOf() flusherView {
	return flusherView{leader: f.leader, fill: f.fill, flushIn: f.flushIn, lastError: f.lastError}
}

// register remembers a connection a step mitigates on, so the broker loop flushes it, and wakes the loop.
func (s *Service) register(key string, conn Connection, kind string) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns, s.daemon, s.views = map[string]Connection{}, map[string]*flusher{}, map[string]flusherView{}
		s.kick = make(chan struct{}, 1)
	}
	s.conns[key] = conn
	kick := s.kick
	s.mu.Unlock()
	select {
	case kick <- struct{}{}:
	default:
	}
}

// view is the broker loop's flusher of a connection, as a waiting step sees it.
func (s *Service) view(key string) flusherView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.views[key]
}

// Run is the broker loop of a worker process: it flushes every connection a step of this process has
// mitigated on, whenever it holds the connection's lease, for as long as the connection has items queued or
// out; the steps themselves only wait for their items. Whichever process holds a connection's lease flushes
// it, so the loop runs in every worker. It returns when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.running.Store(true)
	defer s.running.Store(false)
	s.register("", Connection{}, "") // set up
	s.mu.Lock()
	delete(s.conns, "")
	kick := s.kick
	s.mu.Unlock()
	var b [6]byte
	_, _ = rand.Read(b[:])
	holder := "broker/" + hex.EncodeToString(b[:])
	defer func() {
		s.mu.Lock()
		fs := make([]*flusher, 0, len(s.daemon))
		for _, f := range s.daemon {
			fs = append(fs, f)
		}
		s.mu.Unlock()
		for _, f := range fs {
			f.release(ctx)
		}
	}()
	for {
		wake := or(s.CheckInterval, DefaultCheckInterval)
		work, err := s.work(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger().Warn("reading the mitigation queues", "error", err)
		}
		s.mu.Lock()
		keys := make([]string, 0, len(s.conns))
		for k := range s.conns {
			keys = append(keys, k)
		}
		s.mu.Unlock()
		slices.Sort(keys)
		for _, key := range keys {
			s.mu.Lock()
			conn := s.conns[key]
			f := s.daemon[key]
			if f == nil {
				_, kind, _ := strings.Cut(key, "\x00")
				f = &flusher{s: s, kind: kind, lease: LeaseName(conn.Name, kind), holder: holder}
				s.daemon[key] = f
			}
			s.mu.Unlock()
			f.conn = conn // the latest the steps registered (only this loop touches f)
			if !work[key] {
				f.release(ctx)
				f.leader = false
				s.mu.Lock()
				s.views[key] = flusherView{}
				s.mu.Unlock()
				continue
			}
			w, err := f.turn(ctx)
			if err != nil && ctx.Err() == nil {
				s.logger().Warn("flushing mitigations", "connection", conn.Name, "kind", f.kind, "error", err)
			}
			if f.leader {
				wake = min(wake, w)
			}
			s.mu.Lock()
			s.views[key] = f.viewOf()
			s.mu.Unlock()
		}
		t := time.NewTimer(max(wake, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// work says which (connection, kind) have items queued or out.
func (s *Service) work(ctx context.Context) (map[string]bool, error) {
	qs, err := s.Store.MitigationQueues(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, q := range qs {
		if q.Queued+q.Out > 0 {
			out[q.Connection+"\x00"+q.Kind] = true
		}
	}
	return out, nil
}

// itemPayload is what the vendor is sent for the item.
func itemPayload(it Item) (json.RawMessage, error) {
	var v any = it.Mail
	if it.Account != nil {
		v = it.Account
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding mitigation item %s: %w", it.Key, err)
	}
	return b, nil
}

// ProgressStore is what reading a step's progress needs (*store.Store and memstore are).
type ProgressStore interface {
	RequestItems(ctx context.Context, runID, step string) ([]store.MitigationItem, error)
	GetFlusherState(ctx context.Context, connection, kind string) (store.FlusherState, error)
}

// StepProgress reads what a mitigation step waits for from the queue: its items queued, posted and done and,
// while some are queued, the batch they wait for as the connection's flusher last recorded it (in whichever
// process it runs), with the vendor failure it is waiting out. ok is false when the step queued nothing (it is
// no mitigation, or has not reached the queue yet).
func StepProgress(ctx context.Context, st ProgressStore, runID, step string, now time.Time) (p Progress, ok bool, err error) {
	items, err := st.RequestItems(ctx, runID, step)
	if err != nil || len(items) == 0 {
		return Progress{}, false, err
	}
	p = progressOf(items)
	if p.Done == p.Total {
		return p, true, nil
	}
	fs, err := st.GetFlusherState(ctx, items[0].Connection, items[0].Kind)
	if err != nil {
		return p, true, err
	}
	p.Flusher, p.LastError = !fs.At.IsZero(), fs.LastError
	if p.Queued > 0 && fs.Fill > 0 && fs.FlushAt != nil {
		p.BatchFill, p.BatchSize = fs.Fill, fs.BatchSize
		p.FlushIn = max(fs.FlushAt.Sub(now), 0)
	}
	return p, true, nil
}

func progressOf(items []store.MitigationItem) Progress {
	p := Progress{Total: len(items)}
	for _, it := range items {
		switch it.State {
		case store.ItemQueued:
			p.Queued++
		case store.ItemDone:
			p.Done++
		default:
			p.Out++
		}
	}
	return p
}

// finished reports whether the request is over: every item done (or, without Wait, at least posted). An item
// the vendor refused, or never listed, ends it with the step's error.
func finished(items []store.MitigationItem, req Request) (bool, error) {
	var missing int
	for _, it := range items {
		switch it.Status {
		case store.ItemRejected:
			var o struct{ Error, Type string }
			_ = json.Unmarshal(it.Outcome, &o)
			typ := o.Type
			if typ == "" {
				typ = wire.VendorRejected
			}
			return true, &Error{Type: typ, Msg: o.Error}
		case store.ItemMissing:
			missing++
		}
	}
	done := true
	for _, it := range items {
		if it.State != store.ItemDone && (req.Wait || it.State != store.ItemPosted) {
			done = false
		}
	}
	if done && missing > 0 {
		batches := summarize(items).BatchIDs
		return true, &Error{Type: wire.VendorRejected, Msg: fmt.Sprintf("the vendor lists no action for %d of the %s after every "+
			"listed action finished (batches %s)", missing, req.Kind, strings.Join(batches, ", "))}
	}
	return done, nil
}

// summarize counts a request's outcomes.
func summarize(items []store.MitigationItem) Result {
	r := Result{BatchIDs: []string{}, Actions: []cecp.Action{}}
	for _, it := range items {
		for _, b := range it.BatchIDs {
			if !slices.Contains(r.BatchIDs, b) {
				r.BatchIDs = append(r.BatchIDs, b)
			}
		}
		if it.State != store.ItemDone {
			r.Pending++
			continue
		}
		switch it.Status {
		case string(cecp.StatusSuccess):
			r.Succeeded++
		case string(cecp.StatusSkipped):
			r.Skipped++
		case store.ItemMissing, store.ItemRejected:
			r.Pending++
			continue
		default:
			r.Failed++
		}
		var a cecp.Action
		if json.Unmarshal(it.Outcome, &a) == nil {
			r.Actions = append(r.Actions, a)
		}
	}
	return r
}

// traceParent is ctx's span as a W3C traceparent, empty when ctx carries none (tracing off).
func traceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c.Get("traceparent")
}

// batchSpan starts the span of one POST the broker makes for many runs: linked to the trace of each run step
// whose items it carries (links, not a parent: a batch belongs to no single run). Without a Tracer it is a
// span that records nothing.
func (s *Service) batchSpan(ctx context.Context, postID int64, conn, kind string, items int) (context.Context, trace.Span) {
	if s.Tracer == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	var links []trace.Link
	if reqs, err := s.Store.PostRequesters(ctx, postID); err == nil {
		for _, r := range reqs {
			if r.TraceParent == "" {
				continue
			}
			sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": r.TraceParent}))
			if sc.IsValid() {
				links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("parry.run_id", r.RunID), attribute.String("parry.step", r.Step)}})
			}
		}
	}
	return s.Tracer.Start(ctx, "mitigation batch", trace.WithNewRoot(), trace.WithLinks(links...), trace.WithAttributes(attribute.String("cecp.connection", conn),
		attribute.String("parry.kind", kind), attribute.Int("parry.items", items), attribute.Int64("parry.post_id", postID)))
}
