package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/sources"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// downTemporal is a Temporal client whose server is unreachable: every call the run service makes answers
// Unavailable, so runs stay pending. A call it does not expect panics (the embedded interface is nil), which
// a test notices.
type downTemporal struct{ client.Client }

func (downTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("connection refused")
}

func (downTemporal) CancelWorkflow(context.Context, string, string) error {
	return serviceerror.NewUnavailable("connection refused")
}

func (downTemporal) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, serviceerror.NewUnavailable("connection refused")
}

// emptyTemporal is a reachable Temporal that has none of the workflows asked about (runs still stay pending:
// starting one answers Unavailable, which parry treats as "start it later").
type emptyTemporal struct{ downTemporal }

func (emptyTemporal) CancelWorkflow(context.Context, string, string) error {
	return serviceerror.NewNotFound("workflow not found")
}

func (emptyTemporal) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, serviceerror.NewNotFound("workflow not found")
}

// syncBuffer is a log sink the server writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // a fuzzing run logs millions of lines: keep the recent ones
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fullFixture serves every route (runs, registry, incidents) on a real store, with Temporal down.
type fullFixture struct {
	*fixture
	handler http.Handler
	logs    *syncBuffer
}

func newFullFixture(t testing.TB) *fullFixture { return newFullFixtureWith(t, downTemporal{}) }

func newFullFixtureWith(t testing.TB, temporal client.Client) *fullFixture {
	t.Helper()
	st := storetest.NewStore(t)
	f := &fullFixture{fixture: &fixture{store: st, tokens: map[store.Role]string{}}, logs: &syncBuffer{}}
	for _, role := range store.Roles() {
		plain, _, err := st.CreateToken(context.Background(), string(role)+"-token", role, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[role] = plain
	}
	svc := &runs.Service{Store: st, Temporal: temporal, Starter: &runs.Starter{Store: st, Temporal: temporal, TaskQueue: "q"}}
	s := &api.Server{Store: st, Runs: svc, MaxBodyBytes: 1 << 20, Connections: []string{"prod"},
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)),
		Extra:  append(api.PlaybookRoutes(st, nil), api.IncidentRoutes(st)...)}
	cfg, diags := sources.Parse("parry.yaml", []byte(configSources), true)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	srcRoutes, err := s.SourceRoutes(api.SourceOptions{Secrets: sourceSecrets, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	s.Extra = append(s.Extra, srcRoutes...)
	f.handler = s.Handler()
	f.srv = httptest.NewServer(f.handler)
	t.Cleanup(f.srv.Close)
	return f
}
