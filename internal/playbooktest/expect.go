package playbooktest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/parry-soar/parry/internal/expression"
)

// check compares the run's outcome with the case's expectations and records each difference.
func (cr *caseRun) check(o *outcome) {
	ex := &cr.c.expect
	cr.checkStatus(o, ex)
	for _, se := range ex.steps {
		got := NotRun
		if rec, ok := o.steps[se.id]; ok {
			got = rec.Status
		}
		if got != se.status {
			detail := ""
			if rec, ok := o.steps[se.id]; ok && rec.Error != nil {
				detail = fmt.Sprintf(" (%s: %s)", rec.Error.Type, rec.Error.Message)
			}
			cr.failf(se.line, "step %s: got %s, want %s%s", se.id, got, se.status, detail)
		}
	}
	if ex.output != nil {
		var got any
		if o.output != nil {
			got = o.output
		}
		for _, diff := range match(ex.output, got, "output") {
			cr.failf(ex.outputLine, "%s", diff)
		}
	}
	if len(ex.asserts) > 0 {
		scope := assertScope(o)
		scope[scopeCalls] = cr.callScope()
		for _, a := range ex.asserts {
			cr.checkAssert(a, scope)
		}
	}
	for _, ce := range ex.calls {
		cr.checkCalls(ce)
	}
}

func (cr *caseRun) checkStatus(o *outcome, ex *expectations) {
	line := ex.statusLine
	if line == 0 {
		line = cr.c.line
	}
	why := ""
	if o.status == statusFailed {
		why = " (" + o.text + ")"
	}
	switch {
	case ex.status != "":
		if o.status != ex.status {
			cr.failf(line, "status: got %s, want %s%s", o.status, ex.status, why)
		}
	case ex.err != nil:
		if o.status != statusFailed {
			cr.failf(ex.err.line, "status: got %s, want failed", o.status)
		}
	case o.status == statusFailed:
		cr.failf(line, "the run failed: %s", o.text)
	}
	if e := ex.err; e != nil && o.err != nil {
		if e.step != "" && o.err.Step != e.step {
			cr.failf(e.line, "error.step: got %s, want %s", orNone(o.err.Step), e.step)
		}
		if e.path != "" && o.err.Path != e.path {
			cr.failf(e.line, "error.path: got %s, want %s", orNone(o.err.Path), e.path)
		}
		if e.typ != "" && o.err.Type != e.typ {
			cr.failf(e.line, "error.type: got %s, want %s (%s)", o.err.Type, e.typ, o.err.Message)
		}
		if e.message != "" && !strings.Contains(o.err.Message, e.message) {
			cr.failf(e.line, "error.message: got %q, want it to contain %q", o.err.Message, e.message)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// assertScope is what asserts read: steps.ID.{status, output, error, started_at, finished_at, attempts},
// output, error and status.
func assertScope(o *outcome) expression.Scope {
	now := o.now
	scope := expression.NewScope(func() time.Time { return now })
	steps := make(map[string]any, len(o.steps))
	for id, rec := range o.steps {
		m := map[string]any{"status": rec.Status, "output": rec.Output, "error": nil, "started_at": nil, "finished_at": nil, "attempts": int64(rec.Attempts)}
		if rec.Error != nil {
			m["error"] = map[string]any{"type": rec.Error.Type, "message": rec.Error.Message, "step": rec.Error.Step, "path": rec.Error.Path}
		}
		if rec.StartedAt != nil {
			m["started_at"] = rec.StartedAt.UTC().Format(time.RFC3339Nano)
		}
		if rec.FinishedAt != nil {
			m["finished_at"] = rec.FinishedAt.UTC().Format(time.RFC3339Nano)
		}
		steps[id] = m
	}
	scope[scopeSteps] = steps
	scope[scopeOutput] = nil
	if o.output != nil {
		scope[scopeOutput] = o.output
	}
	scope[scopeError] = nil
	if o.err != nil {
		scope[scopeError] = map[string]any{"type": o.err.Type, "message": o.err.Message, "step": o.err.Step, "path": o.err.Path}
	}
	scope[scopeStatus] = o.status
	return scope
}

// callScope lists the calls of each step of the playbook under test, in the order they were made (for_each
// items by index, then retries by attempt).
func (cr *caseRun) callScope() map[string]any {
	byStep := map[string][]call{}
	for _, c := range cr.calls {
		if c.playbook == cr.f.plan.Name {
			id := stepID(c.step)
			byStep[id] = append(byStep[id], c)
		}
	}
	out := make(map[string]any, len(byStep))
	for id, calls := range byStep {
		slices.SortStableFunc(calls, func(a, b call) int {
			return cmp.Or(cmp.Compare(itemIndex(a.step), itemIndex(b.step)), cmp.Compare(a.seq, b.seq))
		})
		l := make([]any, len(calls))
		for i, c := range calls {
			l[i] = map[string]any{"step": c.step, "action": c.action, "attempt": int64(c.attempt), "with": normalizeFloats(c.with)}
		}
		out[id] = l
	}
	return out
}

// itemIndex is N of a for_each item's id#N or of a loop body's loop#N.id (-1 without).
func itemIndex(execID string) int {
	_, n, ok := strings.Cut(execID, "#")
	if !ok {
		return -1
	}
	n, _, _ = strings.Cut(n, ".")
	i, _ := strconv.Atoi(n)
	return i
}

// normalizeFloats gives whole numbers decoded as float64 (activity inputs travel as JSON) back their
// integer type, so asserts compare them as the playbook wrote them.
func normalizeFloats(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeFloats(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeFloats(e)
		}
		return out
	}
	return v
}

func (cr *caseRun) checkAssert(a assertion, scope expression.Scope) {
	ok, err := cr.r.wf.Engine.EvalBool(a.src, scope)
	if err != nil {
		// The engine's message quotes the expression, which the failure already shows.
		msg := err.Error()
		if strings.HasPrefix(msg, "evaluating \"") {
			if i := strings.Index(msg, "\": "); i > 0 {
				msg = msg[i+3:]
			}
		}
		cr.failf(a.line, "assert %s: %s", a.src, msg)
		return
	}
	if !ok {
		cr.failf(a.line, "assert failed: %s%s", a.src, cr.explain(a.src, scope))
	}
}

// explain shows the values of the sides of a failed comparison that are not literals: "(output.count is 2)".
func (cr *caseRun) explain(src string, scope expression.Scope) string {
	tree, err := parser.Parse(src)
	if err != nil {
		return ""
	}
	node := tree.Node
	if u, ok := node.(*ast.UnaryNode); ok && (u.Operator == "!" || u.Operator == "not") {
		node = u.Node
	}
	var parts []string
	add := func(n ast.Node) {
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.NilNode:
			return
		}
		s := n.String()
		v, err := cr.r.wf.Engine.Eval(s, scope)
		if err != nil {
			return
		}
		parts = append(parts, s+" is "+show(expression.Plain(v)))
	}
	switch n := node.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "startsWith", "endsWith", "matches":
			add(n.Left)
			add(n.Right)
		default:
			return ""
		}
	case *ast.MemberNode, *ast.IdentifierNode, *ast.BuiltinNode, *ast.CallNode, *ast.ChainNode:
		add(n)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// checkCalls compares the recorded calls of a step or action with a calls entry.
func (cr *caseRun) checkCalls(ce callExpect) {
	what := "action " + ce.action
	pb, step, qualified := strings.Cut(ce.step, "/")
	if !qualified {
		pb, step = "", ce.step
	}
	var calls []call
	for _, c := range cr.calls {
		switch {
		case ce.action != "" && c.action == ce.action,
			ce.step != "" && (pb == "" || c.playbook == pb) && (c.step == step || stepID(c.step) == step && !strings.ContainsAny(step, "#.")):
			calls = append(calls, c)
		}
	}
	if ce.step != "" {
		what = "step " + ce.step
	}
	var matched int
	var diffs []string
	for _, c := range calls {
		if ce.with == nil {
			matched++
			continue
		}
		if d := match(ce.with, c.with, "with"); len(d) == 0 {
			matched++
		} else {
			diffs = append(diffs, c.step+": "+strings.Join(d, ", "))
		}
	}
	withText := ""
	if ce.with != nil {
		withText = " with " + show(ce.with)
	}
	switch {
	case ce.times < 0 && matched == 0 && len(calls) == 0:
		cr.failf(ce.line, "calls: %s was never called, want a call%s", what, withText)
	case ce.times < 0 && matched == 0:
		cr.failf(ce.line, "calls: no call of %s matched%s: %s", what, withText, summarize(diffs))
	case ce.times == 0 && matched > 0:
		cr.failf(ce.line, "calls: %s was called%s %s, want never", what, withText, plural(matched, "time"))
	case ce.times > 0 && matched != ce.times:
		msg := fmt.Sprintf("calls: %s was called%s %s, want %d", what, withText, plural(matched, "time"), ce.times)
		if len(diffs) > 0 {
			msg += "; the others: " + summarize(diffs)
		}
		cr.failf(ce.line, "%s", msg)
	}
}

// summarize lists at most three differences.
func summarize(diffs []string) string {
	if len(diffs) <= 3 {
		return strings.Join(diffs, "; ")
	}
	return strings.Join(diffs[:3], "; ") + fmt.Sprintf("; and %d more", len(diffs)-3)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// match compares want with got partially: every key of a wanted mapping must be in got's with a matching
// value (other keys of got are ignored); lists match item by item and must have the same length; numbers
// compare by value. It returns every difference, each as "path: got X, want Y", in the order of the paths.
func match(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))}
		}
		var diffs []string
		for _, k := range slices.Sorted(maps.Keys(w)) {
			gv, present := g[k]
			if !present {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing, want %s", path, k, show(w[k])))
				continue
			}
			diffs = append(diffs, match(w[k], gv, path+"."+k)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %s (%s), want %s (%s)", path, show(got), plural(len(g), "item"), show(want), plural(len(w), "item"))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, match(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return diffs
	}
	if wn, ok := number(want); ok {
		if gn, ok := number(got); ok && (wn == gn || math.IsNaN(wn) && math.IsNaN(gn)) {
			return nil
		}
	} else if want == got {
		return nil
	}
	return []string{fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// show writes a value as compact JSON (at most 200 characters), the way failures quote values.
func show(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSuffix(b.String(), "\n")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
