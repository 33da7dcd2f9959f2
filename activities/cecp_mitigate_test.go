package activities

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/store"
)

// campaignMails seeds a campaign of seven delivered mails and sweeps it the way a playbook does.
func campaignMails(t *testing.T, h *harness) []any {
	t.Helper()
	boxes := h.sim.Tenants()[0].Mailboxes
	var seed []cecpsim.NewMail
	for i := range 7 {
		seed = append(seed, cecpsim.NewMail{Mailbox: boxes[i%len(boxes)], MailMessageSender: "phish@evil.example",
			MailMessageSubject: "Reset your password", MailURLs: []string{"https://evil.example/login"},
			MailMessageDeliveryTime: time.Now().UTC().Add(-time.Duration(i+1) * time.Minute).Format(time.RFC3339)})
	}
	if _, err := h.sim.AddMails("", seed); err != nil {
		t.Fatal(err)
	}
	out := h.mustExec("cecp.sweep", "sweep", map[string]any{"sender": "phish@evil.example", "lastndays": 1.0})
	mails := out["mails"].([]any)
	if len(mails) != 7 {
		t.Fatalf("the sweep found %d of the 7 seeded mails", len(mails))
	}
	return mails
}

// applied counts the simulator's applied actions per mail and action type.
func applied(h *harness) map[string]int {
	n := map[string]int{}
	for _, a := range h.sim.Applied() {
		n[a.ActionType+" "+a.Mailbox+" "+a.MailUniqueID+a.AccountEmail]++
	}
	return n
}

func outcomes(rows []store.AuditEvent) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Outcome)
	}
	return out
}

func TestMitigateMailsWait(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 3,
		sim: &cecpsim.Options{Seed: 7, Mailboxes: 8, MailsPerMailbox: 4, RateLimit: cecpsim.NoRateLimit, ActionDelay: 150 * time.Millisecond}})
	mails := campaignMails(t, h)
	// A repeated mail is acted on once.
	with := map[string]any{"action": "quarantine", "mails": append(slices.Clone(mails), mails[0]), "wait": true}
	out := h.mustExec("cecp.mitigate_mails", "quarantine", with)
	n := len(mails)
	batches := (n + 2) / 3
	if got := len(out["batch_ids"].([]any)); got != batches {
		t.Errorf("%d batch ids for %d mails in batches of 3, want %d", got, n, batches)
	}
	done := out["succeeded"].(float64) + out["skipped"].(float64) + out["failed"].(float64)
	if done != float64(n) || out["pending"] != 0.0 || len(out["actions"].([]any)) != n {
		t.Errorf("outcome %v for %d mails", out, n)
	}
	for _, x := range out["actions"].([]any) {
		act := x.(map[string]any)
		if act["action_type"] != cecp.MailQuarantine || !slices.Contains(out["batch_ids"].([]any), act["batch_id"]) {
			t.Errorf("action %v is not one of this step's", act)
		}
	}
	for k, c := range applied(h) {
		if c != 1 {
			t.Errorf("%s applied %d times", k, c)
		}
	}
	rows := h.audit()
	targets := 0
	for _, r := range rows {
		if r.Action != "cecp.mitigate_mails" || r.Operation != cecp.MailQuarantine || r.Outcome != OutcomeAccepted ||
			r.Connection != "sim" || r.StepID != "quarantine" || r.Attempt != 1 || len(r.VendorIDs) != 2 || r.Actor != "run:"+h.runID {
			t.Errorf("audit row %+v", r)
		}
		targets += r.Targets
	}
	if len(rows) != batches || targets != n {
		t.Errorf("%d audit rows for %d targets; want %d rows for %d", len(rows), targets, batches, n)
	}

	// The same step again (a retry after the output was lost) posts nothing and reports the same batches.
	posts := h.sim.Requests()["POST /v1/mitigation/mails"]
	again := h.mustExec("cecp.mitigate_mails", "quarantine", with)
	if h.sim.Requests()["POST /v1/mitigation/mails"] != posts {
		t.Error("a repeated step posted again")
	}
	if !slices.Equal(again["batch_ids"].([]any), out["batch_ids"].([]any)) || again["succeeded"] != out["succeeded"] {
		t.Errorf("repeat = %v\nfirst = %v", again, out)
	}
	if len(h.audit()) != batches {
		t.Errorf("a repeated step added audit rows: %v", outcomes(h.audit()))
	}
}

func TestMitigateNoWait(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 10})
	mails := campaignMails(t, h)
	out := h.mustExec("cecp.mitigate_mails", "delete", map[string]any{"action": "delete", "mails": mails})
	if len(out["batch_ids"].([]any)) != 1 || out["pending"] != float64(len(mails)) || len(out["actions"].([]any)) != 0 {
		t.Errorf("output without wait: %v", out)
	}
	if n := h.sim.Requests()["GET /v1/mitigation/mails"]; n != 0 {
		t.Errorf("%d result reads without wait", n)
	}
	out = h.mustExec("cecp.mitigate_mails", "none", map[string]any{"action": "delete", "mails": []any{}, "wait": true})
	if len(out["batch_ids"].([]any)) != 0 || out["pending"] != 0.0 {
		t.Errorf("output for no mails: %v", out)
	}
}

// TestMitigateAmbiguousPost: the vendor applies a POST and drops the connection. The retry looks the mails up,
// finds them, and posts only the batches that never went out: every mail is mitigated once.
func TestMitigateAmbiguousPost(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 2})
	mails := campaignMails(t, h)
	if err := h.sim.SetFaults(cecpsim.Faults{DropAfterPost: 1, Paths: []string{"POST /v1/mitigation/mails"}}); err != nil {
		t.Fatal(err)
	}
	with := map[string]any{"action": "delete", "mails": mails, "wait": true}
	_, err := h.exec("cecp.mitigate_mails", "purge", with)
	ae := appErr(t, err)
	if ae.Type() != action.VendorUnavailable || ae.NonRetryable() ||
		!strings.HasPrefix(ae.Message(), `posting batch 1 of `) || !strings.Contains(ae.Message(), "the vendor may have applied it") {
		t.Fatalf("first attempt: %s %q", ae.Type(), ae.Message())
	}
	if got := outcomes(h.audit()); !slices.Equal(got, []string{OutcomeAmbiguous}) {
		t.Fatalf("audit after the dropped POST: %v", got)
	}
	if err := h.sim.SetFaults(cecpsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	out := h.mustExec("cecp.mitigate_mails", "purge", with)
	if out["succeeded"].(float64)+out["skipped"].(float64)+out["failed"].(float64) != float64(len(mails)) {
		t.Errorf("retry output %v", out)
	}
	counts := applied(h)
	if len(counts) != len(mails) {
		t.Errorf("%d mails applied, want %d", len(counts), len(mails))
	}
	for k, c := range counts {
		if c != 1 {
			t.Errorf("%s applied %d times", k, c)
		}
	}
	batches := (len(mails) + 1) / 2
	if got := h.sim.Requests()["POST /v1/mitigation/mails"]; got != batches {
		t.Errorf("%d POSTs for %d batches", got, batches)
	}
	want := []string{OutcomeAmbiguous, OutcomeDuplicate}
	for i := 1; i < batches; i++ {
		want = append(want, OutcomeAccepted)
	}
	rows := h.audit()
	if got := outcomes(rows); !slices.Equal(got, want) {
		t.Errorf("audit outcomes %v, want %v", got, want)
	}
	if dup := rows[1]; dup.Targets != 2 || len(dup.VendorIDs) != 1 || dup.Attempt != 1 {
		t.Errorf("skipped-duplicate row %+v", dup)
	}
}

// TestMitigateRecordedButNotSent: an attempt recorded a chunk as sending and died before posting. The retry
// looks the mails up, finds nothing and posts them.
func TestMitigateRecordedButNotSent(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50})
	mails := campaignMails(t, h)[:3]
	keys := make([]string, len(mails))
	for i, m := range mails {
		mm := m.(map[string]any)
		keys[i] = strings.ToLower(mm["mailbox"].(string)) + "|" + mm["mail_unique_id"].(string) + "|" + mm["mail_message_id"].(string)
	}
	l := ledger{pool: h.st.Pool}
	if err := l.markSending(context.Background(), h.runID, "purge", chunkRow{Chunk: 0, Kind: "mails", Connection: "sim",
		ActionType: cecp.MailDelete, Keys: keys}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true})
	if out["succeeded"] != 3.0 {
		t.Errorf("output %v", out)
	}
	if n := h.sim.Requests()["GET /v1/mitigation/mails"]; n < 2 {
		t.Errorf("%d result reads: want the lookup before posting and at least one poll", n)
	}
	if got := outcomes(h.audit()); !slices.Equal(got, []string{OutcomeAccepted}) {
		t.Errorf("audit %v", got)
	}
	rows, err := l.load(context.Background(), h.runID, "purge")
	if err != nil || rows[0].State != chunkAccepted || rows[0].Uncertain || rows[0].Sends != 2 || len(rows[0].BatchIDs) != 1 {
		t.Errorf("ledger row %+v, %v", rows[0], err)
	}
}

// TestMitigatePartlyFound: of an uncertain chunk, one mail is already at the vendor; only the others are posted.
func TestMitigatePartlyFound(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50})
	mails := campaignMails(t, h)[:3]
	keys := make([]string, len(mails))
	var first cecp.MailAction
	for i, m := range mails {
		mm := m.(map[string]any)
		keys[i] = strings.ToLower(mm["mailbox"].(string)) + "|" + mm["mail_unique_id"].(string) + "|" + mm["mail_message_id"].(string)
		if i == 0 {
			first = cecp.MailAction{ActionType: cecp.MailDelete, Service: "exchange", Mailbox: mm["mailbox"].(string),
				MailUniqueID: mm["mail_unique_id"].(string), MailMessageID: mm["mail_message_id"].(string)}
		}
	}
	l := ledger{pool: h.st.Pool}
	if err := l.markSending(context.Background(), h.runID, "purge", chunkRow{Chunk: 0, Kind: "mails", Connection: "sim",
		ActionType: cecp.MailDelete, Keys: keys}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := cecp.New(cecp.Options{BaseURL: h.url, Token: cecp.StaticToken(simToken)})
	if err != nil {
		t.Fatal(err)
	}
	earlier, err := c.MitigateMails(context.Background(), []cecp.MailAction{first})
	if err != nil {
		t.Fatal(err)
	}
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true})
	ids := out["batch_ids"].([]any)
	if len(ids) != 2 || ids[0] != earlier.BatchID || out["succeeded"] != 3.0 {
		t.Errorf("output %v (earlier batch %s)", out, earlier.BatchID)
	}
	for k, n := range applied(h) {
		if n != 1 {
			t.Errorf("%s applied %d times", k, n)
		}
	}
	rows := h.audit()
	if got := outcomes(rows); !slices.Equal(got, []string{OutcomeDuplicate, OutcomeAccepted}) || rows[0].Targets != 1 || rows[1].Targets != 2 {
		t.Errorf("audit %+v", rows)
	}
}

func TestMitigateRefusedNotRetriedBlind(t *testing.T) {
	// A 429 on the POST is not ambiguous: the retry posts without a lookup.
	h := newHarness(t, harnessOpts{batchSize: 50})
	mails := campaignMails(t, h)
	if err := h.sim.SetFaults(cecpsim.Faults{Error429: 1, Paths: []string{"POST /v1/mitigation/mails"}}); err != nil {
		t.Fatal(err)
	}
	with := map[string]any{"action": "delete", "mails": mails}
	_, err := h.exec("cecp.mitigate_mails", "purge", with)
	ae := appErr(t, err)
	if ae.Type() != action.VendorRateLimited || ae.NextRetryDelay() != time.Minute {
		t.Fatalf("first attempt: %s after %s: %s", ae.Type(), ae.NextRetryDelay(), ae.Message())
	}
	_ = h.sim.SetFaults(cecpsim.Faults{})
	h.mustExec("cecp.mitigate_mails", "purge", with)
	if n := h.sim.Requests()["GET /v1/mitigation/mails"]; n != 0 {
		t.Errorf("%d lookups after a definite refusal", n)
	}
	if got := outcomes(h.audit()); !slices.Equal(got, []string{OutcomeFailed, OutcomeAccepted}) {
		t.Errorf("audit %v", got)
	}
}

func TestMitigateAccountsAndRestore(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 2})
	boxes := h.sim.Tenants()[0].Mailboxes[:3]
	accounts := []any{boxes[0], strings.ToUpper(boxes[0]), boxes[1], boxes[2]}
	out := h.mustExec("cecp.mitigate_accounts", "disable", map[string]any{"action": "disable", "accounts": accounts, "wait": true})
	if out["succeeded"] != 3.0 || len(out["batch_ids"].([]any)) != 2 {
		t.Errorf("accounts output %v", out)
	}
	st, _ := h.sim.State("")
	disabled := 0
	for _, a := range st.Accounts {
		if a.State == "disabled" {
			disabled++
		}
	}
	if disabled != 3 {
		t.Errorf("%d accounts disabled, want 3", disabled)
	}

	// Restore needs the quarantine event's fields.
	now := time.Now().UTC()
	if _, err := h.sim.AddMails("", []cecpsim.NewMail{{Mailbox: boxes[0], MailMessageSender: "x@bad.example", MailMessageSubject: "held",
		MailMessageDeliveryTime: now.Add(-time.Hour).Format(time.RFC3339), State: "quarantined"}}); err != nil {
		t.Fatal(err)
	}
	q := h.mustExec("cecp.quarantine_events", "q", map[string]any{"start": now.Add(-2 * time.Hour).Format(time.RFC3339),
		"end": now.Add(time.Minute).Format(time.RFC3339)})
	var held []any
	for _, e := range q["quarantine_events"].([]any) {
		if e.(map[string]any)["message"].(map[string]any)["mail_message_subject"] == "held" {
			held = append(held, e) // whole events: the activity takes the message out
		}
	}
	if len(held) != 1 {
		t.Fatalf("%d quarantine events for the held mail", len(held))
	}
	out = h.mustExec("cecp.mitigate_mails", "restore", map[string]any{"action": "restore", "mails": held, "wait": true})
	if out["succeeded"] != 1.0 {
		t.Errorf("restore output %v", out)
	}
	_, err := h.exec("cecp.mitigate_mails", "restore_sweep", map[string]any{"action": "restore",
		"mails": []any{map[string]any{"mailbox": boxes[0], "mail_unique_id": "u1"}}})
	wantErr(t, err, action.InvalidInput, "checking with.mails: invalid mail mitigation batch: mail 1: MAIL_RESTORE needs detection_time and mail_log_id (from a quarantine event)")
	_, err = h.exec("cecp.mitigate_mails", "gmail", map[string]any{"action": "quarantine", "service": "gmail",
		"mails": []any{map[string]any{"mailbox": boxes[0], "mail_unique_id": "u1"}}})
	wantErr(t, err, action.InvalidInput, "checking with.mails: invalid mail mitigation batch: mail 1: gmail allows only MAIL_DELETE, not MAIL_QUARANTINE")
	_, err = h.exec("cecp.mitigate_mails", "badtime", map[string]any{"action": "delete",
		"mails": []any{map[string]any{"mailbox": boxes[0], "mail_unique_id": "u1", "mail_message_delivery_time": "soon"}}})
	wantErr(t, err, action.InvalidInput, `with.mails[0].mail_message_delivery_time: timestamp "soon" is neither ISO-8601 nor epoch milliseconds`)
	_, err = h.exec("cecp.mitigate_mails", "badtype", map[string]any{"action": "delete",
		"mails": []any{map[string]any{"mailbox": 5.0}}})
	wantErr(t, err, action.InvalidInput, `with.mails[0].mailbox must be a string, got the number 5`)
}

// flaky fails the first n result reads with 503, then passes requests on.
type flaky struct {
	next http.Handler
	mu   sync.Mutex
	n    int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail := r.Method == http.MethodGet && r.URL.Path == "/v1/mitigation/mails" && f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestMitigateWaitAbsorbsPollFailures(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50,
		sim:  &cecpsim.Options{Seed: 7, Mailboxes: 6, MailsPerMailbox: 4, RateLimit: cecpsim.NoRateLimit, ActionDelay: 100 * time.Millisecond},
		wrap: func(next http.Handler) http.Handler { return &flaky{next: next, n: 2} }})
	mails := campaignMails(t, h)
	var mu sync.Mutex
	var beats []pollProgress
	h.env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var p pollProgress
		if d.Get(&p) == nil {
			mu.Lock()
			beats = append(beats, p)
			mu.Unlock()
		}
	})
	h.env.SetHeartbeatDetails(pollProgress{Polls: 5, Delay: 40 * time.Millisecond})
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true})
	if out["pending"] != 0.0 || len(out["actions"].([]any)) != len(mails) {
		t.Errorf("output %v", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(beats) == 0 || beats[0].Polls < 6 {
		t.Errorf("heartbeats %v: want the poll count to continue from the recorded 5", beats)
	}
}

func TestMitigateWaitGivesUp(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50, wrap: func(next http.Handler) http.Handler { return &flaky{next: next, n: 1000} }})
	mails := campaignMails(t, h)[:1]
	_, err := h.exec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true})
	ae := appErr(t, err)
	if ae.Type() != action.VendorUnavailable || !strings.HasPrefix(ae.Message(), `polling the results of 1 batch(es) on connection "sim": GET /v1/mitigation/mails: HTTP 503`) {
		t.Errorf("error %s: %s", ae.Type(), ae.Message())
	}
	// The retry does not post again.
	before := h.sim.Requests()["POST /v1/mitigation/mails"]
	_, _ = h.exec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails})
	if h.sim.Requests()["POST /v1/mitigation/mails"] != before {
		t.Error("the retry posted again")
	}
}

func TestLease(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	l := ledger{pool: h.st.Pool}
	ctx := context.Background()
	a, err := l.acquire(ctx, "r", "s", "A")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.acquire(ctx, "r", "s", "B")
	if f := classify(err); f.typ != action.VendorUnavailable || f.msg != "another attempt of step s is still posting its batches; this one will retry" {
		t.Errorf("second holder: %v", err)
	}
	if _, err := l.acquire(ctx, "r", "other", "B"); err != nil {
		t.Errorf("another step's lease: %v", err)
	}
	if err := a.renew(ctx); err != nil {
		t.Errorf("renew: %v", err)
	}
	a.release(ctx)
	b, err := l.acquire(ctx, "r", "s", "B")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	// B's worker dies; its lease runs out and A takes over. B, back from the dead, cannot renew.
	if _, err := h.st.Pool.Exec(ctx, `UPDATE mitigation_leases SET expires_at = now() - interval '1 second' WHERE holder = 'B'`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.acquire(ctx, "r", "s", "A"); err != nil {
		t.Fatalf("taking an expired lease: %v", err)
	}
	if err := b.renew(ctx); err == nil {
		t.Error("a holder whose lease was taken renewed it")
	}
	b.release(ctx) // must not delete A's lease
	if _, err := l.acquire(ctx, "r", "s", "C"); err == nil {
		t.Error("B's release dropped A's lease")
	}
}

// TestMitigateBusyStep: while another attempt holds the step's lease, an attempt posts nothing.
func TestMitigateBusyStep(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	mails := campaignMails(t, h)
	if _, err := (ledger{pool: h.st.Pool}).acquire(context.Background(), h.runID, "purge", "zombie"); err != nil {
		t.Fatal(err)
	}
	_, err := h.exec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails})
	wantErr(t, err, action.VendorUnavailable, "another attempt of step purge is still posting its batches; this one will retry")
	if n := h.sim.Requests()["POST /v1/mitigation/mails"]; n != 0 {
		t.Errorf("%d POSTs while another attempt held the step", n)
	}
}

func TestMitigateChangedItems(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50})
	mails := campaignMails(t, h)
	h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails[:2]})
	_, err := h.exec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails[:3]})
	wantErr(t, err, action.InvalidInput, "batch 1 of step purge was recorded with other mails or another action by an earlier attempt; refusing to post what could duplicate it")
}
