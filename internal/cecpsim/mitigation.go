package cecpsim

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/suggest"
)

// manualFilter marks quarantine events created by a MAIL_QUARANTINE action rather than by a detection.
const manualFilter = "Manual Quarantine"

// Action statuses and outcome codes.
const (
	statusCreated   = "Created"
	statusExecuting = "Executing"
	statusSuccess   = "Success"
	statusSkipped   = "Skipped"
	statusFailed    = "Failed"

	codeSkipped = 200
	codeFailed  = -999
)

var (
	mailActionTypes    = []string{"MAIL_DELETE", "MAIL_QUARANTINE", "MAIL_RESTORE"}
	accountActionTypes = []string{"ACCOUNT_DISABLE", "ACCOUNT_ENABLE_MFA", "ACCOUNT_RESET_PASSWORD", "ACCOUNT_REVOKE_SIGNIN_SESSIONS"}
)

// action is one item of a mitigation batch.
type action struct {
	id, batchID   string
	seq           int  // position in the tenant's actions: request order, and item order within a batch
	account       bool // an account action (else a mail action)
	actionType    string
	service       string
	provider      string
	mailbox       string
	messageID     string
	uniqueID      string
	accountEmail  string
	detectionTime time.Time
	logID         string
	requested     time.Time
	due           time.Time
	skew          time.Duration // executed-at is reported this much early: the vendor's clocks disagree
	fail          bool          // drawn at creation, so the outcome does not depend on when it is looked at
	status        string        // "" until the outcome
	executed      time.Time
	errorCode     int
	errorMessage  string
}

// statusAt is the action's status as seen at now.
func (a *action) statusAt(now time.Time, delay time.Duration) string {
	switch {
	case a.status != "":
		return a.status
	case now.Before(a.requested.Add(delay / 3)):
		return statusCreated
	}
	return statusExecuting
}

func (a *action) item(now time.Time, delay time.Duration) actionItem {
	it := actionItem{ActionID: a.id, BatchID: a.batchID, ActionType: a.actionType, Service: a.service,
		AccountProvider: a.provider, AccountUserEmail: a.accountEmail, Mailbox: a.mailbox,
		MailMessageID: a.messageID, MailUniqueID: a.uniqueID, Status: a.statusAt(now, delay),
		ActionRequestedAt: fmtTime(a.requested)}
	if a.status != "" {
		at, code, msg := fmtTime(a.executed), a.errorCode, a.errorMessage
		it.ActionExecutedAt, it.ErrorCode, it.ErrorMessage = &at, &code, &msg
	}
	return it
}

// advance carries out every action due by now, in order.
func (t *tenant) advance(now time.Time) {
	for t.nextPending < len(t.actions) && !t.actions[t.nextPending].due.After(now) {
		t.execute(t.actions[t.nextPending])
		t.nextPending++
		t.markDirty()
	}
}

func (t *tenant) execute(a *action) {
	a.executed = a.due.Add(-a.skew)
	outcome := func(status string, code int, msg string) {
		a.status, a.errorCode, a.errorMessage = status, code, msg
	}
	rec := Applied{Tenant: t.name, BatchID: a.batchID, ActionID: a.id, ActionType: a.actionType, Mailbox: a.mailbox,
		MailUniqueID: a.uniqueID, AccountEmail: a.accountEmail, At: a.due}
	defer func() {
		rec.Status = a.status
		t.applied = append(t.applied, rec)
	}()
	if a.fail {
		outcome(statusFailed, codeFailed, "Failed to execute the action")
		return
	}
	if a.account {
		acc, ok := t.accounts[strings.ToLower(a.accountEmail)]
		if !ok {
			outcome(statusSkipped, codeSkipped, "ResourceNotFound")
			return
		}
		if a.actionType == "ACCOUNT_DISABLE" {
			acc.disabled = true
		}
		outcome(statusSuccess, 0, "")
		return
	}
	m := t.findMail(a)
	if m == nil || a.service != "exchange" {
		outcome(statusSkipped, codeSkipped, "ResourceNotFound")
		return
	}
	rec.MailUniqueID = m.uniqueID
	switch a.actionType {
	case "MAIL_DELETE":
		if m.state == StateDeleted {
			outcome(statusSkipped, codeSkipped, "ResourceNotFound")
			return
		}
		m.state = StateDeleted
	case "MAIL_QUARANTINE":
		if m.state != StateDelivered {
			outcome(statusSkipped, codeSkipped, "ResourceNotFound")
			return
		}
		t.quarantine(m, a.due, "Manual", manualFilter, "")
	case "MAIL_RESTORE":
		if m.state != StateQuarantined {
			outcome(statusSkipped, codeSkipped, "ResourceNotFound")
			return
		}
		q := m.quarantine
		if q.logID != a.logID || !q.detection.Equal(a.detectionTime.Truncate(time.Millisecond)) {
			outcome(statusFailed, codeFailed, "The mail_log_id and detection_time do not match the quarantined mail")
			return
		}
		m.state = StateDelivered
	}
	outcome(statusSuccess, 0, "")
}

// findMail finds an action's mail: by unique id (the mailbox and message id must agree when given), else by
// message id within the mailbox.
func (t *tenant) findMail(a *action) *mail {
	if a.uniqueID != "" {
		m := t.byUID[a.uniqueID]
		if m == nil || !strings.EqualFold(m.mailbox, a.mailbox) || a.messageID != "" && m.messageID != a.messageID {
			return nil
		}
		return m
	}
	for _, m := range t.mails {
		if m.messageID == a.messageID && strings.EqualFold(m.mailbox, a.mailbox) {
			return m
		}
	}
	return nil
}

// newBatch stores items as one batch received at now, and runs them at once when there is no delay. Like the
// vendor's log, the items of a batch are not requested at one instant: each is a few milliseconds after the one
// before, the last at now (never later, so a query whose window ends when the POST was answered finds them all).
func (t *tenant) newBatch(now time.Time, items []*action) string {
	batch := t.uuid()
	delay := t.s.actionDelay
	steps := make([]time.Duration, len(items))
	for i := len(items) - 2; i >= 0; i-- {
		steps[i] = steps[i+1] + time.Duration(2+t.rng.IntN(14))*time.Millisecond
	}
	for i, a := range items {
		at := now.Add(-steps[i])
		a.id, a.batchID, a.requested, a.due = t.uuid(), batch, at.Truncate(time.Millisecond), at.Add(delay)
		a.skew = time.Duration(t.rng.IntN(1500)) * time.Millisecond
		a.fail = t.rng.Float64() < t.s.opts.ActionFailRate
		a.seq = len(t.actions)
		t.actions = append(t.actions, a)
		t.actionByID[a.id] = a
	}
	t.batches[batch] = items
	t.markDirty()
	t.advance(now)
	return batch
}

func check(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func enumErr(field, v string, allowed []string) error {
	if v == "" {
		return fmt.Errorf("%s is required (one of %s)", field, strings.Join(allowed, ", "))
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s %q is not one of %s%s", field, v, strings.Join(allowed, ", "), suggest.Hint(v, allowed))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// mitigateMails serves POST /v1/mitigation/mails.
func (s *Server) mitigateMails(t *tenant, r *http.Request, now time.Time) *response {
	var reqs []mailActionRequest
	if err := readJSON(r, &reqs); err != nil {
		return s.badRequest("%v (the body is a JSON array of mail actions)", err)
	}
	if err := s.checkBatchSize(len(reqs)); err != nil {
		return s.badRequest("%v", err)
	}
	items := make([]*action, 0, len(reqs))
	for i, q := range reqs {
		a, err := parseMailAction(q)
		if err != nil {
			return s.badRequest("item %d: %v", i+1, err)
		}
		items = append(items, a)
	}
	batch := t.newBatch(now, items)
	return s.json(http.StatusCreated, batchCreated{BatchID: batch, TraceID: s.traceID()})
}

func parseMailAction(q mailActionRequest) (*action, error) {
	err := firstErr(
		enumErr("action_type", q.ActionType, mailActionTypes),
		enumErr("service", q.Service, []string{"exchange", "gmail"}),
		check(q.Service != "exchange" || q.AccountProvider == "office365", "account_provider %q must be office365 with service exchange", q.AccountProvider),
		check(q.Service != "gmail" || q.AccountProvider == "google", "account_provider %q must be google with service gmail", q.AccountProvider),
		check(q.Service != "gmail" || q.ActionType == "MAIL_DELETE", "Gmail supports only MAIL_DELETE, not %s", q.ActionType),
		check(strings.TrimSpace(q.Mailbox) != "", "mailbox is required"),
		check(q.MailMessageID != "" || q.MailUniqueID != "", "mail_message_id or mail_unique_id is required"),
		check(q.ActionType != "MAIL_RESTORE" || q.DetectionTime != "" && q.MailLogID != "", "MAIL_RESTORE needs detection_time and mail_log_id from the quarantine event"),
	)
	if err != nil {
		return nil, err
	}
	a := &action{actionType: q.ActionType, service: q.Service, provider: q.AccountProvider, mailbox: q.Mailbox,
		messageID: q.MailMessageID, uniqueID: q.MailUniqueID, accountEmail: q.Mailbox, logID: q.MailLogID}
	for _, ts := range []struct{ name, v string }{{"mail_message_delivery_time", q.MailMessageDeliveryTime}, {"detection_time", q.DetectionTime}} {
		if ts.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, ts.v)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an ISO-8601 time like 2026-01-02T03:04:05.000Z", ts.name, clip(ts.v))
		}
		if ts.name == "detection_time" {
			a.detectionTime = v
		}
	}
	return a, nil
}

func (s *Server) checkBatchSize(n int) error {
	if n == 0 {
		return fmt.Errorf("the batch is empty")
	}
	if n > s.opts.MaxBatchItems {
		return fmt.Errorf("the batch has %d items; at most %d are accepted", n, s.opts.MaxBatchItems)
	}
	return nil
}

// mitigateAccounts serves POST /v1/mitigation/accounts.
func (s *Server) mitigateAccounts(t *tenant, r *http.Request, now time.Time) *response {
	var reqs []accountActionRequest
	if err := readJSON(r, &reqs); err != nil {
		return s.badRequest("%v (the body is a JSON array of account actions)", err)
	}
	if err := s.checkBatchSize(len(reqs)); err != nil {
		return s.badRequest("%v", err)
	}
	items := make([]*action, 0, len(reqs))
	for i, q := range reqs {
		err := firstErr(
			enumErr("action_type", q.ActionType, accountActionTypes),
			check(q.Service == "exchange", "service %q must be exchange (Google accounts are not supported)", q.Service),
			check(q.AccountProvider == "office365", "account_provider %q must be office365", q.AccountProvider),
			check(strings.Contains(q.AccountUserEmail, "@"), "account_user_email %q is not an email address", q.AccountUserEmail),
		)
		if err != nil {
			return s.badRequest("item %d: %v", i+1, err)
		}
		items = append(items, &action{account: true, actionType: q.ActionType, service: q.Service,
			provider: q.AccountProvider, accountEmail: q.AccountUserEmail})
	}
	batch := t.newBatch(now, items)
	return s.json(http.StatusCreated, batchCreated{BatchID: batch, TraceID: s.traceID()})
}

func (s *Server) mailActionResults(t *tenant, r *http.Request, now time.Time) *response {
	return s.actionResults(t, r, now, false)
}

func (s *Server) accountActionResults(t *tenant, r *http.Request, now time.Time) *response {
	return s.actionResults(t, r, now, true)
}

// Action results reach back 72 hours; a window defaults to 5 minutes, as the vendor's log endpoints do (the
// last 5 minutes, the 5 after a start alone, the 5 before an end alone).
const (
	actionsReach         = 72 * time.Hour
	actionsDefaultWindow = 5 * time.Minute
)

// actionResults serves GET /v1/mitigation/mails and /accounts: one batch, or the actions requested in a window.
func (s *Server) actionResults(t *tenant, r *http.Request, now time.Time, accounts bool) *response {
	p, err := readParams(r, "batch_id", "start", "end", "limit", "skiptoken")
	if err != nil {
		return s.badRequest("%v", err)
	}
	limit, err := p.limit(eventsMaxLimit, eventsMaxLimit)
	if err != nil {
		return s.badRequest("%v", err)
	}
	var candidates []*action
	if b := p.get("batch_id"); b != "" {
		candidates = t.batches[b]
	} else {
		candidates = t.actions
	}
	hasWindow := !p.has("batch_id") || p.has("start") || p.has("end")
	var start, end time.Time
	if hasWindow {
		if start, end, err = eventWindow(p, now, actionsDefaultWindow, actionsReach, "72 hours"); err != nil {
			return s.badRequest("%v", err)
		}
	}
	// Actions come in request order (item order within a batch); the token names the last one returned.
	fromSeq := 0
	if tok := p.get("skiptoken"); tok != "" {
		_, id, err := decodeSkip(tok)
		if err != nil {
			return s.badRequest("%v", err)
		}
		a, ok := t.actionByID[id]
		if !ok {
			return s.badRequest("parameter skiptoken=%q is not a token from a next_link", clip(tok))
		}
		fromSeq = a.seq + 1
	}
	var sel []*action
	for _, a := range candidates {
		if a.seq < fromSeq || a.account != accounts || hasWindow && (a.requested.Before(start) || a.requested.After(end)) {
			continue
		}
		sel = append(sel, a)
	}
	resp := actionsResponse{CurrentLink: currentLink(r), TraceID: s.traceID(), Actions: []actionItem{}}
	if len(sel) > limit {
		last := sel[limit-1]
		next := nextLink(r, encodeSkip(last.requested.UnixMilli(), last.id))
		resp.NextLink = &next
		sel = sel[:limit]
	}
	for _, a := range sel {
		resp.Actions = append(resp.Actions, a.item(now, s.actionDelay))
	}
	resp.Count = len(resp.Actions)
	return s.json(http.StatusOK, resp)
}
