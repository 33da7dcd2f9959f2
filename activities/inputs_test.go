package activities

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/activity"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
)

type recordingRegistry struct{ names []string }

func (r *recordingRegistry) RegisterActivityWithOptions(a interface{}, o activity.RegisterOptions) {
	if reflect.TypeOf(a).Kind() != reflect.Func {
		panic("not a function")
	}
	r.names = append(r.names, o.Name)
}

func TestRegisterEveryAction(t *testing.T) {
	var r recordingRegistry
	if err := Register(&r, Deps{Secrets: secret.Static{}, Store: &store.Store{}}); err != nil {
		t.Fatal(err)
	}
	want := action.Default().Names()
	slices.Sort(r.names)
	if !slices.Equal(r.names, want) {
		t.Fatalf("registered %v\nwant the catalog %v", r.names, want)
	}
	for _, n := range r.names {
		if ns := action.Namespace(n); ns != "cecp" && ns != "http" && ns != "notify" {
			t.Errorf("%s is outside the cecp, http and notify namespaces", n)
		}
	}
}

func TestNewNeedsDeps(t *testing.T) {
	if _, err := New(Deps{Store: &store.Store{}}); err == nil || err.Error() != "creating activities: no secret provider" {
		t.Errorf("New without secrets = %v", err)
	}
	if _, err := New(Deps{Secrets: secret.Static{}}); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("New without store = %v", err)
	}
}

func TestCheckInputs(t *testing.T) {
	cat := action.Default()
	tests := []struct {
		action string
		with   map[string]any
		want   string         // the error message, "" for none
		after  map[string]any // with after checking, when want is ""
	}{
		{"cecp.sweep", map[string]any{"sender": "a@x.example"}, "",
			map[string]any{"sender": "a@x.example", "limit": int64(1000), "max_results": int64(1000), "include_headers": false}},
		{"cecp.sweep", map[string]any{"sender": "a@x.example", "subject": "", "mailbox": nil, "limit": 20.0}, "",
			map[string]any{"sender": "a@x.example", "limit": 20.0, "max_results": int64(1000), "include_headers": false}},
		{"cecp.sweep", map[string]any{"sendr": "a@x.example"},
			`with.sendr is not an input of cecp.sweep (did you mean "sender"?) (inputs: connection, mailbox, lastndays, start, end, subject, file_sha1, file_sha256, file_name, file_extension, url, sender, recipient, message_id, source_ip, source_domain, limit, max_results, include_headers, cursor); ` +
				`set at least one of with.mailbox, with.subject, with.file_sha1, with.file_sha256, with.file_name, with.file_extension, with.url, with.sender, with.recipient, with.message_id, with.source_ip, with.source_domain`, nil},
		{"cecp.sweep", map[string]any{"sender": "not-an-address", "limit": 5000.0, "lastndays": 2.5, "file_sha1": "abc"},
			`with.lastndays must be an integer, got the number 2.5; with.file_sha1 must be a SHA-1 hash (40 hex digits), got "abc"; ` +
				`with.sender must be an email address (wildcards * allowed where the vendor allows them), got "not-an-address"; ` +
				`with.limit must be between 1 and 1000, got 5000`, nil},
		{"cecp.sweep", map[string]any{"sender": "a@x.example", "lastndays": 3.0, "start": "2026-01-01T00:00:00Z"},
			`with.lastndays and with.start cannot be used together`, nil},
		{"cecp.sweep", map[string]any{"sender": "a@x.example", "start": "yesterday"},
			`with.start must be an ISO-8601 UTC time such as 2026-01-02T03:04:05Z, got "yesterday"`, nil},
		{"cecp.mitigate_mails", map[string]any{"action": "purge", "mails": map[string]any{}},
			`with.action must be one of delete, quarantine, restore, got "purge"; with.mails must be a list of object, got an object`, nil},
		{"cecp.mitigate_mails", map[string]any{"action": "delet", "mails": []any{"x"}},
			`with.action must be one of delete, quarantine, restore, got "delet" (did you mean "delete"?); with.mails[0] must be an object, got the string "x"`, nil},
		{"cecp.mitigate_accounts", map[string]any{"accounts": []any{"a@x.example"}, "wait": "yes"},
			`with.action is required; with.wait must be true or false, got the string "yes"`, nil},
		{"cecp.block", map[string]any{}, `set at least one of with.senders, with.urls, with.filehashes, with.file256hashes`, nil},
		{"cecp.mitigation_results", map[string]any{"batch_id": "b1"},
			`with.batch_id must be a UUID, got "b1"`, nil},
		{"http.request", map[string]any{"url": "ftp://x.example/"},
			`with.url must be an absolute http or https URL, got "ftp://x.example/"`, nil},
		{"http.request", map[string]any{"url": "https://x.example/", "method": "get"},
			`with.method must be one of GET, POST, PUT, PATCH, DELETE, HEAD, got "get" (did you mean "GET"?)`, nil},
		{"notify.webhook", map[string]any{"connection": "soc", "text": ""}, `with.text must not be empty`, nil},
	}
	for _, tt := range tests {
		spec, _ := cat.Lookup(tt.action)
		with := cloneMap(tt.with)
		err := checkInputs(spec, with)
		got := ""
		if err != nil {
			got = err.Error()
			if f := classify(err); f.typ != action.InvalidInput {
				t.Errorf("%s %v: type %s", tt.action, tt.with, f.typ)
			}
		}
		if got != tt.want {
			t.Errorf("%s %v:\n got %s\nwant %s", tt.action, tt.with, got, tt.want)
			continue
		}
		if tt.after != nil && !reflect.DeepEqual(with, tt.after) {
			t.Errorf("%s %v: with after checking = %v, want %v", tt.action, tt.with, with, tt.after)
		}
	}
}

func TestFillSecrets(t *testing.T) {
	a, err := New(Deps{Secrets: secret.Static{"tok": "Bearer abc123", "pw": "hunter22"}, Store: &store.Store{}})
	if err != nil {
		t.Fatal(err)
	}
	with := map[string]any{"url": "https://x.example", "headers": map[string]any{"X-Other": "1"}, "list": []any{"a", nil}}
	refs := []plan.SecretRef{
		{Path: []string{"headers", "Authorization"}, Name: "tok"},
		{Path: []string{"list", "1"}, Name: "pw"},
		{Path: []string{"password"}, Name: "pw"},
		{Path: []string{"nested", "deeper", "key"}, Name: "tok"},
	}
	values, err := a.fillSecrets(t.Context(), with, refs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"url":      "https://x.example",
		"headers":  map[string]any{"X-Other": "1", "Authorization": "Bearer abc123"},
		"list":     []any{"a", "hunter22"},
		"password": "hunter22",
		"nested":   map[string]any{"deeper": map[string]any{"key": "Bearer abc123"}},
	}
	if !reflect.DeepEqual(with, want) {
		t.Errorf("with = %v\nwant %v", with, want)
	}
	if !slices.Equal(values, []string{"Bearer abc123", "hunter22", "hunter22", "Bearer abc123"}) {
		t.Errorf("values = %q", values)
	}

	tests := []struct {
		refs []plan.SecretRef
		want string
	}{
		{[]plan.SecretRef{{Path: []string{"password"}, Name: "missing"}},
			`with.password: secret "missing" not found`},
		{[]plan.SecretRef{{Path: []string{"list", "7"}, Name: "pw"}},
			`placing secret "pw" at with.list[7]: 7 is not an index of a list of 2`},
		{[]plan.SecretRef{{Path: []string{"url", "x"}, Name: "pw"}},
			`placing secret "pw" at with.url.x: x is inside the string "https://x.example", not an object or a list`},
		{[]plan.SecretRef{{Name: "pw"}}, `secret "pw" has no place in with`},
	}
	for _, tt := range tests {
		with := map[string]any{"url": "https://x.example", "list": []any{"a", nil}}
		_, err := a.fillSecrets(t.Context(), with, tt.refs)
		if err == nil || err.Error() != tt.want || classify(err).typ != action.InvalidInput {
			t.Errorf("refs %v: error %v\nwant InvalidInput: %s", tt.refs, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "hunter22") || strings.Contains(err.Error(), "abc123")) {
			t.Errorf("error %q shows a secret value", err)
		}
	}
}

func TestRedact(t *testing.T) {
	secrets := []string{`pa"ss<word>`, "abc"}
	raw := []byte(`{"echo":"pa\"ss\u003cword\u003e","plain":"pa\"ss<word>","short":"abc"}`)
	got := string(redactJSON(raw, secrets))
	want := `{"echo":"[redacted]","plain":"[redacted]","short":"abc"}`
	if got != want {
		t.Errorf("redactJSON = %s\nwant %s", got, want)
	}
	if got := redact(`token pa"ss<word> here`, secrets); got != "token [redacted] here" {
		t.Errorf("redact = %q", got)
	}
}
