package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parry-soar/parry/internal/config"
)

// TestREADMEDocumentsEverySetting keeps the README's configuration reference complete.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	flags := allFlags()
	for _, s := range config.Settings() {
		row := "| `" + s.Key + "` | `" + s.Env + "` | `--" + s.Flag + "` |"
		if !flags[s.Flag] {
			row = "| `" + s.Key + "` | `" + s.Env + "` | — |"
		}
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the row for %s: %s", s.Key, row)
		}
	}
	for _, first := range []string{"go run ./cmd/parry dev", "make test"} {
		if i := strings.Index(readme, first); i < 0 || i > 2000 {
			t.Errorf("README's first screen lacks %q", first)
		}
	}
}

// allFlags is every flag of every command (persistent ones included), by name.
func allFlags() map[string]bool {
	a := &app{stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: &strings.Builder{}, getenv: func(string) string { return "" }}
	out := map[string]bool{"help": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { out[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(a.newRootCmd())
	return out
}

// notParryFlags are flags of other tools the docs show (docker compose).
var notParryFlags = map[string]bool{"scale": true, "profile": true}

// TestDocsNameOnlyFlagsThatExist: every --flag the README and docs/ name is a flag of some parry command, and
// the settings table gives a flag only where a command has it.
func TestDocsNameOnlyFlagsThatExist(t *testing.T) {
	flags := allFlags()
	files, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	files = append(files, filepath.Join("..", "..", "README.md"))
	flagRE := regexp.MustCompile(`(?:^|[^A-Za-z0-9-])--([a-z][a-z0-9-]*)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
				if !flags[m[1]] && !notParryFlags[m[1]] {
					t.Errorf("%s:%d names --%s, which no parry command has", filepath.Base(f), i+1, m[1])
				}
			}
		}
	}
	readme, _ := os.ReadFile(filepath.Join("..", "..", "README.md"))
	for _, s := range config.Settings() {
		if flags[s.Flag] {
			continue
		}
		if row := "| `" + s.Key + "` | `" + s.Env + "` | — |"; !strings.Contains(string(readme), row) {
			t.Errorf("README: %s has no flag in any command; its row should read %s", s.Key, row)
		}
	}
	if !strings.Contains(string(readme), "POST /v1/webhooks/alerts/{name}") || strings.Contains(string(readme), "/v1/webhooks/alerts/{token}") {
		t.Error("README: the webhook URL takes the token's name: POST /v1/webhooks/alerts/{name}")
	}
}

// TestMakeDocsRunsATestThatExists: `make docs` runs the test that rewrites docs/actions.md, with its flag.
func TestMakeDocsRunsATestThatExists(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^docs:\n\t(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no docs target")
	}
	recipe := string(m[1])
	run := regexp.MustCompile(`-run '\^?([A-Za-z0-9_]+)\$?\$?'`).FindStringSubmatch(recipe)
	if run == nil || !strings.Contains(recipe, "./internal/action/") || !strings.Contains(recipe, "-update") {
		t.Fatalf("docs recipe %q", recipe)
	}
	tests, _ := filepath.Glob(filepath.Join("..", "action", "*_test.go"))
	found := false
	for _, f := range tests {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "func "+run[1]+"(t *testing.T)") && strings.Contains(string(b), `flag.Bool("update"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("make docs runs %s, which internal/action does not have (or it has no -update flag)", run[1])
	}
}

// TestMakeBuildSharesTheCache: `make build` builds with go run's and go test's settings; -trimpath, another
// CGO_ENABLED or build flags would give every package another cache key and rebuild the whole tree (23 minutes
// on the shared 2-core machine).
func TestMakeBuildSharesTheCache(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^build:\n\t(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no build target")
	}
	for _, bad := range []string{"-trimpath", "CGO_ENABLED", "-ldflags", "-gcflags", "-tags", "-buildvcs=false"} {
		if strings.Contains(string(m[1]), bad) {
			t.Errorf("make build uses %s: %s", bad, m[1])
		}
	}
}
