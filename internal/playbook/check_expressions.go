package playbook

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

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
	v.checkSchedules()
	v.checkVars()
	v.buildEnvs()
	v.bodyEnvs, v.varReads = map[*Step]*expression.Env{}, map[*Step][]varRead{}
	for _, s := range v.order {
		env := v.mainEnv
		if s.inOnFailure {
			env = v.failEnv
		}
		if s.parent != nil && s.parent.Kind == plan.KindSteps {
			if e, ok := v.bodyEnvs[s.parent]; ok {
				env = e
			}
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
		before := v.r.ErrorCount()
		v.literal(in.Default, want, nil, nil, nil, nil, site{}, "default")
		if v.r.ErrorCount() == before {
			v.checkEnum(in, in.Default, "its default")
		}
	}
	if in.From != nil {
		ti, ok := v.expr(in.From, alertOnly, site{ctx: ctxInput, field: "from"})
		if ok && !compatible(ti, want) {
			v.r.Errorf(v.exprPos(in.From, 0), "input %q is %s, but its \"from\" gives %s", in.Name, describeType(want), ti.Describe())
		}
	}
}

// checkEnum reports a literal value of input in that its enum does not allow.
func (v *validator) checkEnum(in *Input, n *yaml.Node, what string) {
	if in.Enum == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return
	}
	vals := make([]string, len(in.Enum))
	for i, e := range in.Enum {
		vals[i] = e.Value
		if e.Value == n.Value || in.Type == "number" && toFloat(e.Value) == toFloat(n.Value) {
			return
		}
	}
	v.r.Errorf(yamlnode.At(n), "input %q must be one of %s, but %s is %s%s", in.Name, strings.Join(vals, ", "), what, n.Value, hint(n.Value, vals))
}

// checkSchedules checks the inputs each schedule gives its runs: declared names, literal values of their
// types and enums, and every required input without a default given (a scheduled run has no alert to
// fill it from).
func (v *validator) checkSchedules() {
	byName := map[string]*Input{}
	for _, in := range v.pb.Inputs {
		byName[in.Name] = in
	}
	for i, sc := range v.pb.Schedules {
		given := map[string]bool{}
		if sc.With != nil {
			for _, f := range yamlnode.MapOf(sc.With).Fields {
				in, ok := byName[f.Key.Value]
				if !ok {
					v.r.Errorf(yamlnode.At(f.Key), "unknown input %q in the schedule's with%s", f.Key.Value, v.hint(f.Key.Value, v.inputNames))
					continue
				}
				given[in.Name] = true
				if f.Value.Kind == yaml.ScalarNode && f.Value.Tag == "!!str" && expression.IsTemplate(f.Value.Value) {
					v.r.Errorf(yamlnode.At(f.Value), "a schedule's with takes plain values: a scheduled run has no alert or steps to compute them from")
					continue
				}
				before := v.r.ErrorCount()
				v.literal(f.Value, inputActionType(in.Type), nil, nil, nil, nil, site{}, "with."+in.Name)
				if v.r.ErrorCount() == before {
					v.checkEnum(in, f.Value, "with."+in.Name)
				}
			}
		}
		for _, in := range v.pb.Inputs {
			if in.Required && !given[in.Name] {
				v.r.Errorf(yamlnode.At(sc.Node), "on.schedule[%d] does not give the required input %q: add it to the schedule's with", i, in.Name)
			}
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
	above := expression.NewGrowingObject()
	env := expression.NewEnv(map[string]expression.Type{
		expression.ScopeAlert:    alert,
		expression.ScopeIncident: incidentType(alert),
		expression.ScopeInputs:   expression.Object(inputs),
		expression.ScopeRun:      runType(),
		expression.ScopeVars:     above.Type(),
	})
	v.varTypes = map[string]expression.Type{}
	for i, vr := range v.pb.Vars {
		t := v.valueType(vr.Value, env, site{ctx: ctxVars, vars: i, field: vr.Name}, vr.Name)
		if _, dup := v.varTypes[vr.Name]; !dup {
			above.Add(vr.Name, t)
			v.varTypes[vr.Name] = t
		}
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
		if s.Kind == plan.KindSteps {
			v.bodyEnvs[s] = loopEnv
		}
	}
	v.durationExpr(s.TimeoutExpr, loopEnv, st, "timeout")
	v.durationExpr(s.EveryExpr, loopEnv, st, "every")
	v.durationExpr(s.WaitExpr, env, st, "wait")
	if s.Retry != nil {
		v.durationExpr(s.Retry.DelayExpr, loopEnv, st, "retry.delay")
	}
	if s.Approval != nil {
		v.durationExpr(s.Approval.TimeoutExpr, env, st, "approval.timeout")
	}
	if s.WaitUntil != nil && expression.IsTemplate(s.WaitUntil.Value) {
		if ti, ok := v.templateType(s.WaitUntil, env, st, "wait.until"); ok && !ti.Unknown() && !ti.IsNil() && !ti.IsTime() && !ti.IsString() {
			v.r.Errorf(yamlnode.At(s.WaitUntil), `"wait.until" must give a time (or RFC 3339 text), but this expression gives %s`, ti.Describe())
		}
	}
	switch s.Kind {
	case plan.KindAction:
		if spec, ok := v.cat.Lookup(s.Action); ok && s.With != nil {
			v.checkWith(s, spec, loopEnv, st)
			v.checkExclusive(s, spec, loopEnv)
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

// durationExpr checks a ${{ }} that computes a duration: it must give a duration, a text (15m) or a number of
// seconds.
func (v *validator) durationExpr(n *yaml.Node, env *expression.Env, st site, what string) {
	if n == nil {
		return
	}
	ti, ok := v.templateType(n, env, st, what)
	if ok && !ti.Unknown() && !ti.IsNil() && !ti.IsString() && !ti.IsNumber() && !ti.IsDuration() {
		v.r.Errorf(yamlnode.At(n), "%q must give a duration (a text such as 15m, or a number of seconds), but this expression gives %s", what, ti.Describe())
	}
}

// checkExclusive reports inputs of an exclusive group that are all sure to be set. The activity drops null
// values before it checks, so an expression that may give null (x ? n : nil, a field that may be missing) is
// left to the run, which refuses two non-null values with InvalidInput.
func (v *validator) checkExclusive(s *Step, spec *action.Spec, env *expression.Env) {
	m := yamlnode.MapOf(s.With)
	for _, g := range spec.Exclusive {
		var set []yamlnode.Field
		for _, k := range g {
			if f, ok := m.Lookup(k); ok && v.surelySet(f.Value) {
				set = append(set, f)
			}
		}
		if len(set) > 1 {
			last := set[len(set)-1]
			v.r.Errorf(yamlnode.At(last.Key), "%q cannot be used together with %q", last.Key.Value, set[0].Key.Value)
		}
	}
}

// surelySet reports whether a with value is sure to be there (not null, not an empty string) when the step
// runs.
func (v *validator) surelySet(n *yaml.Node) bool {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return false
	case n.Kind != yaml.ScalarNode || n.Tag != "!!str":
		return true
	case !expression.IsTemplate(n.Value):
		return n.Value != ""
	}
	t, err := expression.ParseTemplate(n.Value)
	if err != nil || !t.Whole {
		return err == nil // text around ${{ }}: never empty
	}
	for _, part := range t.Parts {
		if part.Expr != "" {
			p, perr := v.ps.Parse(part.Expr)
			return perr == nil && !p.MayBeNull()
		}
	}
	return false
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
	if len(src) > v.lim.MaxExpressionBytes {
		v.r.Exceeded(v.d.Src.ValuePos(n, base), BoundExpression, "expression is %d bytes long; the limit is %d", len(src), v.lim.MaxExpressionBytes)
		return expression.TypeInfo{}, false
	}
	p, perr := v.ps.Parse(src)
	if perr != nil {
		v.r.Errorf(v.d.Src.ValuePos(n, base+perr.Offset), "%s%s", perr.Message, yamlnode.CommentHint(n))
		return expression.TypeInfo{}, false
	}
	// Every name the expression may not read is reported, not only the first the type checker stops at.
	bad := false
	var roots map[int]bool // where the refs with problems start
	for _, ref := range p.Refs() {
		if ref.Root == expression.ScopeVars && len(ref.Fields) > 0 && st.step != nil && v.varReads != nil {
			v.varReads[st.step] = append(v.varReads[st.step], varRead{name: ref.Fields[0], pos: v.d.Src.ValuePos(n, base+ref.Offsets[0])})
		}
		if off, msg := v.checkRef(ref, env, st); msg != "" {
			v.r.Errorf(v.d.Src.ValuePos(n, base+off), "%s", msg)
			if roots == nil {
				roots = map[int]bool{}
			}
			bad, roots[ref.RootOffset] = true, true
		}
	}
	var ti expression.TypeInfo
	var cerr *expression.Error
	if !bad {
		if ti, cerr = env.Check(p); cerr == nil {
			return ti, true
		}
		if !cerr.UnknownName {
			v.r.Errorf(v.d.Src.ValuePos(n, base+cerr.Offset), "%s", cerr.Message)
			return expression.TypeInfo{}, false
		}
	}
	for _, u := range env.UnknownNames(p) {
		if !roots[u.Offset] {
			v.r.Errorf(v.d.Src.ValuePos(n, base+u.Offset), "%s", u.Message)
			bad = true
		}
	}
	if !bad && cerr != nil {
		v.r.Errorf(v.d.Src.ValuePos(n, base+cerr.Offset), "%s", cerr.Message)
	}
	return expression.TypeInfo{}, false
}

// templateType checks a template string (or a plain string) and returns the type it evaluates to.
func (v *validator) templateType(n *yaml.Node, env *expression.Env, st site, what string) (expression.TypeInfo, bool) {
	if !expression.IsTemplate(n.Value) {
		return expression.Info(expression.String), true
	}
	t, perr := expression.ParseTemplate(n.Value)
	if perr != nil {
		v.r.Errorf(v.d.Src.ValuePos(n, perr.Offset), "%s%s", perr.Message, yamlnode.CommentHint(n))
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
