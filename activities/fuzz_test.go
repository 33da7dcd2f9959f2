package activities

import (
	"encoding/json"
	"testing"

	"github.com/parry-soar/parry/internal/action"
)

// FuzzInputs feeds arbitrary `with` objects (alert data reaches them through templates) to the input checks
// and the readers of mails, quarantine references and header values: none may panic, a checked input must
// stay valid when checked again, and every refusal must be InvalidInput.
func FuzzInputs(f *testing.F) {
	specs := action.Default().Specs()
	f.Add(uint8(3), []byte(`{"sender":"a@b.example","lastndays":3}`))
	f.Add(uint8(4), []byte(`{"action":"restore","mails":[{"message":{"mailbox":"a@b","mail_unique_id":"u","detection_time":"2026-01-02T03:04:05Z","mail_log_id":"l"}}]}`))
	f.Add(uint8(10), []byte(`{"url":"https://x.example/a?b=c","headers":{"A":["1",2,true]},"query":{"q":null}}`))
	f.Add(uint8(2), []byte(`{"mail":{"mailbox":"x@y","mail_unique_id":"u","mail_message_delivery_time":1700000000000}}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		var with map[string]any
		if json.Unmarshal(data, &with) != nil || with == nil {
			return
		}
		spec := specs[int(which)%len(specs)]
		err := checkInputs(spec, with)
		if err != nil {
			if f := classify(err); f.typ != action.InvalidInput {
				t.Fatalf("refusal of type %s: %v", f.typ, err)
			}
		} else if err := checkInputs(spec, with); err != nil {
			t.Fatalf("checked inputs fail a second check: %v", err)
		}
		if mails, ok := with["mails"].([]any); ok {
			for i, m := range mails {
				if mm, ok := m.(map[string]any); ok {
					if _, err := mailAction(i, mm, "MAIL_DELETE", "exchange"); err != nil && classify(err).typ != action.InvalidInput {
						t.Fatalf("mail %d: %v", i, err)
					}
				}
			}
		}
		if m, ok := with["mail"].(map[string]any); ok {
			if _, err := quarantineRef(m); err != nil && classify(err).typ != action.InvalidInput {
				t.Fatalf("mail: %v", err)
			}
		}
		for _, k := range []string{"headers", "query"} {
			if m, ok := with[k].(map[string]any); ok {
				for _, v := range m {
					_, _ = stringValues(v)
				}
			}
		}
	})
}
