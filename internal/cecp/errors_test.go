package cecp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/secret"
)

// kinds summarises the classification of an error for table tests.
func kinds(e *Error) string {
	var k []string
	for _, c := range []struct {
		name string
		ok   bool
	}{{"ratelimited", e.RateLimited()}, {"auth", e.Auth()}, {"rejected", e.Rejected()}, {"transient", e.Transient()}, {"maybeapplied", e.MaybeApplied()}} {
		if c.ok {
			k = append(k, c.name)
		}
	}
	return strings.Join(k, ",")
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		header map[string]string
		body   string
	}
	mail := []MailAction{{ActionType: MailDelete, Service: "exchange", Mailbox: "a@b.example", MailUniqueID: "u"}}
	for _, tc := range []struct {
		name  string
		ans   answer
		post  bool
		want  string
		kinds string
		retry time.Duration
	}{
		{"400", answer{400, nil, `{"code":4000002,"traceId":"t-400","msg":"Invalid parameter: limit"}`}, false,
			`GET /v1/sweeping/mails: HTTP 400 Bad Request, vendor code 4000002: "Invalid parameter: limit" (trace id t-400)`, "rejected", 0},
		{"401", answer{401, nil, `{"code": 4010001, "traceId": "7d1e5a04-6c3b-4f87-b0c1-52a3e6f7d890", "msg": "Authentication token not found"}`}, false,
			`GET /v1/sweeping/mails: HTTP 401 Unauthorized, vendor code 4010001: "Authentication token not found" (trace id 7d1e5a04-6c3b-4f87-b0c1-52a3e6f7d890)`, "auth", 0},
		{"403", answer{403, nil, `{"code":4030001,"traceId":"t-403","msg":"No permission"}`}, true,
			`POST /v1/mitigation/mails: HTTP 403 Forbidden, vendor code 4030001: "No permission" (trace id t-403)`, "auth", 0},
		{"404", answer{404, nil, `{"code":4040001,"traceId":"t-404","msg":"Not found"}`}, false,
			`GET /v1/sweeping/mails: HTTP 404 Not Found, vendor code 4040001: "Not found" (trace id t-404)`, "rejected", 0},
		{"405", answer{405, nil, ``}, true,
			`POST /v1/mitigation/mails: HTTP 405 Method Not Allowed`, "rejected", 0},
		{"429", answer{429, nil, `{"code": -4290001, "traceId": "t-429", "msg": "Maximum allowed requests exceeded"}`}, true,
			`POST /v1/mitigation/mails: HTTP 429 Too Many Requests, vendor code -4290001: "Maximum allowed requests exceeded" (trace id t-429)`, "ratelimited,transient", 0},
		{"429 retry-after", answer{429, map[string]string{"Retry-After": "30"}, `{"code": -4290001, "traceId": "t-429", "msg": "Maximum allowed requests exceeded"}`}, false,
			`GET /v1/sweeping/mails: HTTP 429 Too Many Requests, vendor code -4290001: "Maximum allowed requests exceeded" (trace id t-429), retry after 30s`, "ratelimited,transient", 30 * time.Second},
		{"429 retry-after date", answer{429, map[string]string{"Date": "Wed, 02 Dec 2026 10:00:00 GMT", "Retry-After": "Wed, 02 Dec 2026 10:01:30 GMT"}, ``}, false,
			`GET /v1/sweeping/mails: HTTP 429 Too Many Requests, retry after 1m30s`, "ratelimited,transient", 90 * time.Second},
		{"200 rate limit", answer{200, nil, `{"code": -4290001, "traceId": "t-200", "msg": "Maximum allowed requests exceeded"}`}, false,
			`GET /v1/sweeping/mails: HTTP 200 OK, vendor code -4290001: "Maximum allowed requests exceeded" (trace id t-200)`, "ratelimited,transient", 0},
		{"201 rate limit", answer{201, nil, `{"code": -4290001, "traceId": "t-201", "msg": "Maximum allowed requests exceeded"}`}, true,
			`POST /v1/mitigation/mails: HTTP 201 Created, vendor code -4290001: "Maximum allowed requests exceeded" (trace id t-201)`, "ratelimited,transient", 0},
		{"200 other code", answer{200, nil, `{"code": 5, "msg": "odd"}`}, false,
			`GET /v1/sweeping/mails: HTTP 200 OK, vendor code 5: "odd"`, "rejected", 0},
		{"500 get", answer{500, nil, `{"code":5000001,"traceId":"t-500","msg":"Internal error"}`}, false,
			`GET /v1/sweeping/mails: HTTP 500 Internal Server Error, vendor code 5000001: "Internal error" (trace id t-500)`, "transient", 0},
		{"500 post", answer{500, nil, `{"code":5000001,"traceId":"t-500","msg":"Internal error"}`}, true,
			`POST /v1/mitigation/mails: HTTP 500 Internal Server Error, vendor code 5000001: "Internal error" (trace id t-500); the vendor may have applied the request`, "transient,maybeapplied", 0},
		{"502 html", answer{502, nil, "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\x00\x01nginx</body></html>\n"}, true,
			`POST /v1/mitigation/mails: HTTP 502 Bad Gateway: "<html> <head><title>502 Bad Gateway</title></head> <body> nginx</body></html>"; the vendor may have applied the request`, "transient,maybeapplied", 0},
		{"503 post", answer{503, nil, `Service Unavailable`}, true,
			`POST /v1/mitigation/mails: HTTP 503 Service Unavailable: "Service Unavailable"`, "transient", 0},
		{"504", answer{504, nil, `{"msg":"upstream timed out"}`}, false,
			`GET /v1/sweeping/mails: HTTP 504 Gateway Timeout: "upstream timed out"`, "transient", 0},
		{"huge error body", answer{500, nil, strings.Repeat("x", 300) + strings.Repeat("y", 1<<20)}, false,
			`GET /v1/sweeping/mails: HTTP 500 Internal Server Error: "` + strings.Repeat("x", 200) + `…"`, "transient", 0},
		{"malformed json", answer{200, nil, `{"value":[{"mailbox":`}, false,
			`GET /v1/sweeping/mails: HTTP 200 OK, unreadable body: unexpected end of JSON input`, "transient", 0},
		{"redirect", answer{302, map[string]string{"Location": "https://elsewhere.example/v1/sweeping/mails"}, ``}, false,
			`GET /v1/sweeping/mails: HTTP 302 redirect to https://elsewhere.example/v1/sweeping/mails not followed (a redirect could carry the token elsewhere)`, "rejected", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				for k, val := range tc.ans.header {
					w.Header().Set(k, val)
				}
				w.WriteHeader(tc.ans.status)
				_, _ = w.Write([]byte(tc.ans.body))
			})
			c := newTestClient(t, v)
			var err error
			if tc.post {
				_, err = c.MitigateMails(context.Background(), mail)
			} else {
				_, err = c.SweepPages(SweepQuery{}).Next(context.Background())
			}
			e := asError(t, err)
			if e.Error() != tc.want {
				t.Errorf("error\n%s\nwant\n%s", e.Error(), tc.want)
			}
			if got := kinds(e); got != tc.kinds {
				t.Errorf("kinds %s, want %s", got, tc.kinds)
			}
			if e.RetryAfter != tc.retry {
				t.Errorf("retry after %s, want %s", e.RetryAfter, tc.retry)
			}
			if n := len(v.requests()); n != 1 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

func TestOversizedPage(t *testing.T) {
	t.Parallel()
	big := []byte(`{"value":[{"mailbox":"` + strings.Repeat("a", 2000) + `"}]}`)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if chunked {
					_, _ = w.Write(big[:10])
					w.(http.Flusher).Flush()
					_, _ = w.Write(big[10:])
					return
				}
				reply(w, 200, big)
			})
			c := newTestClient(t, v, func(o *Options) { o.MaxPageBytes = 1024 })
			_, err := c.SweepPages(SweepQuery{}).Next(context.Background())
			e := asError(t, err)
			want := "GET /v1/sweeping/mails: HTTP 200 OK, body of 2026 bytes is over the cap of 1024 bytes"
			if chunked {
				want = "GET /v1/sweeping/mails: HTTP 200 OK, body is over the cap of 1024 bytes"
			}
			if e.Error() != want || kinds(e) != "rejected" {
				t.Errorf("%s (%s)", e, kinds(e))
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	arrived := make(chan struct{}, 8)
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := newTestClient(t, v, func(o *Options) { o.Timeout = 100 * time.Millisecond })
	_, err := c.SweepPages(SweepQuery{}).Next(context.Background())
	e := asError(t, err)
	if kinds(e) != "transient" || !strings.HasPrefix(e.Error(), "GET /v1/sweeping/mails: no answer: timed out after 100ms: ") {
		t.Errorf("GET: %v (%s)", e, kinds(e))
	}
	_, err = c.MitigateAccounts(context.Background(), []AccountAction{{ActionType: AccountDisable, AccountUserEmail: "a@b.example"}})
	e = asError(t, err)
	if kinds(e) != "transient,maybeapplied" || !strings.HasPrefix(e.Error(), "POST /v1/mitigation/accounts: no answer after the request was sent (the vendor may have applied it): timed out after 100ms: ") {
		t.Errorf("POST: %v (%s)", e, kinds(e))
	}
	// The caller's own cancellation is not transient, and says so through errors.Is.
	ctx, cancel := context.WithCancel(context.Background())
	for len(arrived) > 0 { // the two requests above
		<-arrived
	}
	go func() { <-arrived; cancel() }() // cancelled while the vendor holds the request
	c2 := newTestClient(t, v)
	_, err = c2.SweepPages(SweepQuery{}).Next(ctx)
	e = asError(t, err)
	if !errors.Is(err, context.Canceled) || e.Transient() || e.Rejected() {
		t.Errorf("cancelled: %v (%s)", e, kinds(e))
	}
}

// TestConnectionDrop: the vendor reads the POST and drops the connection without answering, so the batch may
// exist; a request that never left (connection refused) was certainly not applied.
func TestConnectionDrop(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	})
	c := newTestClient(t, v)
	mails := []MailAction{{ActionType: MailQuarantine, Service: "exchange", Mailbox: "a@b.example", MailUniqueID: "u"}}
	_, err := c.MitigateMails(context.Background(), mails)
	e := asError(t, err)
	if kinds(e) != "transient,maybeapplied" || !strings.HasPrefix(e.Error(), "POST /v1/mitigation/mails: no answer after the request was sent (the vendor may have applied it): ") {
		t.Errorf("dropped POST: %v (%s)", e, kinds(e))
	}
	if n := len(v.requests()); n != 1 {
		t.Errorf("the POST was sent %d times", n)
	}
	// A dropped GET is transient and not "applied".
	_, err = c.SweepPages(SweepQuery{}).Next(context.Background())
	if e := asError(t, err); kinds(e) != "transient" {
		t.Errorf("dropped GET: %v (%s)", e, kinds(e))
	}

	v.srv.Close()
	_, err = c.MitigateMails(context.Background(), mails)
	e = asError(t, err)
	if kinds(e) != "transient" || !strings.HasPrefix(e.Error(), "POST /v1/mitigation/mails: no answer: ") {
		t.Errorf("refused POST: %v (%s)", e, kinds(e))
	}
}

// TestTokenNeverInErrors makes the vendor echo the token (and the ZIP password) into every kind of answer and
// checks no error, and no formatting of the client, carries them.
func TestTokenNeverInErrors(t *testing.T) {
	t.Parallel()
	const password = "zip-Pa55word-77"
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		echo := r.Header.Get("Authorization") + " " + string(body)
		switch r.URL.Query().Get("mailbox") {
		case "json":
			reply(w, 400, []byte(fmt.Sprintf(`{"code":1,"msg":%q,"traceId":"t"}`, echo)))
		case "text":
			w.WriteHeader(500)
			_, _ = w.Write([]byte(echo))
		case "ok":
			reply(w, 200, []byte(fmt.Sprintf(`{"code":7,"msg":%q}`, echo)))
		case "long": // the token straddles the excerpt's cut
			w.WriteHeader(500)
			_, _ = w.Write([]byte(strings.Repeat("x", excerptLen-14) + " " + echo))
		default:
			w.WriteHeader(403)
			_, _ = w.Write([]byte(echo))
		}
	})
	var errs []error
	c := newTestClient(t, v)
	for _, mb := range []string{"json", "text", "ok", "long"} {
		_, err := c.SweepPages(SweepQuery{Mailbox: mb}).Next(context.Background())
		errs = append(errs, err)
	}
	_, err := c.DownloadQuarantinedMail(context.Background(), QuarantineEvent{Message: QuarantineMessage{MailUniqueID: "u", MailLogID: "l", MailBlobPath: "p", MailBackupBlobPath: "b", MailMessageDirection: "Inbound"}}, password)
	errs = append(errs, err)
	// A token source that fails must not leak what it holds either.
	c2 := newTestClient(t, v, func(o *Options) { o.Token = SecretToken(secret.Static{"other": testToken}, "cecp") })
	_, err = c2.SweepPages(SweepQuery{}).Next(context.Background())
	errs = append(errs, err)
	if e := asError(t, err); !e.Auth() || e.Error() != `GET /v1/sweeping/mails: getting the API token: secret "cecp" not found` {
		t.Errorf("token error: %v", e)
	}
	for i, err := range errs {
		if err == nil {
			t.Fatalf("call %d succeeded", i)
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, testToken) || strings.Contains(s, password) {
				t.Errorf("error %d leaks a secret: %s", i, s)
			}
		}
		if !strings.Contains(err.Error(), "[redac") && i < 5 {
			t.Errorf("error %d does not show the echo redacted: %s", i, err)
		}
	}
	for _, o := range []any{c, c2, c2.opts, Options{Token: StaticToken(testToken)}, StaticToken(testToken), SecretToken(secret.Static{"cecp": testToken}, "cecp")} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(verb, o); strings.Contains(s, testToken) {
				t.Errorf("%s of %T leaks the token: %s", verb, o, s)
			}
		}
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"  a\n\tb  ", "a b"},
		{"\xff\xfebad utf8", "\uFFFDbad utf8"},
		{"secret-token-1 in body", "[redacted] in body"},
		{strings.Repeat("é", 250), strings.Repeat("é", 200) + "…"},
	} {
		if got := excerpt([]byte(tc.in), "secret-token-1", ""); got != tc.want {
			t.Errorf("excerpt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !bytes.Equal([]byte(truncate("héllo", 2)), []byte("h…")) {
		t.Errorf("truncate cut a rune: %q", truncate("héllo", 2))
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"12", 12 * time.Second}, {"0", 0}, {"-5", 0}, {"abc", 0}, {"999999", 0},
		{now.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second},
		{now.Add(-45 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
		}
	}
}
