package cecp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RateLimitCode is the vendor code of "Maximum allowed requests exceeded", sent with 429 and sometimes with 200.
const RateLimitCode = -4290001

type errorKind int

const (
	kindStatus    errorKind = iota // the vendor answered with an error status or an error code
	kindTransport                  // no answer: connection refused or dropped, timeout
	kindQuota                      // the local limiter refused the request; nothing was sent
	kindLimiter                    // the limiter itself failed (database down)
	kindToken                      // the token could not be obtained; nothing was sent
	kindDecode                     // a success status with a body that does not parse (or is cut short)
	kindTooLarge                   // a body over the configured cap
	kindRefused                    // the client refused to follow the vendor (a next_link to another host, a redirect)
)

// Error is every failure of a vendor call after the request passed validation. Its message never contains the
// token or a ZIP password.
type Error struct {
	// Method and Path name the request (the path without the query).
	Method, Path string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Code, Message and TraceID come from the vendor's body ({"code","msg","traceId"}); Message holds a short,
	// sanitised excerpt of the body when it was not JSON.
	Code    int
	Message string
	TraceID string
	// RetryAfter is how long to wait before trying again: the vendor's Retry-After, or the limiter's wait.
	RetryAfter time.Duration
	// Err is the underlying cause (a transport or decoding error), when there is one.
	Err error

	kind    errorKind
	applied bool
}

// Error formats the failure on one line: the request, HTTP status, vendor code, message and trace id.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	switch e.kind {
	case kindQuota:
		fmt.Fprintf(&b, "rate limited by the local quota (%s); a slot frees in %s", e.Message, e.RetryAfter.Round(time.Millisecond))
		return b.String()
	case kindLimiter:
		fmt.Fprintf(&b, "taking a quota slot: %v", e.Err)
		return b.String()
	case kindToken:
		fmt.Fprintf(&b, "getting the API token: %v", e.Err)
		return b.String()
	case kindRefused:
		b.WriteString(e.Message)
		return b.String()
	case kindTransport:
		if e.applied {
			b.WriteString("no answer after the request was sent (the vendor may have applied it)")
		} else {
			b.WriteString("no answer")
		}
		if e.Err != nil {
			fmt.Fprintf(&b, ": %v", e.Err)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ", vendor code %d", e.Code)
	}
	switch e.kind {
	case kindDecode:
		fmt.Fprintf(&b, ", unreadable body: %v", e.Err)
	case kindTooLarge:
		fmt.Fprintf(&b, ", %v", e.Err)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (trace id %s)", e.TraceID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter.Round(time.Second))
	}
	if e.applied {
		b.WriteString("; the vendor may have applied the request")
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// RateLimited reports a vendor 429, a success status carrying code -4290001, or a refusal of the local quota.
// RetryAfter says how long to wait (0: until the vendor's window resets, unknown).
func (e *Error) RateLimited() bool {
	return e.kind == kindQuota || (e.kind == kindStatus && (e.Status == http.StatusTooManyRequests || e.Code == RateLimitCode))
}

// Auth reports a missing, wrong or insufficient token (401, 403), or a token that could not be read.
func (e *Error) Auth() bool {
	return e.kind == kindToken || (e.kind == kindStatus && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden))
}

// Transient reports a failure worth retrying: rate limits, 408, 500, 502, 503, 504, connection errors,
// timeouts, a limiter that failed, and success answers whose body was cut short or garbled.
func (e *Error) Transient() bool {
	if e.RateLimited() {
		return true
	}
	switch e.kind {
	case kindTransport:
		return !e.canceled()
	case kindLimiter:
		return !e.canceled()
	case kindDecode:
		return true
	case kindStatus:
		switch e.Status {
		case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// Rejected reports a request the vendor (or the client) will not accept however often it is sent: 400, 404,
// 405 and other non-retryable statuses, an error code on a success status, a body over the size cap, or a
// next_link or redirect the client refused to follow.
func (e *Error) Rejected() bool {
	switch e.kind {
	case kindTooLarge, kindRefused:
		return true
	case kindStatus:
		return !e.Transient() && !e.Auth()
	}
	return false
}

// MaybeApplied reports a POST that may have reached the vendor although the caller got no success: the request
// was sent and then the connection dropped or timed out, the vendor answered 500, 502 or 504, or a success
// status came with an unreadable body. Before repeating such a mitigation, look up recent actions for the
// same mails, so as not to create a second batch.
func (e *Error) MaybeApplied() bool { return e.applied }

func (e *Error) canceled() bool {
	return errors.Is(e.Err, context.Canceled)
}

// ValidationError is a request the client refused to send because the vendor would reject it.
type ValidationError struct {
	// Op names the request (sweep query, mail mitigation batch).
	Op       string
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid " + e.Op + ": " + strings.Join(e.Problems, "; ")
}

// problems collects validation problems.
type problems struct {
	op   string
	list []string
}

func (p *problems) add(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Op: p.op, Problems: p.list}
}

// excerptLen bounds the part of a non-JSON body quoted in an error.
const excerptLen = 200

// excerpt returns a short, printable, single-line excerpt of body with every secret replaced.
func excerpt(body []byte, secrets ...string) string {
	s := redact(string(body), secrets...)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = true
			continue
		}
		sep := space && b.Len() > 0
		space = false
		need := 1
		if sep {
			need = 2
		}
		if n+need > excerptLen {
			b.WriteString("…")
			break
		}
		if sep {
			b.WriteByte(' ')
			n++
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
