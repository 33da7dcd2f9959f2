package playbook

import "github.com/parry-soar/parry/internal/yamlnode"

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
			walk(s.Body)
		}
	}
	walk(v.pb.Steps)
	walk(v.pb.OnFailure)
}
