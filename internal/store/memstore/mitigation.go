package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/parry-soar/parry/internal/store"
)

type mitRequest struct {
	runID, step string
	traceParent string
	itemID      int64
	ord         int
	seq         int64 // request order (requested_at)
}

type mitState struct {
	nextItem, nextPost, nextReq int64
	items                       map[int64]*store.MitigationItem
	retired                     map[int64]bool
	awaited                     map[int64]bool
	requests                    []mitRequest
	posts                       map[int64]*store.MitigationPost
	audit                       []store.AuditEvent
	polls                       map[[2]string]flusherPoll
	states                      map[[2]string]store.FlusherState
}

func (s *Store) mit() *mitState {
	if s.mitigation == nil {
		s.mitigation = &mitState{items: map[int64]*store.MitigationItem{}, retired: map[int64]bool{}, awaited: map[int64]bool{}, polls: map[[2]string]flusherPoll{}, states: map[[2]string]store.FlusherState{}, posts: map[int64]*store.MitigationPost{}}
	}
	return s.mitigation
}

func cloneItem(it *store.MitigationItem) store.MitigationItem {
	c := *it
	c.BatchIDs = slices.Clone(it.BatchIDs)
	return c
}

// EnqueueMitigation records a request (see store.Store.EnqueueMitigation).
func (s *Store) EnqueueMitigation(ctx context.Context, req store.MitigationRequest) ([]store.MitigationItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mit()
	if existing := s.requestItems(req.RunID, req.Step); len(existing) > 0 {
		if len(existing) != len(req.Items) {
			return nil, store.ErrRequestChanged
		}
		for i, it := range existing {
			if it.Key != req.Items[i].Key || it.ActionType != req.ActionType || it.Kind != req.Kind || it.Connection != req.Connection {
				return nil, store.ErrRequestChanged
			}
			if req.Wait {
				m.awaited[it.ID] = true
			}
		}
		return existing, nil
	}
	now := s.now()
	out := make([]store.MitigationItem, 0, len(req.Items))
	for ord, ni := range req.Items {
		var live *store.MitigationItem
		for id, it := range m.items {
			if !m.retired[id] && it.Connection == req.Connection && it.Kind == req.Kind && it.ActionType == req.ActionType && it.Key == ni.Key {
				live = it
			}
		}
		if live != nil && live.State == store.ItemDone && (live.Status != "Success" && live.Status != "Skipped" ||
			live.DoneAt != nil && now.Sub(*live.DoneAt) > req.ReuseFor) {
			m.retired[live.ID] = true
			live = nil
		}
		if live == nil {
			m.nextItem++
			live = &store.MitigationItem{ID: m.nextItem, Connection: req.Connection, Kind: req.Kind, ActionType: req.ActionType,
				Key: ni.Key, Payload: ni.Payload, Priority: req.Priority, State: store.ItemQueued, BatchIDs: []string{}, EnqueuedAt: now}
			m.items[live.ID] = live
		}
		if req.Wait && live.State != store.ItemDone {
			m.awaited[live.ID] = true
		}
		m.nextReq++
		m.requests = append(m.requests, mitRequest{runID: req.RunID, step: req.Step, traceParent: req.TraceParent, itemID: live.ID, ord: ord, seq: m.nextReq})
		out = append(out, cloneItem(live))
	}
	return out, nil
}

func (s *Store) requestItems(runID, step string) []store.MitigationItem {
	m := s.mit()
	var reqs []mitRequest
	for _, r := range m.requests {
		if r.runID == runID && r.step == step {
			reqs = append(reqs, r)
		}
	}
	slices.SortFunc(reqs, func(a, b mitRequest) int { return cmp.Compare(a.ord, b.ord) })
	out := make([]store.MitigationItem, len(reqs))
	for i, r := range reqs {
		out[i] = cloneItem(m.items[r.itemID])
	}
	return out
}

// RequestItems returns a request's items in order.
func (s *Store) RequestItems(ctx context.Context, runID, step string) ([]store.MitigationItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requestItems(runID, step), nil
}

func (s *Store) owner(itemID int64) string {
	m := s.mit()
	var best *mitRequest
	for i := range m.requests {
		r := &m.requests[i]
		if r.itemID == itemID && (best == nil || r.seq < best.seq) {
			best = r
		}
	}
	if best == nil {
		return ""
	}
	return best.runID
}

// QueuedMitigations returns queued items in fair order (priority, round-robin over owners, id).
func (s *Store) QueuedMitigations(ctx context.Context, connection, kind string, limit int) ([]store.MitigationItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mit()
	var q []store.MitigationItem
	for _, it := range m.items {
		if it.Connection == connection && it.Kind == kind && it.State == store.ItemQueued {
			c := cloneItem(it)
			c.Owner = s.owner(it.ID)
			q = append(q, c)
		}
	}
	slices.SortFunc(q, func(a, b store.MitigationItem) int { return cmp.Compare(a.ID, b.ID) })
	rank := map[int64]int{}
	seen := map[string]int{}
	for _, it := range q {
		k := fmt.Sprint(it.Priority, "\x00", it.ActionType, "\x00", it.Owner)
		seen[k]++
		rank[it.ID] = seen[k]
	}
	slices.SortFunc(q, func(a, b store.MitigationItem) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(rank[a.ID], rank[b.ID]), cmp.Compare(a.ID, b.ID))
	})
	if len(q) > limit {
		q = q[:limit]
	}
	return q, nil
}

// BeginPost records a POST of the items before it is sent.
func (s *Store) BeginPost(ctx context.Context, connection, kind, actionType string, itemIDs []int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mit()
	for _, id := range itemIDs {
		if it := m.items[id]; it == nil || it.State != store.ItemQueued {
			return 0, fmt.Errorf("item %d is no longer queued", id)
		}
	}
	m.nextPost++
	m.posts[m.nextPost] = &store.MitigationPost{ID: m.nextPost, Connection: connection, Kind: kind, ActionType: actionType,
		State: "sending", Items: len(itemIDs), FirstSentAt: s.now()}
	for _, id := range itemIDs {
		m.items[id].State, m.items[id].PostID = store.ItemSending, m.nextPost
	}
	return m.nextPost, nil
}

func (s *Store) postItems(postID int64, state string) []*store.MitigationItem {
	var out []*store.MitigationItem
	for _, it := range s.mit().items {
		if it.PostID == postID && (state == "" || it.State == state) {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b *store.MitigationItem) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// AcceptPost records the batch id.
func (s *Store) AcceptPost(ctx context.Context, postID int64, batchID, traceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mit().posts[postID]
	p.State, p.BatchID, p.TraceID = "accepted", batchID, traceID
	now := s.now()
	for _, it := range s.postItems(postID, store.ItemSending) {
		it.State, it.BatchIDs, it.PostedAt = store.ItemPosted, append(it.BatchIDs, batchID), &now
	}
	return nil
}

// ReleasePost queues a post's items again.
func (s *Store) ReleasePost(ctx context.Context, postID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mit().posts[postID].State = "not_sent"
	for _, it := range s.postItems(postID, store.ItemSending) {
		it.State, it.PostID = store.ItemQueued, 0
	}
	return nil
}

// RejectPost ends a refused post's items.
func (s *Store) RejectPost(ctx context.Context, postID int64, errType, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mit()
	m.posts[postID].State = "rejected"
	outcome, _ := json.Marshal(map[string]string{"error": message, "type": errType})
	now := s.now()
	for _, it := range s.postItems(postID, store.ItemSending) {
		it.State, it.Status, it.Outcome, it.DoneAt = store.ItemDone, store.ItemRejected, outcome, &now
		m.retired[it.ID] = true
	}
	return nil
}

// SendingPosts returns the posts still sending.
func (s *Store) SendingPosts(ctx context.Context, connection, kind string) ([]store.MitigationPost, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.MitigationPost
	for _, p := range s.mit().posts {
		if p.Connection == connection && p.Kind == kind && p.State == "sending" {
			out = append(out, *p)
		}
	}
	slices.SortFunc(out, func(a, b store.MitigationPost) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// PostItems returns a post's items.
func (s *Store) PostItems(ctx context.Context, postID int64) ([]store.MitigationItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.MitigationItem
	for _, it := range s.postItems(postID, "") {
		out = append(out, cloneItem(it))
	}
	return out, nil
}

// ResolvePost settles an uncertain post.
func (s *Store) ResolvePost(ctx context.Context, postID int64, found map[int64][]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mit().posts[postID].State = "resolved"
	now := s.now()
	for _, it := range s.postItems(postID, store.ItemSending) {
		if b, ok := found[it.ID]; ok {
			it.State, it.BatchIDs, it.PostedAt = store.ItemPosted, slices.Clone(b), &now
		} else {
			it.State, it.PostID = store.ItemQueued, 0
		}
	}
	return nil
}

// OutstandingMitigations returns posted items without an outcome.
func (s *Store) OutstandingMitigations(ctx context.Context, connection, kind string) ([]store.MitigationItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.MitigationItem
	for _, it := range s.mit().items {
		if it.Connection == connection && it.Kind == kind && it.State == store.ItemPosted && s.mit().awaited[it.ID] {
			out = append(out, cloneItem(it))
		}
	}
	slices.SortFunc(out, func(a, b store.MitigationItem) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// RecordMitigationOutcomes stores what a poll learned.
func (s *Store) RecordMitigationOutcomes(ctx context.Context, outs []store.MitigationOutcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mit()
	now := s.now()
	for _, o := range outs {
		it := m.items[o.ItemID]
		if it == nil || it.State != store.ItemPosted {
			continue
		}
		it.Status, it.Missing = o.Status, o.Missing
		if len(o.Outcome) > 0 {
			it.Outcome = o.Outcome
		}
		if o.Status != "" {
			it.State, it.DoneAt = store.ItemDone, &now
			if o.Status != "Success" && o.Status != "Skipped" {
				m.retired[it.ID] = true
			}
		}
	}
	return nil
}

// PostRequesters lists the run steps with items in a post.
func (s *Store) PostRequesters(ctx context.Context, postID int64) ([]store.Requester, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mit()
	counts := map[[2]string]int{}
	parents := map[[2]string]string{}
	for _, r := range m.requests {
		if it := m.items[r.itemID]; it != nil && it.PostID == postID {
			k := [2]string{r.runID, r.step}
			counts[k]++
			parents[k] = max(parents[k], r.traceParent)
		}
	}
	out := make([]store.Requester, 0, len(counts))
	for k, n := range counts {
		out = append(out, store.Requester{RunID: k[0], Step: k[1], Items: n, TraceParent: parents[k]})
	}
	slices.SortFunc(out, func(a, b store.Requester) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Step, b.Step))
	})
	return out, nil
}

// MitigationQueues counts the queues.
func (s *Store) MitigationQueues(ctx context.Context) ([]store.MitigationQueueStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byKey := map[[2]string]*store.MitigationQueueStats{}
	for _, it := range s.mit().items {
		if it.State == store.ItemDone {
			continue
		}
		k := [2]string{it.Connection, it.Kind}
		q := byKey[k]
		if q == nil {
			q = &store.MitigationQueueStats{Connection: it.Connection, Kind: it.Kind}
			byKey[k] = q
		}
		if it.State == store.ItemQueued {
			q.Queued++
			if q.OldestAt.IsZero() || it.EnqueuedAt.Before(q.OldestAt) {
				q.OldestAt = it.EnqueuedAt
			}
		} else {
			q.Out++
		}
	}
	var out []store.MitigationQueueStats
	for _, q := range byKey {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b store.MitigationQueueStats) int {
		return cmp.Or(cmp.Compare(a.Connection, b.Connection), cmp.Compare(a.Kind, b.Kind))
	})
	return out, nil
}

// AppendAudit records an audit event.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mit()
	e.ID = int64(len(m.audit) + 1)
	e.At = s.now()
	m.audit = append(m.audit, e)
	return e.ID, nil
}

// Audit returns the audit events, oldest first.
func (s *Store) Audit() []store.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mit().audit)
}

// FlusherPoll returns a flusher's last read of outcomes.
func (s *Store) FlusherPoll(ctx context.Context, connection, kind string) (time.Time, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mit().polls[[2]string{connection, kind}]
	return p.at, p.delay, nil
}

// SetFlusherPoll records a read of outcomes.
func (s *Store) SetFlusherPoll(ctx context.Context, connection, kind string, at time.Time, delay time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mit().polls[[2]string{connection, kind}] = flusherPoll{at: at, delay: delay}
	return nil
}

// SetFlusherState records what a flusher leaves waiting.
func (s *Store) SetFlusherState(ctx context.Context, connection, kind string, st store.FlusherState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.At = s.now()
	if st.FlushAt != nil {
		at := *st.FlushAt
		st.FlushAt = &at
	}
	s.mit().states[[2]string{connection, kind}] = st
	return nil
}

// GetFlusherState reads what a flusher last left waiting.
func (s *Store) GetFlusherState(ctx context.Context, connection, kind string) (store.FlusherState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mit().states[[2]string{connection, kind}], nil
}

type flusherPoll struct {
	at    time.Time
	delay time.Duration
}
