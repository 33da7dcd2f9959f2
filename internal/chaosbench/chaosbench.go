// Package chaosbench is the account of `parry bench chaos`: a soak that sends thousands of alerts through
// `parry server` and `parry worker` processes while the vendor simulator injects faults and the processes are
// killed with SIGKILL and restarted, then checks that nothing was lost or done twice. This package holds what
// is measured and how it is judged and printed; internal/cli drives the processes.
package chaosbench

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/quotabench"
)

// Kill is one SIGKILL of the soak and how long the killed processes took to serve again.
type Kill struct {
	At        time.Duration `json:"at"`     // since the soak started
	Killed    []string      `json:"killed"` // "server 1", "worker 2", …
	Recovered time.Duration `json:"recovered"`
	Error     string        `json:"error,omitempty"` // a restarted process that never became ready
}

// Report is everything the soak measured.
type Report struct {
	Servers, Workers int
	Faults           string
	Elapsed          time.Duration

	// Alerts: sent (distinct ids), acknowledged with a 202 (distinct ids), stored in PostgreSQL (distinct
	// source ids), and still pending dispatch at the end.
	AlertsSent, AlertsAcknowledged, AlertsStored, AlertsPending int
	// Incidents expected (one per dedup key) and formed.
	IncidentsExpected, IncidentsFormed int
	// Runs: recorded in the runs table, workflow executions Temporal started for them, workflow ids started
	// more than once, and runs that succeeded.
	Runs, RunsStarted, RunsStartedTwice, RunsCompleted int
	// Mails: one per incident; quarantined by the vendor, and quarantined more than once.
	MailsExpected, MailsMitigated, MailsTwice int
	// Vendor requests: all of them, the 429 answers, and the most in one of the vendor's fixed windows.
	VendorRequests, TooMany, MaxPerWindow int
	Window                                time.Duration
	Quota                                 int
	Kills                                 []Kill
	// Error is why the soak stopped before everything settled (a timeout says what was still missing).
	Error string
}

// MaxPerWindow is the most requests in one of the vendor's fixed windows: a window opens with the first
// request after the previous one ended and lasts window. log is in arrival order.
func MaxPerWindow(log []quotabench.Request, window time.Duration) int {
	var start time.Time
	n, most := 0, 0
	for _, r := range log {
		if start.IsZero() || !r.At.Before(start.Add(window)) {
			start, n = r.At, 0
		}
		n++
		most = max(most, n)
	}
	return most
}

// Problems lists, in words, every way the soak lost or repeated work or broke the quota; none means it held.
func (r Report) Problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if r.Error != "" {
		add("the soak did not settle: %s", r.Error)
	}
	if r.AlertsAcknowledged != r.AlertsSent {
		add("%d of %d alerts were never acknowledged", r.AlertsSent-r.AlertsAcknowledged, r.AlertsSent)
	}
	if r.AlertsStored < r.AlertsAcknowledged {
		add("%d acknowledged alerts are not stored (lost)", r.AlertsAcknowledged-r.AlertsStored)
	}
	if r.AlertsStored > r.AlertsSent {
		add("%d alerts stored more than once", r.AlertsStored-r.AlertsSent)
	}
	if r.AlertsPending > 0 {
		add("%d alerts still wait for dispatch", r.AlertsPending)
	}
	if r.IncidentsFormed != r.IncidentsExpected {
		add("%d incidents formed, %d expected", r.IncidentsFormed, r.IncidentsExpected)
	}
	if r.Runs != r.IncidentsExpected || r.RunsStarted != r.IncidentsExpected {
		add("%d runs recorded and %d started for %d incidents", r.Runs, r.RunsStarted, r.IncidentsExpected)
	}
	if r.RunsStartedTwice > 0 {
		add("%d runs were started more than once", r.RunsStartedTwice)
	}
	if r.RunsCompleted != r.IncidentsExpected {
		add("%d of %d runs completed", r.RunsCompleted, r.IncidentsExpected)
	}
	if r.MailsMitigated != r.MailsExpected {
		add("%d of %d mails quarantined", r.MailsMitigated, r.MailsExpected)
	}
	if r.MailsTwice > 0 {
		add("%d mails were quarantined twice", r.MailsTwice)
	}
	if r.Quota > 0 && r.MaxPerWindow > r.Quota {
		add("%d vendor requests in one %s window, over the quota of %d", r.MaxPerWindow, r.Window, r.Quota)
	}
	for _, k := range r.Kills {
		if k.Error != "" {
			add("after the kill at %s: %s", round(k.At), k.Error)
		}
	}
	return out
}

// Print writes the report as the table the README quotes.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "parry bench chaos: %d server(s), %d worker(s), faults %s, %s in all\n\n", r.Servers, r.Workers, r.Faults, round(r.Elapsed))
	row := func(what, got, want string) { fmt.Fprintf(w, "  %-40s %-16s %s\n", what, got, want) }
	row("what", "measured", "must be")
	row("alerts sent / acknowledged", fmt.Sprintf("%d / %d", r.AlertsSent, r.AlertsAcknowledged), "all acknowledged (retried until 202)")
	row("alerts stored", fmt.Sprint(r.AlertsStored), fmt.Sprintf("%d (none lost, none twice)", r.AlertsSent))
	row("incidents formed", fmt.Sprint(r.IncidentsFormed), fmt.Sprint(r.IncidentsExpected))
	row("runs recorded / started", fmt.Sprintf("%d / %d", r.Runs, r.RunsStarted), fmt.Sprintf("%d / %d", r.IncidentsExpected, r.IncidentsExpected))
	row("runs started more than once", fmt.Sprint(r.RunsStartedTwice), "0")
	row("runs completed", fmt.Sprint(r.RunsCompleted), fmt.Sprint(r.IncidentsExpected))
	row("mails quarantined", fmt.Sprint(r.MailsMitigated), fmt.Sprint(r.MailsExpected))
	row("mails quarantined twice", fmt.Sprint(r.MailsTwice), "0")
	row("vendor requests (429s)", fmt.Sprintf("%d (%d)", r.VendorRequests, r.TooMany), "")
	row(fmt.Sprintf("most requests in one %s window", r.Window), fmt.Sprint(r.MaxPerWindow), fmt.Sprintf("≤ %d", r.Quota))
	for i, k := range r.Kills {
		rec := round(k.Recovered)
		if k.Error != "" {
			rec = "never: " + k.Error
		}
		row(fmt.Sprintf("kill %d at %s: %s", i+1, round(k.At), strings.Join(k.Killed, ", ")), "back in "+rec, "")
	}
	if p := r.Problems(); len(p) > 0 {
		fmt.Fprintf(w, "\nFAILED:\n  %s\n", strings.Join(p, "\n  "))
	} else {
		fmt.Fprintf(w, "\nheld: nothing lost, nothing done twice, the quota kept\n")
	}
}

func round(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}
