package quota

import (
	"context"
	"time"
)

// Windows keeps the fixed windows of a cluster-wide limiter: *store.Store keeps them in PostgreSQL, shared by
// every parry process, on the database's clock.
type Windows interface {
	// TakeQuotaSlot takes one slot of key's window (window long, granting slots in its first grants,
	// capacity slots for the caller's class): 0 when taken, else how long until the caller may try again.
	TakeQuotaSlot(ctx context.Context, key string, window, grants time.Duration, capacity int) (time.Duration, error)
	// BlockQuota closes key's window until until, or (zero until) until its current window ends.
	BlockQuota(ctx context.Context, key string, until time.Time, window time.Duration) error
}

// Shared is the cluster-wide Limiter: every worker process counts against the same window per key, so no
// window ever grants more than its limit, whichever process asks.
type Shared struct {
	windows Windows
	opts    Options
}

// NewShared returns a limiter over windows.
func NewShared(windows Windows, opts Options) (*Shared, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Shared{windows: windows, opts: opts}, nil
}

// Limit returns the limit that applies to key.
func (p *Shared) Limit(key string) Limit { return p.opts.limit(key) }

// Take implements Limiter.
func (p *Shared) Take(ctx context.Context, key string) (time.Duration, error) {
	l := p.opts.limit(key)
	return p.windows.TakeQuotaSlot(ctx, key, l.span(), l.grants(), l.capacity(ClassFrom(ctx)))
}

// Block implements Limiter.
func (p *Shared) Block(ctx context.Context, key string, until time.Time) error {
	return p.windows.BlockQuota(ctx, key, until, p.opts.limit(key).span())
}
