package plan

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30s", 30 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"2d", 48 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"500ms", 500 * time.Millisecond, false},
		{"-5m", 0, true},
		{"5", 0, true},
		{"4 hours", 0, true},
		{"d", 0, true},
		{"", 0, true},
	} {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
	}
	for d, want := range map[time.Duration]string{90 * time.Minute: "1h30m", 48 * time.Hour: "48h", 45 * time.Second: "45s", 0: "0s", 1500 * time.Millisecond: "1.5s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("%v: got %q, want %q", d, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	p := &Plan{
		PlanVersion: Version, Name: "x", SHA256: "abc", Timeout: Duration(24 * time.Hour),
		Inputs: []Input{{Name: "n", Type: "int", Default: int64(7)}, {Name: "b", Type: "bool", Default: false}},
		Steps: []Step{{ID: "a", Kind: KindAction, OnError: OnError{Action: OnErrorFail}, Action: &Action{
			Name: "cecp.sweep", With: map[string]any{"lastndays": int64(3), "ratio": 0.5, "sender": "${{ inputs.s }}", "l": []any{int64(1)}},
			AlertDefaults: map[string]string{"connection": "connection"},
			Timeout:       Duration(time.Minute), Retry: Retry{InitialInterval: Duration(time.Second), Backoff: 2, MaxInterval: Duration(time.Minute)},
		}}, {ID: "p", Kind: KindParallel, OnError: OnError{Action: OnErrorFail}, Parallel: []Branch{{Name: "b1", Steps: []Step{{ID: "w", Kind: KindWait, Wait: Duration(time.Second), OnError: OnError{Action: OnErrorFail}}}}}}},
	}
	b1, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(b1)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Encode(q)
	if !bytes.Equal(b1, b2) {
		t.Errorf("round trip changed the plan:\n%s\n%s", b1, b2)
	}
	if q.Steps[0].Action.With["lastndays"] != int64(3) || q.Steps[0].Action.With["ratio"] != 0.5 || q.Inputs[1].Default != false {
		t.Errorf("numbers: %#v", q.Steps[0].Action.With)
	}
	if s, ok := q.Step("w"); !ok || s.Wait.D() != time.Second {
		t.Error("Step(w) not found")
	}
	if _, err := Decode([]byte(`{"plan_version": 2}`)); err == nil || !strings.Contains(err.Error(), "plan version 2 is not supported") {
		t.Errorf("got %v", err)
	}
}

// TestDecodeUpgradesAlertDefaults: a plan compiled before actions carried AlertDefaults still gives its cecp.*
// steps the alert's connection; other actions get nothing, and a plan that has them keeps its own.
func TestDecodeUpgradesAlertDefaults(t *testing.T) {
	t.Parallel()
	old := `{"plan_version": 1, "name": "x", "sha256": "a", "timeout": "1h", "steps": [
		{"id": "s", "kind": "action", "on_error": {"action": "fail"}, "action": {"name": "cecp.sweep", "with": {}, "timeout": "1m", "retry": {}}},
		{"id": "h", "kind": "action", "on_error": {"action": "fail"}, "action": {"name": "http.request", "with": {}, "timeout": "1m", "retry": {}}},
		{"id": "o", "kind": "action", "on_error": {"action": "fail"}, "action": {"name": "cecp.block", "with": {}, "timeout": "1m", "retry": {},
			"alert_defaults": {"connection": "tenant"}}}]}`
	p, err := Decode([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, s := range p.Steps {
		got[s.ID] = s.Action.AlertDefaults
	}
	want := map[string]map[string]string{"s": {"connection": "connection"}, "h": nil, "o": {"connection": "tenant"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alert defaults = %v, want %v", got, want)
	}
}
