// Package expression is parry's expression language: expr-lang (https://expr-lang.org) with deterministic
// builtins only, the SOC helpers, and ${{ }} templates.
//
// Two halves share the same function set. At validation time, Env type-checks an expression against a typed
// scope (what alert, inputs, vars and each step's output look like) and reports errors with their offset in
// the source. At run time, Engine compiles sources once, caches the programs (safe for concurrent use) and
// evaluates them against a Scope of plain JSON-like values with an injected clock. Evaluating never does I/O:
// workflow code can call it.
package expression

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Size caps for one expression: source length in bytes and AST nodes.
const (
	MaxSourceBytes = 4096
	MaxNodes       = 400
)

// Names in the scope.
const (
	ScopeAlert    = "alert"    // the triggering alert, or null on a manual run
	ScopeIncident = "incident" // the incident the run belongs to: {id, key, alerts}
	ScopeInputs   = "inputs"
	ScopeVars     = "vars"
	ScopeSteps    = "steps"  // steps.ID.{status, output, error, started_at, finished_at, attempts}
	ScopeRun      = "run"    // {id, playbook, version, started_at}
	ScopeIndex    = "index"  // position in a for_each loop
	ScopeOutput   = "output" // the step's own output, in until
	ScopeError    = "error"  // in on_failure: {type, message, step}
	ScopeNow      = "now"
)

// Scope holds what an expression can read, by name: plain JSON-like values (map[string]any, []any, string,
// float64 or int, bool, nil) plus the clock under "now". The interpreter builds one per run and updates it as
// steps finish; With adds loop variables without copying the values.
type Scope map[string]any

// NewScope returns a scope whose now() reads clock (workflow.Now in workflow code). The clock's time is
// returned in UTC.
func NewScope(clock func() time.Time) Scope {
	return Scope{ScopeNow: func() time.Time { return clock().UTC() }}
}

// With returns a copy of the scope (a shallow copy: the values are shared) with extra names set.
func (s Scope) With(kv ...any) Scope {
	out := make(Scope, len(s)+len(kv)/2)
	//workflowcheck:ignore map order: a copy: every key is set whatever the order
	for k, v := range s {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// Dialect is a version of how expressions evaluate. A run keeps the dialect it started with (the interpreter
// records it with workflow.GetVersion), so that an upgrade of parry never changes what a run in flight
// computes: a replayed history must see the values it saw.
type Dialect int

// Dialects.
const (
	// DialectOriginal is the first: expr's own string(), which writes times in Go's default format, and a
	// list function that gives no items makes null.
	DialectOriginal Dialect = iota
	// DialectTyped writes a time as RFC 3339 UTC in string() too, and keeps empty lists and maps as empty
	// lists and maps (concat([], []) is [], not null).
	DialectTyped
)

// CurrentDialect is what new runs, lint and parry test use.
const CurrentDialect = DialectTyped

// Engine compiles and runs expressions and templates. Compiled programs, parsed templates and regular
// expressions are cached by source; an Engine is safe for concurrent use and meant to be shared by a whole
// worker. Dialect gives a view of the same caches that evaluates in another dialect.
type Engine struct {
	c       *engineCache
	dialect Dialect
}

type programKey struct {
	dialect Dialect
	src     string
}

type engineCache struct {
	mu        sync.RWMutex
	programs  map[programKey]*vm.Program
	templates map[string]*Template
	maxCached int
	vms       sync.Pool
	regexps   *regexpCache
}

// NewEngine returns an engine in CurrentDialect whose cache holds up to 10,000 programs.
func NewEngine() *Engine {
	return &Engine{dialect: CurrentDialect, c: &engineCache{
		programs:  make(map[programKey]*vm.Program),
		templates: make(map[string]*Template),
		maxCached: 10_000,
		vms:       sync.Pool{New: func() any { return new(vm.VM) }},
		regexps:   newRegexpCache(),
	}}
}

// Dialect returns an engine sharing e's caches that evaluates in dialect d.
func (e *Engine) Dialect(d Dialect) *Engine {
	if d == e.dialect {
		return e
	}
	return &Engine{c: e.c, dialect: d}
}

// CurrentDialect reports the engine's dialect.
func (e *Engine) CurrentDialect() Dialect { return e.dialect }

// runtimeOptions compile without a typed scope: types were checked at validation time, and at run time the
// values are JSON (numbers may be float64 where the checker saw int), so the generic operations are right.
func runtimeOptions(d Dialect, re *regexpCache) []expr.Option {
	// An empty non-strict map environment makes the compiler load scope names with a direct map lookup.
	opts := []expr.Option{expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.MaxNodes(MaxNodes), expr.Timezone("UTC"), expr.Patch(nullSafe{})}
	for _, b := range disabledBuiltins(d) {
		opts = append(opts, expr.DisableBuiltin(b))
	}
	return append(opts, functionOptions(d, re)...)
}

// nullSafe makes every field access null-safe at run time (a.b on null is null, as with a?.b): a skipped
// step's output is null, and `if: steps.approve.output.approved` must then be false, not an error. Types were
// checked strictly at validation time, so this only changes what happens to nulls.
type nullSafe struct{}

func (nullSafe) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Method {
		return
	}
	m.Optional = true
	ast.Patch(node, &ast.ChainNode{Node: m})
}

// Compile returns the cached program for a bare expression, compiling it on first use.
func (e *Engine) Compile(src string) (*vm.Program, error) {
	key := programKey{e.dialect, src}
	c := e.c
	c.mu.RLock()
	p, ok := c.programs[key]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	if len(src) > MaxSourceBytes {
		return nil, fmt.Errorf("expression is %d bytes, longer than the limit of %d", len(src), MaxSourceBytes)
	}
	if err := rejectForbidden(src); err != nil {
		return nil, err
	}
	p, err := expr.Compile(rewriteCalls(src), runtimeOptions(e.dialect, c.regexps)...)
	if err != nil {
		return nil, fmt.Errorf("compiling expression %s: %s", quoteShort(src), restoreNames(plainMessage(err)))
	}
	c.mu.Lock()
	if len(c.programs) >= c.maxCached {
		clear(c.programs) // a worker sees a bounded set of plans: dropping everything now and then is cheap
	}
	c.programs[key] = p
	c.mu.Unlock()
	return p, nil
}

// Eval evaluates a bare expression (a condition, a dedup key) against the scope.
func (e *Engine) Eval(src string, scope Scope) (any, error) {
	p, err := e.Compile(src)
	if err != nil {
		return nil, err
	}
	return e.run(src, p, scope)
}

func (e *Engine) run(src string, p *vm.Program, scope Scope) (out any, err error) {
	m := e.c.vms.Get().(*vm.VM)
	defer e.c.vms.Put(m)
	out, err = m.Run(p, map[string]any(scope))
	if err != nil {
		return nil, fmt.Errorf("evaluating %s: %s", quoteShort(src), restoreNames(plainMessage(err)))
	}
	return out, nil
}

// EvalBool evaluates a condition. Null counts as false (a skipped step's output is null); any other
// non-boolean result is an error.
func (e *Engine) EvalBool(src string, scope Scope) (bool, error) {
	v, err := e.Eval(src, scope)
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil:
		return false, nil
	}
	return false, fmt.Errorf("evaluating %s: the condition gave %s, not true or false", quoteShort(src), typeName(v))
}

// rejectForbidden applies the validation-time rules (size, secret(), no time zone names) at run time too: a
// plan that reached a worker without validation must not be able to read a secret through an expression.
func rejectForbidden(src string) error {
	if _, perr := Parse(src); perr != nil {
		return fmt.Errorf("compiling expression %s: %s", quoteShort(src), perr.Message)
	}
	return nil
}

// plainMessage drops expr's "(1:5)\n | source\n | ....^" decoration, which makes no sense in a run's status.
func plainMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}

func quoteShort(src string) string {
	const max = 80
	if len(src) > max {
		src = src[:max] + "…"
	}
	return strconv.Quote(src)
}

// FormatTime writes a time the way the vendor API and the run records expect it: RFC 3339 in UTC, with
// milliseconds only when there are any (2026-01-02T03:04:05Z, 2026-01-02T03:04:05.120Z).
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}

// Plain converts an evaluation result into a JSON-like value: times become RFC 3339 strings (UTC),
// durations their text (1h30m0s), other slices []any and other maps map[string]any; NaN and infinities,
// which JSON cannot carry, become null. Values that are already plain are returned as they are, uncopied.
// It is DialectOriginal's conversion (an empty []any(nil) stays nil); an Engine converts in its own dialect.
func Plain(v any) any { return plainWith(v, plainOpts{}) }

// plainOpts are the dialects' differences in making a value plain.
type plainOpts struct {
	// emptyLists makes nil slices and maps empty ones, so they stay a list (a map) through JSON.
	emptyLists bool
	// keepTimes leaves times and durations as they are (vars and set keep the type of what they hold).
	keepTimes bool
}

func (e *Engine) plainOpts() plainOpts { return plainOpts{emptyLists: e.dialect >= DialectTyped} }

func (e *Engine) plain(v any) any { return plainWith(v, e.plainOpts()) }

func plainWith(v any, o plainOpts) any {
	if isPlain(v, o) {
		return v
	}
	switch x := v.(type) {
	case float64:
		return nil // NaN or infinite
	case time.Time:
		if o.keepTimes {
			return x.UTC()
		}
		return FormatTime(x)
	case time.Duration:
		if o.keepTimes {
			return x
		}
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		//workflowcheck:ignore map order: each value is converted on its own
		for k, e := range x {
			out[k] = plainWith(e, o)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainWith(e, o)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = plainWith(rv.Index(i).Interface(), o)
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			out := make(map[string]any, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				out[it.Key().String()] = plainWith(it.Value().Interface(), o)
			}
			return out
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint())
	case reflect.Float32:
		return plainWith(rv.Float(), o)
	}
	return fmt.Sprint(v)
}

func isPlain(v any, o plainOpts) bool {
	switch x := v.(type) {
	case nil, string, bool, int, int64:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case time.Time:
		return o.keepTimes && x.Location() == time.UTC
	case time.Duration:
		return o.keepTimes
	case map[string]any:
		if x == nil && o.emptyLists {
			return false
		}
		//workflowcheck:ignore map order: a pure check of every value: the answer does not depend on the order
		for _, e := range x {
			if !isPlain(e, o) {
				return false
			}
		}
		return true
	case []any:
		if x == nil && o.emptyLists {
			return false
		}
		for _, e := range x {
			if !isPlain(e, o) {
				return false
			}
		}
		return true
	}
	return false
}
