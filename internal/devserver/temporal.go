package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/parry-soar/parry/internal/fileread"
)

const (
	// DefaultTemporalListen is the frontend address parry dev uses unless told otherwise:
	// Temporal's own default, so the temporal CLI and SDK samples find it as they are.
	DefaultTemporalListen = "127.0.0.1:7233"
	// DefaultNamespace is always registered.
	DefaultNamespace = "default"

	temporalListenFlag = "--dev-temporal-listen"
	dataDirFlag        = "--data-dir"

	// clusterName is the single cluster's name; it is stored in the database on the
	// first start and must stay the same afterwards.
	clusterName  = "active"
	storeName    = "sqlite-default"
	lockFileName = databaseFile + ".lock"

	// maxNamespaceLen bounds namespace names; Temporal itself allows 1000 bytes, which
	// no dev namespace needs.
	maxNamespaceLen = 255
)

// TemporalOptions configures StartTemporal. Only DataDir is required.
type TemporalOptions struct {
	// DataDir holds the SQLite database (temporal.db) and its lock file; it is
	// created (mode 0700) when missing.
	DataDir string
	// Listen is the frontend's ip:port, default DefaultTemporalListen. "localhost:N"
	// and ":N" mean 127.0.0.1:N. Port 0 picks a free port (for tests; parry dev
	// uses a fixed one so workers and the CLI find it again after a restart).
	Listen string
	// Namespaces are registered besides DefaultNamespace; registering one that
	// exists is a no-op.
	Namespaces []string
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
	// LogLevel is the lowest level of server logs passed to Logger; nil means warn.
	// At info the server writes hundreds of lines while starting.
	LogLevel slog.Leveler
}

// Temporal is a running embedded Temporal server.
type Temporal struct {
	server  temporal.Server
	address string
	dbPath  string
	created bool
	lock    *os.File
	logger  *serverLogger
	fatal   *fatalSignal
	failed  chan error

	stopOnce sync.Once
	stopped  chan struct{}
	stopErr  error
}

// Address is the frontend's host:port for SDK clients and workers.
func (t *Temporal) Address() string { return t.address }

// DatabasePath is the SQLite file holding all of the server's state.
func (t *Temporal) DatabasePath() string { return t.dbPath }

// Created reports whether this start created the database (a first start).
func (t *Temporal) Created() bool { return t.created }

// Failed delivers an error if the server hits a fatal error after starting (a
// listener that dies, for one). The server is then unusable and should be stopped.
func (t *Temporal) Failed() <-chan error { return t.failed }

// StartTemporal starts a Temporal server (frontend, history, matching and worker
// services) in this process, with its state in a SQLite file in opts.DataDir, and
// returns once the frontend accepts calls. Every failure is one error that says what
// to do; the server's own fatal errors end neither the process nor the caller.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	if opts.DataDir == "" {
		return nil, errors.New("starting temporal: no data dir given")
	}
	if opts.Listen == "" {
		opts.Listen = DefaultTemporalListen
	}
	listen, err := parseListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	namespaces, err := namespaceList(opts.Namespaces)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	minLevel := slog.LevelWarn
	if opts.LogLevel != nil {
		minLevel = opts.LogLevel.Level()
	}

	dataDir, err := prepareDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}
	lock, err := lockFileIn(dataDir)
	if err != nil {
		return nil, err
	}
	release := func() { _ = unlockFile(lock) }

	// A taken port is the likeliest failure; report it before the database work.
	frontLn, _, err := listen.reserve(temporalListenFlag)
	if err != nil {
		release()
		return nil, err
	}
	_ = frontLn.Close()

	dbPath := filepath.Join(dataDir, databaseFile)
	created, err := prepareDatabase(ctx, dbPath)
	if err != nil {
		release()
		return nil, err
	}
	if err := registerNamespaces(dbPath, namespaces); err != nil {
		release()
		return nil, err
	}

	// The ports again, now that the server is about to bind them, to keep the window
	// in which another process can take one (and make the server give up) short.
	frontLn, front, err := listen.reserve(temporalListenFlag)
	if err != nil {
		release()
		return nil, err
	}
	// History, matching and the worker service talk only to each other and the
	// frontend, so they take any free loopback ports; only the frontend is fixed.
	internalIP := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if listen.bind.Addr().Is6() && listen.bind.Addr().IsLoopback() {
		internalIP = netip.IPv6Loopback()
	}
	ports, err := freePorts(internalIP, 3) // the frontend's port is held, so not chosen
	_ = frontLn.Close()
	if err != nil {
		release()
		return nil, err
	}

	dial := netip.AddrPortFrom(listen.dialIP(), front.Port())
	layout := serviceLayout{
		frontendBind: front,
		frontendDial: dial,
		internalIP:   internalIP,
		history:      ports[0],
		matching:     ports[1],
		worker:       ports[2],
	}
	fatal := newFatalSignal()
	slogger := newServerLogger(logger, minLevel, fatal)
	serverOpts, err := serverOptions(layout, dbPath, slogger)
	if err != nil {
		release()
		return nil, err
	}

	srv, err := runStart(ctx, serverOpts, slogger, release)
	if err != nil {
		return nil, err
	}
	t := &Temporal{
		server:  srv,
		address: dial.String(),
		dbPath:  dbPath,
		created: created,
		lock:    lock,
		logger:  slogger,
		fatal:   fatal,
		failed:  make(chan error, 1),
		stopped: make(chan struct{}),
	}
	go t.watchFatal()
	return t, nil
}

// watchFatal passes a fatal error raised after start to Failed.
func (t *Temporal) watchFatal() {
	select {
	case msg := <-t.fatal.ch:
		t.failed <- fmt.Errorf("temporal server failed: %s", msg)
	case <-t.stopped:
	}
}

// Stop shuts the services down in order (worker, frontend, history, matching) and
// releases the data dir. It is safe to call more than once and from several
// goroutines; every call returns the same result. When ctx ends first, Stop returns
// and the shutdown finishes in the background, releasing the data dir at the end.
func (t *Temporal) Stop(ctx context.Context) error {
	t.stopOnce.Do(func() {
		go func() {
			t.logger.quiet()
			err := stopServer(t.server)
			t.logger.mute()
			if uerr := unlockFile(t.lock); uerr != nil && err == nil {
				err = fmt.Errorf("releasing the data dir lock: %w", uerr)
			}
			t.stopErr = err
			close(t.stopped)
		}()
	})
	select {
	case <-t.stopped:
		return t.stopErr
	case <-ctx.Done():
		return fmt.Errorf("stopping temporal server: %w", ctx.Err())
	}
}

// stopServer calls the server's Stop, converting a panic into an error so a failing
// shutdown cannot take the rest of parry dev down with it.
func stopServer(s temporal.Server) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("stopping temporal server: panic: %v", r)
		}
	}()
	if err := s.Stop(); err != nil {
		return fmt.Errorf("stopping temporal server: %w", err)
	}
	return nil
}

// runStart builds and starts the server in a goroutine of its own. A Fatal from the
// server ends that goroutine (see serverLogger), a panic is recovered there, and ctx
// is honoured although the server's Start takes none. On failure it calls release
// once the server is down: when ctx ends first that is later, in the background, so
// the data dir stays locked until the abandoned server has stopped.
func runStart(ctx context.Context, opts []temporal.ServerOption, logger *serverLogger, release func()) (temporal.Server, error) {
	fatal := logger.fatal
	type result struct {
		srv temporal.Server
		err error
	}
	done := make(chan result, 1)
	go func() {
		var srv temporal.Server
		returned := false
		defer func() {
			if returned {
				return
			}
			if r := recover(); r != nil {
				done <- result{srv, fmt.Errorf("panic: %v", r)}
				return
			}
			done <- result{srv, errors.New("the server gave up")} // runtime.Goexit from Fatal
		}()
		var err error
		srv, err = temporal.NewServer(opts...)
		if err == nil {
			err = srv.Start()
		}
		returned = true
		done <- result{srv, err}
	}()

	select {
	case r := <-done:
		if r.err == nil {
			select {
			case msg := <-fatal.ch:
				// A service goroutine died while the others came up.
				r.err = errors.New(msg)
			default:
				return r.srv, nil
			}
		}
		msg := startFailure(r.err, fatal)
		logger.quiet()
		if r.srv != nil {
			_ = stopServer(r.srv)
		}
		logger.mute()
		release()
		return nil, fmt.Errorf("starting temporal server: %s", msg)
	case <-ctx.Done():
		go func() {
			logger.quiet()
			if r := <-done; r.srv != nil {
				_ = stopServer(r.srv)
			}
			logger.mute()
			release()
		}()
		return nil, fmt.Errorf("starting temporal server: %w", ctx.Err())
	}
}

// startFailure prefers the fatal log message, which names the cause, over the error
// the server returns, which often only says that a start hook exited.
func startFailure(err error, fatal *fatalSignal) string {
	select {
	case msg := <-fatal.ch:
		return msg
	default:
		return err.Error()
	}
}

// prepareDataDir creates the data dir and proves it is writable, so a bad dir fails
// here with its name rather than deep inside the server.
func prepareDataDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving data dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("data dir %s cannot be created (%v): pass another with %s", abs, fileread.StripPath(err), dataDirFlag)
	}
	probe, err := os.CreateTemp(abs, ".write-test-*")
	if err != nil {
		return "", fmt.Errorf("data dir %s is not writable (%v): fix its permissions or pass another with %s", abs, fileread.StripPath(err), dataDirFlag)
	}
	name := probe.Name()
	_ = probe.Close()
	if err := os.Remove(name); err != nil {
		return "", fmt.Errorf("data dir %s is not writable (%v): fix its permissions or pass another with %s", abs, fileread.StripPath(err), dataDirFlag)
	}
	return abs, nil
}

// lockFileIn locks the data dir's Temporal database for this server. Two servers on
// one SQLite file would each believe they own every shard and corrupt each other's
// workflows, so a second one is refused, whether in another process or this one.
func lockFileIn(dataDir string) (*os.File, error) {
	f, err := lockFile(filepath.Join(dataDir, lockFileName))
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("data dir %s is in use by another parry dev: stop it or pass another %s", dataDir, dataDirFlag)
	}
	if err != nil {
		return nil, fmt.Errorf("locking data dir %s: %w", dataDir, err)
	}
	return f, nil
}

// namespaceList puts DefaultNamespace first and drops duplicates.
func namespaceList(extra []string) ([]string, error) {
	list := []string{DefaultNamespace}
	seen := map[string]bool{DefaultNamespace: true}
	for _, ns := range extra {
		if err := checkNamespace(ns); err != nil {
			return nil, err
		}
		if !seen[ns] {
			seen[ns] = true
			list = append(list, ns)
		}
	}
	return list, nil
}

// checkNamespace keeps names to what works unquoted in URLs, the UI and the CLI.
func checkNamespace(ns string) error {
	switch {
	case ns == "":
		return errors.New("invalid namespace \"\": a namespace needs a name")
	case len(ns) > maxNamespaceLen:
		return fmt.Errorf("invalid namespace %q: longer than %d characters", ns[:20]+"…", maxNamespaceLen)
	case ns == primitives.SystemLocalNamespace:
		return fmt.Errorf("invalid namespace %q: reserved for the server itself", ns)
	}
	for i, r := range ns {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok || (i == 0 && (r == '-' || r == '.')) {
			return fmt.Errorf("invalid namespace %q: use letters, digits, '-', '_' and '.', starting with a letter, digit or '_'", ns)
		}
	}
	return nil
}

// registerNamespaces writes the namespaces straight into the database before the
// server starts, so they exist the moment the frontend answers.
func registerNamespaces(dbPath string, namespaces []string) error {
	configs := make([]*sqliteschema.NamespaceConfig, 0, len(namespaces))
	for _, ns := range namespaces {
		c, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, nil)
		if err != nil {
			return fmt.Errorf("registering namespace %s: %w", ns, err)
		}
		configs = append(configs, c)
	}
	if err := sqliteschema.CreateNamespaces(sqlConfig(dbPath), configs...); err != nil {
		return fmt.Errorf("registering namespaces: %w", describeSQLiteError(dbPath, err))
	}
	return nil
}

// serviceLayout is where each service listens.
type serviceLayout struct {
	frontendBind netip.AddrPort // what the frontend binds
	frontendDial netip.AddrPort // what clients dial
	internalIP   netip.Addr
	history      int
	matching     int
	worker       int
}

func (l serviceLayout) internal(port int) string {
	return netip.AddrPortFrom(l.internalIP, uint16(port)).String()
}

// serverConfig is the static configuration of a one-shard, single-host cluster on a
// SQLite file, without metrics, archival or the frontend's HTTP API.
func serverConfig(l serviceLayout, dbPath string) *config.Config {
	frontend := l.frontendDial.String()
	service := func(ip string, port int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: ip}}
	}
	c := &config.Config{}
	// Membership is static (see serverOptions); these only matter for the
	// broadcast address each service advertises.
	c.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: l.internalIP.String()}
	c.Persistence = config.Persistence{
		DefaultStore:     storeName,
		VisibilityStore:  storeName,
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{storeName: {SQL: sqlConfig(dbPath)}},
	}
	c.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
		},
	}
	c.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	c.Services = map[string]config.Service{
		string(primitives.FrontendService): service(l.frontendBind.Addr().String(), int(l.frontendBind.Port())),
		string(primitives.HistoryService):  service(l.internalIP.String(), l.history),
		string(primitives.MatchingService): service(l.internalIP.String(), l.matching),
		string(primitives.WorkerService):   service(l.internalIP.String(), l.worker),
	}
	c.Archival.History.State = "disabled"
	c.Archival.Visibility.State = "disabled"
	c.NamespaceDefaults.Archival.History.State = "disabled"
	c.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The worker service (system workflows) reaches the frontend through this.
	c.PublicClient.HostPort = frontend
	return c
}

// serverOptions assembles the server. Static membership replaces ringpop: with one
// host per service there is nothing to gossip, and it saves four membership ports.
func serverOptions(l serviceLayout, dbPath string, logger *serverLogger) ([]temporal.ServerOption, error) {
	conf := serverConfig(l, dbPath)
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("configuring temporal authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("configuring temporal claim mapper: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: static.SingleLocalHost(l.frontendDial.String()),
		primitives.HistoryService:  static.SingleLocalHost(l.internal(l.history)),
		primitives.MatchingService: static.SingleLocalHost(l.internal(l.matching)),
		primitives.WorkerService:   static.SingleLocalHost(l.internal(l.worker)),
	}
	dyn := dynamicconfig.StaticClient{
		// The default cache (128k workflows) is sized for a cluster host, not a laptop.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8192,
		// The Web UI polls list and count APIs; the default of 10/s throttles it.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// The server never stops the SDK workers behind these (its own TODOs say so):
		// after Stop they keep polling the frontend address, and with a new server on
		// it they run system workflows against the old server's closed state. Without
		// the worker, history applies parent close policies inline, which is what it
		// does anyway for fewer than 10 children; the scanners only tidy up
		// long-lived clusters.
		dynamicconfig.EnableParentClosePolicyWorker.Key(): false,
		dynamicconfig.TaskQueueScannerEnabled.Key():       false,
		dynamicconfig.HistoryScannerEnabled.Key():         false,
	}
	return []temporal.ServerOption{
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	}, nil
}
