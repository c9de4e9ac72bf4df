package failure

import (
	"fmt"
	"time"
)

// Detail is the content shared by the five named error types.
type Detail struct {
	// Code is the AWS code or event name behind the error.
	Code string
	// Op is the operation that failed, e.g. ecs:RunTask.
	Op string
	// RetryAfter is the least time to wait before retrying (simulated time);
	// zero when unknown.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

func (d Detail) format(kind string) string {
	msg := kind
	if d.Op != "" {
		msg += " in " + d.Op
	}
	if d.Code != "" {
		msg += ": " + d.Code
	}
	if d.Err != nil {
		msg += ": " + d.Err.Error()
	}
	return msg
}

// ThrottledError is returned when an API's request rate limit was hit.
type ThrottledError struct{ Detail }

// CapacityError is returned when capacity is not available now.
type CapacityError struct {
	Detail
	Scope      ScopeKind
	ScopeValue string
}

// QuotaError is returned when an account quota is reached.
type QuotaError struct{ Detail }

// TransientError is returned when the outcome of a call is unknown: it may
// have happened, so a retry must reuse the idempotency token.
type TransientError struct{ Detail }

// PermanentError is returned for bad input or configuration.
type PermanentError struct{ Detail }

func (e *ThrottledError) Error() string { return e.format("throttled") }
func (e *CapacityError) Error() string  { return e.format("insufficient capacity") }
func (e *QuotaError) Error() string     { return e.format("quota exceeded") }
func (e *TransientError) Error() string { return e.format("transient failure") }
func (e *PermanentError) Error() string { return e.format("permanent failure") }

func (e *ThrottledError) Unwrap() error { return e.Err }
func (e *CapacityError) Unwrap() error  { return e.Err }
func (e *QuotaError) Unwrap() error     { return e.Err }
func (e *TransientError) Unwrap() error { return e.Err }
func (e *PermanentError) Unwrap() error { return e.Err }

// ErrorNames are the Go type names of the five errors: the errorType a Go
// Lambda reports and the ErrorEquals names the state machines match.
var ErrorNames = [...]string{"ThrottledError", "CapacityError", "QuotaError", "TransientError", "PermanentError"}

// ErrorFor returns the named error of c's class, carrying its code, op,
// minimum delay and message, for a handler to return unwrapped.
func ErrorFor(c Classification, op string, err error) error {
	if err == nil && c.Message != "" {
		err = fmt.Errorf("%s", c.Message)
	}
	d := Detail{Code: c.Code, Op: op, RetryAfter: c.MinDelay(), Err: err}
	switch c.Class {
	case Throttled:
		return &ThrottledError{d}
	case Capacity:
		return &CapacityError{Detail: d, Scope: c.Scope, ScopeValue: c.ScopeValue}
	case Quota:
		return &QuotaError{d}
	case Transient:
		return &TransientError{d}
	default:
		return &PermanentError{d}
	}
}
