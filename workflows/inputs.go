package workflows

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
)

// ResolveInputs gives every declared input its value: the manual run's value, else the input's `from`
// expression over the alert (alert runs), else its default. Values are checked against the declared type;
// strings are converted for int, number, bool, list and object inputs (so `--with lookback=7` works). Unknown
// and missing required inputs are errors. The API checks a run's inputs with it before starting, and the
// workflow again when it starts.
func ResolveInputs(eng *expression.Engine, p *plan.Plan, given map[string]any, alert map[string]any, now time.Time) (map[string]any, error) {
	declared := make(map[string]bool, len(p.Inputs))
	names := make([]string, 0, len(p.Inputs))
	for _, in := range p.Inputs {
		declared[in.Name] = true
		names = append(names, in.Name)
	}
	var unknown []string
	//workflowcheck:ignore map order: the unknown names are sorted after
	for k := range given {
		if !declared[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if len(names) == 0 {
			return nil, fmt.Errorf("unknown input %s: playbook %s declares no inputs", strings.Join(unknown, ", "), p.Name)
		}
		return nil, fmt.Errorf("unknown input %s (inputs of %s: %s)", strings.Join(unknown, ", "), p.Name, strings.Join(names, ", "))
	}
	out := make(map[string]any, len(p.Inputs))
	var problems []string
	for _, in := range p.Inputs {
		v, ok := given[in.Name]
		if !ok && alert != nil && in.From != "" {
			scope := expression.NewScope(func() time.Time { return now })
			scope[expression.ScopeAlert] = alert
			got, err := eng.Eval(in.From, scope)
			if err != nil {
				problems = append(problems, fmt.Sprintf("input %s: evaluating from: %s", in.Name, err))
				continue
			}
			v = expression.Plain(got)
		}
		if v == nil || v == "" && in.Type != "string" && in.Type != "any" {
			v = in.Default
		}
		if v == nil {
			if in.Required {
				problems = append(problems, fmt.Sprintf("input %s is required", in.Name))
			}
			out[in.Name] = nil
			continue
		}
		cv, err := convert(in.Type, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("input %s: %s", in.Name, err))
			continue
		}
		if in.Required && in.Type == "string" && cv == "" {
			problems = append(problems, fmt.Sprintf("input %s is required (it is empty)", in.Name))
			continue
		}
		if len(in.Enum) > 0 && !inEnum(in.Enum, cv) {
			problems = append(problems, fmt.Sprintf("input %s must be one of %s, got %s", in.Name, enumText(in.Enum), quoteValue(cv)))
			continue
		}
		out[in.Name] = cv
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return out, nil
}

// convert checks v against an input type, converting strings and whole floats where the type asks.
func convert(typ string, v any) (any, error) {
	switch typ {
	case "", "any":
		return v, nil
	case "string":
		switch x := v.(type) {
		case string:
			return x, nil
		case int64, int, float64, bool:
			return fmt.Sprint(x), nil
		}
	case "int":
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
			return nil, fmt.Errorf("%v is not a whole number", x)
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a whole number", x)
			}
			return n, nil
		}
	case "number":
		switch x := v.(type) {
		case int64, float64:
			return x, nil
		case int:
			return int64(x), nil
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n, nil
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", x)
			}
			return f, nil
		}
	case "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("%q is not true or false", x)
			}
			return b, nil
		}
	case "list":
		switch x := v.(type) {
		case []any:
			return x, nil
		case string:
			var l []any
			if err := json.Unmarshal([]byte(x), &l); err != nil {
				return nil, fmt.Errorf("%q is not a JSON list", x)
			}
			return Normalize(l), nil
		}
	case "object":
		switch x := v.(type) {
		case map[string]any:
			return x, nil
		case string:
			var m map[string]any
			if err := json.Unmarshal([]byte(x), &m); err != nil {
				return nil, fmt.Errorf("%q is not a JSON object", x)
			}
			return Normalize(m), nil
		}
	default:
		return nil, fmt.Errorf("unknown input type %q", typ)
	}
	return nil, fmt.Errorf("must be %s, not %s", article(typ), typeName(v))
}

func article(typ string) string {
	if typ == "int" || typ == "object" {
		return "an " + typ
	}
	return "a " + typ
}

// inEnum reports whether v is one of the allowed values (numbers compare by value).
func inEnum(enum []any, v any) bool {
	for _, e := range enum {
		if e == v {
			return true
		}
		if a, ok := number(e); ok {
			if b, ok := number(v); ok && a == b {
				return true
			}
		}
	}
	return false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func enumText(enum []any) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = fmt.Sprint(e)
	}
	return strings.Join(parts, ", ")
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
