package api

import (
	"net/http"
	"strconv"

	"github.com/parry-soar/parry/internal/store"
)

// IncidentDetail answers GET /v1/incidents/{id}: the incident, its alerts (at most store.MaxIncidentAlerts,
// oldest first) and its runs.
type IncidentDetail struct {
	store.Incident
	Alerts []store.Alert `json:"alerts"`
	// AlertsTruncated is set when the incident has more alerts than were returned.
	AlertsTruncated bool        `json:"alerts_truncated,omitempty"`
	Runs            []store.Run `json:"runs"`
}

type incidentAPI struct{ store *store.Store }

// IncidentRoutes are the incident endpoints (add them to Server.Extra): viewer reads, responder closes.
func IncidentRoutes(st *store.Store) []Route {
	i := &incidentAPI{store: st}
	return []Route{
		{"GET /v1/incidents", store.RoleViewer, i.list},
		{"GET /v1/incidents/{id}", store.RoleViewer, i.show},
		{"POST /v1/incidents/{id}/close", store.RoleResponder, i.close},
	}
}

func (i *incidentAPI) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "", store.IncidentOpen, store.IncidentClosed:
	default:
		return Errorf(http.StatusBadRequest, "invalid", "status must be open or closed, not %q", status)
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	out, err := i.store.ListIncidents(r.Context(), store.IncidentQuery{Status: status, Playbook: q.Get("playbook"), Limit: limit, Before: before})
	if err != nil {
		return err
	}
	if out == nil {
		out = []store.Incident{}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"incidents": out})
}

func incidentID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, Errorf(http.StatusBadRequest, "invalid", "incident id %q is not a number", r.PathValue("id"))
	}
	return id, nil
}

func (i *incidentAPI) show(w http.ResponseWriter, r *http.Request) error {
	id, err := incidentID(r)
	if err != nil {
		return err
	}
	inc, err := i.store.GetIncident(r.Context(), id)
	if err != nil {
		return notFoundAs(err, "no incident %d", id)
	}
	alerts, err := i.store.IncidentAlerts(r.Context(), id, 0)
	if err != nil {
		return err
	}
	rs, err := i.store.ListRuns(r.Context(), store.RunQuery{IncidentID: id, Limit: 1000})
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []store.Run{}
	}
	return WriteJSON(w, http.StatusOK, IncidentDetail{Incident: inc, Alerts: alerts, AlertsTruncated: inc.AlertCount > len(alerts), Runs: rs})
}

func (i *incidentAPI) close(w http.ResponseWriter, r *http.Request) error {
	id, err := incidentID(r)
	if err != nil {
		return err
	}
	inc, changed, err := i.store.CloseIncident(r.Context(), id, "token:"+TokenFrom(r.Context()).Name)
	if err != nil {
		return notFoundAs(err, "no incident %d", id)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"incident": inc, "closed_now": changed})
}
