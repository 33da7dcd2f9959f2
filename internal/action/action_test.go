package action

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/actions.md")

func TestDocsUpToDate(t *testing.T) {
	t.Parallel()
	const path = "../../docs/actions.md"
	got := Default().Markdown()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/action -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/actions.md is stale: run go test ./internal/action -update")
	}
}

// The catalog is data that other packages trust: check its invariants once here.
func TestCatalogInvariants(t *testing.T) {
	t.Parallel()
	nameRE := regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)
	inputRE := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	c := Default()
	if len(c.Names()) != 12 {
		t.Errorf("catalog has %d actions, want 12", len(c.Names()))
	}
	for _, s := range c.Specs() {
		if !nameRE.MatchString(s.Name) {
			t.Errorf("%s: bad name", s.Name)
		}
		if s.Summary == "" || s.Description == "" || s.Timeout <= 0 || s.Retry.InitialInterval <= 0 || s.Retry.Backoff < 1 {
			t.Errorf("%s: summary, description, timeout and retry are required", s.Name)
		}
		if s.Retry.MaxAttempts == 0 && s.ScheduleToClose == 0 {
			t.Errorf("%s: unbounded retries", s.Name)
		}
		if s.Mutates && s.Retry.MaxAttempts == 0 {
			t.Errorf("%s: a mutating action must bound its attempts", s.Name)
		}
		if s.Output.Kind != Object || len(s.Output.Fields) == 0 {
			t.Errorf("%s: output must be an object with fields", s.Name)
		}
		seen := map[string]bool{}
		for _, in := range s.Inputs {
			if !inputRE.MatchString(in.Name) || seen[in.Name] {
				t.Errorf("%s: bad or duplicate input %q", s.Name, in.Name)
			}
			seen[in.Name] = true
			if in.Required && in.Default != nil {
				t.Errorf("%s.%s: required with a default", s.Name, in.Name)
			}
			if in.Description == "" {
				t.Errorf("%s.%s: no description", s.Name, in.Name)
			}
			if in.Type.Format != "" && Formats[in.Type.Format] == "" {
				t.Errorf("%s.%s: unknown format %q", s.Name, in.Name, in.Type.Format)
			}
			if s, ok := in.Default.(string); ok && len(in.Enum) > 0 {
				found := false
				for _, e := range in.Enum {
					found = found || e == s
				}
				if !found {
					t.Errorf("%s.%s: default %q not in enum", s, in.Name, s)
				}
			}
		}
		for _, g := range append(append([][]string{}, s.AtLeastOne...), s.Exclusive...) {
			for _, n := range g {
				if !seen[n] {
					t.Errorf("%s: rule names unknown input %q", s.Name, n)
				}
			}
		}
		if conn, ok := s.Input("connection"); Namespace(s.Name) == "cecp" && (!ok || conn.Required) {
			t.Errorf("%s: cecp actions take an optional connection", s.Name)
		}
	}
	if _, ok := c.Lookup("cecp.sweep"); !ok {
		t.Error("no cecp.sweep")
	}
}
