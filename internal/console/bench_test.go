package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/console"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// BenchmarkRunsPage is the first paint of the runs page with 1,000 runs stored: the page's HTML, its script
// and stylesheet, and the list call it makes (GET /v1/runs?limit=100, as the page asks), over HTTP on a real
// PostgreSQL. Target: under 300 ms.
func BenchmarkRunsPage(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	st := storetest.NewStore(b)
	ctx := context.Background()
	for i := range 1000 {
		status := []string{store.RunSucceeded, store.RunFailed, store.RunRunning, store.RunWaiting}[i%4]
		if _, err := st.InsertRun(ctx, store.Run{ID: fmt.Sprintf("run-%04d", i), PlaybookName: "phishing-containment", PlaybookSHA256: "abc",
			Status: status, Plan: json.RawMessage(`{}`), Inputs: json.RawMessage(`{"sender":"noreply@x.test"}`)}); err != nil {
			b.Fatal(err)
		}
	}
	tok, _, err := st.CreateToken(ctx, "viewer", store.RoleViewer, "bench")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer((&api.Server{Store: st, Runs: &runs.Service{Store: st}, Console: console.Handler()}).Handler())
	defer srv.Close()
	get := func(path string, auth bool) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return int(n)
	}
	var list apitypes.RunList
	req, _ := http.NewRequest("GET", srv.URL+"/v1/runs?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || json.NewDecoder(resp.Body).Decode(&list) != nil || len(list.Runs) != 100 {
		b.Fatalf("list: %v %d", err, len(list.Runs))
	}
	resp.Body.Close()
	b.ResetTimer()
	start := time.Now()
	bytes := 0
	for b.Loop() {
		bytes = get("/", false) + get("/ui/app.js", false) + get("/ui/style.css", false) + get("/v1/runs?limit=100", true)
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/first-paint")
	b.ReportMetric(float64(bytes), "bytes/first-paint")
	b.Logf("runs page first paint with 1,000 runs stored: %.1f ms (%d bytes; target < 300 ms)", float64(per.Microseconds())/1000, bytes)
}
