package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// Activities are the activities of the ScheduledRun workflow. They use the worker's own Temporal client
// (activity.GetClient), so they need only the store.
type Activities struct {
	Store *store.Store
	// TaskQueue is the queue the runs are started on (temporal.task_queue).
	TaskQueue string
	// Temporal overrides the worker's client (tests).
	Temporal client.Client
}

// Registry is where the workflow and activities are registered: a worker or a test environment.
type Registry interface {
	sdkworker.WorkflowRegistry
	sdkworker.ActivityRegistry
}

// Register registers the ScheduledRun workflow and its activities.
func Register(r Registry, a *Activities) {
	r.RegisterWorkflowWithOptions(workflows.ScheduledRun, workflow.RegisterOptions{Name: workflows.ScheduledRunWorkflow})
	r.RegisterActivityWithOptions(a.StartRun, activity.RegisterOptions{Name: workflows.ActivityStartScheduledRun})
	r.RegisterActivityWithOptions(a.WaitRun, activity.RegisterOptions{Name: workflows.ActivityWaitRun})
}

func (a *Activities) client(ctx context.Context) client.Client {
	if a.Temporal != nil {
		return a.Temporal
	}
	return activity.GetClient(ctx)
}

// RunID is the run id of one fire: derived from the fire's workflow id (which Temporal makes unique per fire),
// so that a retried activity records the same run once.
func RunID(fireWorkflowID string, at time.Time) string {
	sum := sha256.Sum256([]byte(fireWorkflowID))
	return fmt.Sprintf("run-%s-s%s", at.UTC().Format("20060102T150405"), hex.EncodeToString(sum[:4]))
}

// StartRun records the fire's run (started_by schedule:NAME, the schedule's inputs, the version the schedule
// was made for) and starts it, exactly as a manual run is started.
func (a *Activities) StartRun(ctx context.Context, in workflows.ScheduledRunInput) (string, error) {
	info := activity.GetInfo(ctx)
	c := a.client(ctx)
	starter := &runs.Starter{Store: a.Store, Temporal: c, TaskQueue: a.TaskQueue}
	svc := &runs.Service{Store: a.Store, Temporal: c, Starter: starter, Outbox: &runs.Outbox{Store: a.Store, Starter: starter, Temporal: c}}
	id := RunID(info.WorkflowExecution.ID, info.ScheduledTime)
	r, err := svc.StartRun(ctx, runs.StartParams{Playbook: in.Playbook, Version: in.Version, Inputs: in.With,
		StartedBy: fmt.Sprintf("schedule:%s#%d", in.Playbook, in.Index), RunID: id})
	if err != nil {
		var ie *runs.InputError
		var nf *runs.NotFoundError
		if errors.As(err, &ie) || errors.As(err, &nf) {
			// Nothing a retry would change: the fire fails, and the schedule lists it.
			return "", fmt.Errorf("starting the scheduled run of %s: %w", in.Playbook, err)
		}
		return "", err
	}
	return r.ID, nil
}

// ended reports whether Get's error is the run's own outcome (it failed, was cancelled, terminated or timed
// out, or is gone) rather than a failure to ask.
func ended(err error) bool {
	var nf *serviceerror.NotFound
	var app *temporal.ApplicationError
	var canceled *temporal.CanceledError
	var terminated *temporal.TerminatedError
	var timeout *temporal.TimeoutError
	var wee *temporal.WorkflowExecutionError
	return errors.As(err, &nf) || errors.As(err, &app) || errors.As(err, &canceled) || errors.As(err, &terminated) ||
		errors.As(err, &timeout) || errors.As(err, &wee)
}

// WaitRun waits until the run's workflow has ended, heartbeating so that a dead worker's wait moves on.
func (a *Activities) WaitRun(ctx context.Context, runID string) error {
	c := a.client(ctx)
	done := make(chan error, 1)
	go func() { done <- c.GetWorkflow(ctx, runID, "").Get(ctx, nil) }()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil || ended(err) {
				return nil // the run ended, succeeded or not: the fire is done
			}
			return fmt.Errorf("waiting for run %s: %w", runID, err) // Temporal unreachable: retried
		case <-t.C:
			activity.RecordHeartbeat(ctx)
		}
	}
}
