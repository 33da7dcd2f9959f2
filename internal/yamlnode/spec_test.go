package yamlnode

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestSpec checks a document against a spec that uses every kind of rule, and pins every message.
func TestSpec(t *testing.T) {
	t.Parallel()
	str := func(what string) *Spec { return &Spec{Kind: StringKind, What: what} }
	item := &Spec{Kind: MapKind, What: "an item", Fields: []FieldSpec{
		{Name: "name", Required: true, Spec: &Spec{Kind: StringKind, What: "a name", Check: func(n *yaml.Node) string {
			if n.Value == "bad" {
				return "a name cannot be bad"
			}
			return ""
		}}},
		{Name: "a", Spec: str(`"a"`)},
		{Name: "b", Spec: str(`"b"`)},
		{Name: "lo", Spec: &Spec{Kind: IntKind, What: `"lo"`, Min: 1, Max: 5}},
		{Name: "hi", Spec: &Spec{Kind: BoolKind, What: `"hi"`}},
	}, ExactlyOne: []string{"a", "b"}, Exclusive: []string{"lo", "hi"},
		WhereFunc: func(m Map) string {
			if n := m.Get("name"); n != nil {
				return "in item " + n.Value
			}
			return "in an item"
		}}
	spec := &Spec{Kind: MapKind, What: "a document", Where: "at the top", Fields: []FieldSpec{
		{Name: "items", Required: true, Spec: &Spec{Kind: ListKind, What: `"items"`, Items: item, MaxItems: 6}},
		{Name: "empty", Spec: &Spec{Kind: ListKind, What: `"empty"`, Empty: "give one"}},
		{Name: "few", Spec: &Spec{Kind: ListKind, What: `"few"`, MaxItems: 1}},
		{Name: "color", Spec: &Spec{Kind: StringKind, What: `"color"`, OneOf: []string{"red", "green"}, OneOfNoun: "color", OneOfIntro: "use"}},
		{Name: "when", Spec: &Spec{Kind: TimeKind, What: `"when"`}},
		{Name: "cond", Spec: &Spec{Kind: ExprKind, What: "a condition"}},
		{Name: "either", Spec: &Spec{Either: []*Spec{str("a word"), {Kind: MapKind, What: "a pair", Fields: []FieldSpec{{Name: "x"}}}}}},
		{Name: "one", Spec: &Spec{Kind: MapKind, What: "one", AtLeastOne: []string{"x", "y"}, Fields: []FieldSpec{{Name: "x"}, {Name: "y"}}}},
		{Name: "dict", Spec: &Spec{Kind: DictKind, What: `"dict"`, Values: &Spec{Kind: IntKind, Max: 9}, ValueWhat: func(k string) string { return "entry " + k }}},
	}}
	doc := strings.Join([]string{
		`items:`,                                   // 1
		`  - {name: x, a: "1"}`,                    // 2: fine
		`  - {name: y, a: "1", b: "2"}`,            // 3
		`  - {a: "1", c: 3}`,                       // 4
		`  - {name: bad, b: "2", lo: 9, hi: true}`, // 5
		`  - {name: z, lo: 1, hi: x}`,              // 6
		`  - just text`,                            // 7
		`empty: []`,                                // 8
		`few: [1, 2]`,                              // 9
		`color: blu`,                               // 10
		`when: 2026-01-02T03:04:05Z`,               // 11: a timestamp is fine
		`cond: 42`,                                 // 12
		`either: [1]`,                              // 13
		`one: {}`,                                  // 14
		`dict: {a: 1, b: x}`,                       // 15
		`extra: 1`,                                 // 16
	}, "\n") + "\n"
	src := parseOK(t, doc)
	r := &Reporter{File: "f.yaml"}
	d := &Decoder{Src: src, R: r}
	if !d.Check(src.Root, spec) {
		t.Error("the document itself is usable")
	}
	want := []string{
		`f.yaml:3:5: error: an item takes only one of a or b, got a and b`,
		`f.yaml:4:5: error: missing required key "name" in an item`,
		`f.yaml:4:14: error: unknown key "c" in an item (did you mean "a"?)`,
		`f.yaml:5:12: error: a name cannot be bad`,
		`f.yaml:5:29: error: "lo" must be between 1 and 5, got 9`,
		`f.yaml:5:36: error: an item takes lo or hi, not both`,
		`f.yaml:6:5: error: an item needs one of a or b`,
		`f.yaml:6:26: error: "hi" must be true or false, got "x"`,
		`f.yaml:6:26: error: an item takes lo or hi, not both`,
		`f.yaml:7:5: error: an item must be a mapping of keys to values, got "just text"`,
		`f.yaml:8:8: error: "empty" is empty: give one`,
		`f.yaml:9:6: error: "few" holds at most 1 items, this one has 2`,
		`f.yaml:10:8: error: unknown color "blu"; use red or green`,
		`f.yaml:12:7: error: a condition must be an expression, got the number 42`,
		`f.yaml:13:9: error: a word must be a string, got a list`,
		`f.yaml:14:6: error: one needs at least one of x or y`,
		`f.yaml:15:17: error: entry b must be a whole number, got "x"`,
		`f.yaml:16:1: error: unknown key "extra" at the top`,
	}
	Sort(r.Diags)
	var got []string
	for _, dg := range r.Diags {
		got = append(got, dg.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	items := src.Root.Content[1].Content
	for i, ok := range []bool{true, false, false, false, false, false} {
		if d.OK(items[i]) != ok {
			t.Errorf("item %d: OK %v, want %v", i+1, d.OK(items[i]), ok)
		}
	}
	if d.OK(nil) {
		t.Error("nil is OK")
	}
	if got := spec.Keys(); strings.Join(got, " ") != "items name a b lo hi empty few color when cond either x one y dict" {
		t.Errorf("keys %v", got)
	}
}
