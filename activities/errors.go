package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/wire"
)

// failure is an error whose type is already decided.
type failure struct {
	typ string
	msg string
	// delay asks Temporal to retry after this long (VendorRateLimited).
	delay time.Duration
}

func (f *failure) Error() string { return f.msg }

// failf returns a failure of type typ.
func failf(typ, format string, args ...any) error {
	return &failure{typ: typ, msg: fmt.Sprintf(format, args...)}
}

// classify decides the type of err. Vendor errors map by what the vendor said; refusals of the client's own
// validation are the step's inputs; anything else (PostgreSQL, the artifact directory) is worth retrying.
func classify(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return &failure{typ: f.typ, msg: err.Error(), delay: f.delay}
	}
	var ve *cecp.ValidationError
	if errors.As(err, &ve) {
		return &failure{typ: action.InvalidInput, msg: err.Error()}
	}
	var ce *cecp.Error
	if errors.As(err, &ce) {
		out := &failure{msg: err.Error()}
		switch {
		case ce.RateLimited():
			out.typ, out.delay = action.VendorRateLimited, ce.RetryAfter
		case ce.Auth():
			out.typ = action.VendorAuth
		case ce.Transient():
			out.typ = action.VendorUnavailable
		case ce.Rejected():
			out.typ = action.VendorRejected
		default:
			// Cancelled while waiting for an answer: Temporal retries or drops the attempt as it sees fit.
			out.typ = action.VendorUnavailable
		}
		return out
	}
	return &failure{typ: action.VendorUnavailable, msg: err.Error()}
}

// toTemporal turns err into the error the activity returns: an application error of the closed set, with the
// values of the step's secrets removed from its message and the attempt in its details (so the step's
// attempts are right when it fails). A cancelled context is returned as is, so Temporal records a
// cancellation rather than a failure.
func toTemporal(err error, secrets []string, attempt int) error {
	if errors.Is(err, context.Canceled) {
		var f *failure
		if !errors.As(err, &f) {
			return err
		}
	}
	f := classify(err)
	var delay time.Duration
	if f.typ == action.VendorRateLimited {
		delay = f.delay
	}
	return wire.NewActionError(f.typ, redact(f.msg, secrets), attempt, delay)
}

// redactMin is the shortest value redacted: shorter ones would blank out ordinary words.
const redactMin = 4

// redact replaces every secret value in s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= redactMin {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// redactJSON removes secret values from an encoded output, in their raw and JSON-escaped spellings (a webhook
// echoing a header back, a body quoting a password).
func redactJSON(raw []byte, secrets []string) []byte {
	if len(secrets) == 0 {
		return raw
	}
	s := string(raw)
	changed := false
	for _, v := range secrets {
		if len(v) < redactMin {
			continue
		}
		enc, _ := json.Marshal(v)
		var plain bytes.Buffer
		e := json.NewEncoder(&plain)
		e.SetEscapeHTML(false)
		_ = e.Encode(v)
		noHTML := strings.TrimSuffix(plain.String(), "\n")
		forms := []string{v, string(enc[1 : len(enc)-1]), noHTML[1 : len(noHTML)-1]}
		for _, form := range forms {
			if strings.Contains(s, form) {
				s = strings.ReplaceAll(s, form, "[redacted]")
				changed = true
			}
		}
	}
	if !changed {
		return raw
	}
	return []byte(s)
}
