package playbook

import (
	"time"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Limits of the language. They keep a playbook's lint time, plan size and run history bounded.
const (
	MaxFileBytes     = 1 << 20
	MaxSteps         = 500
	MaxNesting       = 4 // parallel steps inside parallel steps
	MaxForEachItems  = 1000
	MaxConcurrency   = 100
	MaxUntilAttempts = 1000
	MaxRetryAttempts = 100
	maxIDLen         = 64
)

// Limits bound the work one file can make the linter do, so that a server linting what authors push stays
// responsive whatever they push. A bound exceeded is an error whose Diagnostic.Bound names it. A zero field
// keeps its default.
type Limits struct {
	MaxBytes   int // the file's size
	MaxNodes   int // YAML nodes, an alias counting as the nodes it stands for
	MaxAliases int // YAML aliases (each one an error already: the language refuses them)
	// MaxExpressionBytes bounds one expression: a condition, or one ${{ }} of a template. It cannot be
	// raised above expression.MaxSourceBytes, which runs enforce too.
	MaxExpressionBytes int
}

// DefaultLimits are the bounds docs/playbooks.md documents.
func DefaultLimits() Limits {
	return Limits{MaxBytes: MaxFileBytes, MaxNodes: 200_000, MaxAliases: 100, MaxExpressionBytes: expression.MaxSourceBytes}
}

// BoundExpression is the Diagnostic.Bound of an expression longer than Limits.MaxExpressionBytes; the other
// bounds are yamlnode's (BoundBytes, BoundNodes, BoundAliases, BoundDepth).
const BoundExpression = "expression_bytes"

// maxDepth bounds the nesting of mappings and lists.
const maxDepth = 64

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = d.MaxNodes
	}
	if l.MaxAliases <= 0 {
		l.MaxAliases = d.MaxAliases
	}
	if l.MaxExpressionBytes <= 0 || l.MaxExpressionBytes > expression.MaxSourceBytes {
		l.MaxExpressionBytes = d.MaxExpressionBytes
	}
	return l
}

func (l Limits) yaml() yamlnode.Limits {
	return yamlnode.Limits{MaxBytes: l.MaxBytes, MaxDepth: maxDepth, MaxNodes: l.MaxNodes, MaxAliases: l.MaxAliases}
}

// Defaults the language documents.
const (
	DefaultRunTimeout      = 24 * time.Hour
	DefaultDedupWindow     = time.Hour
	DefaultApprovalTimeout = 24 * time.Hour
	DefaultEvery           = time.Minute
	DefaultUntilAttempts   = 10
	DefaultAs              = "item"
)
