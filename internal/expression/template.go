package expression

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Template is a string with ${{ expr }} parts. A template that is exactly one ${{ }} (whitespace around it
// allowed) is "whole": evaluating it gives the expression's typed value (a list stays a list). Otherwise the
// parts are interpolated into text.
type Template struct {
	Source string
	Parts  []Part
	Whole  bool
}

// Part is literal text or one expression.
type Part struct {
	Text   string // literal text, when Expr is empty
	Expr   string // the expression between ${{ and }}, trimmed
	Offset int    // rune offset of Expr (or Text) in Source
}

// IsTemplate reports whether s contains ${{ and so must be evaluated rather than used as it is.
func IsTemplate(s string) bool { return strings.Contains(s, "${{") }

// ParseTemplate splits s into text and expressions. Expressions are not compiled here.
func ParseTemplate(s string) (*Template, *Error) {
	t := &Template{Source: s}
	rest := s
	base := 0 // byte offset of rest in s
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			if rest != "" {
				t.Parts = append(t.Parts, Part{Text: rest, Offset: runeOffset(s, base)})
			}
			break
		}
		if i > 0 {
			t.Parts = append(t.Parts, Part{Text: rest[:i], Offset: runeOffset(s, base)})
		}
		open := base + i
		body := rest[i+3:]
		end, err := closeIndex(body)
		if err != "" {
			return nil, &Error{Offset: runeOffset(s, open), Message: err}
		}
		raw := body[:end]
		trimmed := strings.TrimSpace(raw)
		lead := len(raw) - len(strings.TrimLeft(raw, " \t\r\n"))
		exprStart := open + 3 + lead
		if trimmed == "" {
			return nil, &Error{Offset: runeOffset(s, open), Message: "empty expression in ${{ }}"}
		}
		t.Parts = append(t.Parts, Part{Expr: trimmed, Offset: runeOffset(s, exprStart)})
		consumed := i + 3 + end + 2
		base += consumed
		rest = rest[consumed:]
	}
	exprs, text := 0, false
	for _, p := range t.Parts {
		if p.Expr != "" {
			exprs++
		} else if strings.TrimSpace(p.Text) != "" {
			text = true
		}
	}
	t.Whole = exprs == 1 && !text
	return t, nil
}

// closeIndex finds the }} that ends an expression, skipping string literals and balanced braces (map
// literals), and returns its byte index in body.
func closeIndex(body string) (int, string) {
	depth := 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '"', '\'', '`':
			j := i + 1
			for j < len(body) && body[j] != c {
				if body[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(body) {
				return 0, "unterminated string in ${{ }}"
			}
			i = j
		case '{':
			depth++
		case '}':
			if depth == 0 {
				if i+1 < len(body) && body[i+1] == '}' {
					return i, ""
				}
				return 0, "unclosed ${{: end the expression with }}"
			}
			depth--
		}
	}
	return 0, "unclosed ${{: end the expression with }}"
}

func runeOffset(s string, byteOff int) int { return utf8.RuneCountInString(s[:byteOff]) }

// Template returns the parsed template for s from the cache, parsing it on first use.
func (e *Engine) Template(s string) (*Template, error) {
	c := e.c
	c.mu.RLock()
	t, ok := c.templates[s]
	c.mu.RUnlock()
	if ok {
		return t, nil
	}
	t, perr := ParseTemplate(s)
	if perr != nil {
		return nil, fmt.Errorf("parsing template %s: %s", quoteShort(s), perr.Message)
	}
	c.mu.Lock()
	if len(c.templates) >= c.maxCached {
		clear(c.templates)
	}
	c.templates[s] = t
	c.mu.Unlock()
	return t, nil
}

// EvalTemplate evaluates a template string: a whole template gives its expression's value (made plain, as
// Plain does in the engine's dialect), any other template a string; a string without ${{ is returned as it is.
func (e *Engine) EvalTemplate(s string, scope Scope) (any, error) {
	return e.evalTemplate(s, scope, e.plainOpts())
}

func (e *Engine) evalTemplate(s string, scope Scope, o plainOpts) (any, error) {
	if !IsTemplate(s) {
		return s, nil
	}
	t, err := e.Template(s)
	if err != nil {
		return nil, err
	}
	if t.Whole {
		for _, p := range t.Parts {
			if p.Expr != "" {
				v, err := e.Eval(p.Expr, scope)
				if err != nil {
					return nil, err
				}
				return plainWith(v, o), nil
			}
		}
	}
	var b strings.Builder
	for _, p := range t.Parts {
		if p.Expr == "" {
			b.WriteString(p.Text)
			continue
		}
		v, err := e.Eval(p.Expr, scope)
		if err != nil {
			return nil, err
		}
		if err := interpolate(&b, v, o); err != nil {
			return nil, fmt.Errorf("interpolating %s: %w", quoteShort(p.Expr), err)
		}
	}
	return b.String(), nil
}

// EvalValue evaluates every template inside a JSON-like value (maps and lists recursively) and returns a new
// value; the input is not modified. Only strings of the plan are evaluated: values an expression returns
// (alert data, step outputs) are never evaluated again, whatever they contain.
func (e *Engine) EvalValue(v any, scope Scope) (any, error) {
	return e.evalValue(v, scope, e.plainOpts())
}

// EvalValueTyped is EvalValue keeping times and durations as they are, for values that stay inside the run
// (vars and set): now() stored in a var is still a time when an expression reads it.
func (e *Engine) EvalValueTyped(v any, scope Scope) (any, error) {
	o := e.plainOpts()
	o.keepTimes = e.dialect >= DialectTyped
	return e.evalValue(v, scope, o)
}

// PlainValue makes a value plain in the engine's dialect (what EvalValue gives), for recording a typed one.
func (e *Engine) PlainValue(v any) any { return e.plain(v) }

func (e *Engine) evalValue(v any, scope Scope, o plainOpts) (any, error) {
	switch x := v.(type) {
	case string:
		return e.evalTemplate(x, scope, o)
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) { // sorted, so the first error reported is always the same one
			r, err := e.evalValue(x[k], scope, o)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			r, err := e.evalValue(el, scope, o)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// Interpolate writes v as text: strings as they are, null as nothing, whole numbers without a decimal
// point, times in RFC 3339 (UTC), lists and maps as JSON.
func Interpolate(b *strings.Builder, v any) error { return interpolate(b, v, plainOpts{}) }

func interpolate(b *strings.Builder, v any, o plainOpts) error {
	switch x := v.(type) {
	case nil:
	case string:
		b.WriteString(x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			b.WriteString(strconv.FormatInt(int64(x), 10))
		} else {
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case time.Time:
		b.WriteString(FormatTime(x))
	case time.Duration:
		b.WriteString(x.String())
	default:
		o.keepTimes = false
		j, err := json.Marshal(plainWith(v, o))
		if err != nil {
			return err
		}
		b.Write(j)
	}
	return nil
}
