package playbook

import (
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// compile turns a validated playbook into a plan. It must only see playbooks without errors.
func compile(pb *Playbook, cat *action.Catalog) *plan.Plan {
	p := &plan.Plan{
		PlanVersion: plan.Version,
		Name:        pb.Name,
		Description: pb.Description,
		SHA256:      pb.SHA256,
		Timeout:     plan.Duration(pb.Timeout),
	}
	if t := pb.Trigger; t != nil {
		p.Trigger = &plan.Trigger{When: t.When.Src}
		if t.DedupKey != nil {
			p.Trigger.Dedup = &plan.Dedup{Key: t.DedupKey.Src, Window: plan.Duration(t.DedupWindow)}
		}
	}
	for _, sc := range pb.Schedules {
		ps := plan.Schedule{Cron: sc.Cron, Timezone: sc.Timezone, Every: plan.Duration(sc.Every)}
		if sc.With != nil {
			ps.With = yamlnode.Value(sc.With).(map[string]any)
		}
		p.Schedules = append(p.Schedules, ps)
	}
	for _, in := range pb.Inputs {
		pi := plan.Input{Name: in.Name, Type: in.Type, Required: in.Required, Description: in.Description}
		for _, e := range in.Enum {
			pi.Enum = append(pi.Enum, yamlnode.ScalarValue(e))
		}
		if in.Default != nil {
			pi.Default = yamlnode.Value(in.Default)
		}
		if in.From != nil {
			pi.From = in.From.Src
		}
		p.Inputs = append(p.Inputs, pi)
	}
	p.Vars = compileVars(pb.Vars)
	p.Steps = compileSteps(pb.Steps, cat)
	p.OnFailure = compileSteps(pb.OnFailure, cat)
	if pb.Output != nil {
		p.Output = yamlnode.Value(pb.Output).(map[string]any)
	}
	return p
}

func compileVars(vs []*Var) []plan.Var {
	var out []plan.Var
	for _, v := range vs {
		out = append(out, plan.Var{Name: v.Name, Value: yamlnode.Value(v.Value)})
	}
	return out
}

func compileSteps(steps []*Step, cat *action.Catalog) []plan.Step {
	out := make([]plan.Step, 0, len(steps))
	for _, s := range steps {
		out = append(out, compileStep(s, cat))
	}
	return out
}

func compileStep(s *Step, cat *action.Catalog) plan.Step {
	ps := plan.Step{ID: s.ID, Name: s.Name, Kind: s.Kind, OnError: s.OnError}
	if s.If != nil {
		ps.If = s.If.Src
	}
	switch s.Kind {
	case plan.KindAction:
		spec, _ := cat.Lookup(s.Action)
		ps.Action = compileAction(s, spec)
	case plan.KindCall:
		ps.Call = &plan.Call{Playbook: s.Call, Timeout: plan.Duration(s.Timeout), TimeoutExpr: templateOf(s.TimeoutExpr)}
		if s.With != nil {
			ps.Call.With = yamlnode.Value(s.With).(map[string]any)
		}
	case plan.KindParallel:
		for _, b := range s.Branches {
			ps.Parallel = append(ps.Parallel, plan.Branch{Name: b.Name, Steps: compileSteps(b.Steps, cat)})
		}
	case plan.KindApproval:
		a := s.Approval
		ps.Approval = &plan.Approval{Prompt: a.Prompt.Value, Approvers: a.Approvers, Timeout: plan.Duration(a.Timeout), TimeoutExpr: templateOf(a.TimeoutExpr), OnTimeout: a.OnTimeout}
		if a.TimeoutExpr != nil {
			ps.Approval.Timeout = plan.Duration(DefaultApprovalTimeout)
		}
		if a.Notify != "" {
			// The notify.webhook call with the action's own timeout and retries; the interpreter writes the
			// message when the approval starts waiting.
			if spec, ok := cat.Lookup(ApprovalNotifyAction); ok {
				ps.Approval.Notify = actionDefaults(spec)
				ps.Approval.Notify.With["connection"] = a.Notify
			}
		}
	case plan.KindWait:
		ps.Wait = plan.Duration(s.Wait)
		ps.WaitExpr = templateOf(s.WaitExpr)
		ps.WaitUntil = templateOf(s.WaitUntil)
	case plan.KindSteps:
		ps.Steps = compileSteps(s.Body, cat)
	case plan.KindSet:
		ps.Set = compileVars(s.Set)
	case plan.KindFinish:
		ps.Finish = &plan.Finish{Status: s.Finish.Status}
		if s.Finish.Output != nil {
			ps.Finish.Output = yamlnode.Value(s.Finish.Output).(map[string]any)
		}
	case plan.KindFail:
		ps.Fail = s.Fail.Value
	}
	if s.ForEach != nil {
		as := s.As
		if as == "" {
			as = DefaultAs
		}
		ps.ForEach = &plan.ForEach{Items: yamlnode.Value(s.ForEach), As: as, Concurrency: max(1, s.Concurrency), MaxItems: MaxForEachItems}
	}
	if s.Until != nil {
		every, attempts := s.Every, s.MaxAttempts
		if every == 0 {
			every = DefaultEvery
		}
		if attempts == 0 {
			attempts = DefaultUntilAttempts
		}
		ps.Until = &plan.Until{Condition: s.Until.Src, Every: plan.Duration(every), EveryExpr: templateOf(s.EveryExpr), MaxAttempts: attempts}
	}
	for _, n := range s.Next {
		pn := plan.Next{Goto: n.Goto}
		if n.If != nil {
			pn.If = n.If.Src
		}
		ps.Next = append(ps.Next, pn)
	}
	return ps
}

// compileAction resolves the action's defaults: inputs the step leaves out, timeout and retry policy.
// ApprovalNotifyAction is the action an approval's notification (approval.notify) runs.
const ApprovalNotifyAction = "notify.webhook"

// actionDefaults is a call of the action with the spec's timeouts and retry policy and nothing in With.
func actionDefaults(spec *action.Spec) *plan.Action {
	return &plan.Action{
		Name:            spec.Name,
		With:            map[string]any{},
		Timeout:         plan.Duration(spec.Timeout),
		ScheduleToClose: plan.Duration(spec.ScheduleToClose),
		Mutates:         spec.Mutates,
		Retry: plan.Retry{
			InitialInterval: plan.Duration(spec.Retry.InitialInterval),
			Backoff:         spec.Retry.Backoff,
			MaxInterval:     plan.Duration(spec.Retry.MaxInterval),
			MaxAttempts:     spec.Retry.MaxAttempts,
			NonRetryable:    append([]string(nil), spec.Retry.NonRetryable...),
		},
	}
}

func compileAction(s *Step, spec *action.Spec) *plan.Action {
	a := actionDefaults(spec)
	if s.With != nil {
		for i := 0; i+1 < len(s.With.Content); i += 2 {
			k, v := s.With.Content[i].Value, s.With.Content[i+1]
			if val, keep := stripSecrets(v, []string{k}, &a.Secrets); keep {
				a.With[k] = val
			}
		}
	}
	for _, in := range spec.Inputs {
		if in.FromAlert != "" {
			if a.AlertDefaults == nil {
				a.AlertDefaults = map[string]string{}
			}
			a.AlertDefaults[in.Name] = in.FromAlert
		}
		if _, set := a.With[in.Name]; !set && in.Default != nil && !hasSecretAt(a.Secrets, in.Name) {
			a.With[in.Name] = in.Default
		}
	}
	if s.Timeout > 0 {
		a.Timeout = plan.Duration(s.Timeout)
	}
	a.TimeoutExpr = templateOf(s.TimeoutExpr)
	if r := s.Retry; r != nil {
		if r.MaxAttempts != nil {
			a.Retry.MaxAttempts = *r.MaxAttempts
		}
		if r.InitialInterval != nil {
			a.Retry.InitialInterval = plan.Duration(*r.InitialInterval)
		}
		if r.Backoff != nil {
			a.Retry.Backoff = *r.Backoff
		}
		if r.MaxInterval != nil {
			a.Retry.MaxInterval = plan.Duration(*r.MaxInterval)
		}
		if r.Delay != nil {
			a.Retry.InitialInterval, a.Retry.MaxInterval, a.Retry.Backoff = plan.Duration(*r.Delay), plan.Duration(*r.Delay), 1
		}
		a.Retry.DelayExpr = templateOf(r.DelayExpr)
		for _, t := range r.NonRetryable {
			if !contains(a.Retry.NonRetryable, t) {
				a.Retry.NonRetryable = append(a.Retry.NonRetryable, t)
			}
		}
		if a.Retry.MaxInterval < a.Retry.InitialInterval {
			a.Retry.MaxInterval = a.Retry.InitialInterval
		}
	}
	return a
}

// templateOf is the source of a template node ("" for none).
func templateOf(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// stripSecrets converts a with value, moving every secret("name") into refs. keep is false when the whole
// value was a secret.
func stripSecrets(n *yaml.Node, path []string, refs *[]plan.SecretRef) (any, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			if name, _, ok := secretCall(n.Value); ok {
				*refs = append(*refs, plan.SecretRef{Path: append([]string(nil), path...), Name: name})
				return nil, false
			}
		}
		return yamlnode.ScalarValue(n), true
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if v, keep := stripSecrets(n.Content[i+1], append(path, k), refs); keep {
				m[k] = v
			}
		}
		return m, true
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			// A secret inside a list keeps its slot (null) so indexes stay right; the worker fills it.
			v, _ := stripSecrets(c, append(path, strconv.Itoa(i)), refs)
			l[i] = v
		}
		return l, true
	}
	return nil, true
}

func hasSecretAt(refs []plan.SecretRef, key string) bool {
	for _, r := range refs {
		if len(r.Path) == 1 && r.Path[0] == key {
			return true
		}
	}
	return false
}
