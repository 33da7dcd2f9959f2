package yamlnode

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/suggest"
)

// Kind is the kind of value a Spec accepts.
type Kind int

// Kinds of values.
const (
	AnyKind    Kind = iota // anything, checked by the caller if at all
	StringKind             // a string scalar (numbers and booleans must be quoted)
	IntKind                // a whole number within [Min, Max]
	BoolKind               // true or false
	ExprKind               // an expression: a string or boolean scalar
	TimeKind               // a string, or a YAML timestamp (an unquoted 2026-01-02T03:04:05Z)
	MapKind                // a mapping with the keys of Fields
	DictKind               // a mapping with any keys, each value a Values
	ListKind               // a list of Items
)

// A Spec declares what a value of a document must look like, so that a decoder checks a whole document in
// one walk, reporting every problem with its position: kinds and scalar types, unknown keys (with a
// did-you-mean), missing and conflicting keys, closed sets of words, list lengths. What a spec cannot say
// (names that refer to another file, say) the caller checks after, on the nodes that passed (Decoder.OK).
//
// Messages follow the playbook linter's: `"now" must be a string, got a list`, `unknown key "mock" in the
// test file (did you mean "mocks"?)`, `missing required key "type" in a mocked error`.
type Spec struct {
	Kind Kind
	// What names the value in messages about it: "a case", `"now"`, "an error's type".
	What string
	// Where names a mapping in messages about its keys: "in a mock". Default: "in " + What. WhereFunc, when
	// set, words it from the mapping (`in case "first"`).
	Where     string
	WhereFunc func(m Map) string

	// MapKind: the known keys; ExactlyOne, AtLeastOne and Exclusive are sets of them a mapping must set
	// one of, at least one of, or not two of.
	Fields     []FieldSpec
	ExactlyOne []string
	AtLeastOne []string
	Exclusive  []string

	// DictKind: the spec of every value; ValueWhat, when set, names a value by its key.
	Values    *Spec
	ValueWhat func(key string) string

	// ListKind: the spec of every item; Empty, when set, refuses an empty list with `"x" is empty: ` +
	// Empty; MaxItems, when set, bounds its length.
	Items    *Spec
	Empty    string
	MaxItems int

	// IntKind bounds.
	Min, Max int
	// StringKind: a closed set of words, refused with "unknown NOUN %q (did you mean ...); INTRO a, b or c".
	OneOf      []string
	OneOfNoun  string
	OneOfIntro string

	// Either lists alternative specs, chosen by the kind of node (a scalar, a mapping or a list); a node
	// that fits none is reported against the first.
	Either []*Spec
	// Check, when set, is a last check of a node that passed the others; it returns a message, or "".
	Check func(n *yaml.Node) string
}

// FieldSpec is one known key of a MapKind spec.
type FieldSpec struct {
	Name     string
	Required bool
	Spec     *Spec // nil: any value
}

// Check reports every problem of n against s and returns whether n itself can be used: of the right kind,
// with its required keys and without conflicting ones. Problems inside n's children do not make n unusable
// (an unknown key, a wrong value of one key): ask OK about the children.
func (d *Decoder) Check(n *yaml.Node, s *Spec) bool {
	ok := d.check(n, s)
	if !ok {
		if d.bad == nil {
			d.bad = map[*yaml.Node]bool{}
		}
		d.bad[n] = true
	}
	return ok
}

// OK reports whether a node that Check walked can be used (nil cannot).
func (d *Decoder) OK(n *yaml.Node) bool { return n != nil && !d.bad[n] }

func (d *Decoder) check(n *yaml.Node, s *Spec) bool {
	if s == nil {
		return true
	}
	if len(s.Either) > 0 {
		for _, alt := range s.Either {
			if fits(n, alt.Kind) {
				return d.check(n, alt)
			}
		}
		return d.check(n, s.Either[0])
	}
	switch s.Kind {
	case StringKind:
		v, ok := d.Str(n, s.What)
		if !ok {
			return false
		}
		if len(s.OneOf) > 0 && !slices.Contains(s.OneOf, v) {
			d.R.Errorf(At(n), "unknown %s %q%s; %s %s", s.OneOfNoun, v, suggest.Hint(v, s.OneOf), s.OneOfIntro, OrWords(s.OneOf))
			return false
		}
	case IntKind:
		if _, ok := d.Int(n, s.What, s.Min, s.Max); !ok {
			return false
		}
	case BoolKind:
		if _, ok := d.Bool(n, s.What); !ok {
			return false
		}
	case ExprKind:
		if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!int" || n.Tag == "!!float" {
			d.R.Errorf(At(n), "%s must be an expression, got %s", s.What, KindName(n))
			return false
		}
	case TimeKind:
		if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!timestamp" {
			if _, ok := d.Str(n, s.What); !ok {
				return false
			}
		}
	case MapKind:
		if !d.checkMap(n, s) {
			return false
		}
	case DictKind:
		m, ok := d.Map(n, s.What)
		if !ok {
			return false
		}
		for _, f := range m.Fields {
			vs := s.Values
			if s.ValueWhat != nil && vs != nil {
				c := *vs
				c.What = s.ValueWhat(f.Key.Value)
				vs = &c
			}
			d.Check(f.Value, vs)
		}
	case ListKind:
		items, ok := d.Seq(n, s.What)
		if !ok {
			return false
		}
		if len(items) == 0 && s.Empty != "" {
			d.R.Errorf(At(n), "%s is empty: %s", s.What, s.Empty)
			return false
		}
		if s.MaxItems > 0 && len(items) > s.MaxItems {
			d.R.Errorf(At(n), "%s holds at most %d items, this one has %d", s.What, s.MaxItems, len(items))
			return false
		}
		for _, it := range items {
			d.Check(it, s.Items)
		}
	}
	if s.Check != nil {
		if msg := s.Check(n); msg != "" {
			d.R.Errorf(At(n), "%s", msg)
			return false
		}
	}
	return true
}

func (d *Decoder) checkMap(n *yaml.Node, s *Spec) bool {
	m, ok := d.Map(n, s.What)
	if !ok {
		return false
	}
	where := s.Where
	if where == "" {
		where = "in " + s.What
	}
	if s.WhereFunc != nil {
		where = s.WhereFunc(m)
	}
	known := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		known[i] = f.Name
	}
	d.CheckKeys(m, where, known)
	for _, f := range s.Fields {
		if f.Required && !m.Has(f.Name) {
			d.R.Errorf(At(m.Node), "missing required key %q %s", f.Name, where)
			ok = false
		}
	}
	for _, fv := range m.Fields {
		for _, f := range s.Fields {
			if f.Name == fv.Key.Value {
				d.Check(fv.Value, f.Spec)
			}
		}
	}
	// set lists the keys of keys the mapping sets, in the order of keys.
	set := func(keys []string) []Field {
		var out []Field
		for _, k := range keys {
			if f, ok := m.Lookup(k); ok {
				out = append(out, f)
			}
		}
		return out
	}
	if len(s.ExactlyOne) > 0 {
		switch got := set(s.ExactlyOne); len(got) {
		case 1:
		case 0:
			d.R.Errorf(At(m.Node), "%s needs one of %s", s.What, OrWords(s.ExactlyOne))
			ok = false
		default:
			names := make([]string, len(got))
			for i, f := range got {
				names[i] = f.Key.Value
			}
			d.R.Errorf(At(m.Node), "%s takes only one of %s, got %s", s.What, OrWords(s.ExactlyOne), strings.Join(names, " and "))
			ok = false
		}
	}
	if len(s.AtLeastOne) > 0 && len(set(s.AtLeastOne)) == 0 {
		d.R.Errorf(At(m.Node), "%s needs at least one of %s", s.What, OrWords(s.AtLeastOne))
		ok = false
	}
	if got := set(s.Exclusive); len(got) > 1 {
		// At the later of the two keys in the file: that is where the conflict appears.
		last := got[0]
		for _, f := range got {
			if f.Key.Line > last.Key.Line || f.Key.Line == last.Key.Line && f.Key.Column > last.Key.Column {
				last = f
			}
		}
		d.R.Errorf(At(last.Value), "%s takes %s, not both", s.What, OrWords(s.Exclusive))
		ok = false
	}
	return ok
}

// fits reports whether a node is of the kind of node a spec of kind k takes.
func fits(n *yaml.Node, k Kind) bool {
	if n == nil {
		return false
	}
	switch k {
	case MapKind, DictKind:
		return n.Kind == yaml.MappingNode
	case ListKind:
		return n.Kind == yaml.SequenceNode
	case AnyKind:
		return true
	}
	return n.Kind == yaml.ScalarNode
}

// OrWords writes a, b or c.
func OrWords(words []string) string { return listWords(words, " or ") }

// AndWords writes a, b and c.
func AndWords(words []string) string { return listWords(words, " and ") }

func listWords(words []string, last string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + last + words[len(words)-1]
}

// Keys lists every key a spec declares, its own and its children's, each once, in declaration order: for
// tests that keep the documentation of a format complete.
func (s *Spec) Keys() []string {
	var out []string
	seen := map[*Spec]bool{}
	var walk func(*Spec)
	walk = func(s *Spec) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		for _, f := range s.Fields {
			if !slices.Contains(out, f.Name) {
				out = append(out, f.Name)
			}
			walk(f.Spec)
		}
		walk(s.Values)
		walk(s.Items)
		for _, e := range s.Either {
			walk(e)
		}
	}
	walk(s)
	return out
}
