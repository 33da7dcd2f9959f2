package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/parry-soar/parry/internal/schedules"
	"github.com/parry-soar/parry/internal/store"
)

// ScheduleList answers GET /v1/schedules: every schedule of every enabled playbook version, with its next
// fire times, its latest fires and how many it skipped because a run was still going.
type ScheduleList struct {
	Schedules []schedules.View `json:"schedules"`
}

// ScheduleTriggered answers POST /v1/schedules/{playbook}/trigger.
type ScheduleTriggered struct {
	Schedule string `json:"schedule"`
	Playbook string `json:"playbook"`
	Index    int    `json:"index"`
}

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
		{"GET /v1/schedules", store.RoleViewer, a.list},
		{"POST /v1/schedules/{playbook}/trigger", store.RoleResponder, a.trigger},
	}
}

type scheduleAPI struct{ s ScheduleService }

func (a *scheduleAPI) list(w http.ResponseWriter, r *http.Request) error {
	views, err := a.s.List(r.Context())
	if err != nil {
		return err
	}
	if views == nil {
		views = []schedules.View{}
	}
	return WriteJSON(w, http.StatusOK, ScheduleList{Schedules: views})
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
	id, err := a.s.Trigger(r.Context(), name, index)
	if errors.Is(err, schedules.ErrNotFound) {
		return Errorf(http.StatusNotFound, "not_found", "%s", err.Error())
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusAccepted, ScheduleTriggered{Schedule: id, Playbook: name, Index: index})
}
