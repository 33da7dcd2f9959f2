package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/pollers"
	"github.com/parry-soar/parry/internal/service"
	"github.com/parry-soar/parry/internal/worker"
)

func (a *app) newWorkerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker (the playbook interpreter and every action) against an external PostgreSQL and Temporal",
		Long: "Run a Temporal worker on the task queue: it interprets playbook runs and executes their actions (CECP " +
			"calls under the cluster-wide quota, http.request, notify.webhook), writing audit rows and artifacts. Run " +
			"as many as the load needs, against one PostgreSQL and one Temporal. It refuses to start when either is " +
			"unreachable. Ctrl-C stops polling and gives actions in flight time to finish.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			deps, closeAll, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer closeAll()
			cfg, logger, st, secrets, tc, ctx := deps.Config, deps.Logger, deps.Store, deps.Secrets, deps.Temporal, cmd.Context()
			opts, err := worker.FromConfig(cfg, st, secrets, logger)
			if err != nil {
				return err
			}
			opts.Activities.Tracer = deps.Tracing.Tracer("parry/cecp")
			if m := opts.Activities.Mitigation; m != nil && deps.Tracing.On {
				m.Tracer = deps.Tracing.Tracer("parry/mitigation")
			}
			var probes *api.Server
			if cfg.Worker.Listen != "" {
				probes = &api.Server{Logger: logger, Metrics: api.NewMetrics(), Checks: service.Checks(deps)}
				if err := worker.WithMetrics(&opts, probes.Metrics.Registry); err != nil {
					return err
				}
			}
			w, err := worker.New(tc, opts)
			if err != nil {
				return err
			}
			if probes != nil {
				l, err := service.Listen(cfg.Worker.Listen, "--worker-listen")
				if err != nil {
					return err
				}
				go func() {
					if err := service.Serve(ctx, l, probes.ProbeHandler(), logger); err != nil {
						logger.Warn("the worker's probe endpoint stopped", "error", err)
					}
				}()
				logger.Info("worker probes and metrics", "listen", l.Addr().String())
			}
			// The pollers are started idempotently: whichever of parry server and parry worker comes first.
			if names, err := pollers.Start(ctx, tc, cfg); err != nil {
				logger.Warn("starting CECP log pollers", "error", err)
			} else if len(names) > 0 {
				logger.Info("CECP log pollers running", "connections", names)
			}
			logger.Info("parry worker started", "temporal", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace,
				"task_queue", cfg.Temporal.TaskQueue, "connections", len(cfg.CECP.Connections))
			fmt.Fprintf(a.stderr, "parry worker: serving task queue %q of %s (namespace %s); Ctrl-C to stop\n",
				cfg.Temporal.TaskQueue, cfg.Temporal.Address, cfg.Temporal.Namespace)
			// Stopped in order by the defers: the worker (inside Serve), then the Temporal client, then the store.
			err = w.Serve(ctx)
			fmt.Fprintln(a.stderr, "parry worker: stopped")
			return err
		},
	}
	a.bindSettings(cmd.Flags(), append([]string{"database_url", "data_dir", "secrets.dir", "worker.listen",
		"worker.max_concurrent_activities", "worker.max_concurrent_workflows", "console.url"}, append(temporalSettings, otelSettings...)...)...)
	return cmd
}
