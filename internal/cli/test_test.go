package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const testedPlaybook = `name: tested
inputs:
  sender: { type: string, required: true }
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: "${{ inputs.sender }}" }
  - id: block
    if: len(steps.sweep.output.mails) > 0
    action: cecp.block
    with: { senders: ["${{ inputs.sender }}"] }
output:
  found: ${{ len(steps.sweep.output.mails) }}
`

const testedTests = `mocks:
  cecp.block: { output: {} }
cases:
  - name: found
    inputs: { sender: a@b.test }
    mocks: { sweep: { output: { mails: [{ mailbox: x@corp.test }] } } }
    expect:
      steps: { block: succeeded }
      calls: [{ step: block, with: { senders: [a@b.test] } }]
  - name: wrong count
    inputs: { sender: a@b.test }
    mocks: { sweep: { output: { mails: [] } } }
    expect:
      output: { found: 2 }
      steps: { block: succeeded }
`

var msRE = regexp.MustCompile(`\(\d+ms\)`)

func TestTestCommand(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tested.yaml":       testedPlaybook,
		"tested.test.yaml":  testedTests,
		"lonely.yaml":       "name: lonely\nsteps:\n  - id: s\n    wait: 1m\n",
		"bad/bad.yaml":      testedPlaybook,
		"bad/bad.test.yaml": "cases:\n  - name: x\n    mocks: { swep: { output: {} } }\n",
		"empty/notes.md":    "",
	})
	pb := filepath.Join(dir, "tested.yaml")
	tests := filepath.Join(dir, "tested.test.yaml")
	bad := filepath.Join(dir, "bad", "bad.test.yaml")
	const okFound = "ok   tested/found (Nms)\n"
	const failWrong = "FAIL tested/wrong count (Nms)\n" +
		"    tested.test.yaml:14: output.found: got 0, want 2\n" +
		"    tested.test.yaml:15: step block: got skipped, want succeeded\n"
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"one passing case", []string{"test", "--run", "found$", tests}, 0, okFound + "1 passed, 0 failed\n", ""},
		{"a playbook stands for its test file", []string{"test", pb}, 1, okFound + failWrong + "1 passed, 1 failed\n", ""},
		{"directory", []string{"test", dir}, 1,
			bad + ":3:14: error: mock for unknown step \"swep\" (did you mean \"sweep\"?)\n" +
				"FAIL " + bad + " [not run: 1 error]\n" +
				okFound + failWrong +
				"?    " + filepath.Join(dir, "lonely.yaml") + " [no test file]\n" +
				"1 passed, 1 failed, 1 test file with errors\n", ""},
		{"run matches nothing", []string{"test", "--run", "nothing", tests}, 0, "0 passed, 0 failed\n", "no case matches --run nothing\n"},
		{"no arguments", []string{"test"}, 2, "", "parry: parry test needs at least one test file, playbook or directory\n"},
		{"bad regex", []string{"test", "--run", "(", tests}, 2, "", "parry: --run: error parsing regexp: missing closing ): `(`\n"},
		{"missing path", []string{"test", filepath.Join(dir, "nope")}, 2, "", "parry: reading " + filepath.Join(dir, "nope") + ": no such file or directory\n"},
		{"playbook without tests", []string{"test", filepath.Join(dir, "lonely.yaml")}, 2, "",
			"parry: " + filepath.Join(dir, "lonely.yaml") + " has no test file: write " + filepath.Join(dir, "lonely.test.yaml") + " beside it\n"},
		{"no test files", []string{"test", filepath.Join(dir, "empty")}, 2, "", "parry: no test files (NAME.test.yaml) under " + filepath.Join(dir, "empty") + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			out = msRE.ReplaceAllString(out, "(Nms)")
			if out != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.stdout)
			}
			errOut = strings.TrimSuffix(errOut, "Run 'parry help' or 'parry <command> --help' for usage.\n")
			if errOut != tc.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errOut, tc.stderr)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		out, errOut, code := runCLI(t, nil, "", "test", "--json", filepath.Join(dir, "bad"), tests)
		if code != 1 || errOut != "1 passed, 1 failed, 1 test file with errors\n" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if len(got) != 3 {
			t.Fatalf("want 3 entries, got %s", out)
		}
		for _, e := range got {
			if _, ok := e["duration_ms"].(float64); !ok {
				t.Errorf("duration_ms missing in %v", e)
			}
			delete(e, "duration_ms")
		}
		norm, _ := json.Marshal(got)
		want := `[{"case":"","failures":["` + bad + `:3:14: error: mock for unknown step \"swep\" (did you mean \"sweep\"?)"],"file":"` + bad + `","playbook":"","status":"error","warnings":[]},` +
			`{"case":"found","failures":[],"file":"` + tests + `","playbook":"tested","status":"pass","warnings":[]},` +
			`{"case":"wrong count","failures":["tested.test.yaml:14: output.found: got 0, want 2","tested.test.yaml:15: step block: got skipped, want succeeded"],"file":"` + tests + `","playbook":"tested","status":"fail","warnings":[]}]`
		if string(norm) != want {
			t.Errorf("got\n%s\nwant\n%s", norm, want)
		}
	})
}

// TestShippedPlaybookTests runs `parry test` over the shipped playbooks: every case must pass.
func TestShippedPlaybookTests(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "", "test", filepath.Join("..", "..", "playbooks"))
	if code != 0 || strings.Contains(out, "FAIL") || strings.Contains(out, "[no test file]") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
