// Package worker assembles parry's Temporal worker: the Playbook interpreter workflow and one activity per
// catalog action, on one task queue, sized from the configuration. `parry worker`, `parry dev` and tests build
// their workers here so that all of them run the same registrations.
package worker

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/activities"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/workflows"
)

// Registry takes workflow and activity registrations: a Temporal worker or a test environment.
type Registry interface {
	sdkworker.WorkflowRegistry
	sdkworker.ActivityRegistry
}

// Options configure a worker.
type Options struct {
	// TaskQueue is the queue runs are started on (temporal.task_queue).
	TaskQueue string
	// Worker sizes the worker (worker.max_concurrent_activities, worker.max_concurrent_workflows).
	Worker config.WorkerConfig
	// Activities are the dependencies of the action activities.
	Activities activities.Deps
	// Extra registers more workflows and activities on the same worker (the CECP log poller's).
	Extra []func(Registry) error
}

// Register registers the Playbook workflow under workflows.PlaybookWorkflow and every action activity under
// its action name.
func Register(r Registry, deps activities.Deps) error {
	r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
	if err := activities.Register(r, deps); err != nil {
		return fmt.Errorf("building the worker: %w", err)
	}
	return nil
}

// New builds a worker on c that serves opts.TaskQueue. Start it with Run or Start; Stop waits for the
// activities in flight (up to the worker's stop timeout).
func New(c client.Client, opts Options) (sdkworker.Worker, error) {
	if c == nil {
		return nil, errors.New("building the worker: no Temporal client")
	}
	if opts.TaskQueue == "" {
		return nil, errors.New("building the worker: no task queue (temporal.task_queue)")
	}
	if opts.Worker.MaxConcurrentActivities < 0 || opts.Worker.MaxConcurrentWorkflows < 0 {
		return nil, errors.New("building the worker: worker.max_concurrent_activities and worker.max_concurrent_workflows cannot be negative")
	}
	if opts.Worker.MaxConcurrentWorkflows == 1 {
		// The SDK alternates sticky and normal workflow task polls and refuses a single slot.
		return nil, errors.New("building the worker: worker.max_concurrent_workflows must be at least 2")
	}
	w := sdkworker.New(c, opts.TaskQueue, WorkerOptions(opts.Worker))
	if err := Register(w, opts.Activities); err != nil {
		return nil, err
	}
	for _, extra := range opts.Extra {
		if err := extra(w); err != nil {
			return nil, fmt.Errorf("building the worker: %w", err)
		}
	}
	return w, nil
}

// stopTimeout bounds how long Stop waits for activities in flight.
const stopTimeout = 10 * time.Second

// WorkerOptions are the SDK options for the configured sizes; zero sizes keep the SDK's defaults.
func WorkerOptions(cfg config.WorkerConfig) sdkworker.Options {
	return sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     cfg.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: cfg.MaxConcurrentWorkflows,
		// Activities in flight get this long to finish on Stop; a mitigation that is cut off resumes from its
		// ledger on the next worker.
		WorkerStopTimeout: stopTimeout,
	}
}
