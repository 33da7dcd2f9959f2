package playbook

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// checkKind checks what is specific to the step's kind: the action and its inputs, call targets, loop
// variable names.
func (v *validator) checkKind(s *Step) {
	switch s.Kind {
	case plan.KindAction:
		if s.ActionNode == nil {
			return
		}
		spec, ok := v.cat.Lookup(s.Action)
		if !ok {
			v.r.Errorf(yamlnode.At(s.ActionNode), "unknown action %q%s", s.Action, hint(s.Action, v.cat.Names()))
			return
		}
		v.checkWithKeys(s, spec)
		v.checkConnection(s, spec)
	case plan.KindApproval:
		v.checkApprovalNotify(s)
	case plan.KindCall:
		if s.Call != "" && s.Call == v.pb.Name {
			v.r.Errorf(yamlnode.At(s.CallNode), "playbook %q cannot call itself", s.Call)
		}
	}
	if s.AsNode != nil {
		switch {
		case !identRE.MatchString(s.As):
			v.r.Errorf(yamlnode.At(s.AsNode), "as %q must be a name of letters, digits and _", s.As)
		case contains(reservedNames, s.As):
			v.r.Errorf(yamlnode.At(s.AsNode), "as %q would hide %q in expressions: choose another name", s.As, s.As)
		case expression.IsFunction(s.As):
			v.r.Errorf(yamlnode.At(s.AsNode), "as %q would hide the function %s(): choose another name", s.As, s.As)
		}
	}
}

// checkWithKeys checks the keys of an action step's with: unknown, missing, exclusive, at-least-one.
func (v *validator) checkWithKeys(s *Step, spec *action.Spec) {
	at := s.ActionNode
	var keys yamlnode.Map
	if s.WithKey != nil && s.With == nil {
		return // with is not a mapping: already reported, and what it lacks would only repeat it
	}
	if s.WithKey == nil && misspeltWith(s.Node) {
		return // "wiht:" was reported with a did-you-mean; listing every input it lacks would bury that
	}
	if s.With != nil {
		keys, _ = v.d.Map(s.With, `"with"`)
		at = s.WithKey
	}
	for _, f := range keys.Fields {
		if _, ok := spec.Input(f.Key.Value); !ok {
			v.r.Errorf(yamlnode.At(f.Key), "unknown input %q for %s%s", f.Key.Value, spec.Name, hint(f.Key.Value, spec.InputNames()))
		}
	}
	for _, in := range spec.Inputs {
		if in.Required && !keys.Has(in.Name) {
			v.r.Errorf(yamlnode.At(at), "%s needs %q in with", spec.Name, in.Name)
		}
	}
	for _, g := range spec.AtLeastOne {
		found := false
		for _, k := range g {
			found = found || keys.Has(k)
		}
		if !found {
			v.r.Errorf(yamlnode.At(at), "%s needs at least one of %s in with", spec.Name, strings.Join(g, ", "))
		}
	}
	// Exclusive groups are checked with the expressions (checkExclusive): whether a value may be null
	// decides.
}

func misspeltWith(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != "with" && !contains(stepKeys, k) && suggest.Closest(k, []string{"with"}) == "with" {
			return true
		}
	}
	return false
}
