package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodPlaybook = `name: good
steps:
  - id: sweep
    action: cecp.sweep
    with: {sender: a@b.example}
    next: end
  - id: unreachable
    wait: 1m
`

const badPlaybook = `name: bad
steps:
  - id: sweep
    action: cecp.swep
    with: {sender: a@b.example}
  - id: later
    if: steps.sweeep.status == "succeeded"
    wait: 1m
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLint(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"good.yaml":         goodPlaybook,
		"sub/bad.yml":       badPlaybook,
		"sub/bad.test.yaml": "not: a playbook",
		".hidden/x.yaml":    "garbage: [",
		"notes.txt":         "not yaml",
		"empty/readme.md":   "",
		"clean.yaml":        "name: clean\nsteps:\n  - id: a\n    wait: 1m\n",
	})
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "sub", "bad.yml")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"clean file with a warning", []string{"lint", good}, 0,
			good + ":7:9: warning: step \"unreachable\" can never run: the steps before it always jump past it or end the run\n",
			"0 errors, 1 warning in 1 file\n"},
		{"directory", []string{"lint", dir}, 1,
			good + ":7:9: warning: step \"unreachable\" can never run: the steps before it always jump past it or end the run\n" +
				bad + ":4:13: error: unknown action \"cecp.swep\" (did you mean \"cecp.sweep\"?)\n" +
				bad + ":7:15: error: unknown step \"sweeep\" (did you mean \"sweep\"?)\n",
			"2 errors, 1 warning in 3 files\n"},
		{"clean", []string{"lint", filepath.Join(dir, "clean.yaml")}, 0, "", "0 errors, 0 warnings in 1 file\n"},
		{"no arguments", []string{"lint"}, 2, "", "parry: parry lint needs at least one playbook file or directory\n"},
		{"missing file", []string{"lint", filepath.Join(dir, "nope.yaml")}, 2, "", "no such file or directory"},
		{"no playbooks", []string{"lint", filepath.Join(dir, "empty")}, 2, "", "no playbook files (.yaml, .yml) under"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			if out != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.stdout)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.stderr)
			}
		})
	}
}

// TestLintConfig: with a configuration, a connection it does not define is a warning; without one, lint
// cannot know and says nothing.
func TestLintConfig(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"pb.yaml": `name: pb
steps:
  - id: a
    action: cecp.block
    with: {connection: tenant-uu, senders: [a@b.example]}
  - id: b
    action: notify.webhook
    with: {connection: soc-chat, text: hi}
  - id: c
    action: cecp.block
    with: {connection: tenant-eu, senders: [a@b.example]}
`,
		"parry.yaml": `cecp:
  connections:
    - {name: tenant-eu, region: eu, token_secret: cecp-eu}
notify:
  webhooks:
    - {name: soc-team, url_secret: soc-team-url}
`,
	})
	pb, cfg := filepath.Join(dir, "pb.yaml"), filepath.Join(dir, "parry.yaml")
	want := pb + `:5:24: warning: connection "tenant-uu" is not in cecp.connections (did you mean "tenant-eu"?); configured: tenant-eu` + "\n" +
		pb + `:8:24: warning: connection "soc-chat" is not in notify.webhooks; configured: soc-team` + "\n"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		out  string
	}{
		{"flag", nil, []string{"lint", "--config", cfg, pb}, want},
		{"environment", map[string]string{"PARRY_CONFIG": cfg}, []string{"lint", pb}, want},
		{"no configuration", nil, []string{"lint", pb}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.env, "", tc.args...)
			if code != 0 || out != tc.out {
				t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", code, out, tc.out, errOut)
			}
		})
	}
	_, errOut, code := runCLI(t, nil, "", "lint", "--config", filepath.Join(dir, "nope.yaml"), pb)
	if code != 2 || !strings.Contains(errOut, "nope.yaml: no such file or directory") {
		t.Errorf("missing config: exit %d, %s", code, errOut)
	}
}

func TestLintJSON(t *testing.T) {
	dir := writeFiles(t, map[string]string{"bad.yaml": badPlaybook, "good.yaml": "name: g\nsteps:\n  - id: a\n    wait: 1m\n"})
	out, _, code := runCLI(t, nil, "", "lint", "--json", filepath.Join(dir, "bad.yaml"))
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["line"] != 4.0 || got[0]["column"] != 13.0 || got[0]["severity"] != "error" ||
		got[0]["message"] != `unknown action "cecp.swep" (did you mean "cecp.sweep"?)` || got[0]["file"] != filepath.Join(dir, "bad.yaml") {
		t.Errorf("got %s", out)
	}
	out, _, code = runCLI(t, nil, "", "lint", "--json", filepath.Join(dir, "good.yaml"))
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("clean: exit %d, %q", code, out)
	}
}

func TestCompile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"good.yaml": goodPlaybook, "bad.yaml": badPlaybook})
	out, errOut, code := runCLI(t, nil, "", "compile", filepath.Join(dir, "good.yaml"))
	if code != 0 || !strings.HasPrefix(out, "{\n  \"plan_version\": 1,\n  \"name\": \"good\",") || !strings.Contains(errOut, "warning: step \"unreachable\"") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	again, _, _ := runCLI(t, nil, "", "compile", filepath.Join(dir, "good.yaml"))
	if again != out {
		t.Error("compile is not deterministic")
	}
	out, errOut, code = runCLI(t, nil, "", "compile", filepath.Join(dir, "bad.yaml"))
	if code != 1 || out != "" || !strings.Contains(errOut, `bad.yaml:4:13: error: unknown action "cecp.swep"`) {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = runCLI(t, nil, "", "compile", dir)
	if code != 2 || !strings.Contains(errOut, "is not a playbook file") {
		t.Errorf("directory: exit %d %s", code, errOut)
	}
}

func TestGraphCmd(t *testing.T) {
	dir := writeFiles(t, map[string]string{"good.yaml": goodPlaybook})
	f := filepath.Join(dir, "good.yaml")
	out, _, code := runCLI(t, nil, "", "graph", f)
	if code != 0 || !strings.HasPrefix(out, "flowchart TD\n") || !strings.Contains(out, `s_sweep["sweep<br/>cecp.sweep"]`) {
		t.Errorf("mermaid: exit %d\n%s", code, out)
	}
	out, _, code = runCLI(t, nil, "", "graph", "--format", "dot", f)
	if code != 0 || !strings.HasPrefix(out, "digraph \"good\" {") {
		t.Errorf("dot: exit %d\n%s", code, out)
	}
	_, errOut, code := runCLI(t, nil, "", "graph", "--format", "svg", f)
	if code != 2 || !strings.Contains(errOut, `--format must be mermaid or dot, got "svg"`) {
		t.Errorf("bad format: exit %d %s", code, errOut)
	}
}

func TestSchemaCmd(t *testing.T) {
	out, _, code := runCLI(t, nil, "", "schema")
	var s map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Fatalf("exit %d\n%.200s", code, out)
	}
}
