package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
)

const branchy = `name: branchy
steps:
  - id: first
    wait: 1m
  - id: both
    parallel:
      left:
        - id: l1
          wait: 1m
      right:
        - id: r1
          wait: 1m
        - id: r2
          wait: 1m
  - id: each
    for_each: ${{ [1, 2] }}
    as: n
    steps:
      - id: inner
        wait: 1m
  - id: again
    wait: 1m
`

// TestLayout: every step has a node, nodes do not overlap and lie inside the drawing, every edge joins two
// nodes, and a jump back goes round the side instead of through the nodes.
func TestLayout(t *testing.T) {
	files, _ := filepath.Glob("../../playbooks/*.yaml")
	sources := map[string]string{"branchy.yaml": branchy}
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[filepath.Base(f)] = string(b)
	}
	for name, src := range sources {
		p, diags := playbook.Load(name, []byte(src))
		if p == nil {
			t.Fatalf("%s: %v", name, diags)
		}
		d := plan.Layout(p)
		nodes := map[string]plan.DrawNode{}
		steps := map[string]bool{}
		for i, n := range d.Nodes {
			nodes[n.ID] = n
			steps[n.Step] = true
			if n.X < 0 || n.Y < 0 || n.X+n.W > d.Width || n.Y+n.H > d.Height {
				t.Errorf("%s: node %s at %d,%d %dx%d outside %dx%d", name, n.ID, n.X, n.Y, n.W, n.H, d.Width, d.Height)
			}
			for _, m := range d.Nodes[:i] {
				if n.X < m.X+m.W && m.X < n.X+n.W && n.Y < m.Y+m.H && m.Y < n.Y+n.H {
					t.Errorf("%s: nodes %s and %s overlap", name, n.ID, m.ID)
				}
			}
		}
		var walk func([]plan.Step)
		walk = func(ss []plan.Step) {
			for _, s := range ss {
				if !steps[s.ID] {
					t.Errorf("%s: step %s has no node", name, s.ID)
				}
				walk(s.Steps)
				for _, b := range s.Parallel {
					walk(b.Steps)
				}
			}
		}
		walk(p.Steps)
		for _, e := range d.Edges {
			a, okA := nodes[e.From]
			b, okB := nodes[e.To]
			if !okA || !okB || len(e.Points) < 2 {
				t.Errorf("%s: edge %s → %s joins no nodes", name, e.From, e.To)
				continue
			}
			if b.Y <= a.Y && len(e.Points) != 4 {
				t.Errorf("%s: jump back %s → %s drawn through the nodes: %v", name, e.From, e.To, e.Points)
			}
		}
	}
	d := plan.Layout(mustLoad(t, branchy))
	var clusters []string
	for _, c := range d.Clusters {
		clusters = append(clusters, c.Label)
	}
	if got := strings.Join(clusters, "; "); got != "both (parallel); left; right; each (for each n in [1, 2] (1 at a time))" || len(d.Nodes) != 12 {
		t.Errorf("clusters %s, %d nodes", got, len(d.Nodes))
	}
}

func mustLoad(t *testing.T, src string) *plan.Plan {
	t.Helper()
	p, diags := playbook.Load("x.yaml", []byte(src))
	if p == nil {
		t.Fatal(diags)
	}
	return p
}
