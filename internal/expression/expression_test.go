package expression

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

var clock = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// scope is what a run's scope looks like after JSON decoding: numbers are float64.
func testScope(t testing.TB) Scope {
	t.Helper()
	var values map[string]any
	err := json.Unmarshal([]byte(`{
		"alert": {"source": "cecp", "kind": "securityrisk", "severity": "high",
			"data": {"mail_message_sender": "Evil@Bad.example", "mail_message_subject": "Invoice ${{ secret(\"x\") }}"}},
		"inputs": {"sender": "evil@bad.example", "lookback": 7, "subject": "Invoice"},
		"vars": {"campaign": "evil / Invoice"},
		"steps": {
			"sweep": {"status": "succeeded", "output": {"count": 3, "truncated": false, "mails": [
				{"mailbox": "a@corp.example", "mail_unique_id": "u1"},
				{"mailbox": "b@corp.example", "mail_unique_id": "u2"},
				{"mailbox": "a@corp.example", "mail_unique_id": "u3"}]}},
			"quarantine": {"status": "succeeded", "output": {"succeeded": 3, "failed": 0}},
			"skipped_step": {"status": "skipped", "output": null}
		}
	}`), &values)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScope(func() time.Time { return clock })
	for k, v := range values {
		s[k] = v
	}
	return s
}

func TestEval(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	for _, tc := range []struct {
		src  string
		want string // JSON of the result
	}{
		{`len(steps.sweep.output.mails) == 3`, `true`},
		{`steps.quarantine.output.succeeded > 0 && alert.severity == "high"`, `true`},
		{`inputs.lookback * 2`, `14`},
		{`unique(map(steps.sweep.output.mails, .mailbox))`, `["a@corp.example","b@corp.example"]`},
		{`chunk(map(steps.sweep.output.mails, .mail_unique_id), 2)`, `[["u1","u2"],["u3"]]`},
		{`chunk([1, 2, 3], inputs.lookback)`, `[[1,2,3]]`},
		{`keys({"b": 1, "a": 2, "c": 3})`, `["a","b","c"]`},
		{`values({"b": 1, "a": 2, "c": 3})`, `[2,1,3]`},
		{`domain(alert.data.mail_message_sender)`, `"bad.example"`},
		{`domain("no-at-sign")`, `""`},
		{`host("hxxps://Evil[.]Example.com:8443/login?x=1")`, `"evil.example.com"`},
		{`host("evil.example.com/path")`, `"evil.example.com"`},
		{`refang("hxxp://evil[.]com/a[.]b user[@]x[.]org")`, `"http://evil.com/a.b user@x.org"`},
		{`defang("https://evil.com/x")`, `"hxxps://evil[.]com/x"`},
		{`cidr_contains("10.0.0.0/8", "10.1.2.3")`, `true`},
		{`cidr_contains("10.0.0.0/8", "11.1.2.3")`, `false`},
		{`cidr_contains("2001:db8::/32", "2001:db8::1")`, `true`},
		{`cidr_contains("192.0.2.7", "192.0.2.7")`, `true`},
		{`cidr_contains("10.0.0.0/8", "not an ip")`, `false`},
		{`is_ip("192.0.2.1")`, `true`},
		{`is_ip("example.com")`, `false`},
		{`now()`, `"2026-03-04T05:06:07Z"`},
		{`now() - duration("1h") < now()`, `true`},
		{`now() - duration("7d")`, `"2026-02-25T05:06:07Z"`},
		{`now() - duration("1d12h30m")`, `"2026-03-02T16:36:07Z"`},
		{`now() + duration("1.5s")`, `"2026-03-04T05:06:08.500Z"`},
		{`duration("-2h") < duration("1m")`, `true`},
		{`date("2026-03-04T00:00:00Z") < now()`, `true`},
		{`steps.skipped_step.output?.count ?? 0`, `0`},
		{`steps.skipped_step.output.count ?? 0`, `0`},
		{`steps.skipped_step.output.approved`, `null`},
		{`steps.nosuch.output.mails[0].mailbox`, `null`},
		{`steps.sweep.output.mails[1].mailbox`, `"b@corp.example"`},
		{`map(steps.sweep.output.mails, .nosuch)`, `[null,null,null]`},
		{`alert.data.mail_message_subject`, `"Invoice ${{ secret(\"x\") }}"`},
		{`upper(inputs.sender)`, `"EVIL@BAD.EXAMPLE"`},
		{`filter(steps.sweep.output.mails, .mailbox startsWith "a")[1].mail_unique_id`, `"u3"`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			v, err := e.Eval(tc.src, s)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(Plain(v))
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	for _, tc := range []struct{ src, want string }{
		{`secret("x")`, `compiling expression "secret(\"x\")": secret() cannot be used inside an expression`},
		{`len(`, `compiling expression "len(": unexpected token EOF`},
		{`chunk([1], 0)`, `evaluating "chunk([1], 0)": chunk() needs a size of at least 1, got 0`},
		{`duration("7 days")`, `duration(): invalid duration "7 days"`},
		{`domain(inputs.lookback)`, `evaluating "domain(inputs.lookback)": domain() needs a string, got a number`},
		{`cidr_contains("bad", "1.2.3.4")`, `evaluating "cidr_contains(\"bad\", \"1.2.3.4\")": cidr_contains(): "bad" is not a CIDR range`},
		{`timezone("Europe/Paris")`, `compiling expression "timezone(\"Europe/Paris\")": timezone() is not available: times are UTC`},
		{`date("2026-01-01", "2006-01-02", "Europe/Paris")`, `date() with a time zone name is not available`},
		{strings.Repeat("1 + ", 300) + "1", `expression is too complex`},
		{strings.Repeat("x", MaxSourceBytes+1), `longer than the limit of 4096`},
	} {
		t.Run(tc.src[:min(len(tc.src), 40)], func(t *testing.T) {
			_, err := e.Eval(tc.src, s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEvalBool(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	for _, tc := range []struct {
		src  string
		want bool
		err  string
	}{
		{`steps.skipped_step.output`, false, ""},
		{`steps.skipped_step.output.approved`, false, ""},
		{`len(steps.sweep.output.mails) > 2`, true, ""},
		{`inputs.lookback`, false, `evaluating "inputs.lookback": the condition gave a number, not true or false`},
	} {
		got, err := e.EvalBool(tc.src, s)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: got error %v, want %q", tc.src, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.src, got, err, tc.want)
		}
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	for _, tc := range []struct {
		tmpl string
		want string // JSON
	}{
		{`plain text`, `"plain text"`},
		{`${{ inputs.lookback }}`, `7`},
		{`  ${{ steps.sweep.output.mails[0] }} `, `{"mail_unique_id":"u1","mailbox":"a@corp.example"}`},
		{`${{inputs.sender}}`, `"evil@bad.example"`},
		{`Found ${{ steps.sweep.output.count }} mails from ${{ inputs.sender }}`, `"Found 3 mails from evil@bad.example"`},
		{`x=${{ 1.5 }} y=${{ nil }} z=${{ true }} l=${{ [1, "a"] }}`, `"x=1.5 y= z=true l=[1,\"a\"]"`},
		{`${{ {"a": {"b": 1}} }}`, `{"a":{"b":1}}`},
		{`${{ "}}" + "x" }}`, `"}}x"`},
		{`at ${{ now() }}`, `"at 2026-03-04T05:06:07Z"`},
		{`${{ now() }}`, `"2026-03-04T05:06:07Z"`},
		{`subject: ${{ alert.data.mail_message_subject }}`, `"subject: Invoice ${{ secret(\"x\") }}"`},
		{`${{ 1 }}${{ 2 }}`, `"12"`},
	} {
		t.Run(tc.tmpl, func(t *testing.T) {
			v, err := e.EvalTemplate(tc.tmpl, s)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(v)
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tmpl   string
		offset int
		msg    string
	}{
		{`a ${{ x`, 2, "unclosed ${{: end the expression with }}"},
		{`a ${{ }}`, 2, "empty expression in ${{ }}"},
		{`é ${{ "x }}`, 2, "unterminated string in ${{ }}"},
		{`${{ x } y`, 0, "unclosed ${{: end the expression with }}"},
	} {
		_, err := ParseTemplate(tc.tmpl)
		if err == nil || err.Offset != tc.offset || err.Message != tc.msg {
			t.Errorf("%q: got %+v, want offset %d %q", tc.tmpl, err, tc.offset, tc.msg)
		}
	}
	tm, err := ParseTemplate(`héllo ${{  a.b }} and ${{c}}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Parts) != 4 || tm.Parts[1].Expr != "a.b" || tm.Parts[1].Offset != 11 || tm.Parts[3].Offset != 25 || tm.Whole {
		t.Errorf("parts %+v", tm.Parts)
	}
}

func TestEvalValueDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	in := map[string]any{"mails": "${{ steps.sweep.output.mails }}", "list": []any{"${{ inputs.sender }}", 5}, "n": int64(3)}
	out, err := e.EvalValue(in, s)
	if err != nil {
		t.Fatal(err)
	}
	if in["mails"] != "${{ steps.sweep.output.mails }}" {
		t.Error("input modified")
	}
	got, _ := json.Marshal(out)
	want := `{"list":["evil@bad.example",5],"mails":[{"mail_unique_id":"u1","mailbox":"a@corp.example"},{"mail_unique_id":"u2","mailbox":"b@corp.example"},{"mail_unique_id":"u3","mailbox":"a@corp.example"}],"n":3}`
	if string(got) != want {
		t.Errorf("got %s", got)
	}
	_, err = e.EvalValue(map[string]any{"b": []any{"ok", "${{ 1 + }}"}}, s)
	if err == nil || !strings.HasPrefix(err.Error(), "b: [1]: compiling expression \"1 +\"") {
		t.Errorf("error %v", err)
	}
}

func TestEngineConcurrent(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				v, err := e.EvalBool(`len(steps.sweep.output.mails) == 3 && inputs.lookback == 7`, s)
				if err != nil || !v {
					t.Errorf("got %v %v", v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestPlain(t *testing.T) {
	t.Parallel()
	d := []string{"a", "b"}
	got, _ := json.Marshal(Plain(map[string]any{"t": clock, "d": time.Hour, "l": d, "m": map[string]int{"x": 1}}))
	want := `{"d":"1h0m0s","l":["a","b"],"m":{"x":1},"t":"2026-03-04T05:06:07Z"}`
	if string(got) != want {
		t.Errorf("got %s", got)
	}
	plain := map[string]any{"a": []any{1.5, "x"}}
	if p := Plain(plain); p.(map[string]any)["a"].([]any)[0] != 1.5 {
		t.Error("plain value changed")
	}
}
