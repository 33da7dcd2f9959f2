// Package playbook turns a playbook file into a plan: it parses the YAML into an AST that keeps every
// value's position, checks it, and compiles it into the plan.Plan a run interprets. Every problem is a
// Diagnostic (file:line:col: error: message), all reported at once, sorted.
//
// One job per file:
//
//   - linter.go: the entry points (Linter: Load, LoadFile, Lint) and the options (catalog, limits, known
//     connections);
//   - discover.go: finding playbook files in directories;
//   - parse.go, parse_step.go: the structure (keys, kinds, scalar types, durations, id formats) into the AST
//     of ast.go, with the language's keys in syntax.go and its bounds in limits.go;
//   - validate.go runs the checks that need the whole playbook, one file per pass: check_ids.go (duplicate
//     ids), check_jumps.go (goto targets), check_kinds.go (actions and their input keys, call targets, loop
//     variable names), check_connections.go (connection names, when the configuration is known),
//     check_expressions.go (every expression parsed and type-checked against its scope), check_refs.go
//     (what an expression may read where), check_with.go (values against the actions' input types) and
//     check_reachable.go (steps no path reaches), with the scope's types in scope.go;
//   - compile.go: the validated AST into a plan;
//   - schema.go: the JSON Schema for editors, generated from the action catalog, apart from the checker.
//
// Drawing a plan's flow (parry graph) belongs to the plan: see plan.Graph.
package playbook
