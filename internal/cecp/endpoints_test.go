package cecp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tok := StaticToken("x")
	for _, tc := range []struct {
		opts Options
		base string
		err  string
	}{
		{Options{Region: "us", Token: tok}, "https://api.tmcas.trendmicro.com", ""},
		{Options{Region: "EU", Token: tok}, "https://api-eu.tmcas.trendmicro.com", ""},
		{Options{Region: "jp", Token: tok}, "https://api.tmcas.trendmicro.co.jp", ""},
		{Options{Region: "au", Token: tok}, "https://api-au.tmcas.trendmicro.com", ""},
		{Options{Region: "uk", Token: tok}, "https://api.tmcas.trendmicro.co.uk", ""},
		{Options{Region: "ca", Token: tok}, "https://api-ca.tmcas.trendmicro.com", ""},
		{Options{Region: "sg", Token: tok}, "https://api.tmcas.trendmicro.com.sg", ""},
		{Options{Region: "in", Token: tok}, "https://api-in.tmcas.trendmicro.com", ""},
		{Options{BaseURL: "http://127.0.0.1:9090/", Token: tok}, "http://127.0.0.1:9090", ""},
		{Options{BaseURL: "https://proxy.example/cecp/v1", Token: tok}, "https://proxy.example/cecp", ""},
		{Options{Region: "mars", Token: tok}, "", `creating CECP client: unknown region "mars" (one of us, eu, jp, au, uk, ca, sg, in)`},
		{Options{Region: "us", BaseURL: "https://x", Token: tok}, "", "creating CECP client: set a region or a base URL, not both"},
		{Options{Token: tok}, "", "creating CECP client: set a region or a base URL"},
		{Options{BaseURL: "ftp://x", Token: tok}, "", `creating CECP client: base URL "ftp://x" is not an absolute http(s) URL`},
		{Options{BaseURL: "https://u:pw@x", Token: tok}, "", "creating CECP client: base URL https://u:xxxxx@x must not carry credentials, a query or a fragment"},
		{Options{Region: "us"}, "", "creating CECP client: no token source"},
	} {
		c, err := New(tc.opts)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v: error %v, want %q", tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil || c.BaseURL() != tc.base {
			t.Errorf("%v: got %v %v, want %s", tc.opts, c, err, tc.base)
		}
	}
}

func TestSecurityEvents(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 200, fixture(t, "security_events.json", ""))
	})
	c := newTestClient(t, v)
	p := c.SecurityEventPages(SecurityEventsQuery{Service: "exchange", Event: "securityrisk",
		Start: testNow.Add(-time.Hour), End: testNow, Limit: 2})
	page, err := p.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done() {
		t.Error("a page with an empty next_link is not the last")
	}
	if _, err := p.Next(context.Background()); err != ErrNoMorePages {
		t.Errorf("after the last page: %v", err)
	}
	reqs := v.requests()
	want := []recorded{{"GET", "/v1/siem/security_events",
		"end=2026-01-02T01%3A00%3A00.000Z&event=securityrisk&limit=2&service=exchange&start=2026-01-02T00%3A00%3A00.000Z",
		"", "Bearer " + testToken}}
	if !reflect.DeepEqual(reqs, want) {
		t.Fatalf("requests\n%+v\nwant\n%+v", reqs, want)
	}
	if page.TraceID != "634810de-341e-4f33-b94e-09fc356ab408" || page.LastLogItemGenerationTime != time.Date(2026, 1, 2, 0, 51, 40, 0, time.UTC) {
		t.Errorf("page metadata: %+v", page)
	}
	if len(page.Items) != 2 {
		t.Fatalf("%d items", len(page.Items))
	}
	e := page.Items[0]
	if e.LogItemID != "a9e2990a-8d7c-45e9-84a8-84b59087b2dd" || e.Service != "Exchange" || e.Event != "security_risk_scan" ||
		e.Message.AffectedUser != "alice@contoso.example" || e.Message.FileSHA256 != "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f" ||
		!reflect.DeepEqual(e.Message.MailMessageRecipient, Strings{"alice@contoso.example", "bob@contoso.example"}) ||
		e.Message.DetectionTime.Time != time.Date(2026, 1, 2, 0, 51, 30, 0, time.UTC) || !e.Message.FileUploadTime.IsZero() {
		t.Errorf("first event: %+v", e)
	}
	// Epoch milliseconds decode like ISO strings; null lists decode empty.
	e2 := page.Items[1]
	if e2.Message.DetectionTime.Time != time.Date(2026, 1, 2, 0, 51, 40, 0, time.UTC) || e2.Message.MailMessageRecipient != nil || e2.Service != "OneDrive" {
		t.Errorf("second event: %+v", e2)
	}
	// Re-encoding keeps the vendor's field names and timestamp format.
	out := mustJSON(t, e2)
	if !strings.Contains(out, `"detection_time":"2026-01-02T00:51:40.000Z"`) || !strings.Contains(out, `"mail_message_recipient":[]`) ||
		strings.Contains(out, "mail_message_submit_time") {
		t.Errorf("re-encoded: %s", out)
	}
}

// TestWindowDefaults checks that times and limits the caller leaves out are left to the vendor's defaults,
// except the page size, which the client raises to the largest page the bound can use.
func TestWindowDefaults(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 200, []byte(`{"next_link":"","security_events":[],"quarantine_events":[],"value":[],"actions":[]}`))
	})
	c := newTestClient(t, v)
	ctx := context.Background()
	only := func(start, end time.Time) SecurityEventsQuery {
		return SecurityEventsQuery{Service: "onedrive", Event: "dlp", Start: start, End: end}
	}
	for _, p := range []interface {
		Next(context.Context) (Page[SecurityEvent], error)
	}{
		c.SecurityEventPages(only(time.Time{}, time.Time{})),
		c.SecurityEventPages(only(testNow.Add(-time.Hour), time.Time{})),
		c.SecurityEventPages(only(time.Time{}, testNow)),
		c.SecurityEventPages(SecurityEventsQuery{Service: "gmail", Event: "ransomware", MaxResults: 7}),
	} {
		if _, err := p.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.QuarantineEventPages(QuarantineEventsQuery{}).Next(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SweepPages(SweepQuery{}).Next(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SweepPages(SweepQuery{MaxResults: 20}).Next(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MailActionResultPages(ActionResultsQuery{}).Next(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range v.requests() {
		got = append(got, r.Path+"?"+r.Query)
	}
	want := []string{
		"/v1/siem/security_events?event=dlp&limit=500&service=onedrive",
		"/v1/siem/security_events?event=dlp&limit=500&service=onedrive&start=2026-01-02T00%3A00%3A00.000Z",
		"/v1/siem/security_events?end=2026-01-02T01%3A00%3A00.000Z&event=dlp&limit=500&service=onedrive",
		"/v1/siem/security_events?event=ransomware&limit=7&service=gmail",
		"/v1/siem/quarantine_events?limit=500&service=exchange",
		"/v1/sweeping/mails?limit=1000",
		"/v1/sweeping/mails?limit=20",
		"/v1/mitigation/mails?limit=500",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestQuarantineEvents(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 200, fixture(t, "quarantine_events.json", ""))
	})
	c := newTestClient(t, v)
	var got []QuarantineEvent
	for ev, err := range c.QuarantineEvents(context.Background(), QuarantineEventsQuery{Start: testNow.Add(-6 * 24 * time.Hour), Limit: 50}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if q := v.requests()[0].Query; q != "limit=50&service=exchange&start=2025-12-27T01%3A00%3A00.000Z" {
		t.Errorf("query %s", q)
	}
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	m := got[0].Message
	if got[0].Service != "Exchange Online" || m.MailLogID != "4d7e0b0b-7f54-4b6a-a1f0-8d2f6a0e4a11" || m.MailBlobPath != "quarantine/2026/01/02/4d7e0b0b.eml" ||
		m.MailBackupBlobPath != "backup/2026/01/02/4d7e0b0b.eml" || m.MailMessageDirection != "Inbound" || m.MailQuarantineType != "Malware" ||
		m.DetectionTime.Time != time.Date(2026, 1, 2, 0, 52, 10, 0, time.UTC) {
		t.Errorf("event: %+v", got[0])
	}
}

func TestSweepEveryFilter(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 200, []byte(`{"current_link":"","next_link":"","traceId":"t","value":[]}`))
	})
	c := newTestClient(t, v)
	q := SweepQuery{
		Mailbox: "a*ice@contoso.example", Start: testNow.Add(-48 * time.Hour), End: testNow, Subject: `"Invoice 4411"`,
		FileSHA1: "3395856CE81F2B7382DEE72602F798B642F14140", FileSHA256: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
		FileName: "invoice.docm", FileExtension: "docm", URL: "https://evil.example/pay", Sender: "billing@evil.example",
		Recipient: "bob@contoso.example", MessageID: "<CAF=8yq1@mail.example>", SourceIP: "203.0.113.0/24", SourceDomain: "evil.example",
		Limit: 100,
	}
	if _, err := c.SweepPages(q).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	q2 := SweepQuery{LastNDays: 3, SourceIP: "2001:db8::1"}
	if _, err := c.SweepPages(q2).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := v.requests()
	want := "end=2026-01-02T01%3A00%3A00.000Z&file_extension=docm&file_name=invoice.docm&file_sha1=3395856CE81F2B7382DEE72602F798B642F14140" +
		"&file_sha256=275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f&limit=100&mailbox=a%2Aice%40contoso.example" +
		"&message_id=%3CCAF%3D8yq1%40mail.example%3E&recipient=bob%40contoso.example&sender=billing%40evil.example" +
		"&source_domain=evil.example&source_ip=203.0.113.0%2F24&start=2025-12-31T01%3A00%3A00.000Z&subject=%22Invoice+4411%22" +
		"&url=https%3A%2F%2Fevil.example%2Fpay"
	if reqs[0].Query != want {
		t.Errorf("query\n%s\nwant\n%s", reqs[0].Query, want)
	}
	if reqs[1].Query != "lastndays=3&limit=1000&source_ip=2001%3Adb8%3A%3A1" {
		t.Errorf("query %s", reqs[1].Query)
	}
}

// TestPagination follows next_link page by page, stops at the bound without fetching more, and decodes the
// recorded sweep pages.
func TestPagination(t *testing.T) {
	t.Parallel()
	var v *vendor
	v = newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Query().Get("skiptoken") == "" {
			reply(w, 200, fixture(t, "sweep_page1.json", v.url()))
			return
		}
		reply(w, 200, fixture(t, "sweep_page2.json", v.url()))
	})
	c := newTestClient(t, v)
	mails, err := c.SweepPages(SweepQuery{Sender: "billing@evil.example", Limit: 2}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reqs := v.requests()
	if len(reqs) != 2 || reqs[1].Query != "sender=billing%40evil.example&limit=2&skiptoken=WzE3NjczMTUwNjIwMDAsIkFBTWtBR1kzT1RReU16TXpMVFpqYjJKaT0iXQ==" ||
		reqs[1].Auth != "Bearer "+testToken {
		t.Fatalf("requests: %+v", reqs)
	}
	if len(mails) != 3 {
		t.Fatalf("%d mails", len(mails))
	}
	m := mails[0]
	if m.Mailbox != "alice@contoso.example" || len(m.MailURLs) != 2 || m.MailAttachments[0].FileSHA1 != "3395856ce81f2b7382dee72602f798b642f14140" ||
		!reflect.DeepEqual(m.MailInternetHeaders[1], Header{HeaderName: "Authentication-Results", Value: "spf=fail smtp.mailfrom=evil.example"}) || m.SourceIP != "203.0.113.7" ||
		m.MailMessageDeliveryTime.Time != time.Date(2026, 1, 2, 0, 51, 2, 0, time.UTC) {
		t.Errorf("first mail: %+v", m)
	}
	// A single string where a list is expected, and null lists, are tolerated.
	if got := mails[2]; !reflect.DeepEqual(got.MailMessageRecipient, Strings{"carol@contoso.example"}) || got.MailURLs != nil || got.MailAttachments != nil {
		t.Errorf("third mail: %+v", got)
	}

	// The bound stops inside the first page and never fetches the second.
	before := len(v.requests())
	p := c.SweepPages(SweepQuery{Sender: "billing@evil.example", MaxResults: 1})
	got, err := p.Collect(context.Background())
	if err != nil || len(got) != 1 || len(v.requests()) != before+1 || !p.Done() {
		t.Fatalf("bounded: %d items, %v, %d requests", len(got), err, len(v.requests())-before)
	}
	if q := v.requests()[before].Query; q != "limit=1&sender=billing%40evil.example" {
		t.Errorf("bounded query %s", q)
	}
	// The bound on a page boundary: 2 items, no second request, and the page still says there is more.
	before = len(v.requests())
	p = c.SweepPages(SweepQuery{Sender: "billing@evil.example", Limit: 2, MaxResults: 2})
	page, err := p.Next(context.Background())
	if err != nil || len(page.Items) != 2 || !p.Done() || !strings.Contains(page.NextLink, "skiptoken=") {
		t.Fatalf("bound on boundary: %d items, %v, done %v, next %q", len(page.Items), err, p.Done(), page.NextLink)
	}
	if _, err := p.Next(context.Background()); err != ErrNoMorePages || len(v.requests()) != before+1 {
		t.Fatalf("after the bound: %v, %d requests", err, len(v.requests())-before)
	}
	// Breaking out of the iterator stops fetching.
	before = len(v.requests())
	for range c.Sweep(context.Background(), SweepQuery{Sender: "billing@evil.example", Limit: 2}) {
		break
	}
	if len(v.requests()) != before+1 {
		t.Errorf("break fetched %d pages", len(v.requests())-before)
	}
}

func TestNextLinkRefused(t *testing.T) {
	t.Parallel()
	other := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 200, []byte(`{"value":[]}`))
	})
	for _, tc := range []struct {
		name, link, msg string
	}{
		{"other host", other.url() + "/v1/sweeping/mails?skiptoken=x", "next_link points at " + other.url() + ", not http://127.0.0.1:PORT; refusing to send the token there"},
		{"other scheme", "https://HOST/v1/sweeping/mails?skiptoken=x", "next_link points at https://HOST, not http://HOST; refusing to send the token there"},
		{"credentials", "http://evil@HOST/v1/sweeping/mails", "next_link points at http://HOST, not http://HOST; refusing to send the token there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v *vendor
			v = newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				link := strings.ReplaceAll(tc.link, "HOST", strings.TrimPrefix(v.url(), "http://"))
				reply(w, 200, []byte(fmt.Sprintf(`{"next_link":%q,"value":[{"mailbox":"a@b.example"}]}`, link)))
			})
			c := newTestClient(t, v)
			mails, err := c.SweepPages(SweepQuery{}).Collect(context.Background())
			if len(mails) != 1 {
				t.Errorf("the first page's items were lost: %d", len(mails))
			}
			e := asError(t, err)
			host := strings.TrimPrefix(v.url(), "http://")
			want := "GET /v1/sweeping/mails: " + strings.NewReplacer("127.0.0.1:PORT", host, "HOST", host).Replace(tc.msg)
			if e.Error() != want || !e.Rejected() || e.Transient() {
				t.Errorf("error %q (rejected %v)\nwant %q", e.Error(), e.Rejected(), want)
			}
			if len(other.requests()) != 0 || len(v.requests()) != 1 {
				t.Errorf("requests: ours %d, other host %d", len(v.requests()), len(other.requests()))
			}
		})
	}
}

func TestPagerLoops(t *testing.T) {
	t.Parallel()
	var v *vendor
	n := 0
	v = newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		n++
		switch r.URL.Path {
		case "/v1/sweeping/mails": // links to itself
			reply(w, 200, []byte(fmt.Sprintf(`{"next_link":%q,"value":[{"mailbox":"a@b.example"}]}`, v.url()+r.URL.RequestURI())))
		default: // empty pages forever
			reply(w, 200, []byte(fmt.Sprintf(`{"next_link":%q,"actions":[]}`, v.url()+"/v1/mitigation/mails?skiptoken="+fmt.Sprint(n))))
		}
	})
	c := newTestClient(t, v)
	_, err := c.SweepPages(SweepQuery{}).Collect(context.Background())
	if e := asError(t, err); e.Error() != "GET /v1/sweeping/mails: next_link repeats a page already read; stopping" {
		t.Errorf("self link: %v", e)
	}
	_, err = c.MailActionResultPages(ActionResultsQuery{}).Collect(context.Background())
	if e := asError(t, err); e.Error() != "GET /v1/mitigation/mails: 5 empty pages in a row, each with a next_link; stopping" {
		t.Errorf("empty pages: %v", e)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { t.Errorf("request sent: %s", r.URL) })
	c := newTestClient(t, v, func(o *Options) { o.MaxBatch = 2 })
	ctx := context.Background()
	nextErr := func(err error) string {
		if err == nil {
			return ""
		}
		if _, ok := err.(*ValidationError); !ok {
			t.Errorf("%T is not a *ValidationError: %v", err, err)
		}
		return err.Error()
	}
	pageErr := func(p interface {
		Next(context.Context) (Page[SweepMail], error)
	}) string {
		_, err := p.Next(ctx)
		return nextErr(err)
	}
	_ = pageErr
	restore := MailAction{ActionType: MailRestore, Service: "exchange", Mailbox: "a@b.example", MailUniqueID: "u"}
	for _, tc := range []struct {
		name string
		got  func() error
		want string
	}{
		{"events enums", func() error {
			_, err := c.SecurityEventPages(SecurityEventsQuery{Service: "exchnage", Event: "virus"}).Next(ctx)
			return err
		}, `invalid security events query: service "exchnage" is not one of exchange, sharepoint, onedrive, dropbox, box, googledrive, gmail, teams, exchangeserver, salesforce_sandbox, salesforce_production, teams_chat (did you mean "exchange"?); event "virus" is not one of securityrisk, virtualanalyzer, ransomware, dlp`},
		{"events required", func() error {
			_, err := c.SecurityEventPages(SecurityEventsQuery{}).Next(ctx)
			return err
		}, `invalid security events query: service is required (one of exchange, sharepoint, onedrive, dropbox, box, googledrive, gmail, teams, exchangeserver, salesforce_sandbox, salesforce_production, teams_chat); event is required (one of securityrisk, virtualanalyzer, ransomware, dlp)`},
		{"events window", func() error {
			_, err := c.SecurityEventPages(SecurityEventsQuery{Service: "box", Event: "dlp", Start: testNow.Add(-73 * time.Hour), End: testNow.Add(-74 * time.Hour), Limit: 501}).Next(ctx)
			return err
		}, `invalid security events query: start 2025-12-30T00:00:00Z is not before end 2025-12-29T23:00:00Z; start 2025-12-30T00:00:00Z is older than 72 hours ago (the vendor keeps 72 hours of events); limit 501 is outside 1..500`},
		{"events old end", func() error {
			_, err := c.SecurityEventPages(SecurityEventsQuery{Service: "box", Event: "dlp", End: testNow.Add(-80 * time.Hour)}).Next(ctx)
			return err
		}, `invalid security events query: end 2025-12-29T17:00:00Z is older than 72 hours ago (the vendor keeps 72 hours of events)`},
		{"quarantine", func() error {
			_, err := c.QuarantineEventPages(QuarantineEventsQuery{Service: "gmail", Start: testNow.Add(-8 * 24 * time.Hour), Limit: -1}).Next(ctx)
			return err
		}, `invalid quarantine events query: service "gmail" is not one of exchange; start 2025-12-25T01:00:00Z is older than 7 days ago (the vendor keeps 7 days of quarantine events); limit -1 is outside 1..500`},
		{"sweep", func() error {
			_, err := c.SweepPages(SweepQuery{LastNDays: 91, Start: testNow.Add(-time.Hour), Limit: 1001, FileSHA1: "xyz", FileSHA256: "abc",
				SourceIP: "300.1.1.1", Subject: "a\nb"}).Next(ctx)
			return err
		}, `invalid sweep query: lastndays cannot be combined with start or end; lastndays 91 is outside 1..90 (the vendor keeps 90 days of mail metadata); limit 1001 is outside 1..1000; file_sha1 "xyz" is not 40 hexadecimal digits; file_sha256 "abc" is not 64 hexadecimal digits; source_ip "300.1.1.1" is neither an IP address nor a CIDR block; subject contains control characters`},
		{"sweep old", func() error {
			_, err := c.SweepPages(SweepQuery{Start: testNow.Add(-91 * 24 * time.Hour)}).Next(ctx)
			return err
		}, `invalid sweep query: start 2025-10-03T01:00:00Z is older than 90 days ago (the vendor keeps 90 days of mail metadata)`},
		{"mail batch", func() error {
			_, err := c.MitigateMails(ctx, []MailAction{
				{ActionType: "MAIL_DELET", Service: "exchange", Mailbox: "a@b.example", MailUniqueID: "u"},
				{ActionType: MailQuarantine, Service: "gmail", AccountProvider: "office365"},
			})
			return err
		}, `invalid mail mitigation batch: mail 1: action_type "MAIL_DELET" is not one of MAIL_DELETE, MAIL_QUARANTINE, MAIL_RESTORE (did you mean "MAIL_DELETE"?); mail 2: account_provider "office365" does not go with service gmail (use google); mail 2: mailbox is required; mail 2: mail_message_id or mail_unique_id is required (both are recommended); mail 2: gmail allows only MAIL_DELETE, not MAIL_QUARANTINE`},
		{"restore", func() error {
			_, err := c.MitigateMails(ctx, []MailAction{restore, {ActionType: MailRestore, Service: "gmail", Mailbox: "a@b.example", MailMessageID: "<m>"}})
			return err
		}, `invalid mail mitigation batch: mail 1: MAIL_RESTORE needs detection_time and mail_log_id (from a quarantine event); mail 2: gmail allows only MAIL_DELETE, not MAIL_RESTORE; mail 2: MAIL_RESTORE needs detection_time and mail_log_id (from a quarantine event)`},
		{"mail service", func() error {
			_, err := c.MitigateMails(ctx, []MailAction{{ActionType: MailDelete, Mailbox: "a@b.example", MailUniqueID: "u"}})
			return err
		}, `invalid mail mitigation batch: mail 1: service is required (one of exchange, gmail)`},
		{"batch size", func() error {
			a := MailAction{ActionType: MailDelete, Service: "exchange", Mailbox: "a@b.example", MailUniqueID: "u"}
			_, err := c.MitigateMails(ctx, []MailAction{a, a, a})
			return err
		}, `invalid mail mitigation batch: 3 mails is more than the batch size of 2 (split the mails into batches)`},
		{"empty batch", func() error {
			_, err := c.MitigateMails(ctx, nil)
			return err
		}, `invalid mail mitigation batch: no mails`},
		{"accounts", func() error {
			_, err := c.MitigateAccounts(ctx, []AccountAction{{ActionType: "ACCOUNT_DELETE", AccountUserEmail: "bob"},
				{ActionType: AccountDisable, Service: "gmail", AccountProvider: "google", AccountUserEmail: "c@d.example"}})
			return err
		}, `invalid account mitigation batch: account 1: action_type "ACCOUNT_DELETE" is not one of ACCOUNT_DISABLE, ACCOUNT_ENABLE_MFA, ACCOUNT_RESET_PASSWORD, ACCOUNT_REVOKE_SIGNIN_SESSIONS; account 1: account_user_email "bob" is not an email address; account 2: only exchange/office365 accounts can be mitigated, not gmail/google`},
		{"action results", func() error {
			_, err := c.MailActionResultPages(ActionResultsQuery{Start: testNow.Add(-73 * time.Hour), End: testNow, Limit: 600}).Next(ctx)
			return err
		}, `invalid mail action results query: start and end are 73h0m0s apart; the vendor allows at most 72h; start 2025-12-30T00:00:00Z is older than 72 hours ago (the vendor keeps 72 hours of action results); limit 600 is outside 1..500`},
		// Not only the width: a narrow window that ended days ago is out of reach too.
		{"action results age", func() error {
			_, err := c.AccountActionResultPages(ActionResultsQuery{End: testNow.Add(-80 * time.Hour)}).Next(ctx)
			return err
		}, `invalid account action results query: end 2025-12-29T17:00:00Z is older than 72 hours ago (the vendor keeps 72 hours of action results)`},
		{"blocklist action", func() error {
			return c.UpdateBlockedLists(ctx, "add", Rules{Senders: []string{"a@b.example"}})
		}, `invalid blocked list update: action_type "add" is not one of create, delete`},
		{"blocklist entries", func() error {
			return c.UpdateBlockedLists(ctx, BlocklistCreate, Rules{Senders: []string{"", "a b@c.example"}, FileHashes: []string{"123"}, File256Hashes: []string{"3395856ce81f2b7382dee72602f798b642f14140"}})
		}, `invalid blocked list update: senders entry "" is empty; senders entry "a b@c.example" contains spaces or control characters; filehashes entry "123" is not 40 hexadecimal digits; file256hashes entry "3395856ce81f2b7382dee72602f798b642f14140" is not 64 hexadecimal digits`},
		{"blocklist empty", func() error {
			return c.UpdateBlockedLists(ctx, BlocklistDelete, Rules{})
		}, `invalid blocked list update: no entries: give at least one sender, URL, SHA-1 or SHA-256`},
		{"blocklist too many", func() error {
			urls := make([]string, MaxBlocklistItems+1)
			for i := range urls {
				urls[i] = fmt.Sprintf("u%d.example", i)
			}
			return c.UpdateBlockedLists(ctx, BlocklistCreate, Rules{URLs: urls})
		}, `invalid blocked list update: 2049 urls is more than the 2048 one update may carry`},
		{"download", func() error {
			_, err := c.DownloadQuarantinedMail(ctx, QuarantineEvent{Service: "gmail"}, "")
			return err
		}, `invalid quarantined mail download: service "gmail" is not exchange: only Exchange Online mail can be downloaded; mail_unique_id, mail_log_id, mail_blob_path, mail_backup_blob_path, mail_message_direction are required (from the mail's quarantine event)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextErr(tc.got()); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	if n := len(v.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

func TestMitigateMails(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 201, fixture(t, "mitigation_created.json", ""))
	})
	c := newTestClient(t, v)
	delivered := time.Date(2026, 1, 2, 0, 51, 2, 0, time.UTC)
	res, err := c.MitigateMails(context.Background(), []MailAction{
		{ActionType: MailQuarantine, Service: "exchange", Mailbox: "alice@contoso.example", MailMessageID: "<CAF=8yq1@mail.example>",
			MailUniqueID: "AAMk1", MailMessageDeliveryTime: T(delivered)},
		{ActionType: MailDelete, Service: "gmail", Mailbox: "bob@contoso.example", MailMessageID: "<g@mail.example>"},
		MailActionFromQuarantine(MailRestore, QuarantineEvent{Message: QuarantineMessage{Mailbox: "carol@contoso.example",
			MailUniqueID: "AAMk3", MailLogID: "log-3", DetectionTime: T(delivered.Add(time.Minute))}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res != (BatchResult{BatchID: "02bc9a41-f5ac-47b8-8fd6-4fcc038d5578", TraceID: "9c06c712-3f0a-4d08-be5c-e504295dc570"}) {
		t.Errorf("result %+v", res)
	}
	r := v.requests()[0]
	want := `[{"action_type":"MAIL_QUARANTINE","service":"exchange","account_provider":"office365","mailbox":"alice@contoso.example","mail_message_id":"\u003cCAF=8yq1@mail.example\u003e","mail_unique_id":"AAMk1","mail_message_delivery_time":"2026-01-02T00:51:02.000Z"},` +
		`{"action_type":"MAIL_DELETE","service":"gmail","account_provider":"google","mailbox":"bob@contoso.example","mail_message_id":"\u003cg@mail.example\u003e"},` +
		`{"action_type":"MAIL_RESTORE","service":"exchange","account_provider":"office365","mailbox":"carol@contoso.example","mail_unique_id":"AAMk3","detection_time":"2026-01-02T00:52:02.000Z","mail_log_id":"log-3"}]`
	if r.Method != "POST" || r.Path != "/v1/mitigation/mails" || r.Query != "" || r.Body != want {
		t.Errorf("request %s %s?%s\n%s\nwant\n%s", r.Method, r.Path, r.Query, r.Body, want)
	}
}

func TestMitigateAccounts(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 201, fixture(t, "mitigation_created.json", ""))
	})
	c := newTestClient(t, v)
	res, err := c.MitigateAccounts(context.Background(), []AccountAction{
		{ActionType: AccountDisable, AccountUserEmail: "alice@contoso.example"},
		{ActionType: AccountRevokeSigninSessions, Service: "exchange", AccountProvider: "office365", AccountUserEmail: "bob@contoso.example"},
	})
	if err != nil || res.BatchID != "02bc9a41-f5ac-47b8-8fd6-4fcc038d5578" {
		t.Fatal(res, err)
	}
	r := v.requests()[0]
	want := `[{"action_type":"ACCOUNT_DISABLE","service":"exchange","account_provider":"office365","account_user_email":"alice@contoso.example"},` +
		`{"action_type":"ACCOUNT_REVOKE_SIGNIN_SESSIONS","service":"exchange","account_provider":"office365","account_user_email":"bob@contoso.example"}]`
	if r.Method != "POST" || r.Path != "/v1/mitigation/accounts" || r.Body != want {
		t.Errorf("request %s %s\n%s", r.Method, r.Path, r.Body)
	}
}

func TestMitigationWithoutBatchID(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		reply(w, 201, []byte(`{"code":0,"msg":"","traceId":"t-1"}`))
	})
	c := newTestClient(t, v)
	_, err := c.MitigateAccounts(context.Background(), []AccountAction{{ActionType: AccountEnableMFA, AccountUserEmail: "a@b.example"}})
	e := asError(t, err)
	if !e.MaybeApplied() || !e.Transient() || e.Error() != "POST /v1/mitigation/accounts: HTTP 201 Created, unreadable body: the answer has no batch_id; the vendor may have applied the request" {
		t.Errorf("%v (maybe applied %v)", e, e.MaybeApplied())
	}
}

func TestActionResults(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/v1/mitigation/accounts" {
			reply(w, 200, fixture(t, "account_actions.json", ""))
			return
		}
		reply(w, 200, fixture(t, "mail_actions.json", ""))
	})
	c := newTestClient(t, v)
	p := c.MailActionResultPages(ActionResultsQuery{BatchID: "e371b88f-1b23-4cf1-b372-1144a9af08fa"})
	page, err := p.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done() || page.Count != 3 || page.NextLink != "" {
		t.Errorf("page: done %v count %d next %q", p.Done(), page.Count, page.NextLink)
	}
	if q := v.requests()[0].Query; q != "batch_id=e371b88f-1b23-4cf1-b372-1144a9af08fa&limit=500" {
		t.Errorf("query %s", q)
	}
	var statuses []string
	for _, a := range page.Items {
		statuses = append(statuses, fmt.Sprintf("%s/%d/%s/%v", a.Status, a.ErrorCode, a.ErrorMessage, a.Status.Terminal()))
	}
	if got := strings.Join(statuses, " "); got != "Success/0//true Skipped/200/ResourceNotFound/true Failed/-999/The action for these mails failed./true" {
		t.Errorf("statuses %s", got)
	}
	// Executed-at earlier than requested-at is kept as the vendor sent it.
	if a := page.Items[0]; !a.ActionExecutedAt.Before(a.ActionRequestedAt.Time) {
		t.Errorf("times reordered: %+v", a)
	}
	accts, err := c.AccountActionResultPages(ActionResultsQuery{Start: testNow.Add(-time.Hour), End: testNow, Limit: 10}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 1 || accts[0].Status != StatusExecuting || accts[0].Status.Terminal() || accts[0].ErrorCode != 0 || accts[0].AccountUserEmail != "alice@contoso.example" {
		t.Errorf("accounts: %+v", accts)
	}
	if r := v.requests()[1]; r.Path != "/v1/mitigation/accounts" || r.Query != "end=2026-01-02T01%3A00%3A00.000Z&limit=10&start=2026-01-02T00%3A00%3A00.000Z" {
		t.Errorf("request %+v", r)
	}
}

func TestBlockedLists(t *testing.T) {
	t.Parallel()
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Method == "GET" {
			reply(w, 200, fixture(t, "blocklist_get.json", ""))
			return
		}
		reply(w, 200, fixture(t, "blocklist_update.json", ""))
	})
	c := newTestClient(t, v)
	ctx := context.Background()
	rules, err := c.BlockedLists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{Senders: []string{"456@gmail.example", "billing@evil.example"}, URLs: []string{"evil.example/pay/", "789.example"},
		FileHashes: []string{"f3cdddb37f6a933d6a256bd98b4bc703a448c621"}, File256Hashes: []string{}}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("rules %+v", rules)
	}
	if got := mustJSON(t, Rules{Senders: []string{"a@b.example"}}); got != `{"senders":["a@b.example"],"urls":[],"filehashes":[],"file256hashes":[]}` {
		t.Errorf("rules JSON %s", got)
	}

	if err := c.UpdateBlockedLists(ctx, BlocklistCreate, Rules{Senders: []string{" x@y.example ", "X@Y.example"}, FileHashes: []string{"F3CDDDB37F6A933D6A256BD98B4BC703A448C621"}}); err != nil {
		t.Fatal(err)
	}
	if r := v.requests()[1]; r.Method != "POST" || r.Path != "/v1/remediation/mails" ||
		r.Body != `{"action_type":"create","rules":{"senders":["x@y.example"],"filehashes":["f3cdddb37f6a933d6a256bd98b4bc703a448c621"]}}` {
		t.Errorf("update %+v", r)
	}

	// Add reads first and sends only what is missing: URLs compare without scheme and trailing slash.
	ch, err := c.AddToBlockedLists(ctx, Rules{Senders: []string{"BILLING@evil.example", "new@evil.example"},
		URLs: []string{"https://evil.example/pay", "http://new.example/x"}, File256Hashes: []string{"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, ch); got != `{"sent":{"senders":["new@evil.example"],"urls":["http://new.example/x"],"filehashes":[],"file256hashes":["275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"]},`+
		`"unchanged":{"senders":["BILLING@evil.example"],"urls":["https://evil.example/pay"],"filehashes":[],"file256hashes":[]}}` {
		t.Errorf("add change %s", got)
	}
	if r := v.requests()[3]; r.Body != `{"action_type":"create","rules":{"senders":["new@evil.example"],"urls":["http://new.example/x"],"file256hashes":["275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"]}}` {
		t.Errorf("add body %s", r.Body)
	}
	// Adding what is there sends nothing.
	before := len(v.requests())
	if ch, err := c.AddToBlockedLists(ctx, Rules{Senders: []string{"456@gmail.example"}}); err != nil || ch.Sent.Len() != 0 || len(v.requests()) != before+1 {
		t.Errorf("idempotent add: %+v %v, %d requests", ch, err, len(v.requests())-before)
	}
	// Remove sends entries as stored.
	ch, err = c.RemoveFromBlockedLists(ctx, Rules{URLs: []string{"HTTPS://Evil.Example/pay", "gone.example"}, FileHashes: []string{"f3cdddb37f6a933d6a256bd98b4bc703a448c621"}})
	if err != nil {
		t.Fatal(err)
	}
	if last := v.requests()[len(v.requests())-1]; last.Body != `{"action_type":"delete","rules":{"urls":["evil.example/pay/"],"filehashes":["f3cdddb37f6a933d6a256bd98b4bc703a448c621"]}}` {
		t.Errorf("remove body %s", last.Body)
	}
	if !reflect.DeepEqual(ch.Unchanged.URLs, []string{"gone.example"}) {
		t.Errorf("remove change %+v", ch)
	}
}

// TestBlocklistCapacity: 2,048 bounds one update, not a list. A list that holds 2,048 entries takes another,
// and 5,000 new entries go in three updates after one read.
func TestBlocklistCapacity(t *testing.T) {
	t.Parallel()
	full := make([]string, MaxBlocklistItems)
	for i := range full {
		full[i] = fmt.Sprintf("s%d@x.example", i)
	}
	body, _ := json.Marshal(map[string]any{"code": 0, "rules": map[string]any{"senders": full}})
	v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.Method == http.MethodPost {
			reply(w, 200, []byte(`{"code":0,"message":"Add rules successfully."}`))
			return
		}
		reply(w, 200, body)
	})
	c := newTestClient(t, v)
	ch, err := c.AddToBlockedLists(context.Background(), Rules{Senders: []string{"one-more@x.example", full[0]}})
	if err != nil || !reflect.DeepEqual(ch.Sent.Senders, []string{"one-more@x.example"}) || len(ch.Unchanged.Senders) != 1 {
		t.Fatalf("adding to a list of 2048: %+v %v", ch, err)
	}
	if reqs := v.requests(); len(reqs) != 2 || reqs[1].Body != `{"action_type":"create","rules":{"senders":["one-more@x.example"]}}` {
		t.Errorf("requests %+v", reqs)
	}
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("new%d@y.example", i)
	}
	before := len(v.requests())
	ch, err = c.AddToBlockedLists(context.Background(), Rules{Senders: many})
	if err != nil || len(ch.Sent.Senders) != 5000 {
		t.Fatalf("adding 5000: %d %v", len(ch.Sent.Senders), err)
	}
	reqs := v.requests()[before:]
	if len(reqs) != 4 || reqs[0].Method != "GET" || reqs[1].Method != "POST" || reqs[3].Method != "POST" {
		t.Fatalf("%d requests: want one read and three updates", len(reqs))
	}
	var last struct{ Rules Rules }
	json.Unmarshal([]byte(reqs[3].Body), &last)
	if len(last.Rules.Senders) != 5000-2*MaxBlocklistItems {
		t.Errorf("last update carries %d", len(last.Rules.Senders))
	}
}

func TestDownload(t *testing.T) {
	t.Parallel()
	zip := []byte("PK\x03\x04 a zip archive")
	ev := QuarantineEvent{Service: "Exchange Online", Message: QuarantineMessage{AffectedUser: "alice@contoso.example",
		Mailbox: "alice@contoso.example", MailUniqueID: "AAMk1", MailLogID: "log-1", MailMessageID: "<m@x>",
		MailBlobPath: "q/1.eml", MailBackupBlobPath: "b/1.eml", MailMessageDirection: "Inbound", MailMessageSubject: "not sent"}}
	t.Run("direct", func(t *testing.T) {
		v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/zip")
			_, _ = w.Write(zip)
		})
		c := newTestClient(t, v)
		got, err := c.DownloadQuarantinedMail(context.Background(), ev, "pa55word-zip")
		if err != nil || string(got) != string(zip) {
			t.Fatal(got, err)
		}
		r := v.requests()[0]
		want := `{"quarantine_events":[{"service":"Exchange Online","message":{"affected_user":"alice@contoso.example","mailbox":"alice@contoso.example","mail_unique_id":"AAMk1","mail_log_id":"log-1","mail_message_id":"\u003cm@x\u003e","mail_blob_path":"q/1.eml","mail_backup_blob_path":"b/1.eml","mail_message_direction":"Inbound"}}],"download_options":{"compression_password":"pa55word-zip"}}`
		if r.Method != "POST" || r.Path != "/v1/siem/quarantine_mails" || r.Body != want {
			t.Errorf("request %s %s\n%s\nwant\n%s", r.Method, r.Path, r.Body, want)
		}
	})
	t.Run("fallback on 404", func(t *testing.T) {
		v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if r.URL.Path == "/v1/siem/quarantine_mails" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(zip)
		})
		c := newTestClient(t, v)
		for range 2 {
			if got, err := c.DownloadQuarantinedMail(context.Background(), ev, ""); err != nil || string(got) != string(zip) {
				t.Fatal(got, err)
			}
		}
		var paths []string
		for _, r := range v.requests() {
			paths = append(paths, r.Path)
		}
		// The second download goes straight to the spelling that worked.
		if got := strings.Join(paths, " "); got != "/v1/siem/quarantine_mails /v1/siem/quanrantine_mails /v1/siem/quanrantine_mails" {
			t.Errorf("paths %s", got)
		}
		if !strings.Contains(v.requests()[0].Body, `"download_options":{"compression_password":""}`) {
			t.Errorf("body %s", v.requests()[0].Body)
		}
	})
	t.Run("404 twice", func(t *testing.T) {
		v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			reply(w, 404, []byte(`{"code":404001,"msg":"mail not found","traceId":"t-404"}`))
		})
		c := newTestClient(t, v)
		_, err := c.DownloadQuarantinedMail(context.Background(), ev, "")
		if e := asError(t, err); e.Error() != `POST /v1/siem/quanrantine_mails: HTTP 404 Not Found, vendor code 404001: "mail not found" (trace id t-404)` || !e.Rejected() || e.MaybeApplied() {
			t.Errorf("error %v", e)
		}
		if len(v.requests()) != 2 {
			t.Errorf("%d requests", len(v.requests()))
		}
	})
	t.Run("not a zip", func(t *testing.T) {
		v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			_, _ = w.Write([]byte("<html>pa55word-zip</html>"))
		})
		c := newTestClient(t, v)
		_, err := c.DownloadQuarantinedMail(context.Background(), ev, "pa55word-zip")
		e := asError(t, err)
		if e.Error() != `POST /v1/siem/quarantine_mails: HTTP 200 OK, unreadable body: the answer is not a ZIP archive (25 bytes starting "<html>[redacted]</html>")` || !e.Transient() || e.MaybeApplied() {
			t.Errorf("error %v", e)
		}
	})
	t.Run("rate limited in a 200", func(t *testing.T) {
		v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			reply(w, 200, fixture(t, "error_429.json", ""))
		})
		c := newTestClient(t, v)
		_, err := c.DownloadQuarantinedMail(context.Background(), ev, "")
		if e := asError(t, err); !e.RateLimited() || e.Status != 200 {
			t.Errorf("error %v", e)
		}
	})
	t.Run("too large", func(t *testing.T) {
		v := newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			_, _ = w.Write(append([]byte("PK\x03\x04"), make([]byte, 2000)...))
		})
		c := newTestClient(t, v, func(o *Options) { o.MaxDownloadBytes = 1024 })
		_, err := c.DownloadQuarantinedMail(context.Background(), ev, "")
		if e := asError(t, err); e.Error() != "POST /v1/siem/quarantine_mails: HTTP 200 OK, body of 2004 bytes is over the cap of 1024 bytes" || !e.Rejected() || e.MaybeApplied() {
			t.Errorf("error %v", e)
		}
	})
}
