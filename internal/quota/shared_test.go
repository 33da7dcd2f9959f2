package quota

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// pools opens n pools on one fresh database: n "processes" sharing the quota.
func pools(t testing.TB, n int) []*pgxpool.Pool {
	t.Helper()
	url := storetest.URL(t)
	var out []*pgxpool.Pool
	for range n {
		p, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		out = append(out, p)
	}
	return out
}

func newPostgres(t testing.TB, pool *pgxpool.Pool, l Limit) *Shared {
	t.Helper()
	p, err := NewShared(store.New(pool), Options{Default: l})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPostgresConcurrent: four processes with sixteen goroutines each hammer one key; one window never grants
// more than N, background callers never take the reserve, and response callers always get it.
func TestPostgresConcurrent(t *testing.T) {
	l := Limit{Requests: 20, Window: time.Hour, Reserve: 5}
	var limiters []*Shared
	for _, p := range pools(t, 4) {
		limiters = append(limiters, newPostgres(t, p, l))
	}
	var granted, bgGranted, respGranted, refused atomic.Int64
	var wg sync.WaitGroup
	for i, lim := range limiters {
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				bg := (i+g)%3 != 0
				if bg {
					ctx = WithClass(ctx, Background)
				}
				for range 5 {
					wait, err := lim.Take(ctx, "tenant")
					if err != nil {
						t.Error(err)
						return
					}
					switch {
					case wait == 0 && bg:
						granted.Add(1)
						bgGranted.Add(1)
					case wait == 0:
						granted.Add(1)
						respGranted.Add(1)
					default:
						refused.Add(1)
						if wait > time.Hour || wait <= 0 {
							t.Errorf("wait %s outside the window", wait)
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	if granted.Load() != 20 || refused.Load() != 4*16*5-20 {
		t.Fatalf("granted %d, refused %d; want 20 granted", granted.Load(), refused.Load())
	}
	if bgGranted.Load() > 15 || respGranted.Load() < 5 {
		t.Fatalf("background %d, response %d: the reserve of 5 was not kept for response work", bgGranted.Load(), respGranted.Load())
	}
	// Another key is untouched.
	if w, err := limiters[0].Take(context.Background(), "other"); err != nil || w != 0 {
		t.Fatalf("other key: %s %v", w, err)
	}
}

func TestPostgresWindow(t *testing.T) {
	pool := pools(t, 1)[0]
	p := newPostgres(t, pool, Limit{Requests: 2, Window: time.Minute, Reserve: 1})
	ctx := context.Background()
	bg := WithClass(ctx, Background)
	if w, err := p.Take(bg, "k"); w != 0 || err != nil {
		t.Fatalf("first background take: %s %v", w, err)
	}
	if w, err := p.Take(bg, "k"); w <= 0 || w > time.Minute || err != nil {
		t.Fatalf("background took the reserve: %s %v", w, err)
	}
	if w, err := p.Take(ctx, "k"); w != 0 || err != nil {
		t.Fatalf("response refused its reserve: %s %v", w, err)
	}
	w, err := p.Take(ctx, "k")
	if w <= 0 || w > time.Minute || err != nil {
		t.Fatalf("full window: %s %v", w, err)
	}
	storetest.AgeQuota(t, pool, "k", time.Minute) // the window is over
	if w, err := p.Take(ctx, "k"); w != 0 || err != nil {
		t.Fatalf("new window: %s %v", w, err)
	}
}

// TestPostgresWindowTail: no slot is granted in the last margin of a window (it could reach the vendor in
// its next window); the caller waits until the next window opens, a margin after the vendor's ends.
func TestPostgresWindowTail(t *testing.T) {
	pool := pools(t, 1)[0]
	// A wide margin, so that the time the statements themselves take (on a loaded machine) decides nothing.
	p := newPostgres(t, pool, Limit{Requests: 5, Window: time.Minute, Margin: 10 * time.Second})
	ctx := context.Background()
	if w, err := p.Take(ctx, "k"); w != 0 || err != nil {
		t.Fatalf("first take: %s %v", w, err)
	}
	storetest.AgeQuota(t, pool, "k", 45*time.Second)
	if w, err := p.Take(ctx, "k"); w != 0 || err != nil {
		t.Fatalf("15 s before the window ends: %s %v", w, err)
	}
	storetest.AgeQuota(t, pool, "k", 10*time.Second) // 5 s of the vendor's window left: its last margin
	w, err := p.Take(ctx, "k")
	if err != nil || w <= 10*time.Second || w > 15*time.Second {
		t.Fatalf("in the last margin: wait %s %v, want the 15 s until the next window", w, err)
	}
	storetest.AgeQuota(t, pool, "k", 15*time.Second)
	if w, err := p.Take(ctx, "k"); w != 0 || err != nil {
		t.Fatalf("the next window: %s %v", w, err)
	}
}

func TestPostgresBlock(t *testing.T) {
	pool := pools(t, 1)[0]
	ctx := context.Background()
	t.Run("until", func(t *testing.T) {
		p := newPostgres(t, pool, Limit{Requests: 5, Window: time.Minute})
		if err := p.Block(ctx, "a", time.Now().Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		w, err := p.Take(ctx, "a")
		if err != nil || w <= 0 || w > 30*time.Second {
			t.Fatalf("blocked: %s %v", w, err)
		}
		// A shorter block does not shorten it.
		_ = p.Block(ctx, "a", time.Now().Add(time.Millisecond))
		if w2, _ := p.Take(ctx, "a"); w2 <= 0 {
			t.Fatalf("shorter block shortened the first: %s", w2)
		}
		storetest.AgeQuota(t, pool, "a", 30*time.Second) // the block is over
		for i := range 5 {
			if w, err := p.Take(ctx, "a"); w != 0 || err != nil {
				t.Fatalf("after the block, take %d: %s %v", i, w, err)
			}
		}
	})
	t.Run("until window reset", func(t *testing.T) {
		p := newPostgres(t, pool, Limit{Requests: 5, Window: time.Minute})
		if w, err := p.Take(ctx, "b"); w != 0 || err != nil {
			t.Fatal(w, err)
		}
		if err := p.Block(ctx, "b", time.Time{}); err != nil {
			t.Fatal(err)
		}
		w, err := p.Take(ctx, "b")
		if err != nil || w <= 0 || w > time.Minute {
			t.Fatalf("blocked until the window ends: %s %v", w, err)
		}
		storetest.AgeQuota(t, pool, "b", time.Minute) // the window, and the block with it, are over
		if w, err := p.Take(ctx, "b"); w != 0 || err != nil {
			t.Fatalf("after reset: %s %v", w, err)
		}
	})
	t.Run("no window", func(t *testing.T) {
		p := newPostgres(t, pool, Limit{Requests: 5, Window: time.Minute})
		if err := p.Block(ctx, "c", time.Time{}); err != nil {
			t.Fatal(err)
		}
		if w, err := p.Take(ctx, "c"); err != nil || w < 59*time.Second || w > time.Minute {
			t.Fatalf("blocked a whole window: %s %v", w, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		bad, _ := pgxpool.New(ctx, "postgres://nobody@127.0.0.1:1/x?connect_timeout=1")
		defer bad.Close()
		p := newPostgres(t, bad, DefaultLimit())
		if _, err := p.Take(ctx, "d"); err == nil {
			t.Fatal("take on a dead database succeeded")
		}
		if err := p.Block(ctx, "d", time.Time{}); err == nil {
			t.Fatal("block on a dead database succeeded")
		}
	})
}

// BenchmarkPostgresTake measures the cost of one slot (a granted take) on a local database.
func BenchmarkPostgresTake(b *testing.B) {
	p := newPostgres(b, pools(b, 1)[0], Limit{Requests: 1 << 30, Window: time.Hour})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if w, err := p.Take(ctx, "bench"); w != 0 || err != nil {
			b.Fatal(w, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "takes/s")
}

// BenchmarkPostgresTakeContended measures takes from many goroutines on one key, where they queue on its row.
func BenchmarkPostgresTakeContended(b *testing.B) {
	p := newPostgres(b, pools(b, 1)[0], Limit{Requests: 1 << 30, Window: time.Hour})
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if w, err := p.Take(ctx, "bench"); w != 0 || err != nil {
				b.Error(w, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "takes/s")
}
