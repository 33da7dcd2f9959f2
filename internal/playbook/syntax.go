package playbook

import (
	"regexp"

	"github.com/parry-soar/parry/internal/plan"
)

var (
	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	idRE    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

var (
	topKeys      = []string{"name", "description", "on", "inputs", "vars", "steps", "output", "on_failure", "timeout"}
	onKeys       = []string{"alert", "schedule"}
	scheduleKeys = []string{"cron", "timezone", "every", "with"}
	alertKeys    = []string{"when", "dedup"}
	dedupKeys    = []string{"key", "window"}
	inputKeys    = []string{"type", "required", "default", "from", "description", "enum"}
	kindKeys     = []string{"action", "parallel", "call", "approval", "wait", "set", "finish", "fail", "steps"}
	waitKeys     = []string{"until"}
	modifierKeys = []string{"if", "with", "next", "for_each", "as", "concurrency", "until", "every", "max_attempts", "retry", "timeout", "on_error"}
	stepKeys     = append(append([]string{"id", "name"}, kindKeys...), modifierKeys...)
	approvalKeys = []string{"prompt", "approvers", "timeout", "on_timeout", "notify"}
	finishKeys   = []string{"status", "output"}
	retryKeys    = []string{"max_attempts", "initial_interval", "backoff", "max_interval", "delay", "non_retryable"}
	nextKeys     = []string{"if", "goto"}
	onErrorKeys  = []string{"goto"}
	inputTypes   = []string{"string", "int", "number", "bool", "list", "object", "any"}
	onTimeouts   = []string{"approve", "reject", "fail"}
)

// conditionWords are keys other languages use for a condition (Ansible, and GitHub Actions' habit of
// "when"): an unknown one of them suggests if.
var conditionWords = map[string]string{"when": "if", "condition": "if"}

// allowedModifiers says which modifiers make sense on which kind of step.
var allowedModifiers = map[string][]plan.Kind{
	"with":         {plan.KindAction, plan.KindCall},
	"for_each":     {plan.KindAction, plan.KindCall, plan.KindSteps},
	"as":           {plan.KindAction, plan.KindCall, plan.KindSteps},
	"concurrency":  {plan.KindAction, plan.KindCall, plan.KindSteps},
	"until":        {plan.KindAction, plan.KindCall},
	"every":        {plan.KindAction, plan.KindCall},
	"max_attempts": {plan.KindAction, plan.KindCall},
	"retry":        {plan.KindAction},
	"timeout":      {plan.KindAction, plan.KindCall},
	"next":         {plan.KindAction, plan.KindParallel, plan.KindCall, plan.KindApproval, plan.KindWait, plan.KindSet, plan.KindSteps},
	"on_error":     {plan.KindAction, plan.KindParallel, plan.KindCall, plan.KindApproval, plan.KindWait, plan.KindSet, plan.KindSteps},
}

// bodyKinds are the kinds a loop body's steps may have: what one item's work is made of. A body holds no
// loop, parallel, set (vars are the run's, shared by items running at once) or finish of its own.
var bodyKinds = []plan.Kind{plan.KindAction, plan.KindCall, plan.KindApproval, plan.KindWait, plan.KindFail}
