package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/parry-soar/parry/internal/store"
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
	return "", "not deterministic: the current code does not make the decisions the history recorded" + sdkReason(msg)
}

var reSDKCode = regexp.MustCompile(`^\[TMPRL\d+\]\s*`)

// sdkReason keeps, of an SDK message nothing above explains, a short reason in plain words (never the SDK's
// code, stack or event dump).
func sdkReason(msg string) string {
	first := msg
	if i := strings.IndexByte(first, '\n'); i > 0 {
		first = first[:i]
	}
	first = reSDKCode.ReplaceAllString(strings.TrimSpace(first), "")
	switch {
	case strings.Contains(first, "lookup failed for scheduledEventID"), strings.Contains(first, "nondeterministic"):
		return " (the steps it schedules no longer line up with the history's)"
	case strings.Contains(first, "panic"):
		return " (the workflow code panicked on it: a bug to report)"
	}
	return ""
}

func what(re *regexp.Regexp, msg string) string {
	if m := re.FindStringSubmatch(msg); m != nil {
		return ": " + m[1]
	}
	return ""
}
