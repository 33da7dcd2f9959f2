package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// parser turns YAML nodes into the AST, reporting structural problems.
type parser struct {
	d  *yamlnode.Decoder
	r  *yamlnode.Reporter
	pb *Playbook
}

// Parse parses a playbook's structure: YAML syntax, keys, kinds, scalar types, durations and ids formats.
// Cross-references, actions and expressions are checked by Load. The Playbook is nil when the file is not
// usable YAML at all.
func Parse(file string, src []byte) (*Playbook, []Diagnostic) {
	r := &yamlnode.Reporter{File: file}
	pb := parse(file, src, DefaultLimits(), r)
	yamlnode.Sort(r.Diags)
	return pb, r.Diags
}

func parse(file string, src []byte, lim Limits, r *yamlnode.Reporter) *Playbook {
	s := yamlnode.Parse(file, src, lim.yaml(), r)
	sum := sha256.Sum256(src)
	pb := &Playbook{File: file, Src: s, SHA256: hex.EncodeToString(sum[:]), Timeout: DefaultRunTimeout}
	if s.Root == nil {
		if !r.HasErrors() {
			r.Errorf(yamlnode.Pos{Line: 1, Column: 1}, "the file is empty: a playbook needs at least name and steps")
		}
		return nil
	}
	p := &parser{d: &yamlnode.Decoder{Src: s, R: r}, r: r, pb: pb}
	p.top(s.Root)
	return pb
}

func (p *parser) top(n *yaml.Node) {
	m, ok := p.d.Map(n, "a playbook")
	if !ok {
		return
	}
	p.d.CheckKeys(m, "in the playbook", topKeys)
	if !m.Has("name") {
		p.r.Errorf(yamlnode.At(n), `the playbook has no "name"`)
	}
	if !m.Has("steps") {
		p.r.Errorf(yamlnode.At(n), `the playbook has no "steps"`)
	}
	for _, f := range m.Fields {
		v := f.Value
		switch f.Key.Value {
		case "name":
			if s, ok := p.d.Str(v, `"name"`); ok {
				p.pb.Name, p.pb.NameNode = s, v
				if !nameRE.MatchString(s) || len(s) > maxIDLen {
					p.r.Errorf(yamlnode.At(v), "name %q must be lower-case letters, digits and dashes, starting with a letter (at most %d characters), like phishing-containment", s, maxIDLen)
				}
			}
		case "description":
			p.pb.Description, _ = p.d.Str(v, `"description"`)
		case "on":
			p.on(v)
		case "inputs":
			p.inputs(v)
		case "vars":
			p.pb.Vars = p.vars(v, `"vars"`, "variable")
		case "steps":
			l := &stepList{name: "top-level steps"}
			p.pb.Steps = p.steps(v, l, nil, 0, false)
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				p.r.Errorf(yamlnode.At(v), `"steps" is empty: a playbook needs at least one step`)
			}
		case "output":
			if _, ok := p.d.Map(v, `"output"`); ok {
				p.pb.Output = v
			}
		case "on_failure":
			l := &stepList{name: "on_failure"}
			p.pb.OnFailure = p.steps(v, l, nil, 0, true)
		case "timeout":
			p.pb.Timeout = p.duration(v, `"timeout"`, time.Minute, 30*24*time.Hour)
		}
	}
}

func (p *parser) on(n *yaml.Node) {
	m, ok := p.d.Map(n, `"on"`)
	if !ok {
		return
	}
	p.d.CheckKeys(m, `in "on"`, onKeys)
	if sn := m.Get("schedule"); sn != nil {
		p.schedules(sn)
	}
	a := m.Get("alert")
	if a == nil {
		return
	}
	am, ok := p.d.Map(a, `"on.alert"`)
	if !ok {
		return
	}
	p.d.CheckKeys(am, `in "on.alert"`, alertKeys)
	t := &Trigger{DedupWindow: DefaultDedupWindow}
	if w := am.Get("when"); w != nil {
		t.When = p.expr(w, `"when"`)
	} else {
		p.r.Errorf(yamlnode.At(a), `"on.alert" needs "when": the condition an alert must meet to start this playbook`)
	}
	if dn := am.Get("dedup"); dn != nil {
		if dm, ok := p.d.Map(dn, `"dedup"`); ok {
			p.d.CheckKeys(dm, `in "dedup"`, dedupKeys)
			if k := dm.Get("key"); k != nil {
				t.DedupKey = p.expr(k, `"key"`)
			} else {
				p.r.Errorf(yamlnode.At(dn), `"dedup" needs "key": the expression whose value groups alerts into one incident`)
			}
			if w := dm.Get("window"); w != nil {
				t.DedupWindow = p.duration(w, `"window"`, time.Minute, 30*24*time.Hour)
			}
		}
	}
	p.pb.Trigger = t
}

// MaxSchedules bounds on.schedule.
const MaxSchedules = 20

// schedules parses on.schedule: a list of {cron, timezone, with} or {every, with}.
func (p *parser) schedules(n *yaml.Node) {
	items, ok := p.d.Seq(n, `"on.schedule"`)
	if !ok {
		return
	}
	if len(items) == 0 {
		p.r.Errorf(yamlnode.At(n), `"on.schedule" is empty: give at least one {cron: "0 6 * * 1-5"} or {every: 15m}`)
	}
	if len(items) > MaxSchedules {
		p.r.Errorf(yamlnode.At(n), `"on.schedule" has %d entries; the limit is %d`, len(items), MaxSchedules)
		return
	}
	for _, it := range items {
		m, ok := p.d.Map(it, "a schedule")
		if !ok {
			continue
		}
		p.d.CheckKeys(m, "in a schedule", scheduleKeys)
		sc := &Schedule{Node: it}
		cron, every := m.Get("cron"), m.Get("every")
		switch {
		case cron == nil && every == nil:
			p.r.Errorf(yamlnode.At(it), `a schedule needs "cron" (five fields: minute hour day-of-month month day-of-week) or "every" (an interval such as 15m)`)
		case cron != nil && every != nil:
			p.r.Errorf(yamlnode.At(every), `a schedule takes "cron" or "every", not both: write two schedules`)
		case cron != nil:
			if c, ok := p.d.Str(cron, `"cron"`); ok {
				if msg := CheckCron(c); msg != "" {
					p.r.Errorf(yamlnode.At(cron), "%s", msg)
				} else {
					sc.Cron, sc.CronNode = c, cron
				}
			}
		default:
			sc.Every = p.duration(every, `"every"`, time.Minute, 30*24*time.Hour)
		}
		if tz := m.Get("timezone"); tz != nil {
			if s, ok := p.d.Str(tz, `"timezone"`); ok {
				switch {
				case cron == nil:
					p.r.Errorf(yamlnode.At(tz), `"timezone" applies to "cron": an interval (every) does not depend on a time zone`)
				case s == "" || s == "Local" || strings.EqualFold(s, "local"):
					p.r.Errorf(yamlnode.At(tz), `"timezone" must be an IANA time zone name such as Europe/Berlin or UTC`)
				default:
					if _, err := time.LoadLocation(s); err != nil {
						p.r.Errorf(yamlnode.At(tz), "unknown time zone %q: use an IANA name such as Europe/Berlin, America/New_York or UTC", s)
					} else {
						sc.Timezone = s
					}
				}
			}
		}
		if w := m.Get("with"); w != nil {
			if _, ok := p.d.Map(w, `"with"`); ok {
				sc.With = w
			}
		}
		p.pb.Schedules = append(p.pb.Schedules, sc)
	}
}

func (p *parser) inputs(n *yaml.Node) {
	m, ok := p.d.Map(n, `"inputs"`)
	if !ok {
		return
	}
	for _, f := range m.Fields {
		in := &Input{Name: f.Key.Value, Key: f.Key, Type: "any"}
		if !identRE.MatchString(in.Name) {
			p.r.Errorf(yamlnode.At(f.Key), "input name %q must be letters, digits and _ (so that inputs.%s works in expressions)", in.Name, in.Name)
		}
		im, ok := p.d.Map(f.Value, fmt.Sprintf("input %q", in.Name))
		if !ok {
			continue
		}
		p.d.CheckKeys(im, fmt.Sprintf("in input %q", in.Name), inputKeys)
		if t := im.Get("type"); t != nil {
			if s, ok := p.d.Str(t, `"type"`); ok {
				if !contains(inputTypes, s) {
					p.r.Errorf(yamlnode.At(t), "unknown input type %q: use one of %s%s", s, strings.Join(inputTypes, ", "), hint(s, inputTypes))
				} else {
					in.Type, in.TypeNode = s, t
				}
			}
		} else {
			p.r.Errorf(yamlnode.At(f.Value), "input %q needs a \"type\" (one of %s)", in.Name, strings.Join(inputTypes, ", "))
		}
		if r := im.Get("required"); r != nil {
			in.Required, _ = p.d.Bool(r, `"required"`)
		}
		if d := im.Get("default"); d != nil {
			in.Default = d
			if in.Required {
				p.r.Errorf(yamlnode.At(d), "input %q is required and has a default: drop one (a default makes it optional)", in.Name)
			}
			if expression.IsTemplate(d.Value) {
				p.r.Errorf(yamlnode.At(d), "a default is a plain value, not an expression: use \"from\" to compute an input from the alert")
			}
		}
		if fr := im.Get("from"); fr != nil {
			in.From = p.expr(fr, `"from"`)
		}
		if ds := im.Get("description"); ds != nil {
			in.Description, _ = p.d.Str(ds, `"description"`)
		}
		if en := im.Get("enum"); en != nil {
			p.enum(in, en)
		}
		p.pb.Inputs = append(p.pb.Inputs, in)
	}
}

// enum reads an input's allowed values: a non-empty list of distinct literals of the input's type.
func (p *parser) enum(in *Input, n *yaml.Node) {
	items, ok := p.d.Seq(n, `"enum"`)
	if !ok {
		return
	}
	if len(items) == 0 {
		p.r.Errorf(yamlnode.At(n), `"enum" is empty: list the values input %q may take`, in.Name)
		return
	}
	if in.Type != "string" && in.Type != "int" && in.Type != "number" {
		p.r.Errorf(yamlnode.At(n), `"enum" applies to string, int and number inputs, not %s`, in.Type)
		return
	}
	seen := map[string]bool{}
	good := true
	for _, it := range items {
		want := map[string][]string{"string": {"!!str"}, "int": {"!!int"}, "number": {"!!int", "!!float"}}[in.Type]
		if it.Kind != yaml.ScalarNode || !contains(want, it.Tag) {
			p.r.Errorf(yamlnode.At(it), "the values of input %q are %s, got %s", in.Name, inputTypeWords(in.Type), yamlnode.KindName(it))
			good = false
			continue
		}
		if seen[it.Value] {
			p.r.Errorf(yamlnode.At(it), "%q is listed twice in \"enum\"", it.Value)
			good = false
			continue
		}
		if expression.IsTemplate(it.Value) {
			p.r.Errorf(yamlnode.At(it), `an enum lists plain values, not expressions`)
			good = false
			continue
		}
		seen[it.Value] = true
	}
	if good {
		in.Enum, in.EnumNode = items, n
	}
}

func inputTypeWords(t string) string {
	switch t {
	case "int":
		return "whole numbers"
	case "number":
		return "numbers"
	}
	return "strings"
}

// vars parses a mapping of names to values (vars, set).
func (p *parser) vars(n *yaml.Node, what, noun string) []*Var {
	m, ok := p.d.Map(n, what)
	if !ok {
		return nil
	}
	var out []*Var
	for _, f := range m.Fields {
		if !identRE.MatchString(f.Key.Value) {
			p.r.Errorf(yamlnode.At(f.Key), "%s name %q must be letters, digits and _ (so that vars.%s works in expressions)", noun, f.Key.Value, f.Key.Value)
			continue
		}
		out = append(out, &Var{Name: f.Key.Value, Key: f.Key, Value: f.Value})
	}
	return out
}

// duration parses a duration within [lo, hi]; 0 means it was wrong (and reported).
func (p *parser) duration(n *yaml.Node, what string, lo, hi time.Duration) time.Duration {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!bool" {
		p.r.Errorf(yamlnode.At(n), "%s must be a duration such as 30s, 5m, 4h or 2d, got %s", what, yamlnode.KindName(n))
		return 0
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		p.r.Errorf(yamlnode.At(n), "%s must be a duration with a unit, such as %ss or %sm, got the number %s", what, n.Value, n.Value, n.Value)
		return 0
	}
	d, err := plan.ParseDuration(n.Value)
	if err != nil {
		p.r.Errorf(yamlnode.At(n), "%s must be a duration such as 30s, 5m, 4h or 2d, got %q", what, n.Value)
		return 0
	}
	if d < lo || d > hi {
		p.r.Errorf(yamlnode.At(n), "%s must be between %s and %s, got %s", what, humanDuration(lo), humanDuration(hi), n.Value)
		return 0
	}
	return d
}

// durationOrExpr reads a duration written out, or a ${{ }} that computes one when the step runs (the
// validator type-checks it: a duration text or a number of seconds). It returns the literal, or the
// template's node.
func (p *parser) durationOrExpr(n *yaml.Node, what string, lo, hi time.Duration) (time.Duration, *yaml.Node) {
	if n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!str" && expression.IsTemplate(n.Value) {
		t, err := expression.ParseTemplate(n.Value)
		if err != nil {
			p.r.Errorf(p.d.Src.ValuePos(n, err.Offset), "%s%s", err.Message, yamlnode.CommentHint(n))
			return 0, nil
		}
		if !t.Whole {
			p.r.Errorf(yamlnode.At(n), "%s must be a duration such as 30s or exactly one ${{ }} computing one, not text around ${{ }}", what)
			return 0, nil
		}
		return 0, n
	}
	return p.duration(n, what, lo, hi), nil
}

// expr reads a bare expression. A condition wrapped whole in ${{ }} is accepted (GitHub Actions habits) and
// unwrapped; one with text around ${{ }} is not a condition.
func (p *parser) expr(n *yaml.Node, what string) *Expr {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.r.Errorf(yamlnode.At(n), "%s must be an expression, got %s", what, yamlnode.KindName(n))
		return nil
	}
	switch n.Tag {
	case "!!bool":
		return &Expr{Src: n.Value, Node: n}
	case "!!int", "!!float":
		p.r.Errorf(yamlnode.At(n), "%s must be an expression, got the number %s", what, n.Value)
		return nil
	}
	if expression.IsTemplate(n.Value) {
		t, err := expression.ParseTemplate(n.Value)
		if err != nil {
			p.r.Errorf(p.d.Src.ValuePos(n, err.Offset), "%s%s", err.Message, yamlnode.CommentHint(n))
			return nil
		}
		if !t.Whole {
			p.r.Errorf(yamlnode.At(n), "%s is an expression already: write it without ${{ }}", what)
			return nil
		}
		for _, part := range t.Parts {
			if part.Expr != "" {
				return &Expr{Src: part.Expr, Node: n, Offset: part.Offset}
			}
		}
	}
	if strings.TrimSpace(n.Value) == "" {
		p.r.Errorf(yamlnode.At(n), "%s is empty", what)
		return nil
	}
	return &Expr{Src: n.Value, Node: n}
}
