package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/parry-soar/parry/internal/store"
)

// Audit outcomes of a mutating call.
const (
	OutcomeAccepted  = "accepted"          // the vendor (or endpoint) accepted the change
	OutcomeFailed    = "failed"            // refused or not sent: nothing changed
	OutcomeAmbiguous = "ambiguous"         // sent, no answer: the change may have happened
	OutcomeDuplicate = "skipped-duplicate" // not sent: the change was already there (found by a lookup, or by reading the lists)
)

// auditEntry is one mutating call.
type auditEntry struct {
	connection string
	operation  string
	targets    int
	vendorIDs  []string
	outcome    string
	details    map[string]any
}

// audit appends the row of one mutating call. It runs even when ctx was cancelled after the call, since the
// change at the vendor happened either way.
func (a *Activities) audit(ctx context.Context, c *call, e auditEntry) error {
	ids := []string{}
	for _, id := range e.vendorIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	var details json.RawMessage
	if len(e.details) > 0 {
		b, err := json.Marshal(e.details)
		if err != nil {
			return fmt.Errorf("encoding audit details: %w", err)
		}
		// Details quote vendor and endpoint messages, which may echo what they were sent.
		details = redactJSON(b, c.secrets)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := a.deps.Store.AppendAudit(actx, store.AuditEvent{
		Actor:      "run:" + c.runID,
		Action:     c.spec.Name,
		RunID:      c.runID,
		StepID:     c.step,
		Attempt:    c.attempt,
		Connection: e.connection,
		Operation:  e.operation,
		Targets:    e.targets,
		VendorIDs:  ids,
		Outcome:    e.outcome,
		Details:    details,
	})
	if err != nil {
		return fmt.Errorf("recording the audit row of %s: %w", e.operation, err)
	}
	return nil
}

// auditFailure appends a row that must not fail the step: the row of a call that failed (the call's own error
// is what the step reports), or of a call that cannot be repeated safely. A row that cannot be written is
// logged instead.
func (a *Activities) auditFailure(ctx context.Context, c *call, e auditEntry) {
	if err := a.audit(ctx, c, e); err != nil {
		c.logger.Error("audit row not recorded", "operation", e.operation, "outcome", e.outcome, "error", err.Error())
	}
}
