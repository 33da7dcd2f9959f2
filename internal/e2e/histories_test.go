package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

// historyCase is one recorded run: a playbook, its alert or inputs, and failures to inject by step id.
type historyCase struct {
	name     string
	file     string
	alert    map[string]any
	inputs   map[string]any
	fail     map[string]string // step id → error type (non-retryable)
	sequence map[string][]any  // step id → outputs per call (until loops)
	approve  []string          // approval steps to approve when they wait
}

func historyCases() []historyCase {
	cecp := func(kind string, data map[string]any) map[string]any {
		return map[string]any{"id": 1, "source": "cecp", "kind": kind, "severity": "high", "title": kind, "connection": "", "data": data}
	}
	return []historyCase{
		{name: "phishing-containment", file: "../../playbooks/phishing-containment.yaml",
			alert:   cecp("securityrisk", map[string]any{"mail_message_sender": "billing@evil.test", "mail_message_subject": "Invoice overdue"}),
			approve: []string{"approve_disable"}},
		{name: "malicious-attachment", file: "../../playbooks/malicious-attachment.yaml",
			alert: cecp("virtualanalyzer", map[string]any{"file_sha256": strings.Repeat("ab", 32), "file_name": "invoice.xlsm"})},
		{name: "account-compromise", file: "../../playbooks/account-compromise.yaml",
			alert:   map[string]any{"id": 2, "source": "idp", "kind": "account_compromise", "severity": "critical", "title": "impossible travel", "data": map[string]any{"account": "ceo@corp.test"}},
			approve: []string{"approve"}},
		{name: "ransomware-response", file: "../../playbooks/ransomware-response.yaml",
			alert:   cecp("ransomware", map[string]any{"affected_user": "user@corp.test", "ransomware_name": "LockBit", "file_sha256": strings.Repeat("cd", 32), "mail_message_id": "<m1@evil.test>"}),
			approve: []string{"approve_disable"}},
		{name: "false-positive-restore", file: "../../playbooks/false-positive-restore.yaml",
			alert: map[string]any{"id": 3, "source": "analyst", "kind": "false_positive", "severity": "low", "title": "legit newsletter", "data": map[string]any{"sender": "news@partner.test", "subject": "Newsletter"}}},
		{name: "ioc-hunt", file: "../../playbooks/ioc-hunt.yaml",
			inputs:  map[string]any{"senders": []any{"bad@evil.test"}, "urls": []any{"hxxp://evil[.]test/x"}, "sha256s": []any{strings.Repeat("ef", 32)}, "source_ips": []any{"203.0.113.7"}, "quarantine": true},
			approve: []string{"approve"}},
		{name: "feature-flow", file: "../../workflows/testdata/features/flow.yaml", fail: map[string]string{"fragile": "VendorRejected"}},
		{name: "feature-loops", file: "../../workflows/testdata/features/loops.yaml",
			sequence: map[string][]any{"poll": {map[string]any{"count": 0, "actions": []any{}}, map[string]any{"count": 1, "actions": []any{}}}}},
		{name: "feature-parallel", file: "../../workflows/testdata/features/parallel.yaml", fail: map[string]string{"block_sender": "VendorUnavailable"}},
		{name: "feature-approval", file: "../../workflows/testdata/features/approval.yaml", approve: []string{"approve"}},
		{name: "feature-call", file: "../../workflows/testdata/features/call.yaml"},
		{name: "feature-failure", file: "../../workflows/testdata/features/failure.yaml", fail: map[string]string{"refused": "VendorRejected"}},
		{name: "feature-steps", file: "../../workflows/testdata/features/steps.yaml", fail: map[string]string{"refused": "VendorRejected"},
			approve: []string{"per_ioc#0.decide", "per_ioc#1.decide"}},
		// The same run with the interpreter version in its input, as parry starts runs now (no version marker).
		// feature-steps keeps the marker of the runs started before; the others predate both.
		{name: "interpreter-in-input", file: "../../workflows/testdata/features/steps.yaml", fail: map[string]string{"refused": "VendorRejected"},
			approve: []string{"per_ioc#0.decide", "per_ioc#1.decide"}},
	}
}

// TestRecordHistories re-records workflows/testdata/histories, which TestReplayRecordedHistories (in package
// workflows) replays against the current code in every test run. Run it on purpose, with `make histories
// CASE=name`, for the cases an intended change to the interpreter affects (guarded by a new interpreter
// version); re-recording every case would lose the histories of runs started by earlier versions.
func TestRecordHistories(t *testing.T) {
	if os.Getenv("PARRY_RECORD_HISTORIES") == "" {
		t.Skip("set PARRY_RECORD_HISTORIES=1 (make histories) to re-record workflows/testdata/histories")
	}
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{Logger: quiet}))
	c := ts.GetDefaultClient()
	for _, hc := range historyCases() {
		t.Run(hc.name, func(t *testing.T) {
			queue := "record-" + hc.name
			fk := &synthetic{c: hc, calls: map[string]int{}}
			ts.NewWorker(queue, func(r worker.Registry) {
				r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
				for _, name := range action.Default().Names() {
					r.RegisterActivityWithOptions(fk.handle, activity.RegisterOptions{Name: name})
				}
			})
			p := mustPlan(t, readFile(t, hc.file))
			raw, _ := plan.Encode(p)
			in := workflows.Input{RunID: "history-" + hc.name, Plan: raw, Playbook: workflows.PlaybookRef{Name: p.Name, SHA256: p.SHA256},
				Inputs: hc.inputs, Alert: hc.alert, Interpreter: workflows.InterpreterFor(p)}
			if hc.alert != nil {
				in.Incident = &workflows.Incident{ID: 1, Key: "k", Alerts: []map[string]any{hc.alert}}
			}
			if hc.name == "feature-call" {
				child := mustPlan(t, readFile(t, "../../workflows/testdata/features/child.yaml"))
				craw, _ := plan.Encode(child)
				in.Subplans = map[string]json.RawMessage{"feature-child": craw}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.RunID, TaskQueue: queue}, workflows.PlaybookWorkflow, in)
			if err != nil {
				t.Fatal(err)
			}
			go approveWhenWaiting(ctx, c, in.RunID, hc.approve)
			err = run.Get(ctx, nil)
			var app *temporal.ApplicationError
			if err != nil && !(errors.As(err, &app) && app.Type() == workflows.FailureType) {
				t.Fatalf("run: %v", err)
			}
			hist := &historypb.History{}
			it := c.GetWorkflowHistory(ctx, in.RunID, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				hist.Events = append(hist.Events, ev)
			}
			b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "..", "workflows", "testdata", "histories", hc.name+".json")
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d events", path, len(hist.Events))
		})
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// approveWhenWaiting approves the listed approval steps as soon as the run waits for them.
func approveWhenWaiting(ctx context.Context, c client.Client, runID string, steps []string) {
	done := map[string]bool{}
	for len(done) < len(steps) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		v, err := c.QueryWorkflow(ctx, runID, "", workflows.QueryStatus)
		if err != nil {
			continue
		}
		var st workflows.Status
		if v.Get(&st) != nil {
			continue
		}
		for _, w := range st.Waiting {
			if w.Kind != "approval" || done[w.Step] || !contains(steps, w.Step) {
				continue
			}
			h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{UpdateID: "approve-" + w.Step, WorkflowID: runID, UpdateName: workflows.UpdateApproval,
				Args:         []any{workflows.ApprovalDecision{Step: w.Step, Approved: true, By: "recorder", Roles: []string{"ingest", "viewer", "responder", "author", "admin"}}},
				WaitForStage: client.WorkflowUpdateStageCompleted})
			if err == nil && h.Get(ctx, nil) == nil {
				done[w.Step] = true
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// synthetic answers every action with an output built from the action's spec (lists of two items, so that
// loops and branches run), failures where the case asks for them, and sequences for polling steps.
type synthetic struct {
	c     historyCase
	mu    sync.Mutex
	calls map[string]int
}

func (s *synthetic) handle(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	info := activity.GetInfo(ctx)
	step := strings.SplitN(in.Step, "#", 2)[0]
	s.mu.Lock()
	n := s.calls[step]
	s.calls[step]++
	s.mu.Unlock()
	if typ, ok := s.c.fail[step]; ok {
		return wire.ActionResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("injected %s for %s", typ, step), typ, nil)
	}
	var out any
	if seq, ok := s.c.sequence[step]; ok {
		out = seq[min(n, len(seq)-1)]
	} else {
		spec, _ := action.Default().Lookup(info.ActivityType.Name)
		out = synthesize(spec.Output, step)
	}
	b, _ := json.Marshal(out)
	return wire.ActionResult{Output: b, Attempt: int(info.Attempt)}, nil
}

func synthesize(t action.Type, name string) any {
	switch t.Kind {
	case action.Object:
		m := map[string]any{}
		for _, f := range t.Fields {
			m[f.Name] = synthesize(f.Type, f.Name)
		}
		return m
	case action.List:
		if t.Elem == nil {
			return []any{}
		}
		return []any{synthesize(*t.Elem, name+"1"), synthesize(*t.Elem, name+"2")}
	case action.Int, action.Number:
		return 2
	case action.Bool:
		return false
	case action.String:
		switch t.Format {
		case "email":
			return name + "@corp.test"
		case "sha1":
			return strings.Repeat("a1", 20)
		case "sha256":
			return strings.Repeat("b2", 32)
		case "datetime":
			return "2026-11-23T10:00:00Z"
		case "url":
			return "https://evil.test/" + name
		case "uuid":
			return "11111111-2222-3333-4444-555555555555"
		}
		return name
	}
	return name
}
