package workflows

import (
	"context"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// TestScheduledRun: a fire records and starts its run, then waits for it to end (so the schedule's overlap
// policy sees it running); the run id comes from the start activity.
func TestScheduledRun(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ScheduledRun, workflow.RegisterOptions{Name: ScheduledRunWorkflow})
	var started ScheduledRunInput
	var waited string
	env.RegisterActivityWithOptions(func(_ context.Context, in ScheduledRunInput) (string, error) {
		started = in
		return "run-20260105T050000-s1a2b3c4d", nil
	}, activity.RegisterOptions{Name: ActivityStartScheduledRun})
	env.RegisterActivityWithOptions(func(_ context.Context, runID string) error {
		waited = runID
		return nil
	}, activity.RegisterOptions{Name: ActivityWaitRun})
	env.ExecuteWorkflow(ScheduledRunWorkflow, ScheduledRunInput{Playbook: "hunt", Version: 3, Index: 1, With: map[string]any{"lookback": 1}})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("fire: %v", env.GetWorkflowError())
	}
	if started.Playbook != "hunt" || started.Version != 3 || started.Index != 1 || waited != "run-20260105T050000-s1a2b3c4d" {
		t.Fatalf("started %+v, waited for %q", started, waited)
	}
}
