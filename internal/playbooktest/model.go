// Package playbooktest runs the offline tests of playbooks: NAME.test.yaml files beside NAME.yaml that hold
// cases (an alert and/or inputs, mocked actions, answers to approvals) and what each case expects (run status,
// step statuses, expressions over the result, the actions called and with what).
//
// A case runs the real interpreter (workflows.Playbook) on Temporal's test environment with time skipping: no
// server, no vendor, milliseconds per case, and timers, approvals' timeouts, retries' back-offs and until/every
// polling all take no wall time. Test files are decoded with yamlnode, so every mistake in one is reported as
// file:line:col with a did-you-mean, like the playbook linter's diagnostics.
package playbooktest

import (
	"encoding/json"
	"time"

	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Diagnostic is a problem in a test file or in a playbook it tests.
type Diagnostic = yamlnode.Diagnostic

// File is a loaded, validated test file, ready to run.
type File struct {
	// Path is the test file as named on the command line or found in a directory.
	Path string
	// Playbook is the path of the playbook under test.
	Playbook string
	plan     *plan.Plan
	planJSON json.RawMessage
	// plans are the playbook under test and those listed under playbooks, by name.
	plans    map[string]*plan.Plan
	subplans map[string]json.RawMessage
	Cases    []*Case
}

// Name is the name of the playbook under test.
func (f *File) Name() string { return f.plan.Name }

// Case is one test case.
type Case struct {
	Name   string
	line   int
	Inputs map[string]any
	Alert  map[string]any
	// Schedule is the index of the on.schedule entry the case's run is started by (its with are the inputs
	// the case's own inputs override), nil for a manual or alert run.
	Schedule *int
	Now      time.Time
	// mocks are the case's own, then the file's: the first level that has a mock for a call answers it.
	mocks     []map[string]*mock
	approvals map[string]answer
	expect    expectations
}

// mock answers the calls of one step (or step item, or action).
type mock struct {
	key    string
	action string // the action whose output shape the replies have
	// replies answer the first, second, ... call of the same step execution (its until repeats and
	// Temporal retries); the last one answers every call after that.
	replies []reply
}

// reply is one answer of a mock: an output or an error.
type reply struct {
	output json.RawMessage
	err    *mockError
}

type mockError struct {
	Type    string
	Message string
}

// Approval decisions.
const (
	decisionApprove = "approve"
	decisionReject  = "reject"
	decisionTimeout = "timeout"
)

var decisions = []string{decisionApprove, decisionReject, decisionTimeout}

// answer is what the case decides for an approval step.
type answer struct {
	decision string
	by       string
	roles    []string // the roles the decider holds, matched against role:R approvers
	comment  string
	line     int
}

// NotRun is the expected status of a step that has no record: the run never reached it.
const NotRun = "not_run"

// stepStatuses are the statuses an expectation may name.
var stepStatuses = []string{"succeeded", "failed", "skipped", "cancelled", NotRun}

// expectations are what a case checks after the run.
type expectations struct {
	status     string
	statusLine int
	err        *errorExpect
	steps      []stepExpect
	output     map[string]any
	outputLine int
	asserts    []assertion
	calls      []callExpect
}

type errorExpect struct {
	step, path, typ, message string
	line                     int
}

type stepExpect struct {
	id, status string
	line       int
}

type assertion struct {
	src  string
	line int
}

// callExpect checks the calls of a step or of an action.
type callExpect struct {
	step   string // a step id, or id#N for one for_each item
	action string
	with   map[string]any // partial: only these keys are compared
	times  int            // -1: at least once
	line   int
}

// Run statuses a case can expect besides a finish step's label.
const (
	statusSucceeded = "succeeded"
	statusFailed    = "failed"
)

// defaultStart is the start time of every run unless a case sets now: outputs that depend on the clock are then
// the same on every machine and every day.
var defaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
