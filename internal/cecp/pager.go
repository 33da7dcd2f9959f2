package cecp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxResults bounds an iterator whose query sets no MaxResults.
const DefaultMaxResults = 10_000

// maxEmptyPages stops a pager whose vendor keeps sending empty pages with a next_link.
const maxEmptyPages = 5

// ErrNoMorePages is returned by Pager.Next after the last page.
var ErrNoMorePages = errors.New("cecp: no more pages")

// Page is one page of a list endpoint.
type Page[T any] struct {
	Items []T
	// Undecodable are the page's items that did not decode even tolerantly, kept as received; they count
	// towards the pager's bound like any item.
	Undecodable []Undecodable
	CurrentLink string
	// NextLink is "" on the vendor's last page (its "", null and absent alike). It stays set on the page where
	// the pager's bound stops, to say that more items exist.
	NextLink string
	TraceID  string
	// LastLogItemGenerationTime is set by the log endpoints: where a poller resumes.
	LastLogItemGenerationTime time.Time
	// Count is set by the action-result endpoints.
	Count int
}

type itemsKey int

const (
	keySecurityEvents itemsKey = iota
	keyQuarantineEvents
	keyValue
	keyActions
)

func (k itemsKey) String() string {
	switch k {
	case keySecurityEvents:
		return "security_events"
	case keyQuarantineEvents:
		return "quarantine_events"
	case keyValue:
		return "value"
	}
	return "actions"
}

// pageBody is the JSON of every list answer. It decodes tolerantly (loose.go): an odd envelope field is left
// zero, and an item that does not decode is set aside in bad, so one odd item never fails the page.
type pageBody[T any] struct {
	key itemsKey
	envelope
	CurrentLink               string
	NextLink                  string
	LastLogItemGenerationTime Time
	Count                     int
	// items are the decoded items, pos their positions in the vendor's list, bad the others; total counts both.
	items []T
	pos   []int
	bad   []Undecodable
	total int
	// listErr is set when the item list is not a list: the page as a whole is unreadable.
	listErr error
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *pageBody[T]) UnmarshalJSON(data []byte) error {
	var d loose
	ok := members(data, func(k, v []byte) {
		switch string(k) {
		case "code":
			var n int
			d.int(&n, k, v)
			b.Code = flexInt(n)
		case "msg":
			d.text(&b.Msg, k, v)
		case "message":
			d.text(&b.Message, k, v)
		case "traceId":
			d.text(&b.TraceID, k, v)
		case "current_link":
			d.text(&b.CurrentLink, k, v)
		case "next_link":
			d.text(&b.NextLink, k, v)
		case "last_log_item_generation_time":
			d.time(&b.LastLogItemGenerationTime, k, v)
		case "count":
			d.int(&b.Count, k, v)
		case b.key.String():
			b.decodeItems(v)
		}
	})
	if !ok {
		return fmt.Errorf("the answer is %s, not a JSON object", jsonKind(bytes.TrimSpace(data)))
	}
	return b.listErr
}

// decode decodes a success answer as a page; it is directly called rather than through json.Unmarshal, which
// would scan the page once more to find where the value ends before handing it to UnmarshalJSON.
func (b *pageBody[T]) decode(r *request, resp *response) error {
	if !json.Valid(resp.body) {
		var probe any
		return decodeError(r, resp, json.Unmarshal(resp.body, &probe))
	}
	if err := b.UnmarshalJSON(resp.body); err != nil {
		return decodeError(r, resp, err)
	}
	return codeError(r, resp, b.env())
}

func (b *pageBody[T]) decodeItems(v []byte) {
	b.items, b.pos, b.bad, b.total = nil, nil, nil, 0
	if len(v) > 0 && v[0] == 'n' {
		return
	}
	ok := elements(v, func(i int, e []byte) {
		b.total++
		var it T
		var err error
		if u, ok := any(&it).(json.Unmarshaler); ok {
			err = u.UnmarshalJSON(e)
		} else {
			err = json.Unmarshal(e, &it)
		}
		if err != nil {
			b.bad = append(b.bad, Undecodable{Index: i, Raw: append(json.RawMessage(nil), e...), Err: err.Error()})
			return
		}
		b.items = append(b.items, it)
		b.pos = append(b.pos, i)
	})
	if !ok {
		b.listErr = fmt.Errorf("%s is %s, not a list", b.key, jsonKind(v))
	}
}

// Pager walks the pages of one query by next_link, up to a bound on the number of items. It refuses a
// next_link to another scheme or host, since following it would send the token there.
type Pager[T any] struct {
	c     *Client
	key   itemsKey
	first *request
	next  *url.URL
	prev  string
	// skip drops that many items of the first page: a cursor that resumes inside a page.
	skip int
	// pending is an error to return on the next call (an invalid query, a refused next_link).
	pending error
	max     int
	seen    int
	empty   int
	done    bool
	cursor  string
}

func newPager[T any](c *Client, key itemsKey, first *request, max int, invalid error) *Pager[T] {
	return &Pager[T]{c: c, key: key, first: first, max: max, pending: invalid}
}

// Done reports whether every page allowed by the bound has been read.
func (p *Pager[T]) Done() bool { return p.done && p.pending == nil }

// Read is how many items the pager has returned so far (undecodable ones included).
func (p *Pager[T]) Read() int { return p.seen }

// NextLink is the link the next call fetches ("" before the first page and after the last): a checkpoint.
func (p *Pager[T]) NextLink() string {
	if p.next == nil {
		return ""
	}
	return p.next.String()
}

// Cursor says where a later read continues once the bound has stopped this one: a link on the vendor's host
// that a query's Cursor field accepts, "" when the vendor has nothing more. Set once the pager is done.
func (p *Pager[T]) Cursor() string { return p.cursor }

// Next fetches the next page. After the last one it returns ErrNoMorePages.
func (p *Pager[T]) Next(ctx context.Context) (Page[T], error) {
	if p.pending != nil {
		err := p.pending
		p.pending, p.done = nil, true
		return Page[T]{}, err
	}
	if p.done {
		return Page[T]{}, ErrNoMorePages
	}
	r := p.first
	if r == nil {
		r = &request{method: http.MethodGet, link: p.next, max: p.c.opts.MaxPageBytes}
	}
	body := pageBody[T]{key: p.key}
	decode := func(r *request, resp *response) error {
		if err := body.decode(r, resp); err != nil {
			return err
		}
		for _, s := range resp.secrets {
			// A cursor ends up in a run's history; the token must never be in one.
			if len(s) >= 4 && strings.Contains(body.NextLink, s) {
				return &Error{Method: r.method, Path: r.op(), Status: resp.status, kind: kindRefused,
					Message: "next_link carries the API token; stopping"}
			}
		}
		return nil
	}
	if err := p.c.exchange(ctx, r, decode); err != nil {
		return Page[T]{}, err
	}
	current := p.c.url(r)
	p.first = nil
	// Positions in the vendor's list: a cursor's skip, then the bound.
	from := 0
	if p.skip > 0 {
		from, p.skip = min(p.skip, body.total), 0
	}
	to := body.total
	cut := false
	if p.max > 0 && p.seen+(to-from) >= p.max {
		to, cut, p.done = from+(p.max-p.seen), true, true
		cut = to < body.total
	}
	page := Page[T]{
		CurrentLink:               body.CurrentLink,
		TraceID:                   body.TraceID,
		LastLogItemGenerationTime: body.LastLogItemGenerationTime.Time,
		Count:                     body.Count,
	}
	for i, it := range body.items {
		if body.pos[i] >= from && body.pos[i] < to {
			page.Items = append(page.Items, it)
		}
	}
	for _, u := range body.bad {
		if u.Index >= from && u.Index < to {
			page.Undecodable = append(page.Undecodable, u)
		}
	}
	p.seen += to - from
	link := strings.TrimSpace(body.NextLink)
	if link == "null" {
		link = ""
	}
	if to == from {
		p.empty++
	} else {
		p.empty = 0
	}
	switch {
	case cut:
		// The bound stops inside this page: a later read re-reads it and skips what was returned here.
		page.NextLink = p.linkOrEmpty(link)
		p.cursor = withSkip(current, to)
		p.next = nil
	case link == "":
		p.done, p.next = true, nil
	case p.done:
		// The bound stops here, but the page still says the vendor has more.
		page.NextLink = p.linkOrEmpty(link)
		p.cursor = page.NextLink
		p.next = nil
	case link == current.String() || link == p.prev:
		p.done, p.next = true, nil
		p.pending = &Error{Method: http.MethodGet, Path: r.op(), kind: kindRefused,
			Message: "next_link repeats a page already read; stopping"}
	case p.empty >= maxEmptyPages:
		p.done, p.next = true, nil
		p.pending = &Error{Method: http.MethodGet, Path: r.op(), kind: kindRefused,
			Message: fmt.Sprintf("%d empty pages in a row, each with a next_link; stopping", p.empty)}
	default:
		u, err := p.c.checkLink(link)
		if err != nil {
			p.done, p.next = true, nil
			p.pending = &Error{Method: http.MethodGet, Path: r.op(), kind: kindRefused, Message: err.Error()}
		} else {
			page.NextLink = u.String()
			p.next = u
		}
	}
	p.prev = current.String()
	return page, nil
}

func (p *Pager[T]) linkOrEmpty(link string) string {
	if link == "" {
		return ""
	}
	u, err := p.c.checkLink(link)
	if err != nil {
		return ""
	}
	return u.String()
}

// withSkip is the cursor of a page to re-read from its n-th item. The count travels in the fragment, which
// never reaches the vendor.
func withSkip(u *url.URL, n int) string {
	c := *u
	c.Fragment = skipFragment + strconv.Itoa(n)
	c.RawFragment = ""
	return c.String()
}

const skipFragment = "skip="

// All yields every item up to the bound, fetching pages as needed; an error ends the sequence.
func (p *Pager[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for !p.Done() {
			page, err := p.Next(ctx)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// Collect reads every item up to the bound into a slice; on error it returns what was read so far with it.
func (p *Pager[T]) Collect(ctx context.Context) ([]T, error) {
	var out []T
	for it, err := range p.All(ctx) {
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
	return out, nil
}

// checkLink resolves a next_link and refuses one that leaves the tenant's scheme and host.
func (c *Client) checkLink(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("next_link %q is not a URL; stopping", truncate(link, 100))
	}
	u = c.base.ResolveReference(u)
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || u.User != nil {
		return nil, fmt.Errorf("next_link points at %s://%s, not %s://%s; refusing to send the token there",
			u.Scheme, u.Host, c.base.Scheme, c.base.Host)
	}
	u.Fragment = ""
	return u, nil
}

// pageLimit picks the page size: the caller's limit, else the largest page the bound can use, since every page
// costs one request of the quota whatever its size.
func pageLimit(limit, maxResults, endpointMax int) int {
	if limit > 0 {
		if maxResults > 0 && maxResults < limit {
			return maxResults
		}
		return limit
	}
	return min(maxResults, endpointMax)
}

func maxResults(n int) int {
	if n <= 0 {
		return DefaultMaxResults
	}
	return n
}

// MaxCursorLen bounds a cursor given back to a query.
const MaxCursorLen = 8192

// resume turns a query's cursor (a Pager.Cursor of the same endpoint) into the pager's first request. The
// cursor must point at the endpoint on the client's own host (it is sent with the token), and the filters the
// query gives must agree with those inside it, so a loop cannot mix up two hunts; the time window, limit and
// position are the cursor's.
func resume[T any](c *Client, key itemsKey, path, cursor string, q url.Values, filters []string, max int, invalid error) *Pager[T] {
	p := problems{op: "cursor"}
	var u *url.URL
	skip := 0
	switch {
	case len(cursor) > MaxCursorLen:
		p.add("is longer than %d bytes", MaxCursorLen)
	default:
		raw, err := url.Parse(strings.TrimSpace(cursor))
		if err != nil || !raw.IsAbs() {
			p.add("%q is not a link from an earlier read's next_cursor", truncate(cursor, 100))
			break
		}
		if f := raw.Fragment; f != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(f, skipFragment))
			if !strings.HasPrefix(f, skipFragment) || err != nil || n < 0 {
				p.add("its fragment %q is not one parry writes", truncate(f, 40))
			}
			skip = n
		}
		if u, err = c.checkLink(raw.String()); err != nil {
			p.add("%v", strings.TrimSuffix(err.Error(), "; refusing to send the token there")+": a cursor is only followed on the connection's own host")
			break
		}
		if u.Path != c.base.Path+path {
			p.add("is a link to %s, not to %s (a cursor continues the read that returned it)", u.Path, path)
		}
		have := u.Query()
		for _, k := range filters {
			if want := q.Get(k); want != "" && have.Get(k) != want {
				p.add("was returned by a read with %s=%q, not %q", k, truncate(have.Get(k), 80), truncate(want, 80))
			}
		}
	}
	if err := p.err(); err != nil {
		invalid = err
	}
	pg := newPager[T](c, key, &request{method: http.MethodGet, link: u, max: c.opts.MaxPageBytes}, max, invalid)
	pg.skip = skip
	return pg
}
