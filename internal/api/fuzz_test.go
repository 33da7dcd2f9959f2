package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
)

// fuzzSeeds are requests the fuzzer starts from besides the probes: a valid request of every endpoint family.
// To cover a new endpoint family (the alert sources endpoints, when they exist), add a valid request of each of
// its routes here; the fuzzer mutates method, target and body from there.
var fuzzSeeds = []struct{ method, target, body string }{
	{"POST", "/v1/alerts", alertA},
	{"POST", "/v1/alerts", "[" + alertA + "," + alertB + "]"},
	{"POST", "/v1/alerts", alertB + "\n" + alertC + "\n"},
	{"POST", "/v1/alerts", dataAlert(`{"a":{"b":[1,2.5e3,"x",null,true]},"k":"\u00e9\ud83d\ude00"}`)},
	{"POST", "/v1/webhooks/alerts/none", alertA},
	{"GET", "/v1/alerts?status=pending&source=siem&limit=5&before=100", ""},
	{"POST", "/v1/playbooks", `{"playbooks":[{"file":"p.yaml","source":` + jsonString(fivePB) + `}],"enable":true}`},
	{"POST", "/v1/playbooks/probe/enable", `{"version":1}`},
	{"GET", "/v1/playbooks/probe?version=1", ""},
	{"POST", "/v1/runs", `{"playbook":"probe","inputs":{"who":"a@b.test"},"alert":` + alertA + `}`},
	{"GET", "/v1/runs?status=pending&playbook=probe&incident=1&since=24h&limit=10", ""},
	{"POST", "/v1/runs/probe-1/retry", `{"from":"s1","latest":true}`},
	{"POST", "/v1/runs/probe-1/replay", `{"source":` + jsonString(fivePB) + `}`},
	{"GET", "/v1/incidents?status=open&playbook=probe&limit=3", ""},
	{"POST", "/v1/tokens", `{"name":"fuzz","role":"viewer","webhook":true}`},
}

// FuzzAPIRequest sends arbitrary requests through the whole API (routing, auth, checks, handlers, the real
// store): no answer is a 5xx and nothing panics. `go test` runs the seeds; `make fuzz-api` fuzzes for 30 s.
func FuzzAPIRequest(f *testing.F) {
	// Temporal is reachable (no 503 is due to it) but has none of the runs' workflows.
	fx := newFullFixtureWith(f, emptyTemporal{})
	for _, p := range apiProbes {
		f.Add(p.method, p.path, p.body)
	}
	for _, s := range fuzzSeeds {
		f.Add(s.method, s.target, s.body)
	}
	admin := fx.tokens[store.RoleAdmin]
	f.Fuzz(func(t *testing.T, method, target, body string) {
		switch method {
		case "GET", "POST", "DELETE", "PUT":
		default:
			method = "POST"
		}
		if !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://parry.test"+target, strings.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q answered %d: %s\nlog:\n%s", method, target, rec.Code, rec.Body.String(), fx.logs.String())
		}
		if rec.Code >= 400 && req.URL.Path != "/metrics" {
			var e apitypes.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %q answered %d without an error body: %q", method, target, rec.Code, rec.Body.String())
			}
		} else if strings.HasPrefix(req.URL.Path, "/v1/") && !json.Valid(bytes.TrimSpace(rec.Body.Bytes())) {
			t.Fatalf("%s %q answered %d with invalid JSON: %q", method, target, rec.Code, rec.Body.String())
		}
	})
}
