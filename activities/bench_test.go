package activities

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecpsim"
)

// BenchmarkCheckInputs measures the per-step cost of checking a sweep's inputs against its spec.
func BenchmarkCheckInputs(b *testing.B) {
	spec, _ := action.Default().Lookup("cecp.sweep")
	with := map[string]any{"sender": "a*@bad.example", "lastndays": 7.0, "subject": "Invoice", "file_sha256": sha256a,
		"source_ip": "10.0.0.0/8", "limit": 500.0, "max_results": 1000.0}
	b.ReportAllocs()
	for b.Loop() {
		if err := checkInputs(spec, cloneMap(with)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweep1000 runs cecp.sweep for 1,000 mails (two pages) through the activity test environment and the
// simulator: the whole activity, vendor exchange included; it reports the output size a step carries.
func BenchmarkSweep1000(b *testing.B) {
	h := newHarness(b, harnessOpts{sim: &cecpsim.Options{Seed: 1, Mailboxes: 100, MailsPerMailbox: 12, RateLimit: cecpsim.NoRateLimit}})
	var size int
	for b.Loop() {
		out, err := h.exec("cecp.sweep", "sweep", map[string]any{"mailbox": "*@corp.example", "lastndays": 30.0, "limit": 500.0, "max_results": 1000.0})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(out["mails"].([]any)); n != 1000 {
			b.Fatalf("%d mails", n)
		}
		raw, _ := json.Marshal(out)
		size = len(raw)
	}
	b.ReportMetric(float64(size)/1024, "KiB-output-json")
}

// BenchmarkMitigate100 posts 100 mails in batches of 10 (each batch recorded in the ledger before its POST and
// audited after it) without waiting; every iteration is a new step.
func BenchmarkMitigate100(b *testing.B) {
	h := newHarness(b, harnessOpts{batchSize: 10,
		sim: &cecpsim.Options{Seed: 1, Mailboxes: 50, MailsPerMailbox: 4, RateLimit: cecpsim.NoRateLimit, ActionDelay: -1}})
	mails := h.sweepItems(nil)[:100]
	i := 0
	start := time.Now()
	for b.Loop() {
		i++
		out, err := h.exec("cecp.mitigate_mails", fmt.Sprintf("purge%d", i), map[string]any{"action": "delete", "mails": mails})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(out["batch_ids"].([]any)); n != 10 {
			b.Fatalf("%d batches", n)
		}
	}
	b.ReportMetric(float64(h.sim.Requests()["POST /v1/mitigation/mails"])/float64(i), "posts/op")
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(i*10)/1000, "ms/batch")
}
