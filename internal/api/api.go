// Package api is parry's HTTP API: health, readiness and metrics without auth, and everything under /v1 behind
// bearer tokens with roles. Handlers return errors; one place turns them into JSON error bodies.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
)

// Check is one dependency /readyz reports on.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Server holds the API's dependencies. Build it in one place (the CLI's server or dev command, or a test) and
// serve Handler().
type Server struct {
	Store        *store.Store
	Logger       *slog.Logger
	Checks       []Check
	MaxBodyBytes int64
	Metrics      *Metrics
	// Connections are the configured CECP connection names alerts may name (nil: not checked).
	Connections []string
	// Runs starts, shows and acts on playbook runs (nil: no /v1/runs endpoints).
	Runs *runs.Service
	// Codec decrypts payloads for /codec (the Temporal Web UI's codec server); nil: no /codec. CodecOrigins
	// are the browser origins (the Web UI) allowed to call it with credentials.
	Codec        converter.PayloadCodec
	CodecOrigins []string
	// Artifacts reads the files runs kept, for GET /v1/runs/{id}/artifacts (nil: no artifact endpoints).
	Artifacts *artifact.Store
	// Console is the web console's handler, served at / and /ui/ (nil: no console).
	Console http.Handler
	// Extra lets later parts (runs, alerts, playbooks) add routes without this file knowing them.
	Extra []Route
}

// Route is one API endpoint.
type Route struct {
	Pattern string // net/http pattern with method, e.g. "GET /v1/runs/{id}"
	// Role is the least role a bearer token needs; "" for endpoints without a bearer token (health, a signed
	// webhook).
	Role    store.Role
	Handler HandlerFunc
	// Query lists the query parameters the endpoint takes; any other is a 400 unknown_parameter.
	Query []string
	// Audit is the audit action a successful request records (token, action, target). Every endpoint that
	// changes state has one; Handler refuses to build a non-GET route without it unless ReadOnly.
	Audit string
	// ReadOnly marks a POST that changes nothing (a replay).
	ReadOnly bool
}

// HandlerFunc is an API handler: it writes a success response itself or returns an error for the caller to
// render.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Metrics are the API's Prometheus collectors, on their own registry.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	alerts   *prometheus.CounterVec
}

// NewMetrics creates the registry with Go and process collectors and the HTTP request metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parry_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parry_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parry_alerts_received_total", Help: "Alerts received, by outcome (accepted or duplicate).",
		}, []string{"outcome"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.alerts, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Collectors are the API's own collectors, registered on m.Registry (a test checks the dashboard against them).
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.alerts}
}

type ctxKey int

const (
	tokenKey ctxKey = iota
	requestIDKey
)

// TokenFrom returns the authenticated token of a request (the zero Token for unauthenticated endpoints).
func TokenFrom(ctx context.Context) store.Token {
	t, _ := ctx.Value(tokenKey).(store.Token)
	return t
}

// RequestID returns the request's id (also sent back as X-Request-Id).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ProbeHandler serves only /healthz, /readyz (s.Checks) and /metrics (s.Metrics): what a process without the
// API, `parry worker`, offers its orchestrator and Prometheus.
func (s *Server) ProbeHandler() http.Handler {
	if s.Metrics == nil {
		s.Metrics = NewMetrics()
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.wrap(Route{Pattern: "GET /healthz", Handler: s.healthz}))
	mux.Handle("GET /readyz", s.wrap(Route{Pattern: "GET /readyz", Handler: s.readyz}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("/", s.wrap(Route{Pattern: "unmatched", Handler: s.unmatched(mux)}))
	return securityHeaders(s.canonicalPaths(mux))
}

// Handler returns the API's root handler.
func (s *Server) Handler() http.Handler {
	if s.Metrics == nil {
		s.Metrics = NewMetrics()
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 10 << 20
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.wrap(Route{Pattern: "GET /healthz", Handler: s.healthz}))
	mux.Handle("GET /readyz", s.wrap(Route{Pattern: "GET /readyz", Handler: s.readyz}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	for _, rt := range s.Routes() {
		mux.Handle(rt.Pattern, s.wrap(rt))
	}
	if s.Codec != nil {
		mux.Handle("/codec/", s.codecHandler())
	}
	if s.Console != nil {
		// The console's pages and scripts carry their own Content-Security-Policy (script-src 'self').
		mux.Handle("GET /{$}", s.Console)
		mux.Handle("GET /ui/", s.Console)
	}
	mux.Handle("/", s.wrap(Route{Pattern: "unmatched", Handler: s.unmatched(mux)}))
	return securityHeaders(s.canonicalPaths(mux))
}

// canonicalPaths answers a request whose path is not in canonical form ("/v1/.", "//v1/alerts",
// "/v1/runs/../tokens") with a JSON 404 naming the canonical path, where http.ServeMux would answer an empty
// redirect: a program posting to the wrong path learns which one it meant, and no POST is silently redirected.
func (s *Server) canonicalPaths(next http.Handler) http.Handler {
	unclean := s.wrap(Route{Pattern: "unclean path", Handler: func(w http.ResponseWriter, r *http.Request) error {
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "no endpoint %s %s: paths are matched as written (no '.', '..' or '//' segments); did you mean %s?",
			r.Method, clip(r.URL.EscapedPath(), 200), clip(cleanPath(r.URL.EscapedPath()), 200))
	}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As the mux does, on the path as sent: an escaped slash ("..%2Fmail.zip") is a path value, not a segment.
		if p := r.URL.EscapedPath(); r.Method != http.MethodConnect && cleanPath(p) != p {
			unclean.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is the canonical form http.ServeMux redirects to: rooted, '.' and '..' resolved, no empty
// segments, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// Routes lists every endpoint the server serves besides health, readiness and metrics.
func (s *Server) Routes() []Route {
	routes := append(append(append(append(s.routes(), s.alertRoutes()...), s.runRoutes()...), s.codecRoutes()...), append(s.consoleRoutes(), s.Extra...)...)
	for _, rt := range routes {
		if rt.Audit == "" && !rt.ReadOnly && !strings.HasPrefix(rt.Pattern, "GET ") {
			panic("api: route " + rt.Pattern + " changes state but records no audit action") // a programming error
		}
	}
	return routes
}

// securityHeaders go on every answer, errors and 404s included: the API serves JSON for programs, never pages.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// unmatched answers requests no route takes: 405 with Allow when the path exists with other methods, else 404.
func (s *Server) unmatched(mux *http.ServeMux) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		path := clip(r.URL.Path, 200)
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return Errorf(http.StatusMethodNotAllowed, apitypes.CodeMethodNotAllowed, "%s %s is not an endpoint; this path takes %s", r.Method, path, strings.Join(allow, ", "))
		}
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "no endpoint %s %s", r.Method, path)
	}
}

func (s *Server) routes() []Route {
	return []Route{
		{Pattern: "GET /v1/whoami", Role: store.RoleIngest, Handler: s.whoami},
		{Pattern: "GET /v1/tokens", Role: store.RoleAdmin, Handler: s.listTokens, Query: []string{apitypes.ParamAll}},
		{Pattern: "POST /v1/tokens", Role: store.RoleAdmin, Handler: s.createToken, Audit: "token.create"},
		{Pattern: "DELETE /v1/tokens/{name}", Role: store.RoleAdmin, Handler: s.revokeToken, Audit: "token.revoke"},
	}
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// statusWriter remembers the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds request ids, body caps, authentication, query and path checks, error rendering, audit rows, logs
// and metrics around a handler.
func (s *Server) wrap(rt Route) http.Handler {
	health := rt.Pattern == "GET /healthz" || rt.Pattern == "GET /readyz"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDRE.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		sw := &statusWriter{ResponseWriter: w}
		r.Body = http.MaxBytesReader(sw, r.Body, s.MaxBodyBytes)

		var err error
		var tok store.Token
		if rt.Role != "" {
			tok, err = s.authenticate(r.WithContext(ctx), rt.Role)
			ctx = context.WithValue(ctx, tokenKey, tok)
		}
		if err == nil && !health && rt.Pattern != "unmatched" {
			err = checkRequest(rt, r)
		}
		var audit *auditInfo
		var buf *bufferedWriter
		out := http.ResponseWriter(sw)
		if rt.Audit != "" {
			audit = &auditInfo{}
			ctx = context.WithValue(ctx, auditKey, audit)
			buf = newBufferedWriter()
			out = buf
		}
		if err == nil {
			err = rt.Handler(out, r.WithContext(ctx))
		}
		if err != nil {
			if buf != nil {
				buf = newBufferedWriter() // drop anything the handler wrote before it failed
				out = buf
			}
			s.writeError(out, r.WithContext(ctx), err)
		} else if buf != nil && buf.status < 400 {
			s.writeAudit(ctx, rt.Audit, audit, tok, buf.status)
		}
		if buf != nil {
			buf.flush(sw)
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.Metrics.requests.WithLabelValues(rt.Pattern, fmt.Sprint(status)).Inc()
		s.Metrics.duration.WithLabelValues(rt.Pattern).Observe(time.Since(start).Seconds())
		level := slog.LevelInfo
		if health {
			level = slog.LevelDebug
		}
		if status >= 500 {
			level = slog.LevelError
		}
		s.Logger.Log(ctx, level, "http request", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", status, "duration_ms", time.Since(start).Milliseconds(), "token", tok.Name)
	})
}

// checkRequest refuses query parameters the route does not take and path values that are not clean text,
// before any handler (or SQL) sees them.
func checkRequest(rt Route, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return paramErrorf("the query string is malformed (parameters are name=value pairs joined by &, percent-encoded)")
	}
	if err := checkQuery(rt.Pattern, rt.Query, q); err != nil {
		return err
	}
	for _, n := range wildcards(rt.Pattern) {
		if err := checkPathValue(n, r.PathValue(n)); err != nil {
			return err
		}
	}
	return nil
}

// wildcards lists the {names} of a route pattern.
func wildcards(pattern string) []string {
	var out []string
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, strings.TrimSuffix(rest[i+1:i+j], "..."))
		rest = rest[i+j+1:]
	}
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) authenticate(r *http.Request, need store.Role) (store.Token, error) {
	h := r.Header.Get("Authorization")
	scheme, presented, ok := strings.Cut(h, " ")
	if h == "" {
		return store.Token{}, Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "missing Authorization: Bearer <token> header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || presented == "" {
		return store.Token{}, Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	// No cache: every request asks the database, so a revocation holds from the next request on.
	tok, err := s.Store.Authenticate(r.Context(), strings.TrimSpace(presented))
	if errors.Is(err, store.ErrBadToken) {
		return store.Token{}, Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "invalid or revoked token")
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("authenticating: %w", err)
	}
	if !tok.Role.Allows(need) {
		return tok, Errorf(http.StatusForbidden, apitypes.CodeForbidden, "token %q has role %s; this needs %s or higher", tok.Name, tok.Role, need)
	}
	return tok, nil
}

// WriteJSON writes v as indented JSON with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return WriteJSON(w, http.StatusOK, apitypes.Health{Status: "ok"})
}

// readyz reports each dependency as ok or unavailable; why goes to the log (the endpoint is unauthenticated,
// and a cause may name internal addresses).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out := apitypes.Ready{Status: "ok", Checks: map[string]string{}}
	code := http.StatusOK
	for _, c := range s.Checks {
		if err := c.Check(ctx); err != nil {
			s.Logger.Warn("readiness check failed", "request_id", RequestID(r.Context()), "check", c.Name, "error", err)
			out.Checks[c.Name] = "unavailable"
			out.Status, code = "unavailable", http.StatusServiceUnavailable
		} else {
			out.Checks[c.Name] = "ok"
		}
	}
	return WriteJSON(w, code, out)
}
