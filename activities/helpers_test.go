package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	broker "github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/internal/wire"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// Secret values of the tests: distinctive, so a grep for them finds every leak.
const (
	simToken    = "tok-9f8e7d6c5b4a-cecp"
	zipPassword = "zip-pw-1a2b3c4d5e"
	apiKey      = "key-0a1b2c3d4e5f-http"
	hookPath    = "/services/T000/B000/hooksecret1234567"
)

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harnessOpts struct {
	sim       *cecpsim.Options
	handler   http.Handler // a vendor stand-in instead of the simulator
	wrap      func(http.Handler) http.Handler
	batchSize int
	limiter   cecp.Limiter
	secrets   secret.Static
	config    func(*config.Config)
	deps      func(*Deps)
}

// harness runs activities on Temporal's activity test environment against the simulator (or a handler), a
// fresh database and a temporary artifact directory.
type harness struct {
	t     testing.TB
	sim   *cecpsim.Server
	url   string
	st    *store.Store
	arts  *artifact.Store
	acts  *Activities
	env   *testsuite.TestActivityEnvironment
	logs  *syncBuffer
	runID string
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, runID: "run-" + strings.ReplaceAll(t.Name(), "/", "-"), logs: &syncBuffer{}}
	handler := o.handler
	if handler == nil {
		so := cecpsim.Options{Seed: 7, Mailboxes: 6, MailsPerMailbox: 4, RateLimit: cecpsim.NoRateLimit, ActionDelay: -1}
		if o.sim != nil {
			so = *o.sim
		}
		so.Tokens = []string{simToken}
		sim, err := cecpsim.New(so)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		h.sim, handler = sim, sim
	}
	if o.wrap != nil {
		handler = o.wrap(handler)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	h.st = storetest.NewStore(t)
	h.arts = artifact.New(filepath.Join(t.TempDir(), "artifacts"), h.st)
	cfg := config.Config{}
	cfg.CECP.Connections = []config.CECPConnection{{Name: "sim", BaseURL: srv.URL, TokenSecret: "cecp-token",
		BatchSize: o.batchSize, BatchLinger: 20 * time.Millisecond, Timeout: 5 * time.Second}}
	if o.config != nil {
		o.config(&cfg)
	}
	secrets := secret.Static{"cecp-token": simToken, "quarantine-zip": zipPassword, "api-key": apiKey}
	for k, v := range o.secrets {
		secrets[k] = v
	}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	deps := Deps{Config: cfg, Secrets: secrets, Limiter: o.limiter, Store: h.st, Artifacts: h.arts, Logger: logger,
		PollInterval: 20 * time.Millisecond, MaxPollInterval: 100 * time.Millisecond,
		Mitigation: &broker.Service{Store: h.st, Logger: logger, PollInterval: 20 * time.Millisecond, MaxPollInterval: 100 * time.Millisecond,
			CheckInterval: 10 * time.Millisecond, MaxCheck: 50 * time.Millisecond, Backoff: 10 * time.Millisecond}}
	if o.deps != nil {
		o.deps(&deps)
	}
	acts, err := New(deps)
	if err != nil {
		t.Fatal(err)
	}
	h.acts = acts
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(logger))
	h.env = suite.NewTestActivityEnvironment()
	if err := acts.Register(h.env); err != nil {
		t.Fatal(err)
	}
	return h
}

// exec runs one action as step of the harness's run, checks a successful output against the spec and returns
// it decoded (numbers as float64, as expressions see them).
func (h *harness) exec(name, step string, with map[string]any, refs ...plan.SecretRef) (map[string]any, error) {
	h.t.Helper()
	val, err := h.env.ExecuteActivity(name, wire.ActionInput{Run: wire.RunInfo{ID: h.runID, Playbook: "test", SHA256: "00"}, Step: step,
		With: with, Secrets: refs})
	if err != nil {
		return nil, err
	}
	var res wire.ActionResult
	if err := val.Get(&res); err != nil {
		h.t.Fatalf("%s: decoding the result: %v", name, err)
	}
	if res.Attempt != 1 {
		h.t.Errorf("%s: attempt %d, want 1", name, res.Attempt)
	}
	var out map[string]any
	if err := json.Unmarshal(res.Output, &out); err != nil {
		h.t.Fatalf("%s: output %s is not a JSON object: %v", name, res.Output, err)
	}
	spec, _ := action.Default().Lookup(name)
	if problems := conform(spec.Output, out, "output"); len(problems) > 0 {
		h.t.Errorf("%s: the output does not match the spec:\n%s", name, strings.Join(problems, "\n"))
	}
	return out, nil
}

// mustExec is exec that fails the test on an error.
func (h *harness) mustExec(name, step string, with map[string]any, refs ...plan.SecretRef) map[string]any {
	h.t.Helper()
	out, err := h.exec(name, step, with, refs...)
	if err != nil {
		h.t.Fatalf("%s: %v", name, err)
	}
	return out
}

// audit returns the run's audit rows.
func (h *harness) audit() []store.AuditEvent {
	h.t.Helper()
	rows, err := h.st.ListAudit(context.Background(), store.AuditQuery{RunID: h.runID})
	if err != nil {
		h.t.Fatal(err)
	}
	return rows
}

// conform lists where v (decoded JSON) differs from the spec type t: a missing or extra field of a typed
// object, a value of another kind, a null.
func conform(t action.Type, v any, path string) []string {
	var out []string
	bad := func() { out = append(out, fmt.Sprintf("%s: want %s, got %T (%v)", path, t, v, v)) }
	switch t.Kind {
	case action.String:
		if _, ok := v.(string); !ok {
			bad()
		}
	case action.Int:
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			bad()
		}
	case action.Number:
		if _, ok := v.(float64); !ok {
			bad()
		}
	case action.Bool:
		if _, ok := v.(bool); !ok {
			bad()
		}
	case action.List:
		l, ok := v.([]any)
		if !ok {
			bad()
			break
		}
		if t.Elem != nil {
			for i, e := range l {
				out = append(out, conform(*t.Elem, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case action.Object:
		m, ok := v.(map[string]any)
		if !ok {
			bad()
			break
		}
		if len(t.Fields) == 0 {
			break
		}
		want := map[string]bool{}
		for _, f := range t.Fields {
			want[f.Name] = true
			fv, ok := m[f.Name]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, f.Name))
				continue
			}
			out = append(out, conform(f.Type, fv, path+"."+f.Name)...)
		}
		var extra []string
		for k := range m {
			if !want[k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		for _, k := range extra {
			out = append(out, fmt.Sprintf("%s.%s: not in the spec", path, k))
		}
	}
	return out
}

// appErr returns the application error inside err, failing the test when there is none.
func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an application error", err, err)
	}
	return ae
}

// wantErr checks an activity error's type, retryability and message.
func wantErr(t *testing.T, err error, typ, msg string) *temporal.ApplicationError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s: %s", typ, msg)
	}
	ae := appErr(t, err)
	retryable := typ == action.VendorRateLimited || typ == action.VendorUnavailable
	if ae.Type() != typ || ae.NonRetryable() == retryable || ae.Message() != msg {
		t.Fatalf("error = %s (non-retryable %v): %q\nwant    %s (non-retryable %v): %q", ae.Type(), ae.NonRetryable(),
			ae.Message(), typ, !retryable, msg)
	}
	return ae
}

// sweepItems reads the simulator's mails as a playbook would pass them on: sweep output objects.
func (h *harness) sweepItems(filter func(cecpsim.SweepMail) bool) []any {
	h.t.Helper()
	mails, err := h.sim.Mails("")
	if err != nil {
		h.t.Fatal(err)
	}
	var out []any
	for _, m := range mails {
		if filter == nil || filter(m) {
			b, _ := json.Marshal(m)
			var v map[string]any
			_ = json.Unmarshal(b, &v)
			out = append(out, v)
		}
	}
	return out
}
