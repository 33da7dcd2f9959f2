package runs

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

// statusFake answers the status query with a given status and has no pending activities.
type statusFake struct{ st workflows.Status }

func (f statusFake) QueryWorkflow(context.Context, string, string, string, ...interface{}) (converter.EncodedValue, error) {
	p, err := converter.GetDefaultDataConverter().ToPayloads(f.st)
	if err != nil {
		return nil, err
	}
	return encodedValue{p}, nil
}

func (f statusFake) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{}, nil
}

// TestApprovalNotifyInTheView: a waiting approval's chat notification (approval.notify) is the wait's detail
// in the run's view (parry run show, the console): sent, or why it failed while the approval still waits.
func TestApprovalNotifyInTheView(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)
	st := workflows.Status{Waiting: []workflows.Wait{
		{Step: "a", Kind: "approval", Until: until, Prompt: "Go?", Notify: &workflows.NotifyStatus{Webhook: "soc-chat", State: workflows.NotifySent}},
		{Step: "b", Kind: "approval", Until: until, Prompt: "Go?", Notify: &workflows.NotifyStatus{Webhook: "soc-chat", State: workflows.NotifyFailed,
			Error: &workflows.StepError{Type: wire.VendorUnavailable, Message: `posting to webhook "soc-chat": no answer`}}},
		{Step: "c", Kind: "approval", Until: until, Prompt: "Go?"},
	}}
	_, waits, err := liveState(context.Background(), statusFake{st}, payloadcrypt.Plain(), nil, "run")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"chat notification to soc-chat: sent",
		`chat notification to soc-chat failed (VendorUnavailable: posting to webhook "soc-chat": no answer); the approval waits all the same`,
		"",
	}
	if len(waits) != len(want) {
		t.Fatalf("waits %+v", waits)
	}
	for i, w := range waits {
		if w.Kind != "approval" || w.Detail != want[i] {
			t.Errorf("wait %s: %+v, want detail %q", w.Step, w, want[i])
		}
	}
}
