// Package quota shares a vendor's request quota (CECP: 20 requests per fixed minute per customer) between every
// caller that talks to the same connection, and keeps slots for response work (runs acting on an incident) that
// background work (log polling) may not take.
//
// A limiter never sleeps: Take either takes a slot or says how long until one may free, so a Temporal activity
// can fail with that delay and be retried durably while a command-line caller may choose to wait (Wait).
package quota

import (
	"context"
	"fmt"
	"time"

	"github.com/parry-soar/parry/internal/config"
)

// Class is the priority of a request.
type Class int

const (
	// Response is work acting on an incident; it may use every slot of a window.
	Response Class = iota
	// Background is work nobody waits for (log polling); it never takes the last Reserve slots of a window.
	Background
)

func (c Class) String() string {
	switch c {
	case Response:
		return "response"
	case Background:
		return "background"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

type classKey struct{}

// WithClass returns a context whose requests are counted as class c.
func WithClass(ctx context.Context, c Class) context.Context {
	return context.WithValue(ctx, classKey{}, c)
}

// ClassFrom returns the class carried by ctx; requests without one are response work, so that forgetting to
// mark a poller costs it its priority instead of starving an incident.
func ClassFrom(ctx context.Context) Class {
	if c, ok := ctx.Value(classKey{}).(Class); ok {
		return c
	}
	return Response
}

// Limiter hands out slots of a fixed window per key (a CECP connection name). The class of the request travels
// in ctx (WithClass).
type Limiter interface {
	// Take takes one slot of key's current window. It returns 0 when the slot is taken, or how long until the
	// caller may try again when the window is full or blocked. err reports the limiter itself failing.
	Take(ctx context.Context, key string) (wait time.Duration, err error)
	// Block closes key's window for every caller until until, after the vendor answered 429. A zero until
	// closes the current window until it resets (the vendor sent no Retry-After): the rest of the window, or a
	// whole window from now when none is open.
	Block(ctx context.Context, key string, until time.Time) error
}

// Limit is the quota of one key.
type Limit struct {
	// Requests per Window.
	Requests int
	Window   time.Duration
	// Reserve is how many slots of each window background work leaves to response work.
	Reserve int
	// Margin guards both ends of parry's window against the time between granting a slot and the request
	// reaching the vendor (and the vendor's clock): slots are granted only in the first Window−Margin of a
	// window, and the next window opens Window+Margin after the first slot. The vendor's window opens when the
	// first request arrives there, up to Margin after parry granted it, so it is over when parry's next one
	// opens; and the last request parry grants reaches the vendor up to Margin later still inside it. Without
	// the margin either a new window's first requests or an old window's last one would be answered 429.
	Margin time.Duration
}

// DefaultMargin is the window margin of a connection that sets none.
const DefaultMargin = time.Second

// DefaultLimit is the vendor's documented quota, 20 requests per minute, with a fifth kept for response work.
func DefaultLimit() Limit {
	return Limit{Requests: 20, Window: time.Minute, Reserve: 4, Margin: DefaultMargin}
}

// span is how long parry keeps one window: the vendor's window and the margin.
func (l Limit) span() time.Duration { return l.Window + l.Margin }

// grants is the part of a window in which slots are granted: the vendor's window less the margin.
func (l Limit) grants() time.Duration { return l.Window - l.Margin }

// Validate reports a limit that cannot work.
func (l Limit) Validate() error {
	if l.Requests <= 0 || l.Window <= 0 {
		return fmt.Errorf("quota limit %d/%s: requests and window must be positive", l.Requests, l.Window)
	}
	if l.Reserve < 0 || l.Reserve >= l.Requests {
		return fmt.Errorf("quota limit %d/%s: reserve %d must be at least 0 and less than the requests per window", l.Requests, l.Window, l.Reserve)
	}
	if l.Margin < 0 || l.Margin >= l.Window {
		return fmt.Errorf("quota limit %d/%s: margin %s must be at least 0 and shorter than the window", l.Requests, l.Window, l.Margin)
	}
	return nil
}

func (l Limit) String() string {
	return fmt.Sprintf("%d/%s (reserve %d, margin %s)", l.Requests, l.Window, l.Reserve, l.Margin)
}

// capacity is how many slots of a window class may fill.
func (l Limit) capacity(c Class) int {
	if c == Background {
		return l.Requests - l.Reserve
	}
	return l.Requests
}

// LimitFor returns the quota configured for a CECP connection: rate_limit (20/1m when empty) and
// background_reserve (a fifth of the requests when 0, 4 of 20, since a poller without a reserve could starve
// incidents).
func LimitFor(conn config.CECPConnection) (Limit, error) {
	l := DefaultLimit()
	if conn.RateLimit != "" {
		n, w, err := config.ParseRate(conn.RateLimit)
		if err != nil {
			return Limit{}, fmt.Errorf("reading quota of connection %q: %w", conn.Name, err)
		}
		l.Requests, l.Window = n, w
	}
	l.Reserve = l.Requests / 5
	if conn.BackgroundReserve > 0 {
		l.Reserve = conn.BackgroundReserve
	}
	// The default margin is a second of a minute's window (less for a short window, as in a time-scaled test).
	l.Margin = min(DefaultMargin, l.Window/60)
	switch {
	case conn.RateLimitMargin > 0:
		l.Margin = conn.RateLimitMargin
	case conn.RateLimitMargin < 0:
		l.Margin = 0
	}
	if err := l.Validate(); err != nil {
		return Limit{}, fmt.Errorf("reading quota of connection %q: %w", conn.Name, err)
	}
	return l, nil
}

// Options configures a limiter.
type Options struct {
	// Default applies to keys missing from Keys; DefaultLimit() when zero.
	Default Limit
	Keys    map[string]Limit
	// Now is the clock of the in-process limiter (tests); time.Now when nil. The Postgres limiter uses the
	// database's clock so that every process agrees on the window.
	Now func() time.Time
}

// Limits builds Options for every configured CECP connection.
func Limits(conns []config.CECPConnection) (Options, error) {
	o := Options{Default: DefaultLimit(), Keys: make(map[string]Limit, len(conns))}
	for _, c := range conns {
		l, err := LimitFor(c)
		if err != nil {
			return Options{}, err
		}
		o.Keys[c.Name] = l
	}
	return o, nil
}

func (o Options) limit(key string) Limit {
	if l, ok := o.Keys[key]; ok {
		return l
	}
	if o.Default == (Limit{}) {
		return DefaultLimit()
	}
	return o.Default
}

func (o Options) validate() error {
	if o.Default != (Limit{}) {
		if err := o.Default.Validate(); err != nil {
			return fmt.Errorf("default limit: %w", err)
		}
	}
	for k, l := range o.Keys {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("limit of %q: %w", k, err)
		}
	}
	return nil
}

// Wait takes a slot from l, sleeping while it is refused; notify (when not nil) is told each wait before it
// starts, so a command can show progress. It returns early with ctx's error when ctx ends.
func Wait(ctx context.Context, l Limiter, key string, notify func(wait time.Duration)) error {
	for {
		wait, err := l.Take(ctx, key)
		if err != nil {
			return err
		}
		if wait <= 0 {
			return nil
		}
		if notify != nil {
			notify(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
