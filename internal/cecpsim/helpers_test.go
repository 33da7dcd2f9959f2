package cecpsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// epoch is the fake clock's start: a fixed instant, so generated data is the same in every run.
var epoch = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a simulator behind a loopback HTTP server, with a fake clock.
type harness struct {
	t     testing.TB
	sim   *Server
	srv   *httptest.Server
	clock *fakeClock
	token string
}

func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	clock := &fakeClock{t: epoch}
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = NoRateLimit
	}
	sim, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	token := DefaultToken
	if len(opts.Tokens) > 0 {
		token = opts.Tokens[0]
	}
	return &harness{t: t, sim: sim, srv: srv, clock: clock, token: token}
}

// do sends a request with the harness token; body is JSON-encoded unless it is a string or []byte.
func (h *harness) do(method, path string, body any) (int, http.Header, []byte) {
	h.t.Helper()
	return h.doToken(h.token, method, path, body)
}

func (h *harness) doToken(token, method, path string, body any) (int, http.Header, []byte) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = h.srv.URL + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, data
}

// getJSON GETs path, requires 200 and decodes into v.
func (h *harness) getJSON(path string, v any) {
	h.t.Helper()
	code, _, body := h.do(http.MethodGet, path, nil)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		h.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// wantError checks a vendor error answer: status, code and message.
func wantError(t testing.TB, code int, body []byte, wantStatus int, wantMsg string) {
	t.Helper()
	if code != wantStatus {
		t.Fatalf("status %d, want %d: %s", code, wantStatus, body)
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Code != vendorCode(wantStatus) || e.Msg != wantMsg || len(e.TraceID) != 36 {
		t.Fatalf("error body %s, want code %d and msg %q", body, vendorCode(wantStatus), wantMsg)
	}
}

// sweepAll follows next_link from path to the end and returns every item and the number of pages.
func (h *harness) sweepAll(path string) ([]SweepMail, int) {
	h.t.Helper()
	var all []SweepMail
	pages := 0
	for path != "" {
		var page sweepResponse
		h.getJSON(path, &page)
		pages++
		all = append(all, page.Value...)
		if page.NextLink != "" && !strings.HasPrefix(page.NextLink, h.srv.URL+"/v1/sweeping/mails?") {
			h.t.Fatalf("next_link %q is not an absolute link to this server", page.NextLink)
		}
		path = page.NextLink
		if pages > 10000 {
			h.t.Fatal("pagination does not end")
		}
	}
	return all, pages
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
