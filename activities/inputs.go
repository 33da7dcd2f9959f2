package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/plan"
)

// fillSecrets resolves every secret reference and writes its value into with at its path. It returns the
// values, so that the wrapper can keep them out of errors and outputs. A secret that cannot be read fails the
// step as InvalidInput naming the secret, never showing a value.
func (a *Activities) fillSecrets(ctx context.Context, with map[string]any, refs []plan.SecretRef) ([]string, error) {
	var values []string
	for _, ref := range refs {
		where := "with." + pathString(ref.Path)
		if len(ref.Path) == 0 {
			return values, failf(action.InvalidInput, "secret %q has no place in with", ref.Name)
		}
		v, err := a.deps.Secrets.Secret(ctx, ref.Name)
		if err != nil {
			return values, failf(action.InvalidInput, "%s: %v", where, err)
		}
		values = append(values, v)
		if err := setPath(with, ref.Path, v); err != nil {
			return values, failf(action.InvalidInput, "placing secret %q at %s: %v", ref.Name, where, err)
		}
	}
	return values, nil
}

// pathString renders a secret path as with's keys and list indexes read: headers.Authorization, items[2].
func pathString(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// setPath writes v at path inside m, creating the maps the compiler left out around a secret-only value.
func setPath(m map[string]any, path []string, v string) error {
	var cur any = m
	for i, p := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = v
				return nil
			}
			next, ok := c[p]
			if !ok || next == nil {
				next = map[string]any{}
				c[p] = next
			}
			cur = next
		case []any:
			idx, err := strconv.Atoi(p)
			if err != nil || idx < 0 || idx >= len(c) {
				return fmt.Errorf("%s is not an index of a list of %d", p, len(c))
			}
			if last {
				c[idx] = v
				return nil
			}
			if c[idx] == nil {
				c[idx] = map[string]any{}
			}
			cur = c[idx]
		default:
			return fmt.Errorf("%s is inside %s, not an object or a list", p, kindOf(cur))
		}
	}
	return nil
}

// checkInputs checks with against the spec (action.Spec.CheckInputs, the check parry test's mocks make too),
// every problem at once.
func checkInputs(spec *action.Spec, with map[string]any) error {
	if problems := spec.CheckInputs(with); len(problems) > 0 {
		return failf(action.InvalidInput, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// kindOf names the JSON kind of a value for messages.
func kindOf(v any) string {
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

// decode copies the checked inputs into a typed struct (json tags = input names).
func (c *call) decode(dst any) error {
	raw, err := json.Marshal(c.with)
	if err != nil {
		return failf(action.InvalidInput, "reading the inputs of %s: %v", c.spec.Name, err)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return failf(action.InvalidInput, "with.%s cannot be read as %s", te.Field, te.Type)
		}
		return failf(action.InvalidInput, "reading the inputs of %s: %v", c.spec.Name, err)
	}
	return nil
}

// timeInput parses an optional datetime input ("" is the zero time).
func timeInput(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := cecp.ParseTime(s)
	if err != nil {
		return time.Time{}, failf(action.InvalidInput, "with.%s: %v", name, err)
	}
	return t, nil
}
