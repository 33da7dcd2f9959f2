package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
)

// Bounds of the duplicate lookup and of result polling.
const (
	// lookupSkew widens a lookup window before the first POST: the vendor's clock may lag parry's.
	lookupSkew = 5 * time.Minute
	// lookupMax bounds the actions read by one lookup or one window poll.
	lookupMax = 50_000
	// maxPollFailures is how many failed polls in a row the wait absorbs before the step fails (and retries).
	maxPollFailures = 5
	// missingPolls is how many polls in a row may find every listed action finished while some items have no
	// action at all before the step gives up on them.
	missingPolls = 3
)

var mailActionTypes = map[string]string{
	"delete": cecp.MailDelete, "quarantine": cecp.MailQuarantine, "restore": cecp.MailRestore,
}

var accountActionTypes = map[string]string{
	"disable": cecp.AccountDisable, "enable_mfa": cecp.AccountEnableMFA, "reset_password": cecp.AccountResetPassword,
	"revoke_sessions": cecp.AccountRevokeSigninSessions,
}

// mitItem is one mail or account to act on.
type mitItem struct {
	key     string
	mail    cecp.MailAction
	account cecp.AccountAction
}

// mitigation is what one step asks of the vendor.
type mitigation struct {
	kind       string // mails or accounts
	actionType string
	items      []mitItem
}

// matches reports whether the vendor action x is item it's.
func (m *mitigation) matches(it mitItem, x cecp.Action) bool {
	if x.ActionType != m.actionType {
		return false
	}
	if m.kind == "accounts" {
		return strings.EqualFold(x.AccountUserEmail, it.account.AccountUserEmail)
	}
	if !strings.EqualFold(x.Mailbox, it.mail.Mailbox) {
		return false
	}
	if it.mail.MailUniqueID != "" && x.MailUniqueID != "" {
		return it.mail.MailUniqueID == x.MailUniqueID
	}
	return it.mail.MailMessageID != "" && it.mail.MailMessageID == x.MailMessageID
}

type mitigationOut struct {
	BatchIDs  []string    `json:"batch_ids"`
	Succeeded int         `json:"succeeded"`
	Skipped   int         `json:"skipped"`
	Failed    int         `json:"failed"`
	Pending   int         `json:"pending"`
	Actions   []actionOut `json:"actions"`
}

func (a *Activities) mitigateMails(ctx context.Context, c *call) (any, error) {
	var in struct {
		Action  string           `json:"action"`
		Mails   []map[string]any `json:"mails"`
		Service string           `json:"service"`
		Wait    bool             `json:"wait"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	m := &mitigation{kind: "mails", actionType: mailActionTypes[in.Action]}
	seen := map[string]bool{}
	for i, raw := range in.Mails {
		ma, err := mailAction(i, raw, m.actionType, in.Service)
		if err != nil {
			return nil, err
		}
		key := strings.ToLower(ma.Mailbox) + "|" + ma.MailUniqueID + "|" + ma.MailMessageID
		if seen[key] {
			continue
		}
		seen[key] = true
		m.items = append(m.items, mitItem{key: key, mail: ma})
	}
	acts := make([]cecp.MailAction, len(m.items))
	for i, it := range m.items {
		acts[i] = it.mail
	}
	if len(acts) > 0 {
		if err := cecp.ValidateMailActions(acts); err != nil {
			return nil, failf(action.InvalidInput, "checking with.mails: %v", err)
		}
	}
	return a.mitigate(ctx, c, m, in.Wait)
}

// mailAction reads one item of with.mails: a sweep item, a quarantine event's message, or a whole quarantine
// event ({service, message}).
func mailAction(i int, raw map[string]any, actionType, service string) (cecp.MailAction, error) {
	where := fmt.Sprintf("with.mails[%d]", i)
	if msg, ok := raw["message"].(map[string]any); ok && raw["mailbox"] == nil {
		raw, where = msg, where+".message"
	}
	get := func(name string) (string, error) {
		v, ok := raw[name]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", failf(action.InvalidInput, "%s.%s must be a string, got %s", where, name, kindOf(v))
		}
		return s, nil
	}
	getTime := func(name string) (cecp.Time, error) {
		s, err := get(name)
		if err != nil {
			return cecp.Time{}, err
		}
		t, err := cecp.ParseTime(s)
		if err != nil {
			return cecp.Time{}, failf(action.InvalidInput, "%s.%s: %v", where, name, err)
		}
		return cecp.T(t), nil
	}
	ma := cecp.MailAction{ActionType: actionType, Service: service}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"mailbox", &ma.Mailbox}, {"mail_message_id", &ma.MailMessageID}, {"mail_unique_id", &ma.MailUniqueID}, {"mail_log_id", &ma.MailLogID}} {
		if *f.dst, err = get(f.name); err != nil {
			return ma, err
		}
	}
	if ma.MailMessageDeliveryTime, err = getTime("mail_message_delivery_time"); err != nil {
		return ma, err
	}
	if ma.DetectionTime, err = getTime("detection_time"); err != nil {
		return ma, err
	}
	return ma, nil
}

func (a *Activities) mitigateAccounts(ctx context.Context, c *call) (any, error) {
	var in struct {
		Action   string   `json:"action"`
		Accounts []string `json:"accounts"`
		Wait     bool     `json:"wait"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	m := &mitigation{kind: "accounts", actionType: accountActionTypes[in.Action]}
	seen := map[string]bool{}
	for _, email := range in.Accounts {
		key := strings.ToLower(strings.TrimSpace(email))
		if seen[key] {
			continue
		}
		seen[key] = true
		m.items = append(m.items, mitItem{key: key, account: cecp.AccountAction{ActionType: m.actionType,
			Service: cecp.ServiceExchange, AccountProvider: cecp.ProviderOffice365, AccountUserEmail: strings.TrimSpace(email)}})
	}
	acts := make([]cecp.AccountAction, len(m.items))
	for i, it := range m.items {
		acts[i] = it.account
	}
	if len(acts) > 0 {
		if err := cecp.ValidateAccountActions(acts); err != nil {
			return nil, failf(action.InvalidInput, "checking with.accounts: %v", err)
		}
	}
	return a.mitigate(ctx, c, m, in.Wait)
}

// mitigate posts m in batches of the connection's batch size, never twice, and with wait polls the results
// until every item has an outcome.
func (a *Activities) mitigate(ctx context.Context, c *call, m *mitigation, wait bool) (any, error) {
	if len(m.items) == 0 {
		return mitigationOut{BatchIDs: []string{}, Actions: []actionOut{}}, nil
	}
	v, err := a.vendorFor(c)
	if err != nil {
		return nil, err
	}
	var chunks [][]mitItem
	for items := m.items; len(items) > 0; {
		n := min(len(items), v.client.MaxBatch())
		chunks = append(chunks, items[:n])
		items = items[n:]
	}
	l := ledger{pool: a.deps.Store.Pool}
	ls, err := l.acquire(ctx, c.runID, c.step, c.holder())
	if err != nil {
		return nil, err
	}
	rows, err := a.postChunks(ctx, c, v, m, chunks, l, ls)
	ls.release(ctx)
	if err != nil {
		return nil, err
	}
	out := mitigationOut{BatchIDs: []string{}, Actions: []actionOut{}}
	for i := range chunks {
		for _, id := range rows[i].BatchIDs {
			if !slices.Contains(out.BatchIDs, id) {
				out.BatchIDs = append(out.BatchIDs, id)
			}
		}
	}
	if !wait {
		out.Pending = len(m.items)
		return out, nil
	}
	return a.waitResults(ctx, c, v, m, chunks, rows, out.BatchIDs)
}

func keysOf(items []mitItem) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.key
	}
	return keys
}

// postChunks posts every chunk the ledger does not show as accepted. A chunk that may already be at the vendor
// (an earlier POST got no clear answer) is first looked up among the vendor's recent actions, and only its
// items not found there are posted.
func (a *Activities) postChunks(ctx context.Context, c *call, v *vendor, m *mitigation, chunks [][]mitItem, l ledger, ls *lease) (map[int]chunkRow, error) {
	rows, err := l.load(ctx, c.runID, c.step)
	if err != nil {
		return nil, err
	}
	var recent []cecp.Action
	looked := false
	lookup := func() error {
		if looked {
			return nil
		}
		since := time.Time{}
		for _, r := range rows {
			if r.Uncertain && !r.FirstSentAt.IsZero() && (since.IsZero() || r.FirstSentAt.Before(since)) {
				since = r.FirstSentAt
			}
		}
		if since.IsZero() {
			since = a.now()
		}
		var err error
		recent, err = a.recentActions(ctx, v, m, since)
		looked = err == nil
		return err
	}
	for i, chunk := range chunks {
		keys := keysOf(chunk)
		prev, seen := rows[i]
		if seen && (!slices.Equal(prev.Keys, keys) || prev.ActionType != m.actionType || prev.Kind != m.kind) {
			return nil, failf(action.InvalidInput, "batch %d of step %s was recorded with other %s or another action "+
				"by an earlier attempt; refusing to post what could duplicate it", i+1, c.step, m.kind)
		}
		if seen && prev.State == chunkAccepted {
			if !prev.Audited {
				// The attempt that posted could not write its audit row; write it now.
				if err := a.audit(ctx, c, auditEntry{connection: v.name, operation: m.actionType, targets: len(chunk),
					vendorIDs: prev.BatchIDs, outcome: OutcomeAccepted,
					details: map[string]any{"batch": i + 1, "recorded_late": true}}); err != nil {
					return nil, err
				}
				if err := l.markAudited(ctx, c.runID, c.step, i); err != nil {
					return nil, err
				}
			}
			continue
		}
		if i > 0 {
			if err := ls.renew(ctx); err != nil {
				return nil, err
			}
		}
		row := chunkRow{Chunk: i, Kind: m.kind, Connection: v.name, ActionType: m.actionType, Keys: keys}
		if seen {
			row.Uncertain, row.FirstSentAt, row.Sends = prev.Uncertain, prev.FirstSentAt, prev.Sends
		}
		remaining := chunk
		var found []string
		if row.Uncertain {
			if err := lookup(); err != nil {
				return nil, v.fail("looking up recent actions before posting again", err)
			}
			remaining = nil
			for _, it := range chunk {
				idx := slices.IndexFunc(recent, func(x cecp.Action) bool { return m.matches(it, x) })
				if idx < 0 {
					remaining = append(remaining, it)
					continue
				}
				if b := recent[idx].BatchID; !slices.Contains(found, b) {
					found = append(found, b)
				}
			}
			if n := len(chunk) - len(remaining); n > 0 {
				if err := a.audit(ctx, c, auditEntry{connection: v.name, operation: m.actionType, targets: n,
					vendorIDs: found, outcome: OutcomeDuplicate,
					details: map[string]any{"batch": i + 1, "found": n, "to_post": len(remaining)}}); err != nil {
					return nil, err
				}
			}
			if len(remaining) == 0 {
				row.BatchIDs, row.State = found, chunkAccepted
				if err := l.markAcceptedFound(ctx, c.runID, c.step, row); err != nil {
					return nil, err
				}
				rows[i] = row
				continue
			}
		}
		row.BatchIDs = found
		now := a.now()
		if err := l.markSending(ctx, c.runID, c.step, row, now); err != nil {
			return nil, err
		}
		if row.FirstSentAt.IsZero() {
			row.FirstSentAt = now
		}
		res, err := a.post(ctx, v, m, remaining)
		if err == nil {
			row.BatchIDs = append(row.BatchIDs, res.BatchID)
			row.State, row.Uncertain = chunkAccepted, false
			aerr := a.audit(ctx, c, auditEntry{connection: v.name, operation: m.actionType, targets: len(remaining),
				vendorIDs: []string{res.BatchID, res.TraceID}, outcome: OutcomeAccepted,
				details: map[string]any{"batch": i + 1, "of": len(chunks)}})
			if err := l.markAccepted(ctx, c.runID, c.step, i, row.BatchIDs, aerr == nil); err != nil {
				return nil, err
			}
			if aerr != nil {
				return nil, aerr
			}
			rows[i] = row
			c.logger.Info("batch accepted", "batch", i+1, "of", len(chunks), "items", len(remaining), "batch_id", res.BatchID)
			continue
		}
		doing := fmt.Sprintf("posting batch %d of %d (%d %s, %s)", i+1, len(chunks), len(remaining), m.kind, m.actionType)
		var ce *cecp.Error
		if !errors.As(err, &ce) {
			if merr := l.markNotSent(ctx, c.runID, c.step, i, row.Uncertain); merr != nil {
				c.logger.Error("ledger not updated", "error", merr.Error())
			}
			return nil, v.fail(doing, err)
		}
		entry := auditEntry{connection: v.name, operation: m.actionType, targets: len(remaining), vendorIDs: []string{ce.TraceID},
			details: map[string]any{"batch": i + 1, "of": len(chunks), "error": ce.Error()}}
		if ce.MaybeApplied() {
			// The row stays "sending" and uncertain: the retry looks the items up before posting them again.
			entry.outcome = OutcomeAmbiguous
			a.auditFailure(ctx, c, entry)
			return nil, v.fail(doing, err)
		}
		if merr := l.markNotSent(ctx, c.runID, c.step, i, row.Uncertain); merr != nil {
			c.logger.Error("ledger not updated", "error", merr.Error())
		}
		entry.outcome = OutcomeFailed
		a.auditFailure(ctx, c, entry)
		return nil, v.fail(doing, err)
	}
	return rows, nil
}

func (a *Activities) post(ctx context.Context, v *vendor, m *mitigation, items []mitItem) (cecp.BatchResult, error) {
	if m.kind == "accounts" {
		acts := make([]cecp.AccountAction, len(items))
		for i, it := range items {
			acts[i] = it.account
		}
		return v.client.MitigateAccounts(ctx, acts)
	}
	acts := make([]cecp.MailAction, len(items))
	for i, it := range items {
		acts[i] = it.mail
	}
	return v.client.MitigateMails(ctx, acts)
}

func (a *Activities) resultPages(v *vendor, m *mitigation, q cecp.ActionResultsQuery) *cecp.Pager[cecp.Action] {
	if m.kind == "accounts" {
		return v.client.AccountActionResultPages(q)
	}
	return v.client.MailActionResultPages(q)
}

// window returns a results window from since (less the clock skew allowance) to now, within the vendor's 72 h.
func (a *Activities) window(since time.Time) (time.Time, time.Time) {
	end := a.now().UTC().Truncate(time.Second).Add(time.Second)
	start := since.Add(-lookupSkew).UTC().Truncate(time.Second)
	if end.Sub(start) > cecp.ActionResultsWindow {
		start = end.Add(-cecp.ActionResultsWindow)
	}
	if !start.Before(end) {
		start = end.Add(-lookupSkew)
	}
	return start, end
}

// recentActions reads the vendor's actions of m's type requested since the first POST of an uncertain chunk.
func (a *Activities) recentActions(ctx context.Context, v *vendor, m *mitigation, since time.Time) ([]cecp.Action, error) {
	start, end := a.window(since)
	acts, err := a.resultPages(v, m, cecp.ActionResultsQuery{Start: start, End: end, MaxResults: lookupMax}).Collect(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(acts, func(x cecp.Action) bool { return x.ActionType != m.actionType }), nil
}

// pollProgress is heartbeated while waiting, so that a retried attempt continues the backoff.
type pollProgress struct {
	Polls int           `json:"polls"`
	Delay time.Duration `json:"delay"`
}

// waitResults polls the action results until every item has an outcome.
func (a *Activities) waitResults(ctx context.Context, c *call, v *vendor, m *mitigation, chunks [][]mitItem,
	rows map[int]chunkRow, batchIDs []string) (any, error) {
	var prog pollProgress
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &prog)
	}
	delay := prog.Delay
	if delay < a.deps.PollInterval || delay > a.deps.MaxPollInterval {
		delay = a.deps.PollInterval
	}
	since := time.Time{}
	for _, r := range rows {
		if !r.FirstSentAt.IsZero() && (since.IsZero() || r.FirstSentAt.Before(since)) {
			since = r.FirstSentAt
		}
	}
	failures, missing := 0, 0
	for {
		acts, err := a.fetchResults(ctx, v, m, batchIDs, since)
		if err != nil {
			err = v.fail(fmt.Sprintf("polling the results of %d batch(es)", len(batchIDs)), err)
			f := classify(err)
			retryable := f.typ == action.VendorRateLimited || f.typ == action.VendorUnavailable
			wait := max(delay, f.delay)
			if !retryable || failures >= maxPollFailures || wait > max(2*a.deps.MaxPollInterval, v.window) || ctx.Err() != nil {
				return nil, err
			}
			failures++
			c.logger.Info("result poll failed; polling again", "in", wait.String(), "error", f.msg)
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		failures = 0
		out, listedDone := summarize(m, chunks, rows, acts)
		out.BatchIDs = batchIDs
		prog.Polls++
		if out.Pending == 0 {
			return out, nil
		}
		if listedDone {
			if missing++; missing >= missingPolls {
				return nil, failf(action.VendorRejected, "the vendor lists no action for %d of the %s after every listed "+
					"action finished (%d polls; batches %s)", out.Pending, m.kind, prog.Polls, strings.Join(batchIDs, ", "))
			}
		} else {
			missing = 0
		}
		prog.Delay = min(delay*2, a.deps.MaxPollInterval)
		activity.RecordHeartbeat(ctx, prog)
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
		delay = prog.Delay
	}
}

// fetchResults reads the actions of the batches: by batch id for one or two, else one time window (fewer
// requests against the quota for many batches).
func (a *Activities) fetchResults(ctx context.Context, v *vendor, m *mitigation, batchIDs []string, since time.Time) ([]cecp.Action, error) {
	if len(batchIDs) <= 2 {
		var all []cecp.Action
		for _, id := range batchIDs {
			acts, err := a.resultPages(v, m, cecp.ActionResultsQuery{BatchID: id, MaxResults: lookupMax}).Collect(ctx)
			if err != nil {
				return nil, err
			}
			all = append(all, acts...)
		}
		return all, nil
	}
	start, end := a.window(since)
	acts, err := a.resultPages(v, m, cecp.ActionResultsQuery{Start: start, End: end, MaxResults: lookupMax}).Collect(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(acts, func(x cecp.Action) bool { return !slices.Contains(batchIDs, x.BatchID) }), nil
}

// summarize matches every item to its action in its chunk's batches. listedDone reports that every action found
// is terminal (so items still without one are missing, not slow).
func summarize(m *mitigation, chunks [][]mitItem, rows map[int]chunkRow, acts []cecp.Action) (mitigationOut, bool) {
	out := mitigationOut{Actions: []actionOut{}}
	listedDone := true
	for i, chunk := range chunks {
		batches := rows[i].BatchIDs
		for _, it := range chunk {
			var best *cecp.Action
			for j := range acts {
				x := &acts[j]
				if !slices.Contains(batches, x.BatchID) || !m.matches(it, *x) {
					continue
				}
				if best == nil || !best.Status.Terminal() && x.Status.Terminal() {
					best = x
				}
			}
			switch {
			case best == nil:
				out.Pending++
				continue
			case !best.Status.Terminal():
				out.Pending++
				listedDone = false
				continue
			case best.Status == cecp.StatusSuccess:
				out.Succeeded++
			case best.Status == cecp.StatusSkipped:
				out.Skipped++
			default:
				out.Failed++
			}
			out.Actions = append(out.Actions, actionResult(*best))
		}
	}
	return out, listedDone
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
