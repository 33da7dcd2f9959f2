package cecpsim

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// reference evaluates sweep queries by brute force, written independently of the simulator's matcher (regular
// expressions and package net instead of the glob code and netip).
type reference struct {
	cache map[string]*regexp.Regexp
}

func (ref *reference) wildcardRE(p string) *regexp.Regexp {
	if re, ok := ref.cache[p]; ok {
		return re
	}
	re := regexp.MustCompile(`(?is)^` + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, `.*`) + `$`)
	ref.cache[p] = re
	return re
}

var wordRE = regexp.MustCompile(`[\p{L}\p{N}*]+`)

func (ref *reference) match(q url.Values, m SweepMail, now time.Time) bool {
	wildcardRE := ref.wildcardRE
	delivered, err := time.Parse(time.RFC3339Nano, m.MailMessageDeliveryTime)
	if err != nil {
		panic(err)
	}
	start, end := now.Add(-7*24*time.Hour), now
	if v := q.Get("lastndays"); v != "" {
		var n int
		fmt.Sscan(v, &n)
		start = now.Add(-time.Duration(n) * 24 * time.Hour)
	}
	if v := q.Get("start"); v != "" {
		start, _ = time.Parse(time.RFC3339, v)
		end = start.Add(7 * 24 * time.Hour)
	}
	if v := q.Get("end"); v != "" {
		end, _ = time.Parse(time.RFC3339, v)
		if q.Get("start") == "" {
			start = end.Add(-7 * 24 * time.Hour)
		}
	}
	if start.Before(now.Add(-90 * 24 * time.Hour)) {
		start = now.Add(-90 * 24 * time.Hour)
	}
	if delivered.Before(start) || delivered.After(end) {
		return false
	}
	one := func(k, v string) bool { return q.Get(k) == "" || wildcardRE(q.Get(k)).MatchString(v) }
	anyOf := func(k string, vs []string) bool {
		if q.Get(k) == "" {
			return true
		}
		for _, v := range vs {
			if wildcardRE(q.Get(k)).MatchString(v) {
				return true
			}
		}
		return false
	}
	if !one("mailbox", m.Mailbox) || !one("sender", m.MailMessageSender) || !anyOf("recipient", m.MailMessageRecipient) ||
		!one("message_id", m.MailMessageID) || !anyOf("url", m.MailURLs) || !one("source_domain", m.SourceDomain) {
		return false
	}
	if s := q.Get("subject"); s != "" {
		if strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2 {
			if !strings.Contains(strings.ToLower(m.MailMessageSubject), strings.ToLower(s[1:len(s)-1])) {
				return false
			}
		} else {
			words := wordRE.FindAllString(m.MailMessageSubject, -1)
			for _, w := range wordRE.FindAllString(s, -1) {
				if !slices.ContainsFunc(words, func(x string) bool { return wildcardRE(w).MatchString(x) }) {
					return false
				}
			}
		}
	}
	if v := q.Get("source_ip"); v != "" {
		ip := net.ParseIP(m.SourceIP)
		if _, n, err := net.ParseCIDR(v); err == nil {
			if ip == nil || !n.Contains(ip) {
				return false
			}
		} else if ip == nil || !ip.Equal(net.ParseIP(v)) {
			return false
		}
	}
	if q.Get("file_name") != "" || q.Get("file_extension") != "" || q.Get("file_sha1") != "" || q.Get("file_sha256") != "" {
		return slices.ContainsFunc(m.MailAttachments, func(a SweepAttachment) bool {
			return one("file_name", a.FileName) &&
				(q.Get("file_extension") == "" || strings.HasSuffix(strings.ToLower(a.FileName), "."+strings.ToLower(strings.TrimPrefix(q.Get("file_extension"), ".")))) &&
				(q.Get("file_sha1") == "" || strings.EqualFold(q.Get("file_sha1"), a.FileSHA1)) &&
				(q.Get("file_sha256") == "" || strings.EqualFold(q.Get("file_sha256"), a.FileSHA256))
		})
	}
	return true
}

// starify replaces a random inner run of s with * (a non-prefix wildcard), sometimes changing case.
func starify(r *rand.Rand, s string) string {
	if len(s) < 4 || r.IntN(3) == 0 {
		if r.IntN(2) == 0 {
			return strings.ToUpper(s)
		}
		return s
	}
	i := 1 + r.IntN(len(s)-2)
	j := i + r.IntN(len(s)-i)
	return s[:i] + "*" + s[j:]
}

func randomSweepQuery(r *rand.Rand, mails []SweepMail, now time.Time) url.Values {
	q := url.Values{}
	m := mails[r.IntN(len(mails))]
	filters := 1 + r.IntN(3)
	for range filters {
		switch r.IntN(13) {
		case 0:
			q.Set("mailbox", starify(r, m.Mailbox))
		case 1:
			q.Set("sender", starify(r, m.MailMessageSender))
		case 2:
			q.Set("recipient", starify(r, m.MailMessageRecipient[r.IntN(len(m.MailMessageRecipient))]))
		case 3:
			words := wordRE.FindAllString(m.MailMessageSubject, -1)
			if len(words) == 0 {
				continue
			}
			if r.IntN(2) == 0 {
				i := r.IntN(len(words))
				q.Set("subject", `"`+strings.Join(words[i:min(len(words), i+2)], " ")+`"`)
			} else {
				q.Set("subject", starify(r, words[r.IntN(len(words))]))
			}
		case 4:
			if len(m.MailURLs) > 0 {
				q.Set("url", starify(r, m.MailURLs[r.IntN(len(m.MailURLs))]))
			}
		case 5, 6:
			if len(m.MailAttachments) > 0 {
				a := m.MailAttachments[r.IntN(len(m.MailAttachments))]
				switch r.IntN(4) {
				case 0:
					q.Set("file_name", starify(r, a.FileName))
				case 1:
					q.Set("file_extension", strings.TrimPrefix(a.FileName[strings.LastIndexByte(a.FileName, '.'):], "."[:r.IntN(2)]))
				case 2:
					q.Set("file_sha1", strings.ToUpper(a.FileSHA1))
				case 3:
					q.Set("file_sha256", a.FileSHA256)
				}
			}
		case 7:
			q.Set("message_id", m.MailMessageID)
		case 8:
			ip := net.ParseIP(m.SourceIP)
			switch {
			case r.IntN(3) == 0:
				q.Set("source_ip", m.SourceIP)
			case ip.To4() != nil:
				bits := []int{8, 16, 24, 32}[r.IntN(4)]
				q.Set("source_ip", (&net.IPNet{IP: ip.Mask(net.CIDRMask(bits, 32)), Mask: net.CIDRMask(bits, 32)}).String())
			default:
				q.Set("source_ip", (&net.IPNet{IP: ip.Mask(net.CIDRMask(48, 128)), Mask: net.CIDRMask(48, 128)}).String())
			}
		case 9:
			q.Set("source_domain", starify(r, m.SourceDomain))
		case 10:
			if q.Get("start") == "" && q.Get("end") == "" {
				q.Set("lastndays", fmt.Sprint(1+r.IntN(12)))
			}
		case 11:
			if q.Get("lastndays") == "" {
				q.Set("start", now.Add(-time.Duration(r.IntN(240))*time.Hour).Format(time.RFC3339))
			}
		case 12:
			if q.Get("lastndays") == "" {
				q.Set("end", now.Add(-time.Duration(r.IntN(100))*time.Hour).Format(time.RFC3339))
			}
		}
	}
	if q.Get("start") != "" && q.Get("end") != "" && q.Get("start") > q.Get("end") {
		q.Del("end")
	}
	// Some queries look for what is not there.
	if r.IntN(10) == 0 {
		q.Set("sender", "nobody*@nowhere.example")
	}
	q.Set("limit", fmt.Sprint([]int{3, 7, 20, 1000}[r.IntN(4)]))
	return q
}

func TestSweepMatchesBruteForceReference(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 7, Mailboxes: 30, MailsPerMailbox: 15})
	// Awkward values the generator does not produce.
	if _, err := h.sim.AddMails("", []NewMail{
		{Mailbox: "Zoe.Upper@Corp.Example", MailMessageSender: "MiXeD@Sender.Example", MailMessageSubject: "Réunion: budget «2026» (final)",
			MailMessageRecipient: []string{"zoe.upper@corp.example", "other@corp.example"}, SourceIP: "2001:db8:1:2::9",
			MailURLs:                []string{"HTTPS://Example.COM/A/B?x=1", "http://example.com/a/b"},
			MailAttachments:         []NewAttachment{{FileName: "a.PDF", Content: []byte("one")}, {FileName: "b.pdf.exe", Content: []byte("two")}},
			MailMessageDeliveryTime: epoch.Add(-26 * time.Hour).Format(time.RFC3339)},
		{Mailbox: "alice@corp.example", MailMessageSender: "x@y.example", MailMessageDeliveryTime: epoch.Add(-30 * 24 * time.Hour).Format(time.RFC3339)},
	}); err != nil {
		t.Fatal(err)
	}
	mails, err := h.sim.Mails("")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	ref := &reference{cache: map[string]*regexp.Regexp{}}
	nonEmpty := 0
	for i := range 400 {
		q := randomSweepQuery(r, mails, epoch)
		var want []string
		for _, m := range mails {
			if ref.match(q, m, epoch) {
				want = append(want, m.MailUniqueID)
			}
		}
		got, _ := h.sweepAll("/v1/sweeping/mails?" + q.Encode())
		gotIDs := make([]string, len(got))
		for j, m := range got {
			gotIDs[j] = m.MailUniqueID
		}
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("query %d %s: got %d mails, reference %d\ngot  %v\nwant %v", i, q.Encode(), len(gotIDs), len(want), gotIDs, want)
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 200 {
		t.Fatalf("only %d of 400 queries found mail: the generator does not exercise the filters", nonEmpty)
	}
}

func TestSweepPaginationEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 3, Mailboxes: 25})
	// Mails sharing one delivery millisecond straddle page boundaries: the token's unique id must order them.
	same := epoch.Add(-time.Hour).Format(time.RFC3339Nano)
	var extra []NewMail
	for i := range 9 {
		extra = append(extra, NewMail{Mailbox: "bob@corp.example", MailMessageSender: "tie@x.example", MailMessageDeliveryTime: same, MailMessageSubject: fmt.Sprint("tie ", i)})
	}
	if _, err := h.sim.AddMails("", extra); err != nil {
		t.Fatal(err)
	}
	all, err := h.sim.Mails("")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range all {
		if d, _ := time.Parse(time.RFC3339Nano, m.MailMessageDeliveryTime); !d.Before(epoch.Add(-7 * 24 * time.Hour)) {
			want = append(want, m.MailUniqueID)
		}
	}
	for _, limit := range []int{1, 2, 3, 4, 19, 20, 1000} {
		got, pages := h.sweepAll(fmt.Sprintf("/v1/sweeping/mails?limit=%d", limit))
		ids := make([]string, len(got))
		seen := map[string]bool{}
		for i, m := range got {
			if seen[m.MailUniqueID] {
				t.Fatalf("limit %d: %s repeated", limit, m.MailUniqueID)
			}
			seen[m.MailUniqueID] = true
			ids[i] = m.MailUniqueID
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("limit %d: %d mails over %d pages, want %d", limit, len(ids), pages, len(want))
		}
		if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d (a full last page must not link to an empty one)", limit, pages, wantPages)
		}
	}
	// The default limit is 20 and the token is base64 of [ms, "unique id of the last item"].
	var page sweepResponse
	h.getJSON("/v1/sweeping/mails?sender=tie@x.example", &page)
	if len(page.Value) != 9 || page.NextLink != "" {
		t.Fatalf("tie page: %d items, next %q", len(page.Value), page.NextLink)
	}
	h.getJSON("/v1/sweeping/mails", &page)
	if len(page.Value) != 20 {
		t.Fatalf("default limit gave %d", len(page.Value))
	}
	u, _ := url.Parse(page.NextLink)
	raw, err := base64.StdEncoding.DecodeString(u.Query().Get("skiptoken"))
	if err != nil {
		t.Fatal(err)
	}
	last := page.Value[19]
	d, _ := time.Parse(time.RFC3339Nano, last.MailMessageDeliveryTime)
	if want := fmt.Sprintf(`[%d,%q]`, d.UnixMilli(), last.MailUniqueID); string(raw) != want {
		t.Fatalf("skiptoken decodes to %s, want %s", raw, want)
	}
}

func TestSweepNextLinkUsesRequestHost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 1})
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/v1/sweeping/mails?limit=1&sender=*", nil)
	req.Host = "api.tmcas.example:8443"
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page sweepResponse
	if err := decodeJSON(resp.Body, &page); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page.NextLink, "http://api.tmcas.example:8443/v1/sweeping/mails?limit=1&sender=%2A&skiptoken=") ||
		page.CurrentLink != "http://api.tmcas.example:8443/v1/sweeping/mails?limit=1&sender=*" {
		t.Fatalf("links %q %q", page.CurrentLink, page.NextLink)
	}
}

func TestSweepBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 1})
	for _, tc := range []struct{ query, msg string }{
		{"lastndays=2&start=2026-03-09T00:00:00Z", "parameter lastndays cannot be combined with start or end"},
		{"lastndays=0", `parameter lastndays="0" must be a whole number of days from 1 to 90`},
		{"lastndays=91", `parameter lastndays="91" must be a whole number of days from 1 to 90`},
		{"start=yesterday", `parameter start="yesterday" is not an ISO-8601 time like 2026-01-02T03:04:05Z`},
		{"start=2026-03-09T00:00:00", `parameter start="2026-03-09T00:00:00" is not an ISO-8601 time like 2026-01-02T03:04:05Z`},
		{"start=2026-03-09T00:00:00Z&end=2026-03-08T00:00:00Z", "start 2026-03-09T00:00:00.000Z is after end 2026-03-08T00:00:00.000Z"},
		{"limit=0", `parameter limit="0" must be a whole number from 1 to 1000`},
		{"limit=1001", `parameter limit="1001" must be a whole number from 1 to 1000`},
		{"file_sha1=abc", `parameter file_sha1="abc" is not 40 hexadecimal digits`},
		{"file_sha256=" + strings.Repeat("g", 64), `parameter file_sha256="gggggggggggggggggggggggggggggggggggggggg…" is not 64 hexadecimal digits`},
		{"source_ip=10.0.0.0/33", `parameter source_ip="10.0.0.0/33" is neither an IP address nor a CIDR block`},
		{"sendr=a@b.example", `unknown parameter "sendr" (did you mean "sender"?)`},
		{"sender=a@b.example&sender=c@d.example", `parameter "sender" is given 2 times`},
		{"skiptoken=bm90IGEgdG9rZW4=", `parameter skiptoken="bm90IGEgdG9rZW4=" is not a token from a next_link`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, _, body := h.do(http.MethodGet, "/v1/sweeping/mails?"+tc.query, nil)
			wantError(t, code, body, http.StatusBadRequest, tc.msg)
		})
	}
}

func TestSweepWindowDefaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 5, Mailboxes: 10})
	all, _ := h.sim.Mails("")
	count := func(from, to time.Time) int {
		n := 0
		for _, m := range all {
			d, _ := time.Parse(time.RFC3339Nano, m.MailMessageDeliveryTime)
			if !d.Before(from) && !d.After(to) {
				n++
			}
		}
		return n
	}
	day := 24 * time.Hour
	for _, tc := range []struct {
		query    string
		from, to time.Time
	}{
		{"", epoch.Add(-7 * day), epoch},
		{"lastndays=2", epoch.Add(-2 * day), epoch},
		{"start=" + epoch.Add(-9*day).Format(time.RFC3339), epoch.Add(-9 * day), epoch.Add(-2 * day)},
		{"end=" + epoch.Add(-1*day).Format(time.RFC3339), epoch.Add(-8 * day), epoch.Add(-1 * day)},
	} {
		got, _ := h.sweepAll("/v1/sweeping/mails?limit=1000&" + tc.query)
		want := count(tc.from, tc.to)
		if len(got) != want || want == 0 {
			t.Errorf("%q: %d mails, want %d", tc.query, len(got), want)
		}
	}
	if n := count(epoch.Add(-10*day), epoch.Add(-7*day)); n == 0 {
		t.Error("no generated mail is older than the 7-day default: the default is not exercised")
	}
}
