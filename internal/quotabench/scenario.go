package quotabench

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
)

// Scenario is one containment to measure.
type Scenario struct {
	Name  string // a, b, c
	Label string
	// Campaign mails come from one sender; one alert starts their containment (sweep, then quarantine).
	Campaign int
	// Singles are reported phish, one mail each; one alert (one incident, one run) per mail.
	Singles int
}

// Scenarios are the three of issue 13: one big campaign, a storm of single-mail incidents, both at once.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "a", Label: "one 500-mailbox campaign", Campaign: 500},
		{Name: "b", Label: "200 single-mail incidents", Singles: 200},
		{Name: "c", Label: "(a) and (b) at once", Campaign: 500, Singles: 200},
	}
}

// Options are the vendor's quota and the batching, and the time scale every contender runs under.
type Options struct {
	// Scale divides every duration: the vendor's window, its action delay, the arrival spread, parry's linger
	// and poll intervals.
	Scale     float64
	Window    time.Duration // the vendor's window (1 minute)
	Requests  int           // per window (20)
	BatchSize int           // mails per POST (10)
	// Spread is how long the single-mail incidents take to arrive (10 s).
	Spread time.Duration
}

// DefaultScale is the time scale of a bench: a vendor window of 6 s. A window much shorter than that would be
// as short as the embedded dev server's own fixed cost of starting a storm of runs (about 3 s for 200 on two
// cores, whatever the scale), and the bench would measure that instead of the quota; in real time that cost
// is a twentieth of a window. The one-request-per-mail pattern still finishes within 7 minutes.
const DefaultScale = 10

// Defaults fills what is zero.
func (o Options) Defaults() Options {
	if o.Scale <= 0 {
		o.Scale = DefaultScale
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Requests <= 0 {
		o.Requests = 20
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 10
	}
	if o.Spread <= 0 {
		o.Spread = 10 * time.Second
	}
	return o
}

// ArrivalGroups is how the single-mail incidents arrive: in this many groups, evenly over the spread, the
// first at once.
const ArrivalGroups = 20

// ArrivalGap is the (scaled) time between two groups of single-mail incidents.
func (o Options) ArrivalGap() time.Duration { return o.Scaled(o.Spread) / ArrivalGroups }

// LastArrival is when (scaled, after the first) the scenario's last alert arrives: no client can post its
// mail earlier.
func (o Options) LastArrival(sc Scenario) time.Duration {
	if sc.Singles == 0 {
		return 0
	}
	return (ArrivalGroups - 1) * o.ArrivalGap()
}

// Scaled is d under the time scale.
func (o Options) Scaled(d time.Duration) time.Duration { return time.Duration(float64(d) / o.Scale) }

// ScaledWindow is the vendor's window under the time scale.
func (o Options) ScaledWindow() time.Duration { return o.Scaled(o.Window) }

// Token is the simulators' API token.
const Token = "quota-bench-token"

// Campaign sender and subject.
const (
	CampaignSender  = "billing@invoice-overdue.example"
	CampaignSubject = "Invoice overdue: pay today"
)

// Target is a fresh simulator for one contender and one scenario, its mails seeded.
type Target struct {
	Sim     *cecpsim.Server
	Rec     *Recorder
	Srv     *httptest.Server
	URL     string
	Singles []cecpsim.SweepMail
	// Expected is how many mails the containment quarantines.
	Expected int
}

// NewTarget starts a simulator with the vendor's quota, the scenario's mails in their own mailboxes.
func NewTarget(o Options, sc Scenario, seed int64) (*Target, error) {
	boxes := sc.Campaign + sc.Singles + 10
	sim, err := cecpsim.New(cecpsim.Options{Seed: seed, Mailboxes: boxes, MailsPerMailbox: 1, RateLimit: o.Requests,
		Window: o.Window, TimeScale: o.Scale, Tokens: []string{Token}, MaxBatchItems: max(o.BatchSize, cecpsim.DefaultMaxBatchItems)})
	if err != nil {
		return nil, err
	}
	mailboxes := sim.Tenants()[0].Mailboxes
	delivered := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	var seedMails []cecpsim.NewMail
	for i := range sc.Campaign {
		seedMails = append(seedMails, cecpsim.NewMail{Mailbox: mailboxes[i], MailMessageSender: CampaignSender,
			MailMessageSubject: CampaignSubject, MailMessageDeliveryTime: delivered})
	}
	for i := range sc.Singles {
		seedMails = append(seedMails, cecpsim.NewMail{Mailbox: mailboxes[sc.Campaign+i], MailMessageSender: fmt.Sprintf("lure-%03d@phish.example", i),
			MailMessageSubject: fmt.Sprintf("Your parcel %03d is waiting", i), MailMessageDeliveryTime: delivered})
	}
	t := &Target{Sim: sim, Rec: &Recorder{Next: sim}, Expected: sc.Campaign + sc.Singles}
	for len(seedMails) > 0 {
		n := min(len(seedMails), 500)
		added, err := sim.AddMails("", seedMails[:n])
		if err != nil {
			sim.Close()
			return nil, err
		}
		for _, m := range added {
			if m.MailMessageSender != CampaignSender {
				t.Singles = append(t.Singles, m)
			}
		}
		seedMails = seedMails[n:]
	}
	t.Srv = httptest.NewServer(t.Rec)
	t.URL = t.Srv.URL
	return t, nil
}

// Close stops the target.
func (t *Target) Close() {
	t.Sim.Close() // first: it releases the requests a hang fault holds, which the server's Close waits for
	t.Srv.Close()
}

// Contained reports how many of the scenario's mails the vendor has quarantined, how many it quarantined more
// than once, and when the last one was.
func (t *Target) Contained() (done, twice int, last time.Time) {
	seen := map[string]int{}
	for _, a := range t.Sim.Applied() {
		if a.ActionType != cecp.MailQuarantine || a.Status != "Success" {
			continue
		}
		seen[a.MailUniqueID]++
		if a.At.After(last) {
			last = a.At
		}
	}
	for _, n := range seen {
		done++
		if n > 1 {
			twice++
		}
	}
	return done, twice, last
}

// Bound is the least any client can do for a scenario under the quota.
type Bound struct {
	Requests int
	// Time is the earliest the last mail can be quarantined: the last POST goes no earlier than the window
	// its request number falls in (20 to a window) and than the last alert's arrival; then the vendor takes
	// its action delay.
	Time time.Duration
}

// LowerBound is what the scenario takes at the least: the campaign's sweep (a page of 1,000), one POST per
// full batch, one result query per 500 actions; the last POST goes in the window its request number falls in,
// after the last alert arrived.
func LowerBound(o Options, sc Scenario) Bound {
	sweeps := (sc.Campaign + 999) / 1000
	mails := sc.Campaign + sc.Singles
	posts := (mails + o.BatchSize - 1) / o.BatchSize
	reads := (mails + 499) / 500
	beforeLast := sweeps + posts
	lastPost := max(time.Duration((beforeLast-1)/o.Requests)*o.ScaledWindow(), o.LastArrival(sc))
	return Bound{Requests: sweeps + posts + reads, Time: lastPost + o.Scaled(cecpsim.DefaultActionDelay)}
}
