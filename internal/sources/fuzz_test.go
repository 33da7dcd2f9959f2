package sources_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/sources"
)

// FuzzParse lints arbitrary source files: nothing panics, and a file with no error diagnostic compiles.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(shippedDir, "*.yaml"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("sources:\n  - name: x\n    auth: hmac\n    secret: s\n    map: {kind: '\"k\"', title: '[', severity: 1}\n")
	f.Fuzz(func(t *testing.T, file string) {
		srcs, diags := sources.Parse("f.yaml", []byte(file), false)
		for _, d := range diags {
			if d.Line < 1 || d.Column < 1 {
				t.Fatalf("diagnostic without a position: %v", d)
			}
			if d.Severity == "error" {
				return
			}
		}
		for _, s := range srcs {
			if _, err := sources.Compile(s, nil); err != nil {
				t.Fatalf("linted clean but does not compile: %v\n%s", err, file)
			}
		}
	})
}

// FuzzMap maps arbitrary bodies with every shipped source: nothing panics, and a body either maps to alerts of
// the source with no problem or has problems.
func FuzzMap(f *testing.F) {
	mappings := loadShipped(f)
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, p := range fixtures {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("{\"alerts\":[{\"title\":\"\\u0000\",\"time\":1e400}]}")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, body string) {
		for name, m := range mappings {
			alerts, problems := m.Map(sources.Input{Body: []byte(body), Headers: http.Header{"X-Test": {"1"}}})
			if len(problems) == 0 && len(alerts) == 0 {
				t.Fatalf("%s: no alerts and no problems for %q", name, body)
			}
			for _, a := range alerts {
				if a.Source != name {
					t.Fatalf("%s mapped an alert of source %q", name, a.Source)
				}
			}
		}
	})
}
