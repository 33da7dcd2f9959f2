// Package alerts_test runs the alert path end to end on a real, in-memory Temporal server
// (go.temporal.io/server/temporaltest) and a real PostgreSQL: intake, dispatch into incidents and runs, the
// CECP log poller against the simulator. Only this test package imports the Temporal server.
package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const taskQueue = "parry-e2e"

func quietLogger() tlog.Logger { return tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

// proxy forwards TCP to the Temporal frontend and can be cut and restored, so a client sees Temporal go away
// and come back while the server keeps its state.
type proxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// stop closes the listener and every connection through it: the frontend is unreachable.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// start listens again on the same address.
func (p *proxy) start(t testing.TB) {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

type env struct {
	ts     *temporaltest.TestServer
	proxy  *proxy
	tc     client.Client // through the proxy
	direct client.Client
	st     *store.Store
}

// fakeAction answers every action activity with an empty output.
func fakeAction(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	return wire.ActionResult{Output: json.RawMessage("{}"), Attempt: int(activity.GetInfo(ctx).Attempt)}, nil
}

func registerPlaybook(r worker.Registry) {
	r.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
	r.RegisterWorkflowWithOptions(workflows.CECPPoller, workflow.RegisterOptions{Name: workflows.PollerWorkflow})
	for _, name := range action.Default().Names() {
		r.RegisterActivityWithOptions(fakeAction, activity.RegisterOptions{Name: name})
	}
}

func newEnv(t testing.TB, withWorker bool) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	opts := []temporaltest.TestServerOption{temporaltest.WithBaseClientOptions(client.Options{Logger: quietLogger()})}
	if tt, ok := t.(*testing.T); ok {
		opts = append(opts, temporaltest.WithT(tt))
	}
	ts := temporaltest.NewServer(opts...)
	if _, ok := t.(*testing.T); !ok {
		t.Cleanup(ts.Stop)
	}
	e := &env{ts: ts, st: storetest.NewStore(t), direct: ts.GetDefaultClient()}
	e.proxy = newProxy(t, ts.GetFrontendHostPort())
	tc, err := client.Dial(client.Options{HostPort: e.proxy.addr, Namespace: ts.GetDefaultNamespace(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	e.tc = tc
	if withWorker {
		ts.NewWorkerWithOptions(taskQueue, registerPlaybook, worker.Options{MaxConcurrentWorkflowTaskPollers: 4})
	}
	return e
}

func (e *env) dispatcher() *dispatch.Dispatcher {
	return e.dispatcherOn(e.tc)
}

// dispatcherOn is a dispatcher whose runs start on tc.
func (e *env) dispatcherOn(tc client.Client) *dispatch.Dispatcher {
	starter := &runs.Starter{Store: e.st, Temporal: tc, TaskQueue: taskQueue}
	return &dispatch.Dispatcher{
		Inbox: dispatch.StoreInbox{Store: e.st}, Runs: starter, BatchSize: 100,
		Outbox:        &runs.Outbox{Store: e.st, Starter: starter, Temporal: tc, CallTimeout: 3 * time.Second},
		SweepInterval: 200 * time.Millisecond, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
	}
}

func (e *env) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.st.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// workflowsOfType lists the workflow ids of a type in the test namespace.
func (e *env) workflowsOfType(t testing.TB, typ string) []string {
	t.Helper()
	var ids []string
	var token []byte
	for {
		resp, err := e.direct.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.ts.GetDefaultNamespace(), Query: fmt.Sprintf("WorkflowType = '%s'", typ), NextPageToken: token, PageSize: 1000,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.Executions {
			ids = append(ids, ex.Execution.WorkflowId)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return ids
		}
	}
}

// deliveredAlerts reads a run's history: the alert ids in its start input and in its alert signals.
func (e *env) deliveredAlerts(t testing.TB, workflowID string) (input []int64, signalled []int64, in workflows.Input) {
	t.Helper()
	it := e.direct.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	dc := converter.GetDefaultDataConverter()
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
				t.Fatal(err)
			}
			for _, al := range in.Incident.Alerts {
				input = append(input, int64(al["id"].(float64)))
			}
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.SignalName == workflows.SignalAlert {
			var al map[string]any
			if err := dc.FromPayloads(a.GetInput(), &al); err != nil {
				t.Fatal(err)
			}
			signalled = append(signalled, int64(al["id"].(float64)))
		}
	}
	return input, signalled, in
}
