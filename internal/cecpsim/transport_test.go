package cecpsim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAuthAndRouting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 41, Tenants: []Tenant{
		{Name: "acme", Tokens: []string{"tok-a1", "tok-a2"}, Domain: "acme.example", Mailboxes: 3},
		{Name: "globex", Tokens: []string{"tok-g"}, Domain: "globex.example", Mailboxes: 4},
	}})
	for _, tc := range []struct {
		name, token, method, path string
		status                    int
		msg                       string
	}{
		{"no token", "", "GET", "/v1/sweeping/mails", 401, "Authentication token not found"},
		{"unknown token", "nope", "GET", "/v1/sweeping/mails", 401, "Authentication token not found"},
		{"unknown path", "tok-a1", "GET", "/v1/sweeping/files", 404, "The requested API could not be found"},
		{"unknown path needs a token first", "", "GET", "/v1/nothing", 401, "Authentication token not found"},
		{"wrong method", "tok-a1", "DELETE", "/v1/remediation/mails", 405, "The requested method is not supported for the requested API"},
		{"get on download", "tok-a1", "GET", "/v1/siem/quarantine_mails", 405, "The requested method is not supported for the requested API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := h.doToken(tc.token, tc.method, tc.path, nil)
			wantError(t, code, body, tc.status, tc.msg)
		})
	}
	// Each tenant sees its own mail, whichever of its tokens it uses.
	for token, domain := range map[string]string{"tok-a1": "acme.example", "tok-a2": "acme.example", "tok-g": "globex.example"} {
		code, _, body := h.doToken(token, "GET", "/v1/sweeping/mails?limit=1000", nil)
		var page sweepResponse
		if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Value) == 0 {
			t.Fatalf("%s: %d %s", token, code, body)
		}
		for _, m := range page.Value {
			if !strings.HasSuffix(m.Mailbox, "@"+domain) {
				t.Fatalf("%s sees %s", token, m.Mailbox)
			}
		}
	}
	// A lower-case scheme is accepted as well.
	req, _ := http.NewRequest("GET", h.srv.URL+"/v1/remediation/mails", nil)
	req.Header.Set("Authorization", "bearer tok-g")
	resp, err := h.srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("lower-case bearer: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	reqs := h.sim.Requests()
	if reqs["GET /v1/sweeping/mails"] != 5 || reqs["DELETE /v1/remediation/mails"] != 1 || reqs["GET /v1/remediation/mails"] != 1 {
		t.Fatalf("request log %v", reqs)
	}
}

func TestRateLimitWindow(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []bool{false, true} {
		t.Run(map[bool]string{false: "no Retry-After", true: "Retry-After"}[retryAfter], func(t *testing.T) {
			h := newHarness(t, Options{Seed: 42, RateLimit: 20, RetryAfter: retryAfter, Tenants: []Tenant{
				{Name: "a", Tokens: []string{"ta"}}, {Name: "b", Tokens: []string{"tb"}}}})
			for i := range 20 {
				h.clock.Advance(time.Second)
				if code, _, body := h.doToken("ta", "GET", "/v1/remediation/mails", nil); code != 200 {
					t.Fatalf("request %d: %d %s", i+1, code, body)
				}
			}
			// Window opened at epoch+1s by the first request; now epoch+20s.
			code, hdr, body := h.doToken("ta", "GET", "/v1/remediation/mails", nil)
			wantError(t, code, body, 429, "Maximum allowed requests exceeded")
			if retryAfter && hdr.Get("Retry-After") != "41" || !retryAfter && hdr.Get("Retry-After") != "" {
				t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
			}
			// The other tenant has its own quota.
			if code, _, _ := h.doToken("tb", "GET", "/v1/remediation/mails", nil); code != 200 {
				t.Fatalf("tenant b limited by a: %d", code)
			}
			// The window opened at epoch+1s ends at epoch+61s.
			h.clock.Advance(40*time.Second + 999*time.Millisecond)
			if code, _, _ := h.doToken("ta", "GET", "/v1/remediation/mails", nil); code != 429 {
				t.Fatalf("before the window ends: %d", code)
			}
			h.clock.Advance(time.Millisecond)
			if code, _, body := h.doToken("ta", "GET", "/v1/remediation/mails", nil); code != 200 {
				t.Fatalf("new window: %d %s", code, body)
			}
		})
	}
}

func TestRateLimitTimeScale(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 43, RateLimit: 2, TimeScale: 60, RetryAfter: true})
	for range 2 {
		h.do("GET", "/v1/remediation/mails", nil)
	}
	code, hdr, _ := h.do("GET", "/v1/remediation/mails", nil)
	if code != 429 || hdr.Get("Retry-After") != "1" {
		t.Fatalf("%d %q", code, hdr.Get("Retry-After"))
	}
	h.clock.Advance(time.Second) // a scaled minute
	if code, _, _ := h.do("GET", "/v1/remediation/mails", nil); code != 200 {
		t.Fatalf("after a scaled minute: %d", code)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	always := func(f func(*Faults)) Faults { var x Faults; f(&x); return x }
	t.Run("500", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Error500 = 1 })})
		code, _, body := h.do("GET", "/v1/remediation/mails", nil)
		wantError(t, code, body, 500, "Internal server error")
	})
	t.Run("503 is not JSON", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Error503 = 1 })})
		code, hdr, body := h.do("GET", "/v1/remediation/mails", nil)
		if code != 503 || hdr.Get("Content-Type") != "text/html" || !strings.Contains(string(body), "503 Service Temporarily Unavailable") {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("429 and 200 with the rate-limit code", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Error429 = 1 })})
		code, _, body := h.do("GET", "/v1/remediation/mails", nil)
		wantError(t, code, body, 429, "Maximum allowed requests exceeded")
		if err := h.sim.SetFaults(always(func(f *Faults) { f.RateLimit200 = 1 })); err != nil {
			t.Fatal(err)
		}
		code, _, body = h.do("GET", "/v1/remediation/mails", nil)
		var e errorBody
		if code != 200 || json.Unmarshal(body, &e) != nil || e.Code != -4290001 || e.Msg != "Maximum allowed requests exceeded" {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("storm", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, RetryAfter: true})
		if err := h.sim.SetFaults(Faults{Storm429: Duration(30 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			code, hdr, _ := h.do("GET", "/v1/remediation/mails", nil)
			if code != 429 || hdr.Get("Retry-After") != "30" {
				t.Fatalf("during the storm: %d %q", code, hdr.Get("Retry-After"))
			}
		}
		h.clock.Advance(30 * time.Second)
		if code, _, _ := h.do("GET", "/v1/remediation/mails", nil); code != 200 {
			t.Fatalf("after the storm: %d", code)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.MalformedJSON = 1 })})
		code, _, body := h.do("GET", "/v1/remediation/mails", nil)
		var v any
		if code != 200 || json.Unmarshal(body, &v) == nil || len(body) == 0 {
			t.Fatalf("%d %q parses", code, body)
		}
	})
	t.Run("latency", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Latency = Duration(50 * time.Millisecond) })})
		start := time.Now()
		if code, _, _ := h.do("GET", "/v1/remediation/mails", nil); code != 200 {
			t.Fatal(code)
		}
		if time.Since(start) < 50*time.Millisecond {
			t.Fatal("answered before the latency")
		}
	})
	t.Run("hang until the client gives up", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Hang = 1 })})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/v1/remediation/mails", nil)
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		_, err := h.srv.Client().Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("hung POST ends when its client goes away", func(t *testing.T) {
		// The simulator is not closed: only the client's leaving may end the held request, or the server's
		// Close (which waits for every request) never returns.
		sim, err := New(Options{Seed: 44, RateLimit: NoRateLimit, Faults: always(func(f *Faults) { f.Hang = 1 })})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		srv := httptest.NewServer(sim)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/mitigation/mails", strings.NewReader(`[{"action_type":"MAIL_DELETE"}]`))
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		if _, err := srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(time.Minute): // a liveness bound, not a timing: Close returns at once when it works
			t.Fatal("the server's Close still waits for the POST whose client left")
		}
	})
	t.Run("hang released by Close", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Hang = 1 })})
		go func() { time.Sleep(50 * time.Millisecond); h.sim.Close() }()
		req, _ := http.NewRequest("GET", h.srv.URL+"/v1/remediation/mails", nil)
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		if _, err := h.srv.Client().Do(req); err == nil {
			t.Fatal("a hung request got an answer")
		}
	})
	t.Run("drop after POST applies the batch", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, ActionDelay: -1, Faults: always(func(f *Faults) {
			f.DropAfterPost = 1
			f.Paths = []string{"POST /v1/mitigation"}
		})})
		m := h.delivered(1)[0]
		data, _ := json.Marshal([]mailActionRequest{mailActionFor("MAIL_DELETE", m)})
		req, _ := http.NewRequest("POST", h.srv.URL+"/v1/mitigation/mails", strings.NewReader(string(data)))
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		resp, err := h.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got an answer: %s", resp.Status)
		}
		if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("err = %v", err)
		}
		if h.mailState(m.MailUniqueID) != StateDeleted {
			t.Fatal("the dropped POST was not applied")
		}
		// GETs are not dropped, so the client can check what happened.
		if items := h.results("/v1/mitigation/mails"); len(items) != 1 || items[0].Status != "Success" {
			t.Fatalf("results %+v", items)
		}
	})
	t.Run("paths restrict faults", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Error500 = 1; f.Paths = []string{"/v1/sweeping"} })})
		if code, _, _ := h.do("GET", "/v1/remediation/mails", nil); code != 200 {
			t.Fatal("fault outside its paths")
		}
		if code, _, _ := h.do("GET", "/v1/sweeping/mails", nil); code != 500 {
			t.Fatal("fault not applied on its path")
		}
	})
	t.Run("rates are rates", func(t *testing.T) {
		h := newHarness(t, Options{Seed: 44, Faults: always(func(f *Faults) { f.Error500 = 0.3 })})
		n := 0
		for range 400 {
			if code, _, _ := h.do("GET", "/v1/remediation/mails", nil); code == 500 {
				n++
			}
		}
		if n < 80 || n > 160 {
			t.Fatalf("%d of 400 failed at rate 0.3", n)
		}
	})
}

func TestParseFaults(t *testing.T) {
	t.Parallel()
	f, err := ParseFaults("500=0.05, 503=0.02,latency=50ms,drop-after-post=0.1,storm=30s,paths=POST /v1/mitigation|GET /v1/sweeping")
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{Error500: 0.05, Error503: 0.02, Latency: Duration(50 * time.Millisecond), DropAfterPost: 0.1,
		Storm429: Duration(30 * time.Second), Paths: []string{"POST /v1/mitigation", "GET /v1/sweeping"}}
	if f.String() != want.String() || f.String() != "500=0.05,503=0.02,storm=30s,latency=50ms,drop-after-post=0.1,paths=POST /v1/mitigation|GET /v1/sweeping" {
		t.Fatalf("got %s", f)
	}
	if f, err := ParseFaults(""); err != nil || f.String() != "none" {
		t.Fatalf("empty: %v %v", f, err)
	}
	for spec, msg := range map[string]string{
		"500=2":           "fault 500=2: the rate must be a number between 0 and 1",
		"500":             `fault "500" is not KEY=VALUE`,
		"latency=fast":    "fault latency=fast: the value must be a duration like 50ms",
		"404=0.1":         `unknown fault "404" (known: 429, 500, 503, drop-after-post, hang, latency, malformed-json, paths, rate-limit-200, storm)`,
		"500=0.1,500=0.2": `fault "500" is given twice`,
	} {
		if _, err := ParseFaults(spec); err == nil || err.Error() != msg {
			t.Errorf("ParseFaults(%q) = %v, want %q", spec, err, msg)
		}
	}
}

func TestStormGivenAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 45, TimeScale: 10, Faults: Faults{Storm429: Duration(10 * time.Second)}})
	if code, _, _ := h.do("GET", "/v1/remediation/mails", nil); code != 429 {
		t.Fatalf("first request during a storm set at start: %d", code)
	}
	h.clock.Advance(time.Second) // ten seconds scaled by 10
	if code, _, _ := h.do("GET", "/v1/remediation/mails", nil); code != 200 {
		t.Fatalf("after the storm: %d", code)
	}
}
