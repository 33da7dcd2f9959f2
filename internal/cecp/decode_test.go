package cecp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestTimeDecoding(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{`"2026-01-02T03:04:05.678Z"`, want, ""},
		{`"2026-01-02T04:04:05.678+01:00"`, want, ""},
		{`"2026-01-02T03:04:05.678"`, want, ""},
		{`"2026-01-02 03:04:05.678"`, want, ""},
		{`1767323045678`, want, ""},
		{`"1767323045678"`, want, ""},
		{`1767323045678.0`, want, ""},
		{`""`, time.Time{}, ""},
		{`null`, time.Time{}, ""},
		{`"yesterday"`, time.Time{}, `timestamp "yesterday" is neither ISO-8601 nor epoch milliseconds`},
		{`true`, time.Time{}, `timestamp true is neither ISO-8601 nor epoch milliseconds`},
		{`1e300`, time.Time{}, `timestamp 1e300 is neither ISO-8601 nor epoch milliseconds`},
		{`"99999-01-01T00:00:00Z"`, time.Time{}, `timestamp "99999-01-01T00:00:00Z" is neither ISO-8601 nor epoch milliseconds`},
		{`999999999999999`, time.Time{}, `timestamp 999999999999999 is outside the years 1 to 9999`},
	} {
		var got Time
		err := json.Unmarshal([]byte(tc.in), &got)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	if b, _ := json.Marshal(T(want)); string(b) != `"2026-01-02T03:04:05.678Z"` {
		t.Errorf("marshal %s", b)
	}
	if b, _ := json.Marshal(Time{}); string(b) != `""` {
		t.Errorf("zero marshal %s", b)
	}
}

func TestFlexDecoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
		err  bool
	}{
		{`0`, 0, false}, {`-999`, -999, false}, {`"200"`, 200, false}, {`""`, 0, false}, {`null`, 0, false},
		{`" 7 "`, 7, false}, {`2.0`, 2, false}, {`2.5`, 0, true}, {`"x"`, 0, true}, {`[]`, 0, true}, {`99999999999`, 0, true},
	} {
		var n flexInt
		err := json.Unmarshal([]byte(tc.in), &n)
		if (err != nil) != tc.err || (!tc.err && int(n) != tc.want) {
			t.Errorf("%s: %d %v", tc.in, n, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want string
	}{
		{`["a","b"]`, `["a","b"]`}, {`"a"`, `["a"]`}, {` [ "a" , "b" ] `, `["a","b"]`}, {`["a\"b","\u00e9"]`, `["a\"b","é"]`},
		{"[\"\xff\"]", "[\"\uFFFD\"]"}, {`["a",1]`, ``}, {`""`, `[]`}, {`null`, `[]`}, {`["a",null,""]`, `["a",""]`}, {`[]`, `[]`},
	} {
		var s Strings
		if err := json.Unmarshal([]byte(tc.in), &s); err != nil {
			if tc.want != "" {
				t.Errorf("%s: %v", tc.in, err)
			}
			continue
		}
		if b, _ := json.Marshal(s); string(b) != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, b, tc.want)
		}
	}
}

// fuzzPage checks a page decoder on arbitrary bytes: no panic; a JSON object whose item list is a list always
// decodes, every element accounted for (decoded or set aside, never dropped); and the decoded items re-encode
// to a form that decodes and re-encodes to itself (the canonical form is stable, so --json output can be fed
// back in, and a value kept as received stays as received).
func fuzzPage[T any](t *testing.T, data []byte, key itemsKey) {
	body := pageBody[T]{key: key}
	err := json.Unmarshal(data, &body)
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) == nil {
		var list []json.RawMessage
		raw, has := probe[key.String()]
		// The scanner takes the last of repeated keys, as encoding/json does.
		if !has || json.Unmarshal(raw, &list) == nil {
			if err != nil {
				t.Fatalf("a page whose %s is a list (or absent) failed to decode: %v", key, err)
			}
			if body.total != len(list) || len(body.items)+len(body.bad) != len(list) {
				t.Fatalf("%d elements, %d decoded and %d set aside (total %d)", len(list), len(body.items), len(body.bad), body.total)
			}
		}
	}
	if err != nil {
		return
	}
	b1, err := json.Marshal(body.items)
	if err != nil {
		t.Fatalf("re-encoding decoded items: %v", err)
	}
	var again []T
	if err := json.Unmarshal(b1, &again); err != nil {
		t.Fatalf("decoding re-encoded items %s: %v", b1, err)
	}
	b2, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("unstable encoding:\n%s\n%s", b1, b2)
	}
}

func addFixtures(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(fixture(f, n, "https://api.tmcas.trendmicro.com"))
	}
	f.Add([]byte(`{"value":[{"mail_message_delivery_time":1767323045678,"mail_message_recipient":"x","mail_urls":null}]}`))
	f.Add([]byte(`{"actions":[{"error_code":"-999","action_executed_at":"","status":"Failed"}],"next_link":null}`))
	f.Add([]byte(`{"security_events":[{"log_item_id":"a","message":{"triggered_dlp_template":["PCI-DSS",{"name":"GDPR"}],"risk_level":3}},null,"x",{"log_item_id":{"no":1}}]}`))
	f.Add([]byte(`{"quarantine_events":[{"service":["Exchange Online"],"message":{"mail_unique_id":7,"detection_time":true}}],"next_link":5}`))
}

func FuzzDecodeSweepPage(f *testing.F) {
	addFixtures(f, "sweep_page1.json", "sweep_page2.json")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPage[SweepMail](t, data, keyValue) })
}

func FuzzDecodeSecurityEvents(f *testing.F) {
	addFixtures(f, "security_events.json")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPage[SecurityEvent](t, data, keySecurityEvents) })
}

func FuzzDecodeQuarantineEvents(f *testing.F) {
	addFixtures(f, "quarantine_events.json")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPage[QuarantineEvent](t, data, keyQuarantineEvents) })
}

func FuzzDecodeActions(f *testing.F) {
	addFixtures(f, "mail_actions.json", "account_actions.json")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPage[Action](t, data, keyActions) })
}

func FuzzDecodeErrorBody(f *testing.F) {
	addFixtures(f, "error_401.json", "error_429.json", "blocklist_get.json")
	f.Add([]byte("<html>\x00\xff</html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var env envelope
		_ = json.Unmarshal(data, &env)
		s := excerpt(data, "secret-token")
		if len([]rune(s)) > excerptLen+1 || bytes.Contains([]byte(s), []byte("secret-token")) {
			t.Fatalf("excerpt %q", s)
		}
		var r rulesBody
		_ = json.Unmarshal(data, &r)
	})
}

// sweepPage builds a page of n realistic sweep items.
func sweepPage(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"current_link":"https://api.tmcas.trendmicro.com/v1/sweeping/mails?limit=1000","next_link":"https://api.tmcas.trendmicro.com/v1/sweeping/mails?limit=1000&skiptoken=WzE3NjczMTUwNjIwMDAsIkFBTWsiXQ==","traceId":"80674f37-480d-4f37-862f-2f842ad8e732","value":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"mailbox":"user%[1]d@contoso.example","mail_message_sender":"billing@evil.example","mail_message_recipient":["user%[1]d@contoso.example"],`+
			`"mail_message_subject":"Invoice %[1]d overdue","mail_message_id":"<CAF=%[1]d@mail.example>","mail_unique_id":"AAMkAGY3OTQyMzMzLWYxNjktNDE0My05NmZhLWQ5MGY1YjIyNzBkNABGAAAAAACYCKjWAnXBTrnhgWJCcLX7BwDrxRwRjq%[1]d=",`+
			`"mail_message_delivery_time":"2026-01-02T00:%02[2]d:%02[3]d.000Z","mail_urls":["https://evil.example/pay?id=%[1]d","http://evil.example/logo.png"],`+
			`"mail_attachments":[{"file_name":"invoice%[1]d.docm","file_sha1":"3395856ce81f2b7382dee72602f798b642f14140","file_sha256":"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}],`+
			`"mail_internet_headers":[{"HeaderName":"Return-Path","Value":"<billing@evil.example>"},{"HeaderName":"Received","Value":"from mail.evil.example (203.0.113.7) by mx.contoso.example"},`+
			`{"HeaderName":"Authentication-Results","Value":"spf=fail smtp.mailfrom=evil.example; dkim=none; dmarc=fail"},{"HeaderName":"X-Mailer","Value":"PHPMailer 6.1"}],`+
			`"source_ip":"203.0.113.%[4]d","source_domain":"evil.example"}`, i, i/60%60, i%60, i%255)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkDecodeSweepPage decodes a 1,000-item sweep page the way the pager does.
func BenchmarkDecodeSweepPage(b *testing.B) {
	data := sweepPage(1000)
	r := &request{method: "GET", path: "/v1/sweeping/mails"}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		body := pageBody[SweepMail]{key: keyValue}
		if err := body.decode(r, &response{status: 200, body: data}); err != nil {
			b.Fatal(err)
		}
		if len(body.items) != 1000 {
			b.Fatal(len(body.items))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/item")
	b.ReportMetric(float64(len(data))/1024, "KiB/page")
}
