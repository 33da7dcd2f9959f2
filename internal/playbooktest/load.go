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

// Keys of a test file, a case, a mock, an approval answer, expect and a calls entry.
var (
	fileKeys     = []string{"playbook", "playbooks", "mocks", "cases"}
	caseKeys     = []string{"name", "description", "now", "inputs", "alert", "mocks", "approvals", "expect"}
	mockKeys     = []string{"output", "error", "sequence"}
	replyKeys    = []string{"output", "error"}
	errorKeys    = []string{"type", "message"}
	answerKeys   = []string{"decision", "by", "roles", "comment"}
	expectKeys   = []string{"status", "error", "steps", "output", "assert", "calls"}
	failureKeys  = []string{"step", "type", "message"}
	callKeys     = []string{"step", "action", "with", "times", "never"}
	alertFields  = []string{"id", "source", "source_id", "kind", "severity", "title", "connection", "observed_at", "received_at", "data"}
	stepIDItemRE = regexp.MustCompile(`^([a-z][a-z0-9_]*)#([0-9]+)$`)
)

// maxCases bounds the cases of one file; maxSequence the replies of one mock.
const (
	maxCases    = 1000
	maxSequence = 1000
)

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
	top, ok := ld.d.Map(root, "a test file")
	if !ok {
		return
	}
	ld.d.CheckKeys(top, "in the test file", fileKeys)
	if !ld.d.Require(top, "in the test file", "cases") {
		return
	}
	if !ld.loadPlaybooks(top) {
		return
	}
	ld.idx = newIndex(ld.file.plan, ld.file.plans)
	ld.env = assertEnv(ld.idx, ld.r.catalog())
	ld.ps = expression.NewParser()
	ld.checkCallTargets(top)

	var fileMocks map[string]*mock
	if n := top.Get("mocks"); n != nil {
		fileMocks = ld.mocks(n)
	}
	items, ok := ld.d.Seq(top.Get("cases"), `"cases"`)
	if !ok {
		return
	}
	if len(items) == 0 {
		ld.rep.Errorf(yamlnode.At(top.Get("cases")), `"cases" is empty: write at least one case`)
		return
	}
	if len(items) > maxCases {
		ld.rep.Errorf(yamlnode.At(top.Get("cases")), "a test file holds at most %d cases, this one has %d", maxCases, len(items))
		return
	}
	names := map[string]int{}
	for _, n := range items {
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
		s, ok := ld.d.Str(n, `"playbook"`)
		if !ok {
			return false
		}
		pbPath = s
		if !filepath.IsAbs(pbPath) {
			pbPath = filepath.Join(dir, pbPath)
		}
		if _, err := os.Stat(pbPath); err != nil {
			ld.rep.Errorf(yamlnode.At(n), "playbook %s: %v", s, fileread.StripPath(err))
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
	items, ok := ld.d.Seq(n, `"playbooks"`)
	if !ok {
		return false
	}
	good := true
	listed := map[string]bool{}
	for _, it := range items {
		name, ok := ld.d.Str(it, "a playbook name")
		if !ok {
			good = false
			continue
		}
		if name == p.Name {
			ld.rep.Errorf(yamlnode.At(it), "playbook %q is the one under test: list only the playbooks it calls", name)
			good = false
			continue
		}
		if listed[name] {
			ld.rep.Errorf(yamlnode.At(it), "playbook %q is listed twice", name)
			good = false
			continue
		}
		listed[name] = true
		path := findPlaybook(dir, name)
		if path == "" {
			ld.rep.Errorf(yamlnode.At(it), "playbook %q: no %s.yaml beside this test file", name, name)
			good = false
			continue
		}
		sub := ld.compile(path)
		if sub == nil {
			good = false
			continue
		}
		if sub.Name != name {
			ld.rep.Errorf(yamlnode.At(it), "%s is the playbook %q, not %q", path, sub.Name, name)
			good = false
			continue
		}
		raw, err := plan.Encode(sub)
		if err != nil {
			ld.rep.Errorf(yamlnode.At(it), "%v", err)
			good = false
			continue
		}
		ld.file.plans[name] = sub
		ld.file.subplans[name] = raw
	}
	return good
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
	m, ok := ld.d.Map(n, "a case")
	if !ok {
		return nil
	}
	c := &Case{line: n.Line, Now: defaultStart}
	nameNode := m.Get("name")
	if nameNode == nil {
		ld.rep.Errorf(yamlnode.At(n), `missing required key "name" in a case`)
		return nil
	}
	name, ok := ld.d.Str(nameNode, "a case's name")
	if !ok {
		return nil
	}
	if strings.TrimSpace(name) == "" {
		ld.rep.Errorf(yamlnode.At(nameNode), "a case's name is empty")
		return nil
	}
	if strings.ContainsAny(name, "\n\r\t") {
		ld.rep.Errorf(yamlnode.At(nameNode), "a case's name is one line of text")
		return nil
	}
	if first, dup := names[name]; dup {
		ld.rep.Errorf(yamlnode.At(nameNode), "case %q is defined twice (first on line %d)", name, first)
	} else {
		names[name] = nameNode.Line
	}
	c.Name = name
	where := fmt.Sprintf("in case %q", name)
	ld.d.CheckKeys(m, where, caseKeys)
	if n := m.Get("description"); n != nil {
		ld.d.Str(n, `"description"`)
	}
	if n := m.Get("now"); n != nil {
		s, ok := n.Value, n.Kind == yaml.ScalarNode && n.Tag == "!!timestamp" // unquoted times are YAML timestamps
		if !ok {
			s, ok = ld.d.Str(n, `"now"`)
		}
		if ok {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				ld.rep.Errorf(yamlnode.At(n), `"now" must be an RFC 3339 time such as 2026-01-02T03:04:05Z, got %q`, s)
			} else {
				c.Now = t.UTC()
			}
		}
	}
	if n := m.Get("inputs"); n != nil {
		c.Inputs = ld.inputs(n)
	}
	if n := m.Get("alert"); n != nil {
		c.Alert = ld.alert(n, c.Now)
	}
	var caseMocks map[string]*mock
	if n := m.Get("mocks"); n != nil {
		caseMocks = ld.mocks(n)
	}
	c.mocks = []map[string]*mock{caseMocks, fileMocks}
	if n := m.Get("approvals"); n != nil {
		c.approvals = ld.approvals(n)
	}
	c.expect = expectations{}
	if n := m.Get("expect"); n != nil {
		ld.expect(n, &c.expect)
	}
	return c
}

func (ld *loader) inputs(n *yaml.Node) map[string]any {
	m, ok := ld.d.Map(n, `"inputs"`)
	if !ok {
		return nil
	}
	declared := make([]string, len(ld.file.plan.Inputs))
	for i, in := range ld.file.plan.Inputs {
		declared[i] = in.Name
	}
	out := map[string]any{}
	for _, f := range m.Fields {
		if !slices.Contains(declared, f.Key.Value) {
			if len(declared) == 0 {
				ld.rep.Errorf(yamlnode.At(f.Key), "unknown input %q: playbook %s declares no inputs", f.Key.Value, ld.file.plan.Name)
			} else {
				ld.rep.Errorf(yamlnode.At(f.Key), "unknown input %q of %s%s", f.Key.Value, ld.file.plan.Name, fieldHint(f.Key.Value, declared))
			}
			continue
		}
		out[f.Key.Value] = yamlnode.Value(f.Value)
	}
	return out
}

// alert builds the alert the way the dispatcher gives it to a run: every field present, times as RFC 3339.
func (ld *loader) alert(n *yaml.Node, now time.Time) map[string]any {
	m, ok := ld.d.Map(n, `"alert"`)
	if !ok {
		return nil
	}
	ld.d.CheckKeys(m, "in the alert", alertFields)
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
	m, ok := ld.d.Map(n, `"mocks"`)
	if !ok {
		return nil
	}
	out := map[string]*mock{}
	for _, f := range m.Fields {
		key := f.Key.Value
		act := ld.mockTarget(f.Key)
		if act == "" {
			continue
		}
		mk := &mock{key: key, action: act}
		mk.replies = ld.mockBody(f.Value, act)
		if mk.replies != nil {
			out[key] = mk
		}
	}
	return out
}

// mockTarget checks a mock's key and returns the action whose output it stands for ("" when the key is wrong).
func (ld *loader) mockTarget(k *yaml.Node) string {
	key := k.Value
	if strings.Contains(key, ".") {
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
	st, ok := ld.stepRef(k, "mock for", true)
	if !ok {
		return ""
	}
	switch st.kind {
	case plan.KindAction:
		return st.action
	case plan.KindApproval:
		ld.rep.Errorf(yamlnode.At(k), "step %q is an approval, not an action: answer it under approvals", st.id)
	case plan.KindCall:
		ld.rep.Errorf(yamlnode.At(k), "step %q calls playbook %q: list that playbook under playbooks and mock its steps", st.id, st.call)
	default:
		ld.rep.Errorf(yamlnode.At(k), "step %q is a %s step: only action steps call actions, so there is nothing to mock", st.id, st.kind)
	}
	return ""
}

// stepRef resolves a step id (id#N allowed when items is set) to a step of any loaded playbook.
func (ld *loader) stepRef(n *yaml.Node, what string, items bool) (stepInfo, bool) {
	key := n.Value
	id := key
	if m := stepIDItemRE.FindStringSubmatch(key); m != nil {
		if !items {
			ld.rep.Errorf(yamlnode.At(n), "%s %q: name the step without #N here", what, key)
			return stepInfo{}, false
		}
		id = m[1]
	} else if strings.Contains(key, "#") {
		ld.rep.Errorf(yamlnode.At(n), "%s %q: a for_each item is written STEP#N, with N the item's index from 0", what, key)
		return stepInfo{}, false
	}
	st, ok := ld.idx.steps[id]
	if !ok {
		ld.rep.Errorf(yamlnode.At(n), "%s unknown step %q%s", what, id, suggest.Hint(id, ld.idx.allIDs))
		return stepInfo{}, false
	}
	if id != key && !st.loop {
		ld.rep.Errorf(yamlnode.At(n), "%s %q: step %s has no for_each, so it has no items: write %q", what, key, id, id)
		return stepInfo{}, false
	}
	return st, true
}

func (ld *loader) mockBody(n *yaml.Node, act string) []reply {
	m, ok := ld.d.Map(n, "a mock")
	if !ok {
		return nil
	}
	ld.d.CheckKeys(m, "in a mock", mockKeys)
	if !ld.exactlyOne(m, "a mock", mockKeys) {
		return nil
	}
	if s := m.Get("sequence"); s != nil {
		items, ok := ld.d.Seq(s, `"sequence"`)
		if !ok {
			return nil
		}
		if len(items) == 0 {
			ld.rep.Errorf(yamlnode.At(s), `"sequence" is empty: give one reply per call`)
			return nil
		}
		if len(items) > maxSequence {
			ld.rep.Errorf(yamlnode.At(s), `"sequence" holds at most %d replies, this one has %d`, maxSequence, len(items))
			return nil
		}
		var out []reply
		for _, it := range items {
			im, ok := ld.d.Map(it, "a reply in a sequence")
			if !ok {
				continue
			}
			ld.d.CheckKeys(im, "in a reply", replyKeys)
			if !ld.exactlyOne(im, "a reply in a sequence", replyKeys) {
				continue
			}
			if rp, ok := ld.reply(im, act); ok {
				out = append(out, rp)
			}
		}
		if len(out) != len(items) {
			return nil
		}
		return out
	}
	if rp, ok := ld.reply(m, act); ok {
		return []reply{rp}
	}
	return nil
}

// exactlyOne reports a mapping that sets none or several of keys.
func (ld *loader) exactlyOne(m yamlnode.Map, what string, keys []string) bool {
	var set []string
	for _, k := range keys {
		if m.Has(k) {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 1:
		return true
	case 0:
		ld.rep.Errorf(yamlnode.At(m.Node), "%s needs one of %s", what, orWords(keys))
	default:
		ld.rep.Errorf(yamlnode.At(m.Node), "%s takes only one of %s, got %s", what, orWords(keys), strings.Join(set, " and "))
	}
	return false
}

func (ld *loader) reply(m yamlnode.Map, act string) (reply, bool) {
	if n := m.Get("error"); n != nil {
		e := ld.mockErr(n)
		return reply{err: e}, e != nil
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
func (ld *loader) mockErr(n *yaml.Node) *mockError {
	e := &mockError{}
	typeNode := n
	if n.Kind == yaml.MappingNode {
		m, _ := ld.d.Map(n, `"error"`)
		ld.d.CheckKeys(m, "in a mocked error", errorKeys)
		if !ld.d.Require(m, "in a mocked error", "type") {
			return nil
		}
		typeNode = m.Get("type")
		if mn := m.Get("message"); mn != nil {
			s, ok := ld.d.Str(mn, "an error's message")
			if !ok {
				return nil
			}
			e.Message = s
		}
	}
	t, ok := ld.d.Str(typeNode, "an error's type")
	if !ok {
		return nil
	}
	if !slices.Contains(action.ErrorTypes, t) {
		ld.rep.Errorf(yamlnode.At(typeNode), "unknown error type %q%s; actions fail with %s", t, suggest.Hint(t, action.ErrorTypes), orWords(action.ErrorTypes))
		return nil
	}
	e.Type = t
	if e.Message == "" {
		e.Message = "mocked " + t + " error"
	}
	return e
}

func (ld *loader) approvals(n *yaml.Node) map[string]answer {
	m, ok := ld.d.Map(n, `"approvals"`)
	if !ok {
		return nil
	}
	out := map[string]answer{}
	for _, f := range m.Fields {
		st, ok := ld.stepRef(f.Key, "approval for", false)
		if !ok {
			continue
		}
		if st.kind != plan.KindApproval {
			ld.rep.Errorf(yamlnode.At(f.Key), "step %q is %s step, not an approval%s", st.id, article(string(st.kind)), approvalHint(st.kind))
			continue
		}
		a := defaultAnswer(st.approvers)
		a.line = f.Key.Line
		decNode := f.Value
		if f.Value.Kind == yaml.MappingNode {
			am, _ := ld.d.Map(f.Value, "an approval answer")
			ld.d.CheckKeys(am, "in an approval answer", answerKeys)
			if !ld.d.Require(am, "in an approval answer", "decision") {
				continue
			}
			decNode = am.Get("decision")
			if bn := am.Get("by"); bn != nil {
				if s, ok := ld.d.Str(bn, `"by"`); ok {
					a.by = s
				}
			}
			if rn := am.Get("roles"); rn != nil {
				a.roles = nil
				if items, ok := ld.d.Seq(rn, `"roles"`); ok {
					for _, it := range items {
						if r, ok := ld.d.Str(it, "a role"); ok {
							a.roles = append(a.roles, r)
						}
					}
				}
			}
			if cn := am.Get("comment"); cn != nil {
				if s, ok := ld.d.Str(cn, `"comment"`); ok {
					a.comment = s
				}
			}
		}
		d, ok := ld.d.Str(decNode, "an approval's decision")
		if !ok {
			continue
		}
		if !slices.Contains(decisions, d) {
			ld.rep.Errorf(yamlnode.At(decNode), "unknown decision %q%s; an approval is answered with %s", d, suggest.Hint(d, decisions), orWords(decisions))
			continue
		}
		a.decision = d
		out[st.id] = a
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

func (ld *loader) expect(n *yaml.Node, ex *expectations) {
	m, ok := ld.d.Map(n, `"expect"`)
	if !ok {
		return
	}
	ld.d.CheckKeys(m, "in expect", expectKeys)
	if sn := m.Get("status"); sn != nil {
		if s, ok := ld.d.Str(sn, `"status"`); ok {
			outcomes := ld.idx.outcomes
			if !slices.Contains(outcomes, s) {
				ld.rep.Errorf(yamlnode.At(sn), "status %q is not an outcome of %s%s; it ends %s", s, ld.file.plan.Name, suggest.Hint(s, outcomes), orWords(outcomes))
			} else {
				ex.status, ex.statusLine = s, sn.Line
			}
		}
	}
	if en := m.Get("error"); en != nil {
		ld.expectError(en, ex)
		if ex.status != "" && ex.status != statusFailed {
			ld.rep.Errorf(yamlnode.At(en), "expect.error describes a failed run, but status says %s", ex.status)
		}
	}
	if sn := m.Get("steps"); sn != nil {
		if sm, ok := ld.d.Map(sn, `"steps"`); ok {
			for _, f := range sm.Fields {
				id := f.Key.Value
				if !slices.Contains(ld.idx.mainIDs, id) {
					ld.rep.Errorf(yamlnode.At(f.Key), "unknown step %q of %s%s", id, ld.file.plan.Name, suggest.Hint(id, ld.idx.mainIDs))
					continue
				}
				s, ok := ld.d.Str(f.Value, fmt.Sprintf("the status of step %s", id))
				if !ok {
					continue
				}
				if !slices.Contains(stepStatuses, s) {
					ld.rep.Errorf(yamlnode.At(f.Value), "unknown step status %q%s; a step ends %s", s, suggest.Hint(s, stepStatuses), orWords(stepStatuses))
					continue
				}
				ex.steps = append(ex.steps, stepExpect{id: id, status: s, line: f.Key.Line})
			}
		}
	}
	if on := m.Get("output"); on != nil {
		if om, ok := ld.d.Map(on, `"output"`); ok {
			if ld.idx.outputKeys != nil {
				for _, f := range om.Fields {
					if !slices.Contains(ld.idx.outputKeys, f.Key.Value) {
						ld.rep.Errorf(yamlnode.At(f.Key), "%s has no output %q%s", ld.file.plan.Name, f.Key.Value, fieldHint(f.Key.Value, ld.idx.outputKeys))
					}
				}
			}
			ex.output = yamlnode.Value(on).(map[string]any)
			ex.outputLine = on.Line
		}
	}
	if an := m.Get("assert"); an != nil {
		ld.asserts(an, ex)
	}
	if cn := m.Get("calls"); cn != nil {
		if items, ok := ld.d.Seq(cn, `"calls"`); ok {
			for _, it := range items {
				if ce, ok := ld.callExpect(it); ok {
					ex.calls = append(ex.calls, ce)
				}
			}
		}
	}
}

func (ld *loader) expectError(n *yaml.Node, ex *expectations) {
	m, ok := ld.d.Map(n, "expect.error")
	if !ok {
		return
	}
	ld.d.CheckKeys(m, "in expect.error", failureKeys)
	e := &errorExpect{line: n.Line}
	if len(m.Fields) == 0 {
		ld.rep.Errorf(yamlnode.At(n), "expect.error needs at least one of step, type or message")
		return
	}
	if sn := m.Get("step"); sn != nil {
		if s, ok := ld.d.Str(sn, "expect.error.step"); ok {
			if !slices.Contains(ld.idx.mainIDs, s) {
				ld.rep.Errorf(yamlnode.At(sn), "unknown step %q of %s%s", s, ld.file.plan.Name, suggest.Hint(s, ld.idx.mainIDs))
			}
			e.step = s
		}
	}
	if tn := m.Get("type"); tn != nil {
		if s, ok := ld.d.Str(tn, "expect.error.type"); ok {
			e.typ = s
		}
	}
	if mn := m.Get("message"); mn != nil {
		if s, ok := ld.d.Str(mn, "expect.error.message"); ok {
			e.message = s
		}
	}
	ex.err = e
}

// asserts parses and type-checks each expression where it is written, so a typo is a file:line:col error
// before anything runs.
func (ld *loader) asserts(n *yaml.Node, ex *expectations) {
	nodes := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		nodes = n.Content
	}
	for _, en := range nodes {
		if en.Kind != yaml.ScalarNode || en.Tag == "!!null" || en.Tag == "!!int" || en.Tag == "!!float" {
			ld.rep.Errorf(yamlnode.At(en), "an assert must be an expression, got %s", yamlnode.KindName(en))
			continue
		}
		src, offset := en.Value, 0
		if expression.IsTemplate(src) {
			t, err := expression.ParseTemplate(src)
			if err != nil {
				ld.rep.Errorf(ld.d.Src.ValuePos(en, err.Offset), "%s", err.Message)
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
			ld.rep.Errorf(ld.d.Src.ValuePos(en, offset+perr.Offset), "%s", perr.Message)
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

func (ld *loader) callExpect(n *yaml.Node) (callExpect, bool) {
	m, ok := ld.d.Map(n, "a calls entry")
	if !ok {
		return callExpect{}, false
	}
	ld.d.CheckKeys(m, "in a calls entry", callKeys)
	if !ld.exactlyOne(m, "a calls entry", []string{"step", "action"}) {
		return callExpect{}, false
	}
	ce := callExpect{times: -1, line: n.Line}
	var spec *action.Spec
	good := true
	if sn := m.Get("step"); sn != nil {
		if _, ok := ld.d.Str(sn, `"step"`); !ok {
			return callExpect{}, false
		}
		st, ok := ld.stepRef(sn, "calls of", true)
		if !ok {
			return callExpect{}, false
		}
		if st.kind != plan.KindAction {
			ld.rep.Errorf(yamlnode.At(sn), "step %q is %s step: only action steps call actions", st.id, article(string(st.kind)))
			return callExpect{}, false
		}
		ce.step = sn.Value
		spec, _ = ld.r.catalog().Lookup(st.action)
	} else {
		an := m.Get("action")
		a, ok := ld.d.Str(an, `"action"`)
		if !ok {
			return callExpect{}, false
		}
		s, ok := ld.r.catalog().Lookup(a)
		if !ok {
			ld.rep.Errorf(yamlnode.At(an), "unknown action %q%s", a, suggest.Hint(a, ld.r.catalog().Names()))
			return callExpect{}, false
		}
		if !ld.idx.actionsUsed[a] {
			ld.rep.Errorf(yamlnode.At(an), "no step of %s runs %s", ld.idx.playbookNames(), a)
			return callExpect{}, false
		}
		ce.action, spec = a, s
	}
	if wn := m.Get("with"); wn != nil {
		wm, ok := ld.d.Map(wn, `"with"`)
		if !ok {
			return callExpect{}, false
		}
		names := spec.InputNames()
		for _, f := range wm.Fields {
			if !slices.Contains(names, f.Key.Value) {
				ld.rep.Errorf(yamlnode.At(f.Key), "%s has no input %q%s", spec.Name, f.Key.Value, fieldHint(f.Key.Value, names))
				good = false
			}
		}
		ce.with = yamlnode.Value(wn).(map[string]any)
	}
	tn, nn := m.Get("times"), m.Get("never")
	if tn != nil && nn != nil {
		ld.rep.Errorf(yamlnode.At(nn), "a calls entry takes times or never, not both")
		return callExpect{}, false
	}
	if tn != nil {
		t, ok := ld.d.Int(tn, `"times"`, 0, 1_000_000)
		if !ok {
			return callExpect{}, false
		}
		ce.times = t
	}
	if nn != nil {
		b, ok := ld.d.Bool(nn, `"never"`)
		if !ok {
			return callExpect{}, false
		}
		if !b {
			ld.rep.Errorf(yamlnode.At(nn), "never: false says nothing: leave it out to expect at least one call")
			return callExpect{}, false
		}
		ce.times = 0
	}
	return ce, good
}

// PlaybookFor returns the playbook a test file tests by its name (NAME.yaml or NAME.yml beside
// NAME.test.yaml), or "" when there is none.
func PlaybookFor(testFile string) string {
	base := filepath.Base(testFile)
	ext := filepath.Ext(base)
	name := strings.TrimSuffix(strings.TrimSuffix(base, ext), ".test")
	return findPlaybook(filepath.Dir(testFile), name)
}

func expectedPlaybook(testFile string) string {
	base := filepath.Base(testFile)
	ext := filepath.Ext(base)
	return filepath.Join(filepath.Dir(testFile), strings.TrimSuffix(strings.TrimSuffix(base, ext), ".test")+".yaml")
}

func findPlaybook(dir, name string) string {
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			return p
		}
	}
	return ""
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}

// orWords writes a, b or c.
func orWords(words []string) string { return listWords(words, " or ") }

// joinWords writes a, b and c.
func joinWords(words []string) string { return listWords(words, " and ") }

func listWords(words []string, last string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + last + words[len(words)-1]
}
