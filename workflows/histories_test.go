package workflows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/workflows"
)

// TestReplayRecordedHistories replays every recorded history (every shipped playbook and every language
// feature, recorded on a real Temporal server by `make histories`) against the current interpreter: a change
// that would break runs in flight fails here. Such a change needs workflow.GetVersion, then re-recording.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d recorded histories, want at least 12 (run make histories)", len(files))
	}
	shipped, _ := filepath.Glob(filepath.Join("..", "playbooks", "*.yaml"))
	for _, pb := range shipped {
		name := strings.TrimSuffix(filepath.Base(pb), ".yaml")
		if strings.HasSuffix(name, ".test") {
			continue
		}
		if _, err := os.Stat(filepath.Join("testdata", "histories", name+".json")); err != nil {
			t.Errorf("shipped playbook %s has no recorded history (add it to historyCases in internal/e2e and run make histories)", name)
		}
	}
	logger := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			data, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer data.Close()
			hist, err := client.HistoryFromJSON(data, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
			if err := r.ReplayWorkflowHistory(logger, hist); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
