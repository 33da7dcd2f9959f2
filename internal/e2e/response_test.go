package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	pworker "github.com/parry-soar/parry/internal/worker"
	"github.com/parry-soar/parry/workflows"
)

// syncBuffer collects logs from several goroutines.
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

// realStack is parry with its real activities against the CECP simulator.
type realStack struct {
	*stack
	sim        *cecpsim.Server
	simURL     string
	secretsDir string
	cfg        config.Config
	logs       *syncBuffer
	logger     *slog.Logger
	wopts      pworker.Options
	// conv encrypt every payload the stack writes to Temporal, as parry server and worker do by default.
	conv payloadcrypt.Converters
}

const simToken = "sim-secret-token-7f3a"

func newRealStack(t testing.TB, simOpts cecpsim.Options) *realStack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs PostgreSQL and an embedded Temporal server")
	}
	if simOpts.Seed == 0 {
		simOpts.Seed = 1
	}
	simOpts.Tokens = []string{simToken}
	if simOpts.ActionDelay == 0 {
		simOpts.ActionDelay = 300 * time.Millisecond
	}
	sim, err := cecpsim.New(simOpts)
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(func() { simSrv.Close(); sim.Close() })

	rs := &realStack{sim: sim, simURL: simSrv.URL, secretsDir: t.TempDir(), logs: &syncBuffer{}}
	os.WriteFile(filepath.Join(rs.secretsDir, "sim-token"), []byte(simToken+"\n"), 0o600)
	os.WriteFile(filepath.Join(rs.secretsDir, "quarantine-zip"), []byte("zip-Pa55word-9c2e\n"), 0o600)
	rs.cfg = config.Default(t.TempDir())
	rs.cfg.DataDir = t.TempDir()
	rs.cfg.Secrets.Dir = rs.secretsDir
	rs.cfg.CECP = config.CECPConfig{DefaultConnection: "sim", Connections: []config.CECPConnection{
		{Name: "sim", BaseURL: simSrv.URL, TokenSecret: "sim-token", BatchSize: 10, RateLimit: "20/1m"},
		{Name: "other", BaseURL: simSrv.URL, TokenSecret: "other-token", BatchSize: 10, RateLimit: "20/1m"},
	}}
	logger := slog.New(slog.NewTextHandler(rs.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	ring, err := payloadcrypt.ParseKeyring(payloadcrypt.NewKeyText("e2e"))
	if err != nil {
		t.Fatal(err)
	}
	rs.conv = payloadcrypt.New(ring)
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{Logger: quiet,
		DataConverter: rs.conv.Data, FailureConverter: rs.conv.Failure}))
	t.Cleanup(ts.Stop)
	s := &stack{t: t, ts: ts, tc: ts.GetDefaultClient(), st: storetest.NewStore(t), queue: "parry-real"}
	starter := &runs.Starter{Store: s.st, Temporal: s.tc, TaskQueue: s.queue, Limits: workflows.Limits{HeartbeatTimeout: workflows.Duration(3 * time.Second)}}
	s.svc = &runs.Service{Store: s.st, Temporal: s.tc, Starter: starter, Outbox: &runs.Outbox{Store: s.st, Starter: starter, Temporal: s.tc},
		Converters: rs.conv}
	s.tracker = &runs.Tracker{Store: s.st, Temporal: s.tc, Logger: logger, Interval: 100 * time.Millisecond, Namespace: ts.GetDefaultNamespace(),
		Converters: rs.conv}
	// The dispatcher carries out the outbox (runs recorded while Temporal was unreachable start from it).
	disp := &dispatch.Dispatcher{Inbox: dispatch.StoreInbox{Store: s.st}, Runs: starter, Outbox: s.svc.Outbox,
		SweepInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); s.tracker.Run(ctx) }()
	go func() { defer func() { done <- struct{}{} }(); disp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	s.api = httptest.NewServer((&api.Server{Store: s.st, Runs: s.svc, Logger: logger}).Handler())
	t.Cleanup(s.api.Close)
	tok, _, err := s.st.CreateToken(context.Background(), "alice", store.RoleAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	s.token = tok
	rs.stack = s

	rs.logger = logger
	rs.configureWorker(t)
	return rs
}

// configureWorker builds the worker's options from rs.cfg (call it again after changing the configuration).
func (rs *realStack) configureWorker(t testing.TB) {
	var err error
	rs.wopts, err = pworker.FromConfig(rs.cfg, rs.st, secret.Chain{secret.Dir{Path: rs.secretsDir}}, rs.logger)
	if err != nil {
		t.Fatal(err)
	}
	rs.wopts.TaskQueue = rs.queue
	rs.wopts.Activities.PollInterval = 200 * time.Millisecond
	rs.wopts.Activities.MaxPollInterval = time.Second
}

// startWorker runs a worker until the returned stop is called.
func (rs *realStack) startWorker(t testing.TB) (stop func()) {
	t.Helper()
	w, err := pworker.New(rs.tc, rs.wopts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (rs *realStack) campaign(t testing.TB, kind string) cecpsim.Campaign {
	t.Helper()
	for _, c := range rs.sim.Tenants()[0].Campaigns {
		if c.Kind == kind {
			return c
		}
	}
	t.Fatalf("no %s campaign", kind)
	return cecpsim.Campaign{}
}

// campaignMails returns the unique ids of the campaign's mails and the state of every mail.
func (rs *realStack) campaignMails(t testing.TB, c cecpsim.Campaign) (map[string]bool, map[string]string) {
	t.Helper()
	mails, err := rs.sim.Mails("")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range mails {
		if m.MailMessageSender == c.Sender && m.MailMessageSubject == c.Subject {
			ids[m.MailUniqueID] = true
		}
	}
	st, err := rs.sim.State("")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, m := range st.Mails {
		states[m.MailUniqueID] = m.State
	}
	return ids, states
}

// checkContained asserts that exactly the campaign's mails are quarantined, nothing else changed, the sender is
// blocked, and no mail was mitigated twice.
func (rs *realStack) checkContained(t *testing.T, c cecpsim.Campaign, before map[string]string) {
	t.Helper()
	ids, after := rs.campaignMails(t, c)
	if len(ids) != c.Mails {
		t.Fatalf("campaign has %d mails in the simulator, want %d", len(ids), c.Mails)
	}
	for id, st := range after {
		switch {
		case ids[id] && st != "quarantined":
			t.Errorf("campaign mail %s is %s", id, st)
		case !ids[id] && st != before[id]:
			t.Errorf("mail %s outside the campaign changed from %s to %s", id, before[id], st)
		}
	}
	st, _ := rs.sim.State("")
	found := false
	for _, s := range st.Blocklist.Senders {
		found = found || s == c.Sender
	}
	if !found {
		t.Errorf("sender %s not blocked: %v", c.Sender, st.Blocklist.Senders)
	}
	seen := map[string]int{}
	for _, a := range rs.sim.Applied() {
		if a.ActionType == "MAIL_QUARANTINE" {
			seen[a.MailUniqueID]++
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("mail %s was quarantined %d times", id, n)
		}
	}
}

func (rs *realStack) runPhishing(t *testing.T, c cecpsim.Campaign, extra ...string) (runJSONResult, string, int) {
	t.Helper()
	args := append([]string{"run", "start", "../../playbooks/phishing-containment.yaml", "--with", "sender=" + c.Sender, "--with", "subject=" + c.Subject, "--wait", "--json"}, extra...)
	out, errOut, code := rs.parry(args...)
	var res runJSONResult
	_ = json.Unmarshal([]byte(out), &res)
	return res, errOut, code
}

type runJSONResult struct {
	RunID  string         `json:"run_id"`
	Status string         `json:"status"`
	Output map[string]any `json:"output"`
	Error  string         `json:"error"`
	Steps  []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
		Error    string `json:"error"`
	} `json:"steps"`
}

func TestPhishingContainmentAgainstTheSimulator(t *testing.T) {
	rs := newRealStack(t, cecpsim.Options{})
	rs.startWorker(t)
	c := rs.campaign(t, "phishing")
	_, before := rs.campaignMails(t, c)
	res, errOut, code := rs.runPhishing(t, c)
	if code != 0 || res.Status != "succeeded" {
		t.Fatalf("run: %d %+v\n%s\nlogs:\n%s", code, res, errOut, rs.logs.String())
	}
	rs.checkEncrypted(t, res.RunID, c)
	if fmt.Sprint(res.Output["mails_found"]) != fmt.Sprint(c.Mails) || fmt.Sprint(res.Output["quarantined"]) != fmt.Sprint(c.Mails-c.Quarantined) {
		t.Fatalf("output %v for a campaign of %d mails, %d already quarantined", res.Output, c.Mails, c.Quarantined)
	}
	rs.checkContained(t, c, before)
	// One sample of the campaign is stored, linked to the run and the step.
	var n int
	var size int64
	if err := rs.st.Pool.QueryRow(context.Background(), "SELECT count(*), coalesce(max(size), 0) FROM artifacts WHERE run_id = $1 AND step_id = 'sample'", res.RunID).Scan(&n, &size); err != nil || n != 1 || size == 0 {
		t.Fatalf("artifacts: %d (%d bytes) %v", n, size, err)
	}
	// The mutations are in the audit trail.
	evs, _ := rs.st.ListAudit(context.Background(), store.AuditQuery{RunID: res.RunID})
	ops := map[string]bool{}
	for _, e := range evs {
		ops[e.Action+"/"+e.Outcome] = true
	}
	if !ops["cecp.mitigate_mails/accepted"] || !ops["cecp.block/accepted"] {
		t.Fatalf("audit %v", ops)
	}
}

func TestPhishingContainmentThroughVendorFaults(t *testing.T) {
	rs := newRealStack(t, cecpsim.Options{TimeScale: 30, RetryAfter: true})
	rs.startWorker(t)
	c := rs.campaign(t, "phishing")
	_, before := rs.campaignMails(t, c)
	if err := rs.sim.SetFaults(cecpsim.Faults{Error500: 0.1, Error503: 0.1, Latency: cecpsim.Duration(20 * time.Millisecond),
		DropAfterPost: 0.3, Storm429: cecpsim.Duration(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, errOut, code := rs.runPhishing(t, c)
	if code != 0 || res.Status != "succeeded" {
		t.Fatalf("run: %d %+v\n%s\nlogs:\n%s", code, res, errOut, rs.logs.String())
	}
	rs.checkContained(t, c, before)
	reqs := rs.sim.Requests()
	t.Logf("completed through faults in %s; simulator saw %v", time.Since(start).Round(time.Millisecond), reqs)
	if !strings.Contains(rs.logs.String(), "VendorRateLimited") && !strings.Contains(rs.logs.String(), "VendorUnavailable") {
		t.Fatal("no fault reached the activities: the test proves nothing")
	}
}

func TestAWorkerStoppedMidRunIsReplacedByAnother(t *testing.T) {
	rs := newRealStack(t, cecpsim.Options{ActionDelay: 6 * time.Second})
	stop := rs.startWorker(t)
	c := rs.campaign(t, "phishing")
	_, before := rs.campaignMails(t, c)
	type result struct {
		res     runJSONResult
		errOut  string
		code    int
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		r, e, code := rs.runPhishing(t, c)
		done <- result{r, e, code, time.Since(start)}
	}()
	// Stop the worker while the quarantine waits for the vendor to finish the batch.
	deadline := time.Now().Add(60 * time.Second)
	for rs.sim.Requests()["POST /v1/mitigation/mails"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the mitigation was never posted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	time.Sleep(time.Second)
	rs.startWorker(t)
	r := <-done
	if r.code != 0 || r.res.Status != "succeeded" {
		t.Fatalf("run: %d %+v\n%s\nlogs:\n%s", r.code, r.res, r.errOut, rs.logs.String())
	}
	rs.checkContained(t, c, before)
	if n := rs.sim.Requests()["POST /v1/mitigation/mails"]; n != 1 {
		t.Fatalf("the mitigation was posted %d times", n)
	}
}

// A five-step playbook whose third step uses a connection with a wrong token.
const fiveVendorSteps = `name: five-vendor-steps
inputs:
  sender: { type: string, required: true }
steps:
  - id: s1
    action: cecp.sweep
    with: { sender: "${{ inputs.sender }}", lastndays: 7 }
  - id: s2
    action: cecp.block
    with: { senders: ["${{ inputs.sender }}"] }
  - id: s3
    action: cecp.mitigate_mails
    with: { connection: other, action: quarantine, mails: "${{ steps.s1.output.mails }}", wait: true }
  - id: s4
    action: cecp.mitigation_results
    with: { connection: other, batch_id: "${{ steps.s3.output.batch_ids[0] }}" }
  - id: s5
    action: cecp.security_events
    with: { connection: other, service: exchange, event: securityrisk }
output:
  quarantined: ${{ steps.s3.output.succeeded }}
`

func TestVendorAuthFailsFastThenRetryFromTheFailedStep(t *testing.T) {
	rs := newRealStack(t, cecpsim.Options{})
	rs.startWorker(t)
	os.WriteFile(filepath.Join(rs.secretsDir, "other-token"), []byte("expired-token\n"), 0o600)
	c := rs.campaign(t, "phishing")
	_, before := rs.campaignMails(t, c)
	file := writeFile(t, "five.yaml", fiveVendorSteps)
	start := time.Now()
	out, errOut, code := rs.parry("run", "start", file, "--with", "sender="+c.Sender, "--wait", "--json")
	var res runJSONResult
	json.Unmarshal([]byte(out), &res)
	if code != 1 || res.Status != "failed" || !strings.Contains(res.Error, "step s3 failed: VendorAuth:") || !strings.Contains(res.Error, "HTTP 401") {
		t.Fatalf("run: %d %+v\n%s", code, res, errOut)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("a VendorAuth failure took %s: it must not be retried", took)
	}
	for _, s := range res.Steps {
		if s.ID == "s3" && s.Attempts != 1 {
			t.Fatalf("s3 was attempted %d times", s.Attempts)
		}
	}
	requestsBefore := rs.sim.Requests()

	// The connection is fixed; the retry runs s3 to s5 only.
	os.WriteFile(filepath.Join(rs.secretsDir, "other-token"), []byte(simToken+"\n"), 0o600)
	out, errOut, code = rs.parry("run", "retry", res.RunID, "--from", "s3", "--wait", "--json")
	var retry runJSONResult
	json.Unmarshal([]byte(out), &retry)
	if code != 0 || retry.Status != "succeeded" {
		t.Fatalf("retry: %d %s\n%s", code, out, errOut)
	}
	after := rs.sim.Requests()
	for _, ep := range []string{"GET /v1/sweeping/mails", "GET /v1/remediation/mails", "POST /v1/remediation/mails"} {
		if after[ep] != requestsBefore[ep] {
			t.Errorf("%s: %d requests before the retry, %d after: steps 1 and 2 called the vendor again", ep, requestsBefore[ep], after[ep])
		}
	}
	if after["POST /v1/mitigation/mails"] != requestsBefore["POST /v1/mitigation/mails"]+1 || after["GET /v1/siem/security_events"] <= requestsBefore["GET /v1/siem/security_events"] {
		t.Errorf("steps 3 and 5 did not run: before %v after %v", requestsBefore, after)
	}
	ids, states := rs.campaignMails(t, c)
	for id := range ids {
		if states[id] != "quarantined" {
			t.Errorf("campaign mail %s is %s after the retry (was %s)", id, states[id], before[id])
		}
	}
}

// TestSecretsNeverLeave runs playbooks that use every kind of secret (a vendor token, a ZIP password, a
// webhook URL, an HTTP bearer token) and scans everything that leaves a run for their values: the exported
// history, the run record and timeline through the API, the audit trail and every log line.
func TestSecretsNeverLeave(t *testing.T) {
	hookHits := 0
	var hookMu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hookMu.Lock()
		hookHits++
		hookMu.Unlock()
		w.Write([]byte(`{"ok":true,"echo":"` + r.Header.Get("Authorization") + `"}`))
	}))
	defer hook.Close()
	rs := newRealStack(t, cecpsim.Options{})
	webhookURL := hook.URL + "/hooks/T000/B000/xoxb-webhook-credential-5e1d"
	os.WriteFile(filepath.Join(rs.secretsDir, "soc-chat-url"), []byte(webhookURL), 0o600)
	os.WriteFile(filepath.Join(rs.secretsDir, "intel-token"), []byte("Bearer intel-api-key-b7d0"), 0o600)
	rs.wopts.Activities.Config.Notify.Webhooks = []config.NotifyWebhook{{Name: "soc-chat", URLSecret: "soc-chat-url"}}
	rs.wopts.Activities.Config.HTTP.AllowedHosts = []string{"127.0.0.1"}
	rs.startWorker(t)
	c := rs.campaign(t, "phishing")
	src := `name: uses-secrets
inputs:
  sender: { type: string, required: true }
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: "${{ inputs.sender }}", lastndays: 7 }
  - id: quarantine
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.sweep.output.mails }}", wait: true }
  - id: sample
    action: cecp.quarantine_download
    with: { mail: "${{ steps.sweep.output.mails[0] }}", password: secret("quarantine-zip") }
  - id: enrich
    action: http.request
    with: { method: GET, url: "` + hook.URL + `/intel", headers: { Authorization: secret("intel-token") } }
  - id: tell
    action: notify.webhook
    with: { connection: soc-chat, text: "sample ${{ steps.sample.output.sha256 }}" }
`
	file := writeFile(t, "secrets.yaml", src)
	out, errOut, code := rs.parry("run", "start", file, "--with", "sender="+c.Sender, "--wait", "--json")
	var res runJSONResult
	json.Unmarshal([]byte(out), &res)
	if code != 0 {
		t.Fatalf("run: %d %s\n%s\n%s", code, out, errOut, rs.logs.String())
	}
	if hookHits != 2 {
		t.Fatalf("the webhook server saw %d requests, want 2 (http.request and notify.webhook)", hookHits)
	}
	var everything strings.Builder
	everything.WriteString(out + errOut)
	for _, args := range [][]string{{"run", "show", res.RunID, "--json", "--full"}, {"run", "export", res.RunID, "-o", "-"}, {"run", "list", "--json"}} {
		o, e, code := rs.parry(args...)
		if code != 0 {
			t.Fatalf("%v: %s", args, e)
		}
		everything.WriteString(o + e)
	}
	evs, _ := rs.st.ListAudit(context.Background(), store.AuditQuery{})
	b, _ := json.Marshal(evs)
	everything.Write(b)
	everything.WriteString(rs.logs.String())
	text := everything.String()
	if !strings.Contains(text, `"history"`) || !strings.Contains(text, "quarantine-zip") {
		t.Fatal("the scan did not see the export or the secret references")
	}
	for name, value := range map[string]string{"vendor token": simToken, "ZIP password": "zip-Pa55word-9c2e",
		"webhook URL credential": "xoxb-webhook-credential-5e1d", "HTTP bearer token": "intel-api-key-b7d0"} {
		if strings.Contains(text, value) {
			i := strings.Index(text, value)
			t.Errorf("the %s appears in what left the run: …%s…", name, text[max(0, i-200):min(len(text), i+100)])
		}
	}
}

// checkEncrypted: the run's history, fetched straight from Temporal without parry's key, holds none of the
// campaign's strings (sender, subject, mailboxes); parry's own views and export show them decrypted, and the
// export replays.
func (rs *realStack) checkEncrypted(t *testing.T, runID string, c cecpsim.Campaign, also ...string) {
	t.Helper()
	raw := rs.ts.NewClientWithOptions(client.Options{Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	defer raw.Close()
	it := raw.GetWorkflowHistory(context.Background(), runID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var hist strings.Builder
	events := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		// The text form writes payload bytes as (escaped) text, so a string in the clear shows as itself.
		hist.WriteString(prototext.Format(ev))
		events++
	}
	boxes, _ := rs.campaignMails(t, c)
	secrets := append([]string{c.Sender, c.Subject}, also...)
	for box := range boxes {
		secrets = append(secrets, box)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(hist.String(), s) {
			t.Fatalf("the history in Temporal holds %q in the clear", s)
		}
	}
	if events < 10 || !strings.Contains(hist.String(), "binary/encrypted") {
		t.Fatalf("the history (%d events) does not look encrypted", events)
	}
	out, errOut, code := rs.parry("run", "export", runID, "-o", "-")
	if code != 0 || !strings.Contains(out, c.Sender) || !strings.Contains(out, `"decrypted": true`) {
		t.Fatalf("export: %d %s\n%.400s", code, errOut, out)
	}
	file := writeFile(t, "export.json", out)
	if _, errOut, code := rs.parry("run", "replay", "--file", file); code != 0 {
		t.Fatalf("replay of the decrypted export: %d %s", code, errOut)
	}
}

// TestAlertStartedRunIsEncrypted: a run an alert started holds the alert (title, data) in its workflow input and
// signals; in Temporal they are ciphertext like every other payload.
func TestAlertStartedRunIsEncrypted(t *testing.T) {
	rs := newRealStack(t, cecpsim.Options{})
	rs.startWorker(t)
	c := rs.campaign(t, "phishing")
	ctx := context.Background()
	src, err := os.ReadFile("../../playbooks/phishing-containment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Push(ctx, rs.st, nil, []registry.File{{Name: "phishing-containment.yaml", Source: string(src)}}, "test", true); err != nil {
		t.Fatal(err)
	}
	const marker = "alert-data-marker-5b2f"
	body, _ := json.Marshal(map[string]any{"source": "cecp", "kind": "securityrisk", "severity": "high", "title": "Phish to finance " + marker,
		"data": map[string]any{"mail_message_sender": c.Sender, "mail_message_subject": c.Subject, "reported_by": "reporter-" + marker}})
	resp, err := apiclient.New(rs.api.URL, rs.token).SendAlerts(ctx, body)
	if err != nil || len(resp.Alerts) != 1 {
		t.Fatalf("sending the alert: %+v %v", resp, err)
	}
	r := rs.waitRun(dispatch.RunID("phishing-containment", resp.Alerts[0].ID), store.RunSucceeded, store.RunFailed)
	if r.Status != store.RunSucceeded {
		t.Fatalf("the alert's run %s: %s %q\n%s", r.ID, r.Status, r.Error, rs.logs.String())
	}
	rs.checkEncrypted(t, r.ID, c, marker)
}

// TestCLIMitigationGoesThroughTheBroker: `parry cecp mitigate-mails` is a one-step run on the server: the mails
// are quarantined once each, through the connection's broker, and the audit trail names the run.
func TestCLIMitigationGoesThroughTheBroker(t *testing.T) {
	rs := newRealStack(t, cecpsim.Options{})
	rs.startWorker(t)
	c := rs.campaign(t, "phishing")
	ids, before := rs.campaignMails(t, c)
	all, err := rs.sim.Mails("")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range all {
		if ids[m.MailUniqueID] && before[m.MailUniqueID] != "quarantined" {
			b, _ := json.Marshal(map[string]string{"mailbox": m.Mailbox, "mail_unique_id": m.MailUniqueID, "mail_message_id": m.MailMessageID})
			lines = append(lines, string(b))
		}
	}
	file := writeFile(t, "mails.ndjson", strings.Join(lines, "\n"))
	out, errOut, code := rs.parry("cecp", "mitigate-mails", "--connection", "sim", "--action", "quarantine", "--from", file, "--wait", "--json")
	var res runJSONResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Status != "succeeded" {
		t.Fatalf("mitigate-mails: %d %s\n%s\n%s", code, out, errOut, rs.logs.String())
	}
	applied := map[string]int{}
	for _, a := range rs.sim.Applied() {
		applied[a.MailUniqueID]++
	}
	for _, l := range lines {
		var m map[string]string
		json.Unmarshal([]byte(l), &m)
		if applied[m["mail_unique_id"]] != 1 {
			t.Errorf("mail %s applied %d times", m["mail_unique_id"], applied[m["mail_unique_id"]])
		}
	}
	evs, _ := rs.st.ListAudit(context.Background(), store.AuditQuery{RunID: res.RunID})
	accepted := 0
	for _, e := range evs {
		if e.Action == "cecp.mitigate_mails" && e.Outcome == "accepted" && e.Actor == "run:"+res.RunID {
			accepted += e.Targets
		}
	}
	if accepted != len(lines) {
		t.Errorf("the audit trail of run %s accounts for %d of the %d mails: %+v", res.RunID, accepted, len(lines), evs)
	}
}
