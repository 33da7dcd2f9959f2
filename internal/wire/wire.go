// Package wire is the one definition of what crosses between the Playbook workflow and the action activities:
// the activity input and result, the run an activity works for, and the closed set of error types that
// activities return and playbooks branch on (steps.ID.error.type, retry.non_retryable). The interpreter
// (workflows), the activities, parry test's mocks and the run views all use these types and names; none of
// them defines its own copy.
//
// It is a leaf: it imports nothing of parry but the plan (for secret references), so that workflow code can
// depend on it without reaching I/O.
package wire

import (
	"encoding/json"
	"time"

	"github.com/parry-soar/parry/internal/plan"
)

// ActionInput is what every action activity receives.
type ActionInput struct {
	Run RunInfo `json:"run"`
	// Step is the step id, id#N inside for_each loops (the activity's ActivityID).
	Step string `json:"step"`
	// With is the evaluated `with`, secrets not yet filled in.
	With map[string]any `json:"with"`
	// Secrets say which values of With are which secrets: paths and names, never values. The worker fills
	// them in.
	Secrets []plan.SecretRef `json:"secrets,omitempty"`
}

// RunInfo identifies the run an activity works for (audit rows, artifacts, the mitigation ledger).
type RunInfo struct {
	ID       string `json:"id"`
	Playbook string `json:"playbook"`
	Version  int    `json:"version,omitempty"`
	SHA256   string `json:"sha256"`
}

// ActionResult is what every action activity returns: the spec's output as JSON and the attempt that
// produced it.
type ActionResult struct {
	Output  json.RawMessage `json:"output"`
	Attempt int             `json:"attempt"`
}

// QuotaWait is what an action activity heartbeats, as the second heartbeat detail (after its own progress),
// while it sleeps for a slot of its connection's vendor quota inside an attempt: the run's view reads it to
// say that the step waits for the quota, and until when.
type QuotaWait struct {
	Connection string    `json:"connection"`
	Until      time.Time `json:"until"`
}
