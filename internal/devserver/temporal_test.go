package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const testTaskQueue = "devserver-test"

// sleepWorkflow waits on a durable timer, the thing a restart must not lose.
func sleepWorkflow(ctx workflow.Context, d time.Duration) (string, error) {
	if err := workflow.Sleep(ctx, d); err != nil {
		return "", err
	}
	return "woke", nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func startTestTemporal(t *testing.T, dir, listen string, namespaces ...string) *Temporal {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	tmp, err := StartTemporal(ctx, TemporalOptions{DataDir: dir, Listen: listen, Namespaces: namespaces, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("StartTemporal: %v", err)
	}
	t.Logf("temporal started on %s in %v (created=%v)", tmp.Address(), time.Since(began).Round(time.Millisecond), tmp.Created())
	t.Cleanup(func() { stopTemporal(t, tmp) })
	return tmp
}

func stopTemporal(t *testing.T, tmp *Temporal) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tmp.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// connect dials the server and runs a worker for sleepWorkflow until the test (or
// the returned stop func) ends it.
func connect(t *testing.T, address string) (client.Client, func()) {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  address,
		Namespace: DefaultNamespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	if err != nil {
		t.Fatalf("dialing %s: %v", address, err)
	}
	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflow(sleepWorkflow)
	if err := w.Start(); err != nil {
		c.Close()
		t.Fatalf("starting worker: %v", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			w.Stop()
			c.Close()
		}
	}
	t.Cleanup(stop)
	return c, stop
}

// waitForEvent polls the workflow's history until an event of type et appears.
func waitForEvent(ctx context.Context, t *testing.T, c client.Client, id, runID string, et enumspb.EventType) {
	t.Helper()
	for {
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				break
			}
			if ev.GetEventType() == et {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %v in workflow %s: %v", et, id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestRestartResumesWorkflow stops the server while a workflow waits on a timer,
// starts a new server in the same process on the same data dir and port, and checks
// the workflow completes on the new one. This also proves a second server in one
// process works, despite the server's process-wide state.
func TestRestartResumesWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server twice; skipped with -short")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	first := startTestTemporal(t, dir, "127.0.0.1:0")
	if !first.Created() {
		t.Errorf("first start: Created() = false, want true")
	}
	address := first.Address()
	c, stopWorker := connect(t, address)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "sleeper", TaskQueue: testTaskQueue}, sleepWorkflow, 3*time.Second)
	if err != nil {
		t.Fatalf("starting workflow: %v", err)
	}
	waitForEvent(ctx, t, c, run.GetID(), run.GetRunID(), enumspb.EVENT_TYPE_TIMER_STARTED)
	stopWorker()
	stopTemporal(t, first)

	// Stop released the port and the data dir: the same address must be free again.
	restarted := time.Now()
	second := startTestTemporal(t, dir, address, "parry-extra")
	if second.Created() {
		t.Errorf("second start: Created() = true, want false (database reused)")
	}
	if second.Address() != address {
		t.Errorf("second start: Address() = %s, want %s", second.Address(), address)
	}
	c2, stopWorker2 := connect(t, second.Address())
	for _, ns := range []string{DefaultNamespace, "parry-extra"} {
		if _, err := c2.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
			t.Errorf("namespace %s not registered: %v", ns, err)
		}
	}
	var got string
	if err := c2.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, &got); err != nil {
		t.Fatalf("waiting for the workflow after the restart: %v", err)
	}
	if got != "woke" {
		t.Errorf("workflow result = %q, want %q", got, "woke")
	}
	desc, err := c2.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatalf("describing workflow: %v", err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if start := info.GetStartTime().AsTime(); !start.Before(restarted) {
		t.Errorf("workflow started at %v, want before the restart at %v", start, restarted)
	}
	if closed := info.GetCloseTime().AsTime(); !closed.After(restarted) {
		t.Errorf("workflow closed at %v, want after the restart at %v", closed, restarted)
	}

	// The UI answers on its port, serves its index page and reaches the server.
	ui, err := StartUI(ctx, UIOptions{Listen: "127.0.0.1:0", TemporalAddress: second.Address(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("StartUI: %v", err)
	}
	t.Cleanup(func() { _ = ui.Stop(context.Background()) })
	checkUI(ctx, t, ui.URL())
	if err := ui.Stop(ctx); err != nil {
		t.Errorf("UI Stop: %v", err)
	}
	if err := ui.Stop(ctx); err != nil {
		t.Errorf("second UI Stop: %v", err)
	}
	if _, err := http.Get(ui.URL() + "/healthz"); err == nil {
		t.Errorf("UI still answers after Stop")
	}

	stopWorker2()
	stopTemporal(t, second)
	if err := second.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v, want the first result again (nil)", err)
	}
	expectNoCallers(t, address)
}

// expectNoCallers serves gRPC on a stopped server's frontend address for a while and
// fails if anything calls it. The server never closes its own SDK clients, and the
// workers on them used to outlive Stop and poll whatever listened there next.
func expectNoCallers(t *testing.T, address string) {
	t.Helper()
	ln, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatalf("frontend address %s not released by Stop: %v", address, err)
	}
	var mu sync.Mutex
	var calls []string
	gs := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		m, _ := grpc.MethodFromServerStream(stream)
		mu.Lock()
		calls = append(calls, m)
		mu.Unlock()
		return status.Error(codes.Unavailable, "stopped")
	}))
	go func() { _ = gs.Serve(ln) }()
	time.Sleep(3 * time.Second)
	gs.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(calls) > 0 {
		t.Errorf("after both servers stopped, %d calls still reached %s: %v", len(calls), address, calls)
	}
}

func checkUI(ctx context.Context, t *testing.T, base string) {
	t.Helper()
	get := func(path string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: reading body: %v", path, err)
		}
		return resp.StatusCode, string(body)
	}
	if code, body := get("/"); code != http.StatusOK || !strings.Contains(body, "<html") || !strings.Contains(body, "_app/") {
		t.Errorf("GET / = %d, body %.200q; want 200 and the UI's index page", code, body)
	}
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, `"OK"`) {
		t.Errorf("GET /healthz = %d %q, want 200 OK", code, body)
	}
	// Goes through the UI's gRPC gateway to the embedded frontend.
	if code, body := get("/api/v1/namespaces"); code != http.StatusOK || !strings.Contains(body, `"default"`) {
		t.Errorf("GET /api/v1/namespaces = %d, body %.300q; want 200 listing \"default\"", code, body)
	}
}

// occupy listens on a free loopback port and returns its address.
func occupy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

func TestStartTemporalPortInUse(t *testing.T) {
	addr := occupy(t)
	dir := t.TempDir()
	_, err := StartTemporal(t.Context(), TemporalOptions{DataDir: dir, Listen: addr})
	want := addr + " is in use: stop the other process or pass --dev-temporal-listen"
	if err == nil || err.Error() != want {
		t.Fatalf("StartTemporal error = %v, want %q", err, want)
	}
	var pe *PortInUseError
	if !errors.As(err, &pe) || pe.Addr != addr {
		t.Errorf("error is not a *PortInUseError for %s: %#v", addr, err)
	}
	// The failed start released the data dir.
	lock, err := lockFileIn(dir)
	if err != nil {
		t.Fatalf("data dir still locked after a failed start: %v", err)
	}
	_ = unlockFile(lock)
}

func TestStartUIPortInUse(t *testing.T) {
	addr := occupy(t)
	_, err := StartUI(t.Context(), UIOptions{Listen: addr, TemporalAddress: "127.0.0.1:7233"})
	want := addr + " is in use: stop the other process or pass --dev-ui-listen"
	if err == nil || err.Error() != want {
		t.Fatalf("StartUI error = %v, want %q", err, want)
	}
}

func TestStartUIServesWithoutServer(t *testing.T) {
	// The UI dials lazily, so it starts (and shows its page) before Temporal is up.
	ui, err := StartUI(t.Context(), UIOptions{Listen: "localhost:0", TemporalAddress: occupy(t)})
	if err != nil {
		t.Fatalf("StartUI: %v", err)
	}
	if !strings.HasPrefix(ui.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %s, want http://127.0.0.1:<port>", ui.URL())
	}
	resp, err := http.Get(ui.URL() + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / = %d, want 200", resp.StatusCode)
	}
	if err := ui.Stop(t.Context()); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestStartOptionErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		opts TemporalOptions
		want string
	}{
		{"no data dir", TemporalOptions{}, "starting temporal: no data dir given"},
		{"bad listen", TemporalOptions{DataDir: dir, Listen: "7233"}, `invalid listen address "7233": want ip:port, e.g. 127.0.0.1:7233`},
		{"bad namespace", TemporalOptions{DataDir: dir, Namespaces: []string{"a b"}}, `invalid namespace "a b": use letters, digits, '-', '_' and '.', starting with a letter, digit or '_'`},
		{"system namespace", TemporalOptions{DataDir: dir, Namespaces: []string{"temporal-system"}}, `invalid namespace "temporal-system": reserved for the server itself`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := StartTemporal(t.Context(), tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		opts UIOptions
		want string
	}{
		{"no address", UIOptions{}, "starting the web UI: no Temporal address given"},
		{"bad address", UIOptions{TemporalAddress: "nowhere"}, `starting the web UI: invalid Temporal address "nowhere": want host:port`},
		{"bad listen", UIOptions{TemporalAddress: "127.0.0.1:7233", Listen: "127.0.0.1:http"}, `invalid listen address "127.0.0.1:http": port must be a number from 0 to 65535`},
	} {
		t.Run("ui "+tc.name, func(t *testing.T) {
			_, err := StartUI(t.Context(), tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// Example shows the order parry dev starts and stops things in.
func Example() {
	ctx := context.Background()
	tmp, err := StartTemporal(ctx, TemporalOptions{DataDir: "/tmp/parry-example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ui, err := StartUI(ctx, UIOptions{TemporalAddress: tmp.Address()})
	if err != nil {
		fmt.Println(err)
		_ = tmp.Stop(ctx)
		return
	}
	fmt.Println("temporal:", tmp.Address(), "ui:", ui.URL())
	_ = ui.Stop(ctx)
	_ = tmp.Stop(ctx)
}
