package workflows

import (
	"time"

	"github.com/parry-soar/parry/internal/wire"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the CECP log poller.
const (
	// PollerWorkflow is the workflow type of the log poller of one CECP connection.
	PollerWorkflow = "CECPPoller"
	// ActivityPollStream polls one stream of one connection (PollStreamInput → PollStreamResult); activities/poller
	// registers it under this name.
	ActivityPollStream = "poller.poll_stream"
	// SignalPollerConfig replaces the poller's configuration (a PollerInput) from the next round on; a config
	// with no streams stops the poller.
	SignalPollerConfig = "config"
	// QuarantineEvent is the stream "event" of quarantine events (and the kind of their alerts).
	QuarantineEvent = "quarantine"
)

// Poller defaults.
const (
	DefaultPollInterval   = time.Minute
	DefaultRoundsPerRun   = 100
	DefaultCallsPerStream = 20 // activity calls per stream per round when the vendor has more pages
)

// PollStream is one (service, event) pair of security events, or Event == QuarantineEvent.
type PollStream struct {
	Service string `json:"service"`
	Event   string `json:"event"`
}

// Name is the stream's name in cursors and logs: service/event, or quarantine.
func (s PollStream) Name() string {
	if s.Event == QuarantineEvent {
		return QuarantineEvent
	}
	return s.Service + "/" + s.Event
}

// PollerInput configures the poller of one connection.
type PollerInput struct {
	Connection string        `json:"connection"`
	Streams    []PollStream  `json:"streams"`
	Interval   time.Duration `json:"interval"`
	FirstFetch time.Duration `json:"first_fetch"`
	// Rounds before the workflow continues as new (bounding its history); DefaultRoundsPerRun when 0.
	Rounds int `json:"rounds,omitempty"`
}

// PollStreamInput is the input of ActivityPollStream.
type PollStreamInput struct {
	Connection string        `json:"connection"`
	Stream     PollStream    `json:"stream"`
	FirstFetch time.Duration `json:"first_fetch"`
}

// PollStreamResult is what one ActivityPollStream call did.
type PollStreamResult struct {
	Events int `json:"events"`
	Alerts int `json:"alerts"`
	Pages  int `json:"pages"`
	// More is set when the vendor has more pages than one call reads.
	More     bool      `json:"more"`
	Position time.Time `json:"position"`
}

// CECPPoller polls the streams of one CECP connection round after round: each stream until the vendor has no
// more pages (the activity stores alerts and the cursor together, so the workflow carries no state), then a
// durable timer. A stream that keeps failing (the vendor down or refusing the token) is skipped for the round
// after its retries; its cursor waits in PostgreSQL. It continues as new after Rounds rounds, or earlier when
// Temporal suggests it, so its history stays small.
func CECPPoller(ctx workflow.Context, in PollerInput) error {
	log := workflow.GetLogger(ctx)
	cfg := workflow.GetSignalChannel(ctx, SignalPollerConfig)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        6,
			NonRetryableErrorTypes: wire.NonRetryable,
		},
	})
	rounds := in.Rounds
	if rounds <= 0 {
		rounds = DefaultRoundsPerRun
	}
	for round := 0; round < rounds; round++ {
		// Take the newest configuration signalled since the last round.
		for {
			var next PollerInput
			if !cfg.ReceiveAsync(&next) {
				break
			}
			in = next
		}
		if len(in.Streams) == 0 {
			log.Info("log poller stopped: no streams configured", "connection", in.Connection)
			return nil
		}
		for _, s := range in.Streams {
			for call := 0; call < DefaultCallsPerStream; call++ {
				var res PollStreamResult
				err := workflow.ExecuteActivity(ctx, ActivityPollStream, PollStreamInput{
					Connection: in.Connection, Stream: s, FirstFetch: in.FirstFetch,
				}).Get(ctx, &res)
				if err != nil {
					log.Warn("polling a stream failed; it is retried next round", "connection", in.Connection, "stream", s.Name(), "error", err)
					break
				}
				if !res.More {
					break
				}
			}
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
		interval := in.Interval
		if interval <= 0 {
			interval = DefaultPollInterval
		}
		// Sleep, but wake for a new configuration so that a stop or a change applies at once.
		timerCtx, cancel := workflow.WithCancel(ctx)
		timer := workflow.NewTimer(timerCtx, interval)
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(workflow.Future) {})
		sel.AddReceive(cfg, func(c workflow.ReceiveChannel, more bool) {
			var next PollerInput
			c.Receive(ctx, &next)
			in = next
			cancel()
		})
		sel.Select(ctx)
		cancel()
		if len(in.Streams) == 0 {
			log.Info("log poller stopped: no streams configured", "connection", in.Connection)
			return nil
		}
	}
	// A configuration signalled in the meantime would be lost with this run: carry it over.
	for {
		var next PollerInput
		if !cfg.ReceiveAsync(&next) {
			break
		}
		in = next
	}
	return workflow.NewContinueAsNewError(ctx, PollerWorkflow, in)
}
