package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
	broker "github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/quota"
)

// lookupSkew widens a lookup window before the first POST: the vendor's clock may lag parry's.
const lookupSkew = 5 * time.Minute

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

// mitigate hands the step's items to the mitigation broker, which batches them with every other run's items on
// the same connection, posts them once (the ledger settles an ambiguous POST before anything is sent again)
// and polls the outcomes; the step gets its own items' outcomes. The queue in PostgreSQL keeps the progress:
// `run show` reads what the step waits for from there, and a retried attempt finds its items again.
func (a *Activities) mitigate(ctx context.Context, c *call, m *mitigation, wait bool) (any, error) {
	if len(m.items) == 0 {
		return mitigationOut{BatchIDs: []string{}, Actions: []actionOut{}}, nil
	}
	v, err := a.vendorFor(c)
	if err != nil {
		return nil, err
	}
	req := broker.Request{RunID: c.runID, Step: c.step, Attempt: c.attempt, Action: c.spec.Name, Kind: m.kind,
		ActionType: m.actionType, Priority: quota.ClassFrom(ctx), Wait: wait}
	for _, it := range m.items {
		bi := broker.Item{Key: it.key}
		if m.kind == broker.Accounts {
			acct := it.account
			bi.Account = &acct
		} else {
			mail := it.mail
			bi.Mail = &mail
		}
		req.Items = append(req.Items, bi)
	}
	conn := broker.Connection{Name: v.name, Vendor: v.client, BatchSize: v.client.MaxBatch(), Linger: v.linger, Window: v.window}
	// What the step waits for is read from the queue (run show); the keep-alive heartbeats carry it too.
	res, err := a.broker.Mitigate(ctx, conn, req, func(p broker.Progress) { c.setProgress(p) })
	if err != nil {
		var be *broker.Error
		if errors.As(err, &be) {
			return nil, &failure{typ: be.Type, msg: fmt.Sprintf("%s on connection %q: %s", c.spec.Name, v.name, be.Msg)}
		}
		return nil, err
	}
	out := mitigationOut{BatchIDs: res.BatchIDs, Succeeded: res.Succeeded, Skipped: res.Skipped, Failed: res.Failed,
		Pending: res.Pending, Actions: make([]actionOut, 0, len(res.Actions))}
	for _, x := range res.Actions {
		out.Actions = append(out.Actions, actionResult(x))
	}
	return out, nil
}
