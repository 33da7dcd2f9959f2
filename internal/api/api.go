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
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	// Extra lets later parts (runs, alerts, playbooks) add routes without this file knowing them.
	Extra []Route
}

// Route is one authenticated API endpoint.
type Route struct {
	Pattern string // net/http pattern with method, e.g. "GET /v1/runs/{id}"
	Role    store.Role
	Handler HandlerFunc
}

// HandlerFunc is an API handler: it writes a success response itself or returns an error for the caller to
// render.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is an API error with its HTTP status and a stable machine-readable code.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details lists per-item problems (for example one entry per invalid alert).
	Details any `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an API error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

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
	mux.Handle("GET /healthz", s.wrap("GET /healthz", "", s.healthz))
	mux.Handle("GET /readyz", s.wrap("GET /readyz", "", s.readyz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("POST /v1/webhooks/alerts/{name}", s.wrap("POST /v1/webhooks/alerts/{name}", "", s.postWebhookAlerts))
	routes := append(append(append(s.routes(), s.alertRoutes()...), s.runRoutes()...), s.Extra...)
	for _, rt := range routes {
		mux.Handle(rt.Pattern, s.wrap(rt.Pattern, rt.Role, rt.Handler))
	}
	mux.Handle("/", s.wrap("unmatched", "", func(w http.ResponseWriter, r *http.Request) error {
		return Errorf(http.StatusNotFound, "not_found", "no endpoint %s %s", r.Method, r.URL.Path)
	}))
	return mux
}

func (s *Server) routes() []Route {
	return []Route{
		{"GET /v1/whoami", store.RoleIngest, s.whoami},
		{"GET /v1/tokens", store.RoleAdmin, s.listTokens},
		{"POST /v1/tokens", store.RoleAdmin, s.createToken},
		{"DELETE /v1/tokens/{name}", store.RoleAdmin, s.revokeToken},
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

// wrap adds request ids, body caps, authentication, error rendering, logs and metrics around a handler.
func (s *Server) wrap(route string, role store.Role, h HandlerFunc) http.Handler {
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
		if role != "" {
			tok, err = s.authenticate(r.WithContext(ctx), role)
			ctx = context.WithValue(ctx, tokenKey, tok)
		}
		if err == nil {
			err = h(sw, r.WithContext(ctx))
		}
		if err != nil {
			s.writeError(sw, r.WithContext(ctx), err)
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.Metrics.requests.WithLabelValues(route, fmt.Sprint(status)).Inc()
		s.Metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		level := slog.LevelInfo
		if route == "GET /healthz" || route == "GET /readyz" {
			level = slog.LevelDebug
		}
		if status >= 500 {
			level = slog.LevelError
		}
		s.Logger.Log(ctx, level, "http request", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", status, "duration_ms", time.Since(start).Milliseconds(), "token", tok.Name)
	})
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
		return store.Token{}, Errorf(http.StatusUnauthorized, "unauthorized", "missing Authorization: Bearer <token> header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || presented == "" {
		return store.Token{}, Errorf(http.StatusUnauthorized, "unauthorized", "the Authorization header must be \"Bearer <token>\"")
	}
	tok, err := s.Store.Authenticate(r.Context(), strings.TrimSpace(presented))
	if errors.Is(err, store.ErrBadToken) {
		return store.Token{}, Errorf(http.StatusUnauthorized, "unauthorized", "invalid or revoked token")
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("authenticating: %w", err)
	}
	if !tok.Role.Allows(need) {
		return tok, Errorf(http.StatusForbidden, "forbidden", "token %q has role %s; this needs %s or higher", tok.Name, tok.Role, need)
	}
	return tok, nil
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &maxErr):
		apiErr = Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than %d bytes", maxErr.Limit)
	default:
		s.Logger.Error("request failed", "request_id", RequestID(r.Context()), "path", r.URL.Path, "error", err)
		apiErr = Errorf(http.StatusInternalServerError, "internal", "internal error (request id %s); the server log has the details", RequestID(r.Context()))
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connect") {
			apiErr = Errorf(http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable (request id %s): %s", RequestID(r.Context()), err)
		}
	}
	if apiErr.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parry"`)
	}
	WriteJSON(w, apiErr.Status, map[string]any{"error": apiErr})
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

// DecodeJSON reads a JSON body strictly: unknown fields, trailing data and wrong types are 400s that say where.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadJSON(err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "bad_json", "request body has data after the JSON value")
	}
	return nil
}

// BadJSON turns a decoding error into a 400 (or the 413 of an oversized body).
func BadJSON(err error) error {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return err
	case errors.As(err, &syn):
		return Errorf(http.StatusBadRequest, "bad_json", "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return Errorf(http.StatusBadRequest, "bad_json", "field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return Errorf(http.StatusBadRequest, "bad_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "bad_json", "request body is empty; expected JSON")
	default:
		return Errorf(http.StatusBadRequest, "bad_json", "malformed JSON: %s", err)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	for _, c := range s.Checks {
		if err := c.Check(ctx); err != nil {
			checks[c.Name] = err.Error()
			ready = false
		} else {
			checks[c.Name] = "ok"
		}
	}
	status, code := "ok", http.StatusOK
	if !ready {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	return WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
}
