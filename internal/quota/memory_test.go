package quota

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/config"
)

// clock is a manual clock for the in-process limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newMemory(t *testing.T, l Limit, c *clock) *Memory {
	t.Helper()
	m, err := NewMemory(Options{Default: l, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func take(t *testing.T, l Limiter, ctx context.Context, key string) time.Duration {
	t.Helper()
	w, err := l.Take(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestMemoryFixedWindow(t *testing.T) {
	c := newClock()
	m := newMemory(t, Limit{Requests: 3, Window: time.Minute, Reserve: 1}, c)
	ctx := context.Background()
	for i := range 3 {
		if w := take(t, m, ctx, "a"); w != 0 {
			t.Fatalf("take %d refused with %s", i, w)
		}
		c.Add(10 * time.Second)
	}
	// The window opened 30s ago by the first request: 30s left.
	if w := take(t, m, ctx, "a"); w != 30*time.Second {
		t.Fatalf("full window: wait %s, want 30s", w)
	}
	// Another key has its own window.
	if w := take(t, m, ctx, "b"); w != 0 {
		t.Fatalf("key b refused with %s", w)
	}
	c.Add(30 * time.Second)
	if w := take(t, m, ctx, "a"); w != 0 {
		t.Fatalf("new window refused with %s", w)
	}
	// The new window was opened by that request, not aligned to the old one.
	c.Add(59 * time.Second)
	take(t, m, ctx, "a")
	take(t, m, ctx, "a")
	if w := take(t, m, ctx, "a"); w != time.Second {
		t.Fatalf("second window: wait %s, want 1s", w)
	}
}

func TestMemoryBackgroundReserve(t *testing.T) {
	c := newClock()
	m := newMemory(t, Limit{Requests: 4, Window: time.Minute, Reserve: 2}, c)
	bg := WithClass(context.Background(), Background)
	resp := context.Background()
	if w1, w2 := take(t, m, bg, "k"), take(t, m, bg, "k"); w1 != 0 || w2 != 0 {
		t.Fatal("background refused inside its share")
	}
	if w := take(t, m, bg, "k"); w != time.Minute {
		t.Fatalf("background took the reserve (wait %s)", w)
	}
	if w1, w2 := take(t, m, resp, "k"), take(t, m, resp, "k"); w1 != 0 || w2 != 0 {
		t.Fatal("response refused its reserve")
	}
	if w := take(t, m, resp, "k"); w != time.Minute {
		t.Fatalf("response went over the limit (wait %s)", w)
	}
	// Response work may use every slot, and then background gets nothing.
	c.Add(time.Minute)
	for range 4 {
		if take(t, m, resp, "k") != 0 {
			t.Fatal("response refused")
		}
	}
	if take(t, m, bg, "k") == 0 {
		t.Fatal("background got a slot of a full window")
	}
}

func TestMemoryBlock(t *testing.T) {
	ctx := context.Background()
	l := Limit{Requests: 3, Window: time.Minute, Reserve: 0}
	t.Run("until", func(t *testing.T) {
		c := newClock()
		m := newMemory(t, l, c)
		take(t, m, ctx, "k")
		if err := m.Block(ctx, "k", c.Now().Add(90*time.Second)); err != nil {
			t.Fatal(err)
		}
		if w := take(t, m, ctx, "k"); w != 90*time.Second {
			t.Fatalf("blocked: wait %s, want 90s", w)
		}
		// A shorter block never shortens a longer one.
		_ = m.Block(ctx, "k", c.Now().Add(time.Second))
		if w := take(t, m, ctx, "k"); w != 90*time.Second {
			t.Fatalf("after shorter block: wait %s, want 90s", w)
		}
		c.Add(90 * time.Second)
		// The block is over and the vendor's window reset during it: a fresh window of 3.
		for i := range 3 {
			if w := take(t, m, ctx, "k"); w != 0 {
				t.Fatalf("after block, take %d refused with %s", i, w)
			}
		}
	})
	t.Run("until window reset", func(t *testing.T) {
		c := newClock()
		m := newMemory(t, l, c)
		take(t, m, ctx, "k")
		c.Add(20 * time.Second)
		if err := m.Block(ctx, "k", time.Time{}); err != nil {
			t.Fatal(err)
		}
		if w := take(t, m, ctx, "k"); w != 40*time.Second {
			t.Fatalf("blocked: wait %s, want the 40s left of the window", w)
		}
		c.Add(40 * time.Second)
		if w := take(t, m, ctx, "k"); w != 0 {
			t.Fatalf("after reset: wait %s", w)
		}
	})
	t.Run("no window open", func(t *testing.T) {
		c := newClock()
		m := newMemory(t, l, c)
		_ = m.Block(ctx, "k", time.Time{})
		if w := take(t, m, ctx, "k"); w != time.Minute {
			t.Fatalf("blocked: wait %s, want a whole window", w)
		}
	})
	t.Run("expired window", func(t *testing.T) {
		c := newClock()
		m := newMemory(t, l, c)
		take(t, m, ctx, "k")
		c.Add(5 * time.Minute)
		_ = m.Block(ctx, "k", time.Time{})
		if w := take(t, m, ctx, "k"); w != time.Minute {
			t.Fatalf("blocked: wait %s, want a whole window", w)
		}
	})
}

// TestMemoryConcurrent checks that many goroutines never get more than N slots of one window, and that
// background callers hammering the limiter leave the reserve to response callers.
func TestMemoryConcurrent(t *testing.T) {
	c := newClock()
	l := Limit{Requests: 20, Window: time.Minute, Reserve: 5}
	m := newMemory(t, l, c)
	for round := range 5 {
		var granted, bgGranted, respGranted atomic.Int64
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				bg := g%4 != 0
				if bg {
					ctx = WithClass(ctx, Background)
				}
				for range 10 {
					w, err := m.Take(ctx, "k")
					if err != nil {
						t.Error(err)
						return
					}
					if w == 0 {
						granted.Add(1)
						if bg {
							bgGranted.Add(1)
						} else {
							respGranted.Add(1)
						}
					}
				}
			}()
		}
		wg.Wait()
		if granted.Load() != 20 {
			t.Fatalf("round %d: %d slots granted, want 20", round, granted.Load())
		}
		if bgGranted.Load() > 15 {
			t.Fatalf("round %d: background took %d slots, more than 15", round, bgGranted.Load())
		}
		if respGranted.Load() < 5 {
			t.Fatalf("round %d: response got %d slots, fewer than its reserve of 5", round, respGranted.Load())
		}
		c.Add(time.Minute)
	}
}

func TestWait(t *testing.T) {
	c := newClock()
	m := newMemory(t, Limit{Requests: 1, Window: 30 * time.Millisecond}, c)
	ctx := context.Background()
	take(t, m, ctx, "k")
	var waits []time.Duration
	done := make(chan error, 1)
	go func() {
		done <- Wait(ctx, m, "k", func(w time.Duration) {
			waits = append(waits, w)
			c.Add(w) // the manual clock follows the sleep
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
	}
	if len(waits) != 1 || waits[0] != 30*time.Millisecond {
		t.Fatalf("waits %v, want [30ms]", waits)
	}

	cctx, cancel := context.WithCancel(ctx)
	m2 := newMemory(t, Limit{Requests: 1, Window: time.Hour}, c)
	take(t, m2, ctx, "k")
	cancel()
	if err := Wait(cctx, m2, "k", nil); err != context.Canceled {
		t.Fatalf("cancelled Wait: %v", err)
	}
}

func TestLimitFor(t *testing.T) {
	for _, tc := range []struct {
		conn config.CECPConnection
		want Limit
		err  string
	}{
		{config.CECPConnection{Name: "a"}, Limit{20, time.Minute, 4, time.Second}, ""},
		{config.CECPConnection{Name: "a", RateLimit: "100/1h"}, Limit{100, time.Hour, 20, time.Second}, ""},
		{config.CECPConnection{Name: "a", RateLimit: "20/1m", BackgroundReserve: 2}, Limit{20, time.Minute, 2, time.Second}, ""},
		{config.CECPConnection{Name: "a", RateLimit: "3/1s"}, Limit{3, time.Second, 0, time.Second / 60}, ""},
		{config.CECPConnection{Name: "a", RateLimit: "5/1m", BackgroundReserve: 5}, Limit{}, `reading quota of connection "a": quota limit 5/1m0s: reserve 5 must be at least 0 and less than the requests per window`},
		{config.CECPConnection{Name: "a", RateLimit: "x"}, Limit{}, `reading quota of connection "a": rate "x" is not N/DURATION (like 20/1m)`},
	} {
		got, err := LimitFor(tc.conn)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%+v: error %v, want %q", tc.conn, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %v, %v; want %v", tc.conn, got, err, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	o, err := Limits([]config.CECPConnection{{Name: "a", RateLimit: "10/1m"}, {Name: "b"},
		{Name: "c", RateLimit: "20/6s"}, {Name: "d", RateLimitMargin: -time.Second}, {Name: "e", RateLimitMargin: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]Limit{
		"a": {10, time.Minute, 2, time.Second}, // 10/5, the default margin
		"c": {20, 6 * time.Second, 4, 100 * time.Millisecond},
		"d": {20, time.Minute, 4, 0},
		"e": {20, time.Minute, 4, 3 * time.Second},
	} {
		if got := o.limit(key); got != want {
			t.Errorf("%s: %v, want %v", key, got, want)
		}
	}
	if got := o.limit("zzz"); got != DefaultLimit() {
		t.Errorf("unknown key: %v", got)
	}
	if _, err := NewMemory(Options{Keys: map[string]Limit{"x": {Requests: 0, Window: time.Second}}}); err == nil || !strings.Contains(err.Error(), `limit of "x"`) {
		t.Errorf("bad limit accepted: %v", err)
	}
	if (Options{}).limit("k") != DefaultLimit() {
		t.Error("zero options do not default")
	}
	if Background.String() != "background" || ClassFrom(context.Background()) != Response {
		t.Error("class defaults")
	}
}

// TestMarginOutlastsTheVendorWindow: the vendor's window opens when the first request arrives there, after
// parry granted its slot; parry's window lasts Margin longer, so its next window never opens into a vendor
// window that is still full.
func TestMarginOutlastsTheVendorWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := Limit{Requests: 2, Window: time.Minute, Margin: time.Second}
	m, err := NewMemory(Options{Default: l, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if w, _ := m.Take(ctx, "k"); w != 0 {
			t.Fatal("refused a slot of a fresh window")
		}
	}
	now = now.Add(time.Minute) // the vendor's window (opened 200 ms later) has 200 ms to go
	if w, _ := m.Take(ctx, "k"); w != time.Second {
		t.Errorf("at the vendor's window length: wait %s, want the margin", w)
	}
	now = now.Add(time.Second)
	if w, _ := m.Take(ctx, "k"); w != 0 {
		t.Errorf("after the margin: wait %s", w)
	}
	// The end of a window is guarded too: a slot granted in the last margin could reach the vendor after its
	// window ended and count in the next one, which parry then fills again. Such a slot waits for the next window.
	l = Limit{Requests: 5, Window: time.Minute, Margin: time.Second}
	m, _ = NewMemory(Options{Default: l, Now: func() time.Time { return now }})
	if w, _ := m.Take(ctx, "tail"); w != 0 {
		t.Fatal("refused a slot of a fresh window")
	}
	now = now.Add(59*time.Second - time.Millisecond)
	if w, _ := m.Take(ctx, "tail"); w != 0 {
		t.Errorf("a millisecond before the last margin: wait %s", w)
	}
	now = now.Add(time.Millisecond)
	if w, _ := m.Take(ctx, "tail"); w != 2*time.Second {
		t.Errorf("in the last margin, with 3 slots left: wait %s, want 2s (the margin left of the window, and one after)", w)
	}
	now = now.Add(2 * time.Second)
	if w, _ := m.Take(ctx, "tail"); w != 0 {
		t.Errorf("the next window: wait %s", w)
	}
	if err := (Limit{Requests: 2, Window: time.Second, Margin: time.Second}).Validate(); err == nil {
		t.Error("a margin as long as the window was accepted")
	}
}
