package sources_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/sources"
)

var update = flag.Bool("update", false, "rewrite the golden files of the shipped sources")

// shippedDir holds the sources parry ships (deploy/sources); each has fixtures in testdata/<name>/*.json.
const shippedDir = "../../deploy/sources"

// loadShipped lints and compiles every shipped source file; a diagnostic of any kind fails the test.
func loadShipped(t testing.TB) map[string]*sources.Mapping {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shippedDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped sources in %s: %v", shippedDir, err)
	}
	engine := expression.NewEngine()
	out := map[string]*sources.Mapping{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs, diags := sources.Parse(filepath.Base(f), data, false)
		for _, d := range diags {
			t.Errorf("%s", d)
		}
		for _, s := range srcs {
			m, err := sources.Compile(s, engine)
			if err != nil {
				t.Fatal(err)
			}
			out[s.Name] = m
		}
	}
	return out
}

// TestShippedSourcesGolden maps every fixture of every shipped source and compares the alerts with the golden
// file next to the fixture (go test -run TestShippedSourcesGolden -update rewrites them).
func TestShippedSourcesGolden(t *testing.T) {
	mappings := loadShipped(t)
	for _, want := range []string{"splunk", "alertmanager", "sentinel", "elastic", "generic"} {
		if mappings[want] == nil {
			t.Errorf("no shipped source %q", want)
		}
	}
	for name, m := range mappings {
		fixtures, _ := filepath.Glob(filepath.Join("testdata", name, "*.json"))
		var inputs []string
		for _, f := range fixtures {
			if !strings.HasSuffix(f, ".golden.json") {
				inputs = append(inputs, f)
			}
		}
		if len(inputs) == 0 {
			t.Errorf("source %s has no fixtures in testdata/%s", name, name)
		}
		for _, f := range inputs {
			t.Run(name+"/"+filepath.Base(f), func(t *testing.T) {
				body, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				alerts, problems := m.Map(sources.Input{Body: body, Headers: http.Header{"Content-Type": {"application/json"}}})
				var got bytes.Buffer
				enc := json.NewEncoder(&got)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(map[string]any{"alerts": alerts, "problems": problems}); err != nil {
					t.Fatal(err)
				}
				if len(problems) > 0 {
					t.Errorf("shipped fixture does not map: %v", problems)
				}
				golden := strings.TrimSuffix(f, ".json") + ".golden.json"
				if *update {
					if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Errorf("mapped alerts differ from %s (run with -update if the change is right)\ngot:\n%s", golden, got.String())
				}
			})
		}
	}
}
