// Package e2e holds end-to-end tests: a real Temporal server (temporaltest), a real PostgreSQL (storetest), the
// API over HTTP and the parry CLI. It is the only test package that imports the Temporal server.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/cli"
	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// stack is parry on a real Temporal server and PostgreSQL, with the API on httptest and a worker whose
// activities are given by the test.
type stack struct {
	t       testing.TB
	ts      *temporaltest.TestServer
	tc      client.Client
	st      *store.Store
	svc     *runs.Service
	tracker *runs.Tracker
	api     *httptest.Server
	token   string
	queue   string
	fakes   *fakes
}

// fakes answers action activities by step id, counting calls.
type fakes struct {
	mu       sync.Mutex
	handlers map[string]func(in wire.ActionInput) (any, error)
	calls    map[string]int
}

func (f *fakes) set(step string, h func(in wire.ActionInput) (any, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[step] = h
}

func (f *fakes) count(step string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[step]
}

func (f *fakes) handle(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	f.mu.Lock()
	f.calls[in.Step]++
	id := in.Step[strings.LastIndexByte(in.Step, '.')+1:] // a loop body's step: per_ioc#1.lookup
	h := f.handlers[strings.SplitN(id, "#", 2)[0]]
	f.mu.Unlock()
	var out any = map[string]any{}
	if h != nil {
		var err error
		if out, err = h(in); err != nil {
			return wire.ActionResult{}, err
		}
	}
	b, _ := json.Marshal(out)
	return wire.ActionResult{Output: b, Attempt: int(activity.GetInfo(ctx).Attempt)}, nil
}

func newStack(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs PostgreSQL and an embedded Temporal server")
	}
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseClientOptions(client.Options{Logger: quiet}),
		temporaltest.WithBaseWorkerOptions(worker.Options{}))
	s := &stack{t: t, ts: ts, tc: ts.GetDefaultClient(), st: storetest.NewStore(t), queue: "parry-e2e",
		fakes: &fakes{handlers: map[string]func(wire.ActionInput) (any, error){}, calls: map[string]int{}}}
	starter := &runs.Starter{Store: s.st, Temporal: s.tc, TaskQueue: s.queue}
	s.svc = &runs.Service{Store: s.st, Temporal: s.tc, Starter: starter, Outbox: &runs.Outbox{Store: s.st, Starter: starter, Temporal: s.tc}}
	s.tracker = &runs.Tracker{Store: s.st, Temporal: s.tc, Logger: slog.New(slog.DiscardHandler), Interval: 100 * time.Millisecond, Namespace: ts.GetDefaultNamespace()}
	// The dispatcher carries out the outbox (runs recorded while Temporal was unreachable start from it).
	disp := &dispatch.Dispatcher{Inbox: dispatch.StoreInbox{Store: s.st}, Runs: starter, Outbox: s.svc.Outbox,
		SweepInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); s.tracker.Run(ctx) }()
	go func() { defer func() { done <- struct{}{} }(); disp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	s.api = httptest.NewServer((&api.Server{Store: s.st, Runs: s.svc}).Handler())
	t.Cleanup(s.api.Close)
	tok, _, err := s.st.CreateToken(context.Background(), "alice", store.RoleAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	s.token = tok
	wf := workflows.New()
	ts.NewWorker(s.queue, func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(wf.Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
		for _, name := range action.Default().Names() {
			r.RegisterActivityWithOptions(s.fakes.handle, activity.RegisterOptions{Name: name})
		}
	})
	return s
}

// parry runs the CLI against the stack's API.
func (s *stack) parry(args ...string) (string, string, int) {
	s.t.Helper()
	s.t.Setenv("PARRY_URL", s.api.URL)
	s.t.Setenv("PARRY_TOKEN", s.token)
	s.t.Setenv("PARRY_CONFIG", filepath.Join(s.t.TempDir(), "none.yaml"))
	os.WriteFile(os.Getenv("PARRY_CONFIG"), nil, 0o600)
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Main(ctx, args, strings.NewReader(""), &out, &errb, nil)
	return out.String(), errb.String(), code
}

// waitRun waits until the runs table shows the run in one of the statuses.
func (s *stack) waitRun(id string, statuses ...string) store.Run {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := s.st.GetRun(context.Background(), id)
		if err == nil {
			for _, st := range statuses {
				if r.Status == st {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s did not reach %v: status %s, error %q, workflow run %s (%v)", id, statuses, r.Status, r.Error, r.WorkflowRunID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const approvalPlaybook = `name: disable-account
inputs:
  who: { type: string, required: true }
steps:
  - id: approve_disable
    approval:
      prompt: "Disable ${{ inputs.who }}?"
      timeout: 1h
      on_timeout: reject
  - id: disable
    if: steps.approve_disable.output.approved
    action: cecp.mitigate_accounts
    with: { action: disable, accounts: ["${{ inputs.who }}"] }
output:
  approved_by: ${{ steps.approve_disable.output.by }}
`

func TestManualRunWithApprovalThroughTheCLI(t *testing.T) {
	s := newStack(t)
	file := writeFile(t, "disable.yaml", approvalPlaybook)
	out, errOut, code := s.parry("run", "start", file, "--with", "who=bob@x.test")
	if code != 0 {
		t.Fatalf("start: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	r := s.waitRun(id, store.RunWaiting)
	if r.WaitingFor != "approval of approve_disable" {
		t.Fatalf("waiting for %q", r.WaitingFor)
	}
	out, _, code = s.parry("run", "show", id)
	if code != 0 || !strings.Contains(out, "approval of approve_disable until") || !strings.Contains(out, "Disable bob@x.test?") {
		t.Fatalf("show while waiting:\n%s", out)
	}
	_, errOut, code = s.parry("run", "approve", id, "nope")
	if code != 1 || !strings.Contains(errOut, `step \"nope\" is not waiting for an approval (waiting: approve_disable)`) && !strings.Contains(errOut, `step "nope" is not waiting for an approval (waiting: approve_disable)`) {
		t.Fatalf("approve unknown step: %d %q", code, errOut)
	}
	_, errOut, code = s.parry("run", "approve", id, "approve_disable", "--comment", "confirmed by phone")
	if code != 0 || errOut != "approved approve_disable of run "+id+" as alice\n" {
		t.Fatalf("approve: %d %q", code, errOut)
	}
	_, errOut, code = s.parry("run", "approve", id, "approve_disable", "--reject")
	if code != 1 {
		t.Fatalf("second decision accepted: %q", errOut)
	}
	r = s.waitRun(id, store.RunSucceeded, store.RunFailed)
	if r.Status != store.RunSucceeded || string(r.Output) != `{"approved_by": "alice"}` {
		t.Fatalf("run: %+v output %s", r, r.Output)
	}
	if s.fakes.count("disable") != 1 {
		t.Fatalf("disable ran %d times", s.fakes.count("disable"))
	}
	evs, _ := s.st.ListAudit(context.Background(), store.AuditQuery{RunID: id})
	var actions []string
	for _, e := range evs {
		if e.Actor == "token:alice" {
			actions = append(actions, e.Action)
		}
	}
	if strings.Join(actions, ",") != "run.start,run.approve" {
		t.Fatalf("audit of run %s by alice: %v", id, actions)
	}
	out, _, code = s.parry("run", "list", "--json", "--status", "succeeded")
	var list struct{ Items []store.Run }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].ID != id {
		t.Fatalf("list: %s", out)
	}
	out, _, code = s.parry("run", "show", id, "--json")
	var v runs.View
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || len(v.Steps) != 2 {
		t.Fatalf("show --json: %s", out)
	}
	disable := v.Steps[1]
	if disable.ID != "disable" || disable.Status != "succeeded" || disable.Attempts != 1 || fmt.Sprint(disable.Input) != "map[accounts:[bob@x.test] action:disable wait:false]" {
		t.Fatalf("timeline step %+v", disable)
	}
}

const fiveSteps = `name: five
steps:
  - id: s1
    action: cecp.sweep
    with: { sender: a@evil.test }
  - id: s2
    action: cecp.block
    with: { senders: [a@evil.test] }
  - id: s3
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.s1.output.mails }}" }
  - id: s4
    action: cecp.block
    with: { urls: [evil.test/x] }
  - id: s5
    action: notify.webhook
    with: { connection: soc, text: "done: ${{ steps.s3.output.succeeded }}" }
`

func TestRetryFromTheFailedStep(t *testing.T) {
	s := newStack(t)
	s.fakes.set("s1", func(wire.ActionInput) (any, error) {
		return map[string]any{"mails": []any{map[string]any{"mailbox": "u@x.test", "mail_unique_id": "m1"}}, "count": 1}, nil
	})
	var broken sync.Mutex
	fixed := false
	s.fakes.set("s3", func(in wire.ActionInput) (any, error) {
		broken.Lock()
		defer broken.Unlock()
		if !fixed {
			return nil, temporal.NewNonRetryableApplicationError("HTTP 401, vendor code 401, Authentication token not found", "VendorAuth", nil)
		}
		return map[string]any{"succeeded": len(in.With["mails"].([]any))}, nil
	})
	file := writeFile(t, "five.yaml", fiveSteps)
	out, errOut, code := s.parry("run", "start", file, "--wait")
	if code != 1 || !strings.Contains(errOut, "s3") || !strings.Contains(errOut, "VendorAuth: HTTP 401, vendor code 401, Authentication token not found") {
		t.Fatalf("start --wait: %d\n%s\n%s", code, out, errOut)
	}
	runs, _ := s.st.ListRuns(context.Background(), store.RunQuery{})
	failed := runs[0]
	if failed.Status != store.RunFailed || failed.FailedStep != "s3" || s.fakes.count("s3") != 1 {
		t.Fatalf("failed run %+v, s3 called %d times (VendorAuth must not be retried)", failed, s.fakes.count("s3"))
	}

	// A retry refused: the reused step s2 changed.
	edited := writeFile(t, "five-edited.yaml", strings.Replace(fiveSteps, "senders: [a@evil.test]", "senders: [b@evil.test]", 1))
	_, errOut, code = s.parry("run", "retry", failed.ID, "--from", "s3", "--playbook", edited)
	if code != 1 || !strings.Contains(errOut, "cannot reuse step s2: its inputs (with) changed, so its recorded output no longer applies; retry from s2 or an earlier step") {
		t.Fatalf("retry with changed s2: %d %q", code, errOut)
	}
	// Fixed connection: the retry from s3 finishes, and s1, s2 are not executed again.
	broken.Lock()
	fixed = true
	broken.Unlock()
	out, errOut, code = s.parry("run", "retry", failed.ID, "--from", "s3", "--wait", "--json")
	if code != 0 {
		t.Fatalf("retry: %d\n%s\n%s", code, out, errOut)
	}
	var res struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
		Steps  []struct{ ID, Status string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Status != "succeeded" {
		t.Fatalf("retry result %s", out)
	}
	if s.fakes.count("s1") != 1 || s.fakes.count("s2") != 1 || s.fakes.count("s3") != 2 || s.fakes.count("s4") != 1 {
		t.Fatalf("calls s1=%d s2=%d s3=%d s4=%d", s.fakes.count("s1"), s.fakes.count("s2"), s.fakes.count("s3"), s.fakes.count("s4"))
	}
	retry, _ := s.st.GetRun(context.Background(), res.RunID)
	if retry.RetryOf != failed.ID || retry.RetryFromStep != "s3" {
		t.Fatalf("retry record %+v", retry)
	}
	if evs, _ := s.st.ListAudit(context.Background(), store.AuditQuery{RunID: res.RunID}); len(evs) == 0 || evs[0].Action != "run.retry" || evs[0].Actor != "token:alice" {
		t.Fatalf("audit of the retry: %+v", evs)
	}
	if !strings.Contains(errOut, "(reused from the failed run)") {
		t.Fatalf("retry --wait did not show reused steps:\n%s", errOut)
	}

	// A retry with an edited playbook (a new step after s3) also works.
	withExtra := writeFile(t, "five-extra.yaml", strings.Replace(fiveSteps, "  - id: s4\n", "  - id: s3b\n    action: cecp.unblock\n    with: { senders: [x@y.test] }\n  - id: s4\n", 1))
	_, errOut, code = s.parry("run", "retry", failed.ID, "--playbook", withExtra, "--wait")
	if code != 0 || s.fakes.count("s3b") != 1 || s.fakes.count("s1") != 1 {
		t.Fatalf("retry with edited playbook: %d %s (s3b=%d s1=%d)", code, errOut, s.fakes.count("s3b"), s.fakes.count("s1"))
	}
}

func TestExportAndReplay(t *testing.T) {
	s := newStack(t)
	file := writeFile(t, "five.yaml", fiveSteps)
	out, errOut, code := s.parry("run", "start", file, "--wait")
	if code != 0 {
		t.Fatalf("start: %d %s %s", code, out, errOut)
	}
	list, _ := s.st.ListRuns(context.Background(), store.RunQuery{})
	id := list[0].ID
	exportFile := filepath.Join(t.TempDir(), "run.json")
	if _, errOut, code := s.parry("run", "export", id, "-o", exportFile); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	data, _ := os.ReadFile(exportFile)
	if !bytes.Contains(data, []byte(`"history"`)) || !bytes.Contains(data, []byte(`"plan"`)) {
		t.Fatalf("export lacks parts: %.300s", data)
	}
	// The interpreter version travels in the run's input: no version marker, no search-attribute upsert (each
	// upsert is a visibility write of its own on the server).
	for _, ev := range []string{"EVENT_TYPE_MARKER_RECORDED", "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", "MarkerRecorded", "UpsertWorkflowSearchAttributes"} {
		if bytes.Contains(data, []byte(ev)) {
			t.Errorf("the run's history holds %s", ev)
		}
	}
	out, _, code = s.parry("run", "replay", "--file", exportFile)
	if code != 0 || !strings.HasPrefix(out, "run "+id+": replayed ") || !strings.HasSuffix(out, "events: the current code makes the same decisions\n") {
		t.Fatalf("replay: %d %q", code, out)
	}
	out, _, code = s.parry("run", "replay", id)
	if code != 0 {
		t.Fatalf("replay by id: %d %q", code, out)
	}
	// Swap s2 and s3: the replay names the step where the edited playbook departs from the history.
	swapped := strings.Replace(fiveSteps, `  - id: s2
    action: cecp.block
    with: { senders: [a@evil.test] }
  - id: s3
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.s1.output.mails }}" }
`, `  - id: s3
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.s1.output.mails }}" }
  - id: s2
    action: cecp.block
    with: { senders: [a@evil.test] }
`, 1)
	out, _, code = s.parry("run", "replay", "--file", exportFile, "--playbook", writeFile(t, "swapped.yaml", swapped))
	want := "run " + id + ": step s2: the order of steps changed: the run ran s2 (cecp.block) there, the current code runs s3 (cecp.mitigate_mails)\n"
	if code != 1 || out != want {
		t.Fatalf("replay swapped: %d\n%q\nwant\n%q", code, out, want)
	}
	// An edited input: Temporal's replayer alone finds nothing, the replay names it (and exits 1, as run retry
	// refuses the same file).
	deleted := strings.Replace(fiveSteps, "with: { action: quarantine,", "with: { action: delete,", 1)
	out, _, code = s.parry("run", "replay", "--file", exportFile, "--playbook", writeFile(t, "deleted.yaml", deleted))
	want = "run " + id + `: step s3: its inputs changed: with.action was "quarantine", is now "delete"` + "\n"
	if code != 1 || out != want {
		t.Fatalf("replay with a changed input: %d\n%q\nwant\n%q", code, out, want)
	}
	// An inserted step: not the SDK's raw "lookup failed for scheduledEventID", the step.
	inserted := strings.Replace(fiveSteps, "  - id: s2\n", "  - id: s1b\n    action: cecp.unblock\n    with: { senders: [x@y.test] }\n  - id: s2\n", 1)
	out, _, code = s.parry("run", "replay", "--file", exportFile, "--playbook", writeFile(t, "inserted.yaml", inserted))
	want = "run " + id + ": step s1b was added: the current code runs it where the run ran step s2\n"
	if code != 1 || out != want {
		t.Fatalf("replay with an inserted step: %d\n%q\nwant\n%q", code, out, want)
	}
	// A comment changes nothing the run does.
	out, _, code = s.parry("run", "replay", "--file", exportFile, "--playbook", writeFile(t, "commented.yaml", "# reviewed\n"+fiveSteps))
	if code != 0 || !strings.HasSuffix(out, "the current code makes the same decisions\n") {
		t.Fatalf("replay with a comment: %d %q", code, out)
	}
	// The same through the API (the server's code), for a console.
	c := apiclient.New(s.api.URL, s.token)
	if res, err := c.Replay(context.Background(), id, apitypes.ReplayRequest{}); err != nil || !res.OK {
		t.Fatalf("API replay: %+v %v", res, err)
	}
	if res, err := c.Replay(context.Background(), id, apitypes.ReplayRequest{Source: swapped}); err != nil || res.OK || res.Step != "s2" || res.What != "order" {
		t.Fatalf("API replay swapped: %+v %v", res, err)
	}
}

func TestCancelAndPendingStart(t *testing.T) {
	s := newStack(t)
	file := writeFile(t, "disable.yaml", approvalPlaybook)
	out, _, _ := s.parry("run", "start", file, "--with", "who=c@x.test")
	id := strings.TrimSpace(out)
	s.waitRun(id, store.RunWaiting)
	if _, errOut, code := s.parry("run", "cancel", id); code != 0 {
		t.Fatalf("cancel: %s", errOut)
	}
	r := s.waitRun(id, store.RunCancelled)
	var steps map[string]workflows.StepRecord
	if json.Unmarshal(r.Steps, &steps) != nil || steps["approve_disable"].Status != workflows.StatusCancelled {
		t.Fatalf("cancelled run steps %s", r.Steps)
	}
	if _, errOut, code := s.parry("run", "cancel", id); code != 1 || !strings.Contains(errOut, "is already cancelled") {
		t.Fatalf("cancel twice: %d %q", code, errOut)
	}

	// A run recorded while Temporal is unreachable starts when the outbox finds Temporal again.
	down := &runs.Starter{Store: s.st, Temporal: failingStarter{}, TaskQueue: s.queue}
	p := mustPlan(t, approvalPlaybook)
	if _, _, err := down.Record(context.Background(), s.st, runs.Request{RunID: "pending-1", Plan: p, Inputs: map[string]any{"who": "d@x.test"}}, 0); err != nil {
		t.Fatal(err)
	}
	rec, err := s.st.GetRun(context.Background(), "pending-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := down.Start(context.Background(), rec); err == nil {
		t.Fatal("start with Temporal down succeeded")
	}
	if r, _ := s.st.GetRun(context.Background(), "pending-1"); r.Status != store.RunPending {
		t.Fatalf("status %s", r.Status)
	}
	s.waitRun("pending-1", store.RunWaiting)
}

type failingStarter struct{}

func (failingStarter) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, interface{}, ...interface{}) (client.WorkflowRun, error) {
	return nil, errors.New("connection refused")
}

func mustPlan(t testing.TB, src string) *plan.Plan {
	t.Helper()
	p, diags := playbook.Load("test.yaml", []byte(src))
	if p == nil {
		t.Fatalf("does not compile: %v", diags)
	}
	return p
}

// TestRunRecordsFollowChangesFromOutsideParry terminates one run and resets another with Temporal's own API
// (as an operator would from the Temporal UI or CLI): the runs table follows both.
func TestRunRecordsFollowChangesFromOutsideParry(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	file := writeFile(t, "disable.yaml", approvalPlaybook)
	out, _, _ := s.parry("run", "start", file, "--with", "who=t@x.test")
	id := strings.TrimSpace(out)
	s.waitRun(id, store.RunWaiting)
	if err := s.tc.TerminateWorkflow(ctx, id, "", "stopped by an operator in the Temporal UI"); err != nil {
		t.Fatal(err)
	}
	r := s.waitRun(id, store.RunCancelled)
	if r.Error != "terminated from outside parry" || r.FinishedAt == nil {
		t.Fatalf("terminated run: %+v", r)
	}

	// A run that failed, reset to its first workflow task: it runs again under a new Temporal run id.
	s.fakes.set("s3", func(wire.ActionInput) (any, error) {
		return nil, temporal.NewNonRetryableApplicationError("refused", "VendorRejected", nil)
	})
	five := writeFile(t, "five.yaml", fiveSteps)
	_, _, code := s.parry("run", "start", five, "--wait")
	if code != 1 {
		t.Fatal("the run did not fail")
	}
	list, _ := s.st.ListRuns(ctx, store.RunQuery{Status: store.RunFailed})
	failed := list[0]
	s.fakes.set("s3", nil)
	resp, err := s.tc.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 s.ts.GetDefaultNamespace(),
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: failed.ID, RunId: failed.WorkflowRunID},
		Reason:                    "fixed the vendor",
		WorkflowTaskFinishEventId: 4,
		RequestId:                 "reset-" + failed.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	r = s.waitRun(failed.ID, store.RunSucceeded)
	if r.WorkflowRunID != resp.GetRunId() || r.Error != "" || r.FailedStep != "" {
		t.Fatalf("reset run: %+v (new Temporal run %s)", r, resp.GetRunId())
	}
}
