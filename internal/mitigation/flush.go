package mitigation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/wire"
)

// Audit outcomes of a POST.
const (
	OutcomeAccepted  = "accepted"          // the vendor accepted the batch
	OutcomeFailed    = "failed"            // refused or not sent: nothing changed
	OutcomeAmbiguous = "ambiguous"         // sent, no answer: the change may have happened
	OutcomeDuplicate = "skipped-duplicate" // not sent again: a lookup found the vendor had it
)

// flusher is one waiting step's turn at flushing a connection's queue, when it holds the lease.
type flusher struct {
	s      *Service
	conn   Connection
	kind   string
	lease  string
	holder string
	leader bool
	// quotaUntil: no vendor request before it (the quota is spent, or the vendor is failing: backoff).
	quotaUntil time.Time
	backoff    time.Duration
	lastError  string
	pollDelay  time.Duration
	lastPoll   time.Time
	// What the last flush left waiting: the items of the partial batch, and when it goes; queued counts every
	// item still queued.
	fill    int
	flushIn time.Duration
	flushAt time.Time
	queued  int
	// saved is the state last written for the views of other processes (run show reads it).
	saved *store.FlusherState
}

// turn takes (or renews) the flusher's lease and, with it, does one round. It returns how soon the next round
// is due.
func (f *flusher) turn(ctx context.Context) (time.Duration, error) {
	ok, err := f.s.Store.TakeLease(ctx, f.lease, f.holder, or(f.s.LeaseTTL, DefaultLeaseTTL))
	if err != nil {
		return 0, err
	}
	f.leader = ok
	if !ok {
		return or(f.s.CheckInterval, DefaultCheckInterval), nil
	}
	wake, err := f.round(ctx)
	if err == nil {
		f.saveState(ctx)
	}
	return wake, err
}

// saveState writes what the flusher leaves waiting, when it changed: any server's run view reads it from
// there, so what a step waits for is live without a heartbeat per change.
func (f *flusher) saveState(ctx context.Context) {
	st := store.FlusherState{Fill: f.fill, BatchSize: or(f.conn.BatchSize, cecp.DefaultMaxBatch), LastError: f.lastError}
	if f.fill > 0 {
		at := f.flushAt
		st.FlushAt = &at
	}
	if p := f.saved; p != nil && p.Fill == st.Fill && p.BatchSize == st.BatchSize && p.LastError == st.LastError &&
		(p.FlushAt == nil) == (st.FlushAt == nil) && (p.FlushAt == nil || p.FlushAt.Equal(*st.FlushAt)) {
		return
	}
	if err := f.s.Store.SetFlusherState(ctx, f.conn.Name, f.kind, st); err != nil {
		f.s.logger().Warn("recording what the mitigation broker waits for (run show may lag)", "connection", f.conn.Name, "error", err.Error())
		return
	}
	f.saved = &st
}

// release gives the lease up (even when ctx was cancelled), so a waiting step takes over at once.
func (f *flusher) release(ctx context.Context) {
	if !f.leader {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = f.s.Store.ReleaseLease(rctx, f.lease, f.holder)
}

// round settles posts a gone flusher left uncertain, posts what is due, and polls the outcomes.
func (f *flusher) round(ctx context.Context) (time.Duration, error) {
	now := f.s.now()
	if now.Before(f.quotaUntil) {
		return f.quotaUntil.Sub(now), nil
	}
	if err := f.settle(ctx); err != nil {
		return f.vendorWait(ctx, err)
	}
	wake, err := f.flush(ctx)
	if err != nil {
		return f.vendorWait(ctx, err)
	}
	pw, err := f.poll(ctx)
	if err != nil {
		return f.vendorWait(ctx, err)
	}
	f.backoff, f.lastError = 0, ""
	return min(wake, pw), nil
}

// vendorWait turns a vendor failure into a wait: the quota (a limiter refusal or a 429) until it frees, a
// transient failure a doubling backoff. Anything else (the database, a cancelled context) is returned.
func (f *flusher) vendorWait(ctx context.Context, err error) (time.Duration, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	var ce *cecp.Error
	if !errors.As(err, &ce) {
		return 0, err
	}
	wait := ce.RetryAfter
	if ce.RateLimited() {
		if ce.Status == 429 && f.s.Metrics != nil {
			f.s.Metrics.rateLimited.WithLabelValues(f.conn.Name).Inc()
		}
		if wait <= 0 {
			wait = or(f.conn.Window, time.Minute)
		}
	} else {
		f.backoff = min(max(2*f.backoff, or(f.s.Backoff, DefaultBackoff)), 30*time.Second)
		wait = f.backoff
		f.s.logger().Info("vendor request failed; the broker tries again", "connection", f.conn.Name, "in", wait.String(), "error", err.Error())
	}
	f.lastError = err.Error()
	f.quotaUntil = f.s.now().Add(wait)
	return wait, nil
}

// flush posts the queued items that are due: full batches at once, a partial batch once its oldest item has
// waited the linger.
func (f *flusher) flush(ctx context.Context) (time.Duration, error) {
	size := or(f.conn.BatchSize, cecp.DefaultMaxBatch)
	linger := or(f.conn.Linger, DefaultLinger)
	queued, err := f.s.Store.QueuedMitigations(ctx, f.conn.Name, f.kind, size*20)
	if err != nil {
		return 0, err
	}
	f.fill, f.flushIn, f.flushAt, f.queued = 0, 0, time.Time{}, 0
	wake := or(f.s.MaxCheck, DefaultMaxCheck)
	var types []string
	groups := map[string][]store.MitigationItem{}
	for _, it := range queued {
		if _, ok := groups[it.ActionType]; !ok {
			types = append(types, it.ActionType)
		}
		groups[it.ActionType] = append(groups[it.ActionType], it)
	}
	for _, typ := range types {
		group := groups[typ]
		for len(group) > 0 {
			oldest, newest := group[0].EnqueuedAt, group[0].EnqueuedAt
			for _, it := range group {
				if it.EnqueuedAt.Before(oldest) {
					oldest = it.EnqueuedAt
				}
				if it.EnqueuedAt.After(newest) {
					newest = it.EnqueuedAt
				}
			}
			// A partial batch goes once no item has joined it for the linger (a storm still arriving keeps
			// filling it), or once its oldest item has waited maxLingers lingers.
			now := f.s.now()
			due := min(newest.Add(linger).Sub(now), oldest.Add(maxLingers*linger).Sub(now))
			if len(group) < size && due > 0 {
				if f.fill == 0 {
					f.fill, f.flushIn, f.flushAt = len(group), due, now.Add(due)
				}
				f.queued += len(group)
				wake = min(wake, due)
				break
			}
			n := min(size, len(group))
			// The lease is renewed before every POST: a flusher that lost it (a long stall) posts nothing.
			if ok, err := f.s.Store.TakeLease(ctx, f.lease, f.holder, or(f.s.LeaseTTL, DefaultLeaseTTL)); err != nil || !ok {
				f.leader = ok
				return wake, err
			}
			if err := f.post(ctx, typ, group[:n], size); err != nil {
				return wake, err
			}
			group = group[n:]
		}
	}
	return wake, nil
}

// post sends one batch, recorded in the ledger first.
func (f *flusher) post(ctx context.Context, actionType string, items []store.MitigationItem, size int) error {
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	postID, err := f.s.Store.BeginPost(ctx, f.conn.Name, f.kind, actionType, ids)
	if err != nil {
		return err
	}
	ctx, span := f.s.batchSpan(ctx, postID, f.conn.Name, f.kind, len(items))
	defer span.End()
	res, err := f.send(ctx, items)
	// Whatever happened at the vendor is recorded, even when ctx ended meanwhile.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err == nil {
		if err := f.s.Store.AcceptPost(rctx, postID, res.BatchID, res.TraceID); err != nil {
			return err
		}
		now := f.s.now()
		if f.s.Metrics != nil {
			f.s.Metrics.observePost(f.conn.Name, len(items), size, items, now)
		}
		f.audit(rctx, postID, actionType, OutcomeAccepted, []string{res.BatchID, res.TraceID}, nil)
		f.s.logger().Info("batch accepted", "connection", f.conn.Name, "kind", f.kind, "items", len(items), "batch_id", res.BatchID)
		return nil
	}
	var ve *cecp.ValidationError
	if errors.As(err, &ve) {
		f.audit(rctx, postID, actionType, OutcomeFailed, nil, map[string]any{"error": err.Error()})
		return f.s.Store.RejectPost(rctx, postID, wire.InvalidInput, err.Error())
	}
	var ce *cecp.Error
	if !errors.As(err, &ce) {
		// Not an answer from the vendor (the context ended mid-request): the POST may have reached it; the
		// ledger row stays 'sending' and the next flusher looks its items up before posting them again.
		return err
	}
	details := map[string]any{"error": ce.Error()}
	vendorIDs := []string{ce.TraceID}
	switch {
	case ce.MaybeApplied():
		f.audit(rctx, postID, actionType, OutcomeAmbiguous, vendorIDs, details)
		return err
	case ce.Auth():
		f.audit(rctx, postID, actionType, OutcomeFailed, vendorIDs, details)
		return f.s.Store.RejectPost(rctx, postID, wire.VendorAuth, err.Error())
	case ce.Rejected():
		f.audit(rctx, postID, actionType, OutcomeFailed, vendorIDs, details)
		return f.s.Store.RejectPost(rctx, postID, wire.VendorRejected, err.Error())
	}
	// Certainly not applied (a quota refusal, a 429, a 5xx before anything was done): queued again.
	if !ce.RateLimited() || ce.Status != 0 {
		f.audit(rctx, postID, actionType, OutcomeFailed, vendorIDs, details)
	}
	if rerr := f.s.Store.ReleasePost(rctx, postID); rerr != nil {
		return rerr
	}
	return err
}

// send posts the items to the vendor.
func (f *flusher) send(ctx context.Context, items []store.MitigationItem) (cecp.BatchResult, error) {
	if f.kind == Accounts {
		acts := make([]cecp.AccountAction, len(items))
		for i, it := range items {
			if err := json.Unmarshal(it.Payload, &acts[i]); err != nil {
				return cecp.BatchResult{}, &cecp.ValidationError{Problems: []string{fmt.Sprintf("item %s: %v", it.Key, err)}}
			}
		}
		return f.conn.Vendor.MitigateAccounts(ctx, acts)
	}
	acts := make([]cecp.MailAction, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it.Payload, &acts[i]); err != nil {
			return cecp.BatchResult{}, &cecp.ValidationError{Problems: []string{fmt.Sprintf("item %s: %v", it.Key, err)}}
		}
	}
	return f.conn.Vendor.MitigateMails(ctx, acts)
}

// settle looks up the items of posts left 'sending' by a flusher that is gone: those the vendor lists were
// posted, the rest are queued again. Nothing is posted again before this.
func (f *flusher) settle(ctx context.Context) error {
	posts, err := f.s.Store.SendingPosts(ctx, f.conn.Name, f.kind)
	if err != nil || len(posts) == 0 {
		return err
	}
	since := posts[0].FirstSentAt
	for _, p := range posts {
		if p.FirstSentAt.Before(since) {
			since = p.FirstSentAt
		}
	}
	acts, err := f.window(ctx, since)
	if err != nil {
		return err
	}
	for _, p := range posts {
		items, err := f.s.Store.PostItems(ctx, p.ID)
		if err != nil {
			return err
		}
		found := map[int64][]string{}
		var batches []string
		for _, it := range items {
			if it.State != store.ItemSending {
				continue
			}
			for _, x := range acts {
				if x.ActionType == p.ActionType && matches(f.kind, it, x) && !slices.Contains(found[it.ID], x.BatchID) {
					found[it.ID] = append(found[it.ID], x.BatchID)
					if !slices.Contains(batches, x.BatchID) {
						batches = append(batches, x.BatchID)
					}
				}
			}
		}
		if len(found) > 0 {
			f.audit(ctx, p.ID, p.ActionType, OutcomeDuplicate, batches, map[string]any{"found": len(found), "to_post": len(items) - len(found)})
		}
		if err := f.s.Store.ResolvePost(ctx, p.ID, found); err != nil {
			return err
		}
		f.s.logger().Info("settled an uncertain POST", "connection", f.conn.Name, "found", len(found), "queued_again", len(items)-len(found))
	}
	return nil
}

// poll reads the outcomes of every outstanding item of the connection with one time-window query. The first
// poll waits PollInterval after the latest POST (a poll while batches are still going out finds them
// unfinished and spends a request of the quota on nothing), and while items are still queued, polls come at
// most every MaxPollInterval; polls that find nothing new back off up to MaxPollInterval.
func (f *flusher) poll(ctx context.Context) (time.Duration, error) {
	items, err := f.s.Store.OutstandingMitigations(ctx, f.conn.Name, f.kind)
	if err != nil || len(items) == 0 {
		return or(f.s.MaxCheck, DefaultMaxCheck), err
	}
	now := f.s.now()
	since, latest := now, time.Time{}
	for _, it := range items {
		if it.PostedAt == nil {
			continue
		}
		if it.PostedAt.Before(since) {
			since = *it.PostedAt
		}
		if it.PostedAt.After(latest) {
			latest = *it.PostedAt
		}
	}
	interval := or(f.s.PollInterval, DefaultPollInterval)
	due := latest.Add(interval)
	if f.lastPoll.IsZero() {
		// Taking the flush over: poll no sooner than the flusher before would have.
		if f.lastPoll, f.pollDelay, err = f.s.Store.FlusherPoll(ctx, f.conn.Name, f.kind); err != nil {
			return 0, err
		}
	}
	if !f.lastPoll.IsZero() {
		if next := f.lastPoll.Add(f.pollDelay); next.After(due) {
			due = next
		}
	}
	// While items are still arriving, every request of the quota should carry them: outcomes are read at
	// most once every MaxPollInterval until the queue is empty.
	if f.queued > 0 {
		storm := since.Add(or(f.s.MaxPollInterval, DefaultMaxPollInterval))
		if !f.lastPoll.IsZero() {
			storm = f.lastPoll.Add(or(f.s.MaxPollInterval, DefaultMaxPollInterval))
		}
		if storm.After(due) {
			due = storm
		}
	}
	if now.Before(due) {
		return due.Sub(now), nil
	}
	f.s.logger().Debug("polling outcomes", "connection", f.conn.Name, "holder", f.holder, "outstanding", len(items),
		"queued", f.queued, "last_poll", f.lastPoll, "delay", f.pollDelay)
	acts, err := f.window(ctx, since)
	if err != nil {
		return 0, err
	}
	var outs []store.MitigationOutcome
	changed := false
	for _, it := range items {
		var best *cecp.Action
		listed, listedDone := false, true
		for i := range acts {
			x := &acts[i]
			if !slices.Contains(it.BatchIDs, x.BatchID) {
				continue
			}
			listed = true
			if !x.Status.Terminal() {
				listedDone = false
			}
			if x.ActionType != it.ActionType || !matches(f.kind, it, *x) {
				continue
			}
			if best == nil || !best.Status.Terminal() && x.Status.Terminal() {
				best = x
			}
		}
		switch {
		case best != nil && best.Status.Terminal():
			b, _ := json.Marshal(best)
			outs = append(outs, store.MitigationOutcome{ItemID: it.ID, Status: string(best.Status), Outcome: b})
			changed = true
		case best == nil && listed && listedDone:
			m := store.MitigationOutcome{ItemID: it.ID, Missing: it.Missing + 1}
			if m.Missing >= missingPolls {
				m.Status = store.ItemMissing
				changed = true
			}
			outs = append(outs, m)
		case it.Missing > 0:
			outs = append(outs, store.MitigationOutcome{ItemID: it.ID})
		}
	}
	if err := f.s.Store.RecordMitigationOutcomes(ctx, outs); err != nil {
		return 0, err
	}
	if changed || f.pollDelay == 0 {
		f.pollDelay = interval
	} else {
		f.pollDelay = min(2*f.pollDelay, or(f.s.MaxPollInterval, DefaultMaxPollInterval))
	}
	f.lastPoll = f.s.now()
	if err := f.s.Store.SetFlusherPoll(ctx, f.conn.Name, f.kind, f.lastPoll, f.pollDelay); err != nil {
		return 0, err
	}
	return f.pollDelay, nil
}

// window reads every action of the flusher's kind requested since since (less the clock-skew allowance) up to
// now, within the vendor's 72 h: one query, paged 500 at a time, whatever the number of batches.
func (f *flusher) window(ctx context.Context, since time.Time) ([]cecp.Action, error) {
	end := f.s.now().UTC().Truncate(time.Second).Add(time.Second)
	start := since.Add(-lookupSkew).UTC().Truncate(time.Second)
	if end.Sub(start) > cecp.ActionResultsWindow {
		start = end.Add(-cecp.ActionResultsWindow)
	}
	q := cecp.ActionResultsQuery{Start: start, End: end, Limit: cecp.MaxActionResultsLimit, MaxResults: lookupMax}
	if f.kind == Accounts {
		return f.conn.Vendor.AccountActionResultPages(q).Collect(ctx)
	}
	return f.conn.Vendor.MailActionResultPages(q).Collect(ctx)
}

// matches reports whether the vendor action x is item it.
func matches(kind string, it store.MitigationItem, x cecp.Action) bool {
	if kind == Accounts {
		var a cecp.AccountAction
		_ = json.Unmarshal(it.Payload, &a)
		return strings.EqualFold(x.AccountUserEmail, a.AccountUserEmail)
	}
	var m cecp.MailAction
	_ = json.Unmarshal(it.Payload, &m)
	if !strings.EqualFold(x.Mailbox, m.Mailbox) {
		return false
	}
	if m.MailUniqueID != "" && x.MailUniqueID != "" {
		return m.MailUniqueID == x.MailUniqueID
	}
	return m.MailMessageID != "" && m.MailMessageID == x.MailMessageID
}

// audit writes one row per run step with items in the post: each run's trail shows its own mails.
func (f *flusher) audit(ctx context.Context, postID int64, actionType, outcome string, vendorIDs []string, details map[string]any) {
	reqs, err := f.s.Store.PostRequesters(ctx, postID)
	if err != nil {
		f.s.logger().Error("audit rows not recorded", "post", postID, "error", err.Error())
		return
	}
	ids := []string{}
	for _, id := range vendorIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	action := "cecp.mitigate_mails"
	if f.kind == Accounts {
		action = "cecp.mitigate_accounts"
	}
	total := 0
	for _, r := range reqs {
		total += r.Items
	}
	for _, r := range reqs {
		d := map[string]any{"post": postID, "items_in_post": total, "runs_in_post": len(reqs)}
		for k, v := range details {
			d[k] = v
		}
		b, _ := json.Marshal(d)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := f.s.Store.AppendAudit(actx, store.AuditEvent{Actor: "run:" + r.RunID, Action: action, RunID: r.RunID, StepID: r.Step,
			Connection: f.conn.Name, Operation: actionType, Targets: r.Items, VendorIDs: ids, Outcome: outcome, Details: b})
		cancel()
		if err != nil {
			f.s.logger().Error("audit row not recorded", "run", r.RunID, "outcome", outcome, "error", err.Error())
		}
	}
}
