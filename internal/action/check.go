package action

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/parry-soar/parry/internal/suggest"
)

// CheckInputs checks a step's evaluated `with` against the spec, the way the action's activity does before
// it runs (one check: the worker and parry test's mocks both call it): unknown keys, required inputs, types,
// allowed values, bounds, formats and the groups of AtLeastOne and Exclusive. It fills the defaults the plan
// did not carry and drops null values and empty optional strings (a template over a missing value), so that
// handlers see only what was meant. It returns every problem, in a stable order; none means the inputs are
// good.
func (s *Spec) CheckInputs(with map[string]any) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	names := s.InputNames()
	unknown := []string{}
	for k, v := range with {
		in, ok := s.Input(k)
		switch {
		case !ok:
			unknown = append(unknown, k)
		case v == nil:
			delete(with, k)
		case !in.Required && v == "":
			delete(with, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		add("with.%s is not an input of %s%s (inputs: %s)", k, s.Name, suggest.Hint(k, names), strings.Join(names, ", "))
	}
	for i := range s.Inputs {
		in := &s.Inputs[i]
		v, ok := with[in.Name]
		if !ok && in.Default != nil {
			v, ok = in.Default, true
			with[in.Name] = v
		}
		if !ok {
			if in.Required {
				add("with.%s is required", in.Name)
			}
			continue
		}
		checkValue(in.Type, v, "with."+in.Name, in, add)
	}
	for _, group := range s.AtLeastOne {
		if !slices.ContainsFunc(group, func(n string) bool { _, ok := with[n]; return ok }) {
			add("set at least one of with.%s", strings.Join(group, ", with."))
		}
	}
	for _, group := range s.Exclusive {
		var set []string
		for _, n := range group {
			if _, ok := with[n]; ok {
				set = append(set, "with."+n)
			}
		}
		if len(set) > 1 {
			add("%s cannot be used together", strings.Join(set, " and "))
		}
	}
	return problems
}

// checkValue checks one value against its type; in is the input when the value is the input itself (enum and
// bounds), nil for list elements.
func checkValue(t Type, v any, path string, in *Input, add func(string, ...any)) {
	bad := func() { add("%s must be %s, got %s", path, describeKind(t), KindOf(v)) }
	switch t.Kind {
	case String:
		s, ok := v.(string)
		if !ok {
			bad()
			return
		}
		if in != nil && in.Required && s == "" {
			add("%s must not be empty", path)
			return
		}
		if in != nil && len(in.Enum) > 0 && !slices.Contains(in.Enum, s) {
			add("%s must be one of %s, got %q%s", path, strings.Join(in.Enum, ", "), clip(s), suggest.Hint(s, in.Enum))
			return
		}
		if msg := CheckFormat(t.Format, s); msg != "" {
			add("%s must be %s, got %q", path, msg, clip(s))
		}
	case Int:
		n, ok := asInt(v)
		if !ok {
			bad()
			return
		}
		if in != nil && (in.Min != nil && n < int64(*in.Min) || in.Max != nil && n > int64(*in.Max)) {
			switch {
			case in.Min != nil && in.Max != nil:
				add("%s must be between %d and %d, got %d", path, *in.Min, *in.Max, n)
			case in.Min != nil:
				add("%s must be at least %d, got %d", path, *in.Min, n)
			default:
				add("%s must be at most %d, got %d", path, *in.Max, n)
			}
		}
	case Number:
		if _, ok := asFloat(v); !ok {
			bad()
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			bad()
		}
	case List:
		l, ok := v.([]any)
		if !ok {
			bad()
			return
		}
		if t.Elem != nil && t.Elem.Kind != Any {
			for i, e := range l {
				checkValue(*t.Elem, e, fmt.Sprintf("%s[%d]", path, i), nil, add)
			}
		}
	case Object:
		if _, ok := v.(map[string]any); !ok {
			bad()
		}
	}
}

func describeKind(t Type) string {
	switch t.Kind {
	case String:
		return "a string"
	case Int:
		return "an integer"
	case Number:
		return "a number"
	case Bool:
		return "true or false"
	case List:
		return "a " + t.String()
	case Object:
		return "an object"
	}
	return t.String()
}

// KindOf names the JSON kind of a value for messages: the string "x", the number 5, an object, a list.
func KindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", clip(x))
	case bool:
		return fmt.Sprintf("%t", x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if f, ok := asFloat(v); ok {
		return "the number " + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprintf("a %T", v)
}

func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	f, ok := asFloat(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}
