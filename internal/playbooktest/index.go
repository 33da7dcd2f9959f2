package playbooktest

import (
	"maps"
	"slices"
	"strings"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// stepInfo is what a test file may say about a step.
type stepInfo struct {
	playbook  string
	id        string
	kind      plan.Kind
	action    string
	call      string
	loop      bool   // for_each
	body      string // the loop step whose body holds this step ("" outside loop bodies)
	approvers []string
	notify    string   // approval: the action its chat notification runs (approval.notify), "" for none
	branches  []string // parallel
	sets      []string // set
}

// index lists the steps of the playbook under test and of the playbooks it calls, for checking mocks,
// approvals and expectations.
type index struct {
	main *plan.Plan
	// steps by id over every loaded playbook; the playbook under test wins where ids repeat.
	steps map[string]stepInfo
	// byPlaybook are the steps of each loaded playbook by id; shared lists every playbook's step of an id.
	byPlaybook  map[string]map[string]stepInfo
	shared      map[string][]stepInfo
	allIDs      []string
	mainIDs     []string
	mainKinds   map[string]stepInfo
	actionsUsed map[string]bool
	names       []string
	// outcomes are the statuses the playbook under test can end with.
	outcomes []string
	// outputKeys are the keys of its output (nil when a finish step's output makes them unknowable).
	outputKeys []string
}

func newIndex(main *plan.Plan, plans map[string]*plan.Plan) *index {
	idx := &index{main: main, steps: map[string]stepInfo{}, mainKinds: map[string]stepInfo{}, actionsUsed: map[string]bool{},
		byPlaybook: map[string]map[string]stepInfo{}, shared: map[string][]stepInfo{}}
	add := func(p *plan.Plan, isMain bool) {
		idx.byPlaybook[p.Name] = map[string]stepInfo{}
		p.Walk(func(s *plan.Step) bool {
			st := stepInfo{playbook: p.Name, id: s.ID, kind: s.Kind, loop: s.ForEach != nil, body: p.Loop(s.ID)}
			switch s.Kind {
			case plan.KindAction:
				st.action = s.Action.Name
				idx.actionsUsed[s.Action.Name] = true
			case plan.KindCall:
				st.call = s.Call.Playbook
			case plan.KindApproval:
				st.approvers = s.Approval.Approvers
				if n := s.Approval.Notify; n != nil {
					st.notify = n.Name
					idx.actionsUsed[n.Name] = true
				}
			case plan.KindParallel:
				for _, b := range s.Parallel {
					st.branches = append(st.branches, b.Name)
				}
			case plan.KindSet:
				for _, v := range s.Set {
					st.sets = append(st.sets, v.Name)
				}
			}
			if _, seen := idx.steps[s.ID]; !seen || isMain {
				idx.steps[s.ID] = st
			}
			idx.byPlaybook[p.Name][s.ID] = st
			idx.shared[s.ID] = append(idx.shared[s.ID], st)
			if isMain {
				idx.mainIDs = append(idx.mainIDs, s.ID)
				idx.mainKinds[s.ID] = st
			}
			return true
		})
	}
	add(main, true)
	idx.names = []string{main.Name}
	for _, name := range slices.Sorted(maps.Keys(plans)) {
		if name != main.Name {
			add(plans[name], false)
			idx.names = append(idx.names, name)
		}
	}
	idx.allIDs = slices.Sorted(maps.Keys(idx.steps))

	idx.outcomes = []string{statusSucceeded, statusFailed}
	keys := map[string]bool{}
	for k := range main.Output {
		keys[k] = true
	}
	main.Walk(func(s *plan.Step) bool {
		if s.Kind == plan.KindFinish {
			if s.Finish.Status != "" && !slices.Contains(idx.outcomes, s.Finish.Status) {
				idx.outcomes = append(idx.outcomes, s.Finish.Status)
			}
			for k := range s.Finish.Output {
				keys[k] = true
			}
		}
		return true
	})
	if len(keys) > 0 {
		idx.outputKeys = slices.Sorted(maps.Keys(keys))
	}
	return idx
}

// calls is the action the step calls: an action step's, or the one an approval's notification runs.
func (st stepInfo) calls() string {
	if st.kind == plan.KindApproval {
		return st.notify
	}
	return st.action
}

func (idx *index) playbookNames() string { return yamlnode.AndWords(idx.names) }

// assertEnv is the typed scope of asserts: steps (of the playbook under test, typed from the action catalog),
// output, error, status, and calls (each action step's calls in order, with what they were called with).
func assertEnv(idx *index, cat *action.Catalog) *expression.Env {
	steps := make(map[string]expression.Type, len(idx.mainIDs))
	for _, id := range idx.mainIDs {
		st := idx.mainKinds[id]
		if st.body != "" {
			continue // a loop body's steps run once per item: their results are in the loop's output
		}
		var out expression.Type = expression.Any
		switch st.kind {
		case plan.KindAction:
			if spec, ok := cat.Lookup(st.action); ok {
				out = playbook.ExprType(spec.Output)
			}
			if st.loop {
				out = expression.List(out)
			}
		case plan.KindApproval:
			fields := map[string]expression.Type{
				"approved": expression.Bool, "by": expression.String, "comment": expression.String,
				"at": expression.String, "timed_out": expression.Bool,
			}
			if st.notify != "" {
				fields["notify"] = playbook.ApprovalNotifyType()
			}
			out = expression.Object(fields)
			if st.loop {
				out = expression.List(out)
			}
		case plan.KindSteps:
			// Each item and its steps' results.
			inner := map[string]expression.Type{}
			for _, bid := range idx.mainIDs {
				if b := idx.mainKinds[bid]; b.body == id {
					var bout expression.Type = expression.Any
					if spec, ok := cat.Lookup(b.action); ok && b.kind == plan.KindAction {
						bout = playbook.ExprType(spec.Output)
					}
					inner[bid] = expression.Object(map[string]expression.Type{"status": expression.String, "output": bout, "error": errorType()})
				}
			}
			out = expression.Object(map[string]expression.Type{"items": expression.List(expression.Object(map[string]expression.Type{
				"item": expression.Any, "steps": expression.Object(inner),
			}))})
		case plan.KindParallel:
			// Each branch's status.
			m := make(map[string]expression.Type, len(st.branches))
			for _, b := range st.branches {
				m[b] = expression.String
			}
			out = expression.Object(m)
		case plan.KindSet:
			// The values it assigned.
			m := make(map[string]expression.Type, len(st.sets))
			for _, v := range st.sets {
				m[v] = expression.Any
			}
			out = expression.Object(m)
		}
		steps[id] = expression.Object(map[string]expression.Type{
			"status": expression.String, "output": out, "error": errorType(),
			"started_at": expression.String, "finished_at": expression.String, "attempts": expression.Int,
		})
	}
	var output expression.Type = expression.OpenObject(nil)
	if idx.outputKeys != nil {
		fields := make(map[string]expression.Type, len(idx.outputKeys))
		for _, k := range idx.outputKeys {
			fields[k] = expression.Any
		}
		output = expression.Object(fields)
	}
	calls := map[string]expression.Type{}
	for _, id := range idx.mainIDs {
		st := idx.mainKinds[id]
		if st.kind != plan.KindAction && st.notify == "" {
			continue
		}
		spec, ok := cat.Lookup(st.calls())
		if !ok {
			continue
		}
		with := make(map[string]expression.Type, len(spec.Inputs))
		for _, in := range spec.Inputs {
			with[in.Name] = playbook.ExprType(in.Type)
		}
		calls[id] = expression.List(expression.Object(map[string]expression.Type{
			"step": expression.String, "action": expression.String, "attempt": expression.Int, "with": expression.Object(with),
		}))
	}
	return expression.NewEnv(map[string]expression.Type{
		scopeSteps:  expression.Object(steps),
		scopeOutput: output,
		scopeError:  errorType(),
		scopeStatus: expression.String,
		scopeCalls:  expression.Object(calls),
	})
}

// Names in the scope of asserts.
const (
	scopeSteps  = expression.ScopeSteps
	scopeOutput = expression.ScopeOutput
	scopeError  = expression.ScopeError
	scopeStatus = "status"
	scopeCalls  = "calls"
)

func errorType() expression.Type {
	return expression.Object(map[string]expression.Type{"type": expression.String, "message": expression.String, "step": expression.String, "path": expression.String})
}

// stepID is the step id of an execution id: sweep, disable#2 → disable, per_ioc#1.lookup → lookup.
func stepID(execID string) string {
	if i := strings.LastIndexByte(execID, '.'); i >= 0 {
		execID = execID[i+1:]
	}
	id, _, _ := strings.Cut(execID, "#")
	return id
}
