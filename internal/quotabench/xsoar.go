package quotabench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/quota"
)

// XSOAR contains a scenario the way the public integrations do (Cortex XSOAR's "Take Action On Emails", Google
// SecOps): a sweep for the campaign, then one POST per mail, then one result query per mail, every window,
// until each has an outcome. It is given a limiter, so it never draws a 429: what it spends is requests and
// windows, not errors.
func XSOAR(ctx context.Context, o Options, t *Target, sc Scenario) error {
	lim, err := quota.NewMemory(quota.Options{Default: quota.Limit{Requests: o.Requests, Window: o.ScaledWindow(),
		Margin: o.ScaledWindow() / 60}})
	if err != nil {
		return err
	}
	client, err := cecp.New(cecp.Options{BaseURL: t.URL, Token: cecp.StaticToken(Token), Limiter: lim, QuotaKey: "xsoar",
		WaitForQuota: true})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if sc.Campaign > 0 {
		wg.Go(func() {
			q := cecp.SweepQuery{Sender: CampaignSender, LastNDays: 1, Limit: 1000, MaxResults: 1000}
			mails, err := client.SweepPages(q).Collect(ctx)
			if err != nil {
				errs <- fmt.Errorf("xsoar sweep: %w", err)
				return
			}
			acts := make([]cecp.MailAction, len(mails))
			for i, m := range mails {
				acts[i] = cecp.MailAction{ActionType: cecp.MailQuarantine, Service: cecp.ServiceExchange, Mailbox: m.Mailbox,
					MailUniqueID: m.MailUniqueID, MailMessageID: m.MailMessageID}
			}
			if err := onePerMail(ctx, o, client, acts); err != nil {
				errs <- err
			}
		})
	}
	if sc.Singles > 0 {
		wg.Go(func() {
			acts := make([]cecp.MailAction, len(t.Singles))
			for i, m := range t.Singles {
				acts[i] = cecp.MailAction{ActionType: cecp.MailQuarantine, Service: cecp.ServiceExchange, Mailbox: m.Mailbox,
					MailUniqueID: m.MailUniqueID, MailMessageID: m.MailMessageID}
			}
			if err := onePerMail(ctx, o, client, acts); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// onePerMail posts each mail alone, then polls each batch every window until it is done.
func onePerMail(ctx context.Context, o Options, client *cecp.Client, acts []cecp.MailAction) error {
	pending := map[string]bool{}
	for _, a := range acts {
		res, err := client.MitigateMails(ctx, []cecp.MailAction{a})
		if err != nil {
			return fmt.Errorf("xsoar post: %w", err)
		}
		pending[res.BatchID] = true
	}
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.ScaledWindow()):
		}
		for id := range pending {
			got, err := client.MailActionResultPages(cecp.ActionResultsQuery{BatchID: id}).Collect(ctx)
			if err != nil {
				return fmt.Errorf("xsoar poll: %w", err)
			}
			if len(got) > 0 && got[0].Status.Terminal() {
				delete(pending, id)
			}
		}
	}
	return nil
}
