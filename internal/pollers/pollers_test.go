package pollers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/workflows"
)

func names(in workflows.PollerInput) string {
	var out []string
	for _, s := range in.Streams {
		out = append(out, s.Name())
	}
	return strings.Join(out, " ")
}

func TestInput(t *testing.T) {
	off := false
	for _, tc := range []struct {
		name string
		poll config.CECPPoll
		want string
		err  string
	}{
		{"defaults", config.CECPPoll{Enabled: true},
			"exchange/securityrisk exchange/virtualanalyzer exchange/ransomware exchange/dlp gmail/securityrisk gmail/virtualanalyzer gmail/ransomware gmail/dlp quarantine 1m0s 1h0m0s", ""},
		{"chosen", config.CECPPoll{Services: []string{"onedrive"}, Events: []string{"dlp"}, Quarantine: &off, Interval: 5 * time.Minute, FirstFetch: 30 * 24 * time.Hour},
			"onedrive/dlp 5m0s 168h0m0s", ""},
		{"unknown service", config.CECPPoll{Services: []string{"exchnage"}}, "", `connection prod: unknown poll service "exchnage" (did you mean "exchange"?)`},
		{"unknown event", config.CECPPoll{Events: []string{"ransomwar"}}, "", `connection prod: unknown poll event "ransomwar" (did you mean "ransomware"?)`},
		{"too often", config.CECPPoll{Interval: time.Second}, "", "connection prod: poll.interval 1s is below 10s; the vendor allows 20 requests a minute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Input(config.CECPConnection{Name: "prod", Poll: tc.poll})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%s %s %s", names(in), in.Interval, in.FirstFetch); got != tc.want || in.Connection != "prod" {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

type fakeTemporal struct {
	started  []string
	signals  []string
	notFound bool
}

func (f *fakeTemporal) SignalWithStartWorkflow(ctx context.Context, id, signal string, arg interface{}, opts client.StartWorkflowOptions, wf interface{}, args ...interface{}) (client.WorkflowRun, error) {
	in := args[0].(workflows.PollerInput)
	f.started = append(f.started, fmt.Sprintf("%s %s %s %s %d", id, signal, opts.TaskQueue, wf, len(in.Streams)))
	return nil, nil
}

func (f *fakeTemporal) SignalWorkflow(ctx context.Context, id, runID, signal string, arg interface{}) error {
	f.signals = append(f.signals, fmt.Sprintf("%s %s %d", id, signal, len(arg.(workflows.PollerInput).Streams)))
	if f.notFound {
		return serviceerror.NewNotFound("no such workflow")
	}
	return nil
}

func TestStart(t *testing.T) {
	cfg := config.Config{Temporal: config.TemporalConfig{TaskQueue: "q"}, CECP: config.CECPConfig{Connections: []config.CECPConnection{
		{Name: "a", Poll: config.CECPPoll{Enabled: true}},
		{Name: "b"},
		{Name: "c", Poll: config.CECPPoll{Enabled: true, Events: []string{"nope"}}},
	}}}
	f := &fakeTemporal{notFound: true}
	got, err := Start(context.Background(), f, cfg)
	if len(got) != 1 || got[0] != "a" || err == nil || err.Error() != `connection c: unknown poll event "nope"` {
		t.Fatalf("started %v, error %v", got, err)
	}
	if strings.Join(f.started, ";") != "cecp-poller-a config q CECPPoller 9" || strings.Join(f.signals, ";") != "cecp-poller-b config 0" {
		t.Fatalf("started %v, signals %v", f.started, f.signals)
	}
	// Stopping a poller that is running fails loudly unless it is simply not there.
	f.notFound = false
	if _, err := Start(context.Background(), &failing{}, cfg); err == nil || !errors.Is(err, errDown) {
		t.Fatalf("want the Temporal error, got %v", err)
	}
}

var errDown = errors.New("temporal down")

type failing struct{}

func (failing) SignalWithStartWorkflow(context.Context, string, string, interface{}, client.StartWorkflowOptions, interface{}, ...interface{}) (client.WorkflowRun, error) {
	return nil, errDown
}
func (failing) SignalWorkflow(context.Context, string, string, string, interface{}) error {
	return errDown
}
