package cecp

import (
	"context"
	"iter"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Limits of the sweep endpoint.
const (
	MaxSweepLimit     = 1000
	DefaultSweepLimit = 20
	SweepReach        = 90 * 24 * time.Hour
)

// SweepQuery searches the mail metadata of the last 90 days; every set field narrows the search (AND).
// Without a time filter the vendor searches the last 7 days. Addresses and names take non-prefix wildcards
// (u*ser@example.com); quote Subject for an exact phrase; SourceIP takes a CIDR.
type SweepQuery struct {
	Mailbox string
	// LastNDays excludes Start and End.
	LastNDays     int
	Start         time.Time
	End           time.Time
	Subject       string
	FileSHA1      string
	FileSHA256    string
	FileName      string
	FileExtension string
	URL           string
	Sender        string
	Recipient     string
	MessageID     string
	SourceIP      string
	SourceDomain  string
	// Limit is the page size (at most 1000); by default the largest page MaxResults can use.
	Limit int
	// MaxResults bounds the items read across pages; DefaultMaxResults when 0.
	MaxResults int
	// Cursor continues an earlier search (its pager's Cursor): the window and position are the cursor's, and
	// every filter given must be its own.
	Cursor string
}

func (q SweepQuery) validate(now time.Time) error {
	p := problems{op: "sweep query"}
	if q.LastNDays != 0 && (!q.Start.IsZero() || !q.End.IsZero()) {
		p.add("lastndays cannot be combined with start or end")
	}
	if q.LastNDays < 0 || q.LastNDays > 90 {
		p.add("lastndays %d is outside 1..90 (the vendor keeps 90 days of mail metadata)", q.LastNDays)
	}
	p.window(q.Start, q.End, now, SweepReach, "90 days of mail metadata")
	p.limit(q.Limit, MaxSweepLimit)
	p.hash("file_sha1", q.FileSHA1, 40)
	p.hash("file_sha256", q.FileSHA256, 64)
	if q.SourceIP != "" {
		if _, err := netip.ParsePrefix(q.SourceIP); err != nil && net.ParseIP(q.SourceIP) == nil {
			p.add("source_ip %q is neither an IP address nor a CIDR block", truncate(q.SourceIP, 80))
		}
	}
	for _, f := range []struct{ name, v string }{
		{"mailbox", q.Mailbox}, {"subject", q.Subject}, {"file_name", q.FileName}, {"file_extension", q.FileExtension},
		{"url", q.URL}, {"sender", q.Sender}, {"recipient", q.Recipient}, {"message_id", q.MessageID},
		{"source_domain", q.SourceDomain},
	} {
		p.text(f.name, f.v)
	}
	return p.err()
}

func (q SweepQuery) values(limit int) url.Values {
	v := url.Values{}
	setString(v, "mailbox", q.Mailbox)
	if q.LastNDays > 0 {
		v.Set("lastndays", strconv.Itoa(q.LastNDays))
	}
	setTime(v, "start", q.Start)
	setTime(v, "end", q.End)
	setString(v, "subject", q.Subject)
	setString(v, "file_sha1", q.FileSHA1)
	setString(v, "file_sha256", q.FileSHA256)
	setString(v, "file_name", q.FileName)
	setString(v, "file_extension", q.FileExtension)
	setString(v, "url", q.URL)
	setString(v, "sender", q.Sender)
	setString(v, "recipient", q.Recipient)
	setString(v, "message_id", q.MessageID)
	setString(v, "source_ip", q.SourceIP)
	setString(v, "source_domain", q.SourceDomain)
	setInt(v, "limit", limit)
	return v
}

// sweepFilters are the parameters a cursor must agree with.
var sweepFilters = []string{"mailbox", "lastndays", "subject", "file_sha1", "file_sha256", "file_name", "file_extension", "url",
	"sender", "recipient", "message_id", "source_ip", "source_domain"}

// SweepPages returns a pager over GET /v1/sweeping/mails.
func (c *Client) SweepPages(q SweepQuery) *Pager[SweepMail] {
	max := maxResults(q.MaxResults)
	const path = "/v1/sweeping/mails"
	v := q.values(pageLimit(q.Limit, max, MaxSweepLimit))
	if q.Cursor != "" {
		return resume[SweepMail](c, keyValue, path, q.Cursor, v, sweepFilters, max, q.validate(c.now()))
	}
	r := &request{method: http.MethodGet, path: path, query: v, max: c.opts.MaxPageBytes}
	return newPager[SweepMail](c, keyValue, r, max, q.validate(c.now()))
}

// Sweep yields the mails matching q across pages.
func (c *Client) Sweep(ctx context.Context, q SweepQuery) iter.Seq2[SweepMail, error] {
	return c.SweepPages(q).All(ctx)
}
