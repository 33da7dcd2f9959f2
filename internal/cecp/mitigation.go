package cecp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits of the action-result endpoints.
const (
	MaxActionResultsLimit = 500
	ActionResultsWindow   = 72 * time.Hour
)

// MailActionTypes are the mail mitigation actions.
func MailActionTypes() []string { return []string{MailDelete, MailQuarantine, MailRestore} }

// AccountActionTypes are the account mitigation actions.
func AccountActionTypes() []string {
	return []string{AccountDisable, AccountEnableMFA, AccountResetPassword, AccountRevokeSigninSessions}
}

// MailActionFromSweep builds the action on a swept mail.
func MailActionFromSweep(actionType, service string, m SweepMail) MailAction {
	return MailAction{ActionType: actionType, Service: service, Mailbox: m.Mailbox, MailMessageID: m.MailMessageID,
		MailUniqueID: m.MailUniqueID, MailMessageDeliveryTime: m.MailMessageDeliveryTime}
}

// MailActionFromQuarantine builds the action on the mail of a quarantine event (Exchange Online), with the
// detection time and log id that MAIL_RESTORE needs.
func MailActionFromQuarantine(actionType string, ev QuarantineEvent) MailAction {
	m := ev.Message
	return MailAction{ActionType: actionType, Service: ServiceExchange, Mailbox: m.Mailbox, MailMessageID: m.MailMessageID,
		MailUniqueID: m.MailUniqueID, MailMessageDeliveryTime: m.MailMessageDeliveryTime, DetectionTime: m.DetectionTime,
		MailLogID: m.MailLogID}
}

func providerFor(service string) string {
	switch service {
	case ServiceExchange:
		return ProviderOffice365
	case ServiceGmail:
		return ProviderGoogle
	}
	return ""
}

// ValidateMailActions checks mail actions as MitigateMails does, except the batch size, without sending them:
// a caller splitting many mails into batches can refuse them all before posting the first batch.
func ValidateMailActions(actions []MailAction) error {
	_, err := prepareMailActions(actions, 0)
	return err
}

// ValidateAccountActions checks account actions as MitigateAccounts does, except the batch size.
func ValidateAccountActions(actions []AccountAction) error {
	_, err := prepareAccountActions(actions, 0)
	return err
}

// prepareMailActions fills account_provider from the service and checks every rule of the vendor's page, and
// the batch size when maxBatch > 0.
func prepareMailActions(actions []MailAction, maxBatch int) ([]MailAction, error) {
	p := problems{op: "mail mitigation batch"}
	if len(actions) == 0 {
		p.add("no mails")
	}
	if maxBatch > 0 && len(actions) > maxBatch {
		p.add("%d mails is more than the batch size of %d (split the mails into batches)", len(actions), maxBatch)
	}
	out := make([]MailAction, len(actions))
	for i, a := range actions {
		at := fmt.Sprintf("mail %d", i+1)
		if a.AccountProvider == "" {
			a.AccountProvider = providerFor(a.Service)
		}
		var sub problems
		sub.oneOf("action_type", a.ActionType, MailActionTypes())
		sub.oneOf("service", a.Service, []string{ServiceExchange, ServiceGmail})
		if want := providerFor(a.Service); want != "" && a.AccountProvider != want {
			sub.add("account_provider %q does not go with service %s (use %s)", a.AccountProvider, a.Service, want)
		}
		if a.Mailbox == "" {
			sub.add("mailbox is required")
		}
		if a.MailMessageID == "" && a.MailUniqueID == "" {
			sub.add("mail_message_id or mail_unique_id is required (both are recommended)")
		}
		if a.Service == ServiceGmail && a.ActionType != MailDelete && a.ActionType != "" {
			sub.add("gmail allows only %s, not %s", MailDelete, a.ActionType)
		}
		if a.ActionType == MailRestore {
			if a.DetectionTime.IsZero() || a.MailLogID == "" {
				sub.add("%s needs detection_time and mail_log_id (from a quarantine event)", MailRestore)
			}
		}
		sub.text("mailbox", a.Mailbox)
		sub.text("mail_message_id", a.MailMessageID)
		sub.text("mail_unique_id", a.MailUniqueID)
		sub.text("mail_log_id", a.MailLogID)
		for _, s := range sub.list {
			p.add("%s: %s", at, s)
		}
		out[i] = a
	}
	return out, p.err()
}

// MitigateMails posts one batch of mail actions (at most the connection's batch size) and returns its batch
// id; the vendor applies it asynchronously (see MailActionResults). On an *Error with MaybeApplied, look up
// recent actions for the same mails before posting again.
func (c *Client) MitigateMails(ctx context.Context, actions []MailAction) (BatchResult, error) {
	actions, err := prepareMailActions(actions, c.opts.MaxBatch)
	if err != nil {
		return BatchResult{}, err
	}
	return c.postBatch(ctx, "/v1/mitigation/mails", actions)
}

func prepareAccountActions(actions []AccountAction, maxBatch int) ([]AccountAction, error) {
	p := problems{op: "account mitigation batch"}
	if len(actions) == 0 {
		p.add("no accounts")
	}
	if maxBatch > 0 && len(actions) > maxBatch {
		p.add("%d accounts is more than the batch size of %d (split the accounts into batches)", len(actions), maxBatch)
	}
	out := make([]AccountAction, len(actions))
	for i, a := range actions {
		if a.Service == "" {
			a.Service = ServiceExchange
		}
		if a.AccountProvider == "" {
			a.AccountProvider = ProviderOffice365
		}
		var sub problems
		sub.oneOf("action_type", a.ActionType, AccountActionTypes())
		if a.Service != ServiceExchange || a.AccountProvider != ProviderOffice365 {
			sub.add("only exchange/office365 accounts can be mitigated, not %s/%s", a.Service, a.AccountProvider)
		}
		if at := strings.LastIndexByte(a.AccountUserEmail, '@'); at <= 0 || at == len(a.AccountUserEmail)-1 ||
			strings.ContainsAny(a.AccountUserEmail, " \t\r\n,;<>") {
			sub.add("account_user_email %q is not an email address", truncate(a.AccountUserEmail, 80))
		}
		for _, s := range sub.list {
			p.add("account %d: %s", i+1, s)
		}
		out[i] = a
	}
	return out, p.err()
}

// MitigateAccounts posts one batch of account actions (Office 365 only) and returns its batch id.
func (c *Client) MitigateAccounts(ctx context.Context, actions []AccountAction) (BatchResult, error) {
	actions, err := prepareAccountActions(actions, c.opts.MaxBatch)
	if err != nil {
		return BatchResult{}, err
	}
	return c.postBatch(ctx, "/v1/mitigation/accounts", actions)
}

type batchBody struct {
	envelope
	BatchID string `json:"batch_id"`
}

func (c *Client) postBatch(ctx context.Context, path string, items any) (BatchResult, error) {
	body, err := json.Marshal(items)
	if err != nil {
		return BatchResult{}, fmt.Errorf("encoding mitigation batch: %w", err)
	}
	var out batchBody
	r := &request{method: http.MethodPost, path: path, body: body, max: maxSmallBodyBytes}
	err = c.exchange(ctx, r, func(r *request, resp *response) error {
		if err := decodeJSON(&out)(r, resp); err != nil {
			return err
		}
		if out.BatchID == "" {
			return decodeError(r, resp, errors.New("the answer has no batch_id"))
		}
		return nil
	})
	if err != nil {
		return BatchResult{}, err
	}
	return BatchResult{BatchID: out.BatchID, TraceID: out.TraceID}, nil
}

// ActionResultsQuery selects mitigation actions by batch id, or by a time window within the last 72 hours.
// Without Start and End the vendor answers the last 5 minutes; with only Start, the 5 minutes after it; with
// only End, the 5 minutes before it (a batch id alone selects the whole batch).
type ActionResultsQuery struct {
	BatchID string
	Start   time.Time
	End     time.Time
	// Limit is the page size (at most 500); by default the largest page MaxResults can use.
	Limit int
	// MaxResults bounds the items read across pages; DefaultMaxResults when 0.
	MaxResults int
	// Cursor continues an earlier read (its pager's Cursor); the batch id, when given, must be its own.
	Cursor string
}

func (q ActionResultsQuery) validate(what string, now time.Time) error {
	p := problems{op: what + " action results query"}
	if !q.Start.IsZero() && !q.End.IsZero() && q.Start.Before(q.End) && q.End.Sub(q.Start) > ActionResultsWindow {
		p.add("start and end are %s apart; the vendor allows at most 72h", q.End.Sub(q.Start))
	}
	p.window(q.Start, q.End, now, ActionResultsWindow, "72 hours of action results")
	p.limit(q.Limit, MaxActionResultsLimit)
	p.text("batch_id", q.BatchID)
	return p.err()
}

func (c *Client) actionPages(path, what string, q ActionResultsQuery) *Pager[Action] {
	max := maxResults(q.MaxResults)
	v := url.Values{}
	setString(v, "batch_id", q.BatchID)
	setTime(v, "start", q.Start)
	setTime(v, "end", q.End)
	setInt(v, "limit", pageLimit(q.Limit, max, MaxActionResultsLimit))
	if q.Cursor != "" {
		return resume[Action](c, keyActions, path, q.Cursor, v, []string{"batch_id"}, max, q.validate(what, c.now()))
	}
	r := &request{method: http.MethodGet, path: path, query: v, max: c.opts.MaxPageBytes}
	return newPager[Action](c, keyActions, r, max, q.validate(what, c.now()))
}

// MailActionResultPages returns a pager over GET /v1/mitigation/mails.
func (c *Client) MailActionResultPages(q ActionResultsQuery) *Pager[Action] {
	return c.actionPages("/v1/mitigation/mails", "mail", q)
}

// MailActionResults yields the mail actions of q across pages.
func (c *Client) MailActionResults(ctx context.Context, q ActionResultsQuery) iter.Seq2[Action, error] {
	return c.MailActionResultPages(q).All(ctx)
}

// AccountActionResultPages returns a pager over GET /v1/mitigation/accounts.
func (c *Client) AccountActionResultPages(q ActionResultsQuery) *Pager[Action] {
	return c.actionPages("/v1/mitigation/accounts", "account", q)
}

// AccountActionResults yields the account actions of q across pages.
func (c *Client) AccountActionResults(ctx context.Context, q ActionResultsQuery) iter.Seq2[Action, error] {
	return c.AccountActionResultPages(q).All(ctx)
}
