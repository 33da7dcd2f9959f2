// Package poller is the activity side of the CECP log poller: it reads one stream of vendor events (security
// events of one service and event type, or quarantine events) from where its cursor stands, and stores each
// page's events as alerts together with the advanced cursor in one transaction, so that every event becomes an
// alert exactly once across crashes, restarts and retries (repeats are also dropped by the alert's source id).
//
// The workflow that drives it is workflows.CECPPoller; register the activity on a worker with Register. This
// package does not import the workflows package: the activity's input and result mirror
// workflows.PollStreamInput and workflows.PollStreamResult field for field.
package poller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/quota"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/wire"
)

// ActivityName is the registered name of PollStream (workflows.ActivityPollStream).
const ActivityName = "poller.poll_stream"

// QuarantineEvent is the stream event of quarantine events (workflows.QuarantineEvent).
const QuarantineEvent = "quarantine"

// Defaults of Activities.
const (
	DefaultFirstFetch   = time.Hour
	DefaultPagesPerCall = 10
	// reachMargin keeps queries this far inside the vendor's reach, so clock skew never makes it refuse one.
	reachMargin = 5 * time.Minute
	// quietAdvance is how far behind "now" an empty poll moves the cursor: events the vendor indexes late
	// (up to this much) are still found, and a quiet stream does not drift out of the vendor's reach.
	quietAdvance = 10 * time.Minute
	// maxPagesPerCall bounds one call even when it keeps meeting pages it stored already.
	maxPagesPerCall = 1000
)

// Stream mirrors workflows.PollStream.
type Stream struct {
	Service string `json:"service"`
	Event   string `json:"event"`
}

// Name mirrors workflows.PollStream.Name.
func (s Stream) Name() string {
	if s.Event == QuarantineEvent {
		return QuarantineEvent
	}
	return s.Service + "/" + s.Event
}

// Input mirrors workflows.PollStreamInput.
type Input struct {
	Connection string        `json:"connection"`
	Stream     Stream        `json:"stream"`
	FirstFetch time.Duration `json:"first_fetch"`
}

// Result mirrors workflows.PollStreamResult.
type Result struct {
	Events int `json:"events"`
	Alerts int `json:"alerts"`
	// Undecodable counts the events (included in Events) that did not decode even tolerantly: each is still
	// stored, as an alert holding the event as received and the reason (see undecodableAlert).
	Undecodable int       `json:"undecodable,omitempty"`
	Pages       int       `json:"pages"`
	More        bool      `json:"more"`
	Position    time.Time `json:"position"`
}

// Source is the vendor client of one connection; *cecp.Client is one.
type Source interface {
	SecurityEventPages(q cecp.SecurityEventsQuery) *cecp.Pager[cecp.SecurityEvent]
	QuarantineEventPages(q cecp.QuarantineEventsQuery) *cecp.Pager[cecp.QuarantineEvent]
}

// Cursors is the part of the store the activity uses; *store.Store is one.
type Cursors interface {
	GetPollCursor(ctx context.Context, connection, stream string) (store.PollCursor, bool, error)
	StorePollPage(ctx context.Context, p store.PollPage) ([]store.InsertedAlert, error)
}

// Activities polls vendor streams. Set the fields in one place (the worker's main) and Register it.
type Activities struct {
	Store Cursors
	// Client returns the vendor client of a connection (with the cluster-wide quota limiter).
	Client func(ctx context.Context, connection string) (Source, error)
	// PagesPerCall bounds the pages one activity call reads (DefaultPagesPerCall when 0); the workflow calls
	// again while the vendor has more.
	PagesPerCall int
	// PageSize is the vendor page size (the maximum, 500, when 0).
	PageSize int
	Now      func() time.Time
	Logger   *slog.Logger
}

// Registry is where activities are registered: a worker.Worker, or a test environment.
type Registry interface {
	RegisterActivityWithOptions(a interface{}, options activity.RegisterOptions)
}

// Register registers the activity on a worker under ActivityName.
func Register(r Registry, a *Activities) {
	r.RegisterActivityWithOptions(a.PollStream, activity.RegisterOptions{Name: ActivityName})
}

// Clients builds vendor clients from the configuration, one per connection, on first use. Every request takes
// a slot of limiter's quota for the connection (the class, background, comes with the activity's context).
func Clients(cfg config.Config, secrets secret.Provider, limiter cecp.Limiter) func(ctx context.Context, connection string) (Source, error) {
	var mu sync.Mutex
	clients := map[string]*cecp.Client{}
	return func(ctx context.Context, name string) (Source, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[name]; ok {
			return c, nil
		}
		conn, err := cfg.Connection(name)
		if err != nil {
			return nil, err
		}
		c, err := cecp.New(cecp.Options{
			Region: conn.Region, BaseURL: conn.BaseURL, Token: cecp.SecretToken(secrets, conn.TokenSecret),
			Timeout: conn.Timeout, MaxBatch: conn.BatchSize, Limiter: limiter, QuotaKey: conn.Name,
		})
		if err != nil {
			return nil, fmt.Errorf("connection %s: %w", name, err)
		}
		clients[name] = c
		return c, nil
	}
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// PollStream reads pages of one stream from its cursor and stores them, up to PagesPerCall pages.
func (a *Activities) PollStream(ctx context.Context, in Input) (Result, error) {
	ctx = quota.WithClass(ctx, quota.Background)
	var res Result
	if in.Connection == "" || in.Stream.Event == "" || (in.Stream.Event != QuarantineEvent && in.Stream.Service == "") {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("polling: incomplete stream %+v of connection %q", in.Stream, in.Connection), wire.InvalidInput, nil)
	}
	src, err := a.Client(ctx, in.Connection)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("polling %s: %v", in.Connection, err), wire.InvalidInput, nil)
	}
	name := in.Stream.Name()
	cur, found, err := a.Store.GetPollCursor(ctx, in.Connection, name)
	if err != nil {
		return res, err
	}
	now := a.now().UTC()
	reach := cecp.SecurityEventsReach
	if in.Stream.Event == QuarantineEvent {
		reach = cecp.QuarantineEventsReach
	}
	oldest := now.Add(-reach + reachMargin)
	start := cur.Position
	seen := map[string]bool{}
	var gapFrom, gapTo *time.Time
	switch {
	case !found:
		first := in.FirstFetch
		if first <= 0 {
			first = DefaultFirstFetch
		}
		start = now.Add(-first)
		if start.Before(oldest) {
			start = oldest
		}
	case start.Before(oldest):
		// Down for longer than the vendor keeps events: read what is still there and record the gap.
		from, to := start, oldest
		gapFrom, gapTo = &from, &to
		start = oldest
		if a.Logger != nil {
			a.Logger.Warn("poll cursor older than the vendor keeps events; events before the gap's end may be lost",
				"connection", in.Connection, "stream", name, "gap_from", from, "gap_to", to)
		}
	default:
		for _, id := range cur.SeenIDs {
			seen[id] = true
		}
	}
	pages := a.PagesPerCall
	if pages <= 0 {
		pages = DefaultPagesPerCall
	}
	size := a.PageSize
	if size <= 0 || size > cecp.MaxSecurityEventsLimit {
		size = cecp.MaxSecurityEventsLimit
	}
	var next func(ctx context.Context) (pageOf, error)
	var done func() bool
	if in.Stream.Event == QuarantineEvent {
		p := src.QuarantineEventPages(cecp.QuarantineEventsQuery{Start: start, End: now, Limit: size, MaxResults: maxPagesPerCall * size})
		next = func(ctx context.Context) (pageOf, error) {
			pg, err := p.Next(ctx)
			if err != nil {
				return pageOf{}, err
			}
			out := pageOf{position: pg.LastLogItemGenerationTime, next: pg.NextLink, undecodable: len(pg.Undecodable)}
			for _, ev := range pg.Items {
				out.items = append(out.items, quarantineAlert(in.Connection, ev))
			}
			for _, u := range pg.Undecodable {
				out.items = append(out.items, undecodableAlert(in.Connection, in.Stream, u))
			}
			return out, nil
		}
		done = p.Done
	} else {
		p := src.SecurityEventPages(cecp.SecurityEventsQuery{Service: in.Stream.Service, Event: in.Stream.Event, Start: start, End: now,
			Limit: size, MaxResults: maxPagesPerCall * size})
		next = func(ctx context.Context) (pageOf, error) {
			pg, err := p.Next(ctx)
			if err != nil {
				return pageOf{}, err
			}
			out := pageOf{position: pg.LastLogItemGenerationTime, next: pg.NextLink, undecodable: len(pg.Undecodable)}
			for _, ev := range pg.Items {
				out.items = append(out.items, securityAlert(in.Connection, in.Stream, ev))
			}
			for _, u := range pg.Undecodable {
				out.items = append(out.items, undecodableAlert(in.Connection, in.Stream, u))
			}
			return out, nil
		}
		done = p.Done
	}
	position := start
	var seenIDs []string
	for id := range seen {
		seenIDs = append(seenIDs, id)
	}
	lastNext, budget := "", 0
	for !done() {
		pg, err := next(ctx)
		if errors.Is(err, cecp.ErrNoMorePages) {
			break
		}
		if err != nil {
			wait, cerr := classify(fmt.Sprintf("polling %s %s", in.Connection, name), err)
			if wait >= 0 && a.Logger != nil {
				// Expected back-off, not a failure: the vendor's or parry's quota window is full.
				a.Logger.Info("vendor rate limit: polling waits for the quota", "connection", in.Connection, "stream", name,
					"retry_in", waitText(wait))
			}
			return res, cerr
		}
		res.Pages++
		res.Events += len(pg.items)
		if pg.undecodable > 0 {
			res.Undecodable += pg.undecodable
			if a.Logger != nil {
				a.Logger.Warn("vendor events that do not decode were stored as received", "connection", in.Connection,
					"stream", name, "undecodable", pg.undecodable, "events", len(pg.items))
			}
		}
		lastNext = pg.next
		var alerts []store.NewAlert
		var ids []string
		for _, it := range pg.items {
			ids = append(ids, it.SourceID)
			if !seen[it.SourceID] {
				alerts = append(alerts, it)
			}
		}
		before := position
		switch {
		case len(pg.items) == 0 && pg.position.IsZero():
			// Nothing new: move a quiet stream along, never back.
			if quiet := now.Add(-quietAdvance); quiet.After(position) {
				position, seenIDs = quiet, nil
			}
		case pg.position.IsZero():
			// Events without the page's generation time: keep the position, remember the ids.
			seenIDs = append(seenIDs, ids...)
		case pg.position.Equal(position):
			seenIDs = append(seenIDs, ids...)
		default:
			position, seenIDs = pg.position, ids
		}
		if pg.position.After(now) {
			position = now
		}
		movedOn := !position.Equal(before)
		inserted, err := a.Store.StorePollPage(ctx, store.PollPage{
			Connection: in.Connection, Stream: name, Position: position, SeenIDs: seenIDs, Events: len(pg.items),
			Alerts: alerts, GapFrom: gapFrom, GapTo: gapTo,
		})
		if err != nil {
			return res, err
		}
		gapFrom, gapTo = nil, nil
		for id := range seen {
			delete(seen, id)
		}
		for _, id := range seenIDs {
			seen[id] = true
		}
		for _, ins := range inserted {
			if !ins.Duplicate {
				res.Alerts++
			}
		}
		activity.RecordHeartbeat(ctx, res.Pages)
		// Pages of events already stored (more events at one millisecond than a call's budget, re-read from
		// the cursor) do not count, or the stream would never get past them.
		if len(alerts) > 0 || movedOn {
			budget++
		}
		if budget >= pages || res.Pages >= maxPagesPerCall {
			break
		}
	}
	res.More = !done() || lastNext != ""
	res.Position = position
	return res, nil
}

type pageOf struct {
	position    time.Time
	next        string // the vendor's next_link: set on the last page read when the bound stopped short
	items       []store.NewAlert
	undecodable int
}

// classify turns a vendor error into the engine's closed set of Temporal error types; a rate limit carries the
// delay so the retry waits for the quota instead of spinning, and is marked benign: it is the expected back-off
// of a shared quota, which Temporal's worker then logs at debug level rather than as an error. wait is the
// rate limit's delay (0 when unknown), -1 for any other error.
func classify(what string, err error) (time.Duration, error) {
	var ve *cecp.ValidationError
	if errors.As(err, &ve) {
		return -1, temporal.NewNonRetryableApplicationError(what+": "+err.Error(), wire.InvalidInput, nil)
	}
	var ce *cecp.Error
	if !errors.As(err, &ce) {
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	msg := what + ": " + ce.Error()
	switch {
	case ce.RateLimited():
		// Without a known delay the retry policy's backoff applies; the next attempt then meets the quota's
		// block (set after the vendor's 429) and learns the delay from it.
		return ce.RetryAfter, temporal.NewApplicationErrorWithOptions(msg, wire.VendorRateLimited, temporal.ApplicationErrorOptions{
			NextRetryDelay: ce.RetryAfter, Category: temporal.ApplicationErrorCategoryBenign})
	case ce.Auth():
		return -1, temporal.NewNonRetryableApplicationError(msg, wire.VendorAuth, nil)
	case ce.Transient():
		return -1, temporal.NewApplicationError(msg, wire.VendorUnavailable)
	default:
		return -1, temporal.NewNonRetryableApplicationError(msg, wire.VendorRejected, nil)
	}
}

func waitText(d time.Duration) string {
	if d <= 0 {
		return "the retry policy's back-off (the vendor said no delay)"
	}
	return d.Round(time.Second).String()
}

// undecodableAlert keeps an event that did not decode even tolerantly: its data is the event as received and
// the reason, its id a digest of what was received (the same bytes are the same alert), so a SOC sees that
// something arrived and what it was, and the poller moves on.
func undecodableAlert(conn string, s Stream, u cecp.Undecodable) store.NewAlert {
	sum := sha256.Sum256(u.Raw)
	raw := json.RawMessage(u.Raw)
	if !json.Valid(raw) {
		raw, _ = json.Marshal(string(u.Raw))
	}
	data := map[string]any{"undecodable": true, "decode_error": u.Err, "raw": raw}
	title := fmt.Sprintf("%s %s: an event parry could not decode (%s)", s.Service, eventTitle(s.Event), u.Err)
	severity := severityOf(s.Event)
	if s.Event == QuarantineEvent {
		title = "Quarantine event parry could not decode (" + u.Err + ")"
	}
	return store.NewAlert{
		Source: "cecp", SourceID: "undecodable:sha256:" + hex.EncodeToString(sum[:16]), Kind: s.Event, Severity: severity,
		Title: clip(title, 300), Connection: conn, ObservedAt: time.Now().UTC(), Data: mustJSON(data),
	}
}

func severityOf(event string) string {
	if event == QuarantineEvent {
		return "medium"
	}
	return severity(event, "")
}

// securityAlert turns a security event into an alert: kind is the event type queried, data the event's
// message fields with its log_item_id, service and event alongside, so playbooks read alert.data.<field>.
func securityAlert(conn string, s Stream, ev cecp.SecurityEvent) store.NewAlert {
	data := fields(ev.Message)
	data["log_item_id"], data["service"], data["event"] = ev.LogItemID, ev.Service, ev.Event
	id := ev.LogItemID
	if id == "" {
		id = "sha256:" + digest(ev)
	}
	m := ev.Message
	subject := firstOf(m.SecurityRiskName, m.VirusName, m.RansomwareName, m.TriggeredDLPTemplate, m.TriggeredPolicyName, m.MailMessageSubject, m.FileName)
	who := firstOf(m.AffectedUser, m.MailMessageSender)
	title := fmt.Sprintf("%s %s", firstOf(ev.Service, s.Service), eventTitle(s.Event))
	if subject != "" {
		title += ": " + subject
	}
	if who != "" {
		title += " (" + who + ")"
	}
	return store.NewAlert{
		Source: "cecp", SourceID: id, Kind: s.Event, Severity: severity(s.Event, m.RiskLevel), Title: clip(title, 300),
		Connection: conn, ObservedAt: observed(m.DetectionTime.Time), Data: mustJSON(data),
	}
}

// quarantineAlert turns a quarantine event into an alert; its id is the mail log id (stable per event), or a
// digest of what identifies the quarantined mail.
func quarantineAlert(conn string, ev cecp.QuarantineEvent) store.NewAlert {
	data := fields(ev.Message)
	data["service"] = ev.Service
	m := ev.Message
	id := "quarantine:" + m.MailLogID
	if m.MailLogID == "" {
		sum := sha256.Sum256([]byte(m.MailUniqueID + "\x00" + m.Mailbox + "\x00" + m.DetectionTime.Time.UTC().Format(time.RFC3339Nano)))
		id = "quarantine:sha256:" + hex.EncodeToString(sum[:16])
	}
	title := "Mail quarantined"
	if s := firstOf(m.SecurityRiskName, m.TriggeredSecurityFilter); s != "" {
		title += ": " + s
	}
	if m.MailMessageSubject != "" {
		title += fmt.Sprintf(" (%q", m.MailMessageSubject)
		if m.Mailbox != "" {
			title += " to " + m.Mailbox
		}
		title += ")"
	}
	return store.NewAlert{
		Source: "cecp", SourceID: id, Kind: QuarantineEvent, Severity: "medium", Title: clip(title, 300),
		Connection: conn, ObservedAt: observed(m.DetectionTime.Time), Data: mustJSON(data),
	}
}

func eventTitle(event string) string {
	switch event {
	case "securityrisk":
		return "security risk"
	case "virtualanalyzer":
		return "Virtual Analyzer detection"
	case "ransomware":
		return "ransomware"
	case "dlp":
		return "DLP violation"
	}
	return event
}

// severity reads the vendor's risk level when it says one, else rates the event type.
func severity(event, risk string) string {
	switch r := strings.ToLower(risk); {
	case strings.Contains(r, "critical"):
		return "critical"
	case strings.Contains(r, "high"):
		return "high"
	case strings.Contains(r, "medium"):
		return "medium"
	case strings.Contains(r, "low"):
		return "low"
	}
	switch event {
	case "ransomware":
		return "critical"
	case "virtualanalyzer", "securityrisk":
		return "high"
	}
	return "medium"
}

func observed(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

func fields(v any) map[string]any {
	var m map[string]any
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

func digest(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
