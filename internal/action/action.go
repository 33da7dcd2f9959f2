// Package action is the catalog of actions a playbook step can run: one Spec per action with its inputs,
// typed outputs, default timeout and retry policy, and whether it changes state at the vendor. The same specs
// drive playbook validation, the JSON schema of the language, docs/actions.md and the activity worker.
package action

import (
	"github.com/parry-soar/parry/internal/wire"
	"slices"
	"strings"
	"time"
)

// Error types that activities return: the closed set of internal/wire, named here too because the specs'
// retry policies and the docs list them.
const (
	VendorRateLimited = wire.VendorRateLimited
	VendorUnavailable = wire.VendorUnavailable
	VendorRejected    = wire.VendorRejected
	VendorAuth        = wire.VendorAuth
	InvalidInput      = wire.InvalidInput
)

// ErrorTypes is the closed set of error types, in documentation order.
var ErrorTypes = wire.ActionErrorTypes

// nonRetryable is what every action refuses to retry.
var nonRetryable = wire.NonRetryable

// Kind is the shape of a value.
type Kind string

// Kinds.
const (
	String Kind = "string"
	Int    Kind = "int"
	Number Kind = "number"
	Bool   Kind = "bool"
	List   Kind = "list"
	Object Kind = "object"
	Any    Kind = "any"
)

// Type describes an input or output value.
type Type struct {
	Kind Kind
	// Elem is the element type of a list.
	Elem *Type
	// Fields are the known keys of an object. An object without fields takes any keys.
	Fields []Field
	// Format refines a string: see Formats.
	Format string
}

// Field is one key of an object type.
type Field struct {
	Name        string
	Type        Type
	Description string
}

// Field returns the field with the given name.
func (t Type) Field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// String renders the type the way the docs and error messages show it: string, int, list of string,
// object, list of object.
func (t Type) String() string {
	switch t.Kind {
	case List:
		if t.Elem == nil || t.Elem.Kind == Any {
			return "list"
		}
		return "list of " + t.Elem.String()
	case "":
		return "any"
	}
	return string(t.Kind)
}

// Formats lists the string formats an input can require, with how they are described in messages and docs.
var Formats = map[string]string{
	"email":    "an email address (wildcards * allowed where the vendor allows them)",
	"sha1":     "a SHA-1 hash (40 hex digits)",
	"sha256":   "a SHA-256 hash (64 hex digits)",
	"datetime": "an ISO-8601 UTC time such as 2026-01-02T03:04:05Z",
	"url":      "an absolute http or https URL",
	"ip":       "an IP address or a CIDR range",
	"uuid":     "a UUID",
}

// Input is one key of a step's `with`.
type Input struct {
	Name        string
	Type        Type
	Required    bool
	Enum        []string // allowed values of a string input
	Default     any      // JSON-like; filled into the plan when the step does not set the input
	Min, Max    *int     // bounds of an int input
	Description string
	// Secret inputs (passwords, tokens) accept only secret("name"), so their value never enters history.
	Secret bool
	// FromAlert names the field of the triggering alert that fills this input at run time when the step
	// leaves it empty (a cecp.* step acts on the tenant the alert came from). The compiler copies it into the
	// plan (plan.Action.AlertDefaults); the interpreter applies it.
	FromAlert string
}

// RetryPolicy is a Temporal retry policy.
type RetryPolicy struct {
	InitialInterval time.Duration
	Backoff         float64
	MaxInterval     time.Duration
	MaxAttempts     int // 0: unlimited, bounded by the spec's ScheduleToClose
	NonRetryable    []string
}

// Spec describes one action.
type Spec struct {
	Name        string
	Summary     string // one line
	Description string // a paragraph for the docs
	Inputs      []Input
	Output      Type // an object
	// Timeout bounds one attempt (Temporal start-to-close).
	Timeout time.Duration
	// ScheduleToClose bounds all attempts together (0: no bound beyond the retry policy).
	ScheduleToClose time.Duration
	Retry           RetryPolicy
	// Mutates says whether the action changes state outside parry (vendor mail or accounts, blocked lists,
	// an HTTP endpoint); such actions retry a bounded number of times and are audited.
	Mutates bool
	// AtLeastOne lists groups of inputs of which a step must set at least one.
	AtLeastOne [][]string
	// Exclusive lists groups of inputs of which a step may set at most one.
	Exclusive [][]string
}

// Input returns the input with the given name.
func (s *Spec) Input(name string) (*Input, bool) {
	for i := range s.Inputs {
		if s.Inputs[i].Name == name {
			return &s.Inputs[i], true
		}
	}
	return nil, false
}

// InputNames lists the input names in spec order.
func (s *Spec) InputNames() []string {
	names := make([]string, len(s.Inputs))
	for i, in := range s.Inputs {
		names[i] = in.Name
	}
	return names
}

// Catalog is a set of action specs. It is immutable once built and safe to share.
type Catalog struct {
	specs map[string]*Spec
	names []string
}

// NewCatalog builds a catalog; it panics on a duplicate name, since catalogs are built from code.
func NewCatalog(specs ...*Spec) *Catalog {
	c := &Catalog{specs: make(map[string]*Spec, len(specs))}
	for _, s := range specs {
		if _, dup := c.specs[s.Name]; dup {
			panic("action: duplicate spec " + s.Name)
		}
		c.specs[s.Name] = s
		c.names = append(c.names, s.Name)
	}
	slices.Sort(c.names)
	return c
}

// Lookup returns the spec of the named action.
func (c *Catalog) Lookup(name string) (*Spec, bool) {
	s, ok := c.specs[name]
	return s, ok
}

// Names lists the action names, sorted.
func (c *Catalog) Names() []string { return slices.Clone(c.names) }

// Specs lists the specs sorted by name.
func (c *Catalog) Specs() []*Spec {
	out := make([]*Spec, len(c.names))
	for i, n := range c.names {
		out[i] = c.specs[n]
	}
	return out
}

// Namespace returns the part of an action name before the dot (cecp, http, notify).
func Namespace(name string) string {
	ns, _, _ := strings.Cut(name, ".")
	return ns
}
