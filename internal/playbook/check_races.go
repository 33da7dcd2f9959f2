package playbook

import (
	"sort"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// varRead is a place where an expression reads vars.NAME.
type varRead struct {
	name string
	pos  yamlnode.Pos
}

// checkSetRaces warns about a var that a set step in one branch of a parallel step assigns while another
// branch reads or assigns it: the branches run at the same time, so what the other branch sees depends on
// timing.
func (v *validator) checkSetRaces() {
	for _, s := range v.order {
		if s.Kind != plan.KindParallel || len(s.Branches) < 2 {
			continue
		}
		type use struct {
			branch string
			pos    yamlnode.Pos
			write  bool
		}
		uses := map[string][]use{}
		for _, b := range s.Branches {
			walkSteps(b.Steps, func(x *Step) {
				for _, sv := range x.Set {
					uses[sv.Name] = append(uses[sv.Name], use{branch: b.Name, pos: yamlnode.At(sv.Key), write: true})
				}
				for _, r := range v.varReads[x] {
					uses[r.name] = append(uses[r.name], use{branch: b.Name, pos: r.pos})
				}
			})
		}
		names := make([]string, 0, len(uses))
		for n := range uses {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			us := uses[name]
			for _, w := range us {
				if !w.write {
					continue
				}
				for _, o := range us {
					if o.branch == w.branch || o.write && o.pos.Line*1_000_000+o.pos.Column < w.pos.Line*1_000_000+w.pos.Column {
						continue // a write pair is reported once, at the later write
					}
					verb := "read"
					if o.write {
						verb = "set"
					}
					v.r.Warnf(o.pos, "vars.%s is set in branch %q of step %q and %s in branch %q: the branches run at the same time, so what is %s depends on timing (set it before %q, or use it after)",
						name, w.branch, s.ID, verb, o.branch, map[bool]string{true: "kept", false: "read"}[o.write], s.ID)
				}
				break
			}
		}
	}
}

// walkSteps calls fn for every step of steps, nested ones included.
func walkSteps(steps []*Step, fn func(*Step)) {
	for _, s := range steps {
		fn(s)
		for _, b := range s.Branches {
			walkSteps(b.Steps, fn)
		}
		walkSteps(s.Body, fn)
	}
}
