package playbook

import (
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Playbook is a parsed playbook: every value keeps its YAML node, so later passes can report positions.
type Playbook struct {
	File   string
	Src    *yamlnode.Source
	SHA256 string

	Name        string
	NameNode    *yaml.Node
	Description string
	Trigger     *Trigger
	Inputs      []*Input
	Vars        []*Var
	Steps       []*Step
	Output      *yaml.Node // mapping of templates, or nil
	OnFailure   []*Step
	Timeout     time.Duration
	Schedules   []*Schedule

	// stepCount counts every step (branches and on_failure included), for the size limit.
	stepCount int
}

// Trigger is on.alert.
type Trigger struct {
	When        *Expr
	DedupKey    *Expr
	DedupWindow time.Duration
}

// Schedule is one entry of on.schedule.
type Schedule struct {
	Node     *yaml.Node
	Cron     string
	CronNode *yaml.Node
	Timezone string
	Every    time.Duration
	With     *yaml.Node // mapping of plain values, or nil
}

// Input is one declared input.
type Input struct {
	Name        string
	Key         *yaml.Node
	Type        string
	TypeNode    *yaml.Node
	Required    bool
	Default     *yaml.Node
	From        *Expr
	Description string
	Enum        []*yaml.Node
	EnumNode    *yaml.Node
}

// Var is a name bound to a value node (vars, set).
type Var struct {
	Name  string
	Key   *yaml.Node
	Value *yaml.Node
}

// Expr is a bare expression inside a scalar: Src starts at rune Offset of Node's value (non-zero when the
// author wrapped a condition in ${{ }}).
type Expr struct {
	Src    string
	Node   *yaml.Node
	Offset int
}

// Step is one step of any kind.
type Step struct {
	Node    *yaml.Node
	ID      string
	IDNode  *yaml.Node
	Name    string
	Kind    plan.Kind
	KindKey *yaml.Node // the key that set the kind (action:, parallel:, ...)

	If *Expr

	Action     string
	ActionNode *yaml.Node
	With       *yaml.Node // mapping (action, call)
	WithKey    *yaml.Node
	Call       string
	CallNode   *yaml.Node
	Branches   []*Branch
	Approval   *Approval
	Wait       time.Duration
	WaitExpr   *yaml.Node // wait: ${{ }}
	WaitUntil  *yaml.Node // wait: {until: ${{ }}}
	Set        []*Var
	Body       []*Step // steps: a loop body
	bodyList   *stepList
	Finish     *Finish
	Fail       *yaml.Node

	ForEach     *yaml.Node // a template string or a literal list
	As          string
	AsNode      *yaml.Node
	Concurrency int
	Until       *Expr
	Every       time.Duration
	MaxAttempts int
	Retry       *RetryOverride
	Timeout     time.Duration
	TimeoutExpr *yaml.Node
	EveryExpr   *yaml.Node
	OnError     plan.OnError
	OnErrorGoto *yaml.Node
	Next        []*NextRule

	// Where the step sits: its list, its index there, and the parallel or loop step around it (nil at the
	// top level). inOnFailure marks the on_failure list and everything inside it.
	list        *stepList
	index       int
	parent      *Step
	inOnFailure bool
	// broken marks a step with an error in it (a misspelt key, a jump to nowhere): where its flow goes is
	// not known, so what follows it gets no warnings that would only repeat that error.
	broken bool
}

// stepList is one ordered list of steps: the top level, on_failure, a parallel branch or a loop body.
type stepList struct {
	name   string // "steps", "on_failure", "branch NAME of step ID" or "body of loop ID"
	steps  []*Step
	parent *Step // the parallel step, for branches; the loop step, for a body
	branch string
	body   bool // a loop body: its steps run once per item
}

// Branch is a named list of steps in a parallel step.
type Branch struct {
	Name  string
	Key   *yaml.Node
	Steps []*Step
	list  *stepList
}

// Approval is an approval step's settings.
type Approval struct {
	Prompt      *yaml.Node
	Approvers   []string
	Timeout     time.Duration
	TimeoutExpr *yaml.Node
	OnTimeout   string
	// Notify is the chat webhook (of notify.webhooks) the prompt is posted to when the approval starts
	// waiting; "" for none.
	Notify     string
	NotifyNode *yaml.Node
}

// Finish is a finish step's settings.
type Finish struct {
	Status string
	Output *yaml.Node
}

// RetryOverride holds the retry keys a step sets; nil fields keep the action's default.
type RetryOverride struct {
	MaxAttempts     *int
	InitialInterval *time.Duration
	Backoff         *float64
	MaxInterval     *time.Duration
	Delay           *time.Duration
	DelayExpr       *yaml.Node
	NonRetryable    []string
}

// NextRule is one `next` rule; If is nil for an unconditional jump.
type NextRule struct {
	If       *Expr
	Goto     string
	GotoNode *yaml.Node
}
