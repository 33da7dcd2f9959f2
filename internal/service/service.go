// Package service assembles parry's long-running parts (API, worker, dispatcher, poller) from configuration, for
// `parry server`, `parry worker` and `parry dev`, so the three start things the same way.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/console"
	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/fileread"
	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/pollers"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/schedules"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/sources"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/tracing"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Deps are the shared dependencies of the long-running parts.
type Deps struct {
	Config   config.Config
	Logger   *slog.Logger
	Store    *store.Store
	Temporal client.Client
	Secrets  secret.Provider
	// Metrics is the API's Prometheus registry, which the dispatcher's metrics join (nil: the API makes its own
	// and the dispatcher reports none).
	Metrics *api.Metrics
	// Converters are the Temporal client's data and failure converters (payload encryption): the run service
	// decrypts the histories it reads with them and the API's /codec endpoint serves them to the Web UI.
	Converters payloadcrypt.Converters
	// CodecOrigins are the Temporal Web UI origins allowed to call /codec from a browser.
	CodecOrigins []string
	// Sources are the alert sources of parry.yaml (LoadSources).
	Sources []*sources.Source
	// Tracing is the process's OpenTelemetry tracing (tracing.Off when otel.endpoint is empty).
	Tracing tracing.Tracing
}

// LoadSources lints the sources: section of the configuration's parry.yaml; any error refuses the whole
// configuration, with every problem at its file:line:col.
func LoadSources(cfg config.Config) ([]*sources.Source, error) {
	if cfg.File == "" || cfg.Sources.Kind == 0 || cfg.Sources.Kind == yaml.ScalarNode && cfg.Sources.Tag == "!!null" {
		return nil, nil // no sources: key, or an empty one
	}
	data, err := fileread.ReadCapped(cfg.File, config.MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("reading the sources of %s: %w", cfg.File, err)
	}
	srcs, diags := sources.Parse(cfg.File, data, true)
	if yamlnode.HasErrors(diags) {
		lines := make([]string, 0, len(diags))
		for _, d := range diags {
			lines = append(lines, d.String())
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return srcs, nil
}

// Secrets is the secret provider the configuration describes: PARRY_SECRET_<NAME>, then secrets.dir.
func Secrets(cfg config.Config, getenv func(string) string) secret.Provider {
	return secret.Chain{secret.Env{Getenv: getenv}, secret.Dir{Path: cfg.Secrets.Dir}}
}

// Checks are the readiness checks of /readyz.
func Checks(d Deps) []api.Check {
	return []api.Check{
		{Name: "postgres", Check: func(ctx context.Context) error { return d.Store.Pool.Ping(ctx) }},
		{Name: "temporal", Check: func(ctx context.Context) error {
			_, err := d.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err != nil {
				return fmt.Errorf("temporal at %s: %w", d.Config.Temporal.Address, err)
			}
			return nil
		}},
	}
}

// Listen opens the API's listener with an error that says what to do when the address is taken.
func Listen(addr, flag string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is in use: stop the other process or pass %s", addr, flag)
		}
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return l, nil
}

// Serve serves h on l until ctx is done, then shuts down gracefully (10 s for requests in flight).
func Serve(ctx context.Context, l net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down the API: %w", err)
	}
	return nil
}

// BootstrapAdminToken creates an admin token when the database has no live token at all, and writes it to
// the data dir with mode 0600. It returns the file path and whether a token was created now.
func BootstrapAdminToken(ctx context.Context, st *store.Store, dataDir string) (string, bool, error) {
	path := config.AdminTokenFile(dataDir)
	n, err := st.CountLiveTokens(ctx)
	if err != nil {
		return path, false, fmt.Errorf("counting tokens: %w", err)
	}
	if n > 0 {
		return path, false, nil
	}
	if err := EnsureDir(dataDir); err != nil {
		return path, false, err
	}
	name := "admin"
	if host, err := os.Hostname(); err == nil && host != "" {
		name = "admin@" + strings.SplitN(host, ".", 2)[0]
	}
	plain, _, err := st.CreateToken(ctx, name, store.RoleAdmin, "bootstrap")
	if err != nil {
		return path, false, fmt.Errorf("creating the admin token: %w", err)
	}
	if err := WriteFileAtomic(path, []byte(plain+"\n"), 0o600); err != nil {
		return path, false, fmt.Errorf("writing the admin token: %w", err)
	}
	return path, true, nil
}

// EnsureDir creates dir (0700) and checks it is writable, with an error that says so plainly.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s cannot be created: %w (choose another with --data-dir)", dir, fileread.StripPath(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w (fix its permissions or choose another with --data-dir)", dir, fileread.StripPath(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// WriteFileAtomic writes a file through a temporary file and a rename, so readers never see half a file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (d Deps) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Runs builds the run service (start, show, approve, retry…) over the dependencies.
func Runs(d Deps) *runs.Service {
	// One engine for the process, set here: the API, the tracker and the dispatcher share the starter.
	starter := &runs.Starter{Store: d.Store, Temporal: d.Temporal, TaskQueue: d.Config.Temporal.TaskQueue, Engine: expression.NewEngine()}
	outbox := &runs.Outbox{Store: d.Store, Starter: starter, Temporal: d.Temporal, Logger: d.logger().With("component", "outbox")}
	return &runs.Service{Store: d.Store, Temporal: d.Temporal, Starter: starter, Outbox: outbox, Converters: d.Converters}
}

// API builds the HTTP API over the dependencies. Its /metrics also reports the mitigation queues, read from
// PostgreSQL when scraped.
func API(d Deps, svc *runs.Service) *api.Server {
	if d.Metrics != nil {
		if err := d.Metrics.Registry.Register(mitigation.NewQueueCollector(d.Store)); err != nil {
			d.logger().Warn("registering the mitigation queue metrics", "error", err)
		}
	}
	names := make([]string, 0, len(d.Config.CECP.Connections))
	for _, c := range d.Config.CECP.Connections {
		names = append(names, c.Name)
	}
	extra := append(api.PlaybookRoutes(d.Store, api.PushLinter(names)), api.IncidentRoutes(d.Store)...)
	srv := &api.Server{Store: d.Store, Logger: d.Logger, Checks: Checks(d), MaxBodyBytes: d.Config.API.MaxBodyBytes,
		Codec: d.Converters.Codec, CodecOrigins: append(slices.Clone(d.Config.API.CodecOrigins), d.CodecOrigins...),
		Connections: names, Runs: svc, Metrics: d.Metrics, Console: console.Handler(),
		// The worker writes artifacts under the same data dir (parry dev) or a shared volume (server).
		Artifacts: artifact.New(filepath.Join(d.Config.DataDir, "artifacts"), d.Store),
		Extra:     append(extra, api.ScheduleRoutes(Schedules(d))...)}
	srcRoutes, err := srv.SourceRoutes(api.SourceOptions{Secrets: d.Secrets, Config: d.Sources})
	if err != nil {
		// LoadSources linted them: a source that lints clean and does not compile is a bug, not configuration.
		d.logger().Error("the sources endpoints are off: a configured source does not compile", "error", err)
		return srv
	}
	srv.Extra = append(srv.Extra, srcRoutes...)
	return srv
}

// Schedules is the reconciler of the playbooks' schedules over the dependencies.
func Schedules(d Deps) *schedules.Reconciler {
	return &schedules.Reconciler{Store: d.Store, Logger: d.logger().With("component", "schedules"),
		Scheduler: schedules.TemporalScheduler{Client: d.Temporal.ScheduleClient(), TaskQueue: d.Config.Temporal.TaskQueue}}
}

// Background runs what a server does besides answering HTTP until ctx is done: the run tracker (which also
// starts runs recorded while Temporal was unreachable), the alert dispatcher and the reconciler of playbook
// schedules; it also starts (or updates) the CECP log pollers the configuration enables.
func Background(ctx context.Context, d Deps, svc *runs.Service) {
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	disp := &dispatch.Dispatcher{Inbox: dispatch.StoreInbox{Store: d.Store}, Runs: svc.Starter, Outbox: svc.Outbox,
		Logger: logger.With("component", "dispatcher")}
	if d.Tracing.On {
		disp.Tracer = d.Tracing.Tracer("parry/dispatch")
	}
	if d.Metrics != nil {
		m, err := dispatch.NewMetrics(d.Metrics.Registry)
		if err != nil {
			logger.Warn("registering the dispatcher's metrics", "error", err)
		}
		disp.Metrics = m
	}
	if names, err := pollers.Start(ctx, d.Temporal, d.Config); err != nil {
		logger.Warn("starting CECP log pollers", "error", err)
	} else if len(names) > 0 {
		logger.Info("CECP log pollers running", "connections", names)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = disp.Run(ctx)
	}()
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		Schedules(d).Run(ctx)
	}()
	defer func() { <-schedDone }()
	// Every server runs a tracker; the one holding the lease does the work.
	t := &runs.Tracker{Store: d.Store, Temporal: d.Temporal, Logger: logger.With("component", "tracker"),
		Namespace: d.Config.Temporal.Namespace, Converters: d.Converters}
	_ = t.Run(ctx)
	<-done
}
