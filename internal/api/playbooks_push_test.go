package api

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// TestPushRefusals: a push over a bound is refused before anything is stored, with 413 for the size and
// 400 for the other bounds, naming the bound and the limit; so is a playbook naming a connection the
// server does not have. (The store is never reached: these tests need no database.)
func TestPushRefusals(t *testing.T) {
	const aliases = "name: a\nvars: {x: &v 1, y: *v, z: *v}\nsteps: [{id: a, wait: 1m}]\n"
	nodes := "name: a\nsteps: [{id: a, wait: 1m}]\nvars:\n" + "  v: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
	long := "name: a\nsteps:\n  - id: a\n    if: '\"" + strings.Repeat("x", 60) + "\" != \"\"'\n    wait: 1m\n"
	conn := "name: a\nsteps:\n  - id: a\n    action: cecp.block\n    with: {connection: tenant-uu, senders: [a@b.example]}\n"
	small := PushLinter([]string{"tenant-eu"}).WithLimits(playbook.Limits{MaxBytes: 200, MaxNodes: 12, MaxAliases: 1, MaxExpressionBytes: 50})
	for _, tc := range []struct {
		name, source string
		status       int
		code, msg    string
	}{
		{"bytes", strings.Repeat("#", 201), 413, "playbook_too_large",
			"p.yaml is 201 bytes, larger than the limit of 200 bytes (bound: bytes)"},
		{"nodes", nodes, 400, "limit_exceeded",
			"p.yaml exceeds a limit (bound: nodes), nothing was stored: p.yaml:4:3: error: document has more than 12 YAML nodes"},
		{"aliases", aliases, 400, "limit_exceeded",
			"p.yaml exceeds a limit (bound: aliases), nothing was stored: p.yaml:2:27: error: document has more than 1 YAML aliases"},
		{"expression", long, 400, "limit_exceeded",
			"p.yaml exceeds a limit (bound: expression_bytes), nothing was stored: p.yaml:4:10: error: expression is 68 bytes long; the limit is 50"},
		{"unknown connection", conn, 400, "lint_failed",
			`the playbook has a problem, nothing was stored: p.yaml:5:24: error: connection "tenant-uu" is not in cecp.connections (did you mean "tenant-eu"?); configured: tenant-eu`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/v1/playbooks", strings.NewReader(pushJSON("p.yaml", tc.source)))
			p := &playbookAPI{linter: small}
			if tc.code == "lint_failed" {
				p.linter = PushLinter([]string{"tenant-eu"})
			}
			err := p.push(httptest.NewRecorder(), req)
			var e *Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || e.Message != tc.msg {
				t.Fatalf("got %v (%+v)\nwant %d %s %s", err, e, tc.status, tc.code, tc.msg)
			}
			if tc.status == 400 {
				if diags, ok := e.Details.([]yamlnode.Diagnostic); !ok || len(diags) == 0 {
					t.Errorf("no diagnostics in the details: %#v", e.Details)
				}
			}
		})
	}
}

func pushJSON(file, source string) string {
	b, _ := json.Marshal(map[string]any{"playbooks": []map[string]string{{"file": file, "source": source}}})
	return string(b)
}

// TestPushLinterWithoutConnections: a server that knows no connections does not check them.
func TestPushLinterWithoutConnections(t *testing.T) {
	src := "name: a\nsteps:\n  - id: a\n    action: cecp.block\n    with: {connection: tenant-uu, senders: [a@b.example]}\n"
	if p, diags := PushLinter(nil).Load("p.yaml", []byte(src)); p == nil || len(diags) > 0 {
		t.Errorf("%v", diags)
	}
}
