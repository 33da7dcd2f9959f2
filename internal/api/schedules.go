package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/schedules"
	"github.com/parry-soar/parry/internal/store"
)

// ScheduleService is what the schedule endpoints need (*schedules.Reconciler is one).
type ScheduleService interface {
	List(ctx context.Context) ([]schedules.View, error)
	Trigger(ctx context.Context, playbook string, index int) (string, error)
}

// ScheduleRoutes are the schedule endpoints (add them to Server.Extra): viewer lists, responder triggers (a
// trigger starts a run, as POST /v1/runs does).
func ScheduleRoutes(s ScheduleService) []Route {
	a := &scheduleAPI{s: s}
	return []Route{
		{Pattern: "GET /v1/schedules", Role: store.RoleViewer, Handler: a.list},
		{Pattern: "POST /v1/schedules/{playbook}/trigger", Role: store.RoleResponder, Handler: a.trigger, Query: []string{"index"}, Audit: "schedule.trigger"},
	}
}

type scheduleAPI struct{ s ScheduleService }

func (a *scheduleAPI) list(w http.ResponseWriter, r *http.Request) error {
	views, err := a.s.List(r.Context())
	if err != nil {
		return err
	}
	out := apitypes.ScheduleList{Schedules: make([]apitypes.Schedule, 0, len(views))}
	for _, v := range views {
		out.Schedules = append(out.Schedules, scheduleOut(v))
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (a *scheduleAPI) trigger(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("playbook")
	index := 0
	if q := r.URL.Query().Get("index"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 {
			return Errorf(http.StatusBadRequest, "invalid", "index must be a whole number from 0, not %q", q)
		}
		index = n
	}
	auditTarget(r, fmt.Sprintf("schedule %s#%d", name, index), nil)
	id, err := a.s.Trigger(r.Context(), name, index)
	if errors.Is(err, schedules.ErrNotFound) {
		return Errorf(http.StatusNotFound, "not_found", "%s", err.Error())
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusAccepted, apitypes.ScheduleTriggered{Schedule: id, Playbook: name, Index: index})
}

func scheduleOut(v schedules.View) apitypes.Schedule {
	out := apitypes.Schedule{ID: v.ID, Playbook: v.Playbook, Version: v.Version, Index: v.Index, Cron: v.Cron, Timezone: v.Timezone,
		Every: v.Every, With: v.With, State: v.State, Next: v.Next, Recent: make([]apitypes.ScheduleFire, 0, len(v.Recent)), Skipped: v.Skipped}
	if out.Next == nil {
		out.Next = []time.Time{}
	}
	for _, f := range v.Recent {
		out.Recent = append(out.Recent, apitypes.ScheduleFire{ScheduledAt: f.ScheduledAt, StartedAt: f.StartedAt, WorkflowID: f.WorkflowID})
	}
	return out
}
