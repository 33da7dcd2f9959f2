package cecp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testToken is the bearer token of every test; TestTokenNeverInErrors greps errors for it.
const testToken = "tok-SECRET-5f1c0de7a9"

// testNow is the clock of validation in tests, an hour after the fixtures' events.
var testNow = time.Date(2026, 1, 2, 1, 0, 0, 0, time.UTC)

// recorded is one request the fake vendor received.
type recorded struct {
	Method, Path, Query, Body, Auth string
}

// vendor is a fake CECP tenant: each test gives the handler; every request is recorded.
type vendor struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newVendor(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *vendor {
	t.Helper()
	v := &vendor{handle: handle}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.reqs = append(v.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Get("Authorization")})
		v.mu.Unlock()
		v.handle(w, r, body)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendor) requests() []recorded {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]recorded(nil), v.reqs...)
}

func (v *vendor) url() string { return v.srv.URL }

func newTestClient(t *testing.T, v *vendor, mods ...func(*Options)) *Client {
	t.Helper()
	o := Options{BaseURL: v.url(), Token: StaticToken(testToken), Now: func() time.Time { return testNow }}
	for _, m := range mods {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixture reads testdata/name with BASE replaced by base.
func fixture(t testing.TB, name, base string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "BASE", base))
}

func reply(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// asError returns err as *Error or fails the test.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T %v is not a *cecp.Error", err, err)
	}
	return e
}
