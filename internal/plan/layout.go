package plan

import "strings"

// Drawing is a plan's flow laid out for an SVG (the console draws it): the nodes of Graph with positions, the
// boxes of parallel steps and loops around their members, and the edges as polylines. Coordinates are pixels.
type Drawing struct {
	Width    int           `json:"width"`
	Height   int           `json:"height"`
	Nodes    []DrawNode    `json:"nodes"`
	Clusters []DrawCluster `json:"clusters"`
	Edges    []DrawEdge    `json:"edges"`
}

// DrawNode is one node: Step is the step id it stands for ("" for start, end, failed and joins).
type DrawNode struct {
	ID    string   `json:"id"`
	Step  string   `json:"step,omitempty"`
	Lines []string `json:"lines"`
	Shape string   `json:"shape"` // box, round, hexagon, subroutine, stadium, circle
	X     int      `json:"x"`
	Y     int      `json:"y"`
	W     int      `json:"w"`
	H     int      `json:"h"`
}

// DrawCluster is the box of a parallel step, a branch or a loop of steps.
type DrawCluster struct {
	ID    string `json:"id"`
	Step  string `json:"step,omitempty"`
	Label string `json:"label"`
	X     int    `json:"x"`
	Y     int    `json:"y"`
	W     int    `json:"w"`
	H     int    `json:"h"`
	Depth int    `json:"depth"`
}

// DrawEdge is one edge from node to node, as points.
type DrawEdge struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Label  string   `json:"label,omitempty"`
	Dashed bool     `json:"dashed,omitempty"`
	Points [][2]int `json:"points"`
}

const (
	nodeW   = 190
	lineH   = 15
	gapX    = 30
	gapY    = 46
	padding = 14
)

var shapeNames = map[shape]string{shapeBox: "box", shapeRound: "round", shapeHexagon: "hexagon", shapeSubroutine: "subroutine",
	shapeStadium: "stadium", shapeCircle: "circle"}

// Layout lays out the flow Graph draws: nodes in layers by their longest path from the start (jumps back
// do not count), in plan order within a layer.
func Layout(p *Plan) Drawing {
	g := &graph{parallel: map[string]bool{}}
	g.build(p)
	var nodes []*DrawNode
	byID := map[string]*DrawNode{}
	type member struct {
		c     *cluster
		depth int
		nodes []*DrawNode
	}
	var clusters []*member
	var walk func(items []any, open []*member)
	walk = func(items []any, open []*member) {
		for _, it := range items {
			switch x := it.(type) {
			case *gnode:
				n := &DrawNode{ID: x.id, Lines: clipLines(x.lines), Shape: shapeNames[x.shape], W: nodeW}
				n.Step = stepOf(x.id)
				n.H = 12 + lineH*len(n.Lines)
				nodes = append(nodes, n)
				byID[n.ID] = n
				for _, m := range open {
					m.nodes = append(m.nodes, n)
				}
			case *cluster:
				m := &member{c: x, depth: len(open)}
				clusters = append(clusters, m)
				inner := append(append([]*member{}, open...), m)
				if g.parallel[x.id] {
					// Edges start and end at a parallel step's cluster: it gets a fork node of its own.
					n := &DrawNode{ID: x.id, Step: stepOf(x.id), Lines: clipLines([]string{x.label}), Shape: "fork", W: nodeW}
					n.H = 12 + lineH
					nodes = append(nodes, n)
					byID[n.ID] = n
					for _, m := range inner {
						m.nodes = append(m.nodes, n)
					}
				}
				walk(x.items, inner)
			}
		}
	}
	walk(g.root.items, nil)

	// Layers: longest path over the edges that do not close a cycle (found by a depth-first search).
	out := map[string][]int{}
	for i, e := range g.edges {
		out[e.from] = append(out[e.from], i)
	}
	back := map[int]bool{}
	state := map[string]int{} // 1 on the stack, 2 done
	var dfs func(id string)
	dfs = func(id string) {
		state[id] = 1
		for _, i := range out[id] {
			to := g.edges[i].to
			switch state[to] {
			case 1:
				back[i] = true
			case 0:
				dfs(to)
			}
		}
		state[id] = 2
	}
	for _, n := range nodes {
		if state[n.ID] == 0 {
			dfs(n.ID)
		}
	}
	layer := map[string]int{}
	for changed, rounds := true, 0; changed && rounds <= len(nodes); rounds++ {
		changed = false
		for i, e := range g.edges {
			if back[i] || byID[e.from] == nil || byID[e.to] == nil {
				continue
			}
			if l := layer[e.from] + 1; l > layer[e.to] {
				layer[e.to], changed = l, true
			}
		}
	}
	var rows [][]*DrawNode
	for _, n := range nodes {
		l := layer[n.ID]
		for len(rows) <= l {
			rows = append(rows, nil)
		}
		rows[l] = append(rows[l], n)
	}
	widest := 0
	for _, r := range rows {
		widest = max(widest, len(r))
	}
	width := padding*2 + widest*nodeW + (widest-1)*gapX
	y := padding + 20
	for _, r := range rows {
		rowW := len(r)*nodeW + (len(r)-1)*gapX
		x := (width - rowW) / 2
		h := 0
		for _, n := range r {
			n.X, n.Y = x, y
			x += nodeW + gapX
			h = max(h, n.H)
		}
		y += h + gapY
	}
	d := Drawing{Width: max(width, 2*padding+nodeW), Height: y - gapY + padding + 20}
	for _, n := range nodes {
		d.Nodes = append(d.Nodes, *n)
	}
	for _, m := range clusters {
		if len(m.nodes) == 0 {
			continue
		}
		minX, minY, maxX, maxY := 1<<30, 1<<30, 0, 0
		for _, n := range m.nodes {
			minX, minY = min(minX, n.X), min(minY, n.Y)
			maxX, maxY = max(maxX, n.X+n.W), max(maxY, n.Y+n.H)
		}
		pad := 8 + 4*(3-min(m.depth, 3))
		d.Clusters = append(d.Clusters, DrawCluster{ID: m.c.id, Step: stepOf(m.c.id), Label: m.c.label, Depth: m.depth,
			X: minX - pad, Y: minY - pad - 14, W: maxX - minX + 2*pad, H: maxY - minY + 2*pad + 14})
	}
	for i, e := range g.edges {
		a, b := byID[e.from], byID[e.to]
		if a == nil || b == nil {
			continue
		}
		de := DrawEdge{From: e.from, To: e.to, Label: e.label, Dashed: e.dashed}
		if back[i] || b.Y <= a.Y {
			// Jumps back go round the right of both nodes.
			side := max(a.X, b.X) + nodeW + gapX/2
			de.Points = [][2]int{{a.X + nodeW, a.Y + a.H/2}, {side, a.Y + a.H/2}, {side, b.Y + b.H/2}, {b.X + nodeW, b.Y + b.H/2}}
		} else {
			de.Points = [][2]int{{a.X + a.W/2, a.Y + a.H}, {b.X + b.W/2, b.Y}}
		}
		d.Edges = append(d.Edges, de)
	}
	return d
}

// stepOf is the step id a node or cluster id stands for.
func stepOf(id string) string {
	if !strings.HasPrefix(id, "s_") {
		return ""
	}
	id = strings.TrimPrefix(id, "s_")
	if i := strings.Index(id, "__"); i >= 0 {
		return id[:i]
	}
	return id
}

func clipLines(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if r := []rune(l); len(r) > 30 {
			l = string(r[:29]) + "…"
		}
		out = append(out, l)
	}
	return out
}
