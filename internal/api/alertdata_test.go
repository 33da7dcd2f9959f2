package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/parry-soar/parry/internal/store"
)

// FuzzSanitizeData: whatever JSON object a source sends as data, what parry stores is valid JSON that
// PostgreSQL's jsonb holds, and data that needed nothing is stored byte for byte.
func FuzzSanitizeData(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"\u0000"}`, `{"\ud800":[1,{"x":"\udc00"}]}`, "{\"a\":\"\xff\"}", `{"n":1e999999,"m":[1e-99999]}`,
		`{"a":"x<y&z","b":"\\u0000","c":"\ud83d\ude00"}`, `{"deep":[[[[{"k\u0000":"v\u0000"}]]]]}`, `{"_parry":1,"a":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' {
			return
		}
		out, paths, err := sanitizeData(bytes.TrimSpace(data))
		if err != nil {
			if err != errDataTooDeep {
				t.Fatalf("sanitizing %q: %v", data, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("sanitizing %q gave invalid JSON %q", data, out)
		}
		if err := store.CheckJSON("data", out); err != nil {
			t.Fatalf("sanitizing %q gave %q, which PostgreSQL refuses: %v", data, out, err)
		}
		if len(paths) == 0 && !bytes.Equal(out, bytes.TrimSpace(data)) {
			t.Fatalf("clean data %q was changed to %q", data, out)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("not an object: %q", out)
		}
		if len(paths) > 0 {
			if _, ok := v[ReplacedKey]; !ok {
				t.Fatalf("replacements in %q are not recorded: %q", data, out)
			}
		}
	})
}
