package cecp

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/quota"
)

func memoryLimiter(t *testing.T, l quota.Limit, now func() time.Time) *quota.Memory {
	t.Helper()
	m, err := quota.NewMemory(quota.Options{Default: l, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func okVendor(t *testing.T) *vendor {
	return newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 200, []byte(`{"next_link":"","value":[]}`))
	})
}

func TestQuotaRefusal(t *testing.T) {
	t.Parallel()
	v := okVendor(t)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lim := memoryLimiter(t, quota.Limit{Requests: 1, Window: time.Minute}, func() time.Time { return clock })
	c := newTestClient(t, v, func(o *Options) { o.Limiter, o.QuotaKey = lim, "tenant-a" })
	ctx := context.Background()
	if _, err := c.SweepPages(SweepQuery{}).Next(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.SweepPages(SweepQuery{}).Next(ctx)
	e := asError(t, err)
	if e.Error() != `GET /v1/sweeping/mails: rate limited by the local quota (connection "tenant-a"); a slot frees in 1m0s` ||
		kinds(e) != "ratelimited,transient" || e.RetryAfter != time.Minute || e.Status != 0 {
		t.Errorf("%v (%s, retry %s)", e, kinds(e), e.RetryAfter)
	}
	if n := len(v.requests()); n != 1 {
		t.Errorf("%d requests reached the vendor", n)
	}
}

func TestQuotaClassFromContext(t *testing.T) {
	t.Parallel()
	v := okVendor(t)
	lim := memoryLimiter(t, quota.Limit{Requests: 2, Window: time.Hour, Reserve: 1}, nil)
	c := newTestClient(t, v, func(o *Options) { o.Limiter = lim })
	bg := quota.WithClass(context.Background(), quota.Background)
	if _, err := c.SweepPages(SweepQuery{}).Next(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SweepPages(SweepQuery{}).Next(bg); err == nil || !asError(t, err).RateLimited() {
		t.Fatalf("background took the reserve: %v", err)
	}
	if _, err := c.SweepPages(SweepQuery{}).Next(context.Background()); err != nil {
		t.Fatalf("response work refused its reserve: %v", err)
	}
}

func TestQuotaWait(t *testing.T) {
	t.Parallel()
	v := okVendor(t)
	lim := memoryLimiter(t, quota.Limit{Requests: 1, Window: 150 * time.Millisecond}, nil)
	var mu sync.Mutex
	var waits []time.Duration
	c := newTestClient(t, v, func(o *Options) {
		o.Limiter, o.WaitForQuota = lim, true
		o.OnQuotaWait = func(d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() }
	})
	start := time.Now()
	for range 2 {
		if _, err := c.SweepPages(SweepQuery{}).Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("the second request did not wait (%s)", el)
	}
	if len(waits) != 1 || waits[0] <= 0 || waits[0] > 150*time.Millisecond {
		t.Errorf("waits %v", waits)
	}
	// A cancelled wait ends with the context's error, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	lim2 := memoryLimiter(t, quota.Limit{Requests: 1, Window: time.Hour}, nil)
	c2 := newTestClient(t, v, func(o *Options) { o.Limiter, o.WaitForQuota = lim2, true })
	_, _ = c2.SweepPages(SweepQuery{}).Next(context.Background())
	if _, err := c2.SweepPages(SweepQuery{}).Next(ctx); err == nil || ctx.Err() == nil {
		t.Errorf("cancelled wait: %v", err)
	}
}

// TestBoundedQuotaWait: with WithQuotaWaiting a short wait for a slot is slept (and told first),
// while a wait that is too long, or that would not leave a whole request before the deadline, fails at once.
func TestBoundedQuotaWait(t *testing.T) {
	t.Parallel()
	v := okVendor(t)
	// The limiter's clock moves only when the hook is told of a wait: the second request always waits, once,
	// whatever the machine's load.
	var mu sync.Mutex
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	lim := memoryLimiter(t, quota.Limit{Requests: 1, Window: 50 * time.Millisecond}, now)
	c := newTestClient(t, v, func(o *Options) { o.Limiter, o.QuotaKey, o.Timeout = lim, "tenant-a", time.Second })
	var told []string
	ctx := WithQuotaWaiting(context.Background(), time.Second, func(key string, wait time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if wait <= 0 || wait > 50*time.Millisecond {
			t.Errorf("told a wait of %s", wait)
		}
		told = append(told, key)
		clock = clock.Add(wait)
	})
	for i := range 2 {
		if _, err := c.SweepPages(SweepQuery{}).Next(ctx); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if len(told) != 1 || told[0] != "tenant-a" {
		t.Errorf("hook told %v, want one wait of tenant-a", told)
	}

	long := memoryLimiter(t, quota.Limit{Requests: 1, Window: time.Hour}, nil)
	c2 := newTestClient(t, v, func(o *Options) { o.Limiter = long })
	wctx := WithQuotaWaiting(context.Background(), time.Second, nil)
	if _, err := c2.SweepPages(SweepQuery{}).Next(wctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.SweepPages(SweepQuery{}).Next(wctx); err == nil || !asError(t, err).RateLimited() {
		t.Fatalf("a wait of an hour, over the bound: %v", err)
	}

	short := memoryLimiter(t, quota.Limit{Requests: 1, Window: time.Minute}, now)
	c3 := newTestClient(t, v, func(o *Options) { o.Limiter, o.Timeout = short, time.Hour })
	if _, err := c3.SweepPages(SweepQuery{}).Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(WithQuotaWaiting(context.Background(), time.Hour, nil), 30*time.Minute) // < wait + a request
	defer cancel()
	if _, err := c3.SweepPages(SweepQuery{}).Next(dctx); err == nil || !asError(t, err).RateLimited() {
		t.Fatalf("a wait that leaves no time for the request before the deadline: %v", err)
	}
}

// TestVendor429BlocksLimiter: a vendor 429 closes the window for every caller of the connection, until
// Retry-After when given, else until the window resets.
func TestVendor429BlocksLimiter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		retryAfter string
		status     int
		min, max   time.Duration
	}{
		{"retry-after", "7", 429, 6 * time.Second, 7 * time.Second},
		{"window reset", "", 429, 59 * time.Second, time.Minute},
		{"200 with -4290001", "", 200, 59 * time.Second, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				reply(w, tc.status, fixture(t, "error_429.json", ""))
			})
			lim := memoryLimiter(t, quota.Limit{Requests: 20, Window: time.Minute}, nil)
			c := newTestClient(t, v, func(o *Options) { o.Limiter, o.QuotaKey = lim, "k" })
			_, err := c.SweepPages(SweepQuery{}).Next(context.Background())
			if !asError(t, err).RateLimited() {
				t.Fatal(err)
			}
			wait, err := lim.Take(context.Background(), "k")
			if err != nil || wait < tc.min || wait > tc.max {
				t.Errorf("limiter wait %s (%v), want %s..%s", wait, err, tc.min, tc.max)
			}
			// Other callers of the connection are refused without reaching the vendor.
			c2 := newTestClient(t, v, func(o *Options) { o.Limiter, o.QuotaKey = lim, "k" })
			_, err = c2.SweepPages(SweepQuery{}).Next(context.Background())
			if e := asError(t, err); !e.RateLimited() || e.Status != 0 {
				t.Errorf("second caller: %v", e)
			}
			if n := len(v.requests()); n != 1 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

// TestWaitRetriesAfter429: a caller that waits for quota (the CLI) sends again once the vendor's window
// reopens, instead of failing.
func TestWaitRetriesAfter429(t *testing.T) {
	t.Parallel()
	n := 0
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		n++
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			reply(w, 429, fixture(t, "error_429.json", ""))
			return
		}
		reply(w, 201, fixture(t, "mitigation_created.json", ""))
	})
	lim := memoryLimiter(t, quota.DefaultLimit(), nil)
	var waited []time.Duration
	c := newTestClient(t, v, func(o *Options) {
		o.Limiter, o.WaitForQuota = lim, true
		o.OnQuotaWait = func(d time.Duration) { waited = append(waited, d) }
	})
	res, err := c.MitigateAccounts(context.Background(), []AccountAction{{ActionType: AccountDisable, AccountUserEmail: "a@b.example"}})
	if err != nil || res.BatchID == "" {
		t.Fatal(res, err)
	}
	if len(v.requests()) != 2 || len(waited) != 1 || waited[0] <= 0 || waited[0] > time.Second {
		t.Errorf("%d requests, waits %v", len(v.requests()), waited)
	}
}
