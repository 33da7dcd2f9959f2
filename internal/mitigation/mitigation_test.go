package mitigation_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/quota"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/memstore"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// recorder counts the vendor requests by kind: POSTs, window queries and batch queries of results.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
	fail func(r *http.Request) int // a status to answer instead of passing on (0: pass)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	kind := req.Method + " " + req.URL.Path
	if req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/v1/mitigation/") {
		if req.URL.Query().Has("batch_id") {
			kind += " by batch"
		} else {
			kind += " by window"
		}
	}
	r.mu.Lock()
	r.n[kind]++
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if code := fail(req); code != 0 {
			http.Error(w, "busy", code)
			return
		}
	}
	r.next.ServeHTTP(w, req)
}

func (r *recorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[kind]
}

type fixture struct {
	st      mitigation.Store
	sim     *cecpsim.Server
	rec     *recorder
	conn    mitigation.Connection
	svc     *mitigation.Service
	mailbox []string
}

// each runs test on the in-memory store and, unless -short, on PostgreSQL.
func each(t *testing.T, test func(t *testing.T, newFixture func(batch int, linger time.Duration) *fixture)) {
	t.Run("memory", func(t *testing.T) {
		test(t, func(batch int, linger time.Duration) *fixture { return newFixture(t, memstore.New(), batch, linger) })
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, func(batch int, linger time.Duration) *fixture {
			return newFixture(t, storetest.NewStore(t), batch, linger)
		})
	})
}

func newFixture(t *testing.T, st mitigation.Store, batch int, linger time.Duration) *fixture {
	t.Helper()
	sim, err := cecpsim.New(cecpsim.Options{Seed: 3, Mailboxes: 40, MailsPerMailbox: 1, RateLimit: 20, Window: time.Minute,
		ActionDelay: -1, Tokens: []string{"tok"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	rec := &recorder{next: sim, n: map[string]int{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	lim, err := quota.NewMemory(quota.Options{Default: quota.DefaultLimit()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := cecp.New(cecp.Options{BaseURL: srv.URL, Token: cecp.StaticToken("tok"), MaxBatch: batch, Limiter: lim, QuotaKey: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, sim: sim, rec: rec, mailbox: sim.Tenants()[0].Mailboxes,
		conn: mitigation.Connection{Name: "sim", Vendor: client, BatchSize: batch, Linger: linger, Window: time.Minute},
		svc: &mitigation.Service{Store: st, PollInterval: 10 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond,
			CheckInterval: 5 * time.Millisecond, MaxCheck: 20 * time.Millisecond, Backoff: 5 * time.Millisecond}}
}

// mails seeds n mails, one per mailbox, and returns them as actions of type actionType.
func (f *fixture) mails(t *testing.T, n int, actionType string) []mitigation.Item {
	t.Helper()
	var seed []cecpsim.NewMail
	for i := range n {
		seed = append(seed, cecpsim.NewMail{Mailbox: f.mailbox[i%len(f.mailbox)], MailMessageSender: "phish@evil.example",
			MailMessageSubject: fmt.Sprintf("invoice %d", i), MailMessageDeliveryTime: time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)})
	}
	got, err := f.sim.AddMails("", seed)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]mitigation.Item, len(got))
	for i, m := range got {
		a := cecp.MailAction{ActionType: actionType, Service: "exchange", Mailbox: m.Mailbox, MailUniqueID: m.MailUniqueID,
			MailMessageID: m.MailMessageID}
		items[i] = mitigation.Item{Key: strings.ToLower(a.Mailbox) + "|" + a.MailUniqueID + "|" + a.MailMessageID, Mail: &a}
	}
	return items
}

func request(run string, items ...mitigation.Item) mitigation.Request {
	return mitigation.Request{RunID: run, Step: "quarantine", Kind: mitigation.Mails, ActionType: cecp.MailQuarantine,
		Items: items, Wait: true}
}

// TestCoalescesSingleMailIncidents: 30 incidents of one mail each, queued at once, go out as ⌈30/10⌉ full POSTs,
// and one window query reads every outcome; each run gets its own mail's outcome.
func TestCoalescesSingleMailIncidents(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, time.Hour)
		items := f.mails(t, 30, cecp.MailQuarantine)
		ctx := context.Background()
		// The 30 runs have queued their mails (as their activities do first thing).
		for i, it := range items {
			enqueue(t, f, request(fmt.Sprintf("run-%02d", i), it))
		}
		results := make([]mitigation.Result, len(items))
		errs := make([]error, len(items))
		var wg sync.WaitGroup
		for i, it := range items {
			wg.Go(func() {
				results[i], errs[i] = f.svc.Mitigate(ctx, f.conn, request(fmt.Sprintf("run-%02d", i), it), nil)
			})
		}
		wg.Wait()
		for i, r := range results {
			if errs[i] != nil || r.Succeeded != 1 || len(r.Actions) != 1 || r.Actions[0].MailUniqueID != items[i].Mail.MailUniqueID {
				t.Fatalf("run %d: %+v %v", i, r, errs[i])
			}
		}
		if got := f.rec.count("POST /v1/mitigation/mails"); got != 3 {
			t.Errorf("%d POSTs, want 3", got)
		}
		if got, batch := f.rec.count("GET /v1/mitigation/mails by window"), f.rec.count("GET /v1/mitigation/mails by batch"); got != 1 || batch != 0 {
			t.Errorf("%d window queries and %d batch queries, want 1 and 0", got, batch)
		}
	})
}

func enqueue(t *testing.T, f *fixture, req mitigation.Request) {
	t.Helper()
	sreq := store.MitigationRequest{RunID: req.RunID, Step: req.Step, Connection: f.conn.Name, Kind: req.Kind, ActionType: req.ActionType,
		ReuseFor: time.Hour, Wait: req.Wait, Priority: int(req.Priority)}
	for _, it := range req.Items {
		sreq.Items = append(sreq.Items, store.NewMitigationItem{Key: it.Key, Payload: payload(t, it)})
	}
	if _, err := f.st.EnqueueMitigation(context.Background(), sreq); err != nil {
		t.Fatal(err)
	}
}

func payload(t *testing.T, it mitigation.Item) []byte {
	t.Helper()
	b, err := jsonMarshal(it.Mail)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCoalescesArrivals: incidents arriving one after another still fill whole batches: with a linger longer
// than the test, only full batches go, so 30 mails are 3 POSTs whenever each arrives; every result read is a
// window query, and the vendor never answers 429.
func TestCoalescesArrivals(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, time.Hour)
		items := f.mails(t, 30, cecp.MailQuarantine)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, len(items))
		for i, it := range items {
			wg.Go(func() { _, errs[i] = f.svc.Mitigate(ctx, f.conn, request(fmt.Sprintf("run-%02d", i), it), nil) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := f.rec.count("POST /v1/mitigation/mails"); got != 3 {
			t.Errorf("%d POSTs, want 3", got)
		}
		if got := f.rec.count("GET /v1/mitigation/mails by batch"); got != 0 {
			t.Errorf("%d batch queries", got)
		}
		for _, a := range f.sim.Applied() {
			if a.ActionType != cecp.MailQuarantine {
				t.Errorf("applied %+v", a)
			}
		}
		if n := len(f.sim.Applied()); n != 30 {
			t.Errorf("%d mails quarantined, want 30", n)
		}
	})
}

// TestSameMailTwoIncidents: the same mail asked by two incidents is posted once; both runs get its outcome.
func TestSameMailTwoIncidents(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, 10*time.Millisecond)
		items := f.mails(t, 2, cecp.MailQuarantine)
		ctx := context.Background()
		enqueue(t, f, request("run-a", items...))
		enqueue(t, f, request("run-b", items[1]))
		var ra, rb mitigation.Result
		var ea, eb error
		var wg sync.WaitGroup
		wg.Go(func() { ra, ea = f.svc.Mitigate(ctx, f.conn, request("run-a", items...), nil) })
		wg.Go(func() { rb, eb = f.svc.Mitigate(ctx, f.conn, request("run-b", items[1]), nil) })
		wg.Wait()
		if ea != nil || eb != nil || ra.Succeeded != 2 || rb.Succeeded != 1 || len(rb.Actions) != 1 || rb.Actions[0].MailUniqueID != items[1].Mail.MailUniqueID {
			t.Fatalf("a %+v %v\nb %+v %v", ra, ea, rb, eb)
		}
		if n := len(f.sim.Applied()); n != 2 || f.rec.count("POST /v1/mitigation/mails") != 1 {
			t.Errorf("%d applied in %d POSTs", n, f.rec.count("POST /v1/mitigation/mails"))
		}
		// A third incident later joins the succeeded item instead of posting it again.
		rc, err := f.svc.Mitigate(ctx, f.conn, request("run-c", items[0]), nil)
		if err != nil || rc.Succeeded != 1 || f.rec.count("POST /v1/mitigation/mails") != 1 {
			t.Errorf("c %+v %v, %d POSTs", rc, err, f.rec.count("POST /v1/mitigation/mails"))
		}
	})
}

// TestFairFlush: a campaign of 25 mails and five single-mail incidents, queued together: the first batch of 10
// takes each incident's mail before more of the campaign's, and response work goes before background work.
func TestFairFlush(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, time.Hour)
		items := f.mails(t, 32, cecp.MailQuarantine)
		bg := request("poller", items[30], items[31])
		bg.Priority = quota.Background
		enqueue(t, f, bg)
		enqueue(t, f, request("campaign", items[:25]...))
		for i := range 5 {
			enqueue(t, f, request(fmt.Sprintf("single-%d", i), items[25+i]))
		}
		q, err := f.st.QueuedMitigations(context.Background(), "sim", mitigation.Mails, 10)
		if err != nil {
			t.Fatal(err)
		}
		var owners []string
		for _, it := range q {
			owners = append(owners, it.Owner)
		}
		slices.Sort(owners)
		want := []string{"campaign", "campaign", "campaign", "campaign", "campaign", "single-0", "single-1", "single-2", "single-3", "single-4"}
		if !slices.Equal(owners, want) {
			t.Errorf("first batch owners %v, want %v", owners, want)
		}
		all, _ := f.st.QueuedMitigations(context.Background(), "sim", mitigation.Mails, 100)
		if last := all[len(all)-1]; last.Owner != "poller" || all[len(all)-2].Owner != "poller" {
			t.Errorf("background items are not last: %v", last)
		}
	})
}

// TestLingerFlushesAPartialBatch: a lone mail goes out once the linger has passed, without a full batch.
func TestLingerFlushesAPartialBatch(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, time.Millisecond)
		items := f.mails(t, 1, cecp.MailQuarantine)
		r, err := f.svc.Mitigate(context.Background(), f.conn, request("lone", items...), nil)
		if err != nil || r.Succeeded != 1 || f.rec.count("POST /v1/mitigation/mails") != 1 {
			t.Fatalf("%+v %v", r, err)
		}
	})
}

// TestProgressWhileWaitingForABatch: a step whose mail waits for its batch to fill says so (1 of 2, flushing
// within the linger); the next incident's mail fills the batch and both go out in one POST.
func TestProgressWhileWaitingForABatch(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(2, time.Hour)
		items := f.mails(t, 2, cecp.MailQuarantine)
		ctx := context.Background()
		waiting := make(chan mitigation.Progress, 1)
		var wg sync.WaitGroup
		var ra mitigation.Result
		var ea error
		wg.Go(func() {
			ra, ea = f.svc.Mitigate(ctx, f.conn, request("first", items[0]), func(p mitigation.Progress) {
				if p.Flusher && p.BatchFill == 1 {
					select {
					case waiting <- p:
					default:
					}
				}
			})
		})
		p := <-waiting
		if p.Queued != 1 || p.BatchSize != 2 || p.FlushIn <= 59*time.Minute || p.FlushIn > time.Hour {
			t.Errorf("progress %+v: want 1 of 2, flushing within the hour", p)
		}
		// What run show reads on any server: the same, from the queue and the flusher's recorded state.
		q, ok, err := mitigation.StepProgress(ctx, f.st, "first", "quarantine", time.Now())
		if err != nil || !ok || q.Total != 1 || q.Queued != 1 || q.BatchFill != 1 || q.BatchSize != 2 || q.FlushIn <= 58*time.Minute || q.FlushIn > time.Hour {
			t.Errorf("progress from the queue %+v %v %v: want 1 of 2, flushing within the hour", q, ok, err)
		}
		rb, eb := f.svc.Mitigate(ctx, f.conn, request("second", items[1]), nil)
		wg.Wait()
		if ea != nil || eb != nil || ra.Succeeded != 1 || rb.Succeeded != 1 || f.rec.count("POST /v1/mitigation/mails") != 1 {
			t.Fatalf("%+v %v / %+v %v, %d POSTs", ra, ea, rb, eb, f.rec.count("POST /v1/mitigation/mails"))
		}
	})
}

// TestRefusedPostFailsItsSteps: a POST the vendor refuses (400) fails the steps whose items it carried, with
// the vendor's message, and is not retried.
func TestRefusedPostFailsItsSteps(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, 10*time.Millisecond)
		items := f.mails(t, 2, cecp.MailQuarantine)
		f.rec.fail = func(r *http.Request) int {
			if r.Method == http.MethodPost {
				return http.StatusBadRequest
			}
			return 0
		}
		_, err := f.svc.Mitigate(context.Background(), f.conn, request("r", items...), nil)
		var me *mitigation.Error
		if !asError(err, &me) || me.Type != "VendorRejected" || !strings.Contains(me.Msg, "HTTP 400") {
			t.Fatalf("error %v", err)
		}
		if n := f.rec.count("POST /v1/mitigation/mails"); n != 1 {
			t.Errorf("%d POSTs", n)
		}
	})
}

// TestGivesUpWhenItsTimeRunsOut: a vendor whose result queries keep failing leaves the step waiting until its
// context ends; the error says what it waited for and how the vendor failed.
func TestGivesUpWhenItsTimeRunsOut(t *testing.T) {
	f := newFixture(t, memstore.New(), 10, 10*time.Millisecond)
	items := f.mails(t, 1, cecp.MailQuarantine)
	var refused atomic.Int32
	f.rec.fail = func(r *http.Request) int {
		if r.Method == http.MethodGet {
			refused.Add(1)
			return http.StatusServiceUnavailable
		}
		return 0
	}
	// The step's time runs out in the first wait after the vendor refused a poll (a deadline would make the
	// test depend on the machine's speed: a slow one could run out before the batch is posted).
	f.svc.Sleep = func(ctx context.Context, d time.Duration) error {
		if refused.Load() > 0 {
			return context.DeadlineExceeded
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	_, err := f.svc.Mitigate(context.Background(), f.conn, request("r", items...), nil)
	if err == nil || !strings.Contains(err.Error(), `waiting for 1 mails on connection "sim" (1 posted, 0 done): context deadline exceeded`) ||
		!strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("error %v", err)
	}
}

// TestFlusherHandsOver: when the flusher's own step is done, a step still waiting takes the flush over.
func TestFlusherHandsOver(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(1, 10*time.Millisecond)
		items := f.mails(t, 3, cecp.MailQuarantine)
		ctx := context.Background()
		enqueue(t, f, request("first", items[0]))
		enqueue(t, f, request("second", items[1], items[2]))
		var wg sync.WaitGroup
		var errs [2]error
		wg.Go(func() { _, errs[0] = f.svc.Mitigate(ctx, f.conn, request("first", items[0]), nil) })
		wg.Go(func() { _, errs[1] = f.svc.Mitigate(ctx, f.conn, request("second", items[1], items[2]), nil) })
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || len(f.sim.Applied()) != 3 || f.rec.count("POST /v1/mitigation/mails") != 3 {
			t.Fatalf("%v, %d applied", errs, len(f.sim.Applied()))
		}
	})
}

// TestNoWaitThenWait: a step that first returned once its mails were posted, asked again with wait, gets their
// outcomes (its items are polled from then on) without a second POST.
func TestNoWaitThenWait(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, time.Millisecond)
		items := f.mails(t, 3, cecp.MailQuarantine)
		req := request("r", items...)
		req.Wait = false
		first, err := f.svc.Mitigate(context.Background(), f.conn, req, nil)
		if err != nil || first.Pending != 3 || len(first.BatchIDs) != 1 {
			t.Fatalf("without wait: %+v %v", first, err)
		}
		req.Wait = true
		second, err := f.svc.Mitigate(context.Background(), f.conn, req, nil)
		if err != nil || second.Succeeded != 3 || f.rec.count("POST /v1/mitigation/mails") != 1 {
			t.Fatalf("with wait: %+v %v, %d POSTs", second, err, f.rec.count("POST /v1/mitigation/mails"))
		}
	})
}

// TestBrokerLoop: with the process's broker loop running, the waiting steps only wait; the loop packs their
// mails into full batches, reads the outcomes with one window query, and stops flushing when nothing is left.
func TestBrokerLoop(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(10, time.Hour)
		items := f.mails(t, 30, cecp.MailQuarantine)
		ctx, cancel := context.WithCancel(context.Background())
		loop := make(chan error, 1)
		go func() { loop <- f.svc.Run(ctx) }()
		for i, it := range items {
			enqueue(t, f, request(fmt.Sprintf("run-%02d", i), it))
		}
		var wg sync.WaitGroup
		errs := make([]error, len(items))
		for i, it := range items {
			wg.Go(func() { _, errs[i] = f.svc.Mitigate(ctx, f.conn, request(fmt.Sprintf("run-%02d", i), it), nil) })
		}
		wg.Wait()
		cancel()
		if err := <-loop; err != nil {
			t.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := f.rec.count("POST /v1/mitigation/mails"); got != 3 {
			t.Errorf("%d POSTs, want 3", got)
		}
		if got := f.rec.count("GET /v1/mitigation/mails by window"); got != 1 {
			t.Errorf("%d window queries, want 1", got)
		}
	})
}

// TestBatchSpanLinksTheRuns: with a tracer, the POST of a batch that carries two runs' mails is one span
// linked to each run's span (the runs' traces stay theirs: a batch belongs to none of them).
func TestBatchSpanLinksTheRuns(t *testing.T) {
	each(t, func(t *testing.T, newFixture func(int, time.Duration) *fixture) {
		f := newFixture(2, time.Hour) // a batch of two goes as soon as both are queued
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		f.svc.Tracer = tp.Tracer("test")
		items := f.mails(t, 2, cecp.MailQuarantine)
		want := map[trace.SpanID]bool{}
		errs := make([]error, len(items))
		var wg sync.WaitGroup
		for i, it := range items {
			ctx, span := tp.Tracer("run").Start(context.Background(), fmt.Sprintf("run-%d step", i))
			want[span.SpanContext().SpanID()] = true
			wg.Go(func() {
				defer span.End()
				_, errs[i] = f.svc.Mitigate(ctx, f.conn, request(fmt.Sprintf("run-%d", i), it), nil)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		var batches []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == "mitigation batch" {
				batches = append(batches, s)
			}
		}
		if len(batches) != 1 {
			t.Fatalf("%d batch spans, want 1", len(batches))
		}
		got := map[trace.SpanID]bool{}
		for _, l := range batches[0].Links() {
			got[l.SpanContext.SpanID()] = true
		}
		if len(got) != 2 || !maps.Equal(got, want) {
			t.Errorf("the batch links %v, want the two runs' spans %v", got, want)
		}
		if batches[0].Parent().IsValid() {
			t.Error("the batch span has a parent run")
		}
	})
}
