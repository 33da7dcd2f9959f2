package cecp

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// pagedVendor serves security events e0..e(n-1) in pages of the request's limit, positions in skiptoken.
func pagedVendor(t *testing.T, n int, mutate func(next string) string) *vendor {
	return newVendor(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		from, _ := strconv.Atoi(q.Get("skiptoken"))
		var items []string
		for i := from; i < min(from+limit, n); i++ {
			items = append(items, fmt.Sprintf(`{"log_item_id":"e%d","service":"Exchange","event":"dlp","message":{}}`, i))
		}
		next := ""
		if from+limit < n {
			q.Set("skiptoken", strconv.Itoa(from+limit))
			next = "http://" + r.Host + r.URL.Path + "?" + q.Encode()
			if mutate != nil {
				next = mutate(next)
			}
		}
		reply(w, 200, []byte(`{"next_link":"`+next+`","security_events":[`+strings.Join(items, ",")+`]}`))
	})
}

func readIDs(t *testing.T, p *Pager[SecurityEvent]) ([]string, string) {
	t.Helper()
	var ids []string
	for ev, err := range p.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.LogItemID)
	}
	return ids, p.Cursor()
}

// TestCursorResumesExactly: a read stopped by its bound, inside a page or at its end, returns a cursor from
// which the next read continues with the very next item; the last read returns none.
func TestCursorResumesExactly(t *testing.T) {
	t.Parallel()
	v := pagedVendor(t, 10, nil)
	c := newTestClient(t, v)
	q := SecurityEventsQuery{Service: "exchange", Event: "dlp", Limit: 3, MaxResults: 4}
	var all []string
	cursors := 0
	for {
		ids, cursor := readIDs(t, c.SecurityEventPages(q))
		all = append(all, ids...)
		if cursor == "" {
			break
		}
		if cursors++; cursors > 5 {
			t.Fatal("no end")
		}
		q.Cursor = cursor
	}
	if got := strings.Join(all, ","); got != "e0,e1,e2,e3,e4,e5,e6,e7,e8,e9" {
		t.Fatalf("read %s", got)
	}
	// A bound at a page's end resumes with the vendor's own next_link.
	_, cursor := readIDs(t, c.SecurityEventPages(SecurityEventsQuery{Service: "exchange", Event: "dlp", Limit: 3, MaxResults: 3}))
	if !strings.HasSuffix(cursor, "skiptoken=3") || strings.Contains(cursor, "#") {
		t.Errorf("cursor at a page's end: %s", cursor)
	}
}

func TestCursorRefusals(t *testing.T) {
	t.Parallel()
	v := pagedVendor(t, 10, nil)
	c := newTestClient(t, v)
	ctx := context.Background()
	for _, tc := range []struct{ cursor, want string }{
		{"https://evil.example/v1/siem/security_events?skiptoken=3", "a cursor is only followed on the connection's own host"},
		{v.url() + "/v1/sweeping/mails?skiptoken=3", "is a link to /v1/sweeping/mails, not to /v1/siem/security_events"},
		{v.url() + "/v1/siem/security_events?service=onedrive&event=dlp", `was returned by a read with service="onedrive", not "exchange"`},
		{v.url() + "/v1/siem/security_events?service=exchange#page=2", `its fragment "page=2" is not one parry writes`},
		{"not a link", "is not a link from an earlier read's next_cursor"},
	} {
		_, err := c.SecurityEventPages(SecurityEventsQuery{Service: "exchange", Event: "dlp", Cursor: tc.cursor}).Next(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.cursor, err, tc.want)
		}
	}
	// A cursor carrying the token is never sent (it would be in the run's history).
	before := len(v.requests())
	_, err := c.SecurityEventPages(SecurityEventsQuery{Service: "exchange", Event: "dlp", Cursor: v.url() + "/v1/siem/security_events?service=exchange&event=dlp&x=" + testToken}).Next(ctx)
	if err == nil || !strings.Contains(err.Error(), "the link carries the API token") || strings.Contains(err.Error(), testToken) || len(v.requests()) != before {
		t.Errorf("token in a cursor: %v", err)
	}
	// Nor is a next_link carrying it returned or followed.
	leaky := pagedVendor(t, 10, func(next string) string { return next + "&t=" + testToken })
	c = newTestClient(t, leaky)
	_, err = c.SecurityEventPages(SecurityEventsQuery{Service: "exchange", Event: "dlp", Limit: 3}).Next(ctx)
	if err == nil || !strings.Contains(err.Error(), "next_link carries the API token") || strings.Contains(err.Error(), testToken) {
		t.Errorf("token in a next_link: %v", err)
	}
}
