package runs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/workflows"
	"go.temporal.io/sdk/converter"
)

const five = `name: five
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
`

func compile(t *testing.T, src string) *plan.Plan {
	t.Helper()
	p, diags := playbook.Load("t.yaml", []byte(src))
	if p == nil {
		t.Fatalf("does not compile: %v", diags)
	}
	return p
}

func failedRun(t *testing.T, src string, records map[string]workflows.StepRecord) store.Run {
	t.Helper()
	raw, _ := plan.Encode(compile(t, src))
	steps, _ := json.Marshal(records)
	return store.Run{ID: "r1", Plan: raw, Steps: steps, Status: store.RunFailed, FailedStep: "s3"}
}

func TestReusable(t *testing.T) {
	ok := workflows.StepRecord{Status: workflows.StatusSucceeded, Output: map[string]any{"mails": []any{}}}
	records := map[string]workflows.StepRecord{"s1": ok, "s2": ok, "s3": {Status: workflows.StatusFailed, Error: &workflows.StepError{Type: "VendorAuth"}}}
	old := failedRun(t, five, records)
	for _, tc := range []struct {
		name, src, from string
		reused          string
		err             string
	}{
		{"same plan, first failed step", five, "", "s1,s2", ""},
		{"from s2", five, "s2", "s1", ""},
		{"from s1", five, "s1", "", ""},
		{"edited after the failure", strings.Replace(five, "urls: [evil.test/x]", "urls: [evil.test/y]", 1), "s3", "s1,s2", ""},
		{"reused step changed", strings.Replace(five, "senders: [a@evil.test]", "senders: [b@evil.test]", 1), "s3", "",
			"cannot reuse step s2: its inputs (with) changed, so its recorded output no longer applies; retry from s2 or an earlier step"},
		{"reused step's action changed", strings.Replace(five, "action: cecp.block\n    with: { senders", "action: cecp.unblock\n    with: { senders", 1), "s3", "",
			"cannot reuse step s2: its action changed, so its recorded output no longer applies; retry from s2 or an earlier step"},
		{"completed step removed", strings.Replace(five, "  - id: s2\n    action: cecp.block\n    with: { senders: [a@evil.test] }\n", "", 1), "s3", "",
			"the new plan no longer has step s2, which the failed run completed; its effects would be lost or repeated"},
		{"unknown from", five, "s9", "", `step "s9" is not in the plan of five`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reuse, err := Reusable(old, compile(t, tc.src), tc.from)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, id := range []string{"s1", "s2", "s3", "s4"} {
				if _, ok := reuse[id]; ok {
					ids = append(ids, id)
				}
			}
			if strings.Join(ids, ",") != tc.reused {
				t.Fatalf("reused %v, want %s", ids, tc.reused)
			}
		})
	}
	if _, err := Reusable(store.Run{ID: "r2", Plan: old.Plan}, compile(t, five), "s3"); err == nil || err.Error() != "run r2 has no step records yet (is it finished?)" {
		t.Fatalf("no records: %v", err)
	}
}

func TestExplainDivergence(t *testing.T) {
	s1, s2, s3 := stepCommand{"s1", "cecp.sweep"}, stepCommand{"s2", "cecp.block"}, stepCommand{"s3", "cecp.mitigate_mails"}
	for _, tc := range []struct {
		name          string
		history, code []stepCommand
		step, want    string
	}{
		{"another step", []stepCommand{s1, s2, s3}, []stepCommand{s1, s3}, "s2",
			"not deterministic at step s2: the history ran step s2 (cecp.block), the current code runs step s3 (cecp.mitigate_mails) there"},
		{"replay stopped", []stepCommand{s1, s2, s3}, []stepCommand{s1}, "s2",
			"not deterministic at step s2: the history ran step s2 (cecp.block) there, the current code runs another step or none"},
		{"extra step", []stepCommand{s1}, []stepCommand{s1, {"s5", "notify.webhook"}}, "s5",
			"not deterministic at step s5: the current code runs step s5 (notify.webhook) where the history has no further step"},
		{"same action, other id", []stepCommand{s1, s2}, []stepCommand{s1, {"s2b", "cecp.block"}}, "s2",
			"not deterministic at step s2: the history ran step s2 (cecp.block), the current code runs step s2b (cecp.block) there"},
		{"call step", []stepCommand{s1, {"child", "call"}}, []stepCommand{s1, s2}, "child",
			"not deterministic at step child: the history ran step child (call), the current code runs step s2 (cecp.block) there"},
		{"same steps", []stepCommand{s1, s2}, []stepCommand{s1, s2}, "s2",
			"not deterministic after step s2: both run the same steps, but the current code decides differently after it (a timer, a wait or how the run ends)"},
		{"no steps", nil, nil, "",
			"not deterministic before the first step: the current code decides differently from the history (a timer, a wait or how the run ends)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nd := explainDivergence(tc.history, tc.code)
			if nd.Step != tc.step || nd.Error() != tc.want {
				t.Errorf("got %q %q\nwant %q %q", nd.Step, nd.Error(), tc.step, tc.want)
			}
		})
	}
}

// TestReplayNamesTheStepAnEditChanges replays a recorded history with an edited plan (two steps swapped) and
// checks that the explanation comes from the recorded decisions, not from the SDK's error text.
func TestReplayNamesTheStepAnEditChanges(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "workflows", "testdata", "histories", "feature-flow.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ReplayHistory(hist)
	if err != nil || !res.OK {
		t.Fatalf("unchanged history: %+v %v", res, err)
	}
	recorded := historyCommands(hist)
	if len(recorded) < 3 {
		t.Fatalf("feature-flow has %d step commands; the test needs three", len(recorded))
	}
	var in struct {
		Plan json.RawMessage `json:"plan"`
	}
	start := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0].GetData()
	if err := json.Unmarshal(start, &in); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Decode(in.Plan)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the second and third actions the run took.
	a := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.ID == recorded[1].Step })
	b := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.ID == recorded[2].Step })
	if a < 0 || b < 0 {
		t.Fatalf("steps %s and %s are not top-level steps", recorded[1].Step, recorded[2].Step)
	}
	p.Steps[a], p.Steps[b] = p.Steps[b], p.Steps[a]
	swapped, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := substitutePlan(hist, swapped); err != nil {
		t.Fatal(err)
	}
	res, err = ReplayHistory(hist)
	h, c := recorded[1], recorded[2]
	want := "not deterministic at step " + h.Step + ": the history ran step " + h.Step + " (" + h.Action + "), the current code runs step " + c.Step + " (" + c.Action + ") there"
	if err != nil || res.OK || res.Step != h.Step || res.Message != want {
		t.Fatalf("swapped: %+v %v\nwant %s", res, err, want)
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("x", 350)
	list := make([]any, 12)
	for i := range list {
		list[i] = i
	}
	got, _ := json.Marshal(Truncate(map[string]any{"s": long, "l": list, "n": 3}))
	want := `{"l":[0,1,2,3,4,5,6,7,8,9,"…(2 more items)"],"n":3,"s":"` + strings.Repeat("x", 300) + `…(50 more bytes)"}`
	if string(got) != want {
		t.Fatalf("got %s", got)
	}
}

func TestWaitingSummary(t *testing.T) {
	for _, tc := range []struct {
		waits        []WaitView
		status, text string
	}{
		{nil, store.RunRunning, ""},
		{[]WaitView{{Step: "approve", Kind: "approval"}}, store.RunWaiting, "approval of approve"},
		{[]WaitView{{Step: "pause", Kind: "timer", Until: time.Now()}, {Step: "child", Kind: "call"}}, store.RunWaiting, "timer in pause, called playbook in child"},
		{[]WaitView{{Step: "approve", Kind: "approval"}, {Step: "sweep", Kind: "vendor quota"}}, store.RunRunning, "approval of approve, vendor quota for sweep"},
		{[]WaitView{{Step: "block", Kind: "retry back-off"}}, store.RunRunning, "retry of block"},
	} {
		status, text := waitingSummary(tc.waits)
		if status != tc.status || text != tc.text {
			t.Errorf("%v: got %s %q", tc.waits, status, text)
		}
	}
}

func TestFirstFailed(t *testing.T) {
	p := compile(t, five)
	recs := map[string]workflows.StepRecord{"s1": {Status: workflows.StatusSucceeded}, "s3": {Status: workflows.StatusFailed}, "s4": {Status: workflows.StatusFailed}}
	if got := FirstFailed(p, recs, "x"); got != "s3" {
		t.Fatalf("got %s", got)
	}
	if got := FirstFailed(p, map[string]workflows.StepRecord{}, "fallback"); got != "fallback" {
		t.Fatalf("got %s", got)
	}
}

func TestBatchProgress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    mitigation.Progress
		want string
	}{
		{mitigation.Progress{Total: 1, Queued: 1, BatchFill: 3, BatchSize: 10, FlushIn: 1400 * time.Millisecond, Flusher: true},
			"waiting for batch (3 of 10, flushes in 1.4s)"},
		{mitigation.Progress{Total: 7, Queued: 2, Out: 5}, "2 of 7 waiting for a batch; 5 posted, waiting for the vendor's outcome"},
		{mitigation.Progress{Total: 7, Out: 3, Done: 4, LastError: "GET /v1/mitigation/mails: HTTP 503"},
			"3 posted, waiting for the vendor's outcome; 4 of 7 done; vendor failing: GET /v1/mitigation/mails: HTTP 503"},
	}
	for _, tt := range tests {
		payloads, err := converter.GetDefaultDataConverter().ToPayloads(tt.p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := batchProgress(payloadcrypt.Plain(), payloads)
		if !ok || got != tt.want {
			t.Errorf("batchProgress(%+v) = %q, %v; want %q", tt.p, got, ok, tt.want)
		}
	}
	if _, ok := batchProgress(payloadcrypt.Plain(), nil); ok {
		t.Error("no details read as progress")
	}
	if status, detail := waitingSummary([]WaitView{{Step: "quarantine", Kind: "batch", Detail: "waiting for batch (3 of 10)"}}); status != store.RunRunning || detail != "quarantine: waiting for batch (3 of 10)" {
		t.Errorf("summary %s %q", status, detail)
	}
}
