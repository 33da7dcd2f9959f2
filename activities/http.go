package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parry-soar/parry/internal/action"
)

// Bounds of http.request.
const (
	// MaxHTTPResponseBytes caps a response body (the spec promises at most 1 MiB).
	MaxHTTPResponseBytes = 1 << 20
	// maxRedirects bounds the redirects http.request follows, each to an allowed host.
	maxRedirects = 5
	// maxHTTPRequestBytes caps a request body built from with.body.
	maxHTTPRequestBytes = 1 << 20
)

// hostAllowed reports whether u's host matches an entry of http.allowed_hosts: an exact name (optionally with
// a port, then the port must match too) or *.example.com, which matches any name below example.com but not
// example.com itself.
func hostAllowed(allowed []string, u *url.URL) bool {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, entry := range allowed {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		ehost, eport := entry, ""
		if h, p, err := net.SplitHostPort(entry); err == nil {
			ehost, eport = h, p
		}
		if eport != "" && eport != port {
			continue
		}
		if strings.HasPrefix(ehost, "*.") {
			if suffix := ehost[1:]; strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
			continue
		}
		if host == ehost {
			return true
		}
	}
	return false
}

// where names a URL in messages without its query (which may carry a key) or credentials.
func where(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

func (a *Activities) httpRequest(ctx context.Context, c *call) (any, error) {
	var in struct {
		Method       string          `json:"method"`
		URL          string          `json:"url"`
		Query        map[string]any  `json:"query"`
		Headers      map[string]any  `json:"headers"`
		Body         json.RawMessage `json:"body"`
		ExpectStatus []int           `json:"expect_status"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, failf(action.InvalidInput, "with.url must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, failf(action.InvalidInput, "with.url must not carry credentials: put them in with.headers as secret(\"name\")")
	}
	allowed := a.deps.Config.HTTP.AllowedHosts
	if !hostAllowed(allowed, u) {
		return nil, failf(action.InvalidInput, "host %s is not in http.allowed_hosts (%s)", u.Host, allowedList(allowed))
	}
	q := u.Query()
	for _, k := range sortedKeys(in.Query) {
		vals, err := stringValues(in.Query[k])
		if err != nil {
			return nil, failf(action.InvalidInput, "with.query.%s %v", k, err)
		}
		for _, v := range vals {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()

	body, contentType, err := requestBody(in.Body)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, a.deps.HTTPTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, in.Method, u.String(), rd)
	if err != nil {
		return nil, failf(action.InvalidInput, "building the request: %v", err)
	}
	for _, k := range sortedKeys(in.Headers) {
		vals, err := stringValues(in.Headers[k])
		if err != nil {
			return nil, failf(action.InvalidInput, "with.headers.%s %v", k, err)
		}
		for _, v := range vals {
			if !validHeader(k, v) {
				return nil, failf(action.InvalidInput, "with.headers.%s is not a valid header name and value", k)
			}
			req.Header.Add(k, v)
		}
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{
		Transport: a.deps.HTTPTransport,
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return failf(action.VendorRejected, "more than %d redirects", maxRedirects)
			}
			if !hostAllowed(allowed, next.URL) {
				return failf(action.InvalidInput, "redirected to %s, whose host is not in http.allowed_hosts", where(next.URL))
			}
			return nil
		},
	}
	mutating := in.Method != http.MethodGet && in.Method != http.MethodHead
	op := in.Method + " " + where(u)
	resp, err := client.Do(req)
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			return nil, fmt.Errorf("%s: %w", op, f)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if mutating {
			a.auditFailure(ctx, c, auditEntry{operation: op, targets: 1, outcome: OutcomeAmbiguous, details: map[string]any{"error": transportError(err, a.deps.HTTPTimeout)}})
		}
		return nil, failf(action.VendorUnavailable, "%s: no answer: %s", op, transportError(err, a.deps.HTTPTimeout))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPResponseBytes+1))
	if err != nil {
		return nil, failf(action.VendorUnavailable, "%s: reading the response: %s", op, transportError(err, a.deps.HTTPTimeout))
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if len(in.ExpectStatus) > 0 {
		ok = slices.Contains(in.ExpectStatus, resp.StatusCode)
	}
	if mutating {
		outcome := OutcomeAccepted
		switch {
		case !ok && resp.StatusCode >= 500:
			outcome = OutcomeAmbiguous
		case !ok:
			outcome = OutcomeFailed
		}
		// Failing the step over a lost audit row would send the request again on the retry: log it instead.
		a.auditFailure(ctx, c, auditEntry{operation: op, targets: 1, outcome: outcome, details: map[string]any{"status": resp.StatusCode}})
	}
	if !ok {
		return nil, statusFailure(op, resp, data)
	}
	if len(data) > MaxHTTPResponseBytes {
		return nil, failf(action.VendorRejected, "%s: HTTP %d with a body over %d bytes", op, resp.StatusCode, MaxHTTPResponseBytes)
	}
	headers := map[string]string{}
	for k, vs := range resp.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	return struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    any               `json:"body"`
	}{resp.StatusCode, headers, responseBody(resp.Header.Get("Content-Type"), data)}, nil
}

func allowedList(allowed []string) string {
	if len(allowed) == 0 {
		return "none are configured"
	}
	return "allowed: " + strings.Join(allowed, ", ")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stringValues reads a query or header value: a string, a number or bool (written as JSON writes it), or a
// list of those.
func stringValues(v any) ([]string, error) {
	one := func(v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case bool:
			return strconv.FormatBool(x), true
		}
		if f, ok := asFloat(v); ok {
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
		return "", false
	}
	if l, ok := v.([]any); ok {
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := one(e)
			if !ok {
				return nil, fmt.Errorf("must hold strings, got %s", kindOf(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, ok := one(v)
	if !ok {
		return nil, fmt.Errorf("must be a string or a list of strings, got %s", kindOf(v))
	}
	return []string{s}, nil
}

func validHeader(name, value string) bool {
	if name == "" || strings.ContainsAny(name, " \t\r\n:()<>@,;\\\"/[]?={}") {
		return false
	}
	return !strings.ContainsAny(value, "\r\n\x00")
}

// requestBody encodes with.body: a string is sent as text, anything else as JSON.
func requestBody(raw json.RawMessage) ([]byte, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if len(s) > maxHTTPRequestBytes {
			return nil, "", failf(action.InvalidInput, "with.body is over %d bytes", maxHTTPRequestBytes)
		}
		return []byte(s), "text/plain; charset=utf-8", nil
	}
	if len(raw) > maxHTTPRequestBytes {
		return nil, "", failf(action.InvalidInput, "with.body is over %d bytes as JSON", maxHTTPRequestBytes)
	}
	return raw, "application/json", nil
}

// responseBody is parsed JSON for a JSON content type (text when it does not parse), else text.
func responseBody(contentType string, data []byte) any {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		var v any
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if d.Decode(&v) == nil && !d.More() {
			return v
		}
	}
	if !utf8.Valid(data) {
		return strings.ToValidUTF8(string(data), "\uFFFD")
	}
	return string(data)
}

// statusFailure is the error of a response outside the expected statuses.
func statusFailure(op string, resp *http.Response, body []byte) error {
	msg := fmt.Sprintf("%s: HTTP %d", op, resp.StatusCode)
	if t := http.StatusText(resp.StatusCode); t != "" {
		msg += " " + t
	}
	if ex := excerpt(body); ex != "" {
		msg += ": " + strconv.Quote(ex)
	}
	f := &failure{msg: msg}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		f.typ, f.delay = action.VendorRateLimited, retryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode >= 500:
		f.typ = action.VendorUnavailable
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		f.typ = action.VendorAuth
	default:
		f.typ = action.VendorRejected
	}
	return f
}

// excerpt is a short single-line excerpt of a body for an error message.
func excerpt(body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "\uFFFD")), " ")
	const n = 200
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// retryAfter reads delay-seconds or an HTTP date; 0 when absent, unreadable or beyond a day.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		if n > 0 && n <= 86400 {
			return time.Duration(n) * time.Second
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 && d <= 24*time.Hour {
			return d.Round(time.Second) + time.Second
		}
	}
	return 0
}

// transportError drops the *url.Error wrapper, whose text repeats the whole URL with its query.
func transportError(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("timed out after %s", timeout)
		}
		err = ue.Err
	}
	return err.Error()
}
