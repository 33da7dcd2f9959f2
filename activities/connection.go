package activities

import (
	"errors"
	"fmt"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/quota"
)

// vendor is a configured CECP connection and its client.
type vendor struct {
	name   string
	client *cecp.Client
	// window is how long a vendor 429 without Retry-After keeps the connection closed at most: the quota window.
	window time.Duration
	// linger is how long a partial mitigation batch waits for more items.
	linger time.Duration
}

// vendorFor resolves the step's connection: with.connection, else cecp.default_connection, else the only one.
func (a *Activities) vendorFor(c *call) (*vendor, error) {
	name, _ := c.with["connection"].(string)
	conn, err := a.deps.Config.Connection(name)
	if err != nil {
		return nil, failf(action.InvalidInput, "choosing the CECP connection: %v", err)
	}
	client, err := a.client(conn)
	if err != nil {
		return nil, err
	}
	window := time.Minute
	if l, err := quota.LimitFor(conn); err == nil {
		window = l.Window
	}
	return &vendor{name: conn.Name, client: client, window: window, linger: conn.BatchLinger}, nil
}

// client returns the connection's client, built once: clients are safe for concurrent use and read the token
// from its secret on every request, so a rotated token is picked up without a restart.
func (a *Activities) client(conn config.CECPConnection) (*cecp.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[conn.Name]; ok {
		return c, nil
	}
	c, err := cecp.New(cecp.Options{
		Region:           conn.Region,
		BaseURL:          conn.BaseURL,
		Token:            cecp.SecretToken(a.deps.Secrets, conn.TokenSecret),
		HTTPClient:       a.deps.CECPHTTP,
		Timeout:          conn.Timeout,
		MaxDownloadBytes: conn.MaxDownloadBytes,
		MaxBatch:         conn.BatchSize,
		Limiter:          a.deps.Limiter,
		QuotaKey:         conn.Name,
		// An activity never sleeps for quota: it fails with the wait and Temporal retries it durably.
		WaitForQuota: false,
		Now:          a.deps.Now,
		Tracer:       a.deps.Tracer,
	})
	if err != nil {
		return nil, failf(action.InvalidInput, "connection %q: %v", conn.Name, err)
	}
	a.clients[conn.Name] = c
	return c, nil
}

// fail wraps a vendor error with what was being done. A rate limit without a Retry-After is retried after the
// quota window, the longest the vendor's fixed window can stay closed.
func (v *vendor) fail(doing string, err error) error {
	err = fmt.Errorf("%s on connection %q: %w", doing, v.name, err)
	var ce *cecp.Error
	if errors.As(err, &ce) && ce.RateLimited() {
		delay := ce.RetryAfter
		if delay <= 0 {
			delay = v.window
		}
		return &failure{typ: action.VendorRateLimited, msg: err.Error(), delay: delay}
	}
	return err
}
