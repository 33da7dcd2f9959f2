package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/service"
)

func (a *app) newSimCmd() *cobra.Command {
	var (
		listen, rateLimit, faults string
		seed                      int64
		mailboxes                 int
		tokens                    []string
		retryAfter                bool
		actionDelay               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the CECP (Trend Micro Cloud App Security) API simulator",
		Long: "Run a simulated CECP tenant on a local port until Ctrl-C: seeded mailboxes, mails and campaigns, " +
			"security and quarantine events, sweeping, mitigation, blocked lists and quarantined-mail downloads, " +
			"with the vendor's 20-requests-a-minute window and optional faults. Point a connection's base_url at it " +
			"and use one of its tokens.\n\n" +
			"Faults (--faults) are KEY=VALUE pairs: 500, 503, 429, rate-limit-200, hang, malformed-json and " +
			"drop-after-post take a rate between 0 and 1; latency and storm (every request 429 for that long) take a " +
			"duration; paths=PREFIX|PREFIX limits them to some endpoints. Change them while it runs with " +
			"POST /_sim/faults; see the state with GET /_sim/state; add mails with POST /_sim/mails.",
		Example: "  parry sim\n  parry sim --seed 7 --mailboxes 200 --token t1 --token t2\n" +
			"  parry sim --rate-limit off --faults 500=0.05,503=0.02,latency=50ms,drop-after-post=0.1",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := cecpsim.Options{Seed: seed, Mailboxes: mailboxes, Tokens: tokens, RetryAfter: retryAfter,
				ActionDelay: actionDelay}
			if mailboxes < 1 || mailboxes > 100_000 {
				return usageErrorf("--mailboxes %d: give a number from 1 to 100000", mailboxes)
			}
			for _, tok := range tokens {
				if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
					return usageErrorf("--token %q: a token is a non-empty string without spaces", tok)
				}
			}
			if actionDelay < 0 {
				return usageErrorf("--action-delay %s: give a duration of zero or more", actionDelay)
			}
			if actionDelay == 0 {
				opts.ActionDelay = -1 // immediate
			}
			switch strings.ToLower(strings.TrimSpace(rateLimit)) {
			case "off", "none", "0":
				opts.RateLimit = cecpsim.NoRateLimit
			default:
				n, window, err := config.ParseRate(rateLimit)
				if err != nil {
					return usageErrorf("--rate-limit: %v (or off)", err)
				}
				opts.RateLimit, opts.Window = n, window
			}
			f, err := cecpsim.ParseFaults(faults)
			if err != nil {
				return usageErrorf("--faults: %v", err)
			}
			opts.Faults = f
			sim, err := cecpsim.New(opts)
			if err != nil {
				return usageErrorf("%v", err)
			}
			l, err := service.Listen(listen, "--listen")
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			go func() {
				<-ctx.Done()
				sim.Close() // release requests held by the hang fault, so shutdown does not wait for them
			}()
			a.printSimBanner("http://"+l.Addr().String(), sim, opts)
			logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			if err := service.Serve(ctx, l, sim, logger); err != nil {
				return fmt.Errorf("serving the simulator: %w", err)
			}
			fmt.Fprintln(a.stderr, "parry sim: stopped")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:9090", "address to listen on (port 0 picks a free one)")
	fl.Int64Var(&seed, "seed", 1, "seed of the generated data (same seed, same data)")
	fl.IntVar(&mailboxes, "mailboxes", cecpsim.DefaultMailboxes, "number of mailboxes")
	fl.StringArrayVar(&tokens, "token", nil, "API token the simulator accepts (repeatable; default "+cecpsim.DefaultToken+")")
	fl.StringVar(&rateLimit, "rate-limit", "20/1m", "requests allowed per window, like 20/1m, or off")
	fl.BoolVar(&retryAfter, "retry-after", false, "send a Retry-After header with 429 answers (the vendor documents none)")
	fl.DurationVar(&actionDelay, "action-delay", cecpsim.DefaultActionDelay, "time a mitigation action takes to complete (0: at once)")
	fl.StringVar(&faults, "faults", "", "faults to inject, like 500=0.05,503=0.02,latency=50ms,drop-after-post=0.1")
	return cmd
}

// printSimBanner tells the user where the simulator is and what it holds.
func (a *app) printSimBanner(url string, sim *cecpsim.Server, opts cecpsim.Options) {
	w := a.stderr
	fmt.Fprintf(w, "parry sim: CECP simulator on %s (Ctrl-C to stop)\n", url)
	for _, t := range sim.Tenants() {
		fmt.Fprintf(w, "  tenant %s: token %s; %d mailboxes at %s, %d mails, %d campaigns\n",
			t.Name, strings.Join(t.Tokens, ", "), len(t.Mailboxes), t.Domain, t.Mails, len(t.Campaigns))
		for _, c := range t.Campaigns {
			fmt.Fprintf(w, "    %-10s %s %q: %d mails, %d quarantined\n", c.Kind, c.Sender, c.Subject, c.Mails, c.Quarantined)
		}
	}
	limit := "off"
	if opts.RateLimit > 0 {
		limit = fmt.Sprintf("%d per %s per tenant", opts.RateLimit, shortDuration(opts.Window))
	}
	fmt.Fprintf(w, "  rate limit %s; faults %s\n", limit, opts.Faults)
	fmt.Fprintf(w, "  admin: GET %s/_sim/state, POST %s/_sim/mails, POST %s/_sim/faults\n", url, url, url)
}

// shortDuration writes 1m rather than 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
