package activities

import (
	"context"
	"errors"
	"net/http"

	"github.com/parry-soar/parry/internal/cecp"
)

type rulesInput struct {
	Senders       []string `json:"senders"`
	URLs          []string `json:"urls"`
	FileHashes    []string `json:"filehashes"`
	File256Hashes []string `json:"file256hashes"`
}

func (r rulesInput) rules() cecp.Rules {
	return cecp.Rules{Senders: r.Senders, URLs: r.URLs, FileHashes: r.FileHashes, File256Hashes: r.File256Hashes}
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

// changeLists reads the lists once and posts the difference (only what is missing for an add, only what is
// there for a remove) in updates of at most 2,048 entries per list, auditing each, so a repeated step changes
// nothing and says so. 2,048 bounds one request, not a list: a list may hold any number of entries.
func (a *Activities) changeLists(ctx context.Context, c *call, remove bool) (sent cecp.Rules, unchanged int, err error) {
	var in rulesInput
	if err := c.decode(&in); err != nil {
		return sent, 0, err
	}
	v, err := a.vendorFor(c)
	if err != nil {
		return sent, 0, err
	}
	op, doing, action := "blocklist.create", "adding to the blocked lists", cecp.BlocklistCreate
	if remove {
		op, doing, action = "blocklist.delete", "removing from the blocked lists", cecp.BlocklistDelete
	}
	plan, err := v.client.DiffBlockedLists(ctx, in.rules(), remove)
	if err != nil {
		return sent, 0, v.fail(doing, err)
	}
	unchanged = plan.Unchanged.Len()
	chunks := cecp.ChunkRules(plan.Sent)
	if len(chunks) == 0 {
		entry := auditEntry{connection: v.name, operation: op, targets: unchanged, outcome: OutcomeDuplicate,
			details: map[string]any{"entries": ruleCounts(plan.Sent), "unchanged": unchanged}}
		return sent, unchanged, a.audit(ctx, c, entry)
	}
	for i, chunk := range chunks {
		err := v.client.UpdateBlockedLists(ctx, action, chunk)
		var ce *cecp.Error
		if errors.As(err, &ce) && ce.Method == http.MethodPost {
			outcome := OutcomeFailed
			if ce.MaybeApplied() {
				outcome = OutcomeAmbiguous
			}
			a.auditFailure(ctx, c, auditEntry{connection: v.name, operation: op, targets: chunk.Len(), outcome: outcome,
				vendorIDs: []string{ce.TraceID}, details: map[string]any{"chunk": i, "entries": ruleCounts(chunk), "error": ce.Error()}})
			return sent, 0, v.fail(doing, err)
		}
		if err != nil {
			return sent, 0, v.fail(doing, err)
		}
		details := map[string]any{"chunk": i, "entries": ruleCounts(chunk)}
		if i == 0 {
			details["unchanged"] = unchanged
		}
		if err := a.audit(ctx, c, auditEntry{connection: v.name, operation: op, targets: chunk.Len(), outcome: OutcomeAccepted,
			details: details}); err != nil {
			return sent, 0, err
		}
		appendRules(&sent, chunk)
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
