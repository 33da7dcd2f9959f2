// Package console_test drives the web console in a headless Chromium against parry-dev-like wiring: an
// embedded Temporal server, a real PostgreSQL, the API with the console, the dispatcher, the run tracker and a
// worker (fakes, or parry's real one against the CECP simulator); payloads are encrypted in history as parry dev
// does. With PARRY_SCREENSHOTS=DIR the tests also save screenshots of the main pages there (make screenshots
// writes docs/console/).
package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/cli"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/console"
	"github.com/parry-soar/parry/internal/dispatch"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/internal/wire"
	pworker "github.com/parry-soar/parry/internal/worker"
	"github.com/parry-soar/parry/workflows"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// env is parry as parry dev wires it, minus the simulator: the worker's actions are answered by fakes.
type env struct {
	t     *testing.T
	st    *store.Store
	api   *httptest.Server
	admin *apiclient.Client
	mu    sync.Mutex
	fail  map[string]int // step id → how many more calls fail
	calls map[string]int
	codec converter.PayloadCodec
	sim   *cecpsim.Server // newSimEnv's simulator
}

func (e *env) handle(ctx context.Context, in wire.ActionInput) (wire.ActionResult, error) {
	step := in.Step[strings.LastIndexByte(in.Step, '.')+1:]
	step = strings.SplitN(step, "#", 2)[0]
	e.mu.Lock()
	e.calls[step]++
	failing := e.fail[step] > 0
	if failing {
		e.fail[step]--
	}
	e.mu.Unlock()
	if failing {
		return wire.ActionResult{}, temporal.NewNonRetryableApplicationError("the vendor refused "+step, "VendorRejected", nil)
	}
	return wire.ActionResult{Output: json.RawMessage(`{"ok": true}`), Attempt: int(activity.GetInfo(ctx).Attempt)}, nil
}

func (e *env) failNext(step string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail[step] = n
}

func newEnv(t *testing.T) *env { return newEnvWith(t, false) }

// newSimEnv is newEnv with parry's real worker (every action's activity) against a CECP simulator with the
// vendor's quota, as parry dev runs it; e.sim is the simulator.
func newSimEnv(t *testing.T) *env { return newEnvWith(t, true) }

func newEnvWith(t *testing.T, simulated bool) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and an embedded Temporal server")
	}
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	ring, err := payloadcrypt.ParseKeyring(payloadcrypt.NewKeyText("console-test"))
	if err != nil {
		t.Fatal(err)
	}
	conv := payloadcrypt.New(ring)
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{Logger: quiet,
		DataConverter: conv.Data, FailureConverter: conv.Failure}))
	tc := ts.GetDefaultClient()
	e := &env{t: t, st: storetest.NewStore(t), fail: map[string]int{}, calls: map[string]int{}, codec: conv.Codec}
	const queue = "parry-console"
	starter := &runs.Starter{Store: e.st, Temporal: tc, TaskQueue: queue}
	svc := &runs.Service{Store: e.st, Temporal: tc, Starter: starter, Outbox: &runs.Outbox{Store: e.st, Starter: starter, Temporal: tc}, Converters: conv}
	tracker := &runs.Tracker{Store: e.st, Temporal: tc, Logger: slog.New(slog.DiscardHandler), Interval: 100 * time.Millisecond, Namespace: ts.GetDefaultNamespace(), Converters: conv}
	disp := &dispatch.Dispatcher{Inbox: dispatch.StoreInbox{Store: e.st}, Runs: starter, Outbox: svc.Outbox,
		SweepInterval: 100 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = tracker.Run(ctx) }()
	go func() { defer wg.Done(); _ = disp.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	srv := &api.Server{Store: e.st, Runs: svc, Console: console.Handler(), Artifacts: artifact.New(t.TempDir(), e.st), Codec: conv.Codec,
		Extra: append(api.PlaybookRoutes(e.st, nil), api.IncidentRoutes(e.st)...)}
	e.api = httptest.NewServer(srv.Handler())
	t.Cleanup(e.api.Close)
	e.admin = apiclient.New(e.api.URL, e.token("admin", store.RoleAdmin))
	if simulated {
		e.startSimWorker(ctx, tc, queue)
		return e
	}
	wf := workflows.New()
	ts.NewWorker(queue, func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(wf.Playbook, workflow.RegisterOptions{Name: workflows.PlaybookWorkflow})
		for _, name := range action.Default().Names() {
			r.RegisterActivityWithOptions(e.handle, activity.RegisterOptions{Name: name})
		}
	})
	return e
}

// startSimWorker starts a CECP simulator (the vendor's 20/min quota, outcomes after 300 ms) and parry's worker
// configured for it as the connection sim, running until the test ends.
func (e *env) startSimWorker(ctx context.Context, tc client.Client, queue string) {
	t := e.t
	const token = "console-sim-token"
	sim, err := cecpsim.New(cecpsim.Options{Seed: 1, Tokens: []string{token}, ActionDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(func() { simSrv.Close(); sim.Close() })
	e.sim = sim
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "sim-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default(t.TempDir())
	cfg.DataDir, cfg.Secrets.Dir = t.TempDir(), secrets
	cfg.CECP = config.CECPConfig{DefaultConnection: "sim", Connections: []config.CECPConnection{
		{Name: "sim", BaseURL: simSrv.URL, TokenSecret: "sim-token", BatchSize: 10, RateLimit: "20/1m"}}}
	opts, err := pworker.FromConfig(cfg, e.st, secret.Chain{secret.Dir{Path: secrets}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	opts.TaskQueue = queue
	opts.Activities.PollInterval, opts.Activities.MaxPollInterval = 200*time.Millisecond, time.Second
	w, err := pworker.New(tc, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The worker stops before the simulator closes (cleanups run last-registered first).
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Serve(wctx) }()
	t.Cleanup(func() { stop(); <-done })
}

func (e *env) token(name string, role store.Role) string {
	tok, _, err := e.st.CreateToken(context.Background(), name, role, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) push(src string) {
	e.t.Helper()
	if _, err := registry.Push(context.Background(), e.st, nil, []registry.File{{Name: "pb.yaml", Source: src}}, "test", true); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) sendAlert(kind, title string) {
	e.t.Helper()
	body, _ := json.Marshal(apitypes.AlertIn{Source: "test", Kind: kind, Severity: "high", Title: title,
		ObservedAt: time.Now().UTC().Format(time.RFC3339), Data: json.RawMessage(`{"user":"bob@x.test"}`)})
	if _, err := e.admin.SendAlerts(context.Background(), body); err != nil {
		e.t.Fatal(err)
	}
}

// chromium finds the browser: PARRY_CHROMIUM, then the usual names on PATH.
func chromium() string {
	if p := os.Getenv("PARRY_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browser is one headless Chromium tab; dialogs counts JavaScript dialogs (alert()) the page opened.
type browser struct {
	ctx     context.Context
	t       *testing.T
	base    string
	mu      sync.Mutex
	dialogs int
}

// browser starts a headless Chromium for the test (skipping it when there is none: the tests that need no
// browser, such as TestCLIRunWatch, still run).
func (e *env) browser() *browser {
	e.t.Helper()
	if chromium() == "" {
		e.t.Skip("browser test: no Chromium found (apt-get install chromium, or set PARRY_CHROMIUM to its path)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium()), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	e.t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	// Start the browser on the test-long context (the first Run of a context owns the browser it starts).
	if err := chromedp.Run(ctx); err != nil {
		e.t.Fatalf("starting Chromium: %v", err)
	}
	b := &browser{ctx: ctx, t: e.t, base: e.api.URL}
	chromedp.ListenTarget(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.mu.Lock()
			b.dialogs++
			b.mu.Unlock()
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(d.Type == page.DialogTypeConfirm)) }()
		}
	})
	return b
}

func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	// Each step gets a minute, so the tab outlives a failed step and can say where it was.
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var loc, flash, text string
		_ = chromedp.Run(b.ctx, chromedp.Evaluate(`location.href`, &loc), chromedp.Evaluate(`document.getElementById("flash").textContent`, &flash),
			chromedp.Evaluate(`document.getElementById("main").innerText.slice(0, 2000)`, &text))
		b.t.Fatalf("%s: %v (page %s, flash %q)\n%s", what, err, loc, flash, text)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("reading "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// eval runs JavaScript in the page (awaiting a promise) and decodes its value.
func (b *browser) eval(js string, out any) {
	b.t.Helper()
	b.run("evaluating "+js, chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
}

func (b *browser) signInWithToken(token string) {
	b.t.Helper()
	b.run("signing in", chromedp.Navigate(b.base+"/#/signin"), chromedp.WaitVisible("#token", chromedp.ByQuery),
		chromedp.SendKeys("#token", token, chromedp.ByQuery), chromedp.Click("#signin", chromedp.ByQuery),
		chromedp.WaitVisible("#incident-list", chromedp.ByQuery))
}

// screenshot saves the page as DIR/name.png when PARRY_SCREENSHOTS is set.
func (b *browser) screenshot(name string) {
	dir := os.Getenv("PARRY_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	b.run("screenshot "+name, chromedp.Sleep(300*time.Millisecond), chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

const approvalPlaybook = `name: contain-phish
description: Ask before disabling the targeted account
on:
  alert:
    when: alert.kind == "phish"
    dedup:
      key: alert.data.user
      window: 1h
steps:
  - id: lookup
    action: cecp.mitigate_accounts
    with: { action: revoke_sessions, accounts: ["bob@x.test"] }
  - id: approve_disable
    approval:
      prompt: "Disable ${{ alert.data.user }}?"
      timeout: 1h
      on_timeout: reject
  - id: disable
    if: steps.approve_disable.output.approved
    action: cecp.mitigate_accounts
    with: { action: disable, accounts: ["${{ alert.data.user }}"] }
`

// TestConsoleSignInAlertApprove: the sign-in link of parry dev signs in once; an alert's incident appears in
// the open page without a reload; its run waits for an approval, which is answered in the page, and the run
// is seen to finish with the decision and who made it on its timeline.
// Signing in to the console lets the Temporal Web UI of the same browser decrypt payloads: the console asks for
// the HttpOnly cookie /codec accepts in place of a bearer header (the UI cannot send one), and signing out drops
// it.
func TestConsoleSignInLetsTheTemporalUIDecrypt(t *testing.T) {
	e := newEnv(t)
	p, err := converter.GetDefaultDataConverter().ToPayload("bob@x.test")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := e.codec.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(string(body))
	var res struct {
		Status int
		Body   string
	}
	decode := `fetch("/codec/decode", {method: "POST", headers: {"Content-Type": "application/json"}, body: ` + string(quoted) +
		`}).then(async r => ({Status: r.status, Body: await r.text()}))`
	b := e.browser()
	b.run("open the console", chromedp.Navigate(e.api.URL+"/#/signin"), chromedp.WaitVisible("#token", chromedp.ByQuery))
	b.eval(decode, &res)
	if res.Status != 401 {
		t.Fatalf("decode before sign-in: HTTP %d %s", res.Status, res.Body)
	}
	b.signInWithToken(e.token("ann", store.RoleViewer))
	b.eval(decode, &res)
	if res.Status != 200 {
		t.Fatalf("decode after sign-in: HTTP %d %s", res.Status, res.Body)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal([]byte(res.Body), &out); err != nil || len(out.Payloads) != 1 {
		t.Fatalf("decoded %q: %v", res.Body, err)
	}
	var got string
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &got); err != nil || got != "bob@x.test" {
		t.Fatalf("decoded %q, %v", got, err)
	}
	var cookieVisible bool
	b.eval(`document.cookie.includes("parry_codec")`, &cookieVisible)
	if cookieVisible {
		t.Fatal("the codec cookie is readable by scripts")
	}
	b.run("sign out", chromedp.Click("#signout", chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByQuery))
	b.eval(decode, &res)
	if res.Status != 401 {
		t.Fatalf("decode after sign-out: HTTP %d %s", res.Status, res.Body)
	}
}

func TestConsoleSignInAlertApprove(t *testing.T) {
	e := newEnv(t)
	e.push(approvalPlaybook)
	code, err := e.st.CreateSigninCode(context.Background(), store.RoleResponder, 5*time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.run("sign-in link", chromedp.Navigate(e.api.URL+"/#/signin?code="+code), chromedp.WaitVisible("#incident-list", chromedp.ByQuery))
	if who := b.text("#who"); !strings.HasPrefix(who, "console-") || !strings.HasSuffix(who, "(responder)") {
		t.Fatalf("signed in as %q", who)
	}
	var loc string
	b.run("location", chromedp.Location(&loc))
	if strings.Contains(loc, code) {
		t.Fatalf("the sign-in code stayed in the address bar: %s", loc)
	}
	// The code worked once.
	var again struct{ Status int }
	b.eval(`fetch("/v1/console/session", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({code: "`+code+`"})}).then(r => ({Status: r.status}))`, &again)
	if again.Status != 401 {
		t.Fatalf("second use of the sign-in code: HTTP %d", again.Status)
	}
	var stored string
	b.eval(`sessionStorage.getItem("parry.token") || ""`, &stored)
	if !strings.HasPrefix(stored, store.TokenPrefix) {
		t.Fatalf("session token %q", stored)
	}

	e.sendAlert("phish", "Credential phish to bob")
	b.run("incident appears", chromedp.WaitVisible(`#incident-list tr[data-incident]`, chromedp.ByQuery))
	b.screenshot("incidents")
	b.run("open incident", chromedp.Click(`#incident-list tr[data-incident] td a`, chromedp.ByQuery), chromedp.WaitVisible(`tr[data-run] a`, chromedp.ByQuery))
	b.screenshot("incident")
	b.run("open run", chromedp.Click(`tr[data-run] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`.wait[data-wait="approval"] .approve`, chromedp.ByQuery))
	if p := b.text(`.wait .prompt`); p != "Disable bob@x.test?" {
		t.Fatalf("prompt %q", p)
	}
	b.run("graph colours the waiting step", chromedp.WaitVisible(`#graph g.node[data-step="approve_disable"][data-status="waiting"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#graph g.node[data-step="lookup"][data-status="succeeded"]`, chromedp.ByQuery))
	b.screenshot("run-waiting")
	b.run("approvals inbox", chromedp.Navigate(e.api.URL+"/#/approvals"), chromedp.WaitVisible(`#approval-list tr[data-step="approve_disable"]`, chromedp.ByQuery))
	b.screenshot("approvals")
	b.run("back to the run", chromedp.Click(`#approval-list tr[data-step] td a`, chromedp.ByQuery),
		chromedp.WaitVisible(`.wait .approve`, chromedp.ByQuery),
		chromedp.SendKeys(`.wait .comment`, "confirmed by phone", chromedp.ByQuery),
		chromedp.Click(`.wait .approve`, chromedp.ByQuery),
		chromedp.WaitVisible(`#run-status [data-status="succeeded"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-step="disable"][data-status="succeeded"]`, chromedp.ByQuery))
	var decision string
	b.eval(`document.querySelector('tr[data-step="approve_disable"]').textContent`, &decision)
	if !strings.Contains(decision, `"by": "console-`) || !strings.Contains(decision, "confirmed by phone") {
		t.Fatalf("approval step on the timeline: %s", decision)
	}
	if d := b.text(`tr[data-step="approve_disable"] .decision`); d != "approved by "+strings.TrimSuffix(b.text("#who"), " (responder)")+": confirmed by phone" {
		t.Fatalf("decision shown as %q", d)
	}
	b.screenshot("run-succeeded")
	b.run("audit", chromedp.Navigate(e.api.URL+"/#/audit"), chromedp.WaitVisible(`#audit-list tr[data-action="run.approve"]`, chromedp.ByQuery))
	b.screenshot("audit")
}

const campaignPlaybook = `name: quarantine-campaign
description: Ask before quarantining a reported campaign
on:
  alert:
    when: alert.kind == "reported-phish"
    dedup: { key: alert.data.sender, window: 1h }
inputs:
  sender: { type: string, required: true, from: alert.data.sender }
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: "${{ inputs.sender }}", lastndays: 7 }
  - id: approve
    approval:
      prompt: "Quarantine ${{ len(steps.sweep.output.mails) }} mails from ${{ inputs.sender }}?"
      timeout: 1h
      on_timeout: reject
  - id: quarantine
    if: steps.approve.output.approved
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.sweep.output.mails }}", wait: true }
`

// TestConsoleApprovalAgainstTheSimulator: parry's real worker against the CECP simulator (quota on): a reported
// phish's incident appears in the open page, its run swept the vendor and waits for an approval naming what it
// found, the analyst approves it in the page, and the campaign's mails are quarantined at the vendor.
func TestConsoleApprovalAgainstTheSimulator(t *testing.T) {
	e := newSimEnv(t)
	e.push(campaignPlaybook)
	var c cecpsim.Campaign
	for _, x := range e.sim.Tenants()[0].Campaigns {
		if x.Kind == "phishing" {
			c = x
		}
	}
	if c.Sender == "" {
		t.Fatal("the simulator has no phishing campaign")
	}
	b := e.browser()
	b.signInWithToken(e.token("sam", store.RoleResponder))
	body, _ := json.Marshal(apitypes.AlertIn{Source: "mail-gateway", Kind: "reported-phish", Severity: "high", Title: "Reported: " + c.Subject,
		Data: json.RawMessage(fmt.Sprintf(`{"sender":%q}`, c.Sender))})
	if _, err := e.admin.SendAlerts(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	b.run("incident appears", chromedp.WaitVisible(`#incident-list tr[data-incident]`, chromedp.ByQuery),
		chromedp.Click(`#incident-list tr[data-incident] td a`, chromedp.ByQuery), chromedp.WaitVisible(`tr[data-run] a`, chromedp.ByQuery),
		chromedp.Click(`tr[data-run] a`, chromedp.ByQuery), chromedp.WaitVisible(`.wait[data-wait="approval"] .approve`, chromedp.ByQuery))
	if p, want := b.text(`.wait .prompt`), fmt.Sprintf("Quarantine %d mails from %s?", c.Mails, c.Sender); p != want {
		t.Fatalf("prompt %q, want %q", p, want)
	}
	b.run("approve", chromedp.Click(`.wait .approve`, chromedp.ByQuery),
		chromedp.WaitVisible(`#run-status [data-status="succeeded"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-step="quarantine"][data-status="succeeded"]`, chromedp.ByQuery))
	mails, err := e.sim.Mails("")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.sim.State("")
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, m := range st.Mails {
		state[m.MailUniqueID] = m.State
	}
	n := 0
	for _, m := range mails {
		if m.MailMessageSender == c.Sender {
			n++
			if state[m.MailUniqueID] != "quarantined" {
				t.Errorf("mail %s of the campaign is %s at the vendor", m.MailUniqueID, state[m.MailUniqueID])
			}
		}
	}
	if n != c.Mails {
		t.Fatalf("the vendor has %d mails from %s, the campaign %d", n, c.Sender, c.Mails)
	}
}

// TestConsoleViewerCannotApprove: a viewer sees the waiting approval without an approve button, and the
// server refuses the viewer's approval anyway.
func TestConsoleViewerCannotApprove(t *testing.T) {
	e := newEnv(t)
	e.push(approvalPlaybook)
	e.sendAlert("phish", "Phish to bob")
	var runID string
	for deadline := time.Now().Add(60 * time.Second); runID == ""; {
		rs, err := e.st.RunsWaitingFor(context.Background(), "approval", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 {
			runID = rs[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("no run waits for an approval")
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	b := e.browser()
	b.signInWithToken(e.token("vera", store.RoleViewer))
	b.run("open run", chromedp.Navigate(e.api.URL+"/#/runs/"+runID), chromedp.WaitVisible(`.wait[data-wait="approval"]`, chromedp.ByQuery))
	var buttons int
	b.eval(`document.querySelectorAll("button.approve, button.reject, #retry, #cancel").length`, &buttons)
	if buttons != 0 {
		t.Fatalf("a viewer sees %d approve/reject/retry/cancel buttons", buttons)
	}
	if s := b.text(`.wait`); !strings.Contains(s, "cannot answer approvals") {
		t.Fatalf("wait box for a viewer: %q", s)
	}
	var res struct{ Status int }
	b.eval(`fetch("/v1/runs/`+runID+`/approvals/approve_disable", {method: "POST", headers: {"Authorization": "Bearer " + sessionStorage.getItem("parry.token"), "Content-Type": "application/json"}, body: "{\"approved\": true}"}).then(r => ({Status: r.status}))`, &res)
	if res.Status != 403 {
		t.Fatalf("viewer's approval: HTTP %d", res.Status)
	}
	r, err := e.st.GetRun(context.Background(), runID)
	if err != nil || r.Status == store.RunSucceeded {
		t.Fatalf("run after the viewer's attempt: %+v %v", r.Status, err)
	}
}

// TestConsoleRendersAlertDataAsText: an alert titled with markup shows the markup as text, runs no script and
// adds no element, in the list and on its page.
func TestConsoleRendersAlertDataAsText(t *testing.T) {
	e := newEnv(t)
	const evil = `<img src=x onerror=alert(1)>`
	e.sendAlert("nothing-matches", evil)
	b := e.browser()
	b.signInWithToken(e.token("ana", store.RoleViewer))
	b.run("alerts", chromedp.Navigate(e.api.URL+"/#/alerts"), chromedp.WaitVisible(`#alert-list .alert-title`, chromedp.ByQuery))
	if got := b.text(`#alert-list .alert-title`); got != evil {
		t.Fatalf("title shown as %q", got)
	}
	b.run("reason", chromedp.WaitVisible(`#alert-list .reason`, chromedp.ByQuery))
	var imgs int
	b.eval(`document.querySelectorAll("img").length`, &imgs)
	b.screenshot("alerts")
	b.run("alert page", chromedp.Click(`#alert-list tr[data-alert] td a`, chromedp.ByQuery), chromedp.WaitVisible(`h1 .alert-title`, chromedp.ByQuery))
	if got := b.text(`h1 .alert-title`); got != evil {
		t.Fatalf("title on the alert page %q", got)
	}
	var imgs2 int
	b.eval(`document.querySelectorAll("img").length`, &imgs2)
	b.mu.Lock()
	dialogs := b.dialogs
	b.mu.Unlock()
	if imgs != 0 || imgs2 != 0 || dialogs != 0 {
		t.Fatalf("markup in alert data became elements (%d, %d img) or ran (%d dialogs)", imgs, imgs2, dialogs)
	}
}

const failingPlaybook = `name: block-sender
steps:
  - id: lookup
    action: cecp.mitigate_accounts
    with: { action: revoke_sessions, accounts: ["bob@x.test"] }
  - id: block
    action: cecp.mitigate_accounts
    with: { action: disable, accounts: ["bob@x.test"] }
`

// TestConsoleRetryFromFailedStep: a run whose step failed is retried from that step in the page; the new run
// reuses the completed step, runs the failed one again and succeeds, and links back to the failed run.
func TestConsoleRetryFromFailedStep(t *testing.T) {
	e := newEnv(t)
	e.push(failingPlaybook)
	e.failNext("block", 1)
	run, err := e.admin.StartRun(context.Background(), apitypes.StartRunRequest{Playbook: "block-sender"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signInWithToken(e.token("rita", store.RoleResponder))
	b.run("failed run", chromedp.Navigate(e.api.URL+"/#/runs/"+run.ID), chromedp.WaitVisible(`#run-status [data-status="failed"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#retry`, chromedp.ByQuery))
	if msg := b.text("#run-error"); !strings.Contains(msg, "the vendor refused block") {
		t.Fatalf("error shown: %q", msg)
	}
	b.screenshot("run-failed")
	b.run("retry", chromedp.SetValue(`#retry-from`, "block", chromedp.ByQuery), chromedp.Click(`#retry`, chromedp.ByQuery),
		chromedp.WaitVisible(`#run-status [data-status="succeeded"]`, chromedp.ByQuery))
	var newID, retryOf string
	b.run("new run", chromedp.Text("#run-id", &newID, chromedp.ByQuery))
	b.eval(`(document.querySelector('a[href^="#/runs/"]:not([href="#/runs"])') || {}).textContent || ""`, &retryOf)
	if newID == run.ID || retryOf != run.ID {
		t.Fatalf("retry run %q links to %q, want a new run linking to %s", newID, retryOf, run.ID)
	}
	b.run("the failed run links to its retry", b.hash("#/runs/"+run.ID), chromedp.WaitVisible(`#retried-by a`, chromedp.ByQuery))
	if got := b.text("#retried-by a"); got != newID {
		t.Fatalf("failed run says it was retried by %q, want %s", got, newID)
	}
	b.run("back to the retry", b.hash("#/runs/"+newID), chromedp.WaitVisible(`tr[data-step="lookup"]`, chromedp.ByQuery))
	var reused string
	b.eval(`document.querySelector('tr[data-step="lookup"]').textContent`, &reused)
	if !strings.Contains(reused, "reused") {
		t.Fatalf("lookup not reused: %s", reused)
	}
	e.mu.Lock()
	calls := fmt.Sprint(e.calls["lookup"], e.calls["block"])
	e.mu.Unlock()
	if calls != "1 2" {
		t.Fatalf("calls of lookup and block: %s", calls)
	}
}

// TestConsoleEditorDiagnostics: the editor shows the linter's diagnostic at its line while the author types
// a typo, draws the flow when the playbook compiles, and clears the diagnostic once the typo is fixed.
func TestConsoleEditorDiagnostics(t *testing.T) {
	e := newEnv(t)
	typo := strings.Replace(failingPlaybook, "action: cecp.mitigate_accounts\n    with: { action: disable", "actoin: cecp.mitigate_accounts\n    with: { action: disable", 1)
	_, diags := playbook.NewLinter(nil).Load("block-sender.yaml", []byte(typo))
	if len(diags) == 0 {
		t.Fatal("the typo gives no diagnostic")
	}
	want := diags[0]
	b := e.browser()
	b.signInWithToken(e.token("aldo", store.RoleAuthor))
	setSource := func(src string) chromedp.Action {
		js, _ := json.Marshal(src)
		return chromedp.Evaluate(`(() => { const t = document.getElementById("source"); t.value = `+string(js)+`; t.dispatchEvent(new Event("input")); })()`, nil)
	}
	b.run("editor", chromedp.Navigate(e.api.URL+"/#/editor"), chromedp.WaitVisible("#source", chromedp.ByQuery),
		chromedp.SetValue("#file", "block-sender.yaml", chromedp.ByQuery), setSource(typo),
		chromedp.WaitVisible(fmt.Sprintf(`#diagnostics li[data-line="%d"]`, want.Line), chromedp.ByQuery))
	got := b.text("#diagnostics li")
	if wantText := fmt.Sprintf("%d:%d: %s: %s", want.Line, want.Column, want.Severity, want.Message); got != wantText {
		t.Fatalf("diagnostic shown %q, want %q", got, wantText)
	}
	b.run("gutter marks the line", chromedp.WaitVisible(`#gutter .bad`, chromedp.ByQuery))
	if n := b.text("#gutter .bad"); strings.TrimSpace(n) != fmt.Sprint(want.Line) {
		t.Fatalf("gutter marks line %q, want %d", n, want.Line)
	}
	// The diagnostic is underlined in the text at its column, up to the end of the word there.
	b.run("underlined", chromedp.WaitVisible(fmt.Sprintf(`#marks .squiggle.error[data-line="%d"][data-column="%d"]`, want.Line, want.Column), chromedp.ByQuery))
	line := []rune(strings.Split(typo, "\n")[want.Line-1])
	end := want.Column - 1
	for end < len(line) && !strings.ContainsRune(" \t:,{}[]", line[end]) {
		end++
	}
	if u, w := b.text("#marks .squiggle.error"), string(line[want.Column-1:end]); u != w {
		t.Fatalf("underlined %q, want %q", u, w)
	}
	var marked string
	b.eval(`document.getElementById("marks").textContent`, &marked)
	if marked != typo+"\n" && marked != typo {
		t.Fatalf("the underlay's text differs from the source")
	}
	// Clicking the diagnostic puts the caret there.
	var caret int
	b.run("go to", chromedp.Click("#diagnostics li", chromedp.ByQuery))
	b.eval(`document.getElementById("source").selectionStart`, &caret)
	lines := strings.Split(typo, "\n")
	off := 0
	for _, l := range lines[:want.Line-1] {
		off += len([]rune(l)) + 1
	}
	if caret != off+want.Column-1 {
		t.Fatalf("caret at %d, want %d", caret, off+want.Column-1)
	}
	b.screenshot("editor-diagnostic")
	b.run("fixed", setSource(failingPlaybook), chromedp.WaitVisible(`#lint-summary[data-errors="0"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#editor-graph g.node[data-step="block"]`, chromedp.ByQuery))
	var left int
	b.eval(`document.querySelectorAll("#diagnostics li.error").length`, &left)
	if left != 0 {
		t.Fatalf("%d diagnostics left after the fix", left)
	}
	b.eval(`document.querySelectorAll("#marks .squiggle").length`, &left)
	if left != 0 {
		t.Fatalf("%d underlines left after the fix", left)
	}
	b.screenshot("editor")
	b.run("push", chromedp.Click("#push", chromedp.ByQuery), chromedp.WaitVisible(`#flash.ok`, chromedp.ByQuery))
	if _, err := e.st.GetPlaybookVersion(context.Background(), "block-sender", 1); err != nil {
		t.Fatalf("pushed playbook not stored: %v", errors.Unwrap(err))
	}
}

// TestConsoleRegistryDiffAndRuns: the runs list shows every run with its status and links to it; the registry
// lists a playbook's versions, shows the lines that changed between two, and an author enables an older one.
func TestConsoleRegistryDiffAndRuns(t *testing.T) {
	e := newEnv(t)
	e.push(failingPlaybook)
	e.push(strings.Replace(failingPlaybook, "action: disable", "action: revoke_sessions", 1))
	e.failNext("block", 1)
	ctx := context.Background()
	failed, err := e.admin.StartRun(ctx, apitypes.StartRunRequest{Playbook: "block-sender"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signInWithToken(e.token("pia", store.RoleAuthor))
	b.run("runs list", chromedp.Navigate(e.api.URL+"/#/runs"),
		chromedp.WaitVisible(fmt.Sprintf(`#run-list tr[data-run=%q][data-status="failed"]`, failed.ID), chromedp.ByQuery))
	ok, err := e.admin.StartRun(ctx, apitypes.StartRunRequest{Playbook: "block-sender"})
	if err != nil {
		t.Fatal(err)
	}
	// The open list picks the new run up by itself.
	b.run("new run in the open list", chromedp.WaitVisible(fmt.Sprintf(`#run-list tr[data-run=%q][data-status="succeeded"]`, ok.ID), chromedp.ByQuery))
	b.screenshot("runs")
	b.run("registry", chromedp.Navigate(e.api.URL+"/#/playbooks"), chromedp.WaitVisible(`a[href="#/playbooks/block-sender"]`, chromedp.ByQuery))
	if row := b.text(`main table tbody tr`); !strings.Contains(row, "block-sender") || !strings.Contains(row, "v2") {
		t.Fatalf("registry row %q", row)
	}
	b.run("versions", chromedp.Click(`a[href="#/playbooks/block-sender"]`, chromedp.ByQuery), chromedp.WaitVisible(`tr[data-version="1"] .enable`, chromedp.ByQuery))
	var clicked bool
	b.eval(`(() => { const btn = [...document.querySelectorAll("button")].find((x) => x.textContent === "Show diff"); if (btn) btn.click(); return !!btn; })()`, &clicked)
	if !clicked {
		t.Fatal("no Show diff button")
	}
	b.run("diff", chromedp.WaitVisible(`#diff .diff .add`, chromedp.ByQuery))
	var changed []string
	b.eval(`[...document.querySelectorAll("#diff .diff .add, #diff .diff .del")].map((x) => x.textContent)`, &changed)
	if want := []string{"-     with: { action: disable, accounts: [\"bob@x.test\"] }", "+     with: { action: revoke_sessions, accounts: [\"bob@x.test\"] }"}; !slices.Equal(changed, want) {
		t.Fatalf("diff shows %q, want %q", changed, want)
	}
	b.screenshot("playbook-diff")
	b.run("enable v1", chromedp.Click(`tr[data-version="1"] .enable`, chromedp.ByQuery), chromedp.WaitVisible(`#flash.ok`, chromedp.ByQuery))
	if v, err := e.st.GetEnabledPlaybook(ctx, "block-sender"); err != nil || v.Version != 1 {
		t.Fatalf("enabled after the click: v%d %v", v.Version, err)
	}
}

// TestCLIRunWatch: parry run watch follows a run as run start --wait does: each step on stderr, exit 1 for a
// failed run, 0 for one that succeeded.
func TestCLIRunWatch(t *testing.T) {
	e := newEnv(t)
	e.push(failingPlaybook)
	e.failNext("block", 1)
	t.Setenv("PARRY_URL", e.api.URL)
	t.Setenv("PARRY_TOKEN", e.admin.Token)
	t.Setenv("PARRY_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	os.WriteFile(os.Getenv("PARRY_CONFIG"), nil, 0o600)
	parry := func(args ...string) (string, string, int) {
		var out, errb strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		code := cli.Main(ctx, args, strings.NewReader(""), &out, &errb, nil)
		return out.String(), errb.String(), code
	}
	out, errOut, code := parry("run", "start", "block-sender")
	if code != 0 {
		t.Fatalf("start: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	_, watched, code := parry("run", "watch", id)
	if code != 1 || !strings.Contains(watched, "block") || !strings.Contains(watched, "the vendor refused block") {
		t.Fatalf("watch of the failed run: %d %q", code, watched)
	}
	_, waited, code := parry("run", "retry", id, "--wait")
	if code != 0 {
		t.Fatalf("retry --wait: %d %q", code, waited)
	}
	list, err := e.admin.ListRuns(context.Background(), apitypes.RunFilter{Status: apitypes.RunSucceeded})
	if err != nil || len(list) != 1 {
		t.Fatalf("succeeded runs: %v %v", list, err)
	}
	_, watched, code = parry("run", "watch", list[0].ID)
	// The same display as --wait: of a run that has ended, each step's end and the run's end.
	if code != 0 || !strings.HasSuffix(watched, " succeeded\n") || !strings.Contains(watched, "(reused from the failed run)") {
		t.Fatalf("watch of the retry: %d %q", code, watched)
	}
	for _, line := range strings.Split(strings.TrimSpace(watched), "\n") {
		if !strings.Contains(waited, line+"\n") {
			t.Fatalf("watch shows %q, which --wait did not:\n%s", line, waited)
		}
	}
	if _, _, code = parry("run", "watch"); code != 2 {
		t.Fatalf("watch without a run: %d", code)
	}
}

// hash moves the open page to another of its views (a same-document navigation: no load event to wait for).
func (b *browser) hash(h string) chromedp.Action {
	js, _ := json.Marshal(h)
	return chromedp.Evaluate("location.hash = "+string(js), nil)
}
