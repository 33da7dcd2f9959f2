package activities

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	broker "github.com/parry-soar/parry/internal/mitigation"
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
			r.Connection != "sim" || r.StepID != "quarantine" || len(r.VendorIDs) != 2 || r.Actor != "run:"+h.runID {
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

// dropFirst applies the first request matching method and path, then drops the connection without answering, as
// a vendor does whose answer is lost; later requests pass.
type dropFirst struct {
	next         http.Handler
	method, path string
	mu           sync.Mutex
	done         bool
}

func (d *dropFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	drop := !d.done && r.Method == d.method && r.URL.Path == d.path
	d.done = d.done || drop
	d.mu.Unlock()
	if !drop {
		d.next.ServeHTTP(w, r)
		return
	}
	d.next.ServeHTTP(httptest.NewRecorder(), r)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestMitigateAmbiguousPost: the vendor applies a POST and drops the connection. The broker looks the mails up
// before posting anything again, finds them, and posts only the batches that never went out: every mail is
// mitigated once, and the step never failed.
func TestMitigateAmbiguousPost(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 2, wrap: func(next http.Handler) http.Handler {
		return &dropFirst{next: next, method: http.MethodPost, path: "/v1/mitigation/mails"}
	}})
	mails := campaignMails(t, h)
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true})
	if out["succeeded"].(float64)+out["skipped"].(float64)+out["failed"].(float64) != float64(len(mails)) {
		t.Errorf("output %v", out)
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
	if dup := rows[1]; dup.Targets != 2 || len(dup.VendorIDs) != 1 {
		t.Errorf("skipped-duplicate row %+v", dup)
	}
}

// mailItems are the broker items of sweep mails, as the activity builds them.
func mailItems(t *testing.T, mails []any, actionType string) []store.NewMitigationItem {
	t.Helper()
	var out []store.NewMitigationItem
	for i, m := range mails {
		ma, err := mailAction(i, m.(map[string]any), actionType, "exchange")
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(ma)
		out = append(out, store.NewMitigationItem{Key: strings.ToLower(ma.Mailbox) + "|" + ma.MailUniqueID + "|" + ma.MailMessageID, Payload: payload})
	}
	return out
}

// crashedPost records the step's items as an earlier attempt would have, and a POST of them that its flusher
// began and never finished (it died): the vendor may or may not have them.
func crashedPost(t *testing.T, h *harness, step string, mails []any) {
	t.Helper()
	ctx := context.Background()
	items, err := h.st.EnqueueMitigation(ctx, store.MitigationRequest{RunID: h.runID, Step: step, Connection: "sim", Kind: "mails",
		ActionType: cecp.MailDelete, Items: mailItems(t, mails, cecp.MailDelete), ReuseFor: time.Hour, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	if _, err := h.st.BeginPost(ctx, "sim", "mails", cecp.MailDelete, ids); err != nil {
		t.Fatal(err)
	}
}

// TestMitigateRecordedButNotSent: a flusher recorded a POST and died before sending it. The next one looks the
// mails up, finds nothing and posts them.
func TestMitigateRecordedButNotSent(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50})
	mails := campaignMails(t, h)[:3]
	crashedPost(t, h, "purge", mails)
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true})
	if out["succeeded"] != 3.0 {
		t.Errorf("output %v", out)
	}
	if n := h.sim.Requests()["GET /v1/mitigation/mails"]; n < 2 {
		t.Errorf("%d result reads: want the lookup before posting and at least one poll", n)
	}
	if n := h.sim.Requests()["POST /v1/mitigation/mails"]; n != 1 {
		t.Errorf("%d POSTs, want 1", n)
	}
	if got := outcomes(h.audit()); !slices.Equal(got, []string{OutcomeAccepted}) {
		t.Errorf("audit %v", got)
	}
}

// TestMitigatePartlyFound: of an uncertain POST, one mail is already at the vendor; only the others are posted.
func TestMitigatePartlyFound(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50})
	mails := campaignMails(t, h)[:3]
	crashedPost(t, h, "purge", mails)
	m0 := mails[0].(map[string]any)
	first := cecp.MailAction{ActionType: cecp.MailDelete, Service: "exchange", Mailbox: m0["mailbox"].(string),
		MailUniqueID: m0["mail_unique_id"].(string), MailMessageID: m0["mail_message_id"].(string)}
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
	if got := outcomes(rows); !slices.Equal(got, []string{OutcomeDuplicate, OutcomeAccepted}) || rows[1].Targets != 2 {
		t.Errorf("audit %+v", rows)
	}
}

// refuseFirst answers the first request matching method and path with the vendor's 429, without passing it on.
type refuseFirst struct {
	next         http.Handler
	method, path string
	mu           sync.Mutex
	done         bool
}

func (d *refuseFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	refuse := !d.done && r.Method == d.method && r.URL.Path == d.path
	d.done = d.done || refuse
	d.mu.Unlock()
	if !refuse {
		d.next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	w.Write([]byte(`{"code":-4290001,"msg":"Maximum allowed requests exceeded","traceId":"t-429"}`))
}

func TestMitigateRefusedNotRetriedBlind(t *testing.T) {
	// A 429 on the POST is not ambiguous: once the quota window passes, the batch is posted without a lookup.
	h := newHarness(t, harnessOpts{batchSize: 50,
		config: func(c *config.Config) { c.CECP.Connections[0].RateLimit = "1000/200ms" },
		wrap: func(next http.Handler) http.Handler {
			return &refuseFirst{next: next, method: http.MethodPost, path: "/v1/mitigation/mails"}
		}})
	mails := campaignMails(t, h)
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails})
	if len(out["batch_ids"].([]any)) != 1 || out["pending"] != float64(len(mails)) {
		t.Errorf("output %v", out)
	}
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

// TestMitigateWaitAbsorbsPollFailures: result polls that fail are waited out with a backoff, and the step ends
// with every outcome instead of failing.
func TestMitigateWaitAbsorbsPollFailures(t *testing.T) {
	f := &flaky{n: 2}
	h := newHarness(t, harnessOpts{batchSize: 50,
		sim:  &cecpsim.Options{Seed: 7, Mailboxes: 6, MailsPerMailbox: 4, RateLimit: cecpsim.NoRateLimit, ActionDelay: 100 * time.Millisecond},
		wrap: func(next http.Handler) http.Handler { f.next = next; return f }})
	mails := campaignMails(t, h)
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails, "wait": true})
	if out["pending"] != 0.0 || len(out["actions"].([]any)) != len(mails) {
		t.Errorf("output %v", out)
	}
	f.mu.Lock()
	left := f.n
	f.mu.Unlock()
	if left != 0 || !strings.Contains(h.logs.String(), "vendor request failed; the broker tries again") {
		t.Errorf("the two failing polls were not waited out (%d left)", left)
	}
	// What run show reads: every item done, no vendor failure left.
	if p, ok, err := broker.StepProgress(context.Background(), h.st, h.runID, "purge", time.Now()); err != nil || !ok ||
		p.Total != len(mails) || p.Done != len(mails) || p.LastError != "" {
		t.Errorf("progress %+v %v %v", p, ok, err)
	}
}

// TestMitigateBusyFlusher: while another flusher holds the connection's lease, a step posts nothing; when that
// flusher is gone (its lease runs out), the step takes over.
func TestMitigateBusyFlusher(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	mails := campaignMails(t, h)
	ctx := context.Background()
	if ok, err := h.st.TakeLease(ctx, broker.LeaseName("sim", "mails"), "zombie", time.Hour); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// Once run show says the step's items are all queued with no flusher of its own, the zombie dies.
	behind := make(chan broker.Progress, 1)
	go func() {
		for {
			p, ok, err := broker.StepProgress(ctx, h.st, h.runID, "purge", time.Now())
			if err != nil {
				t.Error(err)
			}
			if err != nil || ok && p.Queued == len(mails) {
				if _, err := h.st.Pool.Exec(ctx, `UPDATE leases SET expires_at = now() - interval '1 second' WHERE holder = 'zombie'`); err != nil {
					t.Error(err)
				}
				behind <- p
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	out := h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails})
	if len(out["batch_ids"].([]any)) != 1 || h.sim.Requests()["POST /v1/mitigation/mails"] != 1 {
		t.Errorf("output %v", out)
	}
	if p := <-behind; p.Flusher || p.Queued != len(mails) || p.BatchFill != 0 {
		t.Errorf("progress %+v: want the step first waiting behind the other flusher", p)
	}
}

func TestMitigateChangedItems(t *testing.T) {
	h := newHarness(t, harnessOpts{batchSize: 50})
	mails := campaignMails(t, h)
	h.mustExec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails[:2]})
	_, err := h.exec("cecp.mitigate_mails", "purge", map[string]any{"action": "delete", "mails": mails[:3]})
	wantErr(t, err, action.InvalidInput, "cecp.mitigate_mails on connection \"sim\": step purge: the step was recorded with other items or another action by an earlier attempt; refusing to post what could duplicate it")
}
