package activities

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/parry-soar/parry/internal/cecp"
)

type rulesInput struct {
	Senders       []string `json:"senders"`
	URLs          []string `json:"urls"`
	FileHashes    []string `json:"filehashes"`
	File256Hashes []string `json:"file256hashes"`
}

// chunks splits the entries so that no update carries more than cecp.MaxBlocklistItems of one list, after
// dropping repeated entries (a repeat in a later chunk would be counted as already blocked).
func (r rulesInput) chunks() []cecp.Rules {
	lists := [4][]string{dedupe(r.Senders), dedupe(r.URLs), dedupe(r.FileHashes), dedupe(r.File256Hashes)}
	n := 0
	for _, l := range lists {
		n = max(n, (len(l)+cecp.MaxBlocklistItems-1)/cecp.MaxBlocklistItems)
	}
	out := make([]cecp.Rules, n)
	part := func(l []string, i int) []string {
		lo := min(i*cecp.MaxBlocklistItems, len(l))
		hi := min(lo+cecp.MaxBlocklistItems, len(l))
		return l[lo:hi]
	}
	for i := range out {
		out[i] = cecp.Rules{Senders: part(lists[0], i), URLs: part(lists[1], i), FileHashes: part(lists[2], i),
			File256Hashes: part(lists[3], i)}
	}
	return out
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	var out []string
	for _, v := range in {
		k := strings.TrimSpace(v)
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

func appendRules(dst *cecp.Rules, r cecp.Rules) {
	dst.Senders = append(dst.Senders, r.Senders...)
	dst.URLs = append(dst.URLs, r.URLs...)
	dst.FileHashes = append(dst.FileHashes, r.FileHashes...)
	dst.File256Hashes = append(dst.File256Hashes, r.File256Hashes...)
}

func ruleCounts(r cecp.Rules) map[string]int {
	return map[string]int{"senders": len(r.Senders), "urls": len(r.URLs), "filehashes": len(r.FileHashes),
		"file256hashes": len(r.File256Hashes)}
}

// changeLists runs add (or remove) for every chunk: each reads the lists and posts only the difference, so a
// repeated step changes nothing and says so in the audit trail.
func (a *Activities) changeLists(ctx context.Context, c *call, remove bool) (sent cecp.Rules, unchanged int, err error) {
	var in rulesInput
	if err := c.decode(&in); err != nil {
		return sent, 0, err
	}
	v, err := a.vendorFor(c)
	if err != nil {
		return sent, 0, err
	}
	op, doing, change := "blocklist.create", "adding to the blocked lists", v.client.AddToBlockedLists
	if remove {
		op, doing, change = "blocklist.delete", "removing from the blocked lists", v.client.RemoveFromBlockedLists
	}
	for i, chunk := range in.chunks() {
		ch, err := change(ctx, chunk)
		var ce *cecp.Error
		if errors.As(err, &ce) && ce.Method == http.MethodPost {
			outcome := OutcomeFailed
			if ce.MaybeApplied() {
				outcome = OutcomeAmbiguous
			}
			a.auditFailure(ctx, c, auditEntry{connection: v.name, operation: op, targets: ch.Sent.Len(), outcome: outcome,
				vendorIDs: []string{ce.TraceID}, details: map[string]any{"chunk": i, "entries": ruleCounts(ch.Sent), "error": ce.Error()}})
			return sent, 0, v.fail(doing, err)
		}
		if err != nil {
			return sent, 0, v.fail(doing, err)
		}
		entry := auditEntry{connection: v.name, operation: op, targets: ch.Sent.Len(), outcome: OutcomeAccepted,
			details: map[string]any{"chunk": i, "entries": ruleCounts(ch.Sent), "unchanged": ch.Unchanged.Len()}}
		if ch.Sent.Len() == 0 {
			entry.outcome, entry.targets = OutcomeDuplicate, ch.Unchanged.Len()
		}
		if err := a.audit(ctx, c, entry); err != nil {
			return sent, 0, err
		}
		appendRules(&sent, ch.Sent)
		unchanged += ch.Unchanged.Len()
	}
	return sent, unchanged, nil
}

func (a *Activities) block(ctx context.Context, c *call) (any, error) {
	sent, unchanged, err := a.changeLists(ctx, c, false)
	if err != nil {
		return nil, err
	}
	return struct {
		Added          rulesOut `json:"added"`
		AlreadyBlocked int      `json:"already_blocked"`
	}{rules(sent), unchanged}, nil
}

func (a *Activities) unblock(ctx context.Context, c *call) (any, error) {
	sent, unchanged, err := a.changeLists(ctx, c, true)
	if err != nil {
		return nil, err
	}
	return struct {
		Removed    rulesOut `json:"removed"`
		NotBlocked int      `json:"not_blocked"`
	}{rules(sent), unchanged}, nil
}
