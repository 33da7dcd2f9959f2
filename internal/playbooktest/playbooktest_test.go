package playbooktest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/action"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		want, got any
		diff      string
	}{
		{"equal scalars", "a", "a", ""},
		{"numbers by value", int64(3), float64(3), ""},
		{"number differs", int64(3), float64(2), "v: got 2, want 3"},
		{"string is not a number", int64(3), "3", `v: got "3", want 3`},
		{"extra keys ignored", map[string]any{"a": int64(1)}, map[string]any{"a": float64(1), "b": "x"}, ""},
		{"missing key", map[string]any{"a": int64(1)}, map[string]any{"b": "x"}, "v.a: missing, want 1"},
		{"nested path", map[string]any{"a": []any{map[string]any{"b": true}}}, map[string]any{"a": []any{map[string]any{"b": false}}}, "v.a[0].b: got false, want true"},
		{"list length", []any{"a"}, []any{"a", "b"}, `v: got ["a","b"] (2 items), want ["a"] (1 item)`},
		{"not a list", []any{"a"}, "a", `v: got "a", want ["a"]`},
		{"not a mapping", map[string]any{"a": "b"}, nil, `v: got null, want {"a":"b"}`},
		{"null wanted", nil, nil, ""},
		{"html kept", "<a&b>", "x", `v: got "x", want "<a&b>"`},
		{"every key that differs", map[string]any{"a": int64(1), "b": "x", "c": true, "d": "same"},
			map[string]any{"a": int64(2), "c": false, "d": "same"},
			`v.a: got 2, want 1; v.b: missing, want "x"; v.c: got false, want true`},
		{"every item that differs", []any{"a", "b", "c"}, []any{"x", "b", "y"}, `v[0]: got "x", want "a"; v[2]: got "y", want "c"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(match(tc.want, tc.got, "v"), "; "); got != tc.diff {
				t.Errorf("got %q, want %q", got, tc.diff)
			}
		})
	}
}

func TestZeroAndFill(t *testing.T) {
	spec, _ := action.Default().Lookup("cecp.mitigate_mails")
	z, _ := json.Marshal(zero(spec.Output))
	if string(z) != `{"actions":[],"batch_ids":[],"failed":0,"pending":0,"skipped":0,"succeeded":0}` {
		t.Errorf("zero: %s", z)
	}
	sweep, _ := action.Default().Lookup("cecp.sweep")
	v := fill(map[string]any{"mails": []any{map[string]any{"mailbox": "a@b.test"}}}, sweep.Output)
	mail := v.(map[string]any)["mails"].([]any)[0].(map[string]any)
	if mail["mailbox"] != "a@b.test" || mail["mail_message_subject"] != "" || len(mail["mail_urls"].([]any)) != 0 {
		t.Errorf("fill: %v", mail)
	}
	if v.(map[string]any)["count"] != int64(0) || v.(map[string]any)["truncated"] != false {
		t.Errorf("fill top level: %v", v)
	}
}

func writeTree(t *testing.T, files map[string]string) string {
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

func TestDiscover(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a.yaml": "", "a.test.yaml": "",
		"b.yml": "", "b.test.yml": "",
		"sub/c.yaml":          "",
		".hidden/d.test.yaml": "",
		"notes.txt":           "", ".test.yaml": "",
	})
	rel := func(l []string) string {
		var out []string
		for _, p := range l {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return strings.Join(out, " ")
	}
	tests, untested, err := Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := rel(tests); got != "a.test.yaml b.test.yml" {
		t.Errorf("tests: %s", got)
	}
	if got := rel(untested); got != "sub/c.yaml" {
		t.Errorf("untested: %s", got)
	}
	tests, _, err = Discover([]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.test.yml"), dir})
	if err != nil || rel(tests) != "a.test.yaml b.test.yml" {
		t.Errorf("files and directory: %s %v", rel(tests), err)
	}
	for _, tc := range []struct{ arg, err string }{
		{"sub/c.yaml", "sub/c.yaml has no test file: write sub/c.test.yaml beside it"},
		{"notes.txt", "notes.txt is neither a playbook nor a test file (NAME.test.yaml)"},
		{"nope", "reading nope: no such file or directory"},
	} {
		_, _, err := Discover([]string{filepath.Join(dir, tc.arg)})
		if err == nil || strings.ReplaceAll(err.Error(), dir+"/", "") != tc.err {
			t.Errorf("%s: got %v, want %s", tc.arg, err, tc.err)
		}
	}
}

func TestIsTestFile(t *testing.T) {
	for name, want := range map[string]bool{
		"a.test.yaml": true, "a.test.yml": true, "a.yaml": false, "a.test.json": false, ".test.yaml": false, "test.yaml": false,
	} {
		if IsTestFile(name) != want {
			t.Errorf("%s: want %v", name, want)
		}
	}
}

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	WriteCase(&b, CaseResult{Playbook: "pb", Case: "ok case", Status: StatusPass, Duration: 1499 * time.Microsecond, Warnings: []string{"w"}})
	WriteCase(&b, CaseResult{Playbook: "pb", Case: "bad", Status: StatusFail, Duration: 12 * time.Millisecond, Failures: []string{"f1", "f2"}})
	WriteDiags(&b, "x.test.yaml", []Diagnostic{{File: "x.test.yaml", Line: 2, Column: 3, Severity: "warning", Message: "m"}})
	WriteDiags(&b, "y.test.yaml", []Diagnostic{{File: "y.test.yaml", Line: 1, Column: 1, Severity: "error", Message: "e"}})
	want := "ok   pb/ok case (1ms)\n    warning: w\n" +
		"FAIL pb/bad (12ms)\n    f1\n    f2\n" +
		"x.test.yaml:2:3: warning: m\n" +
		"y.test.yaml:1:1: error: e\nFAIL y.test.yaml [not run: 1 error]\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	for _, tc := range []struct {
		p, f, b int
		want    string
	}{
		{3, 0, 0, "3 passed, 0 failed"},
		{1, 2, 1, "1 passed, 2 failed, 1 test file with errors"},
		{0, 0, 2, "0 passed, 0 failed, 2 test files with errors"},
	} {
		if got := Summary(tc.p, tc.f, tc.b); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	e := ErrorResult("x.test.yaml", []Diagnostic{
		{File: "x.test.yaml", Line: 1, Column: 1, Severity: "error", Message: "e"},
		{File: "x.test.yaml", Line: 2, Column: 1, Severity: "warning", Message: "w"},
	})
	raw, _ := json.Marshal(e)
	if string(raw) != `{"file":"x.test.yaml","playbook":"","case":"","status":"error","duration_ms":0,"failures":["x.test.yaml:1:1: error: e"],"warnings":["x.test.yaml:2:1: warning: w"]}` {
		t.Errorf("error result %s", raw)
	}
}

const simplePlaybook = `name: simple
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: a@b.test }
output:
  n: ${{ len(steps.sweep.output.mails) }}
`

func TestRunFileFilterAndResults(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"simple.yaml": simplePlaybook,
		"simple.test.yaml": `cases:
  - name: one mail
    mocks: { sweep: { output: { mails: [{}] } } }
    expect: { output: { n: 1 } }
  - name: no mail
    expect: { output: { n: 1 } }
`,
	})
	r := NewRunner(nil)
	res := r.RunFile(context.Background(), filepath.Join(dir, "simple.test.yaml"))
	if res.Playbook != "simple" || !res.Loaded() || len(res.Cases) != 2 {
		t.Fatalf("result %+v", res)
	}
	if c := res.Cases[0]; c.Status != StatusPass || c.Name() != "simple/one mail" || len(c.Failures) != 0 || len(c.Warnings) != 0 {
		t.Errorf("first case %+v", c)
	}
	c := res.Cases[1]
	if c.Status != StatusFail || strings.Join(c.Failures, "|") != "simple.test.yaml:6: output.n: got 0, want 1" ||
		strings.Join(c.Warnings, "|") != "step sweep has no mock: cecp.sweep returned a synthesised output (empty lists, zero numbers, empty strings)" {
		t.Errorf("second case %+v", c)
	}
	r.Filter = regexp.MustCompile(`^simple/no`)
	if res := r.RunFile(context.Background(), filepath.Join(dir, "simple.test.yaml")); len(res.Cases) != 1 || res.Cases[0].Case != "no mail" {
		t.Errorf("filtered %+v", res.Cases)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := r.RunFile(ctx, filepath.Join(dir, "simple.test.yaml")); len(res.Cases) != 0 {
		t.Errorf("a cancelled context still ran %d cases", len(res.Cases))
	}
	missing := r.RunFile(context.Background(), filepath.Join(dir, "gone.test.yaml"))
	if missing.Loaded() || len(missing.Diags) != 1 || !strings.HasSuffix(missing.Diags[0].Message, "gone.test.yaml: no such file or directory") {
		t.Errorf("missing file %+v", missing)
	}
}

// FuzzLoadSource feeds arbitrary test files to the loader: it must report problems, never panic, and never
// accept a file without cases.
func FuzzLoadSource(f *testing.F) {
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "simple.yaml"), []byte(simplePlaybook), 0o644); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"cases:\n  - name: a\n    mocks: { sweep: { output: { mails: [] } } }\n    expect: { status: succeeded, assert: [\"output.n == 0\"] }\n",
		"cases: [{name: a, approvals: {x: approve}, expect: {calls: [{step: sweep, with: {sender: a}}]}}]\n",
		"mocks: {cecp.sweep: {sequence: [{error: VendorAuth}, {output: {count: 1}}]}}\ncases: [{name: b, inputs: {}}]\n",
		"playbooks: [x]\ncases: []\n", "- a\n", "", "cases: [{name: c, expect: {assert: \"${{\"}}]\n",
	} {
		f.Add(seed)
	}
	r := NewRunner(nil)
	path := filepath.Join(dir, "simple.test.yaml")
	f.Fuzz(func(t *testing.T, src string) {
		file, diags := r.LoadSource(path, []byte(src))
		if file != nil && len(file.Cases) == 0 {
			t.Fatalf("accepted a file without cases: %v", diags)
		}
		if file == nil && len(diags) == 0 {
			t.Fatal("refused a file without saying why")
		}
	})
}

// BenchmarkCase runs the cases of the shipped phishing-containment tests and reports the time per case.
func BenchmarkCase(b *testing.B) {
	r := NewRunner(nil)
	f, diags := r.Load(filepath.Join("..", "..", "playbooks", "phishing-containment.test.yaml"))
	if f == nil {
		b.Fatal(diags)
	}
	ctx := context.Background()
	cases := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range f.Cases {
			if res := r.RunCase(ctx, f, c); res.Status != StatusPass {
				b.Fatal(res.Failures)
			}
			cases++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(cases), "ms/case")
	b.ReportMetric(0, "ns/op")
}

// TestSpecDocumented keeps docs/testing.md complete: every key the test-file spec declares is documented.
func TestSpecDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "testing.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := fileSpec().Keys()
	if len(keys) < 30 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(data), "`"+k) {
			t.Errorf("docs/testing.md does not mention `%s`", k)
		}
	}
}
