package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

// View is a run as `parry run show` presents it: the record, the timeline of steps and what it waits for.
type View struct {
	Run     store.Run  `json:"run"`
	Steps   []StepView `json:"steps"`
	Waiting []WaitView `json:"waiting"`
	// Note explains missing detail (Temporal unreachable, history gone).
	Note string `json:"note,omitempty"`
}

// StepView is one step (or one loop item) of the timeline.
type StepView struct {
	ID         string                `json:"id"`
	Kind       string                `json:"kind"`
	Action     string                `json:"action,omitempty"`
	Status     string                `json:"status"`
	Attempts   int                   `json:"attempts,omitempty"`
	StartedAt  *time.Time            `json:"started_at,omitempty"`
	FinishedAt *time.Time            `json:"finished_at,omitempty"`
	DurationMS int64                 `json:"duration_ms,omitempty"`
	Error      *workflows.StepError  `json:"error,omitempty"`
	Input      any                   `json:"input,omitempty"`
	Output     any                   `json:"output,omitempty"`
	Reused     bool                  `json:"reused,omitempty"`
	Depth      int                   `json:"depth,omitempty"`
	Items      []StepView            `json:"items,omitempty"`
	record     *workflows.StepRecord `json:"-"`
}

// WaitView is one thing a running run waits for.
type WaitView struct {
	Step      string    `json:"step"`
	Kind      string    `json:"kind"` // approval, timer, call, vendor quota, retry back-off
	Until     time.Time `json:"until,omitempty"`
	Prompt    string    `json:"prompt,omitempty"`
	Approvers []string  `json:"approvers,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// activityExec is what the history says of one activity execution (one ActivityID).
type activityExec struct {
	id, action string
	input      any
	output     any
	attempts   int
	failure    *workflows.StepError
	scheduled  time.Time
	ended      time.Time
}

// Show builds the view of a run. A run that is still going is asked for its state (a query) and its pending
// activities (a describe), so it also says what it waits for.
func (s *Service) Show(ctx context.Context, id string, truncate bool) (View, error) {
	r, err := s.run(ctx, id)
	if err != nil {
		return View{}, err
	}
	v := View{Run: r, Steps: []StepView{}, Waiting: []WaitView{}}
	var records map[string]workflows.StepRecord
	if len(r.Steps) > 0 {
		_ = json.Unmarshal(r.Steps, &records)
	}
	if r.WorkflowRunID == "" {
		if r.Status == store.RunPending {
			v.Note = "the run is recorded but its workflow has not started yet (is Temporal reachable?)"
		}
		v.Steps = s.timeline(r, records, nil, truncate)
		return v, nil
	}
	if !store.Terminal(r.Status) {
		st, waits, err := s.live(ctx, r)
		if err != nil {
			v.Note = "live state unavailable: " + temporalProblem(err)
		} else {
			records = st.Steps
			v.Waiting = waits
			// What was just read is the freshest the table can have: lists show it too.
			if status, waitingFor := waitingSummary(waits); r.WorkflowRunID != "" {
				js, _ := json.Marshal(waits)
				_ = s.Store.SetRunWaiting(ctx, r.ID, status, waitingFor, js)
				v.Run.Status, v.Run.WaitingFor, v.Run.Waits = status, waitingFor, js
			}
		}
	}
	execs, err := s.activityExecs(ctx, r.ID, r.WorkflowRunID)
	if err != nil {
		v.Note = strings.TrimPrefix(v.Note+"; ", "; ") + "history unavailable: " + temporalProblem(err)
	}
	v.Steps = s.timeline(r, records, execs, truncate)
	return v, nil
}

// live asks the running workflow for its state and Temporal for its pending activities.
func (s *Service) live(ctx context.Context, r store.Run) (workflows.Status, []WaitView, error) {
	var mq mitigation.ProgressStore
	if s.Store != nil {
		mq = s.Store
	}
	return liveState(ctx, s.Temporal, s.Converters, mq, r.ID)
}

// LiveTemporal is what reading a running run's live state needs of the Temporal client.
type LiveTemporal interface {
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...interface{}) (converter.EncodedValue, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// liveState asks the running workflow for its state (a query) and Temporal for its pending activities (what a
// step waits for: the vendor quota, a retry back-off). A mitigation step's batch is read from the queue (mq,
// when not nil), live whichever process flushes; a worker of before that heartbeated it is read from the
// heartbeat.
func liveState(ctx context.Context, t LiveTemporal, conv payloadcrypt.Converters, mq mitigation.ProgressStore, id string) (workflows.Status, []WaitView, error) {
	var st workflows.Status
	val, err := t.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return st, nil, err
	}
	if err := val.Get(&st); err != nil {
		return st, nil, err
	}
	waits := make([]WaitView, 0, len(st.Waiting))
	for _, w := range st.Waiting {
		// An approval's chat notification (approval.notify) shows as its detail: sent, or why it failed.
		waits = append(waits, WaitView{Step: w.Step, Kind: w.Kind, Until: w.Until, Prompt: w.Prompt, Approvers: w.Approvers, Detail: w.Notify.Summary()})
	}
	desc, err := t.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return st, waits, nil
	}
	for _, pa := range desc.GetPendingActivities() {
		w := WaitView{Step: pa.GetActivityId(), Kind: "activity", Detail: fmt.Sprintf("%s attempt %d", pa.GetActivityType().GetName(), pa.GetAttempt())}
		if f := pa.GetLastFailure(); f != nil {
			typ := failureType(f)
			w.Kind = "retry back-off"
			if typ == wire.VendorRateLimited {
				w.Kind = "vendor quota"
			}
			w.Detail = fmt.Sprintf("attempt %d of %s failed: %s: %s", pa.GetAttempt()-1, pa.GetActivityType().GetName(), typ, conv.FailureMessage(f))
			if t := pa.GetScheduledTime(); t != nil {
				w.Until = t.AsTime().UTC()
			}
		}
		if w.Kind == "activity" {
			if p, ok := queueProgress(ctx, mq, id, pa); ok {
				w.Kind, w.Detail = "batch", p
			} else if p, ok := batchProgress(conv, pa.GetHeartbeatDetails()); ok {
				w.Kind, w.Detail = "batch", p
			} else if qw, ok := quotaProgress(conv, pa.GetHeartbeatDetails()); ok && qw.Until.After(time.Now()) {
				w.Kind, w.Until = "vendor quota", qw.Until
				w.Detail = fmt.Sprintf("%s attempt %d waits for a slot of connection %s's quota", pa.GetActivityType().GetName(), pa.GetAttempt(), qw.Connection)
			}
		}
		if w.Kind != "activity" { // an activity simply running is progress, not a wait
			waits = append(waits, w)
		}
	}
	sort.SliceStable(waits, func(i, j int) bool { return waits[i].Step < waits[j].Step })
	return st, waits, nil
}

// activityExecs reads the history and returns what each activity was given and returned.
func (s *Service) activityExecs(ctx context.Context, workflowID, runID string) (map[string]*activityExec, error) {
	it := s.Temporal.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	byEvent := map[int64]*activityExec{}
	out := map[string]*activityExec{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			var notFound *serviceerror.NotFound
			if errors.As(err, &notFound) {
				return out, errors.New("the workflow's history is gone (retention)")
			}
			return out, err
		}
		if err := s.Converters.DecryptHistory(ctx, &historypb.History{Events: []*historypb.HistoryEvent{ev}}); err != nil {
			return out, err
		}
		collectActivity(ev, byEvent, out)
	}
	return out, nil
}

// failureType is the error type a failure shows: the activity's own application error type, or Timeout,
// Cancelled or InternalError for failures that carry none (a heartbeat timeout has no type of its own).
func failureType(f *failurepb.Failure) string {
	switch {
	case f.GetApplicationFailureInfo().GetType() != "":
		return f.GetApplicationFailureInfo().GetType()
	case f.GetTimeoutFailureInfo() != nil:
		return wire.Timeout
	case f.GetCanceledFailureInfo() != nil:
		return wire.Cancelled
	}
	return wire.Internal
}

func collectActivity(ev *historypb.HistoryEvent, byEvent map[int64]*activityExec, out map[string]*activityExec) {
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := ev.GetActivityTaskScheduledEventAttributes()
		e := &activityExec{id: a.GetActivityId(), action: a.GetActivityType().GetName(), scheduled: ev.GetEventTime().AsTime()}
		if p := a.GetInput().GetPayloads(); len(p) > 0 {
			var in wire.ActionInput
			if json.Unmarshal(p[0].GetData(), &in) == nil {
				e.input = in.With
			}
		}
		byEvent[ev.GetEventId()] = e
		out[e.id] = e
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		a := ev.GetActivityTaskStartedEventAttributes()
		if e := byEvent[a.GetScheduledEventId()]; e != nil {
			e.attempts = int(a.GetAttempt())
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := ev.GetActivityTaskCompletedEventAttributes()
		if e := byEvent[a.GetScheduledEventId()]; e != nil {
			e.ended = ev.GetEventTime().AsTime()
			if p := a.GetResult().GetPayloads(); len(p) > 0 {
				var res wire.ActionResult
				if json.Unmarshal(p[0].GetData(), &res) == nil {
					var v any
					if json.Unmarshal(res.Output, &v) == nil {
						e.output = v
					}
				}
			}
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		a := ev.GetActivityTaskFailedEventAttributes()
		if e := byEvent[a.GetScheduledEventId()]; e != nil {
			e.ended = ev.GetEventTime().AsTime()
			f := a.GetFailure()
			e.failure = &workflows.StepError{Type: failureType(f), Message: f.GetMessage()}
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		a := ev.GetActivityTaskTimedOutEventAttributes()
		if e := byEvent[a.GetScheduledEventId()]; e != nil {
			e.ended = ev.GetEventTime().AsTime()
			e.failure = &workflows.StepError{Type: wire.Timeout, Message: a.GetFailure().GetMessage()}
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		a := ev.GetActivityTaskCanceledEventAttributes()
		if e := byEvent[a.GetScheduledEventId()]; e != nil {
			e.ended = ev.GetEventTime().AsTime()
			e.failure = &workflows.StepError{Type: wire.Cancelled, Message: "cancelled"}
		}
	}
}

// timeline lays the steps out in plan order, with loop items under their step.
func (s *Service) timeline(r store.Run, records map[string]workflows.StepRecord, execs map[string]*activityExec, truncate bool) []StepView {
	p, err := plan.Decode(r.Plan)
	if err != nil {
		return []StepView{}
	}
	clip := func(v any) any {
		if truncate {
			return Truncate(v)
		}
		return v
	}
	var out []StepView
	var walk func(steps []plan.Step, depth int)
	walk = func(steps []plan.Step, depth int) {
		for i := range steps {
			st := &steps[i]
			sv := StepView{ID: st.ID, Kind: string(st.Kind), Status: workflows.StatusPending, Depth: depth}
			if st.Action != nil {
				sv.Action = st.Action.Name
			}
			if rec, ok := records[st.ID]; ok {
				sv.record = &rec
				sv.Status, sv.Attempts, sv.StartedAt, sv.FinishedAt, sv.Error, sv.Reused = rec.Status, rec.Attempts, rec.StartedAt, rec.FinishedAt, rec.Error, rec.Reused
				if rec.StartedAt != nil && rec.FinishedAt != nil {
					sv.DurationMS = rec.FinishedAt.Sub(*rec.StartedAt).Milliseconds()
				}
				if st.Kind != plan.KindParallel {
					sv.Output = clip(rec.Output)
				}
			}
			if e := execs[st.ID]; e != nil {
				sv.Input = clip(e.input)
				if e.attempts > sv.Attempts {
					sv.Attempts = e.attempts
				}
				if sv.Output == nil && e.output != nil {
					sv.Output = clip(e.output)
				}
				if sv.Error == nil && e.failure != nil && sv.Status != workflows.StatusSucceeded {
					sv.Error = e.failure
				}
			}
			if st.ForEach != nil {
				for n := 0; ; n++ {
					e := execs[fmt.Sprintf("%s#%d", st.ID, n)]
					if e == nil {
						break
					}
					item := StepView{ID: e.id, Kind: sv.Kind, Action: e.action, Status: workflows.StatusRunning, Attempts: e.attempts, Input: clip(e.input), Output: clip(e.output), Error: e.failure, Depth: depth + 1}
					sched := e.scheduled
					item.StartedAt = &sched
					if !e.ended.IsZero() {
						ended := e.ended
						item.FinishedAt = &ended
						item.DurationMS = ended.Sub(sched).Milliseconds()
						item.Status = workflows.StatusSucceeded
						if e.failure != nil {
							item.Status = workflows.StatusFailed
							if e.failure.Type == wire.Cancelled {
								item.Status = workflows.StatusCancelled
							}
						}
					}
					sv.Items = append(sv.Items, item)
				}
			}
			if st.Kind == plan.KindSteps {
				sv.Items = append(sv.Items, bodyItems(st, records, execs, depth+1, clip)...)
			}
			if sv.record != nil || execs[st.ID] != nil || len(sv.Items) > 0 || !store.Terminal(r.Status) || depth == 0 {
				out = append(out, sv)
			}
			for _, b := range st.Parallel {
				walk(b.Steps, depth+1)
			}
		}
	}
	walk(p.Steps, 0)
	if len(p.OnFailure) > 0 {
		for _, st := range p.OnFailure {
			if _, ran := records[st.ID]; ran {
				walk(p.OnFailure, 0)
				break
			}
		}
	}
	if out == nil {
		out = []StepView{}
	}
	return out
}

// bodyItems lists the steps each item of a loop body ran (LOOP#N.STEP), item by item, from their records and
// the history's activities.
func bodyItems(st *plan.Step, records map[string]workflows.StepRecord, execs map[string]*activityExec, depth int, clip func(any) any) []StepView {
	var out []StepView
	for n := 0; ; n++ {
		found := false
		for j := range st.Steps {
			in := &st.Steps[j]
			key := fmt.Sprintf("%s#%d.%s", st.ID, n, in.ID)
			rec, hasRec := records[key]
			e := execs[key]
			if !hasRec && e == nil {
				continue
			}
			found = true
			v := StepView{ID: key, Kind: string(in.Kind), Status: workflows.StatusRunning, Depth: depth}
			if in.Action != nil {
				v.Action = in.Action.Name
			}
			if hasRec {
				v.Status, v.Attempts, v.StartedAt, v.FinishedAt, v.Error, v.Reused = rec.Status, rec.Attempts, rec.StartedAt, rec.FinishedAt, rec.Error, rec.Reused
				v.Output = clip(rec.Output)
				if rec.StartedAt != nil && rec.FinishedAt != nil {
					v.DurationMS = rec.FinishedAt.Sub(*rec.StartedAt).Milliseconds()
				}
			}
			if e != nil {
				v.Input = clip(e.input)
				if e.attempts > v.Attempts {
					v.Attempts = e.attempts
				}
			}
			out = append(out, v)
		}
		if !found {
			return out
		}
	}
}

// Truncate shortens long strings and lists so a timeline stays readable; JSON structure is kept.
func Truncate(v any) any {
	switch x := v.(type) {
	case string:
		if len(x) > 300 {
			return x[:300] + fmt.Sprintf("…(%d more bytes)", len(x)-300)
		}
		return x
	case []any:
		n := min(len(x), 10)
		out := make([]any, 0, n+1)
		for _, e := range x[:n] {
			out = append(out, Truncate(e))
		}
		if len(x) > n {
			out = append(out, fmt.Sprintf("…(%d more items)", len(x)-n))
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Truncate(e)
		}
		return out
	}
	return v
}

// quotaProgress reads the quota wait an action heartbeats as its second detail while it sleeps for a slot.
func quotaProgress(conv payloadcrypt.Converters, details *commonpb.Payloads) (wire.QuotaWait, bool) {
	var qw wire.QuotaWait
	if len(details.GetPayloads()) < 2 {
		return qw, false
	}
	dc := conv.Data
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	var progress any
	if dc.FromPayloads(details, &progress, &qw) != nil || qw.Until.IsZero() {
		return wire.QuotaWait{}, false
	}
	return qw, true
}

// batchProgress says what a mitigation step waits for, from the broker's progress in its heartbeat: its items
// waiting for a batch to fill (n of m, and when it goes at the latest), or posted and waiting for the vendor.
func batchProgress(conv payloadcrypt.Converters, details *commonpb.Payloads) (string, bool) {
	if len(details.GetPayloads()) == 0 {
		return "", false
	}
	dc := conv.Data
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	var p mitigation.Progress
	if dc.FromPayloads(details, &p) != nil || p.Total == 0 {
		return "", false
	}
	return describeBatch(p), true
}

// queueProgress says what a pending mitigation activity waits for, from the queue.
func queueProgress(ctx context.Context, mq mitigation.ProgressStore, runID string, pa *workflowpb.PendingActivityInfo) (string, bool) {
	if mq == nil || !strings.HasPrefix(pa.GetActivityType().GetName(), "cecp.mitigate_") {
		return "", false
	}
	p, ok, err := mitigation.StepProgress(ctx, mq, runID, pa.GetActivityId(), time.Now())
	if err != nil || !ok {
		return "", false
	}
	return describeBatch(p), true
}

// describeBatch words a mitigation step's progress: its items waiting for a batch to fill (n of m, and when it
// goes at the latest), or posted and waiting for the vendor.
func describeBatch(p mitigation.Progress) string {
	var parts []string
	if p.Queued > 0 {
		part := fmt.Sprintf("%d of %d waiting for a batch", p.Queued, p.Total)
		if p.BatchSize > 0 {
			part = fmt.Sprintf("waiting for batch (%d of %d", p.BatchFill, p.BatchSize)
			if p.FlushIn > 0 {
				part += fmt.Sprintf(", flushes in %s", p.FlushIn.Round(100*time.Millisecond))
			}
			part += ")"
		}
		parts = append(parts, part)
	}
	if p.Out > 0 {
		parts = append(parts, fmt.Sprintf("%d posted, waiting for the vendor's outcome", p.Out))
	}
	if p.Done > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d done", p.Done, p.Total))
	}
	if p.LastError != "" {
		parts = append(parts, "vendor failing: "+p.LastError)
	}
	return strings.Join(parts, "; ")
}
