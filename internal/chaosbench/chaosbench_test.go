package chaosbench

import (
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/quotabench"
)

func TestMaxPerWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(secs ...float64) []quotabench.Request {
		var out []quotabench.Request
		for _, s := range secs {
			out = append(out, quotabench.Request{At: t0.Add(time.Duration(s * float64(time.Second)))})
		}
		return out
	}
	for _, c := range []struct {
		name string
		log  []quotabench.Request
		want int
	}{
		{"none", nil, 0},
		{"one", at(0), 1},
		{"a window opened by the first request", at(0, 10, 59.9), 3},
		{"the next request after the window opens a new one", at(0, 10, 60, 61), 2},
		// Back to back windows may hold 20 each although a sliding minute would see more: the vendor counts so.
		{"two full windows", at(0, 1, 2, 59, 60, 61, 62), 4},
		{"a gap restarts the count", at(0, 130, 131, 132), 3},
	} {
		if got := MaxPerWindow(c.log, time.Minute); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func good() Report {
	return Report{Servers: 1, Workers: 1, Faults: "error_500=0.1", Elapsed: 3 * time.Minute,
		AlertsSent: 5000, AlertsAcknowledged: 5000, AlertsStored: 5000,
		IncidentsExpected: 50, IncidentsFormed: 50, Runs: 50, RunsStarted: 50, RunsCompleted: 50,
		MailsExpected: 50, MailsMitigated: 50, VendorRequests: 80, TooMany: 3, MaxPerWindow: 20, Window: time.Minute, Quota: 20,
		Kills: []Kill{{At: 20 * time.Second, Killed: []string{"worker 1"}, Recovered: 1500 * time.Millisecond}}}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	if p := good().Problems(); len(p) != 0 {
		t.Fatalf("a clean soak has problems: %q", p)
	}
	for _, c := range []struct {
		name string
		edit func(*Report)
		want string
	}{
		{"lost", func(r *Report) { r.AlertsStored = 4990 }, "10 acknowledged alerts are not stored (lost)"},
		{"twice", func(r *Report) { r.AlertsStored = 5002 }, "2 alerts stored more than once"},
		{"unacknowledged", func(r *Report) { r.AlertsAcknowledged = 4999 }, "1 of 5000 alerts were never acknowledged"},
		{"incidents", func(r *Report) { r.IncidentsFormed = 51 }, "51 incidents formed, 50 expected"},
		{"runs twice", func(r *Report) { r.RunsStartedTwice = 1 }, "1 runs were started more than once"},
		{"runs", func(r *Report) { r.RunsStarted = 51 }, "50 runs recorded and 51 started for 50 incidents"},
		{"incomplete", func(r *Report) { r.RunsCompleted = 49 }, "49 of 50 runs completed"},
		{"mails twice", func(r *Report) { r.MailsTwice = 1 }, "1 mails were quarantined twice"},
		{"quota", func(r *Report) { r.MaxPerWindow = 21 }, "21 vendor requests in one 1m0s window, over the quota of 20"},
		{"pending", func(r *Report) { r.AlertsPending = 7 }, "7 alerts still wait for dispatch"},
		{"recovery", func(r *Report) { r.Kills[0].Error = "server 1 not ready after 2m0s" }, "after the kill at 20s: server 1 not ready after 2m0s"},
		{"timeout", func(r *Report) { r.Error = "timed out" }, "the soak did not settle: timed out"},
	} {
		r := good()
		r.Kills = append([]Kill(nil), r.Kills...)
		c.edit(&r)
		p := r.Problems()
		if len(p) != 1 || p[0] != c.want {
			t.Errorf("%s: %q, want [%q]", c.name, p, c.want)
		}
	}
}

func TestPrint(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	good().Print(&b)
	want := `parry bench chaos: 1 server(s), 1 worker(s), faults error_500=0.1, 3m0s in all

  what                                     measured         must be
  alerts sent / acknowledged               5000 / 5000      all acknowledged (retried until 202)
  alerts stored                            5000             5000 (none lost, none twice)
  incidents formed                         50               50
  runs recorded / started                  50 / 50          50 / 50
  runs started more than once              0                0
  runs completed                           50               50
  mails quarantined                        50               50
  mails quarantined twice                  0                0
  vendor requests (429s)                   80 (3)           
  most requests in one 1m0s window         20               ≤ 20
  kill 1 at 20s: worker 1                  back in 1.5s     

held: nothing lost, nothing done twice, the quota kept
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	r := good()
	r.MailsTwice = 2
	b.Reset()
	r.Print(&b)
	if !strings.HasSuffix(b.String(), "\nFAILED:\n  2 mails were quarantined twice\n") {
		t.Fatalf("a failed soak prints:\n%s", b.String())
	}
}
