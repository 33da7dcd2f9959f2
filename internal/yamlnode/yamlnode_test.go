package yamlnode

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func parseOK(t *testing.T, text string) *Source {
	t.Helper()
	r := &Reporter{File: "f.yaml"}
	src := Parse("f.yaml", []byte(text), DefaultLimits, r)
	if len(r.Diags) > 0 || src.Root == nil {
		t.Fatalf("parse: %v", r.Diags)
	}
	return src
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		lim        Limits
		want       []string
	}{
		{"syntax", "a: [1, 2\nb: 3\n", DefaultLimits, []string{"f.yaml:1:1: error: invalid YAML: did not find expected ',' or ']'"}},
		{"tab", "a:\n\tb: 1\n", DefaultLimits, []string{"f.yaml:2:1: error: invalid YAML: found character that cannot start any token"}},
		{"duplicate", "a: 1\nb: 2\na: 3\n", DefaultLimits, []string{`f.yaml:3:1: error: key "a" is defined twice (first on line 1)`}},
		{"alias", "x: &base {b: 1}\ny: *base\n", DefaultLimits, []string{
			"f.yaml:1:4: error: YAML anchors (&base) are not supported: write the value out where it is needed",
			"f.yaml:2:4: error: YAML aliases (*base) are not supported: write the value out",
		}},
		{"two documents", "a: 1\n---\nb: 2\n", DefaultLimits, []string{`f.yaml:2:1: error: a file holds one YAML document, but a second one starts here (remove the "---" separator)`}},
		{"size", "a: 12345\n", Limits{MaxBytes: 4}, []string{"f.yaml:1:1: error: file is 9 bytes, larger than the limit of 4 bytes"}},
		{"depth", "a: [[[1]]]\n", Limits{MaxDepth: 3}, []string{"f.yaml:1:6: error: document is nested more than 3 levels deep"}},
		{"nodes", "[1, 2, 3, 4]\n", Limits{MaxNodes: 3}, []string{"f.yaml:1:8: error: document has more than 3 YAML nodes"}},
		{"complex key", "? [a]\n: 1\n", DefaultLimits, []string{"f.yaml:1:3: error: mapping keys must be plain strings"}},
		{"utf8", "a: \xff\n", DefaultLimits, []string{"f.yaml:1:4: error: file is not valid UTF-8"}},
		{"too many aliases", "x: &a 1\ny: [*a, *a, *a]\n", Limits{MaxAliases: 2}, []string{
			"f.yaml:1:4: error: YAML anchors (&a) are not supported: write the value out where it is needed",
			"f.yaml:2:5: error: YAML aliases (*a) are not supported: write the value out",
			"f.yaml:2:9: error: YAML aliases (*a) are not supported: write the value out",
			"f.yaml:2:13: error: document has more than 2 YAML aliases",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reporter{File: "f.yaml"}
			Parse("f.yaml", []byte(tc.text), tc.lim, r)
			Sort(r.Diags)
			var got []string
			for _, d := range r.Diags {
				got = append(got, d.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// laughs writes n levels of anchors, each a list of two aliases of the one before.
func laughs(n int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, y]\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d]\n", i, i, i-1, i-1)
	}
	return b.String()
}

// TestAliasExpansion: an alias counts as the nodes it stands for, so a few lines of aliases of aliases
// (each level doubling) cannot stand for millions of nodes.
func TestAliasExpansion(t *testing.T) {
	t.Parallel()
	r := &Reporter{File: "f.yaml"}
	src := Parse("f.yaml", []byte(laughs(12)), Limits{MaxNodes: 4000}, r)
	Sort(r.Diags)
	last := r.Diags[len(r.Diags)-1]
	// a0 has 3 nodes and each level 1 + twice the one before: the second alias on line 10 passes 4,000.
	if last.String() != "f.yaml:10:15: error: document has more than 4000 YAML nodes (an alias counts as the nodes it stands for)" || src.Root != nil {
		t.Errorf("got %s", last)
	}
	if len(r.Diags) != 28 { // 10 anchors, 17 aliases, the bound
		t.Errorf("%d diagnostics", len(r.Diags))
	}
}

// TestBounds: an exceeded bound is an error whose Bound names it, other problems have none.
func TestBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text  string
		lim   Limits
		bound string
	}{
		{"a: 12345\n", Limits{MaxBytes: 4}, BoundBytes},
		{"a: [[[1]]]\n", Limits{MaxDepth: 3}, BoundDepth},
		{"[1, 2, 3, 4]\n", Limits{MaxNodes: 3}, BoundNodes},
		{laughs(30), DefaultLimits, BoundNodes},
		{"x: &a 1\ny: [*a, *a, *a]\n", Limits{MaxAliases: 2}, BoundAliases},
		{"a: 1\na: 2\n", DefaultLimits, ""},
	} {
		r := &Reporter{File: "f.yaml"}
		src := Parse("f.yaml", []byte(tc.text), tc.lim, r)
		Sort(r.Diags)
		d, exceeded := Exceeded(r.Diags)
		if d.Bound != tc.bound || exceeded != (tc.bound != "") {
			t.Errorf("%q: bound %q (%v), want %q", tc.text, d.Bound, exceeded, tc.bound)
		}
		if tc.bound != "" && src.Root != nil {
			t.Errorf("%q: a document over a bound is used", tc.text)
		}
	}
}

func TestValuePos(t *testing.T) {
	t.Parallel()
	lines := []string{
		`plain: a == b`,                    // 1
		`dq: "x \"y\" == z"`,               // 2
		`sq: 'it''s == z'`,                 // 3
		`lit: |`,                           // 4
		`  first`,                          // 5
		`  second == x`,                    // 6
		`fold: >-`,                         // 7
		`  one`,                            // 8
		`  two == x`,                       // 9
		`multi: a &&`,                      // 10
		`  b == c`,                         // 11
		`flow: {k: "${{ x }}", j: y == z}`, // 12
		`esc: "a\u00e9b == c"`,             // 13
		`cont: "one \`,                     // 14: an escaped line break
		`  two == x"`,                      // 15
	}
	// Lines end the same for the YAML parser and for positions: LF, CR LF, a lone CR, NEL.
	for name, eol := range map[string]string{"LF": "\n", "CRLF": "\r\n", "CR": "\r", "NEL": "\u0085"} {
		t.Run(name, func(t *testing.T) { testValuePos(t, strings.Join(lines, eol)+eol) })
	}
}

func testValuePos(t *testing.T, text string) {
	src := parseOK(t, text)
	root := src.Root
	get := func(key string) *yaml.Node {
		for i := 0; i < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				return root.Content[i+1]
			}
		}
		t.Fatalf("no key %s", key)
		return nil
	}
	flow := get("flow")
	for _, tc := range []struct {
		n    *yaml.Node
		find string // the substring of the value whose first character we locate
		want Pos
	}{
		{get("plain"), "b", Pos{1, 13}},
		{get("plain"), "a", Pos{1, 8}},
		{get("dq"), "y", Pos{2, 10}},
		{get("dq"), "==", Pos{2, 14}},
		{get("sq"), "s ==", Pos{3, 10}},
		{get("sq"), "==", Pos{3, 12}},
		{get("lit"), "first", Pos{5, 3}},
		{get("lit"), "==", Pos{6, 10}},
		{get("fold"), "two", Pos{9, 3}},
		{get("fold"), "==", Pos{9, 7}},
		{get("multi"), "b ==", Pos{11, 3}},
		{get("multi"), "c", Pos{11, 8}},
		{flow.Content[1], "x", Pos{12, 16}},
		{flow.Content[3], "==", Pos{12, 28}},
		{get("esc"), "b", Pos{13, 14}},
		{get("esc"), "==", Pos{13, 16}},
		{get("cont"), "two", Pos{15, 3}},
		{get("cont"), "x", Pos{15, 10}},
	} {
		idx := strings.Index(tc.n.Value, tc.find)
		if idx < 0 {
			t.Fatalf("%q not in %q", tc.find, tc.n.Value)
		}
		k := len([]rune(tc.n.Value[:idx]))
		if got := src.ValuePos(tc.n, k); got != tc.want {
			t.Errorf("%q in %q: got %v, want %v", tc.find, tc.n.Value, got, tc.want)
		}
	}
}

func TestDecoderMessages(t *testing.T) {
	t.Parallel()
	src := parseOK(t, "a: 5\nb: [1]\nc: yes\nd: true\ne: ~\nstepz: 1\n")
	r := &Reporter{File: "f.yaml"}
	d := &Decoder{Src: src, R: r}
	m, _ := d.Map(src.Root, "the playbook")
	d.Str(m.Get("a"), `"a"`)
	d.Map(m.Get("b"), `"b"`)
	d.Bool(m.Get("c"), `"c"`)
	d.Int(m.Get("d"), `"d"`, 0, 10)
	d.Str(m.Get("e"), `"e"`)
	d.CheckKeys(m, "in the playbook", []string{"a", "b", "c", "d", "e", "steps"})
	d.Require(m, "in the playbook", "name")
	want := []string{
		`f.yaml:1:1: error: missing required key "name" in the playbook`,
		`f.yaml:1:4: error: "a" must be a string, got the number 5 (quote it: "5")`,
		`f.yaml:2:4: error: "b" must be a mapping of keys to values, got a list`,
		`f.yaml:3:4: error: "c" must be true or false, got "yes"`,
		`f.yaml:4:4: error: "d" must be a whole number, got the boolean true`,
		`f.yaml:5:4: error: "e" must be a string, got null`,
		`f.yaml:6:1: error: unknown key "stepz" in the playbook (did you mean "steps"?)`,
	}
	Sort(r.Diags)
	var got []string
	for _, d := range r.Diags {
		got = append(got, d.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	src := parseOK(t, "a: {b: [1, 2.5, true, null, x, '7', 0x10, 1_000]}\n")
	got := Value(src.Root)
	m := got.(map[string]any)["a"].(map[string]any)["b"].([]any)
	want := []any{int64(1), 2.5, true, nil, "x", "7", int64(16), int64(1000)}
	for i := range want {
		if m[i] != want[i] {
			t.Errorf("item %d: got %#v, want %#v", i, m[i], want[i])
		}
	}
}

func TestPosOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		off        int
		want       Pos
	}{
		{"start", "ab\ncd", 0, Pos{1, 1}},
		{"second line", "ab\ncd", 4, Pos{2, 2}},
		{"at a line break", "ab\ncd", 2, Pos{1, 3}},
		{"CR LF is one break", "ab\r\ncd", 4, Pos{2, 1}},
		{"inside CR LF", "ab\r\ncd", 3, Pos{1, 3}},
		{"lone CR", "ab\rcd\ref", 6, Pos{3, 1}},
		{"LS", "ab\u2028cd", 5, Pos{2, 1}},
		{"columns count characters", "é€x", 5, Pos{1, 3}},
		{"byte order mark", "\ufeffab", 4, Pos{1, 2}},
		{"past the end", "ab", 9, Pos{1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Source{Data: []byte(tc.text)}
			s.index()
			if got := s.PosOf(tc.off); got != tc.want {
				t.Errorf("PosOf(%d) = %v, want %v", tc.off, got, tc.want)
			}
			if back := s.offsetOf(tc.want); tc.name != "inside CR LF" && tc.name != "past the end" && back != tc.off {
				t.Errorf("offsetOf(%v) = %d, want %d", tc.want, back, tc.off)
			}
		})
	}
	if n := LineCount([]byte("a\rb\r\nc\nd\u0085e")); n != 5 {
		t.Errorf("LineCount = %d, want 5", n)
	}
}

// TestLongLines: positions on one long line (a whole playbook in flow style) cost no more than on short
// ones; this would take minutes if each position were counted from the line's start.
func TestLongLines(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a: [")
	for i := 0; i < 50_000; i++ {
		b.WriteString("\"é ${{ x }}\", ")
	}
	b.WriteString("z]\n")
	src := parseOK(t, b.String())
	items := src.Root.Content[1].Content
	for i, n := range items[:len(items)-1] {
		if got, want := src.ValuePos(n, 6), (Pos{1, 5 + 14*i + 7}); got != want {
			t.Fatalf("item %d: %v, want %v", i, got, want)
		}
	}
}
