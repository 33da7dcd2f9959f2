package playbook

import (
	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// validator checks what needs the whole playbook: ids, jumps, actions and their inputs, expressions.
type validator struct {
	pb    *Playbook
	d     *yamlnode.Decoder
	r     *yamlnode.Reporter
	cat   *action.Catalog
	lim   Limits
	conns *Connections // nil: connection names are not checked
	out   *outputTypes

	byID  map[string]*Step
	ids   []string
	order []*Step // every step, in file order

	inputIndex map[string]int // position of each input name
	varIndex   map[string]int // position of each var name (the first, when a name repeats)
	hintsSpent int            // names compared by did-you-mean hints so far (see hintBudget)

	varTypes map[string]expression.Type
	bodyEnvs map[*Step]*expression.Env // the scope of each loop body's steps (with the loop variable)
	varReads map[*Step][]varRead       // the vars each step's expressions read
	mainEnv  *expression.Env
	failEnv  *expression.Env
	ps       *expression.Parser
	entries  map[string]expression.Type // steps.ID types by output kind, computed once
}

// outputTypes caches action output types converted for the checker, per catalog.
type outputTypes struct {
	byAction map[string]expression.Type
}

func (o *outputTypes) of(spec *action.Spec) expression.Type {
	if t, ok := o.byAction[spec.Name]; ok {
		return t
	}
	t := expression.Cached(ExprType(spec.Output))
	o.byAction[spec.Name] = t
	return t
}

// run checks in passes, each in its own file. Ids come first because jumps, references and reachability
// look steps up by id; expressions come after the kinds because their scopes use the actions' output types.
func (v *validator) run() {
	v.inputIndex, v.varIndex = map[string]int{}, map[string]int{}
	for i, in := range v.pb.Inputs {
		if _, dup := v.inputIndex[in.Name]; !dup {
			v.inputIndex[in.Name] = i
		}
	}
	for i, vr := range v.pb.Vars {
		if _, dup := v.varIndex[vr.Name]; !dup {
			v.varIndex[vr.Name] = i
		}
	}
	v.collectIDs()
	for _, s := range v.order {
		v.checkJumps(s)
		v.checkKind(s)
	}
	v.checkReachable(v.pb.Steps)
	v.checkReachable(v.pb.OnFailure)
	v.checkExpressions()
	v.checkSetRaces()
}
