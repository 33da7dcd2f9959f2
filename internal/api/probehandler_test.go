package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/mitigation"
)

// TestProbeHandler: the worker's endpoint serves liveness, readiness from its checks (503 naming the failed
// one, no cause), its metrics and nothing of the API.
func TestProbeHandler(t *testing.T) {
	t.Parallel()
	m := api.NewMetrics()
	if _, err := mitigation.NewMetrics(m.Registry); err != nil {
		t.Fatal(err)
	}
	down := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	s := &api.Server{Metrics: m, Checks: []api.Check{
		{Name: "postgres", Check: func(context.Context) error { return down }},
		{Name: "temporal", Check: func(context.Context) error { return nil }},
	}}
	srv := httptest.NewServer(s.ProbeHandler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"postgres": "unavailable"`) || !strings.Contains(body, `"temporal": "ok"`) || strings.Contains(body, "10.0.0.7") {
		t.Errorf("/readyz: %d %s", code, body)
	}
	// (The broker's vectors show once they have a connection's sample; the process's own are there at once.)
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d %.200s", code, body)
	}
	if code, _ := get("/v1/runs"); code != 404 {
		t.Errorf("/v1/runs on the worker's endpoint: %d, want 404", code)
	}
}
