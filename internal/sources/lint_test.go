package sources_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/sources"
)

// TestParseDiagnostics lints broken source files and expects every problem, each at its file:line:col.
func TestParseDiagnostics(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string
	}{
		{"unknown keys with did-you-mean", `sources:
  - name: s1
    auth: hmac
    secret: s1-secret
    severty_default: high
    map:
      kind: '"k"'
      titel: '"t"'
      title: body.x
`, []string{
			`f.yaml:5:5: error: unknown key "severty_default" in source "s1" (did you mean "severity_default"?)`,
			`f.yaml:7:7: error: map has no severity and the source no severity_default: give one or both`,
			`f.yaml:8:7: error: unknown key "titel" in map (did you mean "title"?)`,
		}},
		{"expression errors at their character", `sources:
  - name: s2
    auth: bearer
    secret: s2
    severity_default: low
    map:
      kind: 'bdoy.kind'
      title: '"x" + item.host'
      observed_at: 'body.a +'
      data: '"not an object"'
`, []string{
			`f.yaml:7:14: error: kind: unknown name "bdoy" (did you mean "body"?)`,
			`f.yaml:8:21: error: title: unknown name "item" (item and index exist only in a source with split:)`,
			`f.yaml:9:28: error: observed_at: unexpected token EOF`,
			`f.yaml:10:13: error: data must give an object; this expression gives a string`,
		}},
		{"bad values", `sources:
  - name: Bad Name
    auth: hmca
    secret: "pry_abc def"
    severity_default: urgent
    split: body.items
    map:
      kind: 1
      title: '${{ body.t }}'
`, []string{
			`f.yaml:2:11: error: source name "Bad Name" must be 1-63 lower-case letters, digits, - or _, starting with a letter or digit`,
			`f.yaml:3:11: error: auth must be hmac or bearer, not "hmca" (did you mean "hmac"?)`,
			`f.yaml:4:13: error: secret must name a secret (letters, digits, - and _, like splunk-webhook), which parry reads from PARRY_SECRET_<NAME> or the secrets directory; never the secret itself`,
			`f.yaml:5:23: error: severity_default must be one of info, low, medium, high, critical, not "urgent"`,
			`f.yaml:8:13: error: map.kind must be a string, got the number 1 (quote it: "1")`,
			`f.yaml:9:14: error: map.title is an expression already: write it without ${{ }}`,
		}},
		{"missing keys and duplicates", `sources:
  - name: d
    map: {kind: '"k"', title: '"t"', severity: '"low"'}
  - name: d
    auth: hmac
    secret: x
    map: {kind: '"k"', title: '"t"', severity: '"low"'}
`, []string{
			`f.yaml:2:5: error: missing required key "auth" in source "d"`,
			`f.yaml:2:5: error: missing required key "secret" in source "d"`,
			`f.yaml:4:5: error: source "d" is defined twice (first at line 2)`,
		}},
		{"not a sources file", "playbook: x\n", []string{
			`f.yaml:1:1: error: missing required key "sources" at the top level`,
			`f.yaml:1:1: error: unknown key "playbook" at the top level`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags := sources.Parse("f.yaml", []byte(c.file), false)
			var got []string
			for _, d := range diags {
				got = append(got, d.String())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// TestParseConfig reads the sources: section of parry.yaml and ignores its other settings.
func TestParseConfig(t *testing.T) {
	srcs, diags := sources.Parse("parry.yaml", []byte("api:\n  listen: :8080\nsources:\n  - name: a\n    auth: hmac\n    secret: a\n    severity_default: low\n    map: {kind: '\"k\"', title: body.t}\n"), true)
	if len(diags) > 0 || len(srcs) != 1 || srcs[0].Name != "a" || srcs[0].Map["title"] != "body.t" {
		t.Fatalf("got %+v %v", srcs, diags)
	}
	if srcs, diags := sources.Parse("parry.yaml", []byte("api:\n  listen: :8080\n"), true); len(srcs) != 0 || len(diags) != 0 {
		t.Fatalf("a parry.yaml without sources: got %v %v", srcs, diags)
	}
}

func compileOne(t *testing.T, file string) *sources.Mapping {
	t.Helper()
	srcs, diags := sources.Parse("f.yaml", []byte(file), false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	m, err := sources.Compile(srcs[0], expression.NewEngine())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMapProblems: a body maps whole or not at all, and every item's problems are listed.
func TestMapProblems(t *testing.T) {
	m := compileOne(t, `sources:
  - name: s
    auth: hmac
    secret: s
    split: body.items
    severity_default: low
    map:
      kind: '"k"'
      title: '"t " + item.name'
      observed_at: item.at
      source_id: item.id
      data: item
`)
	cases := []struct{ body, want string }{
		{`{"items":[{"name":"a","id":1,"at":"2026-01-02T03:04:05Z"},{"id":2},{"name":"c","at":{"x":1}}]}`,
			`1 title map.title: invalid operation: string + <nil>|2 observed_at map.observed_at gave an object, not a time`},
		{`{"items":[]}`, `0 split split body.items gave an empty list: no alerts`},
		{`{"items":{"a":1}}`, `0 split split body.items gave an object, not a list`},
		{`{"items":[1]}`, `0 title map.title: cannot fetch name from float64|0 observed_at map.observed_at: cannot fetch at from float64|0 source_id map.source_id: cannot fetch id from float64|0 data map.data gave a number, not an object`},
		{`{"items":`, `0  the body is not JSON: unexpected EOF`},
		{`{} {}`, `0  the body holds more than one JSON value`},
	}
	for _, c := range cases {
		_, problems := m.Map(sources.Input{Body: []byte(c.body), Headers: http.Header{}})
		var got []string
		for _, p := range problems {
			got = append(got, strings.Join([]string{itoa(p.Index), p.Field, p.Message}, " "))
		}
		if strings.Join(got, "|") != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.body, strings.Join(got, "|"), c.want)
		}
	}
	alerts, problems := m.Map(sources.Input{Body: []byte(`{"items":[{"name":"a","id":12345678901,"at":1767323045.25}]}`)})
	if len(problems) > 0 || len(alerts) != 1 || string(alerts[0].ID) != `"12345678901"` || alerts[0].ObservedAt != "2026-01-02T03:04:05.25Z" || alerts[0].Severity != "low" {
		t.Fatalf("got %+v %v", alerts, problems)
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// A mapping reads headers by lower-case name (the first value of each); credential headers — the bearer token,
// proxy credentials, cookies and the webhook signatures — are never in its scope, so no secret can reach an
// alert's data however the mapping is written.
func TestMapHeaders(t *testing.T) {
	m := compileOne(t, `sources:
  - name: s
    auth: bearer
    secret: s
    severity_default: low
    map:
      kind: '"k"'
      title: 'headers["x-event-type"] + " from " + (headers["user-agent"] ?? "?")'
      data: headers
`)
	h := http.Header{}
	h.Set("X-Event-Type", "incident")
	h.Add("User-Agent", "Logic Apps/2.0")
	h.Add("User-Agent", "second value")
	for _, k := range []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Parry-Signature", "X-Parry-Signature-256", "X-Hub-Signature", "X-Hub-Signature-256"} {
		h.Set(k, "secret-"+k)
	}
	alerts, problems := m.Map(sources.Input{Body: []byte(`{}`), Headers: h})
	if len(problems) > 0 || len(alerts) != 1 {
		t.Fatalf("got %+v %v", alerts, problems)
	}
	if alerts[0].Title != "incident from Logic Apps/2.0" {
		t.Fatalf("title %q", alerts[0].Title)
	}
	data := string(alerts[0].Data)
	if want := `{"user-agent":"Logic Apps/2.0","x-event-type":"incident"}`; data != want {
		t.Fatalf("data %s, want %s", data, want)
	}
	if strings.Contains(data, "secret-") {
		t.Fatalf("a credential header reached the mapping: %s", data)
	}
}
