// Package cecp is a client for the REST API of Trend Micro Cloud Email and Collaboration Protection (formerly
// Cloud App Security): log retrieval, sweeping, mail and account mitigation, and blocked lists.
//
// Every request is validated before it is sent, takes a slot of the connection's quota first (a Limiter), and
// fails with a *ValidationError or an *Error that says whether it is a rate limit, an auth problem, a rejected
// request or a transient failure, and whether a POST may have reached the vendor. The bearer token is fetched
// from a TokenSource for every request and never appears in an error, a log line or the client's %v.
package cecp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/version"
)

// Defaults of Options.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultConnectTimeout   = 10 * time.Second
	DefaultMaxPageBytes     = 32 << 20
	DefaultMaxDownloadBytes = 50 << 20
	DefaultMaxBatch         = 10
	// maxErrorBodyBytes bounds what is read of an error body: enough for {"code","msg","traceId"}.
	maxErrorBodyBytes = 64 << 10
	// maxSmallBodyBytes bounds bodies that carry no list (mitigation and blocklist answers).
	maxSmallBodyBytes = 1 << 20
	// maxRateLimitRetries bounds how often a caller that waits for quota re-sends after a vendor 429.
	maxRateLimitRetries = 3
)

// RegionHost returns the API host of a region (us, eu, jp, au, uk, ca, sg, in).
func RegionHost(region string) (string, bool) {
	switch strings.ToLower(region) {
	case "us":
		return "api.tmcas.trendmicro.com", true
	case "eu":
		return "api-eu.tmcas.trendmicro.com", true
	case "jp":
		return "api.tmcas.trendmicro.co.jp", true
	case "au":
		return "api-au.tmcas.trendmicro.com", true
	case "uk":
		return "api.tmcas.trendmicro.co.uk", true
	case "ca":
		return "api-ca.tmcas.trendmicro.com", true
	case "sg":
		return "api.tmcas.trendmicro.com.sg", true
	case "in":
		return "api-in.tmcas.trendmicro.com", true
	}
	return "", false
}

// Regions lists the regions RegionHost knows.
func Regions() []string { return []string{"us", "eu", "jp", "au", "uk", "ca", "sg", "in"} }

// TokenSource yields the bearer token; the client asks for it on every request, so a rotated secret is picked up.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenFunc adapts a function to TokenSource.
type TokenFunc func(ctx context.Context) (string, error)

// Token implements TokenSource.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// SecretToken reads the token from the named secret of p on every request.
func SecretToken(p secret.Provider, name string) TokenSource { return secretToken{p: p, name: name} }

type secretToken struct {
	p    secret.Provider
	name string
}

func (s secretToken) Token(ctx context.Context) (string, error) {
	tok, err := s.p.Secret(ctx, s.name)
	if err != nil {
		if errors.Is(err, secret.ErrNotFound) {
			return "", err // it names the secret and where it was looked for
		}
		return "", fmt.Errorf("reading secret %q: %w", s.name, err)
	}
	return strings.TrimSpace(tok), nil
}

// String keeps the provider (which may hold values, like secret.Static) out of %v.
func (s secretToken) String() string   { return fmt.Sprintf("cecp.SecretToken(%q)", s.name) }
func (s secretToken) GoString() string { return s.String() }

// StaticToken is a token already read (from a file the operator named); it prints as "[redacted]".
func StaticToken(token string) TokenSource { return staticToken{tok: token} }

type staticToken struct{ tok string }

func (s staticToken) Token(context.Context) (string, error) {
	if s.tok == "" {
		return "", errors.New("the token is empty")
	}
	return s.tok, nil
}
func (s staticToken) String() string   { return "cecp.StaticToken([redacted])" }
func (s staticToken) GoString() string { return s.String() }

// Doer sends one HTTP request; *http.Client is one.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Limiter hands out quota slots per key; *quota.Memory and *quota.Shared are ones. The request's class
// (response or background work) travels in ctx (quota.WithClass).
type Limiter interface {
	Take(ctx context.Context, key string) (wait time.Duration, err error)
	Block(ctx context.Context, key string, until time.Time) error
}

// Options configures a Client.
type Options struct {
	// Region (us, eu, jp, au, uk, ca, sg, in) or BaseURL (https://host[/prefix], for a proxy or the simulator):
	// exactly one.
	Region  string
	BaseURL string
	// Token yields the bearer token. Required.
	Token TokenSource
	// HTTPClient sends requests; by default an http.Client with ConnectTimeout that follows no redirect.
	HTTPClient Doer
	// Timeout bounds one request, reading the body included; DefaultTimeout when 0.
	Timeout time.Duration
	// ConnectTimeout bounds dialling and the TLS handshake of the default HTTP client; DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxPageBytes caps a JSON response; DefaultMaxPageBytes when 0.
	MaxPageBytes int64
	// MaxDownloadBytes caps a quarantined-mail ZIP; DefaultMaxDownloadBytes when 0.
	MaxDownloadBytes int64
	// MaxBatch is the most items one mitigation POST may carry; DefaultMaxBatch when 0.
	MaxBatch int
	// Limiter, when set, is asked for a slot of QuotaKey (the connection name; the host when empty) before
	// every request. A refusal fails the call with a rate-limited *Error whose RetryAfter is the wait, unless
	// WaitForQuota is set: then the client sleeps (telling OnQuotaWait first) and, after a vendor 429,
	// sends again up to three times.
	Limiter      Limiter
	QuotaKey     string
	WaitForQuota bool
	OnQuotaWait  func(wait time.Duration)
	// Tracer makes a span per request and per quota wait (internal/tracing); none when nil.
	Tracer trace.Tracer
	// Now is the clock used to validate time windows; time.Now when nil.
	Now func() time.Time
}

// String keeps the token source out of %v.
func (o Options) String() string {
	return fmt.Sprintf("cecp.Options{Region:%q BaseURL:%q QuotaKey:%q}", o.Region, o.BaseURL, o.QuotaKey)
}

// GoString keeps the token source out of %#v.
func (o Options) GoString() string { return o.String() }

// Client calls one CECP tenant. It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
	http Doer
	now  func() time.Time
	// misspeltDownload remembers that the download endpoint answered at the seed document's other spelling,
	// so later downloads do not spend a quota slot on a 404 first.
	misspeltDownload atomic.Bool
}

// New returns a client for the tenant described by opts.
func New(opts Options) (*Client, error) {
	var base *url.URL
	switch {
	case opts.Region != "" && opts.BaseURL != "":
		return nil, errors.New("creating CECP client: set a region or a base URL, not both")
	case opts.Region != "":
		host, ok := RegionHost(opts.Region)
		if !ok {
			return nil, fmt.Errorf("creating CECP client: unknown region %q (one of %s)", opts.Region, strings.Join(Regions(), ", "))
		}
		base = &url.URL{Scheme: "https", Host: host}
	case opts.BaseURL != "":
		u, err := url.Parse(opts.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("creating CECP client: base URL %q is not an absolute http(s) URL", opts.BaseURL)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("creating CECP client: base URL %s must not carry credentials, a query or a fragment", u.Redacted())
		}
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v1")
		u.RawPath = ""
		base = u
	default:
		return nil, errors.New("creating CECP client: set a region or a base URL")
	}
	if opts.Token == nil {
		return nil, errors.New("creating CECP client: no token source")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.MaxPageBytes <= 0 {
		opts.MaxPageBytes = DefaultMaxPageBytes
	}
	if opts.MaxDownloadBytes <= 0 {
		opts.MaxDownloadBytes = DefaultMaxDownloadBytes
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.QuotaKey == "" {
		opts.QuotaKey = base.Host
	}
	c := &Client{base: base, opts: opts, http: opts.HTTPClient, now: opts.Now}
	if c.now == nil {
		c.now = time.Now
	}
	if c.http == nil {
		c.http = defaultHTTPClient(opts.ConnectTimeout)
	}
	return c, nil
}

// defaultHTTPClient bounds connecting here; the whole exchange, body included, is bounded by the request's
// context (Options.Timeout).
func defaultHTTPClient(connect time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: connect,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		// A redirect could carry the token to another host; the vendor does not redirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// String names the endpoint and nothing else.
func (c *Client) String() string { return "cecp.Client(" + c.base.String() + ")" }

// GoString keeps the options out of %#v.
func (c *Client) GoString() string { return c.String() }

// BaseURL is the endpoint the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

// MaxBatch is the most items one mitigation POST may carry.
func (c *Client) MaxBatch() int { return c.opts.MaxBatch }

// request is one call: a path under the base URL with a query, or an absolute next_link.
type request struct {
	method string
	path   string
	query  url.Values
	link   *url.URL
	body   []byte
	// max caps a success body.
	max int64
	// secret is a value of the body (a ZIP password) to redact from error excerpts.
	secret string
	// readOnly marks a POST that changes nothing (the download), so a failure never "may have applied" it.
	readOnly bool
}

func (r *request) mutating() bool { return r.method == http.MethodPost && !r.readOnly }

func (r *request) op() string {
	if r.link != nil {
		return r.link.Path
	}
	return r.path
}

// response is a success answer.
type response struct {
	status int
	header http.Header
	body   []byte
	// secrets are redacted from any excerpt of the body before it is cut short (a cut secret would not match).
	secrets []string
}

// decodeFunc turns a success answer into the caller's value, or an *Error for an error code in the body.
type decodeFunc func(r *request, resp *response) error

// exchange sends r, decoding a success answer with decode. When the caller waits for quota, a vendor rate
// limit is retried: the limiter, blocked by exchangeOnce, makes the next attempt wait.
func (c *Client) exchange(ctx context.Context, r *request, decode decodeFunc) error {
	for attempt := 0; ; attempt++ {
		err := c.exchangeOnce(ctx, r, decode)
		var e *Error
		if err != nil && c.opts.WaitForQuota && c.opts.Limiter != nil && attempt < maxRateLimitRetries &&
			errors.As(err, &e) && e.kind == kindStatus && e.RateLimited() {
			continue
		}
		return err
	}
}

// exchangeOnce sends r once, in a client span (the quota wait is a child span of it). The span carries the
// method, the path, the connection and the answer's status; never a token, a query or a vendor message.
func (c *Client) exchangeOnce(ctx context.Context, r *request, decode decodeFunc) (err error) {
	ctx, span := c.tracer().Start(ctx, "cecp "+r.method+" "+r.op(), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", r.method), attribute.String("url.path", r.op()),
			attribute.String("cecp.connection", c.opts.QuotaKey)))
	defer func() {
		var e *Error
		switch {
		case errors.As(err, &e):
			if e.Status != 0 {
				span.SetAttributes(attribute.Int("http.response.status_code", e.Status))
			}
			if e.RetryAfter > 0 {
				span.SetAttributes(attribute.String("cecp.retry_after", e.RetryAfter.String()))
			}
			what := "vendor error"
			switch {
			case e.RateLimited():
				what = "rate limited"
			case e.Auth():
				what = "not authorised"
			case e.Transient():
				what = "transient failure"
			}
			span.SetStatus(codes.Error, what)
		case err != nil:
			span.SetStatus(codes.Error, "failed")
		}
		span.End()
	}()
	return c.exchangeTraced(ctx, r, decode)
}

func (c *Client) tracer() trace.Tracer {
	if c.opts.Tracer == nil {
		return noop.NewTracerProvider().Tracer("parry/cecp")
	}
	return c.opts.Tracer
}

func (c *Client) exchangeTraced(ctx context.Context, r *request, decode decodeFunc) error {
	if err := c.takeSlot(ctx, r); err != nil {
		return err
	}
	token, err := c.opts.Token.Token(ctx)
	if err == nil && token == "" {
		err = errors.New("the token is empty")
	}
	if err != nil {
		return &Error{Method: r.method, Path: r.op(), kind: kindToken, Err: err}
	}
	if r.link != nil && len(token) >= 4 && strings.Contains(r.link.String(), token) {
		// A link (a cursor from a run's inputs) that carries the token would put it in history and logs.
		return &Error{Method: r.method, Path: r.op(), kind: kindRefused, Message: "the link carries the API token; refusing to follow it"}
	}
	resp, err := c.send(ctx, r, token)
	if err == nil {
		err = decode(r, resp)
	}
	var e *Error
	if errors.As(err, &e) {
		// The vendor may echo anything, the token or a ZIP password included, into a message.
		e.Message = redact(e.Message, token, r.secret)
		e.TraceID = truncate(redact(e.TraceID, token, r.secret), 100)
		if e.kind == kindStatus && e.RateLimited() {
			c.block(ctx, e)
		}
	}
	return err
}

func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

func (c *Client) takeSlot(ctx context.Context, r *request) error {
	if c.opts.Limiter == nil {
		return nil
	}
	for {
		wait, err := c.opts.Limiter.Take(ctx, c.opts.QuotaKey)
		if err != nil {
			return &Error{Method: r.method, Path: r.op(), kind: kindLimiter, Err: err}
		}
		if wait <= 0 {
			return nil
		}
		if !c.opts.WaitForQuota && !c.mayWait(ctx, wait) {
			return &Error{Method: r.method, Path: r.op(), kind: kindQuota, RetryAfter: wait,
				Message: fmt.Sprintf("connection %q", c.opts.QuotaKey)}
		}
		if c.opts.OnQuotaWait != nil {
			c.opts.OnQuotaWait(wait)
		}
		if qw, ok := ctx.Value(quotaWaitingKey{}).(quotaWaiting); ok && qw.told != nil {
			qw.told(c.opts.QuotaKey, wait)
		}
		_, span := c.tracer().Start(ctx, "quota wait", trace.WithAttributes(attribute.String("cecp.connection", c.opts.QuotaKey),
			attribute.String("cecp.quota_wait", wait.String())))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			span.End()
			return &Error{Method: r.method, Path: r.op(), kind: kindTransport, Err: ctx.Err()}
		case <-t.C:
		}
		span.End()
	}
}

// mayWait reports whether a caller that does not always wait for quota sleeps wait for a slot: only a call
// whose context allows it (WithQuotaWaiting), within its bound, leaving a whole request before the deadline.
func (c *Client) mayWait(ctx context.Context, wait time.Duration) bool {
	qw, ok := ctx.Value(quotaWaitingKey{}).(quotaWaiting)
	if !ok || wait > qw.max {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+c.opts.Timeout {
		return false
	}
	return true
}

type quotaWaiting struct {
	max  time.Duration
	told func(key string, wait time.Duration)
}

type quotaWaitingKey struct{}

// WithQuotaWaiting returns a context whose calls, on a client without WaitForQuota, sleep for a slot of the
// quota when it frees within max (and leaves a whole request before ctx's deadline) instead of failing with a
// rate-limited *Error; told (when not nil) hears of each wait first, with the quota's key. A vendor 429
// still fails at once. An activity uses it so that a short wait for the quota is not a failed attempt.
func WithQuotaWaiting(ctx context.Context, max time.Duration, told func(key string, wait time.Duration)) context.Context {
	return context.WithValue(ctx, quotaWaitingKey{}, quotaWaiting{max: max, told: told})
}

// block closes the connection's window after a vendor rate limit: until Retry-After when the vendor sent one,
// else until the window resets.
func (c *Client) block(ctx context.Context, e *Error) {
	if c.opts.Limiter == nil {
		return
	}
	var until time.Time
	if e.RetryAfter > 0 {
		until = time.Now().Add(e.RetryAfter)
	}
	// A failed block only costs the other callers one more 429 each; the caller already has its error.
	_ = c.opts.Limiter.Block(context.WithoutCancel(ctx), c.opts.QuotaKey, until)
}

func (c *Client) url(r *request) *url.URL {
	if r.link != nil {
		return r.link
	}
	u := *c.base
	u.Path = c.base.Path + r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return &u
}

// send performs one HTTP exchange and returns a success answer, or an *Error.
func (c *Client) send(ctx context.Context, r *request, token string) (*response, error) {
	fail := func(kind errorKind, err error) *Error {
		return &Error{Method: r.method, Path: r.op(), kind: kind, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	// wrote turns true once the request is on the wire: a failure after that may have been applied.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			wrote.Store(true)
		}
	}}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.method, c.url(r).String(), body)
	if err != nil {
		return nil, fail(kindRefused, fmt.Errorf("building request: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "parry/"+version.Get().Version)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	isPost := r.mutating()
	resp, err := c.http.Do(req)
	if err != nil {
		e := fail(kindTransport, c.cleanTransportError(ctx, err))
		e.applied = isPost && wrote.Load()
		return nil, e
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		e := statusError(r, resp, data, token)
		switch resp.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			e.applied = isPost
		}
		return nil, e
	}
	if resp.ContentLength > r.max {
		e := &Error{Method: r.method, Path: r.op(), Status: resp.StatusCode, kind: kindTooLarge, applied: isPost,
			Err: fmt.Errorf("body of %d bytes is over the cap of %d bytes", resp.ContentLength, r.max)}
		return nil, e
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.max+1))
	if err != nil {
		e := &Error{Method: r.method, Path: r.op(), Status: resp.StatusCode, kind: kindDecode, applied: isPost,
			Err: fmt.Errorf("reading body: %w", c.cleanTransportError(ctx, err))}
		return nil, e
	}
	if int64(len(data)) > r.max {
		return nil, &Error{Method: r.method, Path: r.op(), Status: resp.StatusCode, kind: kindTooLarge, applied: isPost,
			Err: fmt.Errorf("body is over the cap of %d bytes", r.max)}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data, secrets: []string{token, r.secret}}, nil
}

// cleanTransportError drops the *url.Error wrapper (its message repeats the method and URL) and names a timeout.
func (c *Client) cleanTransportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("timed out after %s: %w", c.opts.Timeout, err)
	}
	return err
}

// statusError builds the error of a non-2xx answer from its (possibly non-JSON) body.
func statusError(r *request, resp *http.Response, body []byte, token string) *Error {
	e := &Error{Method: r.method, Path: r.op(), Status: resp.StatusCode, kind: kindStatus}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.kind = kindRefused
		e.Message = fmt.Sprintf("HTTP %d redirect to %s not followed (a redirect could carry the token elsewhere)",
			resp.StatusCode, truncate(resp.Header.Get("Location"), 200))
		return e
	}
	var env envelope
	if jsonErr := json.Unmarshal(body, &env); jsonErr == nil && (env.Code != 0 || env.text() != "" || env.TraceID != "") {
		e.Code, e.Message, e.TraceID = int(env.Code), excerpt([]byte(env.text()), token, r.secret), env.TraceID
	} else {
		e.Message = excerpt(body, token, r.secret)
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), serverNow(resp.Header))
	return e
}

// serverNow is the time an answer was sent by the vendor's clock (its Date header), so that a Retry-After date
// is read against the clock that wrote it, whatever the skew of ours; ours when the answer has no Date.
func serverNow(h http.Header) time.Time {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		return t
	}
	return time.Now()
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > 24*3600 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		// An HTTP date has whole seconds: round up, so as never to come back early.
		if d := t.Sub(now); d > 0 && d <= 24*time.Hour {
			return (d + time.Second - 1).Truncate(time.Second)
		}
	}
	return 0
}

// codeError turns an error code inside a success body into an *Error.
func codeError(r *request, resp *response, env *envelope) error {
	if env.Code == 0 {
		return nil
	}
	e := &Error{Method: r.method, Path: r.op(), Status: resp.status, Code: int(env.Code), Message: excerpt([]byte(env.text()), resp.secrets...),
		TraceID: env.TraceID, kind: kindStatus}
	e.RetryAfter = parseRetryAfter(resp.header.Get("Retry-After"), serverNow(resp.header))
	return e
}

// decodeError reports a success body that did not parse.
func decodeError(r *request, resp *response, err error) error {
	return &Error{Method: r.method, Path: r.op(), Status: resp.status, kind: kindDecode, Err: err,
		applied: r.mutating()}
}

// enveloped is a response body with the common envelope.
type enveloped interface{ env() *envelope }

// decodeJSON decodes a success body into out and fails on an error code in it.
func decodeJSON(out enveloped) decodeFunc {
	return func(r *request, resp *response) error {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return decodeError(r, resp, err)
		}
		return codeError(r, resp, out.env())
	}
}
