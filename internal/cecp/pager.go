package cecp

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
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
	Items       []T
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

// pageBody is the JSON of every list answer; only the item list of the endpoint is filled.
type pageBody[T any] struct {
	envelope
	CurrentLink               string  `json:"current_link"`
	NextLink                  string  `json:"next_link"`
	LastLogItemGenerationTime Time    `json:"last_log_item_generation_time"`
	Count                     flexInt `json:"count"`
	SecurityEvents            []T     `json:"security_events"`
	QuarantineEvents          []T     `json:"quarantine_events"`
	Value                     []T     `json:"value"`
	Actions                   []T     `json:"actions"`
}

func (b *pageBody[T]) items(k itemsKey) []T {
	switch k {
	case keySecurityEvents:
		return b.SecurityEvents
	case keyQuarantineEvents:
		return b.QuarantineEvents
	case keyValue:
		return b.Value
	default:
		return b.Actions
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
	// pending is an error to return on the next call (an invalid query, a refused next_link).
	pending error
	max     int
	seen    int
	empty   int
	done    bool
}

func newPager[T any](c *Client, key itemsKey, first *request, max int, invalid error) *Pager[T] {
	return &Pager[T]{c: c, key: key, first: first, max: max, pending: invalid}
}

// Done reports whether every page allowed by the bound has been read.
func (p *Pager[T]) Done() bool { return p.done && p.pending == nil }

// Read is how many items the pager has returned so far.
func (p *Pager[T]) Read() int { return p.seen }

// NextLink is the link the next call fetches ("" before the first page and after the last): a checkpoint.
func (p *Pager[T]) NextLink() string {
	if p.next == nil {
		return ""
	}
	return p.next.String()
}

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
	var body pageBody[T]
	if err := p.c.exchange(ctx, r, decodeJSON(&body)); err != nil {
		return Page[T]{}, err
	}
	current := p.c.url(r).String()
	p.first = nil
	items := body.items(p.key)
	if p.max > 0 && p.seen+len(items) >= p.max {
		items = items[:p.max-p.seen]
		p.done = true
	}
	p.seen += len(items)
	page := Page[T]{
		Items:                     items,
		CurrentLink:               body.CurrentLink,
		TraceID:                   body.TraceID,
		LastLogItemGenerationTime: body.LastLogItemGenerationTime.Time,
		Count:                     int(body.Count),
	}
	link := strings.TrimSpace(body.NextLink)
	if link == "null" {
		link = ""
	}
	if len(items) == 0 {
		p.empty++
	} else {
		p.empty = 0
	}
	switch {
	case link == "":
		p.done, p.next = true, nil
	case p.done:
		// The bound stops here, but the page still says the vendor has more.
		if u, err := p.c.checkLink(link); err == nil {
			page.NextLink = u.String()
		}
		p.next = nil
	case link == current || link == p.prev:
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
	p.prev = current
	return page, nil
}

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
