package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
)

// probe is one request that must never be a 5xx: bad input is the caller's, and the answer says which field.
type probe struct {
	name, method, path string
	role               store.Role
	body               string
	status             int
	code               string // the error code, "" for a success
	msgHas             string // a part of the message (names the field)
}

func alertWith(field, value string) string {
	a := map[string]any{"source": "siem", "kind": "phish", "severity": "high", "title": "t", "observed_at": "2026-11-23T10:00:00Z"}
	b, _ := json.Marshal(a)
	s := string(b)
	return strings.Replace(s, `{`, `{"`+field+`":`+value+`,`, 1)
}

func dataAlert(data string) string {
	return `{"source":"siem","kind":"phish","severity":"high","title":"t","observed_at":"2026-11-23T10:00:00Z","data":` + data + `}`
}

const fivePB = "name: probe\nsteps:\n  - id: s1\n    action: cecp.sweep\n    with: { sender: a@evil.test }\n"

// apiProbes are the probes of issue 15 (nine answered 500 before) and more; the fuzz target starts from them.
var apiProbes = []probe{
	// Alerts: NUL is refused in parry's own text fields, kept (replaced) in the source's data.
	{"NUL in title", "POST", "/v1/alerts", store.RoleIngest, strings.Replace(dataAlert(`{}`), `"title":"t"`, `"title":"a\u0000b"`, 1), 400, apitypes.CodeInvalidAlerts, `title holds a NUL character`},
	{"NUL in source", "POST", "/v1/alerts", store.RoleIngest, strings.Replace(dataAlert(`{}`), `"source":"siem"`, `"source":"s\u0000"`, 1), 400, apitypes.CodeInvalidAlerts, `source holds a NUL character`},
	{"NUL in id", "POST", "/v1/alerts", store.RoleIngest, alertWith("id", `"x\u0000"`), 400, apitypes.CodeInvalidAlerts, `id holds a NUL character`},
	{"NUL in connection", "POST", "/v1/alerts", store.RoleIngest, alertWith("connection", `"p\u0000"`), 400, apitypes.CodeInvalidAlerts, `connection holds a NUL`},
	{"NUL in data value", "POST", "/v1/alerts", store.RoleIngest, dataAlert(`{"note":"a\u0000b"}`), 202, "", ""},
	{"NUL in data key", "POST", "/v1/alerts", store.RoleIngest, dataAlert(`{"k\u0000":"v"}`), 202, "", ""},
	{"invalid UTF-8 in data", "POST", "/v1/alerts", store.RoleIngest, dataAlert("{\"x\":\"\xff\xfe\"}"), 202, "", ""},
	{"lone surrogate in data", "POST", "/v1/alerts", store.RoleIngest, dataAlert(`{"x":"\ud800"}`), 202, "", ""},
	{"lone low surrogate in data", "POST", "/v1/alerts", store.RoleIngest, dataAlert(`{"x":["ok","\udc00z"]}`), 202, "", ""},
	{"number beyond numeric", "POST", "/v1/alerts", store.RoleIngest, dataAlert(`{"n":1e999999}`), 202, "", ""},
	{"tiny number beyond numeric", "POST", "/v1/alerts", store.RoleIngest, dataAlert(`{"n":1e-99999}`), 202, "", ""},
	{"deep data", "POST", "/v1/alerts", store.RoleIngest, dataAlert(strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70)), 400, apitypes.CodeInvalidAlerts, "nested deeper than 64"},
	{"invalid UTF-8 in title", "POST", "/v1/alerts", store.RoleIngest, strings.Replace(dataAlert(`{}`), `"title":"t"`, "\"title\":\"\xff\"", 1), 202, "", ""},
	{"alerts bad status", "GET", "/v1/alerts?status=gone", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "status must be pending or dispatched"},
	{"alerts negative limit", "GET", "/v1/alerts?limit=-1", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "limit"},
	{"alerts huge before", "GET", "/v1/alerts?before=99999999999999999999", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "before"},
	// Ids are bigint: a cursor beyond int4 is a valid (empty) page, never a 500 (found by make fuzz-api).
	{"alerts before beyond int4", "GET", "/v1/alerts?before=2170000000", store.RoleViewer, "", 200, "", ""},
	{"incidents before beyond int4", "GET", "/v1/incidents?before=9223372036854775807", store.RoleViewer, "", 200, "", ""},
	{"runs incident beyond int4", "GET", "/v1/runs?incident=2170000000", store.RoleViewer, "", 200, "", ""},
	{"audit before beyond int4", "GET", "/v1/audit?before=2170000000", store.RoleViewer, "", 200, "", ""},
	{"alert id overflow", "GET", "/v1/alerts/99999999999999999999", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "alert id"},
	{"alert id negative", "GET", "/v1/alerts/-4", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "alert id"},
	{"alert source NUL", "GET", "/v1/alerts?source=%00", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "source holds a NUL"},

	// Runs: query parameters and path values.
	{"NUL in playbook filter", "GET", "/v1/runs?playbook=%00", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "playbook holds a NUL"},
	{"bad playbook filter", "GET", "/v1/runs?playbook=Has+Space", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "is not a playbook name"},
	{"NUL in run id", "GET", "/v1/runs/%00", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "id in the path holds a NUL"},
	{"invalid UTF-8 in run id", "GET", "/v1/runs/%ff", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "not valid UTF-8"},
	{"overlong run id", "GET", "/v1/runs/" + strings.Repeat("r", 300), store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "longer than 256"},
	{"overlong path value", "GET", "/v1/runs/" + strings.Repeat("r", 2000), store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "longer than"},
	{"slash in run id", "GET", "/v1/runs/a%2Fb", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "slashes"},
	{"unknown run", "GET", "/v1/runs/nope", store.RoleViewer, "", 404, apitypes.CodeNotFound, "run nope not found"},
	{"bad status", "GET", "/v1/runs?status=broken", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "status must be pending, running, waiting, succeeded, failed or cancelled"},
	{"negative limit", "GET", "/v1/runs?limit=-5", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "limit"},
	{"zero limit", "GET", "/v1/runs?limit=0", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "limit"},
	{"huge limit", "GET", "/v1/runs?limit=99999999999999999999", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "limit"},
	{"bad since", "GET", "/v1/runs?since=1week", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "since"},
	{"negative since", "GET", "/v1/runs?since=-5h", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "since"},
	{"huge since", "GET", "/v1/runs?since=2562047h", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "since"},
	{"since time", "GET", "/v1/runs?since=2026-01-02T03:04:05Z", store.RoleViewer, "", 200, "", ""},
	{"incident zero", "GET", "/v1/runs?incident=0", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "incident"},
	{"unknown parameter", "GET", "/v1/runs?stauts=failed", store.RoleViewer, "", 400, apitypes.CodeUnknownParameter, `unknown query parameter "stauts" (did you mean "status"?)`},
	{"repeated parameter", "GET", "/v1/runs?status=failed&status=running", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "given 2 times"},
	{"malformed query", "GET", "/v1/runs?status=%zz", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "query string is malformed"},
	{"parameter on a route without any", "GET", "/v1/whoami?x=1", store.RoleViewer, "", 400, apitypes.CodeUnknownParameter, "takes no query parameters"},
	{"full not a bool", "GET", "/v1/runs/nope?full=yes", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "full must be true or false"},
	{"run_id with NUL", "POST", "/v1/runs", store.RoleResponder, `{"source":"x","run_id":"a\u0000"}`, 400, apitypes.CodeInvalidParameter, "run_id holds a NUL"},
	{"source with NUL", "POST", "/v1/runs", store.RoleResponder, `{"source":"name: a\u0000"}`, 400, apitypes.CodeInvalidParameter, "source contains a NUL"},
	{"inputs with NUL", "POST", "/v1/runs", store.RoleResponder, `{"source":"x","inputs":{"who":["a","b\u0000"]}}`, 400, apitypes.CodeInvalidParameter, "inputs.who[1] holds a NUL"},
	{"version overflow in body", "POST", "/v1/runs", store.RoleResponder, `{"playbook":"x","version":99999999999}`, 400, apitypes.CodeInvalidParameter, "version must be a positive whole number"},
	{"version beyond int64", "POST", "/v1/runs", store.RoleResponder, `{"playbook":"x","version":1e30}`, 400, apitypes.CodeBadJSON, `field "version" must be a whole number in range`},
	{"playbook and source", "POST", "/v1/runs", store.RoleResponder, `{"playbook":"x","source":"y"}`, 400, apitypes.CodeInvalidParameter, "either playbook"},
	{"unknown registered playbook", "POST", "/v1/runs", store.RoleResponder, `{"playbook":"ghost"}`, 404, apitypes.CodeNotFound, `an enabled version of playbook "ghost" not found`},
	{"plan with a YAML NUL escape", "POST", "/v1/runs", store.RoleResponder, `{"source":` + jsonString(strings.Replace(fivePB, "a@evil.test", `"a\0@evil.test"`, 1)) + `}`, 400, apitypes.CodeInvalid, "NUL"},
	{"run while Temporal is down", "POST", "/v1/runs", store.RoleResponder, `{"source":` + jsonString(fivePB) + `,"run_id":"probe-1"}`, 202, "", ""},
	{"retry with two plans", "POST", "/v1/runs/probe-1/retry", store.RoleResponder, `{"version":2,"latest":true}`, 400, apitypes.CodeInvalidParameter, "at most one of source, version and latest"},
	{"retry from NUL", "POST", "/v1/runs/probe-1/retry", store.RoleResponder, `{"from":"s\u0000"}`, 400, apitypes.CodeInvalidParameter, "from must be a step id"},
	{"retry a pending run", "POST", "/v1/runs/probe-1/retry", store.RoleResponder, `{}`, 409, apitypes.CodeConflict, "is still pending"},
	{"overlong step", "POST", "/v1/runs/probe-1/approvals/" + strings.Repeat("s", 300), store.RoleResponder, `{"approved":true}`, 400, apitypes.CodeInvalidParameter, "step id is longer"},
	{"approve while Temporal is down", "POST", "/v1/runs/probe-1/approvals/s1", store.RoleResponder, `{"approved":true}`, 503, apitypes.CodeTemporalUnavailable, "Temporal is unreachable; the request was not done, try again when it is back (request id "},
	{"export a run not started", "GET", "/v1/runs/probe-1/export", store.RoleViewer, "", 409, apitypes.CodeConflict, "has not started"},
	{"dot segment", "POST", "/v1/.", store.RoleAdmin, "", 404, apitypes.CodeNotFound, "no endpoint POST /v1/.: paths are matched as written (no '.', '..' or '//' segments); did you mean /v1?"},
	{"double slash", "GET", "//v1/runs", store.RoleViewer, "", 404, apitypes.CodeNotFound, "did you mean /v1/runs?"},
	{"dot-dot segment", "POST", "/v1/runs/x/../../tokens", store.RoleAdmin, `{"name":"n","role":"viewer"}`, 404, apitypes.CodeNotFound, "did you mean /v1/tokens?"},
	{"wrong method", "DELETE", "/v1/runs", store.RoleAdmin, "", 405, apitypes.CodeMethodNotAllowed, "this path takes GET, POST"},

	// Playbooks.
	{"version overflow", "GET", "/v1/playbooks/x?version=99999999999", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "version must be a positive whole number at most 2147483647"},
	{"version zero", "GET", "/v1/playbooks/x?version=0", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "version"},
	{"NUL in playbook name", "GET", "/v1/playbooks/a%00", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "holds a NUL"},
	{"enable version overflow", "POST", "/v1/playbooks/x/enable", store.RoleAuthor, `{"version":99999999999}`, 400, apitypes.CodeInvalidParameter, "version"},
	{"enable negative version", "POST", "/v1/playbooks/x/enable", store.RoleAuthor, `{"version":-1}`, 400, apitypes.CodeInvalidParameter, "version"},
	{"push source with NUL", "POST", "/v1/playbooks", store.RoleAuthor, `{"playbooks":[{"file":"a.yaml","source":"name: a\u0000"}]}`, 400, apitypes.CodeInvalidParameter, "playbooks[0].source contains a NUL"},
	{"push file name with NUL", "POST", "/v1/playbooks", store.RoleAuthor, `{"playbooks":[{"file":"a\u0000.yaml","source":"x"}]}`, 400, apitypes.CodeInvalidParameter, "playbooks[0].file"},
	{"push a YAML NUL escape", "POST", "/v1/playbooks", store.RoleAuthor, `{"playbooks":[{"file":"a.yaml","source":` + jsonString(strings.Replace(fivePB, "a@evil.test", `"a\0@evil.test"`, 1)) + `}]}`, 400, apitypes.CodeInvalid, "NUL"},
	{"push unknown member", "POST", "/v1/playbooks", store.RoleAuthor, `{"playbooks":[{"file":"a.yaml","sourse":"x"}]}`, 400, apitypes.CodeBadJSON, `unknown field "playbooks[0].sourse" (did you mean "source"?)`},

	// Incidents and tokens.
	{"incident id zero", "GET", "/v1/incidents/0", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "incident id"},
	{"incident id overflow", "POST", "/v1/incidents/99999999999999999999/close", store.RoleResponder, "", 400, apitypes.CodeInvalidParameter, "incident id"},
	{"incident NUL playbook", "GET", "/v1/incidents?playbook=%00", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "NUL"},
	{"incident limit", "GET", "/v1/incidents?limit=1001", store.RoleViewer, "", 400, apitypes.CodeInvalidParameter, "limit"},
	{"token name with NUL", "POST", "/v1/tokens", store.RoleAdmin, `{"name":"a\u0000","role":"viewer"}`, 400, apitypes.CodeInvalidParameter, "token name holds a NUL"},
	{"overlong token name", "POST", "/v1/tokens", store.RoleAdmin, `{"name":"` + strings.Repeat("n", 101) + `","role":"viewer"}`, 400, apitypes.CodeInvalidParameter, "longer than 100"},
	{"revoke NUL", "DELETE", "/v1/tokens/%00", store.RoleAdmin, "", 400, apitypes.CodeInvalidParameter, "NUL"},
	{"tokens all not a bool", "GET", "/v1/tokens?all=maybe", store.RoleAdmin, "", 400, apitypes.CodeInvalidParameter, "all must be true or false"},
	{"webhook NUL name", "POST", "/v1/webhooks/alerts/%00", "", dataAlert(`{}`), 400, apitypes.CodeInvalidParameter, "NUL"},
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBadInputIsNeverA5xx sends every probe through the real handler and store (issue 15): each answers its
// status and code, and the message names the field.
func TestBadInputIsNeverA5xx(t *testing.T) {
	f := newFullFixture(t)
	for _, p := range apiProbes {
		t.Run(p.name, func(t *testing.T) {
			code, body, _ := f.do(t, p.method, p.path, f.tokens[p.role], p.body)
			if code != p.status {
				t.Fatalf("status %d, want %d: %s", code, p.status, body)
			}
			if p.code == "" {
				return
			}
			var e apitypes.ErrorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != p.code || !strings.Contains(e.Error.Message, p.msgHas) {
				t.Fatalf("got %s\nwant code %s, message with %q", body, p.code, p.msgHas)
			}
		})
	}
}

// TestAlertDataIsKeptWithReplacements checks what is stored for data PostgreSQL cannot hold as sent: the
// rest byte for byte, the offending characters as U+FFFD, and a record of the places.
func TestAlertDataIsKeptWithReplacements(t *testing.T) {
	f := newFullFixture(t)
	body := dataAlert(`{"note":"a\u0000b","keep":"x<y & z","list":[1,"\ud800",{"k\u0000":2}],"big":1e999999,"ok":"\ud83d\ude00"}`)
	code, resp, _ := f.do(t, "POST", "/v1/alerts", f.tokens[store.RoleIngest], body)
	var r apitypes.IntakeResponse
	if code != 202 || json.Unmarshal([]byte(resp), &r) != nil || len(r.Alerts) != 1 {
		t.Fatalf("%d %s", code, resp)
	}
	wantPaths := `["data.note","data.list[1]","data.list[2][\"k�\"]","data.big"]`
	if got, _ := json.Marshal(r.Alerts[0].Replaced); string(got) != wantPaths {
		t.Fatalf("replaced %s, want %s", got, wantPaths)
	}
	a, err := f.store.GetAlert(context.Background(), r.Alerts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(a.Data, &data); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(data)
	want := `{"_parry":{"replaced":["data.note","data.list[1]","data.list[2][\"k�\"]","data.big"],"replaced_count":4},"big":"1e999999","keep":"x\u003cy \u0026 z","list":[1,"�",{"k�":2}],"note":"a�b","ok":"😀"}`
	if string(got) != want {
		t.Fatalf("stored %s\nwant   %s", got, want)
	}
	// Clean data is stored as sent, without a record.
	code, resp, _ = f.do(t, "POST", "/v1/alerts", f.tokens[store.RoleIngest], dataAlert(`{"a":"\u00e9"}`))
	if code != 202 || strings.Contains(resp, "replaced") {
		t.Fatalf("clean: %d %s", code, resp)
	}
}
