package tracing_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/tracing"
	"github.com/parry-soar/parry/internal/wire"
	"github.com/parry-soar/parry/workflows"
)

func TestOffWithoutAnEndpoint(t *testing.T) {
	t.Parallel()
	tr, err := tracing.Setup(context.Background(), config.OTelConfig{}, "parry-test")
	if err != nil {
		t.Fatal(err)
	}
	if tr.On {
		t.Error("tracing is on without otel.endpoint")
	}
	if is, err := tr.Interceptors(); err != nil || len(is) != 0 {
		t.Errorf("interceptors without an endpoint: %v %v", is, err)
	}
	_, span := tr.Tracer("x").Start(context.Background(), "s")
	if span.SpanContext().IsValid() || span.IsRecording() {
		t.Error("a span is recorded with tracing off")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := tracing.Setup(context.Background(), config.OTelConfig{Endpoint: "127.0.0.1:4317", SampleRatio: 2}, "p"); err == nil {
		t.Error("a sample ratio of 2 was taken")
	}
	on, err := tracing.Setup(context.Background(), config.OTelConfig{Endpoint: "127.0.0.1:4317", Insecure: true}, "p")
	if err != nil || !on.On {
		t.Fatalf("with an endpoint: %+v %v", on, err)
	}
	_ = on.Shutdown(context.Background()) // nothing listens there: the flush gives up, it does not hang
}

// waitOnce is a quota whose first slot is taken at once and whose next frees after a short wait.
type waitOnce struct {
	mu    sync.Mutex
	takes int
}

func (w *waitOnce) Take(context.Context, string) (time.Duration, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.takes++
	if w.takes == 2 {
		return 20 * time.Millisecond, nil
	}
	return 0, nil
}

func (w *waitOnce) Block(context.Context, string, time.Time) error { return nil }

const tracedPB = `name: traced
steps:
  - id: hunt
    action: cecp.sweep
    with: { sender: a@evil.test, lastndays: 1 }
`

// TestOneTracePerRun: with tracing on, a run is one trace: the workflow span (Temporal's interceptor), the
// step's activity span under it, and under the step the vendor requests (internal/cecp) and the quota wait
// between them.
func TestOneTracePerRun(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := tracing.Tracing{Provider: tp, On: true}
	is, err := tr.Interceptors()
	if err != nil || len(is) != 1 {
		t.Fatalf("interceptors: %v %v", is, err)
	}
	sim, err := cecpsim.New(cecpsim.Options{Seed: 1, Mailboxes: 2, RateLimit: cecpsim.NoRateLimit})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer func() { sim.Close(); srv.Close() }()
	client, err := cecp.New(cecp.Options{BaseURL: srv.URL, Token: cecp.StaticToken(cecpsim.DefaultToken), Limiter: &waitOnce{},
		QuotaKey: "sim", Tracer: tr.Tracer("parry/cecp")})
	if err != nil {
		t.Fatal(err)
	}
	// The step reads twice, so the second read waits for the quota (a child span of its request).
	sweep := func(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
		ctx = cecp.WithQuotaWaiting(ctx, time.Second, nil)
		for range 2 {
			if _, err := client.SweepPages(cecp.SweepQuery{Sender: "a@evil.test", LastNDays: 1}).Next(ctx); err != nil {
				return wire.ActionResult{}, err
			}
		}
		return wire.ActionResult{Output: json.RawMessage(`{"mails":[],"count":0,"truncated":false}`), Attempt: int(activity.GetInfo(ctx).Attempt)}, nil
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{is[0].(interceptor.WorkerInterceptor)}})
	env.RegisterWorkflowWithOptions(workflows.New().Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
	env.RegisterActivityWithOptions(sweep, activity.RegisterOptions{Name: "cecp.sweep"})
	p, diags := playbook.Load("traced.yaml", []byte(tracedPB))
	if p == nil {
		t.Fatalf("playbook: %v", diags)
	}
	raw, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	env.ExecuteWorkflow(workflows.PlaybookWorkflow, workflows.Input{RunID: "traced-1", Plan: raw})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		if len(byName[name]) == 0 {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name())
			}
			t.Fatalf("no span %q among %v", name, names)
		}
		return byName[name][0]
	}
	wf := one("RunWorkflow:" + workflows.PlaybookWorkflow)
	act := one("RunActivity:cecp.sweep")
	reqs := byName["cecp GET /v1/sweeping/mails"]
	wait := one("quota wait")
	if len(reqs) != 2 {
		t.Fatalf("%d vendor request spans, want 2", len(reqs))
	}
	trace := wf.SpanContext().TraceID()
	for _, s := range append([]sdktrace.ReadOnlySpan{act, wait}, reqs...) {
		if s.SpanContext().TraceID() != trace {
			t.Errorf("span %s is in another trace", s.Name())
		}
	}
	// The activity hangs under the workflow (through StartActivity), the requests under the activity, and the
	// quota wait under the request that waited.
	parents := map[string]string{}
	for _, s := range spans {
		parents[s.SpanContext().SpanID().String()] = s.Parent().SpanID().String()
	}
	under := func(child, ancestor sdktrace.ReadOnlySpan) bool {
		for id := child.Parent().SpanID().String(); id != ""; id = parents[id] {
			if id == ancestor.SpanContext().SpanID().String() {
				return true
			}
			if _, ok := parents[id]; !ok {
				return false
			}
		}
		return false
	}
	if !under(act, wf) {
		t.Error("the step's span is not under the workflow's")
	}
	for _, r := range reqs {
		if r.Parent().SpanID() != act.SpanContext().SpanID() {
			t.Errorf("request span %s is not a child of the step", r.Name())
		}
	}
	if wait.Parent().SpanID() != reqs[1].SpanContext().SpanID() && wait.Parent().SpanID() != reqs[0].SpanContext().SpanID() {
		t.Error("the quota wait is not a child of a vendor request")
	}
	for _, r := range reqs {
		for _, a := range r.Attributes() {
			if v := a.Value.String(); a.Key == "url.path" && v != "/v1/sweeping/mails" {
				t.Errorf("url.path %q carries more than the path", v)
			}
		}
	}
}
