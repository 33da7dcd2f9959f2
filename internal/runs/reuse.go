package runs

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// Reusable returns the records of the old run that a retry from step `from` reuses: every action, approval,
// wait and call step before `from` in the new plan's order that succeeded or was skipped in the old run. It
// refuses, saying which step, when a reused step is missing from the new plan or changed (kind, action, inputs,
// loop, condition) in a way that makes its recorded output meaningless. from == "" means the old run's first
// failed step.
func Reusable(old store.Run, newPlan *plan.Plan, from string) (map[string]workflows.StepRecord, error) {
	var records map[string]workflows.StepRecord
	if len(old.Steps) > 0 {
		if err := json.Unmarshal(old.Steps, &records); err != nil {
			return nil, fmt.Errorf("reading the step records of run %s: %w", old.ID, err)
		}
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("run %s has no step records yet (is it finished?)", old.ID)
	}
	oldPlan, err := plan.Decode(old.Plan)
	if err != nil {
		return nil, fmt.Errorf("reading the plan of run %s: %w", old.ID, err)
	}
	if from == "" {
		from = FirstFailed(oldPlan, records, old.FailedStep)
		if from == "" {
			return nil, fmt.Errorf("run %s has no failed step to retry from; name one with --from", old.ID)
		}
	}
	if _, ok := newPlan.Step(from); !ok {
		return nil, fmt.Errorf("step %q is not in the plan of %s", from, newPlan.Name)
	}
	if loop := newPlan.Loop(from); loop != "" {
		return nil, fmt.Errorf("step %s runs once per item of loop %s: retry from %s (the loop runs again as a whole)", from, loop, loop)
	}
	reuse := map[string]workflows.StepRecord{}
	var problem error
	newPlan.Walk(func(st *plan.Step) bool {
		if st.ID == from {
			return false
		}
		if !reusableKind(st.Kind) || newPlan.Loop(st.ID) != "" {
			return true // a loop body's steps are reused with their loop
		}
		rec, ok := records[st.ID]
		if !ok || (rec.Status != workflows.StatusSucceeded && rec.Status != workflows.StatusSkipped) {
			return true // it did not complete before: it runs again
		}
		oldStep, ok := oldPlan.Step(st.ID)
		if !ok {
			problem = fmt.Errorf("step %s did not exist in run %s, so there is no recorded result to reuse; retry from an earlier step", st.ID, old.ID)
			return false
		}
		if diff := stepDiff(oldStep, st); diff != "" {
			problem = fmt.Errorf("cannot reuse step %s: its %s changed, so its recorded output no longer applies; retry from %s or an earlier step", st.ID, diff, st.ID)
			return false
		}
		reuse[st.ID] = rec
		if st.Kind == plan.KindSteps {
			for id, item := range records {
				if strings.HasPrefix(id, st.ID+"#") {
					reuse[id] = item
				}
			}
		}
		return true
	})
	if problem != nil {
		return nil, problem
	}
	// Every step the old run completed before `from` must still be in the new plan.
	var missing []string
	oldPlan.Walk(func(st *plan.Step) bool {
		if st.ID == from {
			return false
		}
		if rec, ok := records[st.ID]; ok && rec.Status == workflows.StatusSucceeded && reusableKind(st.Kind) && oldPlan.Loop(st.ID) == "" {
			if _, ok := newPlan.Step(st.ID); !ok {
				missing = append(missing, st.ID)
			}
		}
		return true
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("the new plan no longer has step %s, which the failed run completed; its effects would be lost or repeated", strings.Join(missing, ", "))
	}
	return reuse, nil
}

func reusableKind(k plan.Kind) bool {
	return k == plan.KindAction || k == plan.KindApproval || k == plan.KindWait || k == plan.KindCall || k == plan.KindSteps
}

// FirstFailed is the first step of the plan, in order, that failed in the run.
func FirstFailed(p *plan.Plan, records map[string]workflows.StepRecord, fallback string) string {
	first := ""
	p.Walk(func(st *plan.Step) bool {
		if rec, ok := records[st.ID]; ok && rec.Status == workflows.StatusFailed && st.Kind != plan.KindParallel {
			first = st.ID
			return false
		}
		return true
	})
	if first == "" {
		return fallback
	}
	return first
}

// stepDiff names what changed between two versions of a step that would change its result ("" when nothing).
func stepDiff(a, b *plan.Step) string {
	switch {
	case a.Kind != b.Kind:
		return "kind"
	case a.If != b.If:
		return "condition (if)"
	case !reflect.DeepEqual(a.ForEach, b.ForEach):
		return "loop (for_each)"
	case !reflect.DeepEqual(a.Until, b.Until):
		return "until"
	}
	switch a.Kind {
	case plan.KindAction:
		if a.Action.Name != b.Action.Name {
			return "action"
		}
		if !reflect.DeepEqual(a.Action.With, b.Action.With) || !reflect.DeepEqual(a.Action.Secrets, b.Action.Secrets) {
			return "inputs (with)"
		}
	case plan.KindCall:
		if a.Call.Playbook != b.Call.Playbook || !reflect.DeepEqual(a.Call.With, b.Call.With) {
			return "call"
		}
	case plan.KindApproval:
		if !reflect.DeepEqual(a.Approval, b.Approval) {
			return "approval"
		}
	case plan.KindWait:
		if a.Wait != b.Wait || a.WaitExpr != b.WaitExpr || a.WaitUntil != b.WaitUntil {
			return "wait"
		}
	case plan.KindSteps:
		if !reflect.DeepEqual(a.Steps, b.Steps) {
			return "loop body (steps)"
		}
	}
	return ""
}
