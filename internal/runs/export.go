package runs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
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

// ReplayHistory replays one history (see Replay).
func ReplayHistory(hist *historypb.History) (ReplayResult, error) {
	res := ReplayResult{Events: len(hist.GetEvents())}
	if res.Events == 0 {
		return res, errors.New("the history is empty")
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
	logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	err := r.ReplayWorkflowHistory(logger, hist)
	if err == nil {
		res.OK = true
		res.Message = fmt.Sprintf("replayed %d events: the current code makes the same decisions", res.Events)
		return res, nil
	}
	res.Step, res.Message = explainNondeterminism(err.Error(), func(step string) string {
		for _, ev := range hist.GetEvents() {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityId() == step {
				return a.GetActivityType().GetName()
			}
		}
		return ""
	})
	return res, nil
}

var (
	reHistoryActivity = regexp.MustCompile(`(?:history event is|missing replay command for) ActivityTaskScheduled: \(ActivityId:([^,]+), ActivityType:\(Name:([^)]+)\)`)
	reReplayActivity  = regexp.MustCompile(`(?:replay command is|extra replay command for) ScheduleActivityTask: \(ActivityId:([^,]+), ActivityType:\(Name:([^)]+)\)`)
	rePosition        = regexp.MustCompile(`a matching (\w+) command was expected in history event position ([^.\s]+)\.`)
	reHistoryEvent    = regexp.MustCompile(`history event is ([A-Za-z]+)`)
	reReplayCommand   = regexp.MustCompile(`replay command is ([A-Za-z]+)`)
)

// explainNondeterminism turns the SDK's nondeterminism error into one line naming the step. actionOf gives the
// action a history step ran.
func explainNondeterminism(msg string, actionOf func(step string) string) (string, string) {
	h := reHistoryActivity.FindStringSubmatch(msg)
	c := reReplayActivity.FindStringSubmatch(msg)
	switch {
	case h != nil && c != nil:
		return h[1], fmt.Sprintf("not deterministic at step %s: the history ran step %s (%s), the current code runs step %s (%s) there", h[1], h[1], h[2], c[1], c[2])
	case h != nil:
		return h[1], fmt.Sprintf("not deterministic at step %s: the history ran step %s (%s), the current code does something else there%s", h[1], h[1], h[2], what(reReplayCommand, msg))
	case c != nil:
		return c[1], fmt.Sprintf("not deterministic at step %s: the current code runs step %s (%s) where the history has %s", c[1], c[1], c[2], strings.TrimPrefix(what(reHistoryEvent, msg), ": "))
	}
	if m := rePosition.FindStringSubmatch(msg); m != nil {
		step := m[2]
		what := strings.ToLower(m[1])
		if a := actionOf(step); a != "" {
			what = a
		}
		return step, fmt.Sprintf("not deterministic at step %s: the history ran step %s (%s) there, the current code runs another step or none", step, step, what)
	}
	first := msg
	if i := strings.IndexByte(first, '\n'); i > 0 {
		first = first[:i]
	}
	return "", "replay failed: " + first
}

func what(re *regexp.Regexp, msg string) string {
	if m := re.FindStringSubmatch(msg); m != nil {
		return ": " + m[1]
	}
	return ""
}
