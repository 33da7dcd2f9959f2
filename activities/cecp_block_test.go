package activities

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/cecpsim"
)

const (
	sha1a   = "3395856ce81f2b7382dee72602f798b642f14140"
	sha256a = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
)

func TestBlockUnblock(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	with := map[string]any{"senders": []any{"evil@bad.example", "evil@bad.example"}, "urls": []any{"https://bad.example/login"},
		"filehashes": []any{sha1a}, "file256hashes": []any{sha256a}}
	out := h.mustExec("cecp.block", "block", with)
	want := map[string]any{"added": map[string]any{"senders": []any{"evil@bad.example"}, "urls": []any{"https://bad.example/login"},
		"filehashes": []any{sha1a}, "file256hashes": []any{sha256a}}, "already_blocked": 0.0}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("block = %v\nwant %v", out, want)
	}
	st, _ := h.sim.State("")
	if !slices.Contains(st.Blocklist.Senders, "evil@bad.example") || len(st.Blocklist.URLs) != 1 {
		t.Errorf("simulator's lists after block: %+v", st.Blocklist)
	}

	// Repeating the step changes nothing and posts nothing.
	posts := h.sim.Requests()["POST /v1/remediation/mails"]
	out = h.mustExec("cecp.block", "block", with)
	want = map[string]any{"added": map[string]any{"senders": []any{}, "urls": []any{}, "filehashes": []any{}, "file256hashes": []any{}},
		"already_blocked": 4.0}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("repeated block = %v\nwant %v", out, want)
	}
	if h.sim.Requests()["POST /v1/remediation/mails"] != posts {
		t.Error("a repeated block posted")
	}

	out = h.mustExec("cecp.unblock", "unblock", map[string]any{"urls": []any{"https://bad.example/login"}, "senders": []any{"nobody@x.example"}})
	removed := out["removed"].(map[string]any)
	if len(removed["urls"].([]any)) != 1 || len(removed["senders"].([]any)) != 0 || out["not_blocked"] != 1.0 {
		t.Errorf("unblock = %v", out)
	}
	rows := h.audit()
	got := []string{}
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s %s %s %d", r.Action, r.Operation, r.Outcome, r.Targets))
	}
	wantRows := []string{"cecp.block blocklist.create accepted 4", "cecp.block blocklist.create skipped-duplicate 4",
		"cecp.unblock blocklist.delete accepted 1"}
	if !slices.Equal(got, wantRows) {
		t.Errorf("audit rows %q\nwant %q", got, wantRows)
	}
}

func TestUnblockChunks(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustExec("cecp.block", "block", map[string]any{"senders": []any{"keep@x.example", "drop@x.example"}})
	senders := []any{"drop@x.example"}
	for i := range cecp.MaxBlocklistItems + 50 {
		senders = append(senders, fmt.Sprintf("user%d@absent.example", i))
	}
	before := h.sim.Requests()
	out := h.mustExec("cecp.unblock", "unblock", map[string]any{"senders": senders})
	after := h.sim.Requests()
	if n := after["GET /v1/remediation/mails"] - before["GET /v1/remediation/mails"]; n != 1 {
		t.Errorf("%d reads; the lists are read once", n)
	}
	if n := after["POST /v1/remediation/mails"] - before["POST /v1/remediation/mails"]; n != 1 {
		t.Errorf("%d updates; only one entry is there to remove", n)
	}
	if out["not_blocked"] != float64(cecp.MaxBlocklistItems+50) || len(out["removed"].(map[string]any)["senders"].([]any)) != 1 {
		t.Errorf("unblock = %v", out["not_blocked"])
	}
	st, _ := h.sim.State("")
	if !slices.Equal(st.Blocklist.Senders, []string{"keep@x.example"}) {
		t.Errorf("senders left: %v", st.Blocklist.Senders)
	}
}

func TestBlockAmbiguous(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_ = h.sim.SetFaults(cecpsim.Faults{Error500: 1, Paths: []string{"POST /v1/remediation/mails"}})
	with := map[string]any{"senders": []any{"evil@bad.example"}}
	_, err := h.exec("cecp.block", "block", with)
	ae := appErr(t, err)
	if ae.Type() != action.VendorUnavailable || ae.NonRetryable() {
		t.Fatalf("500 on the update: %s %s", ae.Type(), ae.Message())
	}
	_ = h.sim.SetFaults(cecpsim.Faults{})
	h.mustExec("cecp.block", "block", with)
	got := outcomes(h.audit())
	if !slices.Equal(got, []string{OutcomeAmbiguous, OutcomeAccepted}) {
		t.Errorf("audit %v", got)
	}
}

// TestBlockBeyondOneRequest: 2,048 entries is what one update carries, not what a list holds. A list already
// holding 2,048 senders takes 3,000 more, in two updates after one read.
func TestBlockBeyondOneRequest(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	senders := func(prefix string, n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d@bad.example", prefix, i)
		}
		return out
	}
	h.mustExec("cecp.block", "fill", map[string]any{"senders": senders("first", cecp.MaxBlocklistItems)})
	before := h.sim.Requests()
	out := h.mustExec("cecp.block", "more", map[string]any{"senders": append(senders("next", 3000), "first0@bad.example")})
	after := h.sim.Requests()
	if got := len(out["added"].(map[string]any)["senders"].([]any)); got != 3000 || out["already_blocked"] != 1.0 {
		t.Fatalf("added %d, already blocked %v", got, out["already_blocked"])
	}
	if n := after["GET /v1/remediation/mails"] - before["GET /v1/remediation/mails"]; n != 1 {
		t.Errorf("%d reads", n)
	}
	if n := after["POST /v1/remediation/mails"] - before["POST /v1/remediation/mails"]; n != 2 {
		t.Errorf("%d updates, want 2", n)
	}
	st, _ := h.sim.State("")
	if len(st.Blocklist.Senders) != cecp.MaxBlocklistItems+3000 {
		t.Errorf("the list holds %d senders", len(st.Blocklist.Senders))
	}
}

func TestRuleChunks(t *testing.T) {
	in := cecp.Rules{Senders: []string{"a", "b"}, URLs: make([]string, 2*cecp.MaxBlocklistItems+1)}
	for i := range in.URLs {
		in.URLs[i] = fmt.Sprintf("u%d.example", i)
	}
	chunks := cecp.ChunkRules(in)
	if len(chunks) != 3 || len(chunks[0].URLs) != cecp.MaxBlocklistItems || len(chunks[2].URLs) != 1 ||
		!slices.Equal(chunks[0].Senders, []string{"a", "b"}) || len(chunks[1].Senders) != 0 {
		t.Errorf("chunks: %d, sizes %d/%d/%d, senders %v", len(chunks), len(chunks[0].URLs), len(chunks[1].URLs), len(chunks[2].URLs), chunks[0].Senders)
	}
	if len(cecp.ChunkRules(cecp.Rules{})) != 0 {
		t.Error("chunks of nothing")
	}
}
