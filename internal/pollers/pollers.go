// Package pollers starts the CECP log pollers the configuration asks for: one workflows.CECPPoller workflow per
// connection with poll.enabled, started idempotently (signal-with-start, so a running poller takes a changed
// configuration instead of being started twice) by `parry server`, `parry worker` and `parry dev`.
package pollers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/activities/poller"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/workflows"
)

// Temporal is the part of the Temporal client Start uses; client.Client is one.
type Temporal interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg interface{},
		options client.StartWorkflowOptions, workflow interface{}, workflowArgs ...interface{}) (client.WorkflowRun, error)
	SignalWorkflow(ctx context.Context, workflowID, runID, signalName string, arg interface{}) error
}

// Defaults of a connection's poll settings.
var (
	DefaultServices = []string{"exchange", "gmail"}
	DefaultEvents   = cecp.SecurityEventTypes()
)

// Default first fetch: how far back a stream's first poll reaches.
const DefaultFirstFetch = time.Hour

// WorkflowID is the id of a connection's poller workflow.
func WorkflowID(connection string) string { return "cecp-poller-" + connection }

// Input is the poller configuration of a connection, with defaults filled in: exchange and gmail × the four
// event types plus quarantine events, every minute, reaching back an hour the first time (clamped to what the
// vendor keeps: 72 hours of security events, 7 days of quarantine events).
func Input(conn config.CECPConnection) (workflows.PollerInput, error) {
	p := conn.Poll
	in := workflows.PollerInput{Connection: conn.Name, Interval: p.Interval, FirstFetch: p.FirstFetch}
	if in.Interval <= 0 {
		in.Interval = workflows.DefaultPollInterval
	}
	if in.Interval < 10*time.Second {
		return in, fmt.Errorf("connection %s: poll.interval %s is below 10s; the vendor allows 20 requests a minute", conn.Name, in.Interval)
	}
	if in.FirstFetch <= 0 {
		in.FirstFetch = DefaultFirstFetch
	}
	if in.FirstFetch > cecp.QuarantineEventsReach {
		in.FirstFetch = cecp.QuarantineEventsReach
	}
	services, events := p.Services, p.Events
	if len(services) == 0 {
		services = DefaultServices
	}
	if len(events) == 0 {
		events = DefaultEvents
	}
	for _, s := range services {
		if !slices.Contains(cecp.SecurityEventServices(), s) {
			return in, fmt.Errorf("connection %s: unknown poll service %q%s", conn.Name, s, suggest.Hint(s, cecp.SecurityEventServices()))
		}
	}
	for _, e := range events {
		if !slices.Contains(cecp.SecurityEventTypes(), e) {
			return in, fmt.Errorf("connection %s: unknown poll event %q%s", conn.Name, e, suggest.Hint(e, cecp.SecurityEventTypes()))
		}
	}
	for _, s := range services {
		for _, e := range events {
			in.Streams = append(in.Streams, workflows.PollStream{Service: s, Event: e})
		}
	}
	if p.Quarantine == nil || *p.Quarantine {
		in.Streams = append(in.Streams, workflows.PollStream{Service: cecp.ServiceExchange, Event: workflows.QuarantineEvent})
	}
	return in, nil
}

// Start makes the running pollers match the configuration: each connection with poll.enabled gets its
// workflow (started, or sent the configuration when it runs already), and the poller of a connection whose
// polling is off is told to stop. It returns the connections it started or updated.
func Start(ctx context.Context, tc Temporal, cfg config.Config) ([]string, error) {
	var started []string
	var errs []error
	for _, conn := range cfg.CECP.Connections {
		if !conn.Poll.Enabled {
			err := tc.SignalWorkflow(ctx, WorkflowID(conn.Name), "", workflows.SignalPollerConfig, workflows.PollerInput{Connection: conn.Name})
			var nf *serviceerror.NotFound
			if err != nil && !errors.As(err, &nf) {
				errs = append(errs, fmt.Errorf("stopping the poller of %s: %w", conn.Name, err))
			}
			continue
		}
		in, err := Input(conn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = tc.SignalWithStartWorkflow(ctx, WorkflowID(conn.Name), workflows.SignalPollerConfig, in,
			client.StartWorkflowOptions{ID: WorkflowID(conn.Name), TaskQueue: cfg.Temporal.TaskQueue}, workflows.PollerWorkflow, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("starting the poller of %s: %w", conn.Name, err))
			continue
		}
		started = append(started, conn.Name)
	}
	return started, errors.Join(errs...)
}

// Registry takes the poller's registrations: a Temporal worker (internal/worker's Options.Extra), or a test
// environment.
type Registry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
	RegisterActivityWithOptions(a interface{}, options activity.RegisterOptions)
}

// Register registers the poller workflow (workflows.PollerWorkflow) and its activity on a worker.
func Register(r Registry, acts *poller.Activities) {
	r.RegisterWorkflowWithOptions(workflows.CECPPoller, workflow.RegisterOptions{Name: workflows.PollerWorkflow})
	poller.Register(r, acts)
}

// Activities builds the poller's activities from the configuration: vendor clients per connection that take
// their slots from limiter (the cluster-wide quota), as background work.
func Activities(cfg config.Config, st *store.Store, secrets secret.Provider, limiter cecp.Limiter, logger *slog.Logger) *poller.Activities {
	return &poller.Activities{Store: st, Client: poller.Clients(cfg, secrets, limiter), Logger: logger}
}
