package devserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/temporalio/ui-server/v2/server/api"
	"github.com/temporalio/ui-server/v2/server/auth"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/cors"
	"github.com/temporalio/ui-server/v2/server/csrf"
	"github.com/temporalio/ui-server/v2/server/headers"
	"github.com/temporalio/ui-server/v2/server/route"
	"github.com/temporalio/ui-server/v2/ui"
)

// DefaultUIListen is the Web UI's address unless told otherwise, the port the
// temporal CLI's dev server uses for it.
const DefaultUIListen = "127.0.0.1:8233"

const uiListenFlag = "--dev-ui-listen"

// UIOptions configures StartUI. TemporalAddress is required.
type UIOptions struct {
	// Listen is the UI's ip:port, default DefaultUIListen; port 0 picks a free port.
	Listen string
	// TemporalAddress is the frontend the UI talks to, usually Temporal.Address().
	TemporalAddress string
	// Logger receives the UI server's errors. Nil discards them.
	Logger *slog.Logger
	// CodecEndpoint is a codec server the UI asks to decode payloads (parry's /codec), sending the browser's
	// cookies for it; "" shows payloads as stored.
	CodecEndpoint string
}

// UI is a running Temporal Web UI.
type UI struct {
	srv   *http.Server
	url   string
	cfg   *uiconfig.ConfigProviderWithRefresh
	serve chan error

	stopOnce sync.Once
	stopped  chan struct{}
	stopErr  error
}

// URL is the UI's address for a browser, e.g. http://127.0.0.1:8233.
func (u *UI) URL() string { return u.url }

// StartUI serves the Temporal Web UI and returns once its port is bound. The UI
// connects to TemporalAddress lazily, so it may start before the server.
//
// It assembles the UI from ui-server's route and middleware packages instead of
// calling its Server.Start: that binds the port itself and ends the process through
// its logger's Fatal when the port is taken, while here the listener is ours, so a
// taken port is an error and Stop can drain requests.
func StartUI(ctx context.Context, opts UIOptions) (*UI, error) {
	if opts.TemporalAddress == "" {
		return nil, errors.New("starting the web UI: no Temporal address given")
	}
	if _, _, err := net.SplitHostPort(opts.TemporalAddress); err != nil {
		return nil, fmt.Errorf("starting the web UI: invalid Temporal address %q: want host:port", opts.TemporalAddress)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultUIListen
	}
	listen, err := parseListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting the web UI: %w", err)
	}
	ln, err := net.Listen("tcp", listen.bind.String())
	if err != nil {
		return nil, listenError(listen.bind.String(), uiListenFlag, err)
	}
	bound := ln.Addr().(*net.TCPAddr).AddrPort()
	dial := netip.AddrPortFrom(listen.dialIP(), bound.Port())

	handler, cfg, err := uiHandler(opts.TemporalAddress, int(bound.Port()), listen.bind.Addr().String(), opts.CodecEndpoint)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("starting the web UI: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u := &UI{
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		url:     "http://" + dial.String(),
		cfg:     cfg,
		serve:   make(chan error, 1),
		stopped: make(chan struct{}),
	}
	go func() { u.serve <- u.srv.Serve(ln) }()
	return u, nil
}

// Stop stops accepting connections, waits for requests in flight until ctx ends, and
// then closes what is left. It is safe to call more than once.
func (u *UI) Stop(ctx context.Context) error {
	u.stopOnce.Do(func() {
		err := u.srv.Shutdown(ctx)
		if err != nil {
			// ctx ended with requests still open (a long poll from a browser tab).
			err = errors.Join(fmt.Errorf("stopping the web UI: %w", err), u.srv.Close())
		}
		if serr := <-u.serve; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = fmt.Errorf("serving the web UI: %w", serr)
		}
		u.cfg.Close()
		u.stopErr = err
		close(u.stopped)
	})
	<-u.stopped
	return u.stopErr
}

// uiHandler builds the UI's echo application: the same middleware and routes as
// ui-server's NewServer, configured for a local, unauthenticated dev UI.
func uiHandler(temporalAddr string, port int, host, codecEndpoint string) (http.Handler, *uiconfig.ConfigProviderWithRefresh, error) {
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: temporalAddr,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    DefaultNamespace,
		// Plain HTTP on loopback: a Secure cookie would never come back.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// parry dev runs offline too; the UI must not call GitHub for release notes.
		DisableNewsFetch: true,
		HideLogs:         true,
		Distribution:     "parry",
	}
	if codecEndpoint != "" {
		cfg.Codec.Endpoint = codecEndpoint
		cfg.Codec.IncludeCredentials = true
		cfg.Codec.DefaultErrorMessage = "parry could not decrypt this payload: sign in to the parry console in this browser (as a viewer or higher), then reload"
	}
	provider, err := uiconfig.NewConfigProviderWithRefresh(staticUIConfig{cfg})
	if err != nil {
		return nil, nil, fmt.Errorf("configuring: %w", err)
	}
	assets, err := ui.Assets()
	if err != nil {
		provider.Close()
		return nil, nil, fmt.Errorf("loading assets: %w", err)
	}
	local, err := fs.Sub(assets, "local")
	if err != nil {
		provider.Close()
		return nil, nil, fmt.Errorf("loading assets: %w", err)
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Use(middleware.Recover())
	e.Use(middleware.Gzip())
	e.Use(cors.CORSMiddleware(cors.CORSConfig{
		AllowHeaders: []string{
			echo.HeaderOrigin, echo.HeaderContentType, echo.HeaderAccept, echo.HeaderXCSRFToken,
			echo.HeaderAuthorization, auth.AuthorizationExtrasHeader, "Caller-Type",
		},
		AllowCredentials: true,
		ConfigProvider:   provider,
	}))
	e.Use(middleware.Secure())
	e.Use(csrf.EnsureTokenCookie(false))
	e.Use(middleware.CSRFWithConfig(csrf.MiddlewareConfig(provider, false)))
	route.SetHealthRoute(e)
	forward := []api.Middleware{headers.WithForwardHeaders([]string{auth.AuthorizationExtrasHeader, "Caller-Type"})}
	// The gRPC connection behind these routes is lazy and lives as long as the
	// process; ui-server offers no way to close it.
	if err := route.SetAPIRoutes(e, provider, forward); err != nil {
		provider.Close()
		return nil, nil, err
	}
	route.SetAuthRoutes(e, provider)
	if err := route.SetUIRoutes(e, "", local, provider); err != nil {
		provider.Close()
		return nil, nil, fmt.Errorf("loading assets: %w", err)
	}
	route.SetRenderRoute(e, "/")
	return e, provider, nil
}

// staticUIConfig is a ui-server config provider that never changes.
type staticUIConfig struct{ cfg *uiconfig.Config }

func (s staticUIConfig) GetConfig() (*uiconfig.Config, error) { return s.cfg, nil }
