package cecpsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestStateShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 51, Mailboxes: 3, MailsPerMailbox: 1})
	h.do("GET", "/v1/sweeping/mails", nil)
	h.do("GET", "/v1/sweeping/mails", nil)
	h.do("POST", "/v1/remediation/mails", `{"action_type":"create","rules":{"senders":["a@b.example"]}}`)
	code, _, body := h.doToken("", "GET", "/_sim/state", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	if got := keys(raw); !reflect.DeepEqual(got, []string{"accounts", "blocklist", "mails", "requests"}) {
		t.Fatalf("keys %v", got)
	}
	var st struct {
		Mails     []map[string]json.RawMessage `json:"mails"`
		Blocklist map[string]json.RawMessage   `json:"blocklist"`
		Accounts  []map[string]json.RawMessage `json:"accounts"`
		Requests  map[string]int               `json:"requests"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if got := keys(st.Mails[0]); !reflect.DeepEqual(got, []string{"mail_unique_id", "mailbox", "state"}) {
		t.Fatalf("mail keys %v", got)
	}
	if got := keys(st.Blocklist); !reflect.DeepEqual(got, []string{"file256hashes", "filehashes", "senders", "urls"}) {
		t.Fatalf("blocklist keys %v", got)
	}
	if got := keys(st.Accounts[0]); !reflect.DeepEqual(got, []string{"email", "state"}) || len(st.Accounts) != 3 {
		t.Fatalf("account keys %v (%d accounts)", got, len(st.Accounts))
	}
	if !reflect.DeepEqual(st.Requests, map[string]int{"GET /v1/sweeping/mails": 2, "POST /v1/remediation/mails": 1}) {
		t.Fatalf("requests %v (admin requests must not count)", st.Requests)
	}
	code, _, body = h.doToken("", "GET", "/_sim/state?tenant=nope", nil)
	if code != 404 || string(body) != `{"error":"no tenant \"nope\""}`+"\n" {
		t.Fatalf("%d %s", code, body)
	}
}

func TestAdminMails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 52, Mailboxes: 2})
	at := epoch.Add(-time.Hour).Format("2006-01-02T15:04:05.000Z")
	body := `[{"mailbox":"alice@corp.example","mail_message_sender":"x@evil.example","mail_message_subject":"Hi","mail_message_delivery_time":"` + at + `",
	  "mail_urls":["https://evil.example/a"],"mail_attachments":[{"file_name":"a.txt","content":"aGVsbG8="}]},
	 {"mailbox":"bob@corp.example","mail_message_sender":"x@evil.example","mail_unique_id":"AAMkAmine","state":"quarantined"}]`
	code, _, resp := h.doToken("", "POST", "/_sim/mails", body)
	if code != 201 {
		t.Fatalf("%d %s", code, resp)
	}
	var stored []SweepMail
	if err := json.Unmarshal(resp, &stored); err != nil || len(stored) != 2 {
		t.Fatalf("%v %s", err, resp)
	}
	a := stored[0]
	if a.MailUniqueID == "" || a.MailMessageDeliveryTime != at || a.MailMessageID == "" || len(a.MailInternetHeaders) == 0 ||
		!reflect.DeepEqual(a.MailMessageRecipient, []string{"alice@corp.example"}) || a.SourceDomain != "evil.example" ||
		a.MailAttachments[0].FileSHA1 != "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d" {
		t.Fatalf("stored %+v", a)
	}
	if b := stored[1]; b.MailUniqueID != "AAMkAmine" || b.MailMessageDeliveryTime != fmtTime(epoch) {
		t.Fatalf("stored %+v", b)
	}
	var page sweepResponse
	h.getJSON("/v1/sweeping/mails?sender=x@evil.example", &page)
	if len(page.Value) != 2 || page.Value[0].MailUniqueID != a.MailUniqueID {
		t.Fatalf("sweep %+v", page.Value)
	}
	if h.mailState("AAMkAmine") != StateQuarantined {
		t.Fatal("state not applied")
	}
	for _, tc := range []struct{ body, msg string }{
		{`[{"mailbox":"alice@corp.example","mail_message_sendr":"x@y.example"}]`, `unknown field "mail_message_sendr" (did you mean "mail_message_sender"?)`},
		{`[{"mailbox":"alice","mail_message_sender":"x@y.example"}]`, `mail 1: mailbox "alice" is not an email address`},
		{`[{"mailbox":"a@corp.example","mail_message_sender":"x@y.example","mail_unique_id":"AAMkAmine"}]`, `mail 1: mail_unique_id "AAMkAmine" already exists`},
		{`[{"mailbox":"a@corp.example","mail_message_sender":"x@y.example","state":"deleted"}]`, `mail 1: state "deleted" must be delivered or quarantined`},
		{`[{"mailbox":"a@corp.example","mail_message_sender":"x@y.example","mail_attachments":[{"file_name":"a","content":"aGVsbG8=","file_sha1":"` + strings.Repeat("0", 40) + `"}]}]`, `mail 1: attachment "a": the given hashes are not those of its content`},
		{`{"mailbox":"a@corp.example"}`, `request body: json: cannot unmarshal object into Go value of type []cecpsim.NewMail`},
	} {
		code, _, resp := h.doToken("", "POST", "/_sim/mails", tc.body)
		if code != 400 || string(resp) != fmt.Sprintf(`{"error":%q}`, tc.msg)+"\n" {
			t.Errorf("%d %s\nwant %q", code, resp, tc.msg)
		}
	}
	if all, _ := h.sim.Mails(""); len(all) != 2+countGenerated(t, 52) {
		t.Fatalf("refused mails were stored: %d", len(all))
	}
}

func countGenerated(t *testing.T, seed int64) int {
	s, err := New(Options{Seed: seed, Mailboxes: 2, Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	return s.Tenants()[0].Mails
}

func TestAdminFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Seed: 53})
	code, _, body := h.doToken("", "POST", "/_sim/faults", `{"error_500":1,"paths":["GET /v1/sweeping"],"latency":"1ms"}`)
	if code != 200 || string(body) != `{"error_500":1,"latency":"1ms","paths":["GET /v1/sweeping"]}`+"\n" {
		t.Fatalf("%d %s", code, body)
	}
	if code, _, _ := h.do("GET", "/v1/sweeping/mails", nil); code != 500 {
		t.Fatalf("fault not applied: %d", code)
	}
	for in, msg := range map[string]string{
		`{"eror_500":1}`:     `unknown field "eror_500" (did you mean "error_500"?)`,
		`{"error_500":1.5}`:  `fault 500=1.5: a rate must be between 0 and 1`,
		`{"latency":"soon"}`: `request body: duration "soon": time: invalid duration "soon"`,
	} {
		code, _, body := h.doToken("", "POST", "/_sim/faults", in)
		if code != 400 || string(body) != fmt.Sprintf(`{"error":%q}`, msg)+"\n" {
			t.Errorf("%s: %d %s", in, code, body)
		}
	}
	code, _, body = h.doToken("", "POST", "/_sim/faults", `{}`)
	if code != 200 || string(body) != "{}\n" {
		t.Fatalf("clear: %d %s", code, body)
	}
	if code, _, _ := h.do("GET", "/v1/sweeping/mails", nil); code != 200 {
		t.Fatal("faults not cleared")
	}
	code, _, body = h.doToken("", "GET", "/_sim/nothing", nil)
	if code != http.StatusNotFound || !strings.Contains(string(body), "no admin endpoint GET /_sim/nothing") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	dump := func(seed int64) string {
		s, err := New(Options{Seed: seed, Now: func() time.Time { return epoch }})
		if err != nil {
			t.Fatal(err)
		}
		mails, _ := s.Mails("")
		b, _ := json.Marshal(mails)
		c, _ := json.Marshal(s.Tenants())
		return string(b) + string(c)
	}
	if a, b := dump(1), dump(1); a != b {
		t.Fatal("same seed, different data")
	}
	if dump(1) == dump(2) {
		t.Fatal("different seeds, same data")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts Options
		msg  string
	}{
		{Options{Mailboxes: -1}, "mailboxes -1 is outside 1..100000"},
		{Options{ActionFailRate: 2}, "action fail rate 2 is outside [0, 1]"},
		{Options{Faults: Faults{Hang: -1}}, "fault hang=-1: a rate must be between 0 and 1"},
		{Options{Tenants: []Tenant{{Name: "a", Tokens: []string{"t"}}, {Name: "a", Tokens: []string{"u"}}}}, `tenant "a" is defined twice`},
		{Options{Tenants: []Tenant{{Name: "a", Tokens: []string{"t"}}, {Name: "b", Tokens: []string{"t"}}}}, `tenant "b" reuses another tenant's token`},
		{Options{Tenants: []Tenant{{Name: "a"}}}, `tenant "a" has no token`},
		{Options{Tokens: []string{" padded"}}, `tenant "default" has an empty token or one with surrounding spaces`},
	} {
		if _, err := New(tc.opts); err == nil || err.Error() != tc.msg {
			t.Errorf("New(%+v) = %v, want %q", tc.opts, err, tc.msg)
		}
	}
}

// TestFaultsDocExample: the /_sim/faults body docs/simulator.md shows is accepted as shown and means what it
// says.
func TestFaultsDocExample(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "simulator.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`/_sim/faults -d '(\{[^']+\})'`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/simulator.md shows no /_sim/faults body")
	}
	h := newHarness(t, Options{Seed: 1})
	code, _, body := h.do(http.MethodPost, "/_sim/faults", string(m[1]))
	if code != 200 {
		t.Fatalf("the documented body: %d %s", code, body)
	}
	want := Faults{Error500: 0.05, Error503: 0.02, Latency: Duration(50 * time.Millisecond), Storm429: Duration(30 * time.Second),
		Paths: []string{"POST /v1/mitigation", "GET /v1/sweeping"}}
	if got := h.sim.Faults(); !reflect.DeepEqual(got, want) {
		t.Errorf("faults %+v, want %+v", got, want)
	}
	if code, _, _ := h.do(http.MethodPost, "/_sim/faults", "{}"); code != 200 || !reflect.DeepEqual(h.sim.Faults(), Faults{}) {
		t.Errorf("{} does not turn the faults off: %d %+v", code, h.sim.Faults())
	}
}
