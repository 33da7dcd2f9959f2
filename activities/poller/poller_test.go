package poller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/parry-soar/parry/activities/poller"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

type fixture struct {
	st   *store.Store
	sim  *cecpsim.Server
	url  string
	acts *poller.Activities
	env  *testsuite.TestActivityEnvironment
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sim, err := cecpsim.New(cecpsim.Options{Seed: 7, RateLimit: cecpsim.NoRateLimit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	st := storetest.NewStore(t)
	cfg := config.Config{CECP: config.CECPConfig{Connections: []config.CECPConnection{{Name: "sim", BaseURL: srv.URL, TokenSecret: "tok"}}}}
	f := &fixture{st: st, sim: sim, url: srv.URL}
	f.acts = &poller.Activities{Store: st, Client: poller.Clients(cfg, secret.Static{"tok": cecpsim.DefaultToken}, nil)}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	f.env = suite.NewTestActivityEnvironment()
	poller.Register(f.env, f.acts)
	return f
}

func (f *fixture) poll(t *testing.T, in poller.Input) (poller.Result, error) {
	t.Helper()
	v, err := f.env.ExecuteActivity(poller.ActivityName, in)
	if err != nil {
		return poller.Result{}, err
	}
	var res poller.Result
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

// vendorIDs lists the ids the vendor has for a stream from start on, read directly.
func (f *fixture) vendorIDs(t *testing.T, s poller.Stream, start time.Time) []string {
	t.Helper()
	c, err := cecp.New(cecp.Options{BaseURL: f.url, Token: cecp.StaticToken(cecpsim.DefaultToken)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	ctx := context.Background()
	if s.Event == poller.QuarantineEvent {
		evs, err := c.QuarantineEventPages(cecp.QuarantineEventsQuery{Start: start, End: time.Now(), MaxResults: 100000}).Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			ids = append(ids, "quarantine:"+e.Message.MailLogID)
		}
	} else {
		evs, err := c.SecurityEventPages(cecp.SecurityEventsQuery{Service: s.Service, Event: s.Event, Start: start, End: time.Now(), MaxResults: 100000}).Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			ids = append(ids, e.LogItemID)
		}
	}
	sort.Strings(ids)
	return ids
}

func (f *fixture) alertIDs(t *testing.T, kind string) []string {
	t.Helper()
	rows, err := f.st.Pool.Query(context.Background(), "SELECT source_id FROM alerts WHERE source = 'cecp' AND kind = $1 ORDER BY source_id", kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

func TestPollStreamTurnsEachEventIntoOneAlert(t *testing.T) {
	f := newFixture(t)
	start := time.Now()
	for _, s := range []poller.Stream{{Service: "exchange", Event: "securityrisk"}, {Service: "exchange", Event: poller.QuarantineEvent}} {
		t.Run(s.Name(), func(t *testing.T) {
			in := poller.Input{Connection: "sim", Stream: s, FirstFetch: 30 * 24 * time.Hour}
			res, err := f.poll(t, in)
			if err != nil {
				t.Fatal(err)
			}
			reach := cecp.SecurityEventsReach
			if s.Event == poller.QuarantineEvent {
				reach = cecp.QuarantineEventsReach
			}
			want := f.vendorIDs(t, s, start.Add(-reach+5*time.Minute))
			got := f.alertIDs(t, s.Event)
			if len(want) == 0 || strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("alerts %d, vendor events %d\n got %v\nwant %v", len(got), len(want), got, want)
			}
			if res.Alerts != len(want) || res.Events != len(want) || res.More {
				t.Fatalf("result %+v for %d events", res, len(want))
			}
			// Polling again finds nothing new: the cursor and the ids seen at its time drop the repeats.
			again, err := f.poll(t, in)
			if err != nil || again.Alerts != 0 {
				t.Fatalf("second poll: %+v %v", again, err)
			}
			if n := len(f.alertIDs(t, s.Event)); n != len(want) {
				t.Fatalf("%d alerts after the second poll, want %d", n, len(want))
			}
		})
	}
	// New mails, quarantined: one new security event and one new quarantine event each.
	if _, err := f.sim.AddMails("", []cecpsim.NewMail{
		{Mailbox: "u1@corp.example", MailMessageSender: "x@evil.test", MailMessageSubject: "invoice", State: cecpsim.StateQuarantined},
		{Mailbox: "u2@corp.example", MailMessageSender: "x@evil.test", MailMessageSubject: "invoice", State: cecpsim.StateQuarantined},
	}); err != nil {
		t.Fatal(err)
	}
	before := len(f.alertIDs(t, poller.QuarantineEvent))
	res, err := f.poll(t, poller.Input{Connection: "sim", Stream: poller.Stream{Service: "exchange", Event: poller.QuarantineEvent}})
	if err != nil || res.Alerts != 2 || len(f.alertIDs(t, poller.QuarantineEvent)) != before+2 {
		t.Fatalf("new quarantine events: %+v %v", res, err)
	}
	var a store.Alert
	rows, _ := f.st.ListAlerts(context.Background(), store.AlertQuery{Source: "cecp", Limit: 1})
	a = rows[0]
	if a.Kind != "quarantine" || a.Connection != "sim" || a.Severity != "medium" || !strings.Contains(a.Title, `Mail quarantined: Phishing_URL ("invoice" to u`) ||
		!strings.Contains(string(a.Data), `"mail_message_sender": "x@evil.test"`) || !strings.Contains(string(a.Data), `"mail_blob_path": "quarantine/`) {
		t.Fatalf("quarantine alert: %+v %s", a, a.Data)
	}
	if cur, ok, err := f.st.GetPollCursor(context.Background(), "sim", "quarantine"); err != nil || !ok || cur.Alerts != int64(before+2) || len(cur.SeenIDs) == 0 {
		t.Fatalf("cursor: %+v %v %v", cur, ok, err)
	}
}

func TestPollStreamPagesAndMore(t *testing.T) {
	f := newFixture(t)
	f.acts.PageSize, f.acts.PagesPerCall = 3, 2
	var mails []cecpsim.NewMail
	for i := range 20 {
		mails = append(mails, cecpsim.NewMail{Mailbox: fmt.Sprintf("u%d@corp.example", i), MailMessageSender: "x@evil.test", MailMessageSubject: "invoice", State: cecpsim.StateQuarantined})
	}
	if _, err := f.sim.AddMails("", mails); err != nil {
		t.Fatal(err)
	}
	s := poller.Stream{Service: "exchange", Event: "securityrisk"}
	in := poller.Input{Connection: "sim", Stream: s, FirstFetch: 72 * time.Hour}
	want := f.vendorIDs(t, s, time.Now().Add(-72*time.Hour+5*time.Minute))
	if len(want) < 8 {
		t.Fatalf("the simulator has only %d events; the test needs more than two calls' worth", len(want))
	}
	calls := 0
	for {
		res, err := f.poll(t, in)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		// Every call that leaves more behind stored something: pages it had stored before (more events at one
		// millisecond than a call's budget) do not use up the budget.
		if calls > 100 || res.More && res.Alerts == 0 {
			t.Fatalf("call %d made no progress: %+v", calls, res)
		}
		if !res.More {
			break
		}
	}
	if got := f.alertIDs(t, s.Event); strings.Join(got, ",") != strings.Join(want, ",") || calls < len(want)/6 {
		t.Fatalf("%d calls, %d alerts, want %d", calls, len(got), len(want))
	}
}

func TestPollStreamRateLimitAndGap(t *testing.T) {
	f := newFixture(t)
	s := poller.Stream{Service: "exchange", Event: "securityrisk"}
	in := poller.Input{Connection: "sim", Stream: s}
	if err := f.sim.SetFaults(cecpsim.Faults{Storm429: cecpsim.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, err := f.poll(t, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != "VendorRateLimited" || app.NonRetryable() {
		t.Fatalf("want a retryable VendorRateLimited error, got %v", err)
	}
	// Expected back-off: benign, so Temporal's worker does not log it as an error.
	if app.Category() != temporal.ApplicationErrorCategoryBenign {
		t.Errorf("a rate limit is not marked benign: %v", app.Category())
	}
	if _, ok, _ := f.st.GetPollCursor(context.Background(), "sim", s.Name()); ok {
		t.Fatal("a cursor was stored for a failed poll")
	}
	f.sim.SetFaults(cecpsim.Faults{})
	// A cursor older than the vendor's 72 hours: the poll starts at the reach and records the gap.
	old := time.Now().Add(-100 * time.Hour)
	if _, err := f.st.StorePollPage(context.Background(), store.PollPage{Connection: "sim", Stream: s.Name(), Position: old}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.poll(t, in); err != nil {
		t.Fatal(err)
	}
	cur, _, _ := f.st.GetPollCursor(context.Background(), "sim", s.Name())
	if cur.GapFrom == nil || !cur.GapFrom.Equal(old.Truncate(time.Microsecond)) || cur.GapTo == nil || time.Since(*cur.GapTo) < 71*time.Hour {
		t.Fatalf("gap not recorded: %+v", cur)
	}
	// Bad token: not retryable.
	bad := &poller.Activities{Store: f.st, Client: poller.Clients(config.Config{CECP: config.CECPConfig{Connections: []config.CECPConnection{{Name: "sim", BaseURL: f.url, TokenSecret: "tok"}}}}, secret.Static{"tok": "wrong"}, nil)}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	poller.Register(env, bad)
	_, err = env.ExecuteActivity(poller.ActivityName, in)
	if !errors.As(err, &app) || app.Type() != "VendorAuth" || !app.NonRetryable() || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad token: %v", err)
	}
}

// TestPollStreamOddEventKeepsThePage: one event with a list where the reference says string (as Sentinel's
// connector types triggered_dlp_template) and one that is not an object at all do not make the page
// undecodable (which retried the same window until the events aged out): every event becomes an alert, the
// broken one kept as received, and the cursor moves on.
func TestPollStreamOddEventKeepsThePage(t *testing.T) {
	gen := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Millisecond)
	page := fmt.Sprintf(`{"current_link":"","next_link":"","last_log_item_generation_time":%q,"security_events":[
	 {"log_item_id":"dlp-1","service":"OneDrive","event":"dlp","message":{"triggered_dlp_template":["PCI-DSS","U.S. SSN"],
	  "affected_user":"bob@corp.example","detection_time":%q,"file_name":"cards.xlsx","vendor_added":{"x":1}}},
	 ["not","an","event"]]}`, gen.Format(cecp.TimeLayout), gen.Format(cecp.TimeLayout))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	st := storetest.NewStore(t)
	cfg := config.Config{CECP: config.CECPConfig{Connections: []config.CECPConnection{{Name: "t", BaseURL: srv.URL, TokenSecret: "tok"}}}}
	acts := &poller.Activities{Store: st, Client: poller.Clients(cfg, secret.Static{"tok": "x-token"}, nil)}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	poller.Register(env, acts)
	v, err := env.ExecuteActivity(poller.ActivityName, poller.Input{Connection: "t", Stream: poller.Stream{Service: "onedrive", Event: "dlp"}})
	if err != nil {
		t.Fatalf("the page failed: %v", err)
	}
	var res poller.Result
	v.Get(&res)
	if res.Events != 2 || res.Alerts != 2 || res.Undecodable != 1 || !res.Position.Equal(gen) {
		t.Fatalf("result %+v", res)
	}
	alerts, err := st.ListAlerts(context.Background(), store.AlertQuery{Source: "cecp", Limit: 10})
	if err != nil || len(alerts) != 2 {
		t.Fatalf("alerts %v %v", alerts, err)
	}
	byID := map[string]store.Alert{}
	for _, a := range alerts {
		byID[a.SourceID] = a
	}
	dlp := byID["dlp-1"]
	if !strings.Contains(dlp.Title, "DLP violation: PCI-DSS, U.S. SSN (bob@corp.example)") ||
		!strings.Contains(compact(dlp.Data), `"triggered_dlp_template":["PCI-DSS","U.S. SSN"]`) || !strings.Contains(compact(dlp.Data), `"vendor_added":{"x":1}`) {
		t.Errorf("dlp alert: %s %s", dlp.Title, dlp.Data)
	}
	var odd store.Alert
	for id, a := range byID {
		if strings.HasPrefix(id, "undecodable:sha256:") {
			odd = a
		}
	}
	if odd.Kind != "dlp" || !strings.Contains(compact(odd.Data), `"raw":["not","an","event"]`) || !strings.Contains(odd.Title, "could not decode") {
		t.Errorf("undecodable alert: %+v %s", odd, odd.Data)
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}
