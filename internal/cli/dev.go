package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/pglocal"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/service"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/temporalclient"
	"github.com/parry-soar/parry/internal/tracing"
	"github.com/parry-soar/parry/internal/worker"
)

// Embedded starts the services parry dev embeds that are too heavy for this package to import: the Temporal
// server and its Web UI. main passes the real implementation (internal/devserver); tests may pass their own.
type Embedded interface {
	StartTemporal(ctx context.Context, dataDir, listen string, logger *slog.Logger) (address string, stop func(context.Context) error, err error)
	StartUI(ctx context.Context, listen, temporalAddress, codecEndpoint string, logger *slog.Logger) (url string, stop func(context.Context) error, err error)
}

// devFlags are the flags only parry dev has.
type devFlags struct {
	simRateLimit string
	simReset     bool
	reset        bool
}

// devSigninCodeTTL is how long the sign-in link parry dev prints works (once).
const devSigninCodeTTL = 15 * time.Minute

func (a *app) newDevCmd() *cobra.Command {
	df := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything embedded: Temporal + Web UI, PostgreSQL, the API, a worker and the CECP simulator",
		Long: "Run parry on a laptop with no other service: an embedded Temporal server (state in the data dir), the " +
			"Temporal Web UI, a PostgreSQL cluster started from the local server binaries (or --database-url), the API, " +
			"a worker and the CECP simulator. Everything binds to loopback. Ctrl-C stops it all in order; starting again " +
			"resumes with all state intact, the simulator's tenant included (its state is a file in the data dir).\n\n" +
			"The simulator answers as connection \"sim\" (token " + devSimToken + ", no secret: it holds nothing real); " +
			"`parry cecp … --connection sim` reaches it from another terminal. Chat notifications to the webhook " +
			"\"" + devWebhook + "\" are printed on this console. --reset removes everything parry dev created for the data " +
			"dir, the PostgreSQL cluster that lives outside it when running as root included, and exits.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if df.reset {
				return a.resetDev(cmd)
			}
			return a.runDev(cmd, df)
		},
	}
	a.bindSettings(cmd.Flags(), append([]string{"data_dir", "database_url", "api.listen", "dev.temporal_listen", "dev.ui_listen",
		"dev.sim", "dev.sim_listen", "dev.playbooks", "secrets.dir", "console.url"}, otelSettings...)...)
	cmd.Flags().StringVar(&df.simRateLimit, "sim-rate-limit", "20/1m", "the simulator's request window, like the vendor's 20/1m, or off (parry's quota for the sim connection follows it)")
	cmd.Flags().BoolVar(&df.simReset, "sim-reset", false, "start the simulator afresh from its seed, moving its state file aside")
	cmd.Flags().BoolVar(&df.reset, "reset", false, "remove everything parry dev created for the data dir (its PostgreSQL cluster included), say where, and exit")
	return cmd
}

// devStack is what runDev started, stopped in reverse order.
type devStack struct {
	stops []func(context.Context) error
	names []string
}

func (s *devStack) add(name string, stop func(context.Context) error) {
	s.names = append(s.names, name)
	s.stops = append(s.stops, stop)
}

func (s *devStack) stop(logger *slog.Logger, w func(string)) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := len(s.stops) - 1; i >= 0; i-- {
		w("stopping " + s.names[i])
		if err := s.stops[i](ctx); err != nil {
			logger.Warn("stopping "+s.names[i], "error", err)
		}
	}
}

func (a *app) runDev(cmd *cobra.Command, df *devFlags) (err error) {
	if a.embedded == nil {
		return errors.New("this build of parry has no embedded Temporal server")
	}
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return err
	}
	simRate, err := parseSimRate(df.simRateLimit)
	if err != nil {
		return usageErrorf("--sim-rate-limit: %v", err)
	}
	cfg.Temporal.Address = cfg.Dev.TemporalListen
	logger := a.newLogger(cfg)
	ctx := cmd.Context()
	say := func(s string) { fmt.Fprintln(a.stderr, "parry dev: "+s) }

	if err := service.EnsureDir(cfg.DataDir); err != nil {
		return err
	}
	// Fail on a taken port before starting anything, with the flag that moves it.
	ports := []struct{ addr, flag string }{
		{cfg.API.Listen, "--listen"}, {cfg.Dev.TemporalListen, "--dev-temporal-listen"}, {cfg.Dev.UIListen, "--dev-ui-listen"},
	}
	if cfg.Dev.Sim {
		ports = append(ports, struct{ addr, flag string }{cfg.Dev.SimListen, "--dev-sim-listen"})
	}
	for _, p := range ports {
		l, err := service.Listen(p.addr, p.flag)
		if err != nil {
			return err
		}
		l.Close()
	}

	stack := &devStack{}
	defer func() { stack.stop(logger, say) }()

	// PostgreSQL: the given URL, or a cluster in the data dir.
	dbURL := cfg.DatabaseURL
	dbNote := ""
	if dbURL == "" {
		say("starting PostgreSQL")
		cluster, err := a.devCluster(ctx, cfg.DataDir, logger)
		if err != nil {
			return err
		}
		stack.add("PostgreSQL", cluster.Stop)
		dbURL = cluster.URL("postgres")
		if rel, err := filepath.Rel(cfg.DataDir, cluster.Dir); err != nil || strings.HasPrefix(rel, "..") {
			dbNote = "   (cluster in " + cluster.Dir + ", outside the data dir: parry dev --reset removes it)"
		}
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	stack.add("database pool", func(context.Context) error { pool.Close(); return nil })
	st := store.New(pool)
	if _, err := store.Migrate(ctx, pool); err != nil {
		return err
	}

	say("starting Temporal")
	taddr, stopTemporal, err := a.embedded.StartTemporal(ctx, filepath.Join(cfg.DataDir, "temporal"), cfg.Dev.TemporalListen, logger)
	if err != nil {
		return err
	}
	stack.add("Temporal", stopTemporal)
	cfg.Temporal.Address = taddr
	uiURL, stopUI, err := a.embedded.StartUI(ctx, cfg.Dev.UIListen, taddr, devCodecEndpoint(cfg), logger)
	if err != nil {
		return err
	}
	stack.add("Temporal UI", stopUI)

	secretsNote, err := devSecrets(ctx, &cfg, a.getenv)
	if err != nil {
		return err
	}
	secrets := service.Secrets(cfg, a.getenv)
	simURL := "off (--sim=false)"
	if cfg.Dev.Sim {
		statePath := devSimStateFile(cfg.DataDir)
		if df.simReset {
			aside, err := cecpsim.ResetState(statePath, time.Now())
			if err != nil {
				return err
			}
			if aside != "" {
				say("the simulator starts afresh; its previous state is in " + aside)
			}
		}
		url, stopSim, err := startDevSim(cfg.Dev.SimListen, statePath, simRate, logger, a.stderr)
		if err != nil {
			return err
		}
		stack.add("CECP simulator", stopSim)
		simURL = url + " (token " + devSimToken + "; connection \"sim\"; " + simRate.banner() + "; state " + statePath + ")"
		if _, err := cfg.Connection("sim"); err != nil {
			// The simulator's security and quarantine events are polled into alerts, so the shipped playbooks'
			// triggers fire on its campaigns as they would on a tenant's.
			cfg.CECP.Connections = append(cfg.CECP.Connections, devSimConnection(url, simRate))
		}
		// The CLI of another terminal finds the connection here (parry cecp … --connection sim).
		if err := writeDevSimFile(cfg.DataDir, url, simRate); err != nil {
			return err
		}
		if cfg.CECP.DefaultConnection == "" {
			cfg.CECP.DefaultConnection = "sim"
		}
		// Chat notifications go to a receiver that prints them here, unless a webhook of that name is configured.
		devSecrets := secret.Static{devSimSecret: devSimToken}
		if !hasWebhook(cfg, devWebhook) {
			cfg.Notify.Webhooks = append(cfg.Notify.Webhooks, config.NotifyWebhook{Name: devWebhook, URLSecret: "dev-" + devWebhook + "-url"})
			devSecrets["dev-"+devWebhook+"-url"] = url + "/_dev/webhook/" + devWebhook
		}
		secrets = secret.Chain{devSecrets, secrets}
	}
	tr, err := tracing.Setup(ctx, cfg.OTel, "parry-dev")
	if err != nil {
		return err
	}
	stack.add("trace exporter", tr.Shutdown)
	interceptors, err := tr.Interceptors()
	if err != nil {
		return err
	}
	tc, err := temporalclient.DialWith(ctx, cfg.Temporal, secrets, logger, 30*time.Second, interceptors)
	if err != nil {
		return err
	}
	stack.add("Temporal client", func(context.Context) error { tc.Close(); return nil })

	// The API's listener first: its address is the console's, which the worker's chat notifications link to.
	l, err := service.Listen(cfg.API.Listen, "--listen")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			l.Close() // (Serve closes it once it runs; a second Close only errs)
		}
	}()
	apiURL := "http://" + l.Addr().String()
	if cfg.Console.URL == "" {
		cfg.Console.URL = apiURL
	}

	wopts, err := worker.FromConfig(cfg, st, secrets, logger)
	if err != nil {
		return err
	}
	wopts.Activities.Tracer = tr.Tracer("parry/cecp")
	if m := wopts.Activities.Mitigation; m != nil && tr.On {
		m.Tracer = tr.Tracer("parry/mitigation")
	}
	metrics := api.NewMetrics() // one /metrics for everything in the process
	if err := worker.WithMetrics(&wopts, metrics.Registry); err != nil {
		return err
	}
	w, err := worker.New(tc, wopts)
	if err != nil {
		return err
	}
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Serve(workerCtx) }()
	stack.add("worker", func(context.Context) error { stopWorker(); return <-workerDone })

	tokenPath, created, err := service.BootstrapAdminToken(ctx, st, cfg.DataDir)
	if err != nil {
		return err
	}
	if err := service.WriteFileAtomic(config.APIURLFile(cfg.DataDir), []byte(apiURL+"\n"), 0o644); err != nil {
		l.Close()
		return fmt.Errorf("writing %s: %w", config.APIURLFile(cfg.DataDir), err)
	}
	conv, err := temporalclient.Converters(ctx, cfg.Temporal, secrets)
	if err != nil {
		l.Close()
		return err
	}
	srcs, err := service.LoadSources(cfg)
	if err != nil {
		l.Close()
		return err
	}
	deps := service.Deps{Config: cfg, Logger: logger, Store: st, Temporal: tc, Secrets: secrets, Metrics: metrics, Converters: conv,
		CodecOrigins: []string{uiURL}, Sources: srcs, Tracing: tr}
	svc := service.Runs(deps)
	srv := service.API(deps, svc)
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	go func() { defer close(bgDone); service.Background(bgCtx, deps, svc) }()
	stack.add("run tracker", func(context.Context) error { stopBg(); <-bgDone; return nil })
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- service.Serve(serveCtx, l, srv.Handler(), logger) }()
	stack.add("API", func(context.Context) error { stopServe(); return <-served })

	playbooksNote := "none (" + cfg.Dev.Playbooks + " is not a directory)"
	if fi, err := os.Stat(cfg.Dev.Playbooks); err == nil && fi.IsDir() {
		synced := make(chan string, 1)
		w := &registry.Watcher{Store: st, Dir: cfg.Dev.Playbooks, Logger: logger.With("component", "playbooks"),
			OnSync: func(r registry.SyncResult, err error) {
				msg := r.Summary()
				var skipped *registry.SkippedError
				switch {
				case errors.As(err, &skipped):
					msg += "; " + oneLine(err.Error(), 300)
				case err != nil:
					msg = "not loaded: " + oneLine(err.Error(), 200)
				}
				select {
				case synced <- msg:
				default:
				}
			}}
		wctx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
		watchDone := make(chan struct{})
		go func() { defer close(watchDone); _ = w.Run(wctx) }()
		stack.add("playbook watcher", func(context.Context) error { stopWatch(); <-watchDone; return nil })
		select {
		case msg := <-synced:
			playbooksNote = cfg.Dev.Playbooks + ": " + msg + " (reloaded on change)"
		case <-time.After(30 * time.Second):
			playbooksNote = cfg.Dev.Playbooks + " (loading)"
		}
	}
	tokenNote := "admin token: " + tokenPath
	if created {
		tokenNote += " (created now, mode 0600)"
	}
	webhookNote := "none"
	if cfg.Dev.Sim {
		webhookNote = devWebhook + " prints on this console"
	}
	// A one-click sign-in: a single-use code that buys an expiring console session, never the admin token.
	signin := apiURL + "/"
	if code, err := st.CreateSigninCode(ctx, store.RoleAdmin, devSigninCodeTTL, "parry dev"); err != nil {
		logger.Warn("creating the console sign-in link", "error", err)
	} else {
		signin = apiURL + "/#/signin?code=" + code
	}
	fmt.Fprintf(a.stderr, `
parry dev is running (Ctrl-C to stop)
  console      %s
               (sign-in link: single use, valid %s; later, sign in with the admin token or: parry console link)
  API          %s   (health: %s/healthz, ready: %s/readyz, metrics: %s/metrics)
  Temporal     %s   namespace %s, task queue %s (worker running)
  Temporal UI  %s
  PostgreSQL   %s%s
  CECP sim     %s
  webhook      %s
  data dir     %s
  secrets      %s
  playbooks    %s
  %s
  The CLI finds the API, the token and the sim connection by itself; elsewhere: export PARRY_URL=%s PARRY_TOKEN=$(cat %s)
`, signin, shortDuration(devSigninCodeTTL), apiURL, apiURL, apiURL, apiURL, taddr, cfg.Temporal.Namespace, cfg.Temporal.TaskQueue, uiURL, store.Redact(dbURL), dbNote, simURL, webhookNote, cfg.DataDir, secretsNote, playbooksNote, tokenNote, apiURL, tokenPath)

	select {
	case <-ctx.Done():
		say("shutting down")
		return nil
	case err := <-served:
		served <- err
		return fmt.Errorf("the API stopped: %w", err)
	}
}

// devCluster starts the data dir's PostgreSQL cluster, creating it on first use. As root, PostgreSQL runs as the
// postgres user; when that user cannot reach the data dir (a home directory of mode 0700), the cluster lives in
// /var/lib/parry-dev/<hash of the data dir> and the data dir holds a symlink to it.
func (a *app) devCluster(ctx context.Context, dataDir string, logger *slog.Logger) (*pglocal.Cluster, error) {
	bin, err := pglocal.FindBinDir(nil)
	if err != nil {
		return nil, fmt.Errorf("%w (or pass --database-url)", err)
	}
	dir := filepath.Join(dataDir, "postgres")
	if target, err := os.Readlink(dir); err == nil {
		dir = target
	} else if reachErr := pglocal.Reachable(dir); reachErr != nil {
		abs, _ := filepath.Abs(dataDir)
		sum := sha256.Sum256([]byte(abs))
		alt := filepath.Join(devClusterRoot, hex.EncodeToString(sum[:6]), "postgres")
		if err := os.MkdirAll(filepath.Dir(alt), 0o711); err != nil {
			return nil, reachErr
		}
		if err := os.Chmod(filepath.Dir(alt), 0o711); err != nil {
			return nil, reachErr
		}
		if err := os.Chmod(devClusterRoot, 0o711); err != nil {
			return nil, reachErr
		}
		if err := os.Symlink(alt, dir); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("linking %s to %s: %w", dir, alt, err)
		}
		logger.Warn("running as root: PostgreSQL runs as the postgres user, who cannot enter the data dir; its cluster lives elsewhere", "cluster", alt, "link", dir)
		dir = alt
	}
	c := &pglocal.Cluster{Dir: dir, BinDir: bin}
	if err := c.Init(ctx); err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		if strings.Contains(err.Error(), "lock file") {
			return nil, fmt.Errorf("%w (is another parry dev using %s?)", err, dataDir)
		}
		return nil, err
	}
	return c, nil
}

// resetDev removes what parry dev created for the data dir: the data dir itself and, when it runs as root, the
// PostgreSQL cluster it keeps outside it (under /var/lib/parry-dev), saying each path. It refuses while a
// parry dev answers on the data dir, and refuses a directory that does not look like one parry dev made.
func (a *app) resetDev(cmd *cobra.Command) error {
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return err
	}
	return resetDevDir(cfg.DataDir, devClusterRoot, a.stdout)
}

// resetDevDir is resetDev on dir, with the clusters' root as a parameter for tests.
func resetDevDir(dir, clusterRoot string, stdout io.Writer) error {
	if b, err := os.ReadFile(config.APIURLFile(dir)); err == nil {
		url := strings.TrimSpace(string(b))
		client := &http.Client{Timeout: 2 * time.Second}
		if resp, err := client.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			return fmt.Errorf("parry dev is running on %s (API at %s): stop it first", dir, url)
		}
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "nothing to remove: %s does not exist\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() || !looksLikeDevDataDir(dir) {
		return fmt.Errorf("%s does not look like a parry dev data dir (no admin.token, temporal or postgres in it): not removing it", dir)
	}
	var removed []string
	if target, err := os.Readlink(filepath.Join(dir, "postgres")); err == nil {
		// The cluster parry dev keeps outside a data dir the postgres user cannot enter: <root>/<hash>/postgres.
		outside := filepath.Dir(target)
		if filepath.Dir(outside) == clusterRoot {
			if err := os.RemoveAll(outside); err != nil {
				return fmt.Errorf("removing the PostgreSQL cluster %s: %w", outside, err)
			}
			removed = append(removed, outside+" (PostgreSQL cluster)")
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	removed = append(removed, dir+" (data dir)")
	for _, r := range removed {
		fmt.Fprintln(stdout, "removed "+r)
	}
	return nil
}

// devClusterRoot is where parry dev keeps PostgreSQL clusters the postgres user could not reach in the data dir.
const devClusterRoot = "/var/lib/parry-dev"

func looksLikeDevDataDir(dir string) bool {
	for _, name := range []string{"admin.token", "temporal", "postgres", "api.url", "cecp-sim.json"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// The dev simulator's token is no secret: the simulator holds nothing real and listens on loopback.
const (
	devSimToken  = "dev-sim-token"
	devSimSecret = "dev-sim-token"
)

// devWebhook is the chat webhook the shipped playbooks notify.
const devWebhook = "soc-chat"

func hasWebhook(cfg config.Config, name string) bool {
	for _, w := range cfg.Notify.Webhooks {
		if w.Name == name {
			return true
		}
	}
	return false
}

// devChatText is what parry dev prints of a chat message (Slack's incoming-webhook body or a Teams card): the
// title and text, then each field (an approval's deadline, approvers…) as "name: value"; any other body as it
// came.
func devChatText(body []byte) string {
	var msg struct {
		Text        string `json:"text"`
		Title       string `json:"title"`
		Attachments []struct {
			Fields []struct{ Title, Value string } `json:"fields"`
		} `json:"attachments"`
		Sections []struct {
			Facts []struct{ Name, Value string } `json:"facts"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return strings.TrimSpace(string(body)) // not a chat message parry knows: as it came
	}
	text := strings.TrimSpace(msg.Title + "\n" + msg.Text)
	for _, a := range msg.Attachments {
		for _, f := range a.Fields {
			text += "\n" + f.Title + ": " + f.Value
		}
	}
	for _, sec := range msg.Sections {
		for _, f := range sec.Facts {
			text += "\n" + f.Name + ": " + f.Value
		}
	}
	return text
}

// startDevSim serves the CECP simulator (seeded, so a fresh one has the same mailboxes and campaigns every time;
// its tenant lives in statePath across restarts) and, beside it, a chat-webhook receiver that prints what
// playbooks notify.
func startDevSim(listen, statePath string, rate simRate, logger *slog.Logger, console io.Writer) (string, func(context.Context) error, error) {
	opts := cecpsim.Options{Seed: 1, Tokens: []string{devSimToken}, StateFile: statePath, RateLimit: rate.requests, Window: rate.window,
		OnSaveError: func(err error) { logger.Warn("the CECP simulator could not save its state", "error", err) }}
	if rate.off {
		opts.RateLimit = cecpsim.NoRateLimit
	}
	sim, err := cecpsim.New(opts)
	var se *cecpsim.StateError
	if errors.As(err, &se) {
		return "", nil, fmt.Errorf("%w; move it aside or start with --sim-reset to begin again from the seed (the file is then kept beside it)", err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("starting the CECP simulator: %w", err)
	}
	l, err := service.Listen(listen, "--dev-sim-listen")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", sim)
	mux.HandleFunc("POST /_dev/webhook/{name}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		fmt.Fprintf(console, "parry dev: notification to %s: %s\n", r.PathValue("name"), strings.ReplaceAll(devChatText(body), "\n", "\n  "))
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go srv.Serve(l)
	return "http://" + l.Addr().String(), func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if serr := sim.Save(); err == nil {
			err = serr
		}
		sim.Close()
		return err
	}, nil
}

// simRate is the simulator's request window (--sim-rate-limit), which parry's quota for the sim connection
// follows, so that parry never expects a slot the simulator would refuse.
type simRate struct {
	off      bool
	requests int
	window   time.Duration
}

func parseSimRate(s string) (simRate, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "none", "0":
		return simRate{off: true}, nil
	}
	n, w, err := config.ParseRate(s)
	if err != nil {
		return simRate{}, fmt.Errorf("%v (or off)", err)
	}
	return simRate{requests: n, window: w}, nil
}

// connRate is the rate_limit of the sim connection: the simulator's, or one that never binds when it has none.
func (r simRate) connRate() string {
	if r.off {
		return devUnlimitedRate
	}
	return fmt.Sprintf("%d/%s", r.requests, shortDuration(r.window))
}

// devUnlimitedRate is parry's quota for a simulator without a window: far above what one machine sends.
const devUnlimitedRate = "100000/1s"

func (r simRate) banner() string {
	if r.off {
		return "rate limit off"
	}
	return "rate limit " + r.connRate() + ", a fixed window opened by the first request, as the vendor's"
}

// devSimConnection is the connection parry dev adds for its simulator.
func devSimConnection(url string, rate simRate) config.CECPConnection {
	return config.CECPConnection{Name: "sim", BaseURL: url, TokenSecret: devSimSecret, BatchSize: 10, RateLimit: rate.connRate(),
		Poll: config.CECPPoll{Enabled: true, Services: []string{"exchange"}, Interval: time.Minute, FirstFetch: 72 * time.Hour}}
}

// devSimStateFile is where parry dev keeps its simulator's tenant.
func devSimStateFile(dataDir string) string { return filepath.Join(dataDir, "cecp-sim.json") }

// devSimFile tells the CLI of another terminal where parry dev's simulator is.
func devSimFile(dataDir string) string { return filepath.Join(dataDir, "sim.json") }

type devSimInfo struct {
	BaseURL   string `json:"base_url"`
	RateLimit string `json:"rate_limit"`
}

func writeDevSimFile(dataDir, url string, rate simRate) error {
	b, _ := json.Marshal(devSimInfo{BaseURL: url, RateLimit: rate.connRate()})
	if err := service.WriteFileAtomic(devSimFile(dataDir), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", devSimFile(dataDir), err)
	}
	return nil
}

// readDevSimConnection is the sim connection of the parry dev that uses dataDir, with its token.
func readDevSimConnection(dataDir string) (config.CECPConnection, bool) {
	b, err := os.ReadFile(devSimFile(dataDir))
	if err != nil {
		return config.CECPConnection{}, false
	}
	var info devSimInfo
	if json.Unmarshal(b, &info) != nil || info.BaseURL == "" {
		return config.CECPConnection{}, false
	}
	return config.CECPConnection{Name: "sim", BaseURL: info.BaseURL, TokenSecret: devSimSecret, BatchSize: 10, RateLimit: info.RateLimit}, true
}

// devSecrets gives parry dev a secrets directory in the data dir when none is configured, and creates there the
// ZIP password the shipped playbooks use (secret("quarantine-zip")) unless it exists, so they run as they are.
func devSecrets(ctx context.Context, cfg *config.Config, getenv func(string) string) (string, error) {
	if cfg.Secrets.Dir == "" {
		cfg.Secrets.Dir = filepath.Join(cfg.DataDir, "secrets")
	}
	if err := service.EnsureDir(cfg.Secrets.Dir); err != nil {
		return "", err
	}
	note := cfg.Secrets.Dir + " (one file per secret; or PARRY_SECRET_<NAME>)"
	if _, err := service.Secrets(*cfg, getenv).Secret(ctx, "quarantine-zip"); errors.Is(err, secret.ErrNotFound) {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		path := filepath.Join(cfg.Secrets.Dir, "quarantine-zip")
		if err := service.WriteFileAtomic(path, []byte(base64.RawURLEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", path, err)
		}
		note += "; created quarantine-zip, the ZIP password of quarantined-mail downloads"
	}
	if key := cfg.Temporal.PayloadKeySecret; cfg.Temporal.EncryptPayloads && key != "" {
		if _, err := service.Secrets(*cfg, getenv).Secret(ctx, key); errors.Is(err, secret.ErrNotFound) {
			path := filepath.Join(cfg.Secrets.Dir, key)
			if err := service.WriteFileAtomic(path, []byte(payloadcrypt.NewKeyText("dev1")), 0o600); err != nil {
				return "", fmt.Errorf("writing %s: %w", path, err)
			}
			note += "; created " + key + ", the key that encrypts what parry writes to Temporal's history"
		}
	}
	return note, nil
}

// devCodecEndpoint is the /codec of parry dev's API, which the Web UI asks to decrypt payloads with the
// browser's console sign-in; "" when payloads are not encrypted or the API's port is chosen at start.
func devCodecEndpoint(cfg config.Config) string {
	host, port, err := net.SplitHostPort(cfg.API.Listen)
	if !cfg.Temporal.EncryptPayloads || err != nil || port == "0" {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/codec"
}
