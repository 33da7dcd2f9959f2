package expression

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTextFunctions(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	for _, tc := range []struct {
		src  string
		want string // JSON of the result, or "error: text it contains"
	}{
		{`matches("INV-2291", "^INV-[0-9]+$")`, `true`},
		{`matches(inputs.sender, "@bad\\.example$") && !matches("x", "y")`, `true`},
		{`"INV-1" matches "^INV"`, `true`},
		{`regex_find("ticket INC-42 opened", "INC-([0-9]+)")`, `"42"`},
		{`regex_find("ticket INC-42 opened", "INC-[0-9]+")`, `"INC-42"`},
		{`regex_find("nothing", "INC-([0-9]+)")`, `""`},
		{`regex_find_all("a1 b22 c333", "[0-9]+")`, `["1","22","333"]`},
		{`regex_find_all("k=v1;k=v2", "k=(\\w+)")`, `["v1","v2"]`},
		{`regex_find_all("none", "[0-9]+")`, `[]`},
		{`regex_replace("user=bob", "user=(\\w+)", "user=<$1>")`, `"user=<bob>"`},
		{`regex_find("x", "(")`, `error: invalid regular expression (RE2 syntax)`},
		{`url_host("https://Evil.example:8443/x")`, `"evil.example"`},
		{`email_domain("Bob <bob@Corp.Example>")`, `"corp.example"`},
		{`defang("http://evil.com/a")`, `"hxxp://evil[.]com/a"`},
		{`refang(defang("http://evil.com/a"))`, `"http://evil.com/a"`},
		{`format_time(parse_time("2026-03-04T05:06:07Z"), "%d/%m/%Y %H:%M")`, `"04/03/2026 05:06"`},
		{`format_time("2026-03-04T05:06:07.250+02:00", "%F %T%L %Z")`, `"2026-03-04 03:06:07.250 UTC"`},
		{`format_time(now(), "%s")`, fmt.Sprintf(`"%d"`, clock.Unix())},
		{`format_time(now(), "week 1: %a %b %e, %j")`, `"week 1: Wed Mar  4, 063"`},
		{`format_time(now(), "%Q")`, `error: unknown directive %Q`},
		{`parse_time("04/03/2026 05:06", "%d/%m/%Y %H:%M") == parse_time("2026-03-04T05:06:00Z")`, `true`},
		{`parse_time("1772600767", "%s") == parse_time("2026-03-04T05:06:07Z")`, `true`},
		{`now() - parse_time("2026-03-04")`, `"5h6m7s"`},
		{`parse_time("yesterday")`, `error: "yesterday" is not an RFC 3339 time`},
		{`string(now())`, `"2026-03-04T05:06:07Z"`},
		{`string(parse_time("2026-03-04T07:06:07+02:00")) + "!"`, `"2026-03-04T05:06:07Z!"`},
		{`string(42)`, `"42"`},
		{`concat([], [])`, `[]`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			v, err := e.EvalTemplate("${{ "+tc.src+" }}", s)
			if strings.HasPrefix(tc.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
					t.Fatalf("got %v, %v; want an error containing %q", v, err, strings.TrimPrefix(tc.want, "error: "))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(v)
			if b := strings.TrimSpace(buf.String()); b != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

// TestDialects: runs started before DialectTyped keep expr's string() and null for an empty list result.
func TestDialects(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	old := e.Dialect(DialectOriginal)
	s := testScope(t)
	got, err := old.EvalTemplate(`${{ string(now()) }}`, s)
	if err != nil || got != clock.String() {
		t.Errorf("original dialect: got %v, %v; want %q", got, err, clock.String())
	}
	got, err = old.EvalValue(`${{ concat([], []) }}`, s)
	if l, ok := got.([]any); err != nil || !ok || l != nil {
		t.Errorf("original dialect: concat([], []) is %#v, %v; want nil", got, err)
	}
	got, err = e.EvalValue(map[string]any{"l": `${{ concat([], []) }}`, "t": `x ${{ string(now()) }}`}, s)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(got); string(b) != `{"l":[],"t":"x 2026-03-04T05:06:07Z"}` {
		t.Errorf("typed dialect: got %s", b)
	}
}

// TestEvalValueTyped: vars keep a time a time, so now() - vars.started works; everything else is plain.
func TestEvalValueTyped(t *testing.T) {
	t.Parallel()
	e := NewEngine()
	s := testScope(t)
	v, err := e.EvalValueTyped(map[string]any{"started": "${{ now() }}", "d": `${{ duration("1h") }}`, "text": "at ${{ now() }}"}, s)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if st, ok := m["started"].(time.Time); !ok || !st.Equal(clock) {
		t.Errorf("started = %#v, want the time", m["started"])
	}
	if d, ok := m["d"].(time.Duration); !ok || d != time.Hour {
		t.Errorf("d = %#v, want a duration", m["d"])
	}
	if m["text"] != "at 2026-03-04T05:06:07Z" {
		t.Errorf("text = %#v", m["text"])
	}
	s2 := s.With("vars", map[string]any{"started": m["started"]})
	got, err := e.Eval(`now() - vars.started`, s2)
	if err != nil || got != time.Duration(0) {
		t.Errorf("now() - vars.started = %v, %v", got, err)
	}
	if p := e.PlainValue(m); fmt.Sprint(p.(map[string]any)["started"]) != "2026-03-04T05:06:07Z" {
		t.Errorf("PlainValue: %v", p)
	}
}

// TestLiteralPatternsAreChecked: a literal regular expression or time layout that cannot work is a parse
// error at its offset (lint reports it with the position), whatever the scope.
func TestLiteralPatternsAreChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{`matches(inputs.x, "a(")`, `18: matches(): invalid regular expression (RE2 syntax): missing closing ): ` + "`a(`"},
		{`inputs.x matches "a(b"`, `17: matches: invalid regular expression (RE2 syntax): missing closing ): ` + "`a(b`"},
		{`regex_replace(inputs.x, "(?<=a)b", "")`, `24: regex_replace(): invalid regular expression (RE2 syntax): invalid named capture: ` + "`(?<=a)b`"},
		{`format_time(now(), "%Y-%q")`, `19: format_time(): unknown directive %q in the layout "%Y-%q" (known: %Y %y %m %d %e %H %I %p %M %S %L %f %N %j %a %A %b %B %z %Z %F %T %D %R %s %%)`},
		{`parse_time(inputs.x, "%Y at 12")`, `21: parse_time(): parse_time cannot read the literal text " at 12" in a layout: match it with a directive or strip it first`},
		{`matches(inputs.x)`, ``},
	} {
		_, perr := Parse(tc.src)
		got := ""
		if perr != nil {
			got = fmt.Sprintf("%d: %s", perr.Offset, perr.Message)
		}
		if got != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.src, got, tc.want)
		}
	}
	env := NewEnv(map[string]Type{"inputs": Object(map[string]Type{"x": String, "n": Int})})
	for _, tc := range []struct{ src, want string }{
		{`matches(inputs.x, "a")`, "type: a boolean"},
		{`matches(inputs.n, "a")`, "15: cannot use int as argument (type string) to call matches "},
		{`regex_find_all(inputs.x, "a")`, "type: a list"},
		{`parse_time(inputs.x) < now()`, "type: a boolean"},
		{`format_time(now(), "%F")`, "type: a string"},
		{`string(now())`, "type: a string"},
	} {
		p, perr := Parse(tc.src)
		if perr != nil {
			t.Fatalf("%s: %s", tc.src, perr.Message)
		}
		got := ""
		if ti, err := env.Check(p); err != nil {
			got = fmt.Sprintf("%d: %s", err.Offset, err.Message)
		} else {
			got = "type: " + ti.Describe()
		}
		if got != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.src, got, tc.want)
		}
	}
}

func TestRewriteCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`matches(a, "b")`, `ismatch(a, "b")`},
		{`a matches "b"`, `a matches "b"`},
		{`!matches (a, "b") || x.matches`, `!ismatch (a, "b") || x.matches`},
		{`"matches(" + a`, `"matches(" + a`},
		{`a matches (b)`, `a matches (b)`},
		{`f(matches(a, b), not matches(c, d))`, `f(ismatch(a, b), not ismatch(c, d))`},
	} {
		if got := rewriteCalls(tc.in); got != tc.want {
			t.Errorf("rewriteCalls(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
