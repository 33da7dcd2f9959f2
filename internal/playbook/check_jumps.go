package playbook

import (
	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// checkJumps checks where a step's next rules and on_error goto lead.
func (v *validator) checkJumps(s *Step) {
	before := v.r.ErrorCount()
	defer func() { s.broken = s.broken || v.r.ErrorCount() > before }()
	for _, n := range s.Next {
		v.checkGoto(s, n.Goto, n.GotoNode, "goto")
	}
	if s.OnError.Action == plan.OnErrorGoto {
		v.checkGoto(s, s.OnError.Goto, s.OnErrorGoto, "on_error goto")
	}
}

func (v *validator) checkGoto(s *Step, target string, n *yaml.Node, what string) {
	if target == plan.End || n == nil {
		return
	}
	t, ok := v.byID[target]
	if !ok {
		v.r.Errorf(yamlnode.At(n), "%s target %q is not a step id%s", what, target, hint(target, append(v.ids, plan.End)))
		return
	}
	switch {
	case t.list != s.list:
		v.r.Errorf(yamlnode.At(n), "%s %q leaves the %s: goto only jumps to a later step of the same list", what, target, s.list.name)
	case t == s:
		v.r.Errorf(yamlnode.At(n), "%s %q jumps to the step itself: to repeat a step use until, or for_each", what, target)
	case t.index < s.index:
		v.r.Errorf(yamlnode.At(n), "%s %q jumps backwards: goto only jumps forward (to repeat work use for_each or until)", what, target)
	}
}
