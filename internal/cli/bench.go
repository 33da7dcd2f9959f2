package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/config"
	broker "github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/pglocal"
	"github.com/parry-soar/parry/internal/quotabench"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/service"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/temporalclient"
	"github.com/parry-soar/parry/internal/worker"
)

func (a *app) newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure parry against the vendor's quota (and under faults)",
		Args:  noArgs,
	}
	cmd.AddCommand(a.newBenchQuotaCmd(), a.newBenchChaosCmd())
	return cmd
}

func (a *app) newBenchQuotaCmd() *cobra.Command {
	var o quotabench.Options
	var only string
	var asJSON, verbose bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "quota [--scale N] [--batch-size N] [--scenario a,b,c] [--json]",
		Short: "Contain three scenarios against fresh simulators with the vendor's quota, parry against the one-request-per-mail pattern",
		Long: "Start an embedded parry (PostgreSQL, Temporal, worker, dispatcher) and fresh CECP simulators with the vendor's " +
			"real quota (20 requests a minute), time-scaled by --scale for everyone alike, and contain (a) one 500-mailbox " +
			"campaign, (b) 200 single-mail incidents arriving as alerts within 10 s, (c) both at once, with parry and with an " +
			"emulation of the pattern public integrations use (one POST and one result poll per mail). It prints the " +
			"requests by endpoint, the 429s, the quota windows used and the time to contain, with the ratios to the lower " +
			"bound and to that pattern, and checks the targets of issue 13. Everything runs on loopback and is removed after.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o = o.Defaults()
			if o.Scale < 1 || o.Scale > 600 {
				return usageErrorf("--scale %g: use 1 (real time) to 600", o.Scale)
			}
			if o.BatchSize < 1 || o.BatchSize > 100 {
				return usageErrorf("--batch-size %d: use 1 to 100", o.BatchSize)
			}
			var scenarios []quotabench.Scenario
			for _, sc := range quotabench.Scenarios() {
				if only == "" || strings.Contains(","+only+",", ","+sc.Name+",") {
					scenarios = append(scenarios, sc)
				}
			}
			if len(scenarios) == 0 {
				return usageErrorf("--scenario %q names none of a, b, c", only)
			}
			var profile *os.File
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fileError("creating the CPU profile", cpuProfile, err)
				}
				defer f.Close()
				profile = f
			}
			rep, err := a.benchQuota(cmd.Context(), o, scenarios, verbose, profile)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rep)
			}
			rep.Print(a.stdout)
			if !rep.TargetsMet() {
				return silentFailure()
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.Float64Var(&o.Scale, "scale", quotabench.DefaultScale, "divide every duration by this (the vendor's window, its action delay, arrivals, parry's linger and polls)")
	fs.IntVar(&o.BatchSize, "batch-size", 10, "mails per mitigation POST")
	fs.StringVar(&only, "scenario", "", "comma-separated scenarios to run (a, b, c; default all)")
	fs.BoolVar(&asJSON, "json", false, "print the measurements as JSON")
	fs.BoolVar(&verbose, "verbose", false, "log parry's warnings and errors on stderr, and when each scenario's items were queued and posted")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of parry's containment of the scenarios to this file")
	return cmd
}

// The bench's playbooks: a campaign is swept and quarantined; a reported phish is quarantined as it is.
const (
	benchCampaign = `name: bench-campaign
on:
  alert:
    when: alert.kind == "bench-campaign"
inputs:
  sender: { type: string, required: true, from: alert.data.sender }
steps:
  - id: sweep
    action: cecp.sweep
    with: { sender: "${{ inputs.sender }}", lastndays: 1, limit: 1000, max_results: 1000 }
  - id: quarantine
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: "${{ steps.sweep.output.mails }}", wait: true }
`
	benchSingle = `name: bench-single
on:
  alert:
    when: alert.kind == "bench-single"
steps:
  - id: quarantine
    action: cecp.mitigate_mails
    with: { action: quarantine, mails: ["${{ alert.data }}"], wait: true }
`
)

// With a profile file, parry's containment of the scenarios (not the setup before, nor the wait for the
// per-mail pattern after) is CPU-profiled into it.
func (a *app) benchQuota(ctx context.Context, o quotabench.Options, scenarios []quotabench.Scenario, verbose bool, profile *os.File) (*quotabench.Report, error) {
	var logger *slog.Logger = slog.New(slog.DiscardHandler)
	if verbose {
		level := slog.LevelWarn
		if os.Getenv("PARRY_BENCH_DEBUG") != "" {
			level = slog.LevelDebug
		}
		logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	}
	say := func(format string, args ...any) { fmt.Fprintf(a.stderr, "bench: "+format+"\n", args...) }
	dir, err := os.MkdirTemp("", "parry-bench-")
	if err != nil {
		return nil, fmt.Errorf("creating a scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	stop := func() {}
	defer func() { stop() }()
	chain := func(f func()) {
		prev := stop
		stop = func() { f(); prev() }
	}

	say("time scale 1/%g: the vendor's %s window is %s; starting PostgreSQL and Temporal in %s", o.Scale, o.Window, o.ScaledWindow(), dir)
	_, st, taddr, err := a.benchStack(ctx, dir, logger, chain)
	if err != nil {
		return nil, err
	}

	// Two fresh simulators per scenario, one for parry and one for the pattern it is compared with.
	type pair struct{ parry, xsoar *quotabench.Target }
	targets := map[string]pair{}
	cfg := config.Default(dir)
	cfg.DataDir = dir
	cfg.Temporal.Address = taddr
	cfg.Worker.MaxConcurrentActivities = 400
	secrets := secret.Static{"bench-token": quotabench.Token, cfg.Temporal.PayloadKeySecret: payloadcrypt.NewKeyText("bench")}
	for i, sc := range scenarios {
		p, err := quotabench.NewTarget(o, sc, int64(100+i))
		if err != nil {
			return nil, err
		}
		chain(p.Close)
		x, err := quotabench.NewTarget(o, sc, int64(100+i))
		if err != nil {
			return nil, err
		}
		chain(x.Close)
		targets[sc.Name] = pair{p, x}
		cfg.CECP.Connections = append(cfg.CECP.Connections, config.CECPConnection{Name: "bench-" + sc.Name, BaseURL: p.URL,
			TokenSecret: "bench-token", BatchSize: o.BatchSize, Timeout: 30 * time.Second,
			// parry's linger: a tenth of the (scaled) window, 2 s at most, as it is in real time.
			RateLimit: fmt.Sprintf("%d/%s", o.Requests, o.ScaledWindow()), BatchLinger: min(2*time.Second, o.ScaledWindow()/10)})
	}
	tc, err := temporalclient.Dial(ctx, cfg.Temporal, secrets, logger, 30*time.Second)
	if err != nil {
		return nil, err
	}
	chain(tc.Close)
	conv, err := temporalclient.Converters(ctx, cfg.Temporal, secrets)
	if err != nil {
		return nil, err
	}
	wopts, err := worker.FromConfig(cfg, st, secrets, logger)
	if err != nil {
		return nil, err
	}
	if m := wopts.Activities.Mitigation; m != nil {
		m.PollInterval, m.MaxPollInterval = o.Scaled(broker.DefaultPollInterval), o.Scaled(broker.DefaultMaxPollInterval)
		m.Backoff = o.Scaled(time.Second)
	}
	w, err := worker.New(tc, wopts)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	chain(func() { cancel(); bg.Wait() })
	bg.Go(func() { _ = w.Serve(runCtx) })
	deps := service.Deps{Config: cfg, Logger: logger, Store: st, Temporal: tc, Secrets: secrets, Converters: conv}
	svc := service.Runs(deps)
	bg.Go(func() { service.Background(runCtx, deps, svc) })
	if _, err := registry.Push(ctx, st, nil, []registry.File{{Name: "bench-campaign.yaml", Source: benchCampaign},
		{Name: "bench-single.yaml", Source: benchSingle}}, "bench", true); err != nil {
		return nil, err
	}

	rep := &quotabench.Report{Options: o}
	// The pattern parry is compared with runs meanwhile, on its own simulators: it spends only their quota.
	xsoar := make(chan quotabench.Result, len(scenarios))
	for _, sc := range scenarios {
		t := targets[sc.Name].xsoar
		bg.Go(func() {
			start := time.Now()
			err := quotabench.XSOAR(runCtx, o, t, sc)
			xsoar <- quotabench.Measure(o, sc, quotabench.ContenderXSOAR, t, start, err)
		})
	}
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return nil, fmt.Errorf("starting the CPU profile: %w", err)
		}
	}
	for _, sc := range scenarios {
		say("(%s) %s: parry", sc.Name, sc.Label)
		t := targets[sc.Name].parry
		start := time.Now()
		err := a.benchAlerts(runCtx, st, o, sc, t)
		if err == nil {
			err = quotabench.WaitContained(runCtx, t, 20*o.ScaledWindow()+2*time.Minute)
		}
		if err == nil {
			err = benchRunsDone(runCtx, st, 2*time.Minute)
		}
		rep.Results = append(rep.Results, quotabench.Measure(o, sc, quotabench.ContenderParry, t, start, err))
		if verbose && err != nil {
			a.benchStuck(ctx, st, start)
		}
		if verbose {
			a.benchTimeline(ctx, st, "bench-"+sc.Name, start)
			var reqs []string
			for _, q := range t.Rec.Log() {
				reqs = append(reqs, fmt.Sprintf("%s@%s", strings.Fields(q.Kind)[0][:1]+strings.TrimPrefix(q.Kind[strings.LastIndex(q.Kind, " "):], " "), q.At.Sub(start).Round(10*time.Millisecond)))
			}
			fmt.Fprintf(a.stderr, "bench: requests: %s\n", strings.Join(reqs, " "))
		}
	}
	if profile != nil {
		pprof.StopCPUProfile()
	}
	say("waiting for the one-request-per-mail pattern to finish (it takes many windows)")
	for range scenarios {
		rep.Results = append(rep.Results, <-xsoar)
	}
	rep.Sort()
	return rep, nil
}

// benchStack starts what a bench runs against, in dir: a PostgreSQL cluster (migrated) and an embedded
// Temporal server. Each part's stop goes to chain (run in reverse at the end); it returns the database URL,
// the store and Temporal's address.
func (a *app) benchStack(ctx context.Context, dir string, logger *slog.Logger, chain func(func())) (string, *store.Store, string, error) {
	cluster, err := a.devCluster(ctx, dir, logger)
	if err != nil {
		return "", nil, "", err
	}
	chain(func() {
		_ = cluster.Stop(context.Background())
		_ = pglocal.RemoveAll(cluster.Dir)
	})
	dbURL := cluster.URL("postgres")
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		return "", nil, "", err
	}
	chain(pool.Close)
	if _, err := store.Migrate(ctx, pool); err != nil {
		return "", nil, "", err
	}
	taddr, stopTemporal, err := a.embedded.StartTemporal(ctx, filepath.Join(dir, "temporal"), "127.0.0.1:0", logger)
	if err != nil {
		return "", nil, "", err
	}
	chain(func() { _ = stopTemporal(context.Background()) })
	return dbURL, store.New(pool), taddr, nil
}

// benchAlerts sends a scenario's alerts: the campaign's one alert, and the single-mail incidents spread over
// the arrival time.
func (a *app) benchAlerts(ctx context.Context, st *store.Store, o quotabench.Options, sc quotabench.Scenario, t *quotabench.Target) error {
	conn := "bench-" + sc.Name
	if sc.Campaign > 0 {
		data, _ := json.Marshal(map[string]string{"sender": quotabench.CampaignSender, "subject": quotabench.CampaignSubject})
		if _, err := st.InsertAlerts(ctx, []store.NewAlert{{Source: "bench", Kind: "bench-campaign", Severity: "high",
			Title: "phishing campaign", Connection: conn, ObservedAt: time.Now(), Data: data}}, "bench"); err != nil {
			return err
		}
	}
	if len(t.Singles) == 0 {
		return nil
	}
	per := (len(t.Singles) + quotabench.ArrivalGroups - 1) / quotabench.ArrivalGroups
	gap := o.ArrivalGap()
	for i := 0; i < len(t.Singles); i += per {
		var batch []store.NewAlert
		for _, m := range t.Singles[i:min(i+per, len(t.Singles))] {
			data, _ := json.Marshal(map[string]string{"mailbox": m.Mailbox, "mail_unique_id": m.MailUniqueID, "mail_message_id": m.MailMessageID})
			batch = append(batch, store.NewAlert{Source: "bench", Kind: "bench-single", Severity: "medium", Title: "reported phish",
				Connection: conn, ObservedAt: time.Now(), Data: data})
		}
		if _, err := st.InsertAlerts(ctx, batch, "bench"); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(gap):
		}
	}
	return nil
}

// benchRunsDone waits until no run is active (their last result polls count too).
func benchRunsDone(ctx context.Context, st *store.Store, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		active, err := st.ListRuns(ctx, store.RunQuery{Active: true, Limit: 1})
		if err != nil {
			return err
		}
		pending, _ := st.ListAlerts(ctx, store.AlertQuery{Status: "pending", Limit: 1})
		if len(active) == 0 && len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("runs still going after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// benchStuck prints, with --verbose, where a scenario that did not finish stopped: the alerts and runs that
// are not done, and what each run waits for.
func (a *app) benchStuck(ctx context.Context, st *store.Store, since time.Time) {
	alerts, err := st.ListAlerts(ctx, store.AlertQuery{Since: since, Limit: 1000})
	if err != nil {
		fmt.Fprintf(a.stderr, "bench: alerts: %v\n", err)
	}
	byStatus := map[string]int{}
	for _, al := range alerts {
		byStatus[al.Status]++
		if al.Status != "dispatched" || al.Matched == 0 {
			fmt.Fprintf(a.stderr, "bench: alert %d %s matched %d attempts %d: %s\n", al.ID, al.Status, al.Matched, al.Attempts, al.LastError)
		}
	}
	fmt.Fprintf(a.stderr, "bench: alerts since the start by status: %v\n", byStatus)
	runs, err := st.ListRuns(ctx, store.RunQuery{Since: since, Limit: 10000})
	if err != nil {
		fmt.Fprintf(a.stderr, "bench: runs: %v\n", err)
	}
	clear(byStatus)
	for _, r := range runs {
		byStatus[r.Status]++
		if r.Status != store.RunSucceeded {
			fmt.Fprintf(a.stderr, "bench: run %s %s (workflow run %q) waiting for %q, waits %s, error %q\n", r.ID, r.Status, r.WorkflowRunID, r.WaitingFor, r.Waits, r.Error)
		}
	}
	fmt.Fprintf(a.stderr, "bench: runs since the start by status: %v\n", byStatus)
}

// benchTimeline prints, with --verbose, when the scenario's items were queued and posted, and how full the
// batches were: where the time went.
func (a *app) benchTimeline(ctx context.Context, st *store.Store, conn string, start time.Time) {
	tl, err := st.GetMitigationTimeline(ctx, conn, "bench-", start)
	if err != nil {
		fmt.Fprintf(a.stderr, "bench: timeline: %v\n", err)
		return
	}
	fmt.Fprintf(a.stderr, "bench: %s: runs recorded from %s, started until %s; items queued %s..%s, posted %s..%s; %d items in %d POSTs\n",
		conn, tl.RunsRecordedFirst.Sub(start).Round(time.Millisecond), tl.RunsStartedLast.Sub(start).Round(time.Millisecond),
		tl.QueuedFirst.Sub(start).Round(time.Millisecond), tl.QueuedLast.Sub(start).Round(time.Millisecond),
		tl.PostedFirst.Sub(start).Round(time.Millisecond), tl.PostedLast.Sub(start).Round(time.Millisecond), tl.Items, tl.Posts)
}
