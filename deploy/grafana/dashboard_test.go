// Package grafana holds parry's Grafana dashboard; its test checks that every parry metric the dashboard
// queries is one parry registers, so a renamed metric cannot leave a panel silently empty.
package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/mitigation"
)

// recorder keeps the collectors registered through it.
type recorder struct {
	prometheus.Registerer
	cs []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	r.cs = append(r.cs, c)
	return r.Registerer.Register(c)
}

// registered names every metric parry's processes register: the API's, the Go and process collectors, the
// dispatcher's, the mitigation broker's and the queue collector's. Describe names a collector's metrics
// whether or not they have samples yet (Gather would skip empty vectors).
func registered(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{Registerer: prometheus.NewRegistry()}
	if _, err := dispatch.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := mitigation.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	cs := append(api.NewMetrics().Collectors(), rec.cs...)
	cs = append(cs, mitigation.NewQueueCollector(nil), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	ch := make(chan *prometheus.Desc)
	done := make(chan struct{})
	go func() {
		for d := range ch {
			if m := fq.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
		close(done)
	}()
	for _, c := range cs {
		c.Describe(ch)
	}
	close(ch)
	<-done
	if !names["parry_http_requests_total"] || !names["parry_mitigation_queue_items"] || !names["go_goroutines"] {
		t.Fatalf("the registry walk found too little: %v", names)
	}
	return names
}

func TestDashboardQueriesRegisteredMetrics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("parry.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("parry.json: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) < 8 {
		t.Fatalf("dashboard %q has uid %q and %d panels", dash.Title, dash.UID, len(dash.Panels))
	}
	have := registered(t)
	metric := regexp.MustCompile(`\b((?:parry|process|go)_[a-z0-9_]+)\b`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metric.FindAllString(tg.Expr, -1) {
				name := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base := strings.TrimSuffix(m, suffix); base != m && have[base] {
						name = base
					}
				}
				used[name] = true
				if !have[name] {
					t.Errorf("panel %q queries %s, which parry does not register", p.Title, m)
				}
			}
		}
	}
	// Every parry metric is on the dashboard, so a new one is not forgotten there.
	var missing []string
	for name := range have {
		if strings.HasPrefix(name, "parry_") && !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics on no panel: %v", missing)
	}
}
