package runs

import (
	"context"
	"encoding/json"
	"fmt"
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
