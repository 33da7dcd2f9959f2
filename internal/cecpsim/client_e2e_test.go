package cecpsim_test

// These tests drive the simulator with the real client (internal/cecp), so the two independent readings of the
// vendor's API are checked against each other end to end.

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/eml"
	"github.com/parry-soar/parry/internal/mailzip"
)

var epoch = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T, opts cecpsim.Options) (*cecpsim.Server, *cecp.Client, *clock) {
	t.Helper()
	clk := &clock{t: epoch}
	opts.Now = clk.Now
	sim, err := cecpsim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	c, err := cecp.New(cecp.Options{BaseURL: srv.URL, Token: cecp.StaticToken(cecpsim.DefaultToken), Now: clk.Now, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c, clk
}

func collect[T any](t *testing.T, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestClientAgainstSimulator(t *testing.T) {
	t.Parallel()
	sim, c, clk := setup(t, cecpsim.Options{Seed: 71, Mailboxes: 40, RateLimit: cecpsim.NoRateLimit, ActionDelay: 30 * time.Second})
	ctx := context.Background()

	// A detection: quarantine and security events agree, and the quarantined mail downloads and parses.
	qevents := collect(t, c.QuarantineEvents(ctx, cecp.QuarantineEventsQuery{Start: epoch.Add(-7*24*time.Hour + time.Minute), End: epoch, Limit: 5}))
	if len(qevents) < 5 {
		t.Fatalf("%d quarantine events", len(qevents))
	}
	var sevents []cecp.SecurityEvent
	for _, kind := range cecp.SecurityEventTypes() {
		sevents = append(sevents, collect(t, c.SecurityEvents(ctx, cecp.SecurityEventsQuery{Service: "exchange", Event: kind,
			Start: epoch.Add(-72*time.Hour + time.Minute), End: epoch, Limit: 2}))...)
	}
	if len(sevents) == 0 {
		t.Fatal("no security events")
	}
	ev := qevents[len(qevents)-1]
	zip, err := c.DownloadQuarantinedMail(ctx, ev, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := mailzip.ReadMessage(zip, "s3cret", mailzip.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := eml.Parse(raw, eml.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.MessageID != ev.Message.MailMessageID || msg.Subject != ev.Message.MailMessageSubject {
		t.Fatalf("downloaded %q %q, event %q %q", msg.MessageID, msg.Subject, ev.Message.MailMessageID, ev.Message.MailMessageSubject)
	}

	// The campaign behind it: sweep by sender and subject, every page.
	swept := collect(t, c.Sweep(ctx, cecp.SweepQuery{Sender: ev.Message.MailMessageSender, Subject: `"` + ev.Message.MailMessageSubject + `"`, LastNDays: 10, Limit: 3}))
	if len(swept) < 2 {
		t.Fatalf("campaign sweep found %d mails", len(swept))
	}
	found := false
	var hashes []string
	for _, m := range swept {
		found = found || m.MailUniqueID == ev.Message.MailUniqueID
		for _, a := range m.MailAttachments {
			hashes = append(hashes, a.FileSHA256)
		}
	}
	if !found {
		t.Fatal("the sweep misses the quarantined mail")
	}
	for _, a := range msg.Attachments {
		if !slices.Contains(hashes, a.SHA256) {
			t.Fatalf("downloaded attachment %s not in the sweep's hashes", a.FileName)
		}
	}

	// Quarantine the rest of the campaign in batches, then wait for the outcome.
	st, _ := sim.State("")
	state := map[string]string{}
	for _, m := range st.Mails {
		state[m.MailUniqueID] = m.State
	}
	var actions []cecp.MailAction
	for _, m := range swept {
		actions = append(actions, cecp.MailAction{ActionType: cecp.MailQuarantine, Service: cecp.ServiceExchange,
			AccountProvider: cecp.ProviderOffice365, Mailbox: m.Mailbox, MailMessageID: m.MailMessageID,
			MailUniqueID: m.MailUniqueID, MailMessageDeliveryTime: m.MailMessageDeliveryTime})
	}
	var batches []string
	for chunk := range slices.Chunk(actions, 4) {
		res, err := c.MitigateMails(ctx, chunk)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, res.BatchID)
	}
	clk.Advance(31 * time.Second)
	var results []cecp.Action
	for _, b := range batches {
		results = append(results, collect(t, c.MailActionResults(ctx, cecp.ActionResultsQuery{BatchID: b, Limit: 3}))...)
	}
	if len(results) != len(swept) {
		t.Fatalf("%d results for %d actions", len(results), len(swept))
	}
	for i, r := range results {
		want := cecp.StatusSuccess
		if state[swept[i].MailUniqueID] != cecpsim.StateDelivered {
			want = cecp.StatusSkipped
		}
		if r.Status != want || r.MailUniqueID != swept[i].MailUniqueID {
			t.Fatalf("action %d: %s on %s, want %s", i, r.Status, r.MailUniqueID, want)
		}
	}
	byWindow := collect(t, c.MailActionResults(ctx, cecp.ActionResultsQuery{Start: epoch.Add(-time.Hour), End: clk.Now(), Limit: 2}))
	if len(byWindow) != len(swept) {
		t.Fatalf("window results: %d", len(byWindow))
	}

	// Restore the downloaded one with its quarantine event's ids.
	res, err := c.MitigateMails(ctx, []cecp.MailAction{{ActionType: cecp.MailRestore, Service: cecp.ServiceExchange,
		AccountProvider: cecp.ProviderOffice365, Mailbox: ev.Message.Mailbox, MailUniqueID: ev.Message.MailUniqueID,
		MailMessageID: ev.Message.MailMessageID, DetectionTime: ev.Message.DetectionTime, MailLogID: ev.Message.MailLogID}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	if r := collect(t, c.MailActionResults(ctx, cecp.ActionResultsQuery{BatchID: res.BatchID})); len(r) != 1 || r[0].Status != cecp.StatusSuccess {
		t.Fatalf("restore: %+v", r)
	}

	// Accounts.
	res, err = c.MitigateAccounts(ctx, []cecp.AccountAction{{ActionType: cecp.AccountDisable, AccountUserEmail: ev.Message.Mailbox}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	if r := collect(t, c.AccountActionResults(ctx, cecp.ActionResultsQuery{BatchID: res.BatchID})); len(r) != 1 || r[0].Status != cecp.StatusSuccess {
		t.Fatalf("account: %+v", r)
	}

	// Blocked lists: add (normalised by the vendor), add again (nothing sent), remove.
	rules := cecp.Rules{Senders: []string{ev.Message.MailMessageSender}, URLs: []string{"https://Evil.example/pay"}, File256Hashes: hashes[:min(1, len(hashes))]}
	ch, err := c.AddToBlockedLists(ctx, rules)
	if err != nil || ch.Sent.Len() != rules.Len() {
		t.Fatalf("add: %+v %v", ch, err)
	}
	ch, err = c.AddToBlockedLists(ctx, rules)
	if err != nil || ch.Sent.Len() != 0 {
		t.Fatalf("add again sent %+v, %v", ch.Sent, err)
	}
	got, err := c.BlockedLists(ctx)
	if err != nil || !slices.Equal(got.URLs, []string{"evil.example/pay/"}) {
		t.Fatalf("lists %+v %v", got, err)
	}
	if _, err := c.RemoveFromBlockedLists(ctx, cecp.Rules{URLs: []string{"http://evil.example/pay"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.BlockedLists(ctx); len(got.URLs) != 0 || len(got.Senders) != 1 {
		t.Fatalf("after remove: %+v", got)
	}
}

func TestClientErrorsFromSimulator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("rate limit", func(t *testing.T) {
		_, c, _ := setup(t, cecpsim.Options{Seed: 72, RateLimit: 1, RetryAfter: true})
		if _, err := c.BlockedLists(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := c.BlockedLists(ctx)
		var e *cecp.Error
		if !errors.As(err, &e) || !e.RateLimited() || e.RetryAfter != time.Minute {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("rate limit in a 200", func(t *testing.T) {
		_, c, _ := setup(t, cecpsim.Options{Seed: 72, RateLimit: cecpsim.NoRateLimit, Faults: cecpsim.Faults{RateLimit200: 1}})
		_, err := c.BlockedLists(ctx)
		var e *cecp.Error
		if !errors.As(err, &e) || !e.RateLimited() {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("auth", func(t *testing.T) {
		sim, _, _ := setup(t, cecpsim.Options{Seed: 72})
		srv := httptest.NewServer(sim)
		defer srv.Close()
		c, _ := cecp.New(cecp.Options{BaseURL: srv.URL, Token: cecp.StaticToken("wrong")})
		_, err := c.BlockedLists(ctx)
		var e *cecp.Error
		if !errors.As(err, &e) || !e.Auth() {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("drop after POST", func(t *testing.T) {
		sim, c, _ := setup(t, cecpsim.Options{Seed: 72, RateLimit: cecpsim.NoRateLimit, ActionDelay: -1,
			Faults: cecpsim.Faults{DropAfterPost: 1, Paths: []string{"POST /v1/mitigation"}}})
		mails, _ := sim.Mails("")
		m := mails[len(mails)-1]
		_, err := c.MitigateMails(ctx, []cecp.MailAction{{ActionType: cecp.MailDelete, Service: cecp.ServiceExchange,
			AccountProvider: cecp.ProviderOffice365, Mailbox: m.Mailbox, MailUniqueID: m.MailUniqueID}})
		var e *cecp.Error
		if !errors.As(err, &e) || !e.MaybeApplied() {
			t.Fatalf("err = %v", err)
		}
		// The client must check before posting again: the simulator applied it once.
		recent := collect(t, c.MailActionResults(ctx, cecp.ActionResultsQuery{Start: epoch.Add(-time.Minute), End: epoch.Add(time.Minute)}))
		if len(recent) != 1 || recent[0].MailUniqueID != m.MailUniqueID || len(sim.Applied()) != 1 {
			t.Fatalf("recent %+v, applied %+v", recent, sim.Applied())
		}
	})
	t.Run("transient", func(t *testing.T) {
		_, c, _ := setup(t, cecpsim.Options{Seed: 72, Faults: cecpsim.Faults{Error503: 1}})
		_, err := c.BlockedLists(ctx)
		var e *cecp.Error
		if !errors.As(err, &e) || !e.Transient() || e.Status != 503 {
			t.Fatalf("err = %v", err)
		}
	})
}
