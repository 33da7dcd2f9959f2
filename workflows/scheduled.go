package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the workflow a playbook's schedule fires.
const (
	// ScheduledRunWorkflow is what a playbook's Temporal Schedule starts at each fire: it starts the run through
	// parry's normal run recording and waits for it to end, so that the schedule's overlap policy (skip) sees
	// a run still going.
	ScheduledRunWorkflow = "ScheduledRun"
	// ActivityStartScheduledRun records and starts the run of one fire (ScheduledRunInput → the run id);
	// internal/schedules registers it.
	ActivityStartScheduledRun = "parry.schedule.start_run"
	// ActivityWaitRun waits for a run to end (its id → nothing), heartbeating.
	ActivityWaitRun = "parry.schedule.wait_run"
)

// ScheduledRunInput is what a schedule gives each fire: the playbook version it was made for, which of its
// schedules this is, and the inputs of the run.
type ScheduledRunInput struct {
	Playbook string         `json:"playbook"`
	Version  int            `json:"version"`
	Index    int            `json:"index"`
	With     map[string]any `json:"with,omitempty"`
}

// MaxRunWait bounds how long a fire waits for its run: the longest run timeout a playbook may set, and a day.
const MaxRunWait = 31 * 24 * time.Hour

// ScheduledRun starts one scheduled run and waits for it to end. A run that fails is the run's business (it is
// recorded as failed like any run); the fire itself succeeds once the run has ended.
func ScheduledRun(ctx workflow.Context, in ScheduledRunInput) error {
	start := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 20},
	})
	var runID string
	if err := workflow.ExecuteActivity(start, ActivityStartScheduledRun, in).Get(start, &runID); err != nil {
		return err
	}
	wait := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: MaxRunWait,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	return workflow.ExecuteActivity(wait, ActivityWaitRun, runID).Get(wait, nil)
}
