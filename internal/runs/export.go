package runs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
)

// ExportVersion is the format of an export file.
const ExportVersion = 1

// Export is one run in one JSON file: the run record, the plan it ran, its alerts and the full workflow
// history (Temporal's JSON form, as `temporal workflow show --output json` writes it). Secrets are absent by
// construction: they never enter workflow history, and the record holds none.
type Export struct {
	ExportVersion int             `json:"export_version"`
	ExportedAt    time.Time       `json:"exported_at"`
	Run           store.Run       `json:"run"`
	Plan          json.RawMessage `json:"plan"`
	Steps         json.RawMessage `json:"steps,omitempty"`
	Alerts        []store.Alert   `json:"alerts"`
	History       json.RawMessage `json:"history"`
	// Decrypted says the history was encrypted in Temporal and is in the clear here: keep the file as
	// carefully as the alerts it holds.
	Decrypted bool `json:"decrypted,omitempty"`
}

// Export gathers a run into an Export.
func (s *Service) Export(ctx context.Context, id string) (Export, error) {
	r, err := s.run(ctx, id)
	if err != nil {
		return Export{}, err
	}
	ex := Export{ExportVersion: ExportVersion, ExportedAt: time.Now().UTC(), Run: r, Plan: r.Plan, Steps: r.Steps, Alerts: []store.Alert{}}
	if r.AlertID != nil {
		a, err := s.Store.GetAlert(ctx, *r.AlertID)
		if err != nil {
			return ex, err
		}
		ex.Alerts = append(ex.Alerts, a)
	}
	if r.IncidentID != nil {
		alerts, err := s.Store.IncidentAlerts(ctx, *r.IncidentID, store.MaxIncidentAlerts)
		if err != nil {
			return ex, err
		}
		for _, a := range alerts {
			if r.AlertID == nil || a.ID != *r.AlertID {
				ex.Alerts = append(ex.Alerts, a)
			}
		}
	}
	if r.WorkflowRunID == "" {
		return ex, &ConflictError{Msg: fmt.Sprintf("run %s has not started: there is no history to export", id)}
	}
	hist := &historypb.History{}
	it := s.Temporal.GetWorkflowHistory(ctx, r.ID, r.WorkflowRunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return ex, fmt.Errorf("reading the history of run %s: %w", id, err)
		}
		hist.Events = append(hist.Events, ev)
	}
	if s.Converters.Codec != nil {
		if err := s.Converters.DecryptHistory(ctx, hist); err != nil {
			return ex, fmt.Errorf("decrypting the history of run %s: %w", id, err)
		}
		ex.Decrypted = true
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		return ex, fmt.Errorf("encoding the history: %w", err)
	}
	ex.History = b
	return ex, nil
}

// ReplayResult says whether a history replays against the current code, and if not, where it first differs.
type ReplayResult struct {
	OK bool `json:"ok"`
	// Step is the step id (ActivityID) at which the current code first does something else.
	Step    string `json:"step,omitempty"`
	Message string `json:"message"`
	Events  int    `json:"events"`
}

// Replay runs the exported history through the current Playbook workflow code, without a server. It reports
// success, or the first step where the code now decides differently from what the history recorded. When
// newPlan is given (an edited playbook, compiled), the history is replayed as if the run had started with it:
// this shows whether the edit changes what the run did, and where.
func Replay(ex Export, newPlan json.RawMessage) (ReplayResult, error) {
	hist, err := client.HistoryFromJSON(bytes.NewReader(ex.History), client.HistoryJSONOptions{})
	if err != nil {
		return ReplayResult{}, fmt.Errorf("reading the exported history: %w", err)
	}
	if len(newPlan) > 0 {
		if err := substitutePlan(hist, newPlan); err != nil {
			return ReplayResult{}, err
		}
	}
	return ReplayHistory(hist)
}

// substitutePlan replaces the plan in the run's start event.
func substitutePlan(hist *historypb.History, newPlan json.RawMessage) error {
	for _, ev := range hist.GetEvents() {
		if ev.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
			continue
		}
		payloads := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
		if len(payloads) == 0 {
			return errors.New("the history's start event has no input")
		}
		var in map[string]json.RawMessage
		if err := json.Unmarshal(payloads[0].GetData(), &in); err != nil {
			return fmt.Errorf("reading the run's input from the history: %w", err)
		}
		in["plan"] = newPlan
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		payloads[0].Data = data
		return nil
	}
	return errors.New("the history has no start event")
}

// ReplayHistory replays one history (see Replay). The explanation of a difference is built from what the
// history recorded and what the current code asked for during the replay (recorded by an interceptor), never
// from the SDK's error text.
func ReplayHistory(hist *historypb.History) (ReplayResult, error) {
	res := ReplayResult{Events: len(hist.GetEvents())}
	if res.Events == 0 {
		return res, errors.New("the history is empty")
	}
	rec := &commandRecorder{}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{Interceptors: []interceptor.WorkerInterceptor{rec}})
	if err != nil {
		return res, fmt.Errorf("creating the replayer: %w", err)
	}
	r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
	logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	if err := r.ReplayWorkflowHistory(logger, hist); err == nil {
		res.OK = true
		res.Message = fmt.Sprintf("replayed %d events: the current code makes the same decisions", res.Events)
		return res, nil
	}
	nd := explainDivergence(historyCommands(hist), rec.commands())
	res.Step, res.Message = nd.Step, nd.Error()
	return res, nil
}

// stepCommand is one step-level decision of a run: scheduling an action (an activity whose ActivityID is the
// step id) or calling a playbook (a child workflow whose id ends in /<step id>).
type stepCommand struct {
	Step, Action string
}

// historyCommands lists the step-level decisions a history recorded, in order.
func historyCommands(hist *historypb.History) []stepCommand {
	var out []stepCommand
	for _, ev := range hist.GetEvents() {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			out = append(out, stepCommand{Step: a.GetActivityId(), Action: a.GetActivityType().GetName()})
		}
		if c := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); c != nil {
			out = append(out, stepCommand{Step: childStep(c.GetWorkflowId()), Action: "call"})
		}
	}
	return out
}

func childStep(workflowID string) string {
	if i := strings.LastIndexByte(workflowID, '/'); i >= 0 {
		return workflowID[i+1:]
	}
	return workflowID
}

// NondeterminismError says where the current code departs from a recorded history.
type NondeterminismError struct {
	// Step is the step the explanation is about: the history's step at the first difference, else the
	// current code's, else the last step both agree on ("" when they differ before any step).
	Step string
	// History and Code are what each did at the first difference (nil: nothing there).
	History, Code *stepCommand
	// After is set when both agree on every step they took: they differ in another decision (a timer, a wait,
	// the run's end) after this step ("" before the first).
	After string
}

func (e *NondeterminismError) Error() string {
	switch h, c := e.History, e.Code; {
	case h != nil && c != nil:
		return fmt.Sprintf("not deterministic at step %s: the history ran step %s (%s), the current code runs step %s (%s) there", h.Step, h.Step, h.Action, c.Step, c.Action)
	case h != nil:
		return fmt.Sprintf("not deterministic at step %s: the history ran step %s (%s) there, the current code runs another step or none", h.Step, h.Step, h.Action)
	case c != nil:
		return fmt.Sprintf("not deterministic at step %s: the current code runs step %s (%s) where the history has no further step", c.Step, c.Step, c.Action)
	case e.After != "":
		return fmt.Sprintf("not deterministic after step %s: both run the same steps, but the current code decides differently after it (a timer, a wait or how the run ends)", e.After)
	}
	return "not deterministic before the first step: the current code decides differently from the history (a timer, a wait or how the run ends)"
}

// explainDivergence compares the step decisions of a history with those the current code made while replaying
// it (up to where the replay stopped) and names the first difference.
func explainDivergence(history, code []stepCommand) *NondeterminismError {
	for i := 0; i < max(len(history), len(code)); i++ {
		var h, c *stepCommand
		if i < len(history) {
			h = &history[i]
		}
		if i < len(code) {
			c = &code[i]
		}
		if h != nil && c != nil && *h == *c {
			continue
		}
		if h == nil {
			return &NondeterminismError{Step: c.Step, Code: c}
		}
		if c == nil {
			// The replay stopped here: the code asked for something else (or nothing) where the history has h.
			return &NondeterminismError{Step: h.Step, History: h}
		}
		return &NondeterminismError{Step: h.Step, History: h, Code: c}
	}
	nd := &NondeterminismError{}
	if n := min(len(history), len(code)); n > 0 {
		nd.After, nd.Step = history[n-1].Step, history[n-1].Step
	}
	return nd
}

// commandRecorder is a worker interceptor that records the step decisions the workflow code makes.
type commandRecorder struct {
	interceptor.WorkerInterceptorBase
	mu   sync.Mutex
	cmds []stepCommand
}

func (r *commandRecorder) add(c stepCommand) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, c)
}

func (r *commandRecorder) commands() []stepCommand {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cmds)
}

func (r *commandRecorder) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &recordingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, rec: r}
}

type recordingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	rec *commandRecorder
}

func (i *recordingInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&recordingOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, rec: i.rec})
}

type recordingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	rec *commandRecorder
}

func (o *recordingOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.rec.add(stepCommand{Step: workflow.GetActivityOptions(ctx).ActivityID, Action: activityType})
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

func (o *recordingOutbound) ExecuteChildWorkflow(ctx workflow.Context, childWorkflowType string, args ...any) workflow.ChildWorkflowFuture {
	o.rec.add(stepCommand{Step: childStep(workflow.GetChildWorkflowOptions(ctx).WorkflowID), Action: "call"})
	return o.Next.ExecuteChildWorkflow(ctx, childWorkflowType, args...)
}
