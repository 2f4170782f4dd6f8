package models

import (
	"errors"
	"fmt"
)

// Error kinds. Every error that reaches a client wraps exactly one of them; the API maps the kind
// to an HTTP status in one place (api/errors.go).
var (
	ErrInvalid         = errors.New("invalid input")          // 400
	ErrUnauthenticated = errors.New("unauthenticated")        // 401
	ErrForbidden       = errors.New("forbidden")              // 403
	ErrNotFound        = errors.New("not found")              // 404, also "not yours"
	ErrConflict        = errors.New("conflict")               // 409
	ErrTooLarge        = errors.New("too large")              // 413
	ErrUnsupported     = errors.New("unsupported media type") // 415
	ErrUnprocessable   = errors.New("unprocessable")          // 422
	ErrRateLimited     = errors.New("rate limited")           // 429
	ErrUnavailable     = errors.New("dependency unavailable") // 503
	ErrNotImplemented  = errors.New("not configured")         // 501: a feature this server is not set up for
	ErrBadGateway      = errors.New("upstream failure")       // 502: a dependency answered, wrongly
)

// Error is a domain error with a stable machine-readable code (e.g. SESSION_NOT_FOUND) and a
// message safe to show to the caller. Kind is one of the Err* sentinels above.
type Error struct {
	Kind    error
	Code    string
	Message string
	Details map[string]any
	Err     error // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Is makes errors.Is(err, models.ErrNotFound) true for an *Error of that kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error of the given kind and code with a formatted message.
func Errorf(kind error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e with details attached. e itself is left alone, so a
// package-level error value can be decorated by concurrent requests.
func (e *Error) WithDetails(kv map[string]any) *Error {
	c := *e
	c.Details = kv
	return &c
}

// Wrap returns a copy of e with cause attached (for logs). e itself is left alone, so a
// package-level error value (errTurnFinished, say) can be wrapped by concurrent requests.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// Invalid reports a validation failure of one field.
func Invalid(field, format string, args ...any) *Error {
	return Errorf(ErrInvalid, "VALIDATION_ERROR", format, args...).WithDetails(map[string]any{"field": field})
}

// NotFound reports that the named object does not exist or is not visible to the caller.
// code is e.g. "SESSION"; the resulting code is "SESSION_NOT_FOUND".
func NotFound(code, what string) *Error {
	return Errorf(ErrNotFound, code+"_NOT_FOUND", "%s not found", what)
}

// CodeTemporalUnavailable is the error code callers get (and turns and runs are failed with)
// when Temporal cannot be reached.
const CodeTemporalUnavailable = "TEMPORAL_UNAVAILABLE"

// TemporalUnavailable reports that Temporal could not be reached (503).
func TemporalUnavailable(cause error) *Error {
	return Errorf(ErrUnavailable, CodeTemporalUnavailable, "the workflow service is unavailable; please retry").Wrap(cause)
}
