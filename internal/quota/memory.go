package quota

import (
	"context"
	"sync"
	"time"
)

// window is the state of one key, shared by both limiters: a fixed window opened by its first request, the
// slots used in it, and a block set after a vendor 429. A window opened before a block ended is stale once the
// block is over, because the vendor's window reset during the block.
type window struct {
	start        time.Time
	used         int
	blockedUntil time.Time
}

func (w *window) take(now time.Time, l Limit, c Class) time.Duration {
	if now.Before(w.blockedUntil) {
		return w.blockedUntil.Sub(now)
	}
	if w.start.IsZero() || !now.Before(w.start.Add(l.span())) || w.start.Before(w.blockedUntil) {
		w.start, w.used = now, 0
	}
	if w.used < l.capacity(c) && now.Before(w.start.Add(l.grants())) {
		w.used++
		return 0
	}
	return w.start.Add(l.span()).Sub(now)
}

func (w *window) block(now time.Time, l Limit, until time.Time) {
	if until.IsZero() {
		active := !w.start.IsZero() && now.Before(w.start.Add(l.span())) && !w.start.Before(w.blockedUntil)
		if active {
			until = w.start.Add(l.span())
		} else {
			until = now.Add(l.span())
		}
	}
	if until.After(w.blockedUntil) {
		w.blockedUntil = until
	}
}

// Memory is an in-process Limiter: right for one process (the CLI, tests), wrong for a cluster of workers,
// which must share the Postgres one.
type Memory struct {
	opts Options
	now  func() time.Time

	mu   sync.Mutex
	keys map[string]*window
}

// NewMemory returns an in-process limiter.
func NewMemory(opts Options) (*Memory, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Memory{opts: opts, now: now, keys: map[string]*window{}}, nil
}

// Limit returns the limit that applies to key.
func (m *Memory) Limit(key string) Limit { return m.opts.limit(key) }

// Take implements Limiter.
func (m *Memory) Take(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state(key).take(m.now(), m.opts.limit(key), ClassFrom(ctx)), nil
}

// Block implements Limiter.
func (m *Memory) Block(ctx context.Context, key string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state(key).block(m.now(), m.opts.limit(key), until)
	return nil
}

func (m *Memory) state(key string) *window {
	w := m.keys[key]
	if w == nil {
		w = &window{}
		m.keys[key] = w
	}
	return w
}
