package cecpsim

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestBlocklist(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 21})
	sha1 := strings.Repeat("ab", 20)
	sha256 := strings.Repeat("CD", 32)
	post := func(body string, wantMsg string) {
		t.Helper()
		code, _, resp := h.do(http.MethodPost, "/v1/remediation/mails", body)
		if code != 200 || string(resp) != `{"code":0,"message":"`+wantMsg+`"}`+"\n" {
			t.Fatalf("POST: %d %s", code, resp)
		}
	}
	post(`{"action_type":"create","rules":{"senders":["Bad@Evil.example","x@y.example"],"urls":["https://Evil.Example/pay","http://789.example","evil.example/q?x=1","https://a.example/dir/"],"filehashes":["`+sha1+`"],"file256hashes":["`+sha256+`"]}}`,
		"Add rules successfully.")
	// Adding again changes nothing.
	post(`{"action_type":"create","rules":{"senders":["bad@evil.example"]}}`, "Add rules successfully.")
	var got rulesResponse
	h.getJSON("/v1/remediation/mails", &got)
	if got.Code != 0 || got.Message != "Get rules successfully." {
		t.Fatalf("%+v", got)
	}
	sorted := func(xs []string) []string { ys := slices.Clone(xs); sort.Strings(ys); return ys }
	if s := sorted(got.Rules.URLs); !slices.Equal(s, []string{"789.example/", "a.example/dir/", "evil.example/pay/", "evil.example/q?x=1"}) {
		t.Fatalf("urls %q", got.Rules.URLs)
	}
	if s := sorted(got.Rules.Senders); !slices.Equal(s, []string{"bad@evil.example", "x@y.example"}) {
		t.Fatalf("senders %q", got.Rules.Senders)
	}
	if !slices.Equal(got.Rules.FileHashes, []string{sha1}) || !slices.Equal(got.Rules.File256Hashes, []string{strings.ToLower(sha256)}) {
		t.Fatalf("hashes %+v", got.Rules)
	}
	post(`{"action_type":"delete","rules":{"urls":["evil.example/pay"],"senders":["not@there.example"]}}`, "Delete rules successfully.")
	st, _ := h.sim.State("")
	if !slices.Equal(st.Blocklist.URLs, []string{"789.example/", "a.example/dir/", "evil.example/q?x=1"}) {
		t.Fatalf("state urls %q", st.Blocklist.URLs)
	}
}

func TestBlocklistOrderIsNotInsertionOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 22})
	var senders []string
	for i := range 30 {
		senders = append(senders, fmt.Sprintf("s%02d@x.example", i))
	}
	code, _, body := h.do(http.MethodPost, "/v1/remediation/mails", map[string]any{"action_type": "create", "rules": map[string]any{"senders": senders}})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var got rulesResponse
	h.getJSON("/v1/remediation/mails", &got)
	if slices.Equal(got.Rules.Senders, senders) || len(got.Rules.Senders) != 30 {
		t.Fatalf("senders come back in insertion order or incomplete: %q", got.Rules.Senders)
	}
	var again rulesResponse
	h.getJSON("/v1/remediation/mails", &again)
	if !slices.Equal(got.Rules.Senders, again.Rules.Senders) {
		t.Fatal("order is not stable between reads")
	}
}

func TestBlocklistLimitsAndErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 23})
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d.example", i)
		}
		return out
	}
	code, _, body := h.do(http.MethodPost, "/v1/remediation/mails", map[string]any{"action_type": "create", "rules": map[string]any{"urls": many(2048)}})
	if code != 200 {
		t.Fatalf("2,048 urls refused: %s", body)
	}
	for _, tc := range []struct {
		body any
		msg  string
	}{
		{map[string]any{"action_type": "create", "rules": map[string]any{"urls": many(2049)}}, "rules.urls has 2049 items; at most 2048 are allowed"},
		{`{"action_type":"add","rules":{"senders":["a@b.example"]}}`, `action_type "add" is not one of create, delete`},
		{`{"action_type":"create"}`, "rules is required"},
		{`{"action_type":"create","rules":{"senders":[]}}`, "rules has no item in senders, urls, filehashes or file256hashes"},
		{`{"action_type":"create","rules":{"filehashes":["abc"]}}`, `rules.filehashes[0]: "abc" is not a SHA-1 (40 hexadecimal digits)`},
		{`{"action_type":"create","rules":{"senders":["not an address"]}}`, `rules.senders[0]: "not an address" is not a sender address`},
		{`{"action_type":"create","rules":{"urls":["ftp://x.example/a"]}}`, `rules.urls[0]: "ftp://x.example/a" is not an http(s) URL or host`},
		{`{"action_type":"create","rules":{"sender":["a@b.example"]}}`, `request body is not valid JSON: json: unknown field "sender"`},
	} {
		code, _, body := h.do(http.MethodPost, "/v1/remediation/mails", tc.body)
		wantError(t, code, body, 400, tc.msg)
	}
	st, _ := h.sim.State("")
	if len(st.Blocklist.URLs) != 2048 {
		t.Fatalf("a refused update changed the list: %d urls", len(st.Blocklist.URLs))
	}
	code, _, body = h.do(http.MethodGet, "/v1/remediation/mails?x=1", nil)
	wantError(t, code, body, 400, `unknown parameter "x"`)
}

func TestNormalizeBlockedURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://Evil.Example/Pay":        "evil.example/Pay/",
		"HTTP://evil.example":             "evil.example/",
		"ubb.com":                         "ubb.com/", // the real capture
		"evil.example/":                   "evil.example/",
		"evil.example/a/b?c=D":            "evil.example/a/b?c=D",
		"https://evil.example/a#frag":     "evil.example/a#frag",
		"  http://x.example/path/  ":      "x.example/path/",
		"https://user@host.example:8443/": "user@host.example:8443/",
	} {
		got, err := normalizeBlockedURL(in)
		if err != nil || got != want {
			t.Errorf("normalizeBlockedURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
