package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/chaosbench"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/quotabench"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/temporalclient"
	"github.com/parry-soar/parry/workflows"
)

// chaosOptions are the soak's settings.
type chaosOptions struct {
	Alerts, Incidents, Kills int
	Servers, Workers         int
	Faults                   string
	Spread, Timeout          time.Duration
	Keep                     bool
}

// The soak's playbook: each incident sweeps its sender's mails and quarantines its reported mail.
const chaosPlaybook = `name: chaos
on:
  alert:
    when: alert.kind == "chaos"
    dedup:
      key: alert.data.key
      window: 24h
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: "${{ alert.data.sender }}", lastndays: 1 }
  - id: quarantine
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: ["${{ alert.data.mail }}"], wait: true }
`

const defaultChaosFaults = "500=0.1,503=0.1,latency=50ms,hang=0.01,drop-after-post=0.2,storm=15s"

func (a *app) newBenchChaosCmd() *cobra.Command {
	o := chaosOptions{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "chaos [--alerts N] [--incidents N] [--kills N] [--servers N] [--workers N] [--faults SPEC] [--json]",
		Short: "Soak parry server and worker processes with alerts while the vendor fails and the processes are killed (-9)",
		Long: "Start PostgreSQL, Temporal and a CECP simulator with the vendor's quota (20 requests a minute) and faults on " +
			"(default " + defaultChaosFaults + "), then `parry server` and `parry worker` processes of this binary " +
			"against them; send --alerts alerts deduplicating into --incidents incidents (each run sweeps and quarantines " +
			"one mail) over --spread, kill processes with SIGKILL --kills times (workers, servers, both; one of each when " +
			"there are several) and restart them; then check that every acknowledged alert is stored once, every incident " +
			"formed once with one run started once, every run completed, no mail quarantined twice and no vendor window " +
			"over the quota. Everything runs on loopback and is removed after (--keep keeps the logs). Exit 1 when " +
			"anything did not hold.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.Alerts < 1 || o.Alerts > 100000:
				return usageErrorf("--alerts %d: use 1 to 100000", o.Alerts)
			case o.Incidents < 1 || o.Incidents > o.Alerts || o.Incidents > 1000:
				return usageErrorf("--incidents %d: use 1 to 1000, and no more than --alerts", o.Incidents)
			case o.Kills < 0 || o.Kills > 20:
				return usageErrorf("--kills %d: use 0 to 20", o.Kills)
			case o.Servers < 1 || o.Servers > 4 || o.Workers < 1 || o.Workers > 4:
				return usageErrorf("--servers %d --workers %d: use 1 to 4 of each", o.Servers, o.Workers)
			case o.Spread < time.Second || o.Timeout < time.Minute:
				return usageErrorf("--spread %s --timeout %s: use at least 1s and 1m", o.Spread, o.Timeout)
			}
			if _, err := cecpsim.ParseFaults(o.Faults); err != nil {
				return usageErrorf("--faults: %v", err)
			}
			rep, err := a.benchChaos(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(a.stdout, rep); err != nil {
					return err
				}
			} else {
				rep.Print(a.stdout)
			}
			if len(rep.Problems()) > 0 {
				return silentFailure()
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.Alerts, "alerts", 5000, "alerts to send")
	fs.IntVar(&o.Incidents, "incidents", 50, "dedup keys the alerts spread over (one incident, one run, one mail each)")
	fs.IntVar(&o.Kills, "kills", 3, "SIGKILLs during the soak (each restarts what it killed)")
	fs.IntVar(&o.Servers, "servers", 1, "parry server processes (alerts go round-robin; dispatchers and trackers compete)")
	fs.IntVar(&o.Workers, "workers", 1, "parry worker processes (the quota and the mitigation broker are shared)")
	fs.StringVar(&o.Faults, "faults", defaultChaosFaults, "the simulator's faults (parry sim --faults syntax; none for none)")
	fs.DurationVar(&o.Spread, "spread", time.Minute, "send the alerts over this long")
	fs.DurationVar(&o.Timeout, "timeout", 15*time.Minute, "give up when the work has not settled by then")
	fs.BoolVar(&o.Keep, "keep", false, "keep the scratch directory (processes' logs) instead of removing it")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// chaosProc is one parry server or worker process of the soak.
type chaosProc struct {
	name, role, config, logPath string
	listen                      string // server: its API address
	mu                          sync.Mutex
	cmd                         *exec.Cmd
	exited                      chan struct{}
}

func (p *chaosProc) start(exe string, env []string) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the log of %s: %w", p.name, err)
	}
	cmd := exec.Command(exe, "--config", p.config, p.role)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = chaosSysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return nil
}

func (p *chaosProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *chaosProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

func (a *app) benchChaos(ctx context.Context, o chaosOptions) (*chaosbench.Report, error) {
	say := func(format string, args ...any) { fmt.Fprintf(a.stderr, "chaos: "+format+"\n", args...) }
	logger := slog.New(slog.DiscardHandler)
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary to start its server and worker processes: %w", err)
	}
	dir, err := os.MkdirTemp("", "parry-chaos-")
	if err != nil {
		return nil, fmt.Errorf("creating a scratch directory: %w", err)
	}
	failed := true
	defer func() {
		if o.Keep || failed {
			say("logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	var procs []*chaosProc
	stop := func() {}
	defer func() {
		for _, p := range procs {
			p.kill()
		}
		stop()
	}()
	chain := func(f func()) {
		prev := stop
		stop = func() { f(); prev() }
	}

	say("starting PostgreSQL, Temporal and the simulator in %s", dir)
	dbURL, st, taddr, err := a.benchStack(ctx, dir, logger, chain)
	if err != nil {
		return nil, err
	}
	qo := quotabench.Options{Scale: 1, BatchSize: 10}.Defaults()
	target, err := quotabench.NewTarget(qo, quotabench.Scenario{Name: "chaos", Label: "chaos soak", Singles: o.Incidents}, 7)
	if err != nil {
		return nil, err
	}
	chain(target.Close)

	// The processes' configuration and secrets.
	secretsDir := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secretsDir, 0o700); err != nil {
		return nil, err
	}
	base := config.Default(dir)
	keyText := payloadcrypt.NewKeyText("chaos")
	for name, value := range map[string]string{"chaos-token": quotabench.Token, base.Temporal.PayloadKeySecret: keyText} {
		if err := os.WriteFile(filepath.Join(secretsDir, name), []byte(value+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing the secret %s: %w", name, err)
		}
	}
	cfg := base
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.DatabaseURL = dbURL
	cfg.Temporal.Address = taddr
	cfg.Secrets.Dir = secretsDir
	cfg.Log.Format, cfg.Log.Level = "json", "info"
	cfg.CECP.Connections = []config.CECPConnection{{Name: "chaos", BaseURL: target.URL, TokenSecret: "chaos-token",
		BatchSize: 10, Timeout: 5 * time.Second}}
	cfg.CECP.DefaultConnection = "chaos"
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARRY_") {
			env = append(env, kv)
		}
	}
	newProc := func(role string, i int) (*chaosProc, error) {
		p := &chaosProc{name: fmt.Sprintf("%s %d", role, i), role: role,
			config: filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", role, i)), logPath: filepath.Join(dir, fmt.Sprintf("%s-%d.log", role, i))}
		c := cfg
		if role == "server" {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			p.listen = ln.Addr().String()
			ln.Close()
			c.API.Listen = p.listen
		}
		b, err := yaml.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("writing the configuration of %s: %w", p.name, err)
		}
		if err := os.WriteFile(p.config, b, 0o600); err != nil {
			return nil, err
		}
		return p, nil
	}
	var servers, workers []*chaosProc
	for i := 1; i <= o.Servers; i++ {
		p, err := newProc("server", i)
		if err != nil {
			return nil, err
		}
		servers = append(servers, p)
	}
	for i := 1; i <= o.Workers; i++ {
		p, err := newProc("worker", i)
		if err != nil {
			return nil, err
		}
		workers = append(workers, p)
	}
	procs = append(append(procs, servers...), workers...)

	if _, err := registry.Push(ctx, st, nil, []registry.File{{Name: "chaos.yaml", Source: chaosPlaybook}}, "chaos", true); err != nil {
		return nil, err
	}
	token, _, err := st.CreateToken(ctx, "chaos", store.RoleIngest, "chaos")
	if err != nil {
		return nil, err
	}
	tc, err := temporalclient.Dial(ctx, cfg.Temporal, secret.Static{cfg.Temporal.PayloadKeySecret: keyText}, logger, 30*time.Second)
	if err != nil {
		return nil, err
	}
	chain(tc.Close)

	ready := func(p *chaosProc, since time.Time) error {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited (see %s)", p.name, p.logPath)
			default:
			}
			if p.role == "server" {
				resp, err := http.Get("http://" + p.listen + "/readyz")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return nil
					}
				}
			} else if polling(ctx, tc, cfg.Temporal.TaskQueue, p.pid(), since) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ready after 2m (see %s)", p.name, p.logPath)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	for _, p := range procs {
		if err := p.start(exe, env); err != nil {
			return nil, err
		}
	}
	for _, p := range procs {
		if err := ready(p, time.Time{}); err != nil {
			return nil, err
		}
	}
	faults, _ := cecpsim.ParseFaults(o.Faults)
	if err := target.Sim.SetFaults(faults); err != nil {
		return nil, fmt.Errorf("setting the simulator's faults: %w", err)
	}
	rep := &chaosbench.Report{Servers: o.Servers, Workers: o.Workers, Faults: faults.String(), AlertsSent: o.Alerts,
		IncidentsExpected: o.Incidents, MailsExpected: o.Incidents, Window: qo.Window, Quota: qo.Requests}
	start := time.Now()
	say("%d server(s) and %d worker(s) ready; sending %d alerts for %d incidents over %s, %d kills, faults %s",
		o.Servers, o.Workers, o.Alerts, o.Incidents, o.Spread, o.Kills, rep.Faults)

	runCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// The killer: SIGKILL, restart at once, wait until ready; workers, then servers, then both.
	killsDone := make(chan struct{})
	go func() {
		defer close(killsDone)
		for k := 1; k <= o.Kills; k++ {
			at := time.Duration(k) * (o.Spread + 30*time.Second) / time.Duration(o.Kills+1)
			select {
			case <-runCtx.Done():
				return
			case <-time.After(time.Until(start.Add(at))):
			}
			var victims []*chaosProc
			pick := func(ps []*chaosProc) *chaosProc { return ps[(k-1)%len(ps)] }
			switch k % 3 {
			case 1:
				victims = []*chaosProc{pick(workers)}
			case 2:
				victims = []*chaosProc{pick(servers)}
			default:
				victims = []*chaosProc{pick(servers), pick(workers)}
			}
			if len(servers) == 1 && len(workers) == 1 && k%3 == 0 {
				victims = []*chaosProc{servers[0], workers[0]} // the whole of parry at once
			}
			kill := chaosbench.Kill{At: time.Since(start)}
			killedAt := time.Now()
			for _, p := range victims {
				kill.Killed = append(kill.Killed, p.name)
				p.kill()
			}
			for _, p := range victims {
				if err := p.start(exe, env); err != nil {
					kill.Error = err.Error()
				}
			}
			for _, p := range victims {
				if err := ready(p, killedAt); err != nil && kill.Error == "" {
					kill.Error = err.Error()
				}
			}
			kill.Recovered = time.Since(killedAt)
			say("kill %d at %s: %s, back in %s", k, kill.At.Round(time.Second), strings.Join(kill.Killed, ", "), kill.Recovered.Round(time.Millisecond))
			rep.Kills = append(rep.Kills, kill)
		}
	}()

	acked, sendErr := chaosSend(runCtx, o, servers, token, target.Singles, start)
	rep.AlertsAcknowledged = acked
	say("%d of %d alerts acknowledged after %s; waiting for the work to settle", acked, o.Alerts, time.Since(start).Round(time.Second))
	<-killsDone
	settleErr := sendErr
	if settleErr == nil {
		settleErr = chaosSettle(runCtx, st, target, o)
	}
	if settleErr != nil {
		rep.Error = settleErr.Error()
	}
	rep.Elapsed = time.Since(start)
	if err := chaosCount(ctx, st, tc, cfg.Temporal.Namespace, target, rep); err != nil {
		return nil, err
	}
	failed = len(rep.Problems()) > 0
	return rep, nil
}

// polling reports whether the worker process pid polls the task queue (it has been seen since since).
func polling(ctx context.Context, tc client.Client, queue string, pid int, since time.Time) bool {
	if pid == 0 {
		return false
	}
	resp, err := tc.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return false
	}
	prefix := fmt.Sprintf("%d@", pid)
	for _, p := range resp.GetPollers() {
		if strings.HasPrefix(p.GetIdentity(), prefix) && !p.GetLastAccessTime().AsTime().Before(since) {
			return true
		}
	}
	return false
}

// chaosSend sends the alerts in NDJSON batches of 50, round-robin over the servers, retrying a batch (the same
// ids: the API keeps one alert per source id) until a server acknowledges it; it returns how many distinct
// alerts were acknowledged.
func chaosSend(ctx context.Context, o chaosOptions, servers []*chaosProc, token string, mails []cecpsim.SweepMail, start time.Time) (int, error) {
	const batch = 50
	batches := (o.Alerts + batch - 1) / batch
	gap := o.Spread / time.Duration(batches)
	hc := &http.Client{Timeout: 10 * time.Second}
	acked, next := 0, 0
	for b := range batches {
		var body bytes.Buffer
		n := 0
		for i := b * batch; i < min((b+1)*batch, o.Alerts); i++ {
			m := mails[i%o.Incidents]
			line, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("chaos-%d", i), "source": "chaos", "kind": "chaos",
				"severity": "high", "title": fmt.Sprintf("reported phish %d", i), "observed_at": time.Now().UTC().Format(time.RFC3339Nano),
				"data": map[string]any{"key": fmt.Sprintf("chaos-%d", i%o.Incidents), "sender": m.MailMessageSender,
					"mail": map[string]string{"mailbox": m.Mailbox, "mail_unique_id": m.MailUniqueID, "mail_message_id": m.MailMessageID}}})
			body.Write(line)
			body.WriteByte('\n')
			n++
		}
		for {
			s := servers[next%len(servers)]
			next++
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.listen+"/v1/alerts", bytes.NewReader(body.Bytes()))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					acked += n
					break
				}
				if resp.StatusCode < 500 {
					return acked, fmt.Errorf("the server refused alert batch %d: HTTP %d", b, resp.StatusCode)
				}
			}
			select {
			case <-ctx.Done():
				return acked, fmt.Errorf("sending the alerts: %w", ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
			return acked, fmt.Errorf("sending the alerts: %w", ctx.Err())
		case <-time.After(time.Until(start.Add(time.Duration(b+1) * gap))):
		}
	}
	return acked, nil
}

// chaosSettle waits until every alert is dispatched, every run has succeeded and every mail is quarantined.
func chaosSettle(ctx context.Context, st *store.Store, target *quotabench.Target, o chaosOptions) error {
	var last string
	for {
		c, err := st.CountAlerts(ctx, "chaos")
		if err == nil {
			var done []store.Run
			done, err = st.ListRuns(ctx, store.RunQuery{Playbook: "chaos", Status: "succeeded", Limit: 10000})
			mails, _, _ := target.Contained()
			last = fmt.Sprintf("%d alerts pending, %d of %d runs succeeded, %d of %d mails quarantined", c.Pending, len(done), o.Incidents, mails, o.Incidents)
			if err == nil && c.Pending == 0 && len(done) >= o.Incidents && mails >= o.Incidents {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("not settled after --timeout: %s", last)
			}
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// chaosCount fills the report from PostgreSQL, Temporal's visibility and the simulator.
func chaosCount(ctx context.Context, st *store.Store, tc client.Client, namespace string, target *quotabench.Target, rep *chaosbench.Report) error {
	c, err := st.CountAlerts(ctx, "chaos")
	if err != nil {
		return err
	}
	rep.AlertsStored, rep.AlertsPending = c.Total, c.Pending
	incidents, err := st.ListIncidents(ctx, store.IncidentQuery{Playbook: "chaos", Limit: 1000})
	if err != nil {
		return err
	}
	rep.IncidentsFormed = len(incidents)
	all, err := st.ListRuns(ctx, store.RunQuery{Playbook: "chaos", Limit: 10000})
	if err != nil {
		return err
	}
	rep.Runs = len(all)
	for _, r := range all {
		if r.Status == "succeeded" {
			rep.RunsCompleted++
		}
	}
	perID := map[string]int{}
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace,
			Query: fmt.Sprintf("WorkflowType = '%s'", workflows.PlaybookWorkflow), NextPageToken: token, PageSize: 1000})
		if err != nil {
			return fmt.Errorf("listing the runs' workflows in Temporal: %w", err)
		}
		for _, ex := range resp.GetExecutions() {
			perID[ex.GetExecution().GetWorkflowId()]++
			rep.RunsStarted++
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	for _, n := range perID {
		if n > 1 {
			rep.RunsStartedTwice++
		}
	}
	rep.MailsMitigated, rep.MailsTwice, _ = target.Contained()
	log := target.Rec.Log()
	counts := quotabench.Count(log, rep.Window)
	rep.VendorRequests, rep.TooMany = counts.Total, counts.TooMany
	rep.MaxPerWindow = chaosbench.MaxPerWindow(log, rep.Window)
	return nil
}
