package plan

import (
	"fmt"
	"strings"
)

// Graph formats.
const (
	GraphMermaid = "mermaid"
	GraphDot     = "dot"
)

// Graph draws a plan's flow: steps in order, parallel branches, conditions and jumps, loops, and the error
// paths (on_error jumps, fail steps, on_failure).
func Graph(p *Plan, format string) (string, error) {
	g := &graph{parallel: map[string]bool{}}
	g.build(p)
	switch format {
	case GraphMermaid:
		return g.mermaid(), nil
	case GraphDot:
		return g.dot(p.Name), nil
	}
	return "", fmt.Errorf("unknown graph format %q: use mermaid or dot", format)
}

type shape int

const (
	shapeBox shape = iota
	shapeRound
	shapeHexagon
	shapeSubroutine
	shapeStadium
	shapeCircle
)

type gnode struct {
	id    string
	lines []string
	shape shape
}

type gedge struct {
	from, to, label string
	dashed          bool
}

type cluster struct {
	id, label string
	items     []any // *gnode or *cluster, in order
}

type graph struct {
	root     cluster
	edges    []gedge
	parallel map[string]bool // cluster ids of parallel steps, which edges may start or end at
}

const (
	startID  = "run_start"
	endID    = "run_end"
	failedID = "run_failed"
)

func nodeID(stepID string) string { return "s_" + stepID }

func (g *graph) build(p *Plan) {
	start := []string{"start"}
	for _, sc := range p.Schedules {
		switch {
		case sc.Cron != "" && sc.Timezone != "":
			start = append(start, fmt.Sprintf("cron %s (%s)", sc.Cron, sc.Timezone))
		case sc.Cron != "":
			start = append(start, "cron "+sc.Cron)
		default:
			start = append(start, "every "+sc.Every.String())
		}
	}
	g.root.items = append(g.root.items, &gnode{id: startID, lines: start, shape: shapeCircle})
	g.list(p.Steps, &g.root, startID, endID)
	g.root.items = append(g.root.items, &gnode{id: endID, lines: []string{"end"}, shape: shapeCircle})
	if len(p.OnFailure) > 0 || g.usesFailed() {
		g.root.items = append(g.root.items, &gnode{id: failedID, lines: []string{"failed"}, shape: shapeCircle})
	}
	if len(p.OnFailure) > 0 {
		c := &cluster{id: "on_failure", label: "on_failure"}
		g.root.items = append(g.root.items, c)
		g.list(p.OnFailure, c, failedID, "")
	}
}

func (g *graph) usesFailed() bool {
	for _, e := range g.edges {
		if e.to == failedID {
			return true
		}
	}
	return false
}

// enter and exit are the ids edges attach to: a parallel step is entered at its cluster and left at its join.
func enter(s *Step) string { return nodeID(s.ID) }
func exit(s *Step) string {
	if s.Kind == KindParallel || s.Kind == KindSteps {
		return nodeID(s.ID) + "__join"
	}
	return nodeID(s.ID)
}

// list draws one step list inside c, entered from entry; its end leads to end ("" for on_failure).
func (g *graph) list(steps []Step, c *cluster, entry, end string) {
	if len(steps) == 0 {
		if end != "" {
			g.edges = append(g.edges, gedge{from: entry, to: end})
		}
		return
	}
	target := func(id string) string {
		if id == End {
			return end
		}
		for i := range steps {
			if steps[i].ID == id {
				return enter(&steps[i])
			}
		}
		return nodeID(id)
	}
	g.edges = append(g.edges, gedge{from: entry, to: enter(&steps[0])})
	for i := range steps {
		s := &steps[i]
		g.step(s, c)
		after := end
		if i+1 < len(steps) {
			after = enter(&steps[i+1])
		}
		falls := true
		for _, n := range s.Next {
			label := ""
			if n.If != "" {
				label = "if " + short(n.If)
			} else if s.If == "" {
				falls = false
			}
			if t := target(n.Goto); t != "" {
				g.edges = append(g.edges, gedge{from: exit(s), to: t, label: label})
			}
		}
		switch s.Kind {
		case KindFinish:
			g.edges = append(g.edges, gedge{from: exit(s), to: endID, label: "finish"})
			falls = s.If != ""
		case KindFail:
			g.edges = append(g.edges, gedge{from: exit(s), to: failedID, label: "fail", dashed: true})
			falls = s.If != ""
		}
		switch s.OnError.Action {
		case OnErrorGoto:
			if t := target(s.OnError.Goto); t != "" {
				g.edges = append(g.edges, gedge{from: exit(s), to: t, label: "on error", dashed: true})
			}
		case OnErrorContinue:
			if after != "" {
				g.edges = append(g.edges, gedge{from: exit(s), to: after, label: "on error", dashed: true})
			}
		}
		if falls && after != "" {
			label := ""
			if len(s.Next) > 0 {
				label = "otherwise"
			}
			g.edges = append(g.edges, gedge{from: exit(s), to: after, label: label})
		}
	}
}

func (g *graph) step(s *Step, c *cluster) {
	var lines []string
	sh := shapeBox
	switch s.Kind {
	case KindAction:
		lines = append(lines, s.ID, s.Action.Name)
	case KindCall:
		lines = append(lines, s.ID, "call "+s.Call.Playbook)
		sh = shapeSubroutine
	case KindApproval:
		timeout := s.Approval.Timeout.String()
		if s.Approval.TimeoutExpr != "" {
			timeout = short(templateExpr(s.Approval.TimeoutExpr))
		}
		lines = append(lines, s.ID, "approval ("+timeout+", then "+s.Approval.OnTimeout+")")
		sh = shapeHexagon
	case KindWait:
		switch {
		case s.WaitUntil != "":
			lines = append(lines, s.ID, "wait until "+short(templateExpr(s.WaitUntil)))
		case s.WaitExpr != "":
			lines = append(lines, s.ID, "wait "+short(templateExpr(s.WaitExpr)))
		default:
			lines = append(lines, s.ID, "wait "+s.Wait.String())
		}
		sh = shapeRound
	case KindSteps:
		lc := &cluster{id: nodeID(s.ID), label: s.ID + " (" + forEachText(s.ForEach) + ")"}
		g.parallel[lc.id] = true
		if s.If != "" {
			lc.label += " if " + short(s.If)
		}
		c.items = append(c.items, lc)
		done := &gnode{id: exit(s), lines: []string{"each item done " + s.ID}, shape: shapeCircle}
		g.list(s.Steps, lc, lc.id, done.id)
		c.items = append(c.items, done)
		return
	case KindSet:
		var names []string
		for _, v := range s.Set {
			names = append(names, v.Name)
		}
		lines = append(lines, s.ID, "set "+strings.Join(names, ", "))
		sh = shapeRound
	case KindFinish:
		lines = append(lines, s.ID, strings.TrimSpace("finish "+s.Finish.Status))
		sh = shapeStadium
	case KindFail:
		lines = append(lines, s.ID, "fail")
		sh = shapeStadium
	case KindParallel:
		pc := &cluster{id: nodeID(s.ID), label: s.ID + " (parallel)"}
		g.parallel[pc.id] = true
		if s.If != "" {
			pc.label += " if " + short(s.If)
		}
		c.items = append(c.items, pc)
		join := &gnode{id: exit(s), lines: []string{"join " + s.ID}, shape: shapeCircle}
		for _, b := range s.Parallel {
			bc := &cluster{id: nodeID(s.ID) + "__" + b.Name, label: b.Name}
			pc.items = append(pc.items, bc)
			g.list(b.Steps, bc, pc.id, join.id)
		}
		c.items = append(c.items, join)
		return
	}
	if s.If != "" {
		lines = append(lines, "if "+short(s.If))
	}
	if f := s.ForEach; f != nil {
		lines = append(lines, forEachText(f))
	}
	if u := s.Until; u != nil {
		every := u.Every.String()
		if u.EveryExpr != "" {
			every = short(templateExpr(u.EveryExpr))
		}
		lines = append(lines, fmt.Sprintf("until %s (every %s, %d times)", short(u.Condition), every, u.MaxAttempts))
	}
	c.items = append(c.items, &gnode{id: nodeID(s.ID), lines: lines, shape: sh})
}

func forEachText(f *ForEach) string {
	if f == nil {
		return "no items"
	}
	items := "the list"
	if str, ok := f.Items.(string); ok {
		items = short(templateExpr(str))
	}
	return fmt.Sprintf("for each %s in %s (%d at a time)", f.As, items, f.Concurrency)
}

// templateExpr is the expression of a whole template, for labels.
func templateExpr(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "${{") && strings.HasSuffix(s, "}}") {
		s = strings.TrimSpace(s[3 : len(s)-2])
	}
	return s
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return s
}

// Mermaid.

func (g *graph) mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	g.mermaidItems(&b, g.root.items, "  ")
	for _, e := range g.edges {
		arrow := "-->"
		if e.dashed {
			arrow = "-.->"
		}
		if e.label != "" {
			if e.dashed {
				fmt.Fprintf(&b, "  %s -. \"%s\" .-> %s\n", e.from, mermaidText(e.label), e.to)
			} else {
				fmt.Fprintf(&b, "  %s -->|\"%s\"| %s\n", e.from, mermaidText(e.label), e.to)
			}
			continue
		}
		fmt.Fprintf(&b, "  %s %s %s\n", e.from, arrow, e.to)
	}
	return b.String()
}

func (g *graph) mermaidItems(b *strings.Builder, items []any, indent string) {
	for _, it := range items {
		switch x := it.(type) {
		case *gnode:
			text := make([]string, len(x.lines))
			for i, l := range x.lines {
				text[i] = mermaidText(l)
			}
			label := "\"" + strings.Join(text, "<br/>") + "\""
			open, close := "[", "]"
			switch x.shape {
			case shapeRound:
				open, close = "(", ")"
			case shapeHexagon:
				open, close = "{{", "}}"
			case shapeSubroutine:
				open, close = "[[", "]]"
			case shapeStadium:
				open, close = "([", "])"
			case shapeCircle:
				open, close = "((", "))"
			}
			fmt.Fprintf(b, "%s%s%s%s%s\n", indent, x.id, open, label, close)
		case *cluster:
			fmt.Fprintf(b, "%ssubgraph %s [\"%s\"]\n", indent, x.id, mermaidText(x.label))
			g.mermaidItems(b, x.items, indent+"  ")
			fmt.Fprintf(b, "%send\n", indent)
		}
	}
}

var mermaidEscaper = strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "|", "#124;", "&", "#amp;")

func mermaidText(s string) string { return mermaidEscaper.Replace(s) }

// Graphviz.

func (g *graph) dot(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n", dotQuote(name))
	g.dotItems(&b, g.root.items, "  ")
	for _, e := range g.edges {
		from, to := e.from, e.to
		var attrs []string
		if e.label != "" {
			attrs = append(attrs, "label="+dotQuote(e.label))
		}
		if e.dashed {
			attrs = append(attrs, "style=dashed")
		}
		// Graphviz cannot attach an edge to a cluster: edges of a parallel step use a point inside it.
		if g.parallel[from] {
			from += "__anchor"
		}
		if g.parallel[to] {
			to += "__anchor"
		}
		if len(attrs) > 0 {
			fmt.Fprintf(&b, "  %s -> %s [%s];\n", from, to, strings.Join(attrs, ", "))
		} else {
			fmt.Fprintf(&b, "  %s -> %s;\n", from, to)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func (g *graph) dotItems(b *strings.Builder, items []any, indent string) {
	for _, it := range items {
		switch x := it.(type) {
		case *gnode:
			sh := "box"
			switch x.shape {
			case shapeRound:
				sh = "box, style=rounded"
			case shapeHexagon:
				sh = "hexagon"
			case shapeSubroutine:
				sh = "box, peripheries=2"
			case shapeStadium:
				sh = "box, style=\"rounded,bold\""
			case shapeCircle:
				sh = "circle"
			}
			fmt.Fprintf(b, "%s%s [label=%s, shape=%s];\n", indent, x.id, dotQuote(strings.Join(x.lines, "\n")), sh)
		case *cluster:
			fmt.Fprintf(b, "%ssubgraph cluster_%s {\n%s  label=%s;\n", indent, x.id, indent, dotQuote(x.label))
			if g.parallel[x.id] {
				fmt.Fprintf(b, "%s  %s__anchor [shape=point, width=0.05];\n", indent, x.id)
			}
			g.dotItems(b, x.items, indent+"  ")
			fmt.Fprintf(b, "%s}\n", indent)
		}
	}
}

func dotQuote(s string) string {
	return "\"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + "\""
}
