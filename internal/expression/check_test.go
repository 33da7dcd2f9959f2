package expression

import (
	"fmt"
	"strings"
	"testing"
)

func testEnv() *Env {
	mail := Object(map[string]Type{"mailbox": String, "mail_unique_id": String, "mail_urls": List(String)})
	return NewEnv(map[string]Type{
		"alert":  Object(map[string]Type{"source": String, "severity": String, "data": Any}),
		"inputs": Object(map[string]Type{"sender": String, "lookback": Int}),
		"steps": Object(map[string]Type{
			"sweep": Object(map[string]Type{"status": String, "output": Object(map[string]Type{"mails": List(mail), "count": Int})}),
		}),
	})
}

func TestCheck(t *testing.T) {
	t.Parallel()
	env := testEnv()
	loop := env.With(map[string]Type{"mailbox": String, "index": Int})
	for _, tc := range []struct {
		env  *Env
		src  string
		want string // "type: ..." or "offset: message"
	}{
		{env, `len(steps.sweep.output.mails) == 0`, "type: a boolean"},
		{env, `steps.sweep.output.mails[0].mailbox`, "type: a string"},
		{env, `steps.sweep.output.mails`, "type: a list"},
		{env, `steps.sweep.output.count`, "type: a whole number"},
		{env, `alert.data.anything.goes`, "type: a value of unknown type"},
		{env, `map(steps.sweep.output.mails, .mailbox)`, "type: a list"},
		{env, `unique(map(steps.sweep.output.mails, .mailbox))`, "type: a list"},
		{env, `now() - duration("1h")`, "type: a time"},
		{env, `domain(inputs.sender) == "x"`, "type: a boolean"},
		{loop, `mailbox + "x"`, "type: a string"},
		{env, `steps.sweep.output.mails[0].mailboxx`, `28: unknown field "mailboxx" (did you mean "mailbox"?)`},
		{env, `map(steps.sweep.output.mails, .mailboxx)`, `31: unknown field "mailboxx" (did you mean "mailbox"?)`},
		{env, `steps.sweep.outptu`, `12: unknown field "outptu" (did you mean "output"?)`},
		{env, `inputs.zzz`, `7: unknown field "zzz" (known fields: lookback, sender)`},
		{env, `inptus.sender`, `0: unknown name "inptus" (did you mean "inputs"?)`},
		{env, `lenn(inputs.sender)`, `0: unknown name "lenn" (did you mean "len"?)`},
		{env, `len(5)`, `0: invalid argument for len (type int)`},
		{env, `inputs.sender > 5`, `14: invalid operation: > (mismatched types string and int)`},
		{env, `mailbox`, `0: unknown name "mailbox"`},
		{env, `inputs.sender ==`, `15: unexpected token EOF`},
		{env, `now(1)`, `0: too many arguments to call now`},
		{env, `"a" + secret("x")`, `6: ` + SecretInExpressionMessage},
	} {
		t.Run(tc.src, func(t *testing.T) {
			var got string
			p, perr := Parse(tc.src)
			if perr != nil {
				got = fmt.Sprintf("%d: %s", perr.Offset, perr.Message)
			} else if ti, err := tc.env.Check(p); err != nil {
				got = fmt.Sprintf("%d: %s", err.Offset, err.Message)
			} else {
				got = "type: " + ti.Describe()
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	t.Parallel()
	p, err := Parse(`len(steps.sweep.output.mails) > 0 && steps["approve"].output?.approved && inputs.x[0].y == vars.v && map(steps.a.output, .b) != nil && len(steps.c.output[inputs.i].d) > 0 && alert`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Refs() {
		got = append(got, fmt.Sprintf("%s@%d%v%v", r.Root, r.RootOffset, r.Fields, r.Offsets))
	}
	want := []string{
		"steps@4[sweep output mails][10 16 23]",
		"steps@37[approve output approved][43 54 62]",
		"inputs@74[x][81]",
		"vars@91[v][96]",
		"steps@105[a output][111 113]",
		"steps@139[c output][145 147]",
		"inputs@154[i][161]",
		"alert@174[][]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

// TestUnknownNames: every unknown name is reported, in order, each with its did-you-mean; let variables,
// functions and predicate placeholders are not names of the scope.
func TestUnknownNames(t *testing.T) {
	t.Parallel()
	env := testEnv()
	for _, tc := range []struct {
		src  string
		want string
	}{
		{`inputz.sender + alrt.source + steps.x`, `0: unknown name "inputz" (did you mean "inputs"?); 16: unknown name "alrt" (did you mean "alert"?)`},
		{`let n = 1; n + len(inputs.sender) + zz`, `36: unknown name "zz"`},
		{`map(steps.sweep.output.mails, # + 1) + filter([1], .a)`, ``},
		{`lower(inputs.sender) + upper(qq)`, `29: unknown name "qq"`},
	} {
		p, perr := Parse(tc.src)
		if perr != nil {
			t.Fatalf("%s: %s", tc.src, perr.Message)
		}
		var got []string
		for _, e := range env.UnknownNames(p) {
			got = append(got, fmt.Sprintf("%d: %s", e.Offset, e.Message))
		}
		if s := strings.Join(got, "; "); s != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.src, s, tc.want)
		}
	}
}

// TestBraceHint: a map literal given where map() and the like take a predicate gets a message saying how
// to write it; other syntax errors keep expr's message.
func TestBraceHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{`map(l, {"type": "ip"})`, `14: unexpected token Operator(":") (in map(), { starts a predicate such as {# + 1}, not a map: write the map in parentheses, ({"type": "ip"}))`},
		{`any(l, {kind: "x"}) && true`, `12: unexpected token Operator(":") (in any(), { starts a predicate such as {# + 1}, not a map: write the map in parentheses, ({kind: "x"}))`},
		{`map(l, "{a: b}" + {"x": 1})`, ``},
		{`f(1, 2`, `5: unexpected token EOF`},
		{`a ? b`, `4: unexpected token EOF`},
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
}
