package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/store"
)

// intakeBatch is how many alerts each benchmarked request carries.
const intakeBatch = 10

// envelopeBody is one request of parry's envelope: intakeBatch alerts with ids unique to n.
func envelopeBody(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range intakeBatch {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"e-%d-%d","source":"alertmanager","kind":"alertmanager:HighErrorRate","severity":"critical","title":"High error rate on api-%d:8080","observed_at":"2026-12-02T09:14:00.123Z","data":{"status":"firing","labels":{"alertname":"HighErrorRate","instance":"api-%d:8080","job":"api","severity":"critical"},"annotations":{"summary":"High error rate on api-%d:8080"},"generator_url":"http://prometheus.example:9090/graph","receiver":"parry","group_key":"{}:{alertname=\"HighErrorRate\"}","external_url":"http://alertmanager.example:9093"}}`, n, i, i, i, i)
	}
	b.WriteByte(']')
	return b.String()
}

// alertmanagerBody is the same alerts as Alertmanager sends them, for the shipped alertmanager source.
func alertmanagerBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0,"status":"firing","receiver":"parry","groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate","job":"api","severity":"critical"},"commonAnnotations":{},"externalURL":"http://alertmanager.example:9093","alerts":[`)
	for i := range intakeBatch {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"HighErrorRate","instance":"api-%d:8080","job":"api","severity":"critical"},"annotations":{"summary":"High error rate on api-%d:8080"},"startsAt":"2026-12-02T09:14:00.123Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.example:9090/graph","fingerprint":"m-%d-%d"}`, i, i, n, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// postIntake posts n requests built by body to path, numbered from first, and fails on any answer but 202.
func postIntake(b *testing.B, f *sourceFixture, path, auth string, first, n int, body func(int) string) {
	for i := first; i < first+n; i++ {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body(i)))
		req.Header.Set("Authorization", "Bearer "+auth)
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("%s answered %d: %s", path, rec.Code, rec.Body.String())
		}
	}
}

// benchFixture is a fresh database and server with the shipped alertmanager source pushed.
func benchFixture(b *testing.B) *sourceFixture {
	b.Helper()
	f := newSourceFixture(b)
	if code, body := f.push(b, "alertmanager.yaml", readFile(b, "../../deploy/sources/alertmanager.yaml")); code != 200 {
		b.Fatalf("push: %d %s", code, body)
	}
	return f
}

func BenchmarkIntakeEnvelope(b *testing.B) {
	f := benchFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	postIntake(b, f, "/v1/alerts", f.tokens[store.RoleIngest], 0, b.N, envelopeBody)
	b.ReportMetric(float64(b.N*intakeBatch)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkIntakeMapped also times as many envelope requests of the same alerts on the same store and server,
// and reports the mapped throughput relative to the envelope's (x-envelope; the target is at least 0.8).
func BenchmarkIntakeMapped(b *testing.B) {
	f := benchFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	postIntake(b, f, "/v1/sources/alertmanager/alerts", "am-s3cret-value", 0, b.N, alertmanagerBody)
	b.StopTimer()
	mapped := b.Elapsed()
	b.ReportMetric(float64(b.N*intakeBatch)/mapped.Seconds(), "alerts/s")
	start := time.Now()
	postIntake(b, f, "/v1/alerts", f.tokens[store.RoleIngest], 0, b.N, envelopeBody)
	envelope := time.Since(start)
	ratio := envelope.Seconds() / mapped.Seconds()
	b.ReportMetric(ratio, "x-envelope")
	if b.N > 1 {
		b.Logf("%d requests of %d alerts: mapped %v, envelope %v; mapped throughput is %.2fx the envelope's (target >= 0.8)",
			b.N, intakeBatch, mapped.Round(time.Millisecond), envelope.Round(time.Millisecond), ratio)
	}
}
