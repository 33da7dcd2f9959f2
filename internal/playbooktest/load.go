package playbooktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/fileread"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// stepKeyRE splits what a test file names a step execution by: an optional PLAYBOOK/, then id, id#N (a
// for_each item) or loop#N.id (a step of a loop body's item).
var stepKeyRE = regexp.MustCompile(`^(?:([a-z][a-z0-9-]*)/)?([a-z][a-z0-9_]*)(?:#([0-9]+)(?:\.([a-z][a-z0-9_]*))?)?$`)

// Load reads, decodes and checks one test file against the playbook it tests (and the playbooks that one
// calls). Every problem is a diagnostic with the file's position; the File is nil when any is an error.
func (r *Runner) Load(path string) (*File, []Diagnostic) {
	data, err := fileread.ReadCapped(path, int64(yamlnode.DefaultLimits.MaxBytes))
	var tooLarge *fileread.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, []Diagnostic{{File: path, Line: 1, Column: 1, Severity: yamlnode.Error, Bound: yamlnode.BoundBytes,
			Message: fmt.Sprintf("file is larger than the limit of %d bytes", tooLarge.Limit)}}
	}
	if err != nil {
		return nil, []Diagnostic{{File: path, Line: 1, Column: 1, Severity: yamlnode.Error, Message: err.Error()}}
	}
	return r.LoadSource(path, data)
}

// LoadSource is Load for a test file already read; path still locates the playbooks it names.
func (r *Runner) LoadSource(path string, data []byte) (*File, []Diagnostic) {
	rep := &yamlnode.Reporter{File: path}
	src := yamlnode.Parse(path, data, yamlnode.DefaultLimits, rep)
	if src.Root == nil {
		if !rep.HasErrors() {
			rep.Errorf(yamlnode.Pos{Line: 1, Column: 1}, "the test file is empty: it needs cases")
		}
		yamlnode.Sort(rep.Diags)
		return nil, rep.Diags
	}
	ld := &loader{r: r, rep: rep, d: &yamlnode.Decoder{Src: src, R: rep}, file: &File{Path: path}}
	ld.load(src.Root)
	// The playbooks' own diagnostics come from other files: keep them apart from this file's, sorted each.
	diags := append(ld.playbookDiags, rep.Diags...)
	yamlnode.Sort(diags)
	if yamlnode.HasErrors(diags) {
		return nil, diags
	}
	return ld.file, diags
}

type loader struct {
	r             *Runner
	rep           *yamlnode.Reporter
	d             *yamlnode.Decoder
	file          *File
	playbookDiags []Diagnostic
	idx           *index
	env           *expression.Env
	ps            *expression.Parser
}

func (ld *loader) load(root *yaml.Node) {
	if !ld.d.Check(root, fileSpec()) {
		return
	}
	top := yamlnode.MapOf(root)
	if !ld.loadPlaybooks(top) {
		return
	}
	ld.idx = newIndex(ld.file.plan, ld.file.plans)
	ld.env = assertEnv(ld.idx, ld.r.catalog())
	ld.ps = expression.NewParser()
	ld.checkCallTargets(top)

	fileMocks := ld.mocks(top.Get("mocks"))
	cases := top.Get("cases")
	if !ld.d.OK(cases) {
		return
	}
	names := map[string]int{}
	for _, n := range cases.Content {
		if c := ld.caseNode(n, fileMocks, names); c != nil {
			ld.file.Cases = append(ld.file.Cases, c)
		}
	}
}

// loadPlaybooks compiles the playbook under test and the ones listed under playbooks.
func (ld *loader) loadPlaybooks(top yamlnode.Map) bool {
	dir := filepath.Dir(ld.file.Path)
	pbPath := ""
	if n := top.Get("playbook"); n != nil {
		if !ld.d.OK(n) {
			return false
		}
		pbPath = n.Value
		if !filepath.IsAbs(pbPath) {
			pbPath = filepath.Join(dir, pbPath)
		}
		if _, err := os.Stat(pbPath); err != nil {
			ld.rep.Errorf(yamlnode.At(n), "playbook %s: %v", n.Value, fileread.StripPath(err))
			return false
		}
	} else {
		pbPath = PlaybookFor(ld.file.Path)
		if pbPath == "" {
			ld.rep.Errorf(yamlnode.Pos{Line: 1, Column: 1}, "no playbook beside this test file: expected %s (or say which with playbook:)", expectedPlaybook(ld.file.Path))
			return false
		}
	}
	p := ld.compile(pbPath)
	if p == nil {
		return false
	}
	ld.file.Playbook = pbPath
	ld.file.plan = p
	ld.file.plans = map[string]*plan.Plan{p.Name: p}
	ld.file.subplans = map[string]json.RawMessage{}
	raw, err := plan.Encode(p)
	if err != nil {
		ld.rep.Errorf(yamlnode.Pos{Line: 1, Column: 1}, "%v", err)
		return false
	}
	ld.file.planJSON = raw

	n := top.Get("playbooks")
	if n == nil {
		return true
	}
	if !ld.d.OK(n) {
		return false
	}
	good := true
	listed := map[string]bool{}
	for _, it := range n.Content {
		if !ld.d.OK(it) {
			good = false
			continue
		}
		name := it.Value
		switch {
		case name == p.Name:
			ld.rep.Errorf(yamlnode.At(it), "playbook %q is the one under test: list only the playbooks it calls", name)
		case listed[name]:
			ld.rep.Errorf(yamlnode.At(it), "playbook %q is listed twice", name)
		case findPlaybook(dir, name) == "":
			ld.rep.Errorf(yamlnode.At(it), "playbook %q: no %s.yaml beside this test file", name, name)
		default:
			listed[name] = true
			if !ld.addSubplan(it, findPlaybook(dir, name)) {
				good = false
			}
			continue
		}
		good = false
	}
	return good
}

// addSubplan compiles a playbook a call step needs, listed by the node it (which holds its name).
func (ld *loader) addSubplan(it *yaml.Node, path string) bool {
	name := it.Value
	sub := ld.compile(path)
	if sub == nil {
		return false
	}
	if sub.Name != name {
		ld.rep.Errorf(yamlnode.At(it), "%s is the playbook %q, not %q", path, sub.Name, name)
		return false
	}
	raw, err := plan.Encode(sub)
	if err != nil {
		ld.rep.Errorf(yamlnode.At(it), "%v", err)
		return false
	}
	ld.file.plans[name] = sub
	ld.file.subplans[name] = raw
	return true
}

// compile loads a playbook; its errors (not its warnings: lint shows those) fail the test file.
func (ld *loader) compile(path string) *plan.Plan {
	p, diags, err := ld.r.linter().LoadFile(path)
	if err != nil {
		ld.playbookDiags = append(ld.playbookDiags, Diagnostic{File: path, Line: 1, Column: 1, Severity: yamlnode.Error, Message: err.Error()})
		return nil
	}
	for _, d := range diags {
		if d.Severity == yamlnode.Error {
			ld.playbookDiags = append(ld.playbookDiags, d)
		}
	}
	return p
}

// checkCallTargets warns about call steps whose playbook the file does not give: in the test, as in a run
// whose playbook is missing from the registry, the call fails with PlaybookNotFound.
func (ld *loader) checkCallTargets(top yamlnode.Map) {
	at := yamlnode.Pos{Line: 1, Column: 1}
	if f, ok := top.Lookup("playbooks"); ok {
		at = yamlnode.At(f.Key)
	}
	names := slices.Sorted(maps.Keys(ld.file.plans))
	for _, name := range names {
		ld.file.plans[name].Walk(func(s *plan.Step) bool {
			if s.Kind == plan.KindCall {
				if _, ok := ld.file.plans[s.Call.Playbook]; !ok {
					ld.rep.Warnf(at, "step %s of %s calls playbook %q, which is not listed under playbooks: the call will fail with PlaybookNotFound", s.ID, name, s.Call.Playbook)
				}
			}
			return true
		})
	}
}

func (ld *loader) caseNode(n *yaml.Node, fileMocks map[string]*mock, names map[string]int) *Case {
	if !ld.d.OK(n) {
		return nil
	}
	m := yamlnode.MapOf(n)
	nameNode := m.Get("name")
	if !ld.d.OK(nameNode) {
		return nil
	}
	name := nameNode.Value
	if first, dup := names[name]; dup {
		ld.rep.Errorf(yamlnode.At(nameNode), "case %q is defined twice (first on line %d)", name, first)
	} else {
		names[name] = nameNode.Line
	}
	c := &Case{Name: name, line: n.Line, Now: defaultStart}
	if n := m.Get("now"); ld.d.OK(n) {
		t, _ := time.Parse(time.RFC3339, n.Value)
		c.Now = t.UTC()
	}
	if n := m.Get("schedule"); ld.d.OK(n) {
		i, _ := strconv.Atoi(n.Value)
		if i >= len(ld.file.plan.Schedules) {
			ld.rep.Errorf(yamlnode.At(n), "%s has %d schedules (on.schedule[0] to [%d]): there is no on.schedule[%d]", ld.file.plan.Name, len(ld.file.plan.Schedules), max(0, len(ld.file.plan.Schedules)-1), i)
		} else {
			c.Schedule = &i
			c.Inputs = maps.Clone(ld.file.plan.Schedules[i].With)
		}
	}
	if n := m.Get("inputs"); ld.d.OK(n) {
		in := ld.inputs(n)
		if c.Inputs == nil {
			c.Inputs = in
		}
		maps.Copy(c.Inputs, in)
	}
	if n := m.Get("alert"); ld.d.OK(n) {
		c.Alert = alert(n, c.Now)
	}
	c.mocks = []map[string]*mock{ld.mocks(m.Get("mocks")), fileMocks}
	c.approvals = ld.approvals(m.Get("approvals"))
	c.expect = expectations{}
	if n := m.Get("expect"); ld.d.OK(n) {
		ld.expect(yamlnode.MapOf(n), &c.expect)
	}
	return c
}

func (ld *loader) inputs(n *yaml.Node) map[string]any {
	declared := make([]string, len(ld.file.plan.Inputs))
	for i, in := range ld.file.plan.Inputs {
		declared[i] = in.Name
	}
	out := map[string]any{}
	for _, f := range yamlnode.MapOf(n).Fields {
		if !slices.Contains(declared, f.Key.Value) {
			if len(declared) == 0 {
				ld.rep.Errorf(yamlnode.At(f.Key), "unknown input %q: playbook %s declares no inputs", f.Key.Value, ld.file.plan.Name)
			} else {
				ld.rep.Errorf(yamlnode.At(f.Key), "unknown input %q of %s%s", f.Key.Value, ld.file.plan.Name, fieldHint(f.Key.Value, declared))
			}
			continue
		}
		v := yamlnode.Value(f.Value)
		for _, in := range ld.file.plan.Inputs {
			if in.Name == f.Key.Value && len(in.Enum) > 0 && !enumHas(in.Enum, v) {
				ld.rep.Errorf(yamlnode.At(f.Value), "input %q of %s must be one of %s, got %s", in.Name, ld.file.plan.Name, enumWords(in.Enum), show(v))
			}
		}
		out[f.Key.Value] = v
	}
	return out
}

func enumHas(enum []any, v any) bool {
	for _, e := range enum {
		if e == v {
			return true
		}
		if a, ok := number(e); ok {
			if b, ok := number(v); ok && a == b {
				return true
			}
		}
	}
	return false
}

func enumWords(enum []any) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = fmt.Sprint(e)
	}
	return strings.Join(parts, ", ")
}

// alert builds the alert the way the dispatcher gives it to a run: every field present, times as RFC 3339.
func alert(n *yaml.Node, now time.Time) map[string]any {
	a := yamlnode.Value(n).(map[string]any)
	stamp := now.UTC().Format(time.RFC3339Nano)
	defaults := map[string]any{
		"id": int64(1), "source": "", "source_id": "", "kind": "", "severity": "", "title": "", "connection": "",
		"observed_at": stamp, "received_at": stamp, "data": map[string]any{},
	}
	for k, v := range defaults {
		if _, ok := a[k]; !ok {
			a[k] = v
		}
	}
	return a
}

// mocks decodes a mocks mapping: keys are action names (cecp.sweep), step ids (sweep) or for_each items
// (disable#2).
func (ld *loader) mocks(n *yaml.Node) map[string]*mock {
	if !ld.d.OK(n) {
		return nil
	}
	out := map[string]*mock{}
	for _, f := range yamlnode.MapOf(n).Fields {
		act := ld.mockTarget(f.Key)
		if act == "" || !ld.d.OK(f.Value) {
			continue
		}
		if replies := ld.mockBody(yamlnode.MapOf(f.Value), act); replies != nil {
			out[f.Key.Value] = &mock{key: f.Key.Value, action: act, replies: replies}
		}
	}
	return out
}

// mockTarget checks a mock's key and returns the action whose output it stands for ("" when the key is wrong).
func (ld *loader) mockTarget(k *yaml.Node) string {
	key := k.Value
	if strings.Contains(key, ".") && !strings.Contains(key, "#") {
		if _, ok := ld.r.catalog().Lookup(key); !ok {
			ld.rep.Errorf(yamlnode.At(k), "mock for unknown action %q%s", key, suggest.Hint(key, ld.r.catalog().Names()))
			return ""
		}
		if !ld.idx.actionsUsed[key] {
			ld.rep.Errorf(yamlnode.At(k), "no step of %s runs %s: this mock would never be used", ld.idx.playbookNames(), key)
			return ""
		}
		return key
	}
	ref, ok := ld.stepRef(k, "mock for", true)
	if !ok {
		return ""
	}
	// A step id may be an action in one playbook and another kind in another (a parent's call step and its
	// child's action): the mock is for the action steps of that id.
	var actions []stepInfo
	for _, st := range ref.candidates {
		if st.kind == plan.KindAction {
			actions = append(actions, st)
		}
	}
	if len(actions) > 0 {
		for _, st := range actions[1:] {
			if st.action != actions[0].action {
				ld.rep.Errorf(yamlnode.At(k), "step %q runs %s in %s and %s in %s: mock them one by one as %s/%s and %s/%s",
					ref.id, actions[0].action, actions[0].playbook, st.action, st.playbook, actions[0].playbook, key, st.playbook, key)
				return ""
			}
		}
		return actions[0].action
	}
	st := ref.candidates[0]
	switch st.kind {
	case plan.KindApproval:
		if st.notify != "" {
			return st.notify // the mock answers its chat notification (approval.notify)
		}
		ld.rep.Errorf(yamlnode.At(k), "step %q is an approval, not an action: answer it under approvals", st.id)
	case plan.KindCall:
		if _, listed := ld.file.plans[st.call]; listed {
			ld.rep.Errorf(yamlnode.At(k), "step %q calls playbook %q: mock the steps of %s instead (as %s/STEP when an id is in both)", st.id, st.call, st.call, st.call)
		} else {
			ld.rep.Errorf(yamlnode.At(k), "step %q calls playbook %q: list that playbook under playbooks and mock its steps", st.id, st.call)
		}
	default:
		ld.rep.Errorf(yamlnode.At(k), "step %q is a %s step: only action steps call actions, so there is nothing to mock", st.id, st.kind)
	}
	return ""
}

// stepRefResult is a resolved step key: the step id and the steps of that id it may mean (one playbook's when
// the key names it, else every loaded playbook's, the playbook under test first).
type stepRefResult struct {
	id         string
	candidates []stepInfo
}

// stepRef resolves a step key (PLAYBOOK/ optional; id#N and loop#N.id allowed when items is set) to the steps
// it names in the loaded playbooks.
func (ld *loader) stepRef(n *yaml.Node, what string, items bool) (stepRefResult, bool) {
	key := n.Value
	m := stepKeyRE.FindStringSubmatch(key)
	if m == nil {
		if strings.Contains(key, "#") {
			ld.rep.Errorf(yamlnode.At(n), "%s %q: a for_each item is written STEP#N, a step of a loop body's item LOOP#N.STEP, with N the item's index from 0", what, key)
		} else {
			ld.rep.Errorf(yamlnode.At(n), "%s unknown step %q%s", what, key, suggest.Hint(key, ld.idx.allIDs))
		}
		return stepRefResult{}, false
	}
	pb, id, item, inner := m[1], m[2], m[3], m[4]
	if item != "" && !items {
		ld.rep.Errorf(yamlnode.At(n), "%s %q: name the step without #N here", what, key)
		return stepRefResult{}, false
	}
	loop := ""
	if inner != "" {
		loop, id = id, inner
	}
	var cands []stepInfo
	if pb != "" {
		steps, ok := ld.idx.byPlaybook[pb]
		if !ok {
			ld.rep.Errorf(yamlnode.At(n), "%s %q: no playbook %q is loaded (%s)%s", what, key, pb, ld.idx.playbookNames(), suggest.Hint(pb, ld.idx.names))
			return stepRefResult{}, false
		}
		st, ok := steps[id]
		if !ok {
			ld.rep.Errorf(yamlnode.At(n), "%s unknown step %q of %s%s", what, id, pb, suggest.Hint(id, slices.Sorted(maps.Keys(steps))))
			return stepRefResult{}, false
		}
		cands = []stepInfo{st}
	} else {
		cands = ld.idx.shared[id]
		if len(cands) == 0 {
			ld.rep.Errorf(yamlnode.At(n), "%s unknown step %q%s", what, id, suggest.Hint(id, ld.idx.allIDs))
			return stepRefResult{}, false
		}
	}
	st := cands[0]
	switch {
	case loop != "" && st.body != loop:
		if st.body == "" {
			ld.rep.Errorf(yamlnode.At(n), "%s %q: step %s is not in the body of a loop %s: write %q", what, key, id, loop, id)
		} else {
			ld.rep.Errorf(yamlnode.At(n), "%s %q: step %s is in the body of loop %s: write %s#N.%s", what, key, id, st.body, st.body, id)
		}
		return stepRefResult{}, false
	case item != "" && loop == "" && !st.loop:
		if st.kind == plan.KindSteps {
			ld.rep.Errorf(yamlnode.At(n), "%s %q: %s is a loop of several steps: name one of them, %s#%s.STEP", what, key, id, id, item)
		} else {
			ld.rep.Errorf(yamlnode.At(n), "%s %q: step %s has no for_each, so it has no items: write %q", what, key, id, id)
		}
		return stepRefResult{}, false
	}
	return stepRefResult{id: id, candidates: cands}, true
}

func (ld *loader) mockBody(m yamlnode.Map, act string) []reply {
	s := m.Get("sequence")
	if s == nil {
		if rp, ok := ld.reply(m, act); ok {
			return []reply{rp}
		}
		return nil
	}
	if !ld.d.OK(s) {
		return nil
	}
	out := make([]reply, 0, len(s.Content))
	for _, it := range s.Content {
		if !ld.d.OK(it) {
			continue
		}
		if rp, ok := ld.reply(yamlnode.MapOf(it), act); ok {
			out = append(out, rp)
		}
	}
	if len(out) != len(s.Content) {
		return nil
	}
	return out
}

func (ld *loader) reply(m yamlnode.Map, act string) (reply, bool) {
	if n := m.Get("error"); n != nil {
		if !ld.d.OK(n) {
			return reply{}, false
		}
		return reply{err: mockErr(n)}, true
	}
	n := m.Get("output")
	spec, _ := ld.r.catalog().Lookup(act)
	before := len(ld.rep.Diags)
	checkShape(ld.rep, n, spec.Output, "mock output of "+act, "")
	if len(ld.rep.Diags) > before {
		return reply{}, false
	}
	v := fill(yamlnode.Value(n), spec.Output)
	raw, err := json.Marshal(v)
	if err != nil {
		ld.rep.Errorf(yamlnode.At(n), "mock output of %s cannot be encoded as JSON: %v", act, err)
		return reply{}, false
	}
	return reply{output: raw}, true
}

// mockErr decodes error: TYPE or error: {type, message}.
func mockErr(n *yaml.Node) *mockError {
	e := &mockError{Type: n.Value}
	if n.Kind == yaml.MappingNode {
		m := yamlnode.MapOf(n)
		e.Type = m.Get("type").Value
		if mn := m.Get("message"); mn != nil {
			e.Message = mn.Value
		}
	}
	if e.Message == "" {
		e.Message = "mocked " + e.Type + " error"
	}
	return e
}

func (ld *loader) approvals(n *yaml.Node) map[string]answer {
	if !ld.d.OK(n) {
		return nil
	}
	out := map[string]answer{}
	for _, f := range yamlnode.MapOf(n).Fields {
		if m := stepKeyRE.FindStringSubmatch(f.Key.Value); m != nil && m[3] != "" && m[4] == "" {
			ld.rep.Errorf(yamlnode.At(f.Key), "approval for %q: name the step without #N here", f.Key.Value)
			continue
		}
		ref, ok := ld.stepRef(f.Key, "approval for", true)
		if !ok {
			continue
		}
		st := ref.candidates[0]
		for _, c := range ref.candidates {
			if c.kind == plan.KindApproval {
				st = c
				break
			}
		}
		if st.kind != plan.KindApproval {
			ld.rep.Errorf(yamlnode.At(f.Key), "step %q is %s step, not an approval%s", st.id, article(string(st.kind)), approvalHint(st.kind))
			continue
		}
		if !ld.d.OK(f.Value) {
			continue
		}
		a := defaultAnswer(st.approvers)
		a.line = f.Key.Line
		a.decision = f.Value.Value
		if f.Value.Kind == yaml.MappingNode {
			am := yamlnode.MapOf(f.Value)
			a.decision = am.Get("decision").Value
			if bn := am.Get("by"); ld.d.OK(bn) {
				a.by = bn.Value
			}
			if rn := am.Get("roles"); ld.d.OK(rn) {
				a.roles = nil
				for _, it := range rn.Content {
					if ld.d.OK(it) {
						a.roles = append(a.roles, it.Value)
					}
				}
			}
			if cn := am.Get("comment"); ld.d.OK(cn) {
				a.comment = cn.Value
			}
		}
		out[f.Key.Value] = a
	}
	return out
}

// defaultAnswer decides as the step's first named approver, else as "tester" holding the first role the
// approvers accept (role:R), so that a plain "approve" passes the approval's own check.
func defaultAnswer(approvers []string) answer {
	a := answer{by: "tester"}
	for _, ap := range approvers {
		if !strings.HasPrefix(ap, "role:") {
			a.by = ap
			return a
		}
	}
	for _, ap := range approvers {
		a.roles = []string{strings.TrimPrefix(ap, "role:")}
		return a
	}
	return a
}

func approvalHint(k plan.Kind) string {
	if k == plan.KindAction {
		return ": mock it under mocks"
	}
	return ""
}

func (ld *loader) expect(m yamlnode.Map, ex *expectations) {
	if sn := m.Get("status"); ld.d.OK(sn) {
		if outcomes := ld.idx.outcomes; !slices.Contains(outcomes, sn.Value) {
			ld.rep.Errorf(yamlnode.At(sn), "status %q is not an outcome of %s%s; it ends %s", sn.Value, ld.file.plan.Name, suggest.Hint(sn.Value, outcomes), yamlnode.OrWords(outcomes))
		} else {
			ex.status, ex.statusLine = sn.Value, sn.Line
		}
	}
	if en := m.Get("error"); en != nil {
		if ld.d.OK(en) {
			ex.err = ld.expectError(yamlnode.MapOf(en), en.Line)
		}
		if ex.status != "" && ex.status != statusFailed {
			ld.rep.Errorf(yamlnode.At(en), "expect.error describes a failed run, but status says %s", ex.status)
		}
	}
	if sn := m.Get("steps"); ld.d.OK(sn) {
		for _, f := range yamlnode.MapOf(sn).Fields {
			id := f.Key.Value
			if m := stepKeyRE.FindStringSubmatch(id); m != nil && m[1] == "" && m[4] != "" {
				// loop#N.step: one item's step of a loop body.
				if st, ok := ld.idx.mainKinds[m[4]]; !ok || st.body != m[2] {
					ld.rep.Errorf(yamlnode.At(f.Key), "%q: %s has no step %s in its body", id, m[2], m[4])
					continue
				}
			} else if !slices.Contains(ld.idx.mainIDs, id) {
				ld.rep.Errorf(yamlnode.At(f.Key), "unknown step %q of %s%s", id, ld.file.plan.Name, suggest.Hint(id, ld.idx.mainIDs))
				continue
			} else if st := ld.idx.mainKinds[id]; st.body != "" {
				ld.rep.Errorf(yamlnode.At(f.Key), "step %s runs once per item of loop %s: name one item's, %s#N.%s", id, st.body, st.body, id)
				continue
			}
			if ld.d.OK(f.Value) {
				ex.steps = append(ex.steps, stepExpect{id: id, status: f.Value.Value, line: f.Key.Line})
			}
		}
	}
	if on := m.Get("output"); ld.d.OK(on) {
		if ld.idx.outputKeys != nil {
			for _, f := range yamlnode.MapOf(on).Fields {
				if !slices.Contains(ld.idx.outputKeys, f.Key.Value) {
					ld.rep.Errorf(yamlnode.At(f.Key), "%s has no output %q%s", ld.file.plan.Name, f.Key.Value, fieldHint(f.Key.Value, ld.idx.outputKeys))
				}
			}
		}
		ex.output = yamlnode.Value(on).(map[string]any)
		ex.outputLine = on.Line
	}
	if an := m.Get("assert"); ld.d.OK(an) {
		nodes := []*yaml.Node{an}
		if an.Kind == yaml.SequenceNode {
			nodes = an.Content
		}
		ld.asserts(nodes, ex)
	}
	if cn := m.Get("calls"); ld.d.OK(cn) {
		for _, it := range cn.Content {
			if !ld.d.OK(it) {
				continue
			}
			if ce, ok := ld.callExpect(yamlnode.MapOf(it), it.Line); ok {
				ex.calls = append(ex.calls, ce)
			}
		}
	}
}

func (ld *loader) expectError(m yamlnode.Map, line int) *errorExpect {
	e := &errorExpect{line: line}
	if sn := m.Get("step"); ld.d.OK(sn) {
		if !slices.Contains(ld.idx.mainIDs, sn.Value) {
			ld.rep.Errorf(yamlnode.At(sn), "unknown step %q of %s%s", sn.Value, ld.file.plan.Name, suggest.Hint(sn.Value, ld.idx.mainIDs))
		}
		e.step = sn.Value
	}
	if pn := m.Get("path"); ld.d.OK(pn) {
		e.path = pn.Value
	}
	if tn := m.Get("type"); ld.d.OK(tn) {
		e.typ = tn.Value
	}
	if mn := m.Get("message"); ld.d.OK(mn) {
		e.message = mn.Value
	}
	return e
}

// asserts parses and type-checks each expression where it is written, so a typo is a file:line:col error
// before anything runs.
func (ld *loader) asserts(nodes []*yaml.Node, ex *expectations) {
	for _, en := range nodes {
		if !ld.d.OK(en) {
			continue
		}
		src, offset := en.Value, 0
		if expression.IsTemplate(src) {
			t, err := expression.ParseTemplate(src)
			if err != nil {
				ld.rep.Errorf(ld.d.Src.ValuePos(en, err.Offset), "%s%s", err.Message, yamlnode.CommentHint(en))
				continue
			}
			if !t.Whole {
				ld.rep.Errorf(yamlnode.At(en), "an assert is an expression already: write it without ${{ }}")
				continue
			}
			for _, p := range t.Parts {
				if p.Expr != "" {
					src, offset = p.Expr, p.Offset
				}
			}
		}
		parsed, perr := ld.ps.Parse(src)
		if perr != nil {
			ld.rep.Errorf(ld.d.Src.ValuePos(en, offset+perr.Offset), "%s%s", perr.Message, yamlnode.CommentHint(en))
			continue
		}
		if unknown := ld.env.UnknownNames(parsed); len(unknown) > 0 {
			for _, u := range unknown {
				ld.rep.Errorf(ld.d.Src.ValuePos(en, offset+u.Offset), "%s", u.Message)
			}
			continue
		}
		ti, cerr := ld.env.Check(parsed)
		if cerr != nil {
			ld.rep.Errorf(ld.d.Src.ValuePos(en, offset+cerr.Offset), "%s", cerr.Message)
			continue
		}
		if !ti.Unknown() && !ti.IsBool() && !ti.IsNil() {
			ld.rep.Errorf(yamlnode.At(en), "an assert must be true or false, but this one gives %s", ti.Describe())
			continue
		}
		ex.asserts = append(ex.asserts, assertion{src: src, line: en.Line})
	}
}

func (ld *loader) callExpect(m yamlnode.Map, line int) (callExpect, bool) {
	ce := callExpect{times: -1, line: line}
	var spec *action.Spec
	if sn := m.Get("step"); sn != nil {
		if !ld.d.OK(sn) {
			return callExpect{}, false
		}
		ref, ok := ld.stepRef(sn, "calls of", true)
		if !ok {
			return callExpect{}, false
		}
		st := ref.candidates[0]
		for _, c := range ref.candidates {
			if c.kind == plan.KindAction {
				st = c
				break
			}
		}
		if st.calls() == "" {
			ld.rep.Errorf(yamlnode.At(sn), "step %q is %s step: only action steps (and approvals with notify) call actions", st.id, article(string(st.kind)))
			return callExpect{}, false
		}
		ce.step = sn.Value
		spec, _ = ld.r.catalog().Lookup(st.calls())
	} else {
		an := m.Get("action")
		if !ld.d.OK(an) {
			return callExpect{}, false
		}
		s, ok := ld.r.catalog().Lookup(an.Value)
		if !ok {
			ld.rep.Errorf(yamlnode.At(an), "unknown action %q%s", an.Value, suggest.Hint(an.Value, ld.r.catalog().Names()))
			return callExpect{}, false
		}
		if !ld.idx.actionsUsed[an.Value] {
			ld.rep.Errorf(yamlnode.At(an), "no step of %s runs %s", ld.idx.playbookNames(), an.Value)
			return callExpect{}, false
		}
		ce.action, spec = an.Value, s
	}
	good := true
	if wn := m.Get("with"); wn != nil {
		if !ld.d.OK(wn) {
			return callExpect{}, false
		}
		names := spec.InputNames()
		for _, f := range yamlnode.MapOf(wn).Fields {
			if !slices.Contains(names, f.Key.Value) {
				ld.rep.Errorf(yamlnode.At(f.Key), "%s has no input %q%s", spec.Name, f.Key.Value, fieldHint(f.Key.Value, names))
				good = false
			}
		}
		ce.with = yamlnode.Value(wn).(map[string]any)
	}
	if tn := m.Get("times"); tn != nil {
		if !ld.d.OK(tn) {
			return callExpect{}, false
		}
		ce.times, _ = ld.d.Int(tn, `"times"`, 0, 1_000_000)
	}
	if nn := m.Get("never"); nn != nil {
		if !ld.d.OK(nn) {
			return callExpect{}, false
		}
		ce.times = 0
	}
	return ce, good
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}
