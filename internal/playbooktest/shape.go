package playbooktest

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// checkShape reports every place where n does not have the shape t, the catalog's description of what the
// real action returns. what names the value in messages ("mock output of cecp.sweep"); path is where n sits
// inside it ("mails[0]", "" for the whole value).
func checkShape(r *yamlnode.Reporter, n *yaml.Node, t action.Type, what, path string) {
	if n == nil {
		return
	}
	at := yamlnode.At(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		if t.Kind != action.Any && t.Kind != "" {
			r.Errorf(at, "%s must be %s, got null", subject(what, path), describe(t))
		}
		return
	}
	switch t.Kind {
	case action.Any, "":
		return
	case action.Object:
		if n.Kind != yaml.MappingNode {
			r.Errorf(at, "%s must be %s, got %s", subject(what, path), describe(t), yamlnode.KindName(n))
			return
		}
		if len(t.Fields) == 0 {
			return
		}
		names := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			names[i] = f.Name
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := t.Field(k.Value)
			if !ok {
				in := ""
				if path != "" {
					in = " in " + path
				}
				r.Errorf(yamlnode.At(k), "%s: unknown field %q%s%s", what, k.Value, in, fieldHint(k.Value, names))
				continue
			}
			checkShape(r, v, f.Type, what, join(path, f.Name))
		}
	case action.List:
		if n.Kind != yaml.SequenceNode {
			r.Errorf(at, "%s must be %s, got %s", subject(what, path), describe(t), yamlnode.KindName(n))
			return
		}
		if t.Elem == nil {
			return
		}
		for i, c := range n.Content {
			checkShape(r, c, *t.Elem, what, path+"["+strconv.Itoa(i)+"]")
		}
	case action.String:
		switch {
		case n.Kind != yaml.ScalarNode:
			r.Errorf(at, "%s must be a string, got %s", subject(what, path), yamlnode.KindName(n))
		case n.Tag != "!!str":
			r.Errorf(at, "%s must be a string, got %s (quote it: %q)", subject(what, path), yamlnode.KindName(n), n.Value)
		}
	case action.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			r.Errorf(at, "%s must be a whole number, got %s", subject(what, path), yamlnode.KindName(n))
		}
	case action.Number:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" {
			r.Errorf(at, "%s must be a number, got %s", subject(what, path), yamlnode.KindName(n))
		}
	case action.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			r.Errorf(at, "%s must be true or false, got %s", subject(what, path), yamlnode.KindName(n))
		}
	}
}

func subject(what, path string) string {
	if path == "" {
		return what
	}
	return what + ": " + path
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fieldHint suggests the closest field, or lists them all when there are few and none is close.
func fieldHint(word string, names []string) string {
	if h := suggest.Hint(word, names); h != "" {
		return h
	}
	if len(names) <= 6 {
		return fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
	}
	return ""
}

func describe(t action.Type) string {
	switch t.Kind {
	case action.Object:
		return "a mapping"
	case action.List:
		return "a list"
	case action.Int:
		return "a whole number"
	case action.Number:
		return "a number"
	case action.Bool:
		return "true or false"
	case action.String:
		return "a string"
	}
	return "a value"
}

// zero is the value a synthesised output has for t: empty lists, zero numbers, empty strings, false, and
// objects with every known field set the same way.
func zero(t action.Type) any {
	switch t.Kind {
	case action.String:
		return ""
	case action.Int:
		return int64(0)
	case action.Number:
		return float64(0)
	case action.Bool:
		return false
	case action.List:
		return []any{}
	case action.Object:
		m := make(map[string]any, len(t.Fields))
		for _, f := range t.Fields {
			m[f.Name] = zero(f.Type)
		}
		return m
	}
	return nil
}

// fill gives every field a mocked output leaves out its zero value, recursively (objects inside lists too), so
// a mock states only what matters to the case and the playbook still sees the shape the real action returns.
func fill(v any, t action.Type) any {
	switch t.Kind {
	case action.Object:
		m, ok := v.(map[string]any)
		if !ok || len(t.Fields) == 0 {
			return v
		}
		for _, f := range t.Fields {
			if fv, present := m[f.Name]; present {
				m[f.Name] = fill(fv, f.Type)
			} else {
				m[f.Name] = zero(f.Type)
			}
		}
		return m
	case action.List:
		l, ok := v.([]any)
		if !ok || t.Elem == nil {
			return v
		}
		for i := range l {
			l[i] = fill(l[i], *t.Elem)
		}
		return l
	}
	return v
}
