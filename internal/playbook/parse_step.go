package playbook

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

func (p *parser) steps(n *yaml.Node, l *stepList, parent *Step, depth int, onFailure bool) []*Step {
	what := `"steps"`
	switch {
	case l.body:
		what = fmt.Sprintf("the steps of loop %q", l.parent.ID)
	case l.parent != nil:
		what = fmt.Sprintf("branch %q", l.branch)
	case onFailure:
		what = `"on_failure"`
	}
	items, ok := p.d.Seq(n, what)
	if !ok {
		return nil
	}
	for _, item := range items {
		p.pb.stepCount++
		if p.pb.stepCount == MaxSteps+1 {
			p.r.Errorf(yamlnode.At(item), "the playbook has more than %d steps; split it into playbooks joined with call", MaxSteps)
		}
		if p.pb.stepCount > MaxSteps {
			continue
		}
		s := p.step(item, depth, onFailure, l)
		if s == nil {
			continue
		}
		s.list, s.index, s.parent, s.inOnFailure = l, len(l.steps), parent, onFailure
		l.steps = append(l.steps, s)
	}
	return l.steps
}

func (p *parser) step(n *yaml.Node, depth int, onFailure bool, l *stepList) *Step {
	m, ok := p.d.Map(n, "a step")
	if !ok {
		return nil
	}
	s := &Step{Node: n, OnError: plan.OnError{Action: plan.OnErrorFail}}
	errorsBefore := p.r.ErrorCount()
	where := "in a step"
	if idn := m.Get("id"); idn != nil {
		if id, ok := p.d.Str(idn, `"id"`); ok {
			s.ID, s.IDNode = id, idn
			where = fmt.Sprintf("in step %q", id)
			switch {
			case id == plan.End:
				p.r.Errorf(yamlnode.At(idn), `"end" cannot be a step id: goto end means the end of the list`)
			case !idRE.MatchString(id) || len(id) > maxIDLen:
				p.r.Errorf(yamlnode.At(idn), "step id %q must be lower-case letters, digits and _, starting with a letter (at most %d characters), so that steps.%s reads in expressions", id, maxIDLen, strings.ReplaceAll(id, "-", "_"))
			}
		}
	} else {
		p.r.Errorf(yamlnode.At(n), `a step needs an "id"`)
	}
	p.d.CheckKeysMeaning(m, where, stepKeys, conditionWords)
	label := "this step"
	if s.ID != "" {
		label = fmt.Sprintf("step %q", s.ID)
	}

	for _, f := range m.Fields {
		k := f.Key.Value
		if !contains(kindKeys, k) {
			continue
		}
		if s.Kind != "" {
			if k == s.KindKey.Value {
				continue // a duplicate key, already reported
			}
			p.r.Errorf(yamlnode.At(f.Key), "%s has both %q and %q: a step does exactly one thing", label, s.KindKey.Value, k)
			continue
		}
		s.Kind, s.KindKey = plan.Kind(k), f.Key
	}
	if s.Kind == "" {
		p.r.Errorf(yamlnode.At(n), "%s does nothing: give it one of %s", label, strings.Join(kindKeys, ", "))
	}
	if l.body && s.Kind != "" && !containsKind(bodyKinds, s.Kind) {
		p.r.Errorf(yamlnode.At(s.KindKey), "%s is %s step, which a loop body cannot hold: a body's steps are %s", label, article(string(s.Kind)), kindList(bodyKinds))
	}
	if l.body {
		if f, ok := m.Lookup("for_each"); ok {
			p.r.Errorf(yamlnode.At(f.Key), "%s is inside loop %q: loops do not nest (give the inner work its own playbook and call it)", label, l.parent.ID)
		}
	}

	for _, f := range m.Fields {
		k, v := f.Key.Value, f.Value
		if kinds, ok := allowedModifiers[k]; ok && s.Kind != "" && !containsKind(kinds, s.Kind) {
			p.r.Errorf(yamlnode.At(f.Key), "%q cannot be used on %s step", k, article(string(s.Kind)))
			continue
		}
		if s.KindKey != nil && contains(kindKeys, k) && f.Key != s.KindKey {
			continue
		}
		switch k {
		case "name":
			s.Name, _ = p.d.Str(v, `"name"`)
		case "if":
			s.If = p.expr(v, `"if"`)
		case "action":
			if a, ok := p.d.Str(v, `"action"`); ok {
				s.Action, s.ActionNode = a, v
			}
		case "with":
			s.WithKey = f.Key
			if _, ok := p.d.Map(v, `"with"`); ok {
				s.With = v
			}
		case "call":
			if c, ok := p.d.Str(v, `"call"`); ok {
				s.Call, s.CallNode = c, v
				if !nameRE.MatchString(c) {
					p.r.Errorf(yamlnode.At(v), "call %q must name a playbook (lower-case letters, digits and dashes)", c)
				}
			}
		case "parallel":
			p.parallel(s, v, depth, onFailure)
		case "approval":
			p.approval(s, v)
		case "wait":
			p.wait(s, v)
		case "steps":
			p.body(s, v, depth, onFailure)
		case "set":
			s.Set = p.vars(v, `"set"`, "variable")
			if m, ok := p.d.Map(v, `"set"`); ok && len(m.Fields) == 0 {
				p.r.Errorf(yamlnode.At(v), `"set" is empty: name the variables to assign`)
			}
		case "finish":
			p.finish(s, v)
		case "fail":
			if msg, ok := p.d.Str(v, `"fail"`); ok {
				if strings.TrimSpace(msg) == "" {
					p.r.Errorf(yamlnode.At(v), `"fail" needs a message saying why the run fails`)
				}
				s.Fail = v
			}
		case "next":
			p.next(s, v)
		case "for_each":
			s.ForEach = v
			if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && !expression.IsTemplate(v.Value) {
				p.r.Errorf(yamlnode.At(v), "for_each needs a list: an expression such as ${{ steps.sweep.output.mails }} or a YAML list")
			} else if v.Kind != yaml.SequenceNode && (v.Kind != yaml.ScalarNode || v.Tag != "!!str") {
				p.r.Errorf(yamlnode.At(v), "for_each needs a list, got %s", yamlnode.KindName(v))
			} else if v.Kind == yaml.SequenceNode && len(v.Content) > MaxForEachItems {
				p.r.Errorf(yamlnode.At(v), "for_each has %d items; the limit is %d", len(v.Content), MaxForEachItems)
			}
		case "as":
			if a, ok := p.d.Str(v, `"as"`); ok {
				s.As, s.AsNode = a, v
			}
		case "concurrency":
			s.Concurrency, _ = p.d.Int(v, `"concurrency"`, 1, MaxConcurrency)
		case "until":
			s.Until = p.expr(v, `"until"`)
		case "every":
			s.Every, s.EveryExpr = p.durationOrExpr(v, `"every"`, time.Second, 24*time.Hour)
		case "max_attempts":
			s.MaxAttempts, _ = p.d.Int(v, `"max_attempts"`, 1, MaxUntilAttempts)
		case "retry":
			p.retry(s, v)
		case "timeout":
			s.Timeout, s.TimeoutExpr = p.durationOrExpr(v, `"timeout"`, time.Second, 24*time.Hour)
		case "on_error":
			p.onError(s, v)
		}
	}
	p.requirePairs(s, m)
	s.broken = p.r.ErrorCount() > errorsBefore
	return s
}

// requirePairs reports modifiers that need a partner key.
func (p *parser) requirePairs(s *Step, m yamlnode.Map) {
	if s.Kind == plan.KindSteps && !m.Has("for_each") {
		p.r.Errorf(yamlnode.At(s.KindKey), `"steps" runs its steps once per item: give the step for_each (and as)`)
	}
	for _, pair := range [][2]string{{"as", "for_each"}, {"concurrency", "for_each"}, {"every", "until"}, {"max_attempts", "until"}} {
		if f, ok := m.Lookup(pair[0]); ok && !m.Has(pair[1]) {
			if kinds := allowedModifiers[pair[0]]; s.Kind != "" && !containsKind(kinds, s.Kind) {
				continue
			}
			msg := fmt.Sprintf("%q only makes sense with %q", pair[0], pair[1])
			if pair[0] == "max_attempts" {
				msg += ` (to retry a failing action, use retry: {max_attempts: N})`
			}
			p.r.Errorf(yamlnode.At(f.Key), "%s", msg)
		}
	}
}

func (p *parser) parallel(s *Step, n *yaml.Node, depth int, onFailure bool) {
	if depth+1 > MaxNesting {
		p.r.Errorf(yamlnode.At(n), "parallel steps are nested more than %d deep", MaxNesting)
		return
	}
	m, ok := p.d.Map(n, `"parallel"`)
	if !ok {
		return
	}
	if len(m.Fields) == 0 {
		p.r.Errorf(yamlnode.At(n), `"parallel" needs at least one branch: branch_name: [steps...]`)
	}
	for _, f := range m.Fields {
		b := &Branch{Name: f.Key.Value, Key: f.Key}
		if !labelRE.MatchString(b.Name) {
			p.r.Errorf(yamlnode.At(f.Key), "branch name %q must be lower-case letters, digits and _, starting with a letter", b.Name)
		}
		b.list = &stepList{name: fmt.Sprintf("branch %q of step %q", b.Name, s.ID), parent: s, branch: b.Name}
		b.Steps = p.steps(f.Value, b.list, s, depth+1, onFailure)
		if f.Value.Kind == yaml.SequenceNode && len(f.Value.Content) == 0 {
			p.r.Errorf(yamlnode.At(f.Value), "branch %q has no steps", b.Name)
		}
		s.Branches = append(s.Branches, b)
	}
}

// body parses a loop body: the steps each for_each item runs.
func (p *parser) body(s *Step, n *yaml.Node, depth int, onFailure bool) {
	l := &stepList{name: fmt.Sprintf("steps of loop %q", s.ID), parent: s, body: true}
	s.bodyList = l
	s.Body = p.steps(n, l, s, depth, onFailure)
	if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		p.r.Errorf(yamlnode.At(n), "loop %q has no steps", s.ID)
	}
}

// wait reads wait: DURATION, wait: ${{ expression giving a duration }} or wait: {until: ${{ a time }}}.
func (p *parser) wait(s *Step, n *yaml.Node) {
	if n != nil && n.Kind == yaml.MappingNode {
		m := yamlnode.MapOf(n)
		p.d.CheckKeys(m, `in "wait"`, waitKeys)
		u := m.Get("until")
		if u == nil {
			p.r.Errorf(yamlnode.At(n), `"wait" as a mapping needs "until": the RFC 3339 time to wait until, such as "${{ steps.x.output.resume_at }}"`)
			return
		}
		if u.Kind != yaml.ScalarNode || u.Tag != "!!str" && u.Tag != "!!timestamp" {
			p.r.Errorf(yamlnode.At(u), `"wait.until" must be a time: an RFC 3339 text or a ${{ }} expression giving one, got %s`, yamlnode.KindName(u))
			return
		}
		if expression.IsTemplate(u.Value) {
			if t, err := expression.ParseTemplate(u.Value); err != nil {
				p.r.Errorf(p.d.Src.ValuePos(u, err.Offset), "%s%s", err.Message, yamlnode.CommentHint(u))
				return
			} else if !t.Whole {
				p.r.Errorf(yamlnode.At(u), `"wait.until" must be exactly one ${{ }} giving a time`)
				return
			}
		} else if _, err := time.Parse(time.RFC3339, u.Value); err != nil {
			p.r.Errorf(yamlnode.At(u), `"wait.until" must be an RFC 3339 time such as 2026-01-02T03:04:05Z, got %q`, u.Value)
			return
		}
		s.WaitUntil = u
		return
	}
	s.Wait, s.WaitExpr = p.durationOrExpr(n, `"wait"`, time.Second, 30*24*time.Hour)
}

func (p *parser) approval(s *Step, n *yaml.Node) {
	a := &Approval{Timeout: DefaultApprovalTimeout, OnTimeout: "fail"}
	s.Approval = a
	m, ok := p.d.Map(n, `"approval"`)
	if !ok {
		return
	}
	p.d.CheckKeys(m, `in "approval"`, approvalKeys)
	if pr := m.Get("prompt"); pr != nil {
		if _, ok := p.d.Str(pr, `"prompt"`); ok {
			a.Prompt = pr
		}
	} else {
		p.r.Errorf(yamlnode.At(n), `"approval" needs a "prompt": the question the approver answers`)
	}
	if ap := m.Get("approvers"); ap != nil {
		if items, ok := p.d.Seq(ap, `"approvers"`); ok {
			for _, it := range items {
				if v, ok := p.d.Str(it, "an approver"); ok {
					a.Approvers = append(a.Approvers, v)
				}
			}
		}
	}
	if t := m.Get("timeout"); t != nil {
		a.Timeout, a.TimeoutExpr = p.durationOrExpr(t, `"timeout"`, time.Minute, 30*24*time.Hour)
	}
	if ot := m.Get("on_timeout"); ot != nil {
		if v, ok := p.d.Str(ot, `"on_timeout"`); ok {
			if contains(onTimeouts, v) {
				a.OnTimeout = v
			} else {
				p.r.Errorf(yamlnode.At(ot), "on_timeout must be approve, reject or fail, got %q%s", v, hint(v, onTimeouts))
			}
		}
	}
	if nt := m.Get("notify"); nt != nil {
		if v, ok := p.d.Str(nt, `"notify"`); ok {
			switch {
			case strings.TrimSpace(v) == "":
				p.r.Errorf(yamlnode.At(nt), `"notify" names a chat webhook of notify.webhooks (notify: soc-chat), got an empty string`)
			case expression.IsTemplate(v):
				// Written out, lint can check it against the configuration, and a run cannot post to a webhook
				// an alert chose.
				p.r.Errorf(yamlnode.At(nt), `"notify" names a chat webhook of notify.webhooks; it cannot be computed with ${{ }}`)
			default:
				a.Notify, a.NotifyNode = v, nt
			}
		}
	}
}

func (p *parser) finish(s *Step, n *yaml.Node) {
	s.Finish = &Finish{}
	m, ok := p.d.Map(n, `"finish"`)
	if !ok {
		return
	}
	p.d.CheckKeys(m, `in "finish"`, finishKeys)
	if st := m.Get("status"); st != nil {
		if v, ok := p.d.Str(st, `"status"`); ok {
			if !labelRE.MatchString(v) {
				p.r.Errorf(yamlnode.At(st), "finish status %q must be a lower-case label such as resolved or false_positive", v)
			}
			s.Finish.Status = v
		}
	}
	if o := m.Get("output"); o != nil {
		if _, ok := p.d.Map(o, `"output"`); ok {
			s.Finish.Output = o
		}
	}
}

func (p *parser) next(s *Step, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if g, ok := p.d.Str(n, `"next"`); ok {
			s.Next = append(s.Next, &NextRule{Goto: g, GotoNode: n})
		}
		return
	}
	items, ok := p.d.Seq(n, `"next"`)
	if !ok {
		return
	}
	for i, it := range items {
		m, ok := p.d.Map(it, "a next rule")
		if !ok {
			continue
		}
		known := p.d.CheckKeysMeaning(m, "in a next rule", nextKeys, conditionWords)
		r := &NextRule{}
		if c := m.Get("if"); c != nil {
			r.If = p.expr(c, `"if"`)
		} else if i < len(items)-1 && known {
			// (With an unknown key, the condition is likely misspelt: that error says enough.)
			p.r.Errorf(yamlnode.At(it), "this next rule has no \"if\", so the rules after it can never apply")
		}
		if g := m.Get("goto"); g != nil {
			if v, ok := p.d.Str(g, `"goto"`); ok {
				r.Goto, r.GotoNode = v, g
			}
		} else {
			p.r.Errorf(yamlnode.At(it), `a next rule needs "goto": a later step id, or end`)
			continue
		}
		s.Next = append(s.Next, r)
	}
}

func (p *parser) onError(s *Step, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		v, ok := p.d.Str(n, `"on_error"`)
		if !ok {
			return
		}
		switch v {
		case plan.OnErrorFail, plan.OnErrorContinue:
			s.OnError = plan.OnError{Action: v}
		default:
			p.r.Errorf(yamlnode.At(n), "on_error must be fail, continue or {goto: STEP}, got %q%s", v, hint(v, []string{"fail", "continue"}))
		}
		return
	}
	m, ok := p.d.Map(n, `"on_error"`)
	if !ok {
		return
	}
	p.d.CheckKeys(m, `in "on_error"`, onErrorKeys)
	g := m.Get("goto")
	if g == nil {
		p.r.Errorf(yamlnode.At(n), `on_error needs "goto" when it is a mapping: on_error: {goto: STEP}`)
		return
	}
	if v, ok := p.d.Str(g, `"goto"`); ok {
		s.OnError = plan.OnError{Action: plan.OnErrorGoto, Goto: v}
		s.OnErrorGoto = g
	}
}

func (p *parser) retry(s *Step, n *yaml.Node) {
	m, ok := p.d.Map(n, `"retry"`)
	if !ok {
		return
	}
	p.d.CheckKeys(m, `in "retry"`, retryKeys)
	r := &RetryOverride{}
	for _, f := range m.Fields {
		switch f.Key.Value {
		case "max_attempts":
			if v, ok := p.d.Int(f.Value, `"max_attempts"`, 1, MaxRetryAttempts); ok {
				r.MaxAttempts = &v
			}
		case "initial_interval":
			if d := p.duration(f.Value, `"initial_interval"`, 100*time.Millisecond, 24*time.Hour); d > 0 {
				r.InitialInterval = &d
			}
		case "max_interval":
			if d := p.duration(f.Value, `"max_interval"`, 100*time.Millisecond, 24*time.Hour); d > 0 {
				r.MaxInterval = &d
			}
		case "delay":
			d, e := p.durationOrExpr(f.Value, `"delay"`, 100*time.Millisecond, 24*time.Hour)
			if d > 0 {
				r.Delay = &d
			}
			r.DelayExpr = e
		case "backoff":
			v := f.Value
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") {
				p.r.Errorf(yamlnode.At(v), `"backoff" must be a number from 1 to 10, got %s`, yamlnode.KindName(v))
				continue
			}
			b := toFloat(yamlnode.ScalarValue(v))
			if b < 1 || b > 10 {
				p.r.Errorf(yamlnode.At(v), `"backoff" must be a number from 1 to 10, got %s`, v.Value)
				continue
			}
			r.Backoff = &b
		case "non_retryable":
			items, ok := p.d.Seq(f.Value, `"non_retryable"`)
			if !ok {
				continue
			}
			for _, it := range items {
				if v, ok := p.d.Str(it, "an error type"); ok {
					if !contains(errorTypes(), v) {
						p.r.Errorf(yamlnode.At(it), "unknown error type %q: use %s%s", v, strings.Join(errorTypes(), ", "), hint(v, errorTypes()))
						continue
					}
					r.NonRetryable = append(r.NonRetryable, v)
				}
			}
		}
	}
	if f, ok := m.Lookup("delay"); ok {
		for _, k := range []string{"initial_interval", "backoff", "max_interval"} {
			if m.Has(k) {
				p.r.Errorf(yamlnode.At(f.Key), `"delay" is a fixed wait between attempts: it cannot be used together with %q`, k)
				break
			}
		}
	}
	if r.InitialInterval != nil && r.MaxInterval != nil && *r.MaxInterval < *r.InitialInterval {
		f, _ := m.Lookup("max_interval")
		p.r.Errorf(yamlnode.At(f.Value), "max_interval (%s) is shorter than initial_interval (%s)", humanDuration(*r.MaxInterval), humanDuration(*r.InitialInterval))
	}
	s.Retry = r
}
