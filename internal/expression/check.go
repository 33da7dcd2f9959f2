package expression

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"

	"github.com/parry-soar/parry/internal/suggest"
)

// Type describes the static shape of a value in a typed scope.
type Type = types.Type

// Types for building scopes.
var (
	String = types.String
	Int    = types.Int
	Float  = types.Float64
	Bool   = types.Bool
	Any    = types.Any
	Nil    = types.Nil
)

// List is a list of elem.
func List(elem Type) Type { return types.Array(elem) }

// Object is a map with exactly these keys: reading any other key is a type error (with a did-you-mean).
func Object(fields map[string]Type) Type { return types.Map(fields) }

// OpenObject is a map with these keys and possibly others of unknown type.
func OpenObject(fields map[string]Type) Type {
	m := maps.Clone(fields)
	if m == nil {
		m = map[string]Type{}
	}
	m[types.Extra] = types.Any
	return types.Map(m)
}

// GrowingObject is an object type that gains fields after the scopes that use it are built. Vars are typed
// in order, each seeing only the ones above it: one GrowingObject in one scope, grown as each var is checked,
// costs a field per var, where a new scope per var would cost all the vars before it.
type GrowingObject struct{ nt nature.Nature }

// NewGrowingObject returns an object type without fields.
func NewGrowingObject() *GrowingObject { return &GrowingObject{nt: types.Map{}.Nature()} }

// Add gives the object a field (or changes its type); every scope holding the object sees it at once.
func (g *GrowingObject) Add(name string, t Type) { g.nt.Fields[name] = t.Nature() }

// Type is the object's type, to put into a scope.
func (g *GrowingObject) Type() Type { return natureType{nt: g.nt} }

// Error is a problem in an expression at a character (rune) offset of its source.
type Error struct {
	Offset  int
	Message string
	// UnknownName is set when the problem is a name the scope does not have (UnknownNames lists them all).
	UnknownName bool
}

func (e *Error) Error() string { return e.Message }

// Parsed is a syntactically valid expression that passed the size and safety rules.
type Parsed struct {
	Source string
	tree   *parser.Tree
	refs   []Ref
}

// fnTable is built once: the functions' checker descriptions never change.
var fnTable = sync.OnceValue(func() *conf.Config {
	c := conf.CreateNew()
	for _, o := range runtimeOptions(CurrentDialect, newRegexpCache()) {
		o(c)
	}
	for name := range c.Disabled {
		delete(c.Builtins, name)
	}
	c.MaxNodes = MaxNodes
	return c
})

// parseConfig is a config for the parser, which only reads the function and builtin tables (and may write to
// the type cache, hence one per Parser).
func parseConfig() *conf.Config {
	t := fnTable()
	return &conf.Config{Functions: t.Functions, Builtins: t.Builtins, Disabled: t.Disabled, MaxNodes: MaxNodes}
}

// Parser parses expressions for validation and remembers the results by source, since playbooks repeat
// expressions (inputs.sender in every step). Not safe for concurrent use.
type Parser struct {
	cfg   *conf.Config
	cache map[string]parseResult
}

type parseResult struct {
	p   *Parsed
	err *Error
}

// NewParser returns an empty parser.
func NewParser() *Parser { return &Parser{cfg: parseConfig(), cache: map[string]parseResult{}} }

// Parse is the package's Parse, cached.
func (ps *Parser) Parse(src string) (*Parsed, *Error) {
	if r, ok := ps.cache[src]; ok {
		return r.p, r.err
	}
	p, err := parse(src, ps.cfg)
	ps.cache[src] = parseResult{p, err}
	return p, err
}

// Parse checks syntax, size and the rules every expression obeys wherever it appears: no secret() (a secret
// must never pass through an expression), no time zone names (not deterministic across hosts).
func Parse(src string) (*Parsed, *Error) { return parse(src, parseConfig()) }

func parse(src string, cfg *conf.Config) (*Parsed, *Error) {
	if len(src) > MaxSourceBytes {
		return nil, &Error{Message: fmt.Sprintf("expression is %d bytes long; the limit is %d", len(src), MaxSourceBytes)}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Message: "empty expression"}
	}
	tree, err := parser.ParseWithConfig(rewriteCalls(src), cfg)
	if err != nil {
		fe := fileError(err)
		fe.Message = restoreNames(fe.Message) + braceHint(src, fe.Offset)
		return nil, fe
	}
	var problem *Error
	ast.Walk(&tree.Node, visitor(func(n ast.Node) {
		if problem != nil {
			return
		}
		switch n := n.(type) {
		case *ast.CallNode:
			if id, ok := n.Callee.(*ast.IdentifierNode); ok {
				switch name := restoreNames(id.Value); {
				case name == "secret":
					problem = &Error{Offset: n.Location().From, Message: SecretInExpressionMessage}
				case name == "timezone":
					problem = &Error{Offset: n.Location().From, Message: "timezone() is not available: times are UTC"}
				case regexFunctions[name] && len(n.Arguments) >= 2:
					if lit, ok := n.Arguments[1].(*ast.StringNode); ok {
						if _, err := CompileRegex(lit.Value); err != nil {
							problem = &Error{Offset: lit.Location().From, Message: name + "(): " + err.Error()}
						}
					}
				case (name == "format_time" || name == "parse_time") && len(n.Arguments) >= 2:
					if lit, ok := n.Arguments[1].(*ast.StringNode); ok {
						msg := CheckLayout(lit.Value)
						if msg == "" && name == "parse_time" && lit.Value != "%s" {
							if _, err := parseLayout(lit.Value); err != nil {
								msg = err.Error()
							}
						}
						if msg != "" {
							problem = &Error{Offset: lit.Location().From, Message: name + "(): " + msg}
						}
					}
				}
			}
		case *ast.BinaryNode:
			if n.Operator == "matches" {
				if lit, ok := n.Right.(*ast.StringNode); ok {
					if _, err := CompileRegex(lit.Value); err != nil {
						problem = &Error{Offset: lit.Location().From, Message: "matches: " + err.Error()}
					}
				}
			}
		case *ast.BuiltinNode:
			if n.Name == "date" && len(n.Arguments) == 3 {
				problem = &Error{Offset: n.Location().From, Message: "date() with a time zone name is not available: times are UTC (use date(value, layout))"}
			}
		}
	}))
	if problem != nil {
		return nil, problem
	}
	return &Parsed{Source: src, tree: tree}, nil
}

// SecretInExpressionMessage explains why secret() appears only as a whole `with` value.
const SecretInExpressionMessage = `secret() cannot be used inside an expression: a secret's value must never pass through expressions or run history; write it as the whole value of a "with" key, like password: secret("name")`

type visitor func(ast.Node)

func (v visitor) Visit(n *ast.Node) { v(*n) }

// braceHint explains the usual cause of a syntax error at rune offset off: a map literal given as an
// argument of map(), filter() and the other predicate builtins, where expr reads { as the start of a
// predicate ({# + 1}), so the map's first ":" is unexpected. It returns "" for any other error.
func braceHint(src string, off int) string {
	rs := []rune(src)
	if off < 0 || off >= len(rs) || rs[off] != ':' {
		return ""
	}
	// The brackets open at off, outermost first, skipping string literals.
	type open struct {
		r   rune
		pos int
	}
	var stack []open
	for i := 0; i < off; i++ {
		switch c := rs[i]; c {
		case '"', '\'', '`':
			for i++; i < off && rs[i] != c; i++ {
				if rs[i] == '\\' && c != '`' {
					i++
				}
			}
		case '(', '[', '{':
			stack = append(stack, open{c, i})
		case ')', ']', '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) < 2 || stack[len(stack)-1].r != '{' || stack[len(stack)-2].r != '(' {
		return ""
	}
	brace, paren := stack[len(stack)-1].pos, stack[len(stack)-2].pos
	prev := strings.TrimSpace(string(rs[paren+1 : brace]))
	if prev != "" && !strings.HasSuffix(prev, ",") {
		return ""
	}
	fn := strings.TrimSpace(string(rs[:paren]))
	for i := len(fn) - 1; i >= 0; i-- {
		if c := fn[i]; !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			fn = fn[i+1:]
			break
		}
	}
	if fn == "" {
		return ""
	}
	literal := "{...}"
	depth := 0
	for i := brace; i < len(rs); i++ {
		switch rs[i] {
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth == 0 {
			if i-brace < 60 {
				literal = string(rs[brace : i+1])
			}
			break
		}
	}
	return fmt.Sprintf(" (in %s(), { starts a predicate such as {# + 1}, not a map: write the map in parentheses, (%s))", fn, literal)
}

func fileError(err error) *Error {
	if fe, ok := err.(*file.Error); ok {
		msg := fe.Message
		if strings.Contains(msg, "exceeds maximum allowed nodes") {
			msg = fmt.Sprintf("expression is too complex (more than %d parts); split it with vars or steps", MaxNodes)
		}
		return &Error{Offset: fe.From, Message: msg}
	}
	return &Error{Message: err.Error()}
}

// Ref is a static access path in an expression: steps.sweep.output.mails → Root "steps", Fields
// ["sweep", "output", "mails"], with the offset of the root and of each field.
type Ref struct {
	Root       string
	RootOffset int
	Fields     []string
	Offsets    []int
}

// Refs lists the names the expression reads from its scope, with the longest static field path after each,
// in source order. Closure variables (# and .field) are not listed.
func (p *Parsed) Refs() []Ref {
	if p.refs != nil {
		return p.refs
	}
	type entry struct {
		id  *ast.IdentifierNode
		ref Ref
	}
	var entries []entry
	var callees []*ast.IdentifierNode
	find := func(id *ast.IdentifierNode) int {
		for i := range entries {
			if entries[i].id == id {
				return i
			}
		}
		entries = append(entries, entry{id: id, ref: Ref{Root: id.Value, RootOffset: id.Location().From}})
		return len(entries) - 1
	}
	// ast.Walk visits children first, so collect the member nodes and handle only the outermost of each
	// chain (steps.a.output.b is four nested member nodes, one path).
	var members []*ast.MemberNode
	var inner []*ast.MemberNode
	ast.Walk(&p.tree.Node, visitor(func(n ast.Node) {
		switch n := n.(type) {
		case *ast.CallNode:
			if id, ok := n.Callee.(*ast.IdentifierNode); ok {
				callees = append(callees, id)
			}
		case *ast.IdentifierNode:
			find(n)
		case *ast.MemberNode:
			members = append(members, n)
			base := n.Node
			if ch, ok := base.(*ast.ChainNode); ok {
				base = ch.Node
			}
			if m, ok := base.(*ast.MemberNode); ok {
				inner = append(inner, m)
			}
		}
	}))
	for _, n := range members {
		if slices.Contains(inner, n) {
			continue
		}
		var fields []string
		var offsets []int
		var cur ast.Node = n
		for {
			if ch, ok := cur.(*ast.ChainNode); ok {
				cur = ch.Node
				continue
			}
			m, ok := cur.(*ast.MemberNode)
			if !ok {
				break
			}
			if s, ok := m.Property.(*ast.StringNode); ok {
				fields = append(fields, s.Value)
				offsets = append(offsets, s.Location().From)
			} else {
				fields, offsets = fields[:0], offsets[:0] // a computed index: only the part before it is static
			}
			cur = m.Node
		}
		id, ok := cur.(*ast.IdentifierNode)
		if !ok {
			continue
		}
		i := find(id)
		if len(fields) > len(entries[i].ref.Fields) {
			slices.Reverse(fields)
			slices.Reverse(offsets)
			entries[i].ref.Fields, entries[i].ref.Offsets = fields, offsets
		}
	}
	refs := make([]Ref, 0, len(entries))
	for _, e := range entries {
		if !slices.Contains(callees, e.id) && e.id.Value != "$env" {
			refs = append(refs, e.ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].RootOffset < refs[j].RootOffset })
	p.refs = refs
	return refs
}

// Env is a typed scope to check expressions against. Build one per playbook with NewEnv and derive the
// variants of each place (loop variables, output in until, error in on_failure) with With, which is cheap.
// An Env is not safe for concurrent use.
type Env struct {
	cfg *conf.Config
}

// NewEnv returns a strict scope with the given top-level names (now() is always there).
func NewEnv(fields map[string]Type) *Env {
	t := fnTable()
	c := &conf.Config{
		Functions: t.Functions, Builtins: t.Builtins, Disabled: t.Disabled, MaxNodes: MaxNodes,
		ConstFns: map[string]reflect.Value{}, Strict: true,
	}
	m := maps.Clone(fields)
	if m == nil {
		m = map[string]Type{}
	}
	m[ScopeNow] = types.TypeOf(func() time.Time { return time.Time{} })
	c.Env = types.Map(m).Nature()
	return &Env{cfg: c}
}

// With returns a scope with extra (or replaced) top-level names.
func (e *Env) With(fields map[string]Type) *Env {
	c := *e.cfg
	nt := c.Env
	td := *nt.TypeData
	td.Fields = maps.Clone(td.Fields)
	for k, v := range fields {
		td.Fields[k] = v.Nature()
	}
	nt.TypeData = &td
	c.Env = nt
	c.NtCache = nature.Cache{}
	return &Env{cfg: &c}
}

func (e *Env) collectNames() []string {
	var names []string
	for k := range e.cfg.Env.Fields {
		names = append(names, k)
	}
	for k := range e.cfg.Functions {
		names = append(names, restoreNames(k))
	}
	for k := range e.cfg.Builtins {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Has reports whether name is a top-level name of the scope.
func (e *Env) Has(name string) bool {
	_, ok := e.cfg.Env.Fields[name]
	return ok
}

// IsFunction reports whether name is a function or builtin an expression can call.
func IsFunction(name string) bool {
	t := fnTable()
	_, f := t.Functions[name]
	_, b := t.Builtins[name]
	return f || b || name == ScopeNow || name == "secret" || name == "matches"
}

// UnknownNames reports every name the expression reads that is not in the scope, each with a did-you-mean,
// in source order: the type checker stops at the first. Names a let declares, functions and the # of
// predicates are not names of the scope.
func (e *Env) UnknownNames(p *Parsed) []*Error {
	declared := map[string]bool{}
	var callees []*ast.IdentifierNode
	ast.Walk(&p.tree.Node, visitor(func(n ast.Node) {
		switch n := n.(type) {
		case *ast.VariableDeclaratorNode:
			declared[n.Name] = true
		case *ast.CallNode:
			if id, ok := n.Callee.(*ast.IdentifierNode); ok {
				callees = append(callees, id)
			}
		}
	}))
	var out []*Error
	var names []string
	ast.Walk(&p.tree.Node, visitor(func(n ast.Node) {
		id, ok := n.(*ast.IdentifierNode)
		if !ok || declared[id.Value] || e.Has(id.Value) || id.Value == "$env" || slices.Contains(callees, id) {
			return
		}
		if names == nil {
			names = e.collectNames()
		}
		out = append(out, &Error{Offset: id.Location().From, Message: fmt.Sprintf("unknown name %q%s", id.Value, suggest.Hint(id.Value, names))})
	}))
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

// Check type-checks a parsed expression. The returned TypeInfo says what the expression evaluates to.
func (e *Env) Check(p *Parsed) (TypeInfo, *Error) {
	var ck checker.Checker
	_, err := ck.Check(p.tree, e.cfg)
	if err != nil {
		fe := fileError(err)
		fe.UnknownName = unknownNameRE.MatchString(fe.Message)
		fe.Message = restoreNames(e.improve(p, fe))
		return TypeInfo{}, fe
	}
	return TypeInfo{nt: *p.tree.Node.Nature()}, nil
}

var (
	unknownNameRE  = regexp.MustCompile(`^unknown name (\S+)$`)
	unknownFieldRE = regexp.MustCompile(`^unknown field (\S+)$`)
)

// improve rewrites the checker's terse messages for unknown names and fields, adding a did-you-mean.
func (e *Env) improve(p *Parsed, fe *Error) string {
	if m := unknownNameRE.FindStringSubmatch(fe.Message); m != nil {
		return fmt.Sprintf("unknown name %q%s", m[1], suggest.Hint(m[1], e.collectNames()))
	}
	if m := unknownFieldRE.FindStringSubmatch(fe.Message); m != nil {
		var fields []string
		ast.Walk(&p.tree.Node, visitor(func(n ast.Node) {
			mn, ok := n.(*ast.MemberNode)
			if !ok || fields != nil {
				return
			}
			if s, ok := mn.Property.(*ast.StringNode); ok && s.Value == m[1] && s.Location().From == fe.Offset {
				base := mn.Node.Nature()
				if base != nil && base.TypeData != nil {
					fields = slices.Sorted(maps.Keys(base.Fields))
					if fields == nil {
						fields = []string{}
					}
				}
			}
		}))
		msg := fmt.Sprintf("unknown field %q", m[1])
		if len(fields) > 0 {
			if h := suggest.Hint(m[1], fields); h != "" {
				return msg + h
			}
			if len(fields) <= 8 {
				return msg + " (known fields: " + strings.Join(fields, ", ") + ")"
			}
		}
		return msg
	}
	return fe.Message
}

// TypeInfo is the static type of a checked expression.
type TypeInfo struct {
	nt nature.Nature
}

// Unknown reports whether nothing is known statically (alert data, http bodies): anything may come.
func (t TypeInfo) Unknown() bool {
	return t.nt.Type == nil && !t.nt.Nil || t.nt.Kind == reflect.Interface
}

// IsNil reports whether the expression is the literal nil.
func (t TypeInfo) IsNil() bool { return t.nt.Nil }

// IsBool, IsString, IsInteger, IsNumber, IsList and IsMap describe known types.
func (t TypeInfo) IsBool() bool    { return t.nt.Kind == reflect.Bool }
func (t TypeInfo) IsString() bool  { return t.nt.Kind == reflect.String }
func (t TypeInfo) IsInteger() bool { return t.nt.IsInteger }
func (t TypeInfo) IsNumber() bool  { return t.nt.IsInteger || t.nt.IsFloat }
func (t TypeInfo) IsList() bool {
	return t.nt.Kind == reflect.Slice || t.nt.Kind == reflect.Array
}
func (t TypeInfo) IsMap() bool {
	return t.nt.Kind == reflect.Map || t.nt.Kind == reflect.Struct && !t.nt.IsTime()
}
func (t TypeInfo) IsTime() bool { return t.nt.IsTime() }

// IsDuration reports a duration (duration("1h"), a difference of times).
func (t TypeInfo) IsDuration() bool { return t.nt.IsDuration() }

// MayBeNull reports whether the expression can give null at run time: it reads a field or an index (null
// when what it reads is missing or null, since reading a field of null is null), reads a name (inputs,
// vars and loop items may be null), or has nil, a ?: or a ?? in it. Only expressions built from literals and
// function calls on them are sure to give a value.
func (p *Parsed) MayBeNull() bool {
	maybe := false
	var callees []*ast.IdentifierNode
	ast.Walk(&p.tree.Node, visitor(func(n ast.Node) {
		if c, ok := n.(*ast.CallNode); ok {
			if id, ok := c.Callee.(*ast.IdentifierNode); ok {
				callees = append(callees, id)
			}
		}
	}))
	ast.Walk(&p.tree.Node, visitor(func(n ast.Node) {
		switch n := n.(type) {
		case *ast.IdentifierNode:
			if !slices.Contains(callees, n) {
				maybe = true
			}
		case *ast.NilNode, *ast.MemberNode, *ast.ConditionalNode:
			maybe = true
		case *ast.BinaryNode:
			if n.Operator == "??" {
				maybe = true
			}
		}
	}))
	return maybe
}

// Elem is the element type of a list (unknown when not a list or not known).
func (t TypeInfo) Elem() TypeInfo {
	if !t.IsList() {
		return TypeInfo{}
	}
	var c nature.Cache
	return TypeInfo{nt: t.nt.Elem(&c)}
}

// Describe names the type for messages: "a string", "a list", "a number", "a map", "a time", "nil".
func (t TypeInfo) Describe() string {
	switch {
	case t.Unknown():
		return "a value of unknown type"
	case t.nt.Nil:
		return "nil"
	case t.IsBool():
		return "a boolean"
	case t.IsString():
		return "a string"
	case t.nt.IsInteger:
		return "a whole number"
	case t.nt.IsFloat:
		return "a number"
	case t.IsList():
		return "a list"
	case t.nt.IsTime():
		return "a time"
	case t.nt.IsDuration():
		return "a duration"
	case t.IsMap():
		return "a map"
	case t.nt.Kind == reflect.Func:
		return "a function"
	}
	return t.nt.String()
}

// natureType is a Type whose nature is computed once: scopes reuse action output types across hundreds of
// steps, and the checker would otherwise rebuild them for every Env.
type natureType struct{ nt nature.Nature }

func (n natureType) Nature() nature.Nature { return n.nt }
func (n natureType) Equal(t types.Type) bool {
	return t == types.Any || t.Nature().Type == n.nt.Type && t.Nature().Kind == n.nt.Kind
}
func (n natureType) String() string { return n.nt.String() }

// Cached returns t with its checker description computed once.
func Cached(t Type) Type {
	if c, ok := t.(natureType); ok {
		return c
	}
	return natureType{nt: t.Nature()}
}

// Type turns the static type of a checked expression back into a Type, to put it in a scope (a var's type
// is its expression's type).
func (t TypeInfo) Type() Type {
	if t.Unknown() {
		return Any
	}
	return natureType(t)
}

// Info describes a Type.
func Info(t Type) TypeInfo { return TypeInfo{nt: t.Nature()} }
