package playbook

import (
	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// checkReachable warns about steps no path reaches: after a step that always jumps or ends the run, with no
// jump landing on them.
func (v *validator) checkReachable(steps []*Step) {
	if len(steps) == 0 {
		return
	}
	reach := make([]bool, len(steps))
	reach[0] = true
	for i, s := range steps {
		for _, b := range s.Branches {
			v.checkReachable(b.Steps)
		}
		v.checkReachable(s.Body)
		if !reach[i] {
			continue
		}
		if s.broken {
			// An error in the step may hide a condition or a jump: warning that the steps after it can never
			// run would only repeat that error, and wrongly once it is fixed.
			for j := i + 1; j < len(steps); j++ {
				reach[j] = true
			}
			continue
		}
		falls := true
		if s.If == nil {
			switch {
			case s.Kind == plan.KindFinish || s.Kind == plan.KindFail:
				falls = false
			case len(s.Next) > 0 && s.Next[len(s.Next)-1].If == nil:
				falls = false
			}
		}
		if falls && i+1 < len(steps) {
			reach[i+1] = true
		}
		targets := make([]string, 0, len(s.Next)+1)
		for _, n := range s.Next {
			targets = append(targets, n.Goto)
		}
		if s.OnError.Action == plan.OnErrorGoto {
			targets = append(targets, s.OnError.Goto)
		}
		if s.OnError.Action == plan.OnErrorContinue && i+1 < len(steps) {
			reach[i+1] = true
		}
		for _, t := range targets {
			if ts, ok := v.byID[t]; ok && ts.list == s.list && ts.index > i {
				reach[ts.index] = true
			}
		}
	}
	for i, s := range steps {
		if !reach[i] {
			v.r.Warnf(yamlnode.At(stepPosNode(s)), "step %q can never run: the steps before it always jump past it or end the run", s.ID)
		}
	}
}

func stepPosNode(s *Step) *yaml.Node {
	if s.IDNode != nil {
		return s.IDNode
	}
	return s.Node
}
