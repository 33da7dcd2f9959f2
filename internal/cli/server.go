package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/service"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/temporalclient"
	"github.com/parry-soar/parry/internal/tracing"
)

// temporalSettings are the flags of commands that reach an external Temporal.
var temporalSettings = []string{"temporal.address", "temporal.namespace", "temporal.task_queue", "temporal.tls",
	"temporal.tls_ca_file", "temporal.tls_cert_file", "temporal.tls_key_file", "temporal.tls_server_name", "temporal.api_key_secret",
	"temporal.encrypt_payloads", "temporal.payload_key_secret"}

// otelSettings are the flags of commands that send traces.
var otelSettings = []string{"otel.endpoint", "otel.insecure", "otel.service_name", "otel.sample_ratio"}

func (a *app) newServerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API (and alert dispatcher) against an external PostgreSQL and Temporal",
		Long: "Run parry's API server for a real deployment: PostgreSQL from --database-url, Temporal from " +
			"--temporal-address (self-hosted or Temporal Cloud with TLS/API key). It refuses to start when either is " +
			"unreachable and reports both on /readyz afterwards. Run workers with `parry worker`.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			deps, closeAll, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer closeAll()
			cfg, logger, st, ctx := deps.Config, deps.Logger, deps.Store, cmd.Context()
			deps.Metrics = api.NewMetrics()
			l, err := service.Listen(cfg.API.Listen, "--listen")
			if err != nil {
				return err
			}
			if path, created, err := service.BootstrapAdminToken(ctx, st, cfg.DataDir); err != nil {
				l.Close()
				return err
			} else if created {
				logger.Warn("no API token existed: created an admin token", "file", path)
			}
			svc := service.Runs(deps)
			srv := service.API(deps, svc)
			bg := make(chan struct{})
			go func() { defer close(bg); service.Background(ctx, deps, svc) }()
			defer func() { <-bg }()
			logger.Info("parry server listening", "api", "http://"+l.Addr().String(), "temporal", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace)
			fmt.Fprintf(a.stderr, "parry server: API on http://%s (Ctrl-C to stop)\n", l.Addr())
			return service.Serve(ctx, l, srv.Handler(), logger)
		},
	}
	a.bindSettings(cmd.Flags(), append([]string{"database_url", "api.listen", "api.max_body_bytes", "api.codec_origins", "data_dir", "secrets.dir"}, append(temporalSettings, otelSettings...)...)...)
	return cmd
}

// connect loads the configuration and connects to the PostgreSQL (migrating it) and the Temporal of a real
// deployment, refusing with one clear line when either is unreachable. closeAll closes both, Temporal first.
func (a *app) connect(cmd *cobra.Command) (service.Deps, func(), error) {
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return service.Deps{}, nil, err
	}
	logger := a.newLogger(cfg)
	ctx := cmd.Context()
	st, closeStore, err := a.openStore(cmd, cfg)
	if err != nil {
		return service.Deps{}, nil, err
	}
	if _, err := store.Migrate(ctx, st.Pool); err != nil {
		closeStore()
		return service.Deps{}, nil, err
	}
	secrets := service.Secrets(cfg, a.getenv)
	tr, err := tracing.Setup(ctx, cfg.OTel, "parry-"+cmd.Name())
	if err != nil {
		closeStore()
		return service.Deps{}, nil, err
	}
	interceptors, err := tr.Interceptors()
	if err != nil {
		closeStore()
		return service.Deps{}, nil, err
	}
	tc, err := temporalclient.DialWith(ctx, cfg.Temporal, secrets, logger, 10*time.Second, interceptors)
	if err != nil {
		closeStore()
		return service.Deps{}, nil, err
	}
	closeAll := func() { tc.Close(); _ = tr.Shutdown(context.Background()); closeStore() }
	conv, err := temporalclient.Converters(ctx, cfg.Temporal, secrets)
	if err != nil {
		closeAll()
		return service.Deps{}, nil, err
	}
	srcs, err := service.LoadSources(cfg)
	if err != nil {
		closeAll()
		return service.Deps{}, nil, err
	}
	return service.Deps{Config: cfg, Logger: logger, Store: st, Temporal: tc, Secrets: secrets, Converters: conv, Sources: srcs, Tracing: tr}, closeAll, nil
}
