package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/expression"
)

// memoryBudget bounds what one evaluation may allocate (expr counts the elements of ranges, maps and lists it
// builds): a mapping reads a body, it does not compute.
const memoryBudget = 200_000

// Problem is one reason a body cannot be mapped: Index is the item of the split (0 without split).
type Problem = apitypes.AlertProblem

// Mapping is a compiled source: its programs are built once (per source version) and are safe to run from
// many requests at once.
type Mapping struct {
	Source  *Source
	split   *vm.Program
	fields  [len(fieldOrder)]*vm.Program
	machine sync.Pool
}

// fieldOrder fixes the index of each field's program in Mapping.fields.
var fieldOrder = [...]string{"kind", "title", "severity", "observed_at", "source_id", "data", "connection"}

// Compile builds the programs of a source that Parse found no error in (engine nil: a new one).
func Compile(s *Source, engine *expression.Engine) (*Mapping, error) {
	if engine == nil {
		engine = expression.NewEngine()
	}
	m := &Mapping{Source: s, machine: sync.Pool{New: func() any { return &vm.VM{} }}}
	var err error
	if s.Split != "" {
		if m.split, err = engine.Compile(s.Split); err != nil {
			return nil, fmt.Errorf("compiling source %s split: %w", s.Name, err)
		}
	}
	for i, f := range fieldOrder {
		src, ok := s.Map[f]
		if !ok {
			continue
		}
		if m.fields[i], err = engine.Compile(src); err != nil {
			return nil, fmt.Errorf("compiling source %s map.%s: %w", s.Name, f, err)
		}
	}
	return m, nil
}

// Input is one request to a source.
type Input struct {
	Body    []byte
	Headers http.Header
}

// Map maps a body to alerts (apitypes.AlertIn, as if the source had sent parry's envelope, with Source set to
// the source's name) and returns every problem of every item. With any problem the body must be refused whole;
// the alerts are still returned, one per item (nil when the body or split failed), so that the caller can
// validate the items that did map and report their problems too. Fields the mapping leaves empty stay empty
// (observed_at: the API uses the time it received the alert).
func (m *Mapping) Map(in Input) ([]apitypes.AlertIn, []Problem) {
	var body any
	dec := json.NewDecoder(bytes.NewReader(in.Body))
	if err := dec.Decode(&body); err != nil {
		return nil, []Problem{{Message: "the body is not JSON: " + jsonMessage(err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, []Problem{{Message: "the body holds more than one JSON value"}}
	}
	headers := make(map[string]any, len(in.Headers))
	for k, v := range in.Headers {
		if lk := strings.ToLower(k); len(v) > 0 && !credentialHeader(lk) {
			headers[lk] = v[0]
		}
	}
	env := map[string]any{"body": body, "headers": headers, expression.ScopeNow: nowFunc}
	var items []any
	if m.split != nil {
		v, err := m.run(m.split, env)
		if err != nil {
			return nil, []Problem{{Field: "split", Message: err.Error()}}
		}
		list, ok := v.([]any)
		switch {
		case !ok:
			return nil, []Problem{{Field: "split", Message: fmt.Sprintf("split %s gave %s, not a list", m.Source.Split, typeName(v))}}
		case len(list) == 0:
			return nil, []Problem{{Field: "split", Message: fmt.Sprintf("split %s gave an empty list: no alerts", m.Source.Split)}}
		case len(list) > MaxItems:
			return nil, []Problem{{Field: "split", Message: fmt.Sprintf("split %s gave %d items; at most %d", m.Source.Split, len(list), MaxItems)}}
		}
		items = list
	} else {
		items = []any{nil}
	}
	out := make([]apitypes.AlertIn, 0, len(items))
	var problems []Problem
	for i, item := range items {
		if m.split != nil {
			env["item"], env["index"] = item, i
		}
		a, ps := m.mapOne(i, env)
		problems = append(problems, ps...)
		out = append(out, a)
	}
	return out, problems
}

// credentialHeader reports whether a (lower-case) header carries a credential: a mapping never sees those, so
// that no secret can reach an alert's data.
func credentialHeader(name string) bool {
	switch name {
	case "authorization", "proxy-authorization", "cookie", "x-parry-signature", "x-parry-signature-256", "x-hub-signature-256", "x-hub-signature":
		return true
	}
	return false
}

// nowFunc is now() in a mapping: the wall clock (mappings run in the API, not in workflow code).
func nowFunc() time.Time { return time.Now().UTC() }

func (m *Mapping) mapOne(i int, env map[string]any) (apitypes.AlertIn, []Problem) {
	a := apitypes.AlertIn{Source: m.Source.Name}
	var problems []Problem
	add := func(field, format string, args ...any) {
		problems = append(problems, Problem{Index: i, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	for fi, p := range m.fields {
		field := fieldOrder[fi]
		if p == nil {
			continue
		}
		v, err := m.run(p, env)
		if err != nil {
			add(field, "map.%s: %s", field, err)
			continue
		}
		switch field {
		case "kind", "title", "connection":
			s, ok := text(v)
			if !ok {
				add(field, "map.%s gave %s, not text", field, typeName(v))
			}
			switch field {
			case "kind":
				a.Kind = s
			case "title":
				a.Title = s
			default:
				a.Connection = s
			}
		case "severity":
			s, ok := text(v)
			if !ok {
				add(field, "map.severity gave %s, not text", typeName(v))
			}
			a.Severity = strings.ToLower(strings.TrimSpace(s))
		case "observed_at":
			s, err := timeText(v)
			if err != nil {
				add(field, "map.observed_at %s", err)
			}
			a.ObservedAt = s
		case "source_id":
			if v == nil {
				continue
			}
			s, ok := text(v)
			if !ok {
				add(field, "map.source_id gave %s, not text or a number", typeName(v))
				continue
			}
			if s != "" {
				a.ID, _ = json.Marshal(s)
			}
		case "data":
			if v == nil {
				continue
			}
			obj, ok := v.(map[string]any)
			if !ok {
				add(field, "map.data gave %s, not an object", typeName(v))
				continue
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(expression.Plain(obj)); err != nil {
				add(field, "map.data cannot be written as JSON: %s", err)
				continue
			}
			a.Data = bytes.TrimRight(b.Bytes(), "\n")
		}
	}
	if a.Severity == "" {
		a.Severity = m.Source.SeverityDefault
	}
	return a, problems
}

func (m *Mapping) run(p *vm.Program, env map[string]any) (out any, err error) {
	machine := m.machine.Get().(*vm.VM)
	defer m.machine.Put(machine)
	machine.MemoryBudget = memoryBudget
	out, err = machine.Run(p, env)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, errors.New(fe.Message)
		}
		return nil, err
	}
	return out, nil
}

// text is a mapped text field: strings as they are, numbers in their shortest decimal form, booleans as
// true/false, null as empty.
func text(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", true
	case string:
		return t, true
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return "", false
		}
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// timeText turns a mapped observed_at into RFC 3339: a time, epoch seconds (a number or digits, as Splunk's
// _time), or text already in RFC 3339 (anything else is passed on for the API to refuse with its message).
func timeText(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano), nil
	case float64:
		return epoch(t)
	case int:
		return epoch(float64(t))
	case string:
		s := strings.TrimSpace(t)
		if f, err := strconv.ParseFloat(s, 64); err == nil && s != "" && (s[0] >= '0' && s[0] <= '9') {
			return epoch(f)
		}
		return s, nil
	}
	return "", fmt.Errorf("gave %s, not a time", typeName(v))
}

func epoch(f float64) (string, error) {
	if math.IsNaN(f) || f < 0 || f > 253402300799 { // year 9999
		return "", fmt.Errorf("gave %v, not epoch seconds between 1970 and 9999", f)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC().Format(time.RFC3339Nano), nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case float64, int, int64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case time.Time:
		return "a time"
	}
	return fmt.Sprintf("%T", v)
}

func jsonMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}
