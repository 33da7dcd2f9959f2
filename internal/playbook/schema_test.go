package playbook

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/action"
)

// TestSchema checks the generated JSON Schema's structure: every reference resolves, every action has a
// with definition listing all its inputs and its required ones. (It was also checked with ajv against the
// shipped playbooks and bad variants.)
func TestSchema(t *testing.T) {
	t.Parallel()
	s := schemaJSON(t)
	defs := s["definitions"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				name := strings.TrimPrefix(r, "#/definitions/")
				if _, ok := defs[name]; !ok {
					t.Errorf("unresolved $ref %s", r)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(s)
	for _, spec := range action.Default().Specs() {
		w, ok := defs["with:"+spec.Name].(map[string]any)
		if !ok {
			t.Errorf("no with definition for %s", spec.Name)
			continue
		}
		props := w["properties"].(map[string]any)
		var required []string
		for _, in := range spec.Inputs {
			if _, ok := props[in.Name]; !ok {
				t.Errorf("%s: input %s missing from the schema", spec.Name, in.Name)
			}
			if in.Required {
				required = append(required, in.Name)
			}
		}
		got, _ := json.Marshal(w["required"])
		want, _ := json.Marshal(required)
		if len(required) > 0 && string(got) != string(want) {
			t.Errorf("%s: required %s, want %s", spec.Name, got, want)
		}
	}
	approval := defs["step"].(map[string]any)["properties"].(map[string]any)["approval"].(map[string]any)["properties"].(map[string]any)
	for _, k := range approvalKeys {
		if _, ok := approval[k]; !ok {
			t.Errorf("approval.%s missing from the schema", k)
		}
	}
	if got, _ := json.Marshal(approval["notify"].(map[string]any)["type"]); string(got) != `"string"` {
		t.Errorf("approval.notify is %s, want a string", got)
	}
}

// TestSchemaKnowsEveryKey: every key the parser accepts is in the schema where an editor looks for it — the
// triggers (on.alert, on.schedule), inputs (enum), each step kind and modifier (loop bodies' steps), wait's
// until, approvals, finish, retry, next, on_error — so completion and validation in an editor match parry lint.
func TestSchemaKnowsEveryKey(t *testing.T) {
	t.Parallel()
	s := schemaJSON(t)
	defs := s["definitions"].(map[string]any)
	// keys collects the property names an object may have at v: its properties, and those of the
	// alternatives (anyOf, oneOf, allOf), list items and references it is made of.
	var keys func(v any, depth int) map[string]any
	keys = func(v any, depth int) map[string]any {
		out := map[string]any{}
		m, ok := v.(map[string]any)
		if !ok || depth > 4 {
			return out
		}
		if r, ok := m["$ref"].(string); ok {
			for k, p := range keys(defs[strings.TrimPrefix(r, "#/definitions/")], depth+1) {
				out[k] = p
			}
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for k, p := range props {
				out[k] = p
			}
		}
		for _, alt := range []string{"anyOf", "oneOf", "allOf"} {
			list, _ := m[alt].([]any)
			for _, a := range list {
				for k, p := range keys(a, depth+1) {
					out[k] = p
				}
			}
		}
		for k, p := range keys(m["items"], depth+1) {
			out[k] = p
		}
		return out
	}
	root := keys(s, 0)
	on := keys(root["on"], 0)
	step := keys(defs["step"], 0)
	for _, c := range []struct {
		where string
		at    map[string]any
		want  []string
	}{
		{"the top level", root, topKeys},
		{"on", on, onKeys},
		{"on.alert", keys(on["alert"], 0), alertKeys},
		{"on.alert.dedup", keys(keys(on["alert"], 0)["dedup"], 0), dedupKeys},
		{"on.schedule", keys(on["schedule"], 0), scheduleKeys},
		{"an input", keys(defs["input"], 0), inputKeys},
		{"a step", step, stepKeys},
		{"wait", keys(step["wait"], 0), waitKeys},
		{"approval", keys(step["approval"], 0), approvalKeys},
		{"finish", keys(step["finish"], 0), finishKeys},
		{"retry", keys(step["retry"], 0), retryKeys},
		{"next", keys(step["next"], 0), nextKeys},
		{"on_error", keys(step["on_error"], 0), onErrorKeys},
	} {
		for _, k := range c.want {
			if _, ok := c.at[k]; !ok {
				t.Errorf("%s: key %q is not in the schema", c.where, k)
			}
		}
	}
}

// schemaJSON is the generated schema, decoded.
func schemaJSON(t *testing.T) map[string]any {
	t.Helper()
	b, err := Schema(nil)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}
