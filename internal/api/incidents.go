package api

import (
	"net/http"
	"time"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
)

// IncidentDetail answers GET /v1/incidents/{id}.
type IncidentDetail = apitypes.IncidentDetail

type incidentAPI struct{ store *store.Store }

// IncidentRoutes are the incident endpoints (add them to Server.Extra): viewer reads, responder closes.
func IncidentRoutes(st *store.Store) []Route {
	i := &incidentAPI{store: st}
	return []Route{
		{Pattern: "GET /v1/incidents", Role: store.RoleViewer, Handler: i.list,
			Query: []string{apitypes.ParamStatus, apitypes.ParamPlaybook, apitypes.ParamLimit, apitypes.ParamBefore, apitypes.ParamSeverity, apitypes.ParamSince}},
		{Pattern: "GET /v1/incidents/{id}", Role: store.RoleViewer, Handler: i.show},
		{Pattern: "POST /v1/incidents/{id}/close", Role: store.RoleResponder, Handler: i.close, Audit: "incident.close"},
	}
}

func (i *incidentAPI) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	iq := store.IncidentQuery{Status: q.Get(apitypes.ParamStatus), Playbook: q.Get(apitypes.ParamPlaybook)}
	if err := enumParam("status", iq.Status, []string{apitypes.IncidentOpen, apitypes.IncidentClosed}); err != nil {
		return err
	}
	if iq.Playbook != "" {
		if err := playbookNameValue("playbook", iq.Playbook); err != nil {
			return err
		}
	}
	iq.Severity = q.Get(apitypes.ParamSeverity)
	if err := enumParam("severity", iq.Severity, apitypes.Severities); err != nil {
		return err
	}
	var err error
	if iq.Since, err = sinceParam(q, time.Now()); err != nil {
		return err
	}
	if iq.Limit, err = limitParam(q, 100); err != nil {
		return err
	}
	if iq.Before, err = beforeParam(q); err != nil {
		return err
	}
	out, err := i.store.ListIncidents(r.Context(), iq)
	if err != nil {
		return err
	}
	list := apitypes.IncidentList{Incidents: make([]apitypes.Incident, 0, len(out))}
	for _, inc := range out {
		list.Incidents = append(list.Incidents, toIncident(inc))
	}
	return WriteJSON(w, http.StatusOK, list)
}

func incidentID(r *http.Request) (int64, error) {
	return positiveID("incident id", r.PathValue("id"))
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
	return WriteJSON(w, http.StatusOK, IncidentDetail{Incident: toIncident(inc), Alerts: toAlerts(alerts),
		AlertsTruncated: inc.AlertCount > len(alerts), Runs: toRuns(rs)})
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
	auditTarget(r, "incident "+itoa64(id), map[string]any{"incident": id, "closed_now": changed, "run_id": inc.RunID})
	return WriteJSON(w, http.StatusOK, apitypes.CloseIncidentResponse{Incident: toIncident(inc), ClosedNow: changed})
}
