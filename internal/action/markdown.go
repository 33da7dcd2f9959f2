package action

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Markdown renders the catalog as the reference page docs/actions.md.
func (c *Catalog) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Actions\n\n")
	b.WriteString("<!-- Generated from internal/action by `go test ./internal/action -update`. Do not edit. -->\n\n")
	b.WriteString("Every `action:` step runs one of these. `with` sets the inputs; `steps.ID.output` holds the outputs. ")
	b.WriteString("Inputs marked *secret* accept only `secret(\"name\")`. A step's `retry` and `timeout` override the defaults below.\n\n")
	b.WriteString("Errors a step can fail with (`steps.ID.error.type`, for `next` rules and `on_error`):\n\n")
	for _, e := range ErrorTypes {
		retry := "retried"
		for _, n := range nonRetryable {
			if n == e {
				retry = "not retried"
			}
		}
		fmt.Fprintf(&b, "- `%s` (%s)\n", e, retry)
	}
	b.WriteString("\n| action | summary |\n|---|---|\n")
	for _, s := range c.Specs() {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", s.Name, anchor(s.Name), s.Summary)
	}
	for _, s := range c.Specs() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n%s\n\n", s.Name, s.Summary, s.Description)
		mut := "no"
		if s.Mutates {
			mut = "yes (audited; bounded retries)"
		}
		fmt.Fprintf(&b, "Changes state outside parry: %s. Timeout per attempt: %s", mut, fmtDuration(s.Timeout))
		if s.ScheduleToClose > 0 {
			fmt.Fprintf(&b, "; all attempts within %s", fmtDuration(s.ScheduleToClose))
		}
		fmt.Fprintf(&b, ". Retry: %s.\n\n", retryText(s.Retry))
		b.WriteString("### Inputs\n\n| name | type | required | default | description |\n|---|---|---|---|---|\n")
		for _, in := range s.Inputs {
			req := ""
			if in.Required {
				req = "yes"
			}
			def := ""
			if in.Default != nil {
				j, _ := json.Marshal(in.Default)
				def = "`" + string(j) + "`"
			}
			desc := in.Description
			if len(in.Enum) > 0 {
				desc += " One of `" + strings.Join(in.Enum, "`, `") + "`."
			}
			switch {
			case in.Min != nil && in.Max != nil:
				desc += fmt.Sprintf(" From %d to %d.", *in.Min, *in.Max)
			case in.Min != nil:
				desc += fmt.Sprintf(" At least %d.", *in.Min)
			case in.Max != nil:
				desc += fmt.Sprintf(" At most %d.", *in.Max)
			}
			typ := typeDoc(in.Type)
			if in.Secret {
				typ += ", *secret*"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", in.Name, typ, req, def, desc)
		}
		for _, g := range s.AtLeastOne {
			fmt.Fprintf(&b, "\nSet at least one of `%s`.\n", strings.Join(g, "`, `"))
		}
		for _, g := range s.Exclusive {
			fmt.Fprintf(&b, "\n`%s` cannot be used together.\n", strings.Join(g, "` and `"))
		}
		b.WriteString("\n### Output\n\n| field | type | description |\n|---|---|---|\n")
		writeFields(&b, "", s.Output.Fields)
	}
	return b.Bytes()
}

func writeFields(b *bytes.Buffer, prefix string, fields []Field) {
	for _, fl := range fields {
		name := prefix + fl.Name
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", name, typeDoc(fl.Type), fl.Description)
		t := fl.Type
		suffix := "."
		if t.Kind == List && t.Elem != nil {
			t = *t.Elem
			suffix = "[]."
		}
		if t.Kind == Object && len(t.Fields) > 0 {
			writeFields(b, name+suffix, t.Fields)
		}
	}
}

func typeDoc(t Type) string {
	s := t.String()
	if t.Format != "" {
		s += " (" + t.Format + ")"
	} else if t.Kind == List && t.Elem != nil && t.Elem.Format != "" {
		s += " (" + t.Elem.Format + ")"
	}
	return s
}

func retryText(r RetryPolicy) string {
	attempts := "until the time bound"
	if r.MaxAttempts > 0 {
		attempts = fmt.Sprintf("at most %d attempts", r.MaxAttempts)
	}
	return fmt.Sprintf("%s, first after %s, backoff x%g, at most %s apart; never on %s", attempts,
		fmtDuration(r.InitialInterval), r.Backoff, fmtDuration(r.MaxInterval), strings.Join(r.NonRetryable, ", "))
}

// fmtDuration writes 1h30m rather than Go's 1h30m0s.
func fmtDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s := d % time.Minute / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

func anchor(name string) string {
	return strings.NewReplacer(".", "", "_", "_").Replace(name)
}
