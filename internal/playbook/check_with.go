package playbook

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// checkWith checks every input value of an action step against the action's spec.
func (v *validator) checkWith(s *Step, spec *action.Spec, env *expression.Env, st site) {
	m, _ := v.d.Map(s.With, `"with"`)
	for _, f := range m.Fields {
		in, ok := spec.Input(f.Key.Value)
		if !ok {
			v.valueType(f.Value, env, st, f.Key.Value)
			continue
		}
		if in.Secret {
			name, isCall, good := secretCall(f.Value.Value)
			switch {
			case f.Value.Kind != yaml.ScalarNode || !isCall:
				v.r.Errorf(yamlnode.At(f.Value), "%q is a secret input: write %s: secret(\"name\") so its value never enters run history", in.Name, in.Name)
			case !good:
				v.r.Errorf(yamlnode.At(f.Value), `secret() takes one quoted name: secret("name")`)
			case !secret.ValidName(name):
				v.r.Errorf(yamlnode.At(f.Value), "secret name %q must be letters, digits, '_', '-' or '.' (at most 128)", name)
			}
			continue
		}
		v.input(f.Value, in.Type, in, env, st, in.Name)
	}
}

// input checks one value (possibly nested) against an input type.
func (v *validator) input(n *yaml.Node, t action.Type, in *action.Input, env *expression.Env, st site, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if name, isCall, good := secretCall(n.Value); isCall {
			switch {
			case !good:
				v.r.Errorf(yamlnode.At(n), `secret() takes one quoted name: secret("name")`)
			case !secret.ValidName(name):
				v.r.Errorf(yamlnode.At(n), "secret name %q must be letters, digits, '_', '-' or '.' (at most 128)", name)
			case t.Kind != action.String && t.Kind != action.Any:
				v.r.Errorf(yamlnode.At(n), "%q expects %s, but a secret is a string", path, describeType(t))
			}
			return
		}
		if strings.Contains(n.Value, "secret(") && !expression.IsTemplate(n.Value) {
			v.r.Errorf(yamlnode.At(n), `"secret(" inside text would be sent as it is: a secret must be the whole value (store the full text, such as "Bearer <token>", as the secret)`)
			return
		}
		if expression.IsTemplate(n.Value) {
			ti, ok := v.templateType(n, env, st, path)
			if ok && !compatible(ti, t) {
				v.r.Errorf(yamlnode.At(n), "%q expects %s, but this expression gives %s", path, describeType(t), describeInfo(ti))
			}
			return
		}
	}
	var enum []string
	var lo, hi *int
	if in != nil {
		enum, lo, hi = in.Enum, in.Min, in.Max
	}
	v.literal(n, t, enum, lo, hi, env, st, path)
}

// literal checks a value written out in YAML. With an env, templates may appear inside lists and maps (with
// values); without one (input defaults) they are not evaluated.
func (v *validator) literal(n *yaml.Node, t action.Type, enum []string, lo, hi *int, env *expression.Env, st site, path string) {
	if n.Tag == "!!null" {
		return
	}
	bad := func() {
		v.r.Errorf(yamlnode.At(n), "%q expects %s, got %s", path, describeType(t), yamlnode.KindName(n))
	}
	switch t.Kind {
	case action.Any, "":
		if env == nil {
			return
		}
		anyT := action.Type{Kind: action.Any}
		switch n.Kind {
		case yaml.SequenceNode:
			for i, c := range n.Content {
				v.input(c, anyT, nil, env, st, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				v.input(n.Content[i+1], anyT, nil, env, st, path+"."+n.Content[i].Value)
			}
		}
	case action.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			if n.Kind == yaml.ScalarNode {
				v.r.Errorf(yamlnode.At(n), "%q expects %s, got %s (quote it: %q)", path, describeType(t), yamlnode.KindName(n), n.Value)
				return
			}
			bad()
			return
		}
		if len(enum) > 0 && !contains(enum, n.Value) {
			v.r.Errorf(yamlnode.At(n), "%q must be one of %s, got %q%s", path, strings.Join(enum, ", "), n.Value, hint(n.Value, enum))
			return
		}
		if msg := action.CheckFormat(t.Format, n.Value); msg != "" {
			v.r.Errorf(yamlnode.At(n), "%q must be %s, got %q", path, msg, n.Value)
		}
	case action.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			bad()
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || lo != nil && i < int64(*lo) || hi != nil && i > int64(*hi) {
			if lo != nil && hi != nil {
				v.r.Errorf(yamlnode.At(n), "%q must be between %d and %d, got %s", path, *lo, *hi, n.Value)
			} else if err != nil {
				bad()
			}
		}
	case action.Number:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			bad()
		}
	case action.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			bad()
		}
	case action.List:
		if n.Kind != yaml.SequenceNode {
			bad()
			return
		}
		elem := action.Type{Kind: action.Any}
		if t.Elem != nil {
			elem = *t.Elem
		}
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if env != nil {
				v.input(c, elem, nil, env, st, p)
			} else {
				v.literal(c, elem, nil, nil, nil, nil, site{}, p)
			}
		}
	case action.Object:
		if n.Kind != yaml.MappingNode {
			bad()
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, c := n.Content[i], n.Content[i+1]
			ft := action.Type{Kind: action.Any}
			if f, ok := t.Field(k.Value); ok {
				ft = f.Type
			}
			if env != nil {
				v.input(c, ft, nil, env, st, path+"."+k.Value)
			}
		}
	}
}

// compatible reports whether an expression's static type can be used where t is expected. Unknown types
// (alert data, HTTP bodies) are accepted: the activity validates them at run time.
func compatible(ti expression.TypeInfo, t action.Type) bool {
	if ti.Unknown() || ti.IsNil() {
		return true
	}
	switch t.Kind {
	case action.String:
		return ti.IsString() || ti.IsTime() // a time becomes RFC 3339 text
	case action.Int:
		return ti.IsInteger()
	case action.Number:
		return ti.IsNumber()
	case action.Bool:
		return ti.IsBool()
	case action.List:
		if !ti.IsList() {
			return false
		}
		if t.Elem == nil {
			return true
		}
		return compatible(ti.Elem(), *t.Elem)
	case action.Object:
		return ti.IsMap()
	}
	return true
}

func describeType(t action.Type) string {
	switch t.Kind {
	case action.String:
		return "a string"
	case action.Int:
		return "a whole number"
	case action.Number:
		return "a number"
	case action.Bool:
		return "true or false"
	case action.List:
		if t.Elem != nil && t.Elem.Kind != action.Any {
			return "a list of " + plural(describeType(*t.Elem))
		}
		return "a list"
	case action.Object:
		return "a map"
	}
	return "any value"
}

func describeInfo(ti expression.TypeInfo) string {
	d := ti.Describe()
	if ti.IsList() {
		if e := ti.Elem(); !e.Unknown() {
			return "a list of " + plural(describeInfo(e))
		}
	}
	return d
}

func plural(d string) string {
	switch d {
	case "true or false", "a boolean":
		return "booleans"
	}
	d = strings.TrimPrefix(strings.TrimPrefix(d, "a "), "an ")
	if strings.HasPrefix(d, "list of ") {
		return "lists of " + strings.TrimPrefix(d, "list of ")
	}
	return d + "s"
}
