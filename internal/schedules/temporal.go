package schedules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/parry-soar/parry/workflows"
)

// TemporalScheduler is a Scheduler over Temporal's schedule client.
type TemporalScheduler struct {
	Client client.ScheduleClient
	// TaskQueue is the queue the schedules' workflows run on (temporal.task_queue).
	TaskQueue string
}

func (t TemporalScheduler) spec(d Desired) *client.ScheduleSpec {
	if d.Schedule.Cron != "" {
		return &client.ScheduleSpec{CronExpressions: []string{d.Schedule.Cron}, TimeZoneName: d.Schedule.Timezone}
	}
	return &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: d.Schedule.Every.D()}}}
}

func (t TemporalScheduler) action(d Desired) *client.ScheduleWorkflowAction {
	// Temporal appends each fire's time to the id, so each fire is a workflow of its own.
	return &client.ScheduleWorkflowAction{ID: d.ID, Workflow: workflows.ScheduledRunWorkflow, Args: []any{d.Input()},
		TaskQueue: t.TaskQueue, WorkflowExecutionTimeout: workflows.MaxRunWait + 24*time.Hour,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}}
}

// Create creates the schedule; one that exists already is left for Update (the next reconcile sees its note).
func (t TemporalScheduler) Create(ctx context.Context, d Desired) error {
	_, err := t.Client.Create(ctx, client.ScheduleOptions{
		ID: d.ID, Spec: *t.spec(d), Action: t.action(d), Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Note: d.Note,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	return err
}

// Update gives the schedule d's spec, action and note.
func (t TemporalScheduler) Update(ctx context.Context, d Desired) error {
	h := t.Client.GetHandle(ctx, d.ID)
	err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec, s.Action = t.spec(d), t.action(d)
		if s.Policy == nil {
			s.Policy = &client.SchedulePolicies{}
		}
		s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
		if s.State == nil {
			s.State = &client.ScheduleState{}
		}
		s.State.Note = d.Note
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	return notFound(err)
}

// Delete deletes the schedule (ErrNotFound when it is gone already). Runs it started go on.
func (t TemporalScheduler) Delete(ctx context.Context, id string) error {
	return notFound(t.Client.GetHandle(ctx, id).Delete(ctx))
}

// Trigger fires the schedule now, even while a run it started is still going (a person asked for it).
func (t TemporalScheduler) Trigger(ctx context.Context, id string) error {
	return notFound(t.Client.GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}))
}

// List returns parry's schedules.
func (t TemporalScheduler) List(ctx context.Context) ([]Entry, error) {
	it, err := t.Client.List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, err
	}
	var out []Entry
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(e.ID, IDPrefix) {
			continue
		}
		en := Entry{ID: e.ID, Note: e.Note, Paused: e.Paused, Next: e.NextActionTimes}
		for _, a := range e.RecentActions {
			en.Recent = append(en.Recent, fire(a))
		}
		out = append(out, en)
	}
	return out, nil
}

// Describe reads one schedule, with its count of skipped fires.
func (t TemporalScheduler) Describe(ctx context.Context, id string) (Entry, error) {
	d, err := t.Client.GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		return Entry{}, notFound(err)
	}
	e := Entry{ID: id, Next: d.Info.NextActionTimes, Skipped: int64(d.Info.NumActionsSkippedOverlap)}
	if st := d.Schedule.State; st != nil {
		e.Note, e.Paused = st.Note, st.Paused
	}
	for _, a := range d.Info.RecentActions {
		e.Recent = append(e.Recent, fire(a))
	}
	return e, nil
}

func fire(a client.ScheduleActionResult) Fire {
	f := Fire{ScheduledAt: a.ScheduleTime.UTC(), StartedAt: a.ActualTime.UTC()}
	if a.StartWorkflowResult != nil {
		f.WorkflowID = a.StartWorkflowResult.WorkflowID
	}
	return f
}

func notFound(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %s", ErrNotFound, nf.Message)
	}
	return err
}
