// Package worker assembles parry's Temporal worker: the Playbook interpreter workflow and one activity per
// catalog action, on one task queue, sized from the configuration. `parry worker`, `parry dev` and tests build
// their workers here so that all of them run the same registrations.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/activities"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/pollers"
	"github.com/parry-soar/parry/internal/quota"
	"github.com/parry-soar/parry/internal/schedules"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
	"github.com/prometheus/client_golang/prometheus"
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

// Worker is a Temporal worker with parry's registrations. Serve runs it until its context ends.
type Worker struct {
	sdkworker.Worker
	// fatal receives the error the SDK reports when the worker cannot go on (the namespace is gone, the
	// credentials were revoked).
	fatal chan error
	// broker is the mitigation broker whose loop runs while the worker serves.
	broker *mitigation.Service
}

// New builds a worker on c that serves opts.TaskQueue.
func New(c client.Client, opts Options) (*Worker, error) {
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
	fatal := make(chan error, 1)
	wo := WorkerOptions(opts.Worker)
	wo.OnFatalError = func(err error) {
		select {
		case fatal <- err:
		default:
		}
	}
	w := sdkworker.New(c, opts.TaskQueue, wo)
	if err := Register(w, opts.Activities); err != nil {
		return nil, err
	}
	for _, extra := range opts.Extra {
		if err := extra(w); err != nil {
			return nil, fmt.Errorf("building the worker: %w", err)
		}
	}
	return &Worker{Worker: w, fatal: fatal, broker: opts.Activities.Mitigation}, nil
}

// Serve starts the worker and runs it until ctx ends, then stops it: it stops polling, and activities in
// flight get the stop timeout to finish (a mitigation cut off later resumes from its ledger on another
// worker). It returns early with the SDK's error when the worker cannot go on.
func (w *Worker) Serve(ctx context.Context) error {
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting the worker: %w", err)
	}
	// The mitigation broker's loop flushes the connections this worker's steps mitigate on.
	if w.broker != nil {
		bctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = w.broker.Run(bctx) }()
		defer func() { stop(); <-done }()
	}
	var err error
	select {
	case <-ctx.Done():
	case ferr := <-w.fatal:
		err = fmt.Errorf("the worker stopped: %w", ferr)
	}
	w.Stop()
	return err
}

// ArtifactDir is where a data dir keeps artifacts.
func ArtifactDir(dataDir string) string { return filepath.Join(dataDir, "artifacts") }

// FromConfig assembles the options parry worker and parry dev run with: the task queue and sizes from the
// configuration, the cluster-wide PostgreSQL quota for every CECP connection (response class), the artifact
// directory under the data dir, and the given store, secrets and logger.
func FromConfig(cfg config.Config, st *store.Store, secrets secret.Provider, logger *slog.Logger) (Options, error) {
	limits, err := quota.Limits(cfg.CECP.Connections)
	if err != nil {
		return Options{}, fmt.Errorf("building the worker: %w", err)
	}
	limiter, err := quota.NewShared(st, limits)
	if err != nil {
		return Options{}, fmt.Errorf("building the worker: %w", err)
	}
	dir := ArtifactDir(cfg.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Options{}, fmt.Errorf("creating the artifact directory: %w (set data_dir to a writable directory)", err)
	}
	polls := pollers.Activities(cfg, st, secrets, limiter, logger)
	return Options{
		TaskQueue: cfg.Temporal.TaskQueue,
		Worker:    cfg.Worker,
		// The CECP log poller's workflow and activity (it runs for connections with poll.enabled), and the
		// workflow playbooks' schedules fire.
		Extra: []func(Registry) error{
			func(r Registry) error { pollers.Register(r, polls); return nil },
			func(r Registry) error {
				schedules.Register(r, &schedules.Activities{Store: st, TaskQueue: cfg.Temporal.TaskQueue})
				return nil
			},
		},
		Activities: activities.Deps{
			Config:     cfg,
			Secrets:    secrets,
			Limiter:    limiter,
			Store:      st,
			Artifacts:  artifact.New(dir, st),
			Logger:     logger,
			Mitigation: &mitigation.Service{Store: st, Logger: logger.With("component", "mitigation")},
		},
	}, nil
}

// WithMetrics registers the worker's own collectors (the mitigation broker's batch fill, queue waits, posts and
// vendor 429s) on reg, so a /metrics endpoint of the process shows them.
func WithMetrics(opts *Options, reg prometheus.Registerer) error {
	m, err := mitigation.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("registering the mitigation broker's metrics: %w", err)
	}
	if opts.Activities.Mitigation != nil {
		opts.Activities.Mitigation.Metrics = m
	}
	return nil
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
		// A storm of incidents is many short workflow tasks and activities at once: more pollers than the SDK's
		// two keep them from queueing behind each other's long polls.
		MaxConcurrentWorkflowTaskPollers: 4,
		MaxConcurrentActivityTaskPollers: 4,
	}
}
