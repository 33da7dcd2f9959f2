package playbook

import (
	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
)

// The static shapes of the scope. They document what the run puts there (docs/playbooks.md lists them).

func alertType() expression.Type {
	return expression.Object(map[string]expression.Type{
		"id":          expression.String,
		"source":      expression.String,
		"kind":        expression.String,
		"severity":    expression.String,
		"title":       expression.String,
		"connection":  expression.String,
		"observed_at": expression.String,
		"received_at": expression.String,
		"data":        expression.Any,
	})
}

func incidentType(alert expression.Type) expression.Type {
	return expression.Object(map[string]expression.Type{
		"id":     expression.String,
		"key":    expression.String,
		"alerts": expression.List(alert),
	})
}

func runType() expression.Type {
	return expression.Object(map[string]expression.Type{
		"id":         expression.String,
		"playbook":   expression.String,
		"version":    expression.Int,
		"sha256":     expression.String,
		"started_at": expression.String,
		"retry_of":   expression.String,
	})
}

func errorType() expression.Type {
	return expression.Object(map[string]expression.Type{"type": expression.String, "message": expression.String, "step": expression.String, "path": expression.String})
}

// approvalOutputType is an approval's output; one that notifies a chat (approval.notify) also says how that
// went.
func approvalOutputType(notify bool) expression.Type {
	fields := map[string]expression.Type{
		"approved":  expression.Bool,
		"by":        expression.String,
		"comment":   expression.String,
		"at":        expression.String,
		"timed_out": expression.Bool,
	}
	if notify {
		fields["notify"] = ApprovalNotifyType()
	}
	return expression.Object(fields)
}

// ApprovalNotifyType is steps.ID.output.notify of an approval with approval.notify: the webhook, whether the
// message was posted, and the error when it was not.
func ApprovalNotifyType() expression.Type {
	return expression.Object(map[string]expression.Type{"webhook": expression.String, "sent": expression.Bool, "error": errorType()})
}

// stepEntryType is steps.ID.
func stepEntryType(output expression.Type) expression.Type {
	return expression.Object(map[string]expression.Type{
		"status":      expression.String,
		"output":      output,
		"error":       errorType(),
		"started_at":  expression.String,
		"finished_at": expression.String,
		"attempts":    expression.Int,
	})
}

// ExprType converts a catalog type to the expression checker's type (steps.ID.output of an action step has
// its spec's output converted so).
func ExprType(t action.Type) expression.Type {
	switch t.Kind {
	case action.String:
		return expression.String
	case action.Int:
		return expression.Int
	case action.Number:
		return expression.Float
	case action.Bool:
		return expression.Bool
	case action.List:
		if t.Elem == nil {
			return expression.List(expression.Any)
		}
		return expression.List(ExprType(*t.Elem))
	case action.Object:
		if len(t.Fields) == 0 {
			return expression.OpenObject(nil)
		}
		m := make(map[string]expression.Type, len(t.Fields))
		for _, f := range t.Fields {
			m[f.Name] = ExprType(f.Type)
		}
		return expression.Object(m)
	}
	return expression.Any
}

// inputType is the checker type of a declared input.
func inputType(name string) expression.Type {
	switch name {
	case "string":
		return expression.String
	case "int":
		return expression.Int
	case "number":
		return expression.Float
	case "bool":
		return expression.Bool
	case "list":
		return expression.List(expression.Any)
	case "object":
		return expression.OpenObject(nil)
	}
	return expression.Any
}

// reservedNames cannot be loop variables: they would hide part of the scope.
var reservedNames = []string{
	expression.ScopeAlert, expression.ScopeIncident, expression.ScopeInputs, expression.ScopeVars,
	expression.ScopeSteps, expression.ScopeRun, expression.ScopeIndex, expression.ScopeOutput,
	expression.ScopeError, expression.ScopeNow, "env", "true", "false", "nil", "in", "not", "and", "or",
	"let", "if", "else", "matches", "contains", "startsWith", "endsWith",
}

// kindOutputType is the output type of a step of a kind other than action, as the interpreter records it.
func (v *validator) kindOutputType(s *Step) expression.Type {
	switch s.Kind {
	case plan.KindSteps:
		// Each item and what its steps did: {items: [{item, steps: {id: {status, output, error}}}]}.
		inner := make(map[string]expression.Type, len(s.Body))
		for _, b := range s.Body {
			if b.ID != "" {
				inner[b.ID] = expression.Object(map[string]expression.Type{
					"status": expression.String, "output": kindOrActionOutput(v, b), "error": errorType(),
				})
			}
		}
		return expression.Object(map[string]expression.Type{"items": expression.List(expression.Object(map[string]expression.Type{
			"item": expression.Any, "steps": expression.Object(inner),
		}))})
	case plan.KindApproval:
		return approvalOutputType(s.Approval != nil && s.Approval.Notify != "")
	case plan.KindCall:
		return expression.Any
	case plan.KindParallel:
		// Each branch's status: succeeded, failed or cancelled.
		m := make(map[string]expression.Type, len(s.Branches))
		for _, b := range s.Branches {
			m[b.Name] = expression.String
		}
		return expression.Object(m)
	case plan.KindSet:
		// The values it assigned (their types may change from one run of the step to the next).
		m := make(map[string]expression.Type, len(s.Set))
		for _, v := range s.Set {
			m[v.Name] = expression.Any
		}
		return expression.Object(m)
	}
	return expression.Nil // wait has no output; finish and fail end the run
}

func (v *validator) buildEnvs() {
	alert := expression.Cached(alertType())
	inputs := map[string]expression.Type{}
	for _, in := range v.pb.Inputs {
		inputs[in.Name] = inputType(in.Type)
	}
	steps := map[string]expression.Type{}
	for _, s := range v.order {
		if s.ID == "" {
			continue
		}
		steps[s.ID] = v.entryType(s)
	}
	v.mainEnv = expression.NewEnv(map[string]expression.Type{
		expression.ScopeAlert:    alert,
		expression.ScopeIncident: incidentType(alert),
		expression.ScopeInputs:   expression.Object(inputs),
		expression.ScopeVars:     expression.Object(v.varTypes),
		expression.ScopeSteps:    expression.Object(steps),
		expression.ScopeRun:      runType(),
	})
	v.failEnv = v.mainEnv.With(map[string]expression.Type{expression.ScopeError: errorType()})
}

// entryType is the type of steps.ID, shared by all steps with the same kind of output.
func (v *validator) entryType(s *Step) expression.Type {
	key := string(s.Kind) + ":" + s.Action
	if s.Kind == plan.KindParallel || s.Kind == plan.KindSet || s.Kind == plan.KindSteps {
		key = "step:" + s.ID // shaped by the step itself
	}
	if s.Kind == plan.KindApproval && s.Approval != nil && s.Approval.Notify != "" {
		key += "+notify" // its output says how the notification went
	}
	if s.ForEach != nil {
		key += "[]"
	}
	if t, ok := v.entries[key]; ok {
		return t
	}
	t := expression.Cached(stepEntryType(v.stepOutputType(s)))
	v.entries[key] = t
	return t
}

// stepOutputType is the type of steps.ID.output: the action's output (a list of them with for_each).
func (v *validator) stepOutputType(s *Step) expression.Type {
	t := v.kindOutputType(s)
	if s.Kind == plan.KindSteps {
		return t // its output holds the items already
	}
	if s.Kind == plan.KindAction {
		t = expression.Any
		if spec, ok := v.cat.Lookup(s.Action); ok {
			t = v.out.of(spec)
		}
	}
	if s.ForEach != nil {
		return expression.List(t)
	}
	return t
}

func kindOrActionOutput(v *validator, s *Step) expression.Type {
	if spec, ok := v.cat.Lookup(s.Action); ok && s.Kind == plan.KindAction {
		return v.out.of(spec)
	}
	if s.Kind == plan.KindAction {
		return expression.Any
	}
	return v.kindOutputType(s)
}
