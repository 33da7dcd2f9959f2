package devserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// BenchmarkStartTemporal measures a first start: schema creation plus server start,
// until the frontend answers. Figures: start-ms per start, and heap-MB and sys-MB
// (live heap and memory from the OS, after a GC) with the first server running.
func BenchmarkStartTemporal(b *testing.B) {
	benchmarkStart(b, func(b *testing.B) string { return b.TempDir() })
}

// BenchmarkStartTemporalExisting measures a restart on a data dir that already holds
// completed workflows.
func BenchmarkStartTemporalExisting(b *testing.B) {
	dir := b.TempDir()
	populate(b, dir, 200)
	benchmarkStart(b, func(*testing.B) string { return dir })
}

func benchmarkStart(b *testing.B, dataDir func(*testing.B) string) {
	ctx := context.Background()
	var total time.Duration
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		dir := dataDir(b)
		b.StartTimer()
		began := time.Now()
		tmp, err := StartTemporal(ctx, TemporalOptions{DataDir: dir, Listen: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(began)
		b.StopTimer()
		if i == 0 {
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
			b.ReportMetric(float64(after.Sys)/(1<<20), "sys-MB")
			if rss, ok := residentMB(); ok {
				b.ReportMetric(rss, "rss-MB")
			}
		}
		if err := tmp.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "start-ms")
}

func quickWorkflow(ctx workflow.Context, n int) (int, error) { return n + 1, nil }

// populate runs n short workflows to completion in dir.
func populate(b *testing.B, dir string, n int) {
	b.Helper()
	ctx := context.Background()
	tmp, err := StartTemporal(ctx, TemporalOptions{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer tmp.Stop(ctx)
	c, err := client.Dial(client.Options{
		HostPort: tmp.Address(),
		Logger:   sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflow(quickWorkflow)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	runs := make([]client.WorkflowRun, 0, n)
	for i := range n {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("populate-%d", i), TaskQueue: testTaskQueue}, quickWorkflow, i)
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, run)
	}
	for _, run := range runs {
		if err := run.Get(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// residentMB reads the process's resident set size where /proc offers it: what a
// laptop's task manager shows for parry dev, stacks and the UI assets included.
func residentMB() (float64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				return 0, false
			}
			return float64(kb) / 1024, true
		}
	}
	return 0, false
}
