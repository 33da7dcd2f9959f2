package playbook

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// validator checks what needs the whole playbook: ids, jumps, actions and their inputs, expressions.
type validator struct {
	pb  *Playbook
	d   *yamlnode.Decoder
	r   *yamlnode.Reporter
	cat *action.Catalog
	out *outputTypes

	byID  map[string]*Step
	ids   []string
	order []*Step // every step, in file order

	varTypes map[string]expression.Type
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

func (v *validator) run() {
	v.collectIDs()
	for _, s := range v.order {
		v.checkJumps(s)
		v.checkKind(s)
	}
	v.checkReachable(v.pb.Steps)
	v.checkReachable(v.pb.OnFailure)
	v.checkExpressions()
}

// collectIDs indexes steps by id and reports duplicates.
func (v *validator) collectIDs() {
	v.byID = make(map[string]*Step)
	var walk func(steps []*Step)
	walk = func(steps []*Step) {
		for _, s := range steps {
			v.order = append(v.order, s)
			if s.ID != "" {
				if first, dup := v.byID[s.ID]; dup {
					v.r.Errorf(yamlnode.At(s.IDNode), "step id %q is already used on line %d", s.ID, first.IDNode.Line)
				} else {
					v.byID[s.ID] = s
					v.ids = append(v.ids, s.ID)
				}
			}
			for _, b := range s.Branches {
				walk(b.Steps)
			}
		}
	}
	walk(v.pb.Steps)
	walk(v.pb.OnFailure)
}

func (v *validator) checkJumps(s *Step) {
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
		if !reach[i] {
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
	for _, g := range spec.Exclusive {
		var set []yamlnode.Field
		for _, k := range g {
			if f, ok := keys.Lookup(k); ok {
				set = append(set, f)
			}
		}
		if len(set) > 1 {
			last := set[len(set)-1]
			v.r.Errorf(yamlnode.At(last.Key), "%q cannot be used together with %q", last.Key.Value, set[0].Key.Value)
		}
	}
}

func misspeltWith(n *yaml.Node) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != "with" && !contains(stepKeys, k) && suggest.Closest(k, []string{"with"}) == "with" {
			return true
		}
	}
	return false
}

// secretCallRE matches a whole secret("name") value.
var secretCallRE = regexp.MustCompile(`^secret\(\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\)$`)

// secretCall reports whether s is meant as secret(...) and, when it is well formed, the name.
func secretCall(s string) (name string, isCall, ok bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "secret(") {
		return "", false, false
	}
	m := secretCallRE.FindStringSubmatch(t)
	if m == nil {
		return "", true, false
	}
	return m[1] + m[2], true, true
}

// The scopes.

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
	if s.Kind == plan.KindParallel || s.Kind == plan.KindSet {
		key = "step:" + s.ID // shaped by the step itself
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
	t := kindOutputType(s)
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

// site says where an expression sits, for the reference rules.
type site struct {
	ctx   siteCtx
	step  *Step // the step the expression belongs to (nil outside steps)
	after bool  // evaluated after the step ran (next, until)
	vars  int   // in vars: how many vars precede this one
	field string
}

type siteCtx int

const (
	ctxTrigger siteCtx = iota
	ctxInput
	ctxVars
	ctxStep
	ctxOutput
)

func (v *validator) checkExpressions() {
	pb := v.pb
	alertOnly := expression.NewEnv(map[string]expression.Type{expression.ScopeAlert: expression.Cached(alertType())})
	if t := pb.Trigger; t != nil {
		v.condition(t.When, alertOnly, site{ctx: ctxTrigger, field: "on.alert.when"}, "on.alert.when")
		if t.DedupKey != nil {
			ti, ok := v.expr(t.DedupKey, alertOnly, site{ctx: ctxTrigger, field: "dedup.key"})
			if ok && !ti.Unknown() && !ti.IsString() && !ti.IsNumber() {
				v.r.Errorf(v.exprPos(t.DedupKey, 0), "\"dedup.key\" must give a string, but this expression gives %s", ti.Describe())
			}
		}
	}
	for _, in := range pb.Inputs {
		v.checkInputDecl(in, alertOnly)
	}
	v.checkVars()
	v.buildEnvs()
	for _, s := range v.order {
		env := v.mainEnv
		if s.inOnFailure {
			env = v.failEnv
		}
		v.checkStepExpressions(s, env)
	}
	if pb.Output != nil {
		v.valueType(pb.Output, v.mainEnv, site{ctx: ctxOutput}, "output")
	}
}

func (v *validator) checkInputDecl(in *Input, alertOnly *expression.Env) {
	want := inputActionType(in.Type)
	if in.Default != nil && in.Default.Tag != "!!null" && !expression.IsTemplate(in.Default.Value) {
		v.literal(in.Default, want, nil, nil, nil, nil, site{}, "default")
	}
	if in.From != nil {
		ti, ok := v.expr(in.From, alertOnly, site{ctx: ctxInput, field: "from"})
		if ok && !compatible(ti, want) {
			v.r.Errorf(v.exprPos(in.From, 0), "input %q is %s, but its \"from\" gives %s", in.Name, describeType(want), ti.Describe())
		}
	}
}

func inputActionType(name string) action.Type {
	switch name {
	case "string":
		return action.Type{Kind: action.String}
	case "int":
		return action.Type{Kind: action.Int}
	case "number":
		return action.Type{Kind: action.Number}
	case "bool":
		return action.Type{Kind: action.Bool}
	case "list":
		return action.Type{Kind: action.List}
	case "object":
		return action.Type{Kind: action.Object}
	}
	return action.Type{Kind: action.Any}
}

// checkVars types vars in order (each sees the ones before it), then adds the names set steps assign.
func (v *validator) checkVars() {
	alert := expression.Cached(alertType())
	inputs := map[string]expression.Type{}
	for _, in := range v.pb.Inputs {
		inputs[in.Name] = inputType(in.Type)
	}
	base := expression.NewEnv(map[string]expression.Type{
		expression.ScopeAlert:    alert,
		expression.ScopeIncident: incidentType(alert),
		expression.ScopeInputs:   expression.Object(inputs),
		expression.ScopeRun:      runType(),
	})
	v.varTypes = map[string]expression.Type{}
	seen := map[string]*Var{}
	for i, vr := range v.pb.Vars {
		env := base.With(map[string]expression.Type{expression.ScopeVars: expression.Object(v.varTypes)})
		t := v.valueType(vr.Value, env, site{ctx: ctxVars, vars: i, field: vr.Name}, vr.Name)
		seen[vr.Name] = vr
		v.varTypes[vr.Name] = t
	}
	// A var assigned by a set step may hold anything from then on.
	for _, s := range v.order {
		for _, sv := range s.Set {
			v.varTypes[sv.Name] = expression.Any
		}
	}
}

func (v *validator) checkStepExpressions(s *Step, env *expression.Env) {
	st := site{ctx: ctxStep, step: s}
	if s.If != nil {
		v.condition(s.If, env, st, "if")
	}
	loopEnv := env
	if s.ForEach != nil {
		elem := expression.Type(expression.Any)
		if s.ForEach.Kind == yaml.SequenceNode {
			v.valueType(s.ForEach, env, st, "for_each")
		} else if !expression.IsTemplate(s.ForEach.Value) {
			// not a list: reported by the parser
		} else if ti, ok := v.templateType(s.ForEach, env, st, "for_each"); ok {
			if !ti.Unknown() && !ti.IsList() {
				v.r.Errorf(yamlnode.At(s.ForEach), "for_each needs a list, but this expression gives %s", ti.Describe())
			} else if ti.IsList() {
				elem = ti.Elem().Type()
			}
		}
		as := s.As
		if as == "" {
			as = DefaultAs
		}
		loopEnv = env.With(map[string]expression.Type{as: elem, expression.ScopeIndex: expression.Int})
	}
	switch s.Kind {
	case plan.KindAction:
		if spec, ok := v.cat.Lookup(s.Action); ok && s.With != nil {
			v.checkWith(s, spec, loopEnv, st)
		} else if s.With != nil {
			v.valueType(s.With, loopEnv, st, "with")
		}
	case plan.KindCall:
		if s.With != nil {
			v.valueTypeNoSecrets(s.With, loopEnv, st, "with", "secret() cannot be passed to a called playbook: its inputs are recorded in run history; use secret() in the called playbook's own steps")
		}
	case plan.KindApproval:
		if s.Approval.Prompt != nil {
			v.valueType(s.Approval.Prompt, env, st, "prompt")
		}
	case plan.KindSet:
		for _, sv := range s.Set {
			v.valueType(sv.Value, env, st, sv.Name)
		}
	case plan.KindFinish:
		if s.Finish.Output != nil {
			v.valueType(s.Finish.Output, env, st, "output")
		}
	case plan.KindFail:
		if s.Fail != nil {
			v.valueType(s.Fail, env, st, "fail")
		}
	}
	after := site{ctx: ctxStep, step: s, after: true}
	if s.Until != nil {
		out := v.stepOutputType(s)
		if s.ForEach != nil {
			out = kindOrActionOutput(v, s)
		}
		v.condition(s.Until, loopEnv.With(map[string]expression.Type{expression.ScopeOutput: out}), after, "until")
	}
	for _, n := range s.Next {
		if n.If != nil {
			v.condition(n.If, env, after, "if")
		}
	}
}

func kindOrActionOutput(v *validator, s *Step) expression.Type {
	if spec, ok := v.cat.Lookup(s.Action); ok && s.Kind == plan.KindAction {
		return v.out.of(spec)
	}
	return kindOutputType(s)
}

// condition checks an expression that must be true or false.
func (v *validator) condition(e *Expr, env *expression.Env, st site, what string) {
	if e == nil {
		return
	}
	ti, ok := v.expr(e, env, st)
	if ok && !ti.Unknown() && !ti.IsBool() {
		v.r.Errorf(v.exprPos(e, 0), "%q must be true or false, but this expression gives %s", what, ti.Describe())
	}
}

func (v *validator) exprPos(e *Expr, off int) yamlnode.Pos {
	return v.d.Src.ValuePos(e.Node, e.Offset+off)
}

// expr parses, checks references and type-checks one bare expression, reporting the first problem.
func (v *validator) expr(e *Expr, env *expression.Env, st site) (expression.TypeInfo, bool) {
	return v.checkSource(e.Src, e.Node, e.Offset, env, st)
}

func (v *validator) checkSource(src string, n *yaml.Node, base int, env *expression.Env, st site) (expression.TypeInfo, bool) {
	p, perr := v.ps.Parse(src)
	if perr != nil {
		v.r.Errorf(v.d.Src.ValuePos(n, base+perr.Offset), "%s", perr.Message)
		return expression.TypeInfo{}, false
	}
	for _, ref := range p.Refs() {
		if off, msg := v.checkRef(ref, env, st); msg != "" {
			v.r.Errorf(v.d.Src.ValuePos(n, base+off), "%s", msg)
			return expression.TypeInfo{}, false
		}
	}
	ti, cerr := env.Check(p)
	if cerr != nil {
		v.r.Errorf(v.d.Src.ValuePos(n, base+cerr.Offset), "%s", cerr.Message)
		return expression.TypeInfo{}, false
	}
	return ti, true
}

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
		if !v.hasInput(name) {
			return off, fmt.Sprintf("unknown input %q%s", name, hint(name, v.inputNames()))
		}
	case expression.ScopeVars:
		if st.ctx == ctxVars {
			for i, vr := range v.pb.Vars {
				if vr.Name == name {
					if i >= st.vars {
						return off, fmt.Sprintf("variable %q is defined after %q: vars are set in order, so a var sees only the ones above it", name, st.field)
					}
					return 0, ""
				}
			}
		} else if _, ok := v.varTypes[name]; ok {
			return 0, ""
		}
		return off, fmt.Sprintf("unknown variable %q%s", name, hint(name, v.varNames()))
	case expression.ScopeSteps:
		x, ok := v.byID[name]
		if !ok {
			return off, fmt.Sprintf("unknown step %q%s", name, hint(name, v.ids))
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

func (v *validator) hasInput(name string) bool {
	for _, in := range v.pb.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

func (v *validator) inputNames() []string {
	var out []string
	for _, in := range v.pb.Inputs {
		out = append(out, in.Name)
	}
	return out
}

func (v *validator) varNames() []string {
	var out []string
	for n := range v.varTypes {
		out = append(out, n)
	}
	return out
}

// templateType checks a template string (or a plain string) and returns the type it evaluates to.
func (v *validator) templateType(n *yaml.Node, env *expression.Env, st site, what string) (expression.TypeInfo, bool) {
	if !expression.IsTemplate(n.Value) {
		return expression.Info(expression.String), true
	}
	t, perr := expression.ParseTemplate(n.Value)
	if perr != nil {
		v.r.Errorf(v.d.Src.ValuePos(n, perr.Offset), "%s", perr.Message)
		return expression.TypeInfo{}, false
	}
	var whole expression.TypeInfo
	ok := true
	for _, part := range t.Parts {
		if part.Expr == "" {
			continue
		}
		ti, good := v.checkSource(part.Expr, n, part.Offset, env, st)
		ok = ok && good
		whole = ti
	}
	if !ok {
		return expression.TypeInfo{}, false
	}
	if t.Whole {
		return whole, true
	}
	return expression.Info(expression.String), true
}

// valueType checks every template in a value tree (vars, set, output, prompts) and returns its static type.
// secret() is not allowed here.
func (v *validator) valueType(n *yaml.Node, env *expression.Env, st site, what string) expression.Type {
	return v.valueTypeNoSecrets(n, env, st, what, `secret() can only be the whole value of a "with" key of an action step: a secret's value must never pass through vars, outputs or messages`)
}

func (v *validator) valueTypeNoSecrets(n *yaml.Node, env *expression.Env, st site, what, secretMsg string) expression.Type {
	switch n.Kind {
	case yaml.MappingNode:
		fields := make(map[string]expression.Type, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			fields[n.Content[i].Value] = v.valueTypeNoSecrets(n.Content[i+1], env, st, n.Content[i].Value, secretMsg)
		}
		return expression.Object(fields)
	case yaml.SequenceNode:
		for _, c := range n.Content {
			v.valueTypeNoSecrets(c, env, st, what, secretMsg)
		}
		return expression.List(expression.Any)
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			if _, isCall, _ := secretCall(n.Value); isCall {
				v.r.Errorf(yamlnode.At(n), "%s", secretMsg)
				return expression.String
			}
			ti, ok := v.templateType(n, env, st, what)
			if !ok {
				return expression.Any
			}
			return ti.Type()
		case "!!int":
			return expression.Int
		case "!!float":
			return expression.Float
		case "!!bool":
			return expression.Bool
		}
	}
	return expression.Any
}

// checkWith checks every input value of an action step against the action's spec.
func (v *validator) checkWith(s *Step, spec *action.Spec, env *expression.Env, st site) {
	m, _ := v.d.Map(s.With, `"with"`)
	for _, f := range m.Fields {
		in, ok := spec.Input(f.Key.Value)
		if !ok {
			v.valueType(f.Value, env, st, f.Key.Value)
			continue
		}
		if in.Secret {
			name, isCall, good := secretCall(f.Value.Value)
			switch {
			case f.Value.Kind != yaml.ScalarNode || !isCall:
				v.r.Errorf(yamlnode.At(f.Value), "%q is a secret input: write %s: secret(\"name\") so its value never enters run history", in.Name, in.Name)
			case !good:
				v.r.Errorf(yamlnode.At(f.Value), `secret() takes one quoted name: secret("name")`)
			case !secret.ValidName(name):
				v.r.Errorf(yamlnode.At(f.Value), "secret name %q must be letters, digits, '_', '-' or '.' (at most 128)", name)
			}
			continue
		}
		v.input(f.Value, in.Type, in, env, st, in.Name)
	}
}

// input checks one value (possibly nested) against an input type.
func (v *validator) input(n *yaml.Node, t action.Type, in *action.Input, env *expression.Env, st site, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if name, isCall, good := secretCall(n.Value); isCall {
			switch {
			case !good:
				v.r.Errorf(yamlnode.At(n), `secret() takes one quoted name: secret("name")`)
			case !secret.ValidName(name):
				v.r.Errorf(yamlnode.At(n), "secret name %q must be letters, digits, '_', '-' or '.' (at most 128)", name)
			case t.Kind != action.String && t.Kind != action.Any:
				v.r.Errorf(yamlnode.At(n), "%q expects %s, but a secret is a string", path, describeType(t))
			}
			return
		}
		if strings.Contains(n.Value, "secret(") && !expression.IsTemplate(n.Value) {
			v.r.Errorf(yamlnode.At(n), `"secret(" inside text would be sent as it is: a secret must be the whole value (store the full text, such as "Bearer <token>", as the secret)`)
			return
		}
		if expression.IsTemplate(n.Value) {
			ti, ok := v.templateType(n, env, st, path)
			if ok && !compatible(ti, t) {
				v.r.Errorf(yamlnode.At(n), "%q expects %s, but this expression gives %s", path, describeType(t), describeInfo(ti))
			}
			return
		}
	}
	var enum []string
	var lo, hi *int
	if in != nil {
		enum, lo, hi = in.Enum, in.Min, in.Max
	}
	v.literal(n, t, enum, lo, hi, env, st, path)
}

// literal checks a value written out in YAML. With an env, templates may appear inside lists and maps (with
// values); without one (input defaults) they are not evaluated.
func (v *validator) literal(n *yaml.Node, t action.Type, enum []string, lo, hi *int, env *expression.Env, st site, path string) {
	if n.Tag == "!!null" {
		return
	}
	bad := func() {
		v.r.Errorf(yamlnode.At(n), "%q expects %s, got %s", path, describeType(t), yamlnode.KindName(n))
	}
	switch t.Kind {
	case action.Any, "":
		if env == nil {
			return
		}
		anyT := action.Type{Kind: action.Any}
		switch n.Kind {
		case yaml.SequenceNode:
			for i, c := range n.Content {
				v.input(c, anyT, nil, env, st, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				v.input(n.Content[i+1], anyT, nil, env, st, path+"."+n.Content[i].Value)
			}
		}
	case action.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			if n.Kind == yaml.ScalarNode {
				v.r.Errorf(yamlnode.At(n), "%q expects %s, got %s (quote it: %q)", path, describeType(t), yamlnode.KindName(n), n.Value)
				return
			}
			bad()
			return
		}
		if len(enum) > 0 && !contains(enum, n.Value) {
			v.r.Errorf(yamlnode.At(n), "%q must be one of %s, got %q%s", path, strings.Join(enum, ", "), n.Value, hint(n.Value, enum))
			return
		}
		if msg := action.CheckFormat(t.Format, n.Value); msg != "" {
			v.r.Errorf(yamlnode.At(n), "%q must be %s, got %q", path, msg, n.Value)
		}
	case action.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			bad()
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || lo != nil && i < int64(*lo) || hi != nil && i > int64(*hi) {
			if lo != nil && hi != nil {
				v.r.Errorf(yamlnode.At(n), "%q must be between %d and %d, got %s", path, *lo, *hi, n.Value)
			} else if err != nil {
				bad()
			}
		}
	case action.Number:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			bad()
		}
	case action.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			bad()
		}
	case action.List:
		if n.Kind != yaml.SequenceNode {
			bad()
			return
		}
		elem := action.Type{Kind: action.Any}
		if t.Elem != nil {
			elem = *t.Elem
		}
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if env != nil {
				v.input(c, elem, nil, env, st, p)
			} else {
				v.literal(c, elem, nil, nil, nil, nil, site{}, p)
			}
		}
	case action.Object:
		if n.Kind != yaml.MappingNode {
			bad()
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, c := n.Content[i], n.Content[i+1]
			ft := action.Type{Kind: action.Any}
			if f, ok := t.Field(k.Value); ok {
				ft = f.Type
			}
			if env != nil {
				v.input(c, ft, nil, env, st, path+"."+k.Value)
			}
		}
	}
}

// compatible reports whether an expression's static type can be used where t is expected. Unknown types
// (alert data, HTTP bodies) are accepted: the activity validates them at run time.
func compatible(ti expression.TypeInfo, t action.Type) bool {
	if ti.Unknown() || ti.IsNil() {
		return true
	}
	switch t.Kind {
	case action.String:
		return ti.IsString() || ti.IsTime() // a time becomes RFC 3339 text
	case action.Int:
		return ti.IsInteger()
	case action.Number:
		return ti.IsNumber()
	case action.Bool:
		return ti.IsBool()
	case action.List:
		if !ti.IsList() {
			return false
		}
		if t.Elem == nil {
			return true
		}
		return compatible(ti.Elem(), *t.Elem)
	case action.Object:
		return ti.IsMap()
	}
	return true
}

func describeType(t action.Type) string {
	switch t.Kind {
	case action.String:
		return "a string"
	case action.Int:
		return "a whole number"
	case action.Number:
		return "a number"
	case action.Bool:
		return "true or false"
	case action.List:
		if t.Elem != nil && t.Elem.Kind != action.Any {
			return "a list of " + plural(describeType(*t.Elem))
		}
		return "a list"
	case action.Object:
		return "a map"
	}
	return "any value"
}

func describeInfo(ti expression.TypeInfo) string {
	d := ti.Describe()
	if ti.IsList() {
		if e := ti.Elem(); !e.Unknown() {
			return "a list of " + plural(describeInfo(e))
		}
	}
	return d
}

func plural(d string) string {
	switch d {
	case "true or false", "a boolean":
		return "booleans"
	}
	d = strings.TrimPrefix(strings.TrimPrefix(d, "a "), "an ")
	if strings.HasPrefix(d, "list of ") {
		return "lists of " + strings.TrimPrefix(d, "list of ")
	}
	return d + "s"
}
