package workflows

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type pollCalls struct {
	mu    sync.Mutex
	calls []string
	more  map[string]int // stream → how many calls answer More
	fail  map[string]bool
}

func (p *pollCalls) poll(ctx context.Context, in PollStreamInput) (PollStreamResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, in.Stream.Name())
	if p.fail[in.Stream.Name()] {
		return PollStreamResult{}, temporal.NewNonRetryableApplicationError("token refused", "VendorAuth", nil)
	}
	if p.more[in.Stream.Name()] > 0 {
		p.more[in.Stream.Name()]--
		return PollStreamResult{Pages: 10, More: true}, nil
	}
	return PollStreamResult{Pages: 1}, nil
}

func newPollerEnv(t *testing.T, p *pollCalls) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(CECPPoller, workflow.RegisterOptions{Name: PollerWorkflow})
	env.RegisterActivityWithOptions(p.poll, activity.RegisterOptions{Name: ActivityPollStream})
	return env
}

func TestPollerRoundsAndContinueAsNew(t *testing.T) {
	p := &pollCalls{more: map[string]int{"exchange/dlp": 2}, fail: map[string]bool{"gmail/dlp": true}}
	env := newPollerEnv(t, p)
	in := PollerInput{Connection: "prod", Interval: time.Minute, Rounds: 2, Streams: []PollStream{
		{Service: "exchange", Event: "dlp"}, {Service: "gmail", Event: "dlp"}, {Service: "exchange", Event: QuarantineEvent},
	}}
	env.ExecuteWorkflow(PollerWorkflow, in)
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) || can.WorkflowType.Name != PollerWorkflow {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	// Round 1: exchange/dlp three times (two answers say more), the failing stream once (not retried: its
	// error is non-retryable), quarantine once; round 2 the same without the backlog.
	want := []string{"exchange/dlp", "exchange/dlp", "exchange/dlp", "gmail/dlp", "quarantine", "exchange/dlp", "gmail/dlp", "quarantine"}
	if len(p.calls) != len(want) {
		t.Fatalf("calls %v, want %v", p.calls, want)
	}
	for i := range want {
		if p.calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", p.calls, want)
		}
	}
}

func TestPollerConfigSignal(t *testing.T) {
	p := &pollCalls{}
	env := newPollerEnv(t, p)
	in := PollerInput{Connection: "prod", Interval: time.Hour, Rounds: 10, Streams: []PollStream{{Service: "exchange", Event: "dlp"}}}
	// A new configuration during the first sleep takes effect at once; an empty one later stops the poller.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalPollerConfig, PollerInput{Connection: "prod", Interval: time.Hour, Streams: []PollStream{{Service: "gmail", Event: "ransomware"}}})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalPollerConfig, PollerInput{Connection: "prod"})
	}, 2*time.Minute)
	env.ExecuteWorkflow(PollerWorkflow, in)
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if len(p.calls) != 2 || p.calls[0] != "exchange/dlp" || p.calls[1] != "gmail/ransomware" {
		t.Fatalf("calls %v", p.calls)
	}
}
