package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
)

// fuzzSeeds are requests the fuzzer starts from besides the probes: a valid request of every endpoint family.
// To cover a new endpoint family, add a valid request of each of its routes here; the fuzzer mutates method,
// target and body from there.
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
	{"GET", "/v1/sources", ""},
	{"GET", "/v1/sources/cfgsrc", ""},
	{"POST", "/v1/sources", `{"file":"s.yaml","source":` + jsonString("sources:\n  - name: fz\n    auth: bearer\n    secret: cfg-secret\n    split: body.items\n    severity_default: low\n    map:\n      kind: '\"k\"'\n      title: item.t\n      source_id: item.id\n      data: item\n") + `}`},
	{"POST", "/v1/sources/cfgsrc/alerts", `{"id":"c-1","title":"from config"}`},
	{"POST", "/v1/sources/fz/alerts", `{"items":[{"t":"a","id":1},{"t":"b","id":"x","z":[1,{"y":null}]}]}`},
	{"POST", "/v1/.", ""},
	{"GET", "//v1/alerts", ""},
	{"POST", "/v1/runs/../tokens/", `{"name":"x","role":"viewer"}`},
	{"GET", "/ui/../v1/whoami", ""},
	{"POST", "/v1/sources/alertmanager/alerts", `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A","severity":"critical"},"startsAt":"2026-12-02T09:00:00Z","fingerprint":"f1"}]}`},
}

// sourceBearer is the secret the fuzzer sends to a source's intake endpoint (the sources of the harness use
// bearer secrets), so that mutated bodies reach the mapping instead of stopping at a 401.
var sourceBearer = map[string]string{"cfgsrc": "cfg-value", "fz": "cfg-value", "alertmanager": "am-s3cret-value"}

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
	am, err := os.ReadFile("../../deploy/sources/alertmanager.yaml")
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := fx.store.PutSourceVersion(context.Background(), store.SourceVersion{Name: "alertmanager", SHA256: "fuzz", File: "alertmanager.yaml",
		Definition: string(am), Auth: "bearer", SecretRef: "alertmanager-webhook", CreatedBy: "fuzz"}); err != nil {
		f.Fatal(err)
	}
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
		if rest, ok := strings.CutPrefix(req.URL.Path, "/v1/sources/"); ok {
			if name, ok := strings.CutSuffix(rest, "/alerts"); ok && sourceBearer[name] != "" {
				req.Header.Set("Authorization", "Bearer "+sourceBearer[name])
			}
		}
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
