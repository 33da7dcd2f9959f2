package playbook

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/yamlnode"
)

func TestTooManyDiagnostics(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("name: x\nsteps:\n  - id: a\n    wait: 1m\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	_, diags := Load("f.yaml", []byte(b.String()))
	if len(diags) != MaxDiagnostics+1 || diags[MaxDiagnostics].String() != "f.yaml:205:1: error: too many problems: only the first 200 are shown" {
		t.Fatalf("%d diagnostics, last %v", len(diags), diags[len(diags)-1])
	}
}

func TestLintPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "name: b\nsteps:\n  - id: a\n    wait: 1m\n")
	write("a/c.yml", "name: c\nsteps: []\n")
	write("a/c.test.yaml", "cases: []\n")
	write(".git/x.yaml", "broken: [")
	write("big.yaml", "name: big\n# "+strings.Repeat("x", MaxFileBytes)+"\n")
	files, err := PlaybookFiles([]string{dir, filepath.Join(dir, "b.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a/c.yml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "big.yaml")}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Fatalf("files %v", files)
	}
	diags, err := NewLinter(nil).Lint([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	got := diagText(diags)
	wantText := filepath.Join(dir, "a/c.yml") + `:2:8: error: "steps" is empty: a playbook needs at least one step` + "\n" +
		filepath.Join(dir, "big.yaml") + ":1:1: error: file is larger than the limit of 1048576 bytes\n"
	if got != wantText {
		t.Errorf("got\n%s\nwant\n%s", got, wantText)
	}
	if _, err := PlaybookFiles([]string{filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("missing path: %v", err)
	}
}

// TestLimits: each bound of Limits is an error at its place, naming the limit, with Diagnostic.Bound set
// so that a server can answer it as such.
func TestLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 60)
	for _, tc := range []struct {
		name  string
		lim   Limits
		src   string
		want  string
		bound string
	}{
		{"bytes", Limits{MaxBytes: 20}, "name: x\nsteps: [{id: a, wait: 1m}]\n",
			"f.yaml:1:1: error: file is 35 bytes, larger than the limit of 20 bytes", yamlnode.BoundBytes},
		{"nodes", Limits{MaxNodes: 10}, "name: x\nsteps:\n  - id: a\n    set: {a: 1, b: 2, c: 3}\n",
			"f.yaml:4:11: error: document has more than 10 YAML nodes", yamlnode.BoundNodes},
		{"aliases", Limits{MaxAliases: 1}, "name: x\nvars: {a: &v 1, b: *v, c: *v}\nsteps: [{id: a, wait: 1m}]\n",
			"f.yaml:2:27: error: document has more than 1 YAML aliases", yamlnode.BoundAliases},
		{"expression", Limits{MaxExpressionBytes: 50}, "name: x\nsteps:\n  - id: a\n    if: '\"" + long + "\" != \"\"'\n    wait: 1m\n",
			"f.yaml:4:10: error: expression is 68 bytes long; the limit is 50", BoundExpression},
		{"expression in a template", Limits{MaxExpressionBytes: 50}, "name: x\nvars:\n  a: ok ${{ 1 }} then ${{ \"" + long + "\" }}\nsteps: [{id: a, wait: 1m}]\n",
			"f.yaml:3:27: error: expression is 62 bytes long; the limit is 50", BoundExpression},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, diags := NewLinter(nil).WithLimits(tc.lim).Load("f.yaml", []byte(tc.src))
			d, ok := yamlnode.Exceeded(diags)
			if p != nil || !ok || d.String() != tc.want || d.Bound != tc.bound {
				t.Errorf("got %v (bound %q), want %s (bound %q)", diags, d.Bound, tc.want, tc.bound)
			}
			// Within the default limits the same file is fine, or has other problems.
			if _, diags := Load("f.yaml", []byte(tc.src)); func() bool { _, ok := yamlnode.Exceeded(diags); return ok }() {
				t.Errorf("over a default limit: %v", diags)
			}
		})
	}
	if got := NewLinter(nil).WithLimits(Limits{MaxNodes: 7}).Limits(); got != (Limits{MaxBytes: MaxFileBytes, MaxNodes: 7, MaxAliases: 100, MaxExpressionBytes: 4096}) {
		t.Errorf("zero fields keep their defaults: %+v", got)
	}
}

// TestConnections: with the configuration's connection names, a step naming another connection (or an
// approval notifying another webhook) is a warning (lint --config), or an error when the linter refuses them
// (a server receiving a push).
func TestConnections(t *testing.T) {
	t.Parallel()
	src := `name: x
steps:
  - id: a
    action: cecp.block
    with: {connection: tenant-uu, senders: [a@b.example]}
  - id: b
    action: cecp.block
    with: {connection: tenant-eu, senders: [a@b.example]}
  - id: c
    action: cecp.block
    with: {connection: "${{ alert.connection }}", senders: [a@b.example]}
  - id: d
    action: notify.webhook
    with: {connection: soc-chat, text: hi}
  - id: e
    action: cecp.block
    with: {senders: [a@b.example]}
  - id: f
    approval: {prompt: "Go?", notify: soc-chta}
  - id: g
    approval: {prompt: "Go?", notify: soc-chat}
`
	for _, tc := range []struct {
		name  string
		conns *Connections
		want  string
	}{
		{"not configured", nil, ""},
		{"warnings", &Connections{CECP: []string{"tenant-eu", "tenant-us"}, Webhooks: []string{}},
			"f.yaml:5:24: warning: connection \"tenant-uu\" is not in cecp.connections (did you mean \"tenant-eu\"?); configured: tenant-eu, tenant-us\n" +
				"f.yaml:14:24: warning: connection \"soc-chat\" is not in notify.webhooks; none is configured\n" +
				"f.yaml:19:39: warning: webhook \"soc-chta\" is not in notify.webhooks; none is configured\n" +
				"f.yaml:21:39: warning: webhook \"soc-chat\" is not in notify.webhooks; none is configured\n"},
		{"webhooks", &Connections{Webhooks: []string{"soc-chat", "mgmt"}},
			"f.yaml:19:39: warning: webhook \"soc-chta\" is not in notify.webhooks (did you mean \"soc-chat\"?); configured: soc-chat, mgmt\n"},
		{"refused", &Connections{CECP: []string{"tenant-eu"}, Webhooks: []string{"soc-chat"}, Refuse: true},
			"f.yaml:5:24: error: connection \"tenant-uu\" is not in cecp.connections (did you mean \"tenant-eu\"?); configured: tenant-eu\n" +
				"f.yaml:19:39: error: webhook \"soc-chta\" is not in notify.webhooks (did you mean \"soc-chat\"?); configured: soc-chat\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLinter(nil)
			if tc.conns != nil {
				l = l.WithConnections(*tc.conns)
			}
			p, diags := l.Load("f.yaml", []byte(src))
			if got := diagText(diags); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if (p == nil) != yamlnode.HasErrors(diags) {
				t.Error("a plan despite errors, or none without")
			}
		})
	}
}

// TestHintBudget: thousands of wrong names among thousands of right ones get did-you-means until the budget
// of comparisons is spent, then plain messages: the hints cannot make lint time quadratic.
func TestHintBudget(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("name: x\ninputs:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "  in_%d: {type: string}\n", i)
	}
	b.WriteString("vars:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "  v_%d: ${{ inputs.in_%dx }}\n", i, i)
	}
	b.WriteString("steps: [{id: a, wait: 1m}]\n")
	_, r, v := NewLinter(nil).check("f.yaml", []byte(b.String()))
	hinted := 0
	for _, d := range r.Diags {
		if strings.Contains(d.Message, "did you mean") {
			hinted++
		}
	}
	if len(r.Diags) != 1000 || hinted != hintBudget/1000 || v.hintsSpent != hintBudget {
		t.Errorf("%d problems, %d with a hint, %d comparisons", len(r.Diags), hinted, v.hintsSpent)
	}
	if want := `unknown input "in_0x" (did you mean "in_0"?)`; r.Diags[0].Message != want {
		t.Errorf("first: %s", r.Diags[0].Message)
	}
}
