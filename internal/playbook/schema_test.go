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
	b, err := Schema(nil)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
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
