// Package activities implements one Temporal activity per action of the catalog (internal/action): the CECP
// reads and mitigations, the blocked lists, quarantined-mail downloads, http.request and notify.webhook.
//
// Every activity takes the same wire.ActionInput (the step's evaluated `with` plus references to secrets) and
// returns the same wire.ActionResult (the spec's output as JSON). Around each one, a common wrapper fills the
// secrets in, checks the inputs against the spec, runs the action, removes secret values from whatever leaves
// the activity and turns every failure into one of the closed set of error types (wire.VendorRateLimited,
// VendorUnavailable, VendorRejected, VendorAuth, InvalidInput) that retry policies and playbooks branch on.
//
// The package never imports workflows: the activity input and result are internal/wire's, the one contract
// both sides use.
package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/activity"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/config"
	broker "github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/wire"
)

// Defaults of Deps.
const (
	DefaultPollInterval    = 2 * time.Second
	DefaultMaxPollInterval = 30 * time.Second
	DefaultHTTPTimeout     = 30 * time.Second
	// DefaultMaxOutputBytes stays under the 2 MB Temporal refuses for a payload.
	DefaultMaxOutputBytes = 2_000_000
)

// Deps are everything the activities use. Set them once (parry worker, parry dev, tests).
type Deps struct {
	// Config supplies the CECP connections, http.allowed_hosts and notify.webhooks.
	Config config.Config
	// Secrets resolves secret("name") references, CECP tokens and webhook URLs.
	Secrets secret.Provider
	// Limiter is the cluster-wide vendor quota (quota.Shared, on PostgreSQL); nil leaves only the vendor's own limit.
	Limiter cecp.Limiter
	// Store records audit rows, and holds the mitigation broker's queue and ledger.
	Store *store.Store
	// Mitigation is the broker cecp.mitigate_* hand their items to; one over Store when nil. The worker sets it
	// to share its metrics.
	Mitigation *broker.Service
	// Artifacts keeps downloaded mail.
	Artifacts *artifact.Store
	// HTTPTransport carries http.request and notify.webhook; http.DefaultTransport when nil.
	HTTPTransport http.RoundTripper
	// CECPHTTP sends vendor requests; the cecp client's default when nil.
	CECPHTTP cecp.Doer
	// Logger gets the activities' own log lines (never a secret); slog.Default when nil.
	Logger *slog.Logger
	// Now is the clock (mitigation ledger, lookup windows); time.Now when nil.
	Now func() time.Time
	// Tracer makes the vendor requests' spans (internal/tracing); none when nil.
	Tracer trace.Tracer
	// PollInterval is the first wait between result polls of a connection's mitigations, doubling up to
	// MaxPollInterval while nothing changes.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// HTTPTimeout bounds one http.request or notify.webhook exchange (the activity's timeout bounds it too).
	HTTPTimeout time.Duration
	// MaxOutputBytes bounds an activity's output as JSON.
	MaxOutputBytes int
}

// Registry is where activities are registered: a worker.Worker or a testsuite environment.
type Registry interface {
	RegisterActivityWithOptions(a interface{}, options activity.RegisterOptions)
}

// Activities holds the dependencies and the per-connection vendor clients.
type Activities struct {
	deps    Deps
	catalog *action.Catalog
	broker  *broker.Service

	mu      sync.Mutex
	clients map[string]*cecp.Client
}

// New checks deps, fills defaults and returns the activities.
func New(deps Deps) (*Activities, error) {
	if deps.Secrets == nil {
		return nil, fmt.Errorf("creating activities: no secret provider")
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("creating activities: no store (audit rows and the mitigation ledger need PostgreSQL)")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.HTTPTransport == nil {
		deps.HTTPTransport = http.DefaultTransport
	}
	if deps.PollInterval <= 0 {
		deps.PollInterval = DefaultPollInterval
	}
	if deps.MaxPollInterval < deps.PollInterval {
		deps.MaxPollInterval = max(DefaultMaxPollInterval, deps.PollInterval)
	}
	if deps.HTTPTimeout <= 0 {
		deps.HTTPTimeout = DefaultHTTPTimeout
	}
	if deps.MaxOutputBytes <= 0 {
		deps.MaxOutputBytes = DefaultMaxOutputBytes
	}
	b := deps.Mitigation
	if b == nil {
		b = &broker.Service{Store: deps.Store, Logger: deps.Logger.With("component", "mitigation"), Now: deps.Now,
			PollInterval: deps.PollInterval, MaxPollInterval: deps.MaxPollInterval}
	}
	return &Activities{deps: deps, catalog: action.Default(), broker: b, clients: map[string]*cecp.Client{}}, nil
}

// handler runs one action once its inputs are checked; it returns the spec's output as a Go value.
type handler func(ctx context.Context, c *call) (any, error)

// handlers maps every action of the catalog to its implementation.
func (a *Activities) handlers() map[string]handler {
	return map[string]handler{
		"cecp.security_events":     a.securityEvents,
		"cecp.quarantine_events":   a.quarantineEvents,
		"cecp.quarantine_download": a.quarantineDownload,
		"cecp.sweep":               a.sweep,
		"cecp.mitigate_mails":      a.mitigateMails,
		"cecp.mitigate_accounts":   a.mitigateAccounts,
		"cecp.mitigation_results":  a.mitigationResults,
		"cecp.blocklist":           a.blocklist,
		"cecp.block":               a.block,
		"cecp.unblock":             a.unblock,
		"http.request":             a.httpRequest,
		"notify.webhook":           a.notifyWebhook,
	}
}

// Register registers one activity per catalog action, under the action's name. It fails when an action has
// no implementation or an implementation has no action, so the catalog and the worker cannot drift apart.
func Register(r Registry, deps Deps) error {
	a, err := New(deps)
	if err != nil {
		return err
	}
	return a.Register(r)
}

// Register registers the activities of a.
func (a *Activities) Register(r Registry) error {
	hs := a.handlers()
	for _, spec := range a.catalog.Specs() {
		h, ok := hs[spec.Name]
		if !ok {
			return fmt.Errorf("registering activities: action %s has no implementation", spec.Name)
		}
		delete(hs, spec.Name)
		r.RegisterActivityWithOptions(a.activity(spec, h), activity.RegisterOptions{Name: spec.Name})
	}
	for name := range hs {
		return fmt.Errorf("registering activities: %s is implemented but not in the catalog", name)
	}
	return nil
}

// call is one execution of an activity: its checked inputs and where it runs.
type call struct {
	spec    *action.Spec
	with    map[string]any
	runID   string
	step    string
	attempt int
	logger  *slog.Logger
	// secrets are the values the wrapper removes from errors and the output: the step's secrets, and any a
	// handler read itself (a webhook URL).
	secrets []string

	mu       sync.Mutex
	progress any // the last progress a handler recorded; the keeper re-sends it with every heartbeat
	// quotaWait is set while the attempt sleeps for a slot of the vendor quota; it goes with every heartbeat
	// as the second detail.
	quotaWait *wire.QuotaWait
}

// MaxQuotaWait is the longest an attempt sleeps for a slot of its connection's quota instead of failing: a
// full window with its margin, and a little more. A longer wait (after a vendor 429 with a long Retry-After)
// fails the attempt with VendorRateLimited and its delay, and Temporal retries it durably.
const MaxQuotaWait = 90 * time.Second

// waitingForQuota records that the attempt sleeps for a slot of key's quota for wait, and heartbeats it now.
func (c *call) waitingForQuota(ctx context.Context, key string, wait time.Duration) {
	c.mu.Lock()
	c.quotaWait = &wire.QuotaWait{Connection: key, Until: time.Now().Add(wait).UTC()}
	c.mu.Unlock()
	c.beat(ctx)
}

// beat sends the attempt's heartbeat: its progress, and the quota wait when there is one.
func (c *call) beat(ctx context.Context) {
	c.mu.Lock()
	p, qw := c.progress, c.quotaWait
	c.mu.Unlock()
	switch {
	case qw != nil:
		activity.RecordHeartbeat(ctx, p, *qw)
	case p != nil:
		activity.RecordHeartbeat(ctx, p)
	default:
		activity.RecordHeartbeat(ctx)
	}
}

// setProgress records a handler's progress without sending it: the next keep-alive heartbeat carries it. For
// progress that changes often and is read from elsewhere (a mitigation's, from the queue in PostgreSQL), so
// that a change costs no Temporal write.
func (c *call) setProgress(progress any) {
	c.mu.Lock()
	c.progress = progress
	c.mu.Unlock()
}

// keepAlive heartbeats every interval until ctx ends, so that Temporal notices a worker that died in the
// middle of an activity within the run's heartbeat timeout (instead of the activity's whole timeout) and
// gives the activity to another worker.
func (c *call) keepAlive(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.beat(ctx)
		}
	}
}

// hide adds values to those kept out of the step's error and output.
func (c *call) hide(values ...string) {
	c.secrets = append(c.secrets, values...)
}

// activity wraps h into the function Temporal runs.
func (a *Activities) activity(spec *action.Spec, h handler) func(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	return func(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
		info := activity.GetInfo(ctx)
		c := &call{spec: spec, step: in.Step, runID: in.Run.ID, attempt: int(info.Attempt)}
		if c.runID == "" {
			// An activity started outside a playbook run (tests, tools) is keyed by its workflow.
			c.runID = info.WorkflowExecution.ID
		}
		if c.step == "" {
			c.step = info.ActivityID
		}
		c.logger = a.deps.Logger.With("action", spec.Name, "run_id", c.runID, "step", c.step, "attempt", c.attempt)
		if info.HeartbeatTimeout > 0 {
			hbCtx, stop := context.WithCancel(ctx)
			defer stop()
			go c.keepAlive(hbCtx, max(info.HeartbeatTimeout/4, 100*time.Millisecond))
		}
		// A short wait for the vendor quota is slept inside the attempt (heartbeating), not failed: a failed
		// attempt would count against the step's max_attempts and inflate the back-off of a later real failure.
		actx := ctx
		ctx = cecp.WithQuotaWaiting(ctx, MaxQuotaWait, func(key string, wait time.Duration) {
			c.logger.Info("waiting for the vendor quota", "connection", key, "wait", wait.Round(time.Millisecond).String())
			c.waitingForQuota(actx, key, wait)
		})
		with := cloneMap(in.With)
		values, err := a.fillSecrets(ctx, with, in.Secrets)
		c.hide(values...)
		if err != nil {
			return wire.ActionResult{}, toTemporal(err, c.secrets, c.attempt)
		}
		if err := checkInputs(spec, with); err != nil {
			return wire.ActionResult{}, toTemporal(err, c.secrets, c.attempt)
		}
		c.with = with
		out, err := h(ctx, c)
		if err != nil {
			e := toTemporal(err, c.secrets, c.attempt)
			c.logger.Info("action failed", "error", e.Error())
			return wire.ActionResult{}, e
		}
		raw, err := json.Marshal(out)
		if err != nil {
			return wire.ActionResult{}, toTemporal(fmt.Errorf("encoding the output: %w", err), c.secrets, c.attempt)
		}
		raw = redactJSON(raw, c.secrets)
		if len(raw) > a.deps.MaxOutputBytes {
			return wire.ActionResult{}, toTemporal(failf(action.InvalidInput,
				"the output is %d bytes, over the %d a step may return: narrow the query or lower max_results",
				len(raw), a.deps.MaxOutputBytes), c.secrets, c.attempt)
		}
		return wire.ActionResult{Output: raw, Attempt: c.attempt}, nil
	}
}

func (a *Activities) now() time.Time { return a.deps.Now() }

// cloneMap copies the containers of v so that filling secrets in never writes into the caller's value.
func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
