package playbook

import (
	"fmt"
	"maps"
	"slices"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
)

// checkRef applies the rules on what an expression may read where. It returns the offset and message of
// the first problem, or "".
func (v *validator) checkRef(ref expression.Ref, env *expression.Env, st site) (int, string) {
	field := func() (string, int) {
		if len(ref.Fields) == 0 {
			return "", ref.RootOffset
		}
		return ref.Fields[0], ref.Offsets[0]
	}
	name, off := field()
	switch ref.Root {
	case expression.ScopeSteps, expression.ScopeInputs, expression.ScopeVars, expression.ScopeIncident, expression.ScopeRun:
		switch st.ctx {
		case ctxTrigger:
			return ref.RootOffset, fmt.Sprintf("%q sees only alert: %q does not exist before a run starts", st.field, ref.Root)
		case ctxInput:
			return ref.RootOffset, fmt.Sprintf("an input's \"from\" sees only alert, not %q", ref.Root)
		case ctxVars:
			if ref.Root == expression.ScopeSteps {
				return ref.RootOffset, "vars are set when the run starts, before any step runs: use a set step to keep a value from a step"
			}
		}
	case expression.ScopeError:
		if st.ctx != ctxStep || st.step == nil || !st.step.inOnFailure {
			return ref.RootOffset, `"error" is only set in on_failure steps (a step that continued on error has steps.ID.error)`
		}
		return 0, ""
	case expression.ScopeOutput:
		if !env.Has(expression.ScopeOutput) {
			return ref.RootOffset, `"output" is only set in until; elsewhere use steps.ID.output`
		}
		return 0, ""
	default:
		if st.step != nil && !env.Has(ref.Root) && (ref.Root == st.step.As || ref.Root == DefaultAs && st.step.As == "" || ref.Root == expression.ScopeIndex) && st.step.ForEach != nil {
			return ref.RootOffset, fmt.Sprintf("the loop variable %q is only set in with and until: if and for_each are evaluated once, before the loop", ref.Root)
		}
		return 0, ""
	}
	if name == "" {
		return 0, ""
	}
	switch ref.Root {
	case expression.ScopeInputs:
		if _, ok := v.inputIndex[name]; !ok {
			return off, fmt.Sprintf("unknown input %q%s", name, v.hint(name, v.inputNames))
		}
	case expression.ScopeVars:
		if st.ctx == ctxVars {
			if i, ok := v.varIndex[name]; ok {
				if i >= st.vars {
					return off, fmt.Sprintf("variable %q is defined after %q: vars are set in order, so a var sees only the ones above it", name, st.field)
				}
				return 0, ""
			}
		} else if _, ok := v.varTypes[name]; ok {
			return 0, ""
		}
		return off, fmt.Sprintf("unknown variable %q%s", name, v.hint(name, v.varNames))
	case expression.ScopeSteps:
		x, ok := v.byID[name]
		if !ok {
			return off, fmt.Sprintf("unknown step %q%s", name, v.hint(name, func() []string { return v.ids }))
		}
		if msg := v.visible(x, st); msg != "" {
			return off, msg
		}
	}
	return 0, ""
}

// visible says why step x cannot be read from site st ("" when it can).
func (v *validator) visible(x *Step, st site) string {
	if st.ctx == ctxOutput {
		if x.inOnFailure {
			return fmt.Sprintf("step %q is an on_failure step: output is set when the run succeeds", x.ID)
		}
		for _, a := range ancestry(x) {
			if a.Kind == plan.KindSteps && a != x {
				return fmt.Sprintf("step %q runs once per item of loop %q: read steps.%s.output.items[N].steps.%s", x.ID, a.ID, a.ID, x.ID)
			}
		}
		return ""
	}
	s := st.step
	if s == nil {
		return ""
	}
	if x.inOnFailure && !s.inOnFailure {
		return fmt.Sprintf("step %q is an on_failure step: it runs only when the run fails, after every other step", x.ID)
	}
	if !x.inOnFailure && s.inOnFailure {
		return ""
	}
	cx, cs := ancestry(x), ancestry(s)
	k := 0
	for k < len(cx) && k < len(cs) && cx[k] == cs[k] {
		k++
	}
	// A step inside a loop body runs once per item: it can be read only from inside the same body (the same
	// item). From outside it (the loop step's own next rules included), which item's result would it be?
	for i, a := range cx[:len(cx)-1] {
		if a.Kind == plan.KindSteps && !(i < k && i < len(cs)-1) {
			return fmt.Sprintf("step %q runs once per item of loop %q: after the loop, read steps.%s.output.items[N].steps.%s", x.ID, a.ID, a.ID, x.ID)
		}
	}
	switch {
	case k == len(cx) && k == len(cs):
		if st.after {
			return ""
		}
		return fmt.Sprintf("step %q cannot read its own result before it runs (use a next rule, or output in until)", x.ID)
	case k == len(cx):
		return fmt.Sprintf("step %q has not finished while %q runs inside it", x.ID, s.ID)
	case k == len(cs):
		if st.after {
			return ""
		}
		return fmt.Sprintf("step %q runs inside %q, after this point", x.ID, s.ID)
	}
	ax, as := cx[k], cs[k]
	if ax.list == as.list {
		if ax.index < as.index {
			return ""
		}
		if ax == x {
			return fmt.Sprintf("step %q cannot have run yet: it comes after %q", x.ID, s.ID)
		}
		return fmt.Sprintf("step %q cannot have run yet: it is inside %q, which comes after %q", x.ID, ax.ID, s.ID)
	}
	p := ax.parent
	return fmt.Sprintf("step %q runs in branch %q of %q, in parallel with branch %q: it may not have finished when %q runs", x.ID, ax.list.branch, p.ID, as.list.branch, s.ID)
}

// ancestry lists the parallel steps around s, outermost first, then s.
func ancestry(s *Step) []*Step {
	var out []*Step
	for c := s; c != nil; c = c.parent {
		out = append(out, c)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func (v *validator) inputNames() []string {
	out := make([]string, len(v.pb.Inputs))
	for i, in := range v.pb.Inputs {
		out[i] = in.Name
	}
	return out
}

// varNames lists the vars' names and those set steps assign.
func (v *validator) varNames() []string {
	return slices.Sorted(maps.Keys(v.varTypes))
}

// hintBudget bounds the name comparisons did-you-mean hints may cost in one file: a file with thousands of
// wrong names among thousands of right ones gets its first hints, not seconds of lint time.
const hintBudget = 500_000

// hint is a did-you-mean among the names candidates lists (computed only when needed), while the file's
// budget lasts.
func (v *validator) hint(word string, candidates func() []string) string {
	if v.hintsSpent >= hintBudget {
		return ""
	}
	names := candidates()
	v.hintsSpent += len(names)
	return hint(word, names)
}
