package cecp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// MaxBlocklistItems is the most entries of one list that one update may carry. It bounds a request, not the
// list: a tenant's list may hold more.
const MaxBlocklistItems = 2048

const blocklistPath = "/v1/remediation/mails"

type rulesBody struct {
	envelope
	Rules Rules `json:"rules"`
}

// BlockedLists reads the blocked lists (only entries added through the API). URLs come back normalised:
// scheme stripped, sometimes with a trailing "/".
func (c *Client) BlockedLists(ctx context.Context) (Rules, error) {
	var out rulesBody
	r := &request{method: http.MethodGet, path: blocklistPath, max: c.opts.MaxPageBytes}
	if err := c.exchange(ctx, r, decodeJSON(&out)); err != nil {
		return Rules{}, err
	}
	return out.Rules, nil
}

type updateRules struct {
	Senders       []string `json:"senders,omitempty"`
	URLs          []string `json:"urls,omitempty"`
	FileHashes    []string `json:"filehashes,omitempty"`
	File256Hashes []string `json:"file256hashes,omitempty"`
}

type updateBody struct {
	ActionType string      `json:"action_type"`
	Rules      updateRules `json:"rules"`
}

// prepareRules trims entries, lower-cases hashes, drops duplicates and checks the vendor's rules; with perRequest,
// also that no list is over what one update may carry.
func prepareRules(op string, rules Rules, perRequest bool) (Rules, error) {
	p := problems{op: op}
	clean := func(list string, in []string, check func(string) string) []string {
		var out []string
		seen := map[string]bool{}
		for _, v := range in {
			v = strings.TrimSpace(v)
			if msg := check(v); msg != "" {
				p.add("%s entry %q %s", list, truncate(v, 80), msg)
				continue
			}
			if k := normalizeEntry(list, v); !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		if perRequest && len(out) > MaxBlocklistItems {
			p.add("%d %s is more than the %d one update may carry", len(out), list, MaxBlocklistItems)
		}
		return out
	}
	plain := func(v string) string {
		switch {
		case v == "":
			return "is empty"
		case len(v) > maxParamLen:
			return fmt.Sprintf("is longer than %d bytes", maxParamLen)
		case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return "contains spaces or control characters"
		}
		return ""
	}
	hex := func(n int) func(string) string {
		return func(v string) string {
			if !isHex(v, n) {
				return fmt.Sprintf("is not %d hexadecimal digits", n)
			}
			return ""
		}
	}
	lower := func(in []string) []string {
		out := make([]string, len(in))
		for i, v := range in {
			out[i] = strings.ToLower(v)
		}
		return out
	}
	out := Rules{
		Senders:       clean("senders", rules.Senders, plain),
		URLs:          clean("urls", rules.URLs, plain),
		FileHashes:    lower(clean("filehashes", rules.FileHashes, hex(40))),
		File256Hashes: lower(clean("file256hashes", rules.File256Hashes, hex(64))),
	}
	if out.Len() == 0 && len(p.list) == 0 {
		p.add("no entries: give at least one sender, URL, SHA-1 or SHA-256")
	}
	return out, p.err()
}

// UpdateBlockedLists sends one update (BlocklistCreate or BlocklistDelete) as given. The vendor's behaviour on
// duplicates is unknown: AddToBlockedLists and RemoveFromBlockedLists read the lists first and send only the
// difference.
func (c *Client) UpdateBlockedLists(ctx context.Context, actionType string, rules Rules) error {
	p := problems{op: "blocked list update"}
	p.oneOf("action_type", actionType, []string{BlocklistCreate, BlocklistDelete})
	if err := p.err(); err != nil {
		return err
	}
	rules, err := prepareRules("blocked list update", rules, true)
	if err != nil {
		return err
	}
	body, err := json.Marshal(updateBody{ActionType: actionType, Rules: updateRules(rules)})
	if err != nil {
		return fmt.Errorf("encoding blocked list update: %w", err)
	}
	var out envelope
	r := &request{method: http.MethodPost, path: blocklistPath, body: body, max: maxSmallBodyBytes}
	return c.exchange(ctx, r, decodeJSON(&out))
}

// BlocklistChange is what an add or remove did: Sent went to the vendor, Unchanged needed nothing (already
// present for an add, absent for a remove).
type BlocklistChange struct {
	Sent      Rules `json:"sent"`
	Unchanged Rules `json:"unchanged"`
}

// DiffBlockedLists reads the blocked lists (one request) and splits rules into what an add (or, with remove, a
// delete) has to send and what needs nothing. A delete sends each entry as the list stores it (a URL given as
// https://x.example/ is removed as x.example/ when that is what the list holds). Any number of entries may be
// given: send the difference with ChunkRules.
func (c *Client) DiffBlockedLists(ctx context.Context, rules Rules, remove bool) (BlocklistChange, error) {
	rules, err := prepareRules("blocked list update", rules, false)
	if err != nil {
		return BlocklistChange{}, err
	}
	current, err := c.BlockedLists(ctx)
	if err != nil {
		return BlocklistChange{}, err
	}
	var ch BlocklistChange
	diff := func(list string, want, have []string) (sent, same []string) {
		index := entrySet(list, have)
		for _, v := range want {
			stored, ok := index[normalizeEntry(list, v)]
			switch {
			case ok && remove:
				sent = append(sent, stored)
			case ok:
				same = append(same, v)
			case remove:
				same = append(same, v)
			default:
				sent = append(sent, v)
			}
		}
		return sent, same
	}
	ch.Sent.Senders, ch.Unchanged.Senders = diff("senders", rules.Senders, current.Senders)
	ch.Sent.URLs, ch.Unchanged.URLs = diff("urls", rules.URLs, current.URLs)
	ch.Sent.FileHashes, ch.Unchanged.FileHashes = diff("filehashes", rules.FileHashes, current.FileHashes)
	ch.Sent.File256Hashes, ch.Unchanged.File256Hashes = diff("file256hashes", rules.File256Hashes, current.File256Hashes)
	return ch, nil
}

// ChunkRules splits rules into updates of at most MaxBlocklistItems entries per list (none when rules is empty).
func ChunkRules(r Rules) []Rules {
	lists := [4][]string{r.Senders, r.URLs, r.FileHashes, r.File256Hashes}
	n := 0
	for _, l := range lists {
		n = max(n, (len(l)+MaxBlocklistItems-1)/MaxBlocklistItems)
	}
	out := make([]Rules, n)
	part := func(l []string, i int) []string {
		lo := min(i*MaxBlocklistItems, len(l))
		hi := min(lo+MaxBlocklistItems, len(l))
		if lo == hi {
			return nil
		}
		return l[lo:hi]
	}
	for i := range out {
		out[i] = Rules{Senders: part(lists[0], i), URLs: part(lists[1], i), FileHashes: part(lists[2], i),
			File256Hashes: part(lists[3], i)}
	}
	return out
}

// AddToBlockedLists adds the entries missing from the blocked lists: it reads them first (one request) and
// posts only what is new, in updates of at most MaxBlocklistItems per list (none when nothing is), so repeating
// it changes nothing. On an error the change says what had been sent before it.
func (c *Client) AddToBlockedLists(ctx context.Context, rules Rules) (BlocklistChange, error) {
	return c.changeLists(ctx, rules, false)
}

// RemoveFromBlockedLists deletes the given entries that are on the blocked lists, each as the list stores it.
func (c *Client) RemoveFromBlockedLists(ctx context.Context, rules Rules) (BlocklistChange, error) {
	return c.changeLists(ctx, rules, true)
}

func (c *Client) changeLists(ctx context.Context, rules Rules, remove bool) (BlocklistChange, error) {
	plan, err := c.DiffBlockedLists(ctx, rules, remove)
	if err != nil {
		return BlocklistChange{}, err
	}
	action := BlocklistCreate
	if remove {
		action = BlocklistDelete
	}
	done := BlocklistChange{Unchanged: plan.Unchanged}
	for _, chunk := range ChunkRules(plan.Sent) {
		if err := c.UpdateBlockedLists(ctx, action, chunk); err != nil {
			return done, err
		}
		done.Sent.Senders = append(done.Sent.Senders, chunk.Senders...)
		done.Sent.URLs = append(done.Sent.URLs, chunk.URLs...)
		done.Sent.FileHashes = append(done.Sent.FileHashes, chunk.FileHashes...)
		done.Sent.File256Hashes = append(done.Sent.File256Hashes, chunk.File256Hashes...)
	}
	return done, nil
}

// entrySet maps the normalised form of each entry to the entry as stored.
func entrySet(list string, entries []string) map[string]string {
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		m[normalizeEntry(list, e)] = e
	}
	return m
}

// normalizeEntry is the form two entries are compared in: case-insensitive addresses and hashes, and URLs
// without scheme, trailing "/" and host case, the way the vendor stores them.
func normalizeEntry(list, v string) string {
	v = strings.TrimSpace(v)
	if list != "urls" {
		return strings.ToLower(v)
	}
	lower := strings.ToLower(v)
	for _, scheme := range []string{"https://", "http://"} {
		if strings.HasPrefix(lower, scheme) {
			v = v[len(scheme):]
			break
		}
	}
	v = strings.TrimRight(v, "/")
	host, rest, found := strings.Cut(v, "/")
	if found {
		return strings.ToLower(host) + "/" + rest
	}
	return strings.ToLower(host)
}
