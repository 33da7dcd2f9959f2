package yamlnode

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/suggest"
)

// Decoder walks the nodes of one Source and reports what is wrong with them to R.
type Decoder struct {
	Src *Source
	R   *Reporter

	bad map[*yaml.Node]bool // nodes Check found unusable
}

// Field is one key: value pair of a mapping.
type Field struct {
	Key, Value *yaml.Node
}

// Map is a mapping node with its pairs in file order.
type Map struct {
	Node   *yaml.Node
	Fields []Field
}

// Lookup returns the pair with the given key.
func (m Map) Lookup(key string) (Field, bool) {
	for _, f := range m.Fields {
		if f.Key.Value == key {
			return f, true
		}
	}
	return Field{}, false
}

// Get returns the value of key, or nil.
func (m Map) Get(key string) *yaml.Node {
	f, _ := m.Lookup(key)
	return f.Value
}

// Has reports whether key is present.
func (m Map) Has(key string) bool {
	_, ok := m.Lookup(key)
	return ok
}

// Keys lists the keys in file order.
func (m Map) Keys() []string {
	ks := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		ks[i] = f.Key.Value
	}
	return ks
}

// Map checks that n is a mapping; what names it in the error ("the playbook", `"with"`).
func (d *Decoder) Map(n *yaml.Node, what string) (Map, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		d.R.Errorf(At(n), "%s must be a mapping of keys to values, got %s", what, KindName(n))
		return Map{Node: n}, false
	}
	return MapOf(n), true
}

// MapOf returns the pairs of a mapping node without checking it (for nodes Check let through).
func MapOf(n *yaml.Node) Map {
	m := Map{Node: n, Fields: make([]Field, 0, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m.Fields = append(m.Fields, Field{Key: n.Content[i], Value: n.Content[i+1]})
	}
	return m
}

// CheckKeys reports every key of m not in known, with a did-you-mean; where names the mapping ("in step \"x\"").
// It returns whether every key is known.
func (d *Decoder) CheckKeys(m Map, where string, known []string) bool {
	return d.CheckKeysMeaning(m, where, known, nil)
}

// CheckKeysMeaning is CheckKeys where some unknown keys are words of other languages for a known one
// (when: for if:): the did-you-mean names the known key even though the spelling is not close.
func (d *Decoder) CheckKeysMeaning(m Map, where string, known []string, meaning map[string]string) bool {
	ok := true
	for _, f := range m.Fields {
		if !contains(known, f.Key.Value) {
			h := suggest.Hint(f.Key.Value, known)
			if k, found := meaning[f.Key.Value]; found {
				h = ` (did you mean "` + k + `"?)`
			}
			d.R.Errorf(At(f.Key), "unknown key %q %s%s", f.Key.Value, where, h)
			ok = false
		}
	}
	return ok
}

// Require reports every key in keys that m lacks, at the mapping's position.
func (d *Decoder) Require(m Map, where string, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if !m.Has(k) {
			d.R.Errorf(At(m.Node), "missing required key %q %s", k, where)
			ok = false
		}
	}
	return ok
}

// Seq checks that n is a sequence.
func (d *Decoder) Seq(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	if n == nil || n.Kind != yaml.SequenceNode {
		d.R.Errorf(At(n), "%s must be a list, got %s", what, KindName(n))
		return nil, false
	}
	return n.Content, true
}

// Str checks that n is a string scalar (a number or boolean must be quoted to count as text).
func (d *Decoder) Str(n *yaml.Node, what string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.R.Errorf(At(n), "%s must be a string, got %s", what, KindName(n))
		return "", false
	}
	if n.Tag != "!!str" && n.Tag != "" {
		d.R.Errorf(At(n), "%s must be a string, got %s (quote it: %q)", what, KindName(n), n.Value)
		return "", false
	}
	return n.Value, true
}

// Int checks that n is an integer within [lo, hi].
func (d *Decoder) Int(n *yaml.Node, what string, lo, hi int) (int, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.R.Errorf(At(n), "%s must be a whole number, got %s", what, KindName(n))
		return 0, false
	}
	v, ok := parseInt(n.Value)
	if !ok || v < int64(lo) || v > int64(hi) {
		d.R.Errorf(At(n), "%s must be between %d and %d, got %s", what, lo, hi, n.Value)
		return 0, false
	}
	return int(v), true
}

// Bool checks that n is true or false.
func (d *Decoder) Bool(n *yaml.Node, what string) (bool, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.R.Errorf(At(n), "%s must be true or false, got %s", what, KindName(n))
		return false, false
	}
	return parseBool(n.Value), true
}

// CommentHint explains a syntax error in a plain (unquoted) scalar followed by a comment on its line: in
// YAML, " #" starts a comment, so the value ended there, as in ${{ map(l, # + 1) }}. It returns "" for other
// scalars.
func CommentHint(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Style&^yaml.FlowStyle != 0 || !strings.HasPrefix(n.LineComment, "#") {
		return ""
	}
	whole := strings.ReplaceAll(n.Value+" "+n.LineComment, "'", "''")
	return fmt.Sprintf(` (the " #" after it started a YAML comment, which ended the value: quote the whole value, as in '%s')`, whole)
}

// KindName describes a node for error messages: "a mapping", "a list", "a string \"x\"", "a number", ...
func KindName(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	case "!!str":
		if len(n.Value) > 40 {
			return "a string"
		}
		return strconv.Quote(n.Value)
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

// Value converts a node to a plain JSON-like value: map[string]any, []any, string, int64, float64, bool or
// nil. Aliases (rejected by Parse) become nil.
func Value(n *yaml.Node) any {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = Value(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = Value(c)
		}
		return l
	case yaml.ScalarNode:
		return ScalarValue(n)
	}
	return nil
}

// ScalarValue resolves a scalar by its tag.
func ScalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		return parseBool(n.Value)
	case "!!int":
		if v, ok := parseInt(n.Value); ok {
			return v
		}
		var v any
		if err := n.Decode(&v); err == nil {
			return v
		}
		return n.Value
	case "!!float":
		switch strings.ToLower(n.Value) {
		case ".inf", "+.inf":
			return math.Inf(1)
		case "-.inf":
			return math.Inf(-1)
		case ".nan":
			return math.NaN()
		}
		if v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
			return v
		}
		return n.Value
	}
	return n.Value
}

func parseInt(s string) (int64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		// YAML 1.2 octal is 0o17, which ParseInt(…, 0, …) handles; a leading-zero decimal such as 07 is not
		// octal in YAML 1.2 either.
		v, err = strconv.ParseInt(strings.TrimLeft(s, "0"), 10, 64)
		if err != nil {
			if strings.Trim(s, "0") == "" && s != "" {
				return 0, true
			}
			return 0, false
		}
	}
	return v, true
}

func parseBool(s string) bool {
	switch s {
	case "true", "True", "TRUE":
		return true
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
