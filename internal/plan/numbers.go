package plan

import (
	"encoding/json"
)

// normalizeNumbers turns the json.Number values Decode produced inside template trees and defaults into
// int64 when they are whole, float64 otherwise: the same values the compiler put there.
func normalizeNumbers(p *Plan) {
	for i := range p.Inputs {
		p.Inputs[i].Default = normalize(p.Inputs[i].Default)
		for j := range p.Inputs[i].Enum {
			p.Inputs[i].Enum[j] = normalize(p.Inputs[i].Enum[j])
		}
	}
	for i := range p.Schedules {
		p.Schedules[i].With = normalizeMap(p.Schedules[i].With)
	}
	normalizeVars(p.Vars)
	p.Output = normalizeMap(p.Output)
	p.Walk(func(s *Step) bool {
		if s.Action != nil {
			s.Action.With = normalizeMap(s.Action.With)
		}
		if s.Call != nil {
			s.Call.With = normalizeMap(s.Call.With)
		}
		if s.Approval != nil && s.Approval.Notify != nil {
			s.Approval.Notify.With = normalizeMap(s.Approval.Notify.With)
		}
		if s.Finish != nil {
			s.Finish.Output = normalizeMap(s.Finish.Output)
		}
		normalizeVars(s.Set)
		if s.ForEach != nil {
			s.ForEach.Items = normalize(s.ForEach.Items)
		}
		return true
	})
}

func normalizeVars(vs []Var) {
	for i := range vs {
		vs[i].Value = normalize(vs[i].Value)
	}
}

func normalizeMap(m map[string]any) map[string]any {
	//workflowcheck:ignore map order: each value is normalised in place, on its own
	for k, v := range m {
		m[k] = normalize(v)
	}
	return m
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		return normalizeMap(x)
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
		return x
	}
	return v
}
