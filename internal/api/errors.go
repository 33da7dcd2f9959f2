package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.temporal.io/api/serviceerror"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
)

// Error is an API error with its HTTP status and a stable machine-readable code (apitypes.Code*). Its Message
// is public: it says what happened and what to do, and never carries an internal error's text.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details lists per-item problems (for example one entry per invalid alert).
	Details any
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an API error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// paramErrorf is a query parameter, path value or request field with a value the endpoint does not take.
func paramErrorf(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, apitypes.CodeInvalidParameter, format, args...)
}

// classify turns any error a handler returned into the API error to send, and says whether the cause must be
// logged (5xx, and 4xx that only the database caught). Typed errors only: never the error's text.
func classify(err error, requestID string) (*Error, slog.Level, bool) {
	var apiErr *Error
	var maxErr *http.MaxBytesError
	var invalid *store.InvalidError
	var in *runs.InputError
	var nf *runs.NotFoundError
	var conflict *runs.ConflictError
	switch {
	case errors.As(err, &apiErr):
		return apiErr, 0, false
	case errors.As(err, &maxErr):
		return Errorf(http.StatusRequestEntityTooLarge, apitypes.CodeBodyTooLarge, "request body is larger than %d bytes", maxErr.Limit), 0, false
	case errors.As(err, &invalid):
		return Errorf(http.StatusBadRequest, apitypes.CodeInvalid, "%s", invalid.Error()), 0, false
	case errors.As(err, &in):
		return Errorf(http.StatusBadRequest, apitypes.CodeInvalid, "%s", in.Err.Error()), 0, false
	case errors.As(err, &nf):
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "%s", nf.Error()), 0, false
	case errors.As(err, &conflict):
		return Errorf(http.StatusConflict, apitypes.CodeConflict, "%s", conflict.Msg), 0, false
	case errors.Is(err, store.ErrNotFound):
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "the object this request names does not exist"), 0, false
	}
	if msg, ok := temporalUnavailable(err); ok {
		return Errorf(http.StatusServiceUnavailable, apitypes.CodeTemporalUnavailable, "%s; the request was not done, try again when it is back (request id %s)", msg, requestID), slog.LevelError, true
	}
	if store.Unavailable(err) {
		return Errorf(http.StatusServiceUnavailable, apitypes.CodeDatabaseUnavailable, "the database is unreachable; the request was not done, try again when it is back (request id %s)", requestID), slog.LevelError, true
	}
	if what, ok := store.DataException(err); ok {
		// Validation should have caught it before SQL: still the caller's value, but worth a look.
		return Errorf(http.StatusBadRequest, apitypes.CodeInvalid, "the request holds %s, which the database cannot store; fix that value (request id %s)", what, requestID), slog.LevelWarn, true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Errorf(http.StatusServiceUnavailable, apitypes.CodeUnavailable, "the database or Temporal did not answer in time; try again (request id %s)", requestID), slog.LevelError, true
	}
	if errors.Is(err, context.Canceled) {
		return Errorf(http.StatusServiceUnavailable, apitypes.CodeUnavailable, "the request was cancelled before it finished (request id %s)", requestID), slog.LevelInfo, true
	}
	return Errorf(http.StatusInternalServerError, apitypes.CodeInternal, "parry could not handle this request because of an internal error; the server log has the cause under request id %s (report it if it persists)", requestID), slog.LevelError, true
}

// temporalUnavailable recognises Temporal's answers that mean "not now": unreachable, overloaded, too slow.
func temporalUnavailable(err error) (string, bool) {
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	var exhausted *serviceerror.ResourceExhausted
	switch {
	case errors.As(err, &unavailable):
		return "Temporal is unreachable", true
	case errors.As(err, &deadline):
		return "Temporal did not answer in time", true
	case errors.As(err, &exhausted):
		return "Temporal is overloaded", true
	}
	return "", false
}

// writeError renders err: the public message to the client, the cause (5xx) to the log with the request id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	id := RequestID(r.Context())
	apiErr, level, logIt := classify(err, id)
	if logIt {
		s.Logger.Log(r.Context(), level, "request failed", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", apiErr.Status, "code", apiErr.Code, "error", err)
	}
	if apiErr.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parry"`)
	}
	body := apitypes.Error{Code: apiErr.Code, Message: apiErr.Message}
	if apiErr.Status >= 500 {
		body.RequestID = id
	}
	if apiErr.Details != nil {
		b, merr := json.Marshal(apiErr.Details)
		if merr == nil {
			body.Details = b
		}
	}
	_ = WriteJSON(w, apiErr.Status, apitypes.ErrorBody{Error: body})
}
