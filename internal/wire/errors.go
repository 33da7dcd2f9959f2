package wire

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Error types that activities return (Temporal application error types). Playbooks branch on them through
// steps.ID.error.type; retry policies list the non-retryable ones.
const (
	VendorRateLimited = "VendorRateLimited" // retryable: the quota or the vendor said "too many"; the delay travels with the error
	VendorUnavailable = "VendorUnavailable" // retryable: 5xx, connection errors, timeouts, a dependency of the worker down
	VendorRejected    = "VendorRejected"    // not retryable: the vendor refused the request (400, 404, 405)
	VendorAuth        = "VendorAuth"        // not retryable: bad or missing token, no permission (401, 403)
	InvalidInput      = "InvalidInput"      // not retryable: the step's inputs are wrong
)

// ActionErrorTypes is the closed set of the activities' error types, in documentation order.
var ActionErrorTypes = []string{VendorRateLimited, VendorUnavailable, VendorRejected, VendorAuth, InvalidInput}

// NonRetryable are the activity error types no retry policy retries.
var NonRetryable = []string{VendorRejected, VendorAuth, InvalidInput}

// IsNonRetryable reports whether typ is never retried.
func IsNonRetryable(typ string) bool {
	for _, t := range NonRetryable {
		if t == typ {
			return true
		}
	}
	return false
}

// Error types the interpreter gives to failures that do not come from an activity's own classification.
const (
	Expression      = "ExpressionError"  // an expression or template failed at run time
	LimitExceeded   = "LimitExceeded"    // a guard of the interpreter (step executions, output size, loop items)
	Timeout         = "Timeout"          // an activity, child run or approval ran out of time
	Cancelled       = "Cancelled"        // cancelled (a sibling branch failed, or the run was cancelled)
	ApprovalTimeout = "ApprovalTimeout"  // an approval with on_timeout: fail timed out
	UntilExhausted  = "UntilExhausted"   // until never became true within max_attempts
	FailStep        = "Failed"           // a fail step
	CallFailed      = "CallFailed"       // a called playbook failed
	PlaybookMissing = "PlaybookNotFound" // a called playbook was not given to the run
	// Internal is a failure nobody classified: an activity that panicked or returned an untyped error, a bug
	// in parry rather than in the playbook or at the vendor. It is retried like VendorUnavailable.
	Internal = "InternalError"
)

// RunErrorTypes are the interpreter's own error types, in documentation order.
var RunErrorTypes = []string{Expression, Timeout, ApprovalTimeout, UntilExhausted, CallFailed, PlaybookMissing,
	FailStep, Cancelled, LimitExceeded, Internal}

// Classified is an error with its type and message decided, as a step sees it.
type Classified struct {
	Type    string
	Message string
}

// Classify turns what ExecuteActivity (or a child workflow) returned into a type of the closed set and a
// message: the activity's own application error type, Timeout, Cancelled, or Internal for anything else.
func Classify(err error) Classified {
	var app *temporal.ApplicationError
	var timeout *temporal.TimeoutError
	var canceled *temporal.CanceledError
	var panicErr *temporal.PanicError
	switch {
	case err == nil:
		return Classified{}
	case errors.As(err, &app):
		typ := app.Type()
		if typ == "" {
			typ = Internal
		}
		return Classified{Type: typ, Message: app.Message()}
	case errors.As(err, &timeout):
		kind := strings.ToLower(strings.TrimPrefix(timeout.TimeoutType().String(), "TIMEOUT_TYPE_"))
		return Classified{Type: Timeout, Message: fmt.Sprintf("the action timed out (%s)", kind)}
	case errors.As(err, &canceled):
		return Classified{Type: Cancelled, Message: "cancelled"}
	case errors.As(err, &panicErr):
		return Classified{Type: Internal, Message: "the action panicked: " + panicErr.Error()}
	}
	return Classified{Type: Internal, Message: err.Error()}
}

// FailureDetails travel as the details of an action's error: what the workflow cannot learn from the error
// itself.
type FailureDetails struct {
	// Attempt is the attempt that failed (the last one, when retries ran out).
	Attempt int `json:"attempt"`
}

// NewActionError is the error an action returns: an application error of type typ whose details say which
// attempt failed. Errors of the non-retryable types are marked so; delay, when positive, asks Temporal to
// retry after it (a vendor's rate limit). A rate limit is benign: the expected back-off of a shared quota.
func NewActionError(typ, msg string, attempt int, delay time.Duration) error {
	opts := temporal.ApplicationErrorOptions{NonRetryable: IsNonRetryable(typ), Details: []any{FailureDetails{Attempt: attempt}}}
	if delay > 0 {
		opts.NextRetryDelay = delay
	}
	if typ == VendorRateLimited {
		// The expected back-off of a shared quota, not a failure: benign, so Temporal's worker logs it at debug
		// level instead of as an error, and the message (logged at info) says how long the step waits.
		opts.Category = temporal.ApplicationErrorCategoryBenign
		if delay > 0 && !strings.Contains(msg, "retry after") {
			msg += fmt.Sprintf(" (retrying in %s)", delay.Round(time.Second))
		}
	}
	return temporal.NewApplicationErrorWithOptions(msg, typ, opts)
}

// AttemptOf is the attempt an action's error says failed (0 when it does not say: an older worker, a timeout).
func AttemptOf(err error) int {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.HasDetails() {
		return 0
	}
	var d FailureDetails
	if app.Details(&d) != nil {
		return 0
	}
	return d.Attempt
}
