package api

import "encoding/json"

// mustJSON marshals values that cannot fail to marshal (maps of strings and numbers).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
