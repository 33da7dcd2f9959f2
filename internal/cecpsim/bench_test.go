package cecpsim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkServeParallel measures requests per second over loopback with the rate limit off and parallel
// clients: a sweep page of 20 mails, the most common call. The target is at least 5,000 requests/s.
func BenchmarkServeParallel(b *testing.B) {
	for _, tc := range []struct{ name, path string }{
		{"sweep-page", "/v1/sweeping/mails?limit=20"},
		{"blocklist-get", "/v1/remediation/mails"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sim, err := New(Options{Seed: 1, Mailboxes: 200, RateLimit: NoRateLimit, Now: func() time.Time { return epoch }})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(sim)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
					req.Header.Set("Authorization", "Bearer "+DefaultToken)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkSweepLargeTenant sweeps a tenant of 5,000 mailboxes (about 63,000 mails) for one campaign's sender
// over the default window, following every page: the cost of a filtered scan.
func BenchmarkSweepLargeTenant(b *testing.B) {
	genStart := time.Now()
	h := newHarness(b, Options{Seed: 2, Mailboxes: 5000})
	genTime := time.Since(genStart)
	info := h.sim.Tenants()[0]
	sender := info.Campaigns[0].Sender
	b.ResetTimer()
	found := 0
	for b.Loop() {
		got, _ := h.sweepAll("/v1/sweeping/mails?limit=1000&sender=" + sender)
		found = len(got)
	}
	b.ReportMetric(float64(info.Mails), "mails")
	b.ReportMetric(float64(found), "matches")
	b.ReportMetric(genTime.Seconds(), "generate-s")
}
