package cecpsim

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestStateSurvivesRestart: with a state file, a restarted simulator has everything its predecessor had —
// mails, a mitigation batch still pending (it completes on the new one), blocked lists, accounts, added mails,
// the rate window — and goes on exactly as the first would have (its random generators continue).
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "sim-state.json")
	clock := &fakeClock{t: epoch}
	opts := Options{Seed: 5, Mailboxes: 6, ActionDelay: 30 * time.Second, RateLimit: 50, Now: clock.Now, StateFile: file}
	a := newHarness(t, opts)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("no state file at start: %v", err)
	}
	ms := a.delivered(2)
	batch := a.postBatch("/v1/mitigation/mails", []mailActionRequest{mailActionFor("MAIL_DELETE", ms[0]), mailActionFor("MAIL_QUARANTINE", ms[1])})
	a.postBatch("/v1/mitigation/accounts", []accountActionRequest{{ActionType: "ACCOUNT_DISABLE", Service: "exchange",
		AccountProvider: "office365", AccountUserEmail: a.sim.Tenants()[0].Mailboxes[2]}})
	if code, _, body := a.do(http.MethodPost, "/v1/remediation/mails", `{"action_type":"create","rules":{"senders":["x@evil.example"],"urls":["ubb.com"]}}`); code != 200 {
		t.Fatalf("blocklist: %d %s", code, body)
	}
	if _, err := a.sim.AddMails("", []NewMail{{Mailbox: ms[0].Mailbox, MailMessageSender: "late@evil.example", State: StateQuarantined}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	pending := statuses(a.results("/v1/mitigation/mails?batch_id=" + batch))
	if pending != "Created,Created" && pending != "Executing,Executing" {
		t.Fatalf("before the restart: %s", pending)
	}
	before, _ := a.sim.State("")
	beforeMails, _ := a.sim.Mails("")
	a.sim.Close()

	b := newHarness(t, opts)
	after, _ := b.sim.State("")
	afterMails, _ := b.sim.Mails("")
	before.Requests, after.Requests = nil, nil
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state after the restart differs:\n%+v\n%+v", before, after)
	}
	if !reflect.DeepEqual(beforeMails, afterMails) {
		t.Fatal("mails differ after the restart")
	}
	if got := statuses(b.results("/v1/mitigation/mails?batch_id=" + batch)); got != pending {
		t.Fatalf("the batch after the restart: %s, before %s", got, pending)
	}
	clock.Advance(25 * time.Second)
	if got := statuses(b.results("/v1/mitigation/mails?batch_id=" + batch)); got != "Success,Success" {
		t.Fatalf("the batch did not complete after the restart: %s", got)
	}
	st, _ := b.sim.State("")
	if !reflect.DeepEqual(st.Blocklist.URLs, []string{"ubb.com/"}) || st.Accounts[2].State != "disabled" {
		t.Fatalf("blocklist %+v accounts %+v", st.Blocklist, st.Accounts)
	}
}

// TestStateContinuesTheGenerator: a restart is invisible in what the simulator hands out next.
func TestStateContinuesTheGenerator(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: epoch}
	dir := t.TempDir()
	opts := func(file string) Options {
		return Options{Seed: 9, Mailboxes: 4, ActionDelay: -1, Now: clock.Now, StateFile: file}
	}
	one := newHarness(t, opts(filepath.Join(dir, "one.json")))
	two := newHarness(t, opts(filepath.Join(dir, "two.json")))
	for _, h := range []*harness{one, two} {
		h.postBatch("/v1/mitigation/mails", []mailActionRequest{mailActionFor("MAIL_DELETE", h.delivered(1)[0])})
	}
	two.sim.Close()
	two = newHarness(t, opts(filepath.Join(dir, "two.json")))
	m1, m2 := one.delivered(1)[0], two.delivered(1)[0]
	b1 := one.postBatch("/v1/mitigation/mails", []mailActionRequest{mailActionFor("MAIL_DELETE", m1)})
	b2 := two.postBatch("/v1/mitigation/mails", []mailActionRequest{mailActionFor("MAIL_DELETE", m2)})
	if b1 != b2 {
		t.Errorf("after a restart the next batch is %s; without one it is %s", b2, b1)
	}
}

// TestStateFileProblems: an unreadable file, or one another simulator made, stops New with a one-line error
// naming the file; nothing starts afresh over it. ResetState moves it aside, never deleting it.
func TestStateFileProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")
	if err := os.WriteFile(file, []byte(`{"version":1,"tenants":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{StateFile: file})
	var se *StateError
	if !errors.As(err, &se) || err.Error() != "the simulator's state "+file+" is unusable: not a state file (unexpected end of JSON input)" {
		t.Fatalf("corrupt file: %v", err)
	}
	if data, _ := os.ReadFile(file); string(data) != `{"version":1,"tenants":[` {
		t.Fatal("the corrupt file was overwritten")
	}
	aside, err := ResetState(file, epoch)
	if err != nil || aside != file+".20260310T120000Z.bak" {
		t.Fatalf("reset: %q %v", aside, err)
	}
	if _, err := os.Stat(aside); err != nil {
		t.Fatal(err)
	}
	if none, err := ResetState(file, epoch); none != "" || err != nil {
		t.Fatalf("reset without a file: %q %v", none, err)
	}
	s, err := New(Options{Seed: 1, StateFile: file})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = New(Options{Seed: 2, Mailboxes: 3, StateFile: file})
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "it was made by a simulator with seed 1, not 2; tenant default@corp.example with 20 mailboxes of 12 mails, not default@corp.example with 3 of 12") {
		t.Fatalf("another simulator's file: %v", err)
	}
}
