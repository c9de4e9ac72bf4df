package failure

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// ErrorClassifier gives an opinion on an error. ok is false when it has no
// opinion (the SDK's aws.UnknownTernary), so the next classifier is asked.
type ErrorClassifier interface {
	ClassifyError(err error) (c Classification, ok bool)
}

// ErrorClassifierFunc adapts a function to ErrorClassifier.
type ErrorClassifierFunc func(err error) (Classification, bool)

// ClassifyError calls f(err).
func (f ErrorClassifierFunc) ClassifyError(err error) (Classification, bool) { return f(err) }

// ErrorClassifiers is a chain: the first classifier with an opinion wins.
type ErrorClassifiers []ErrorClassifier

// ClassifyError asks each classifier in turn.
func (cs ErrorClassifiers) ClassifyError(err error) (Classification, bool) {
	for _, c := range cs {
		if got, ok := c.ClassifyError(err); ok {
			return got, true
		}
	}
	return Classification{}, false
}

// DefaultErrorClassifiers returns, in a new slice, the chain ClassifyError
// uses: this package's named errors, a rate limiter's refusals
// (LimiterError), AWS API error codes (with the HTTP status), context
// cancellation and deadlines, connection errors, and errors that declare
// themselves retryable. Callers may prepend their own.
func DefaultErrorClassifiers() ErrorClassifiers {
	return ErrorClassifiers{
		ErrorClassifierFunc(classifyNamed),
		ErrorClassifierFunc(classifyLimiter),
		ErrorClassifierFunc(classifyAPIError),
		ErrorClassifierFunc(classifyContext),
		ErrorClassifierFunc(classifyConnection),
		ErrorClassifierFunc(classifyRetryable),
	}
}

// defaultChain is DefaultErrorClassifiers without the allocation.
var defaultChain = [...]ErrorClassifierFunc{classifyNamed, classifyLimiter, classifyAPIError, classifyContext, classifyConnection, classifyRetryable}

// ClassifyError classifies an error returned by an aws-sdk-go-v2 call (or
// by this product's handlers). It never fails: an error nobody recognises
// is transient with code Unknown, because it may have happened and a retry
// with the same client token is safe. A nil error is permanent with code
// NoError: there is nothing to retry.
//
// API is "<service>:<Operation>" from smithy's OperationError (ecs:RunTask,
// ec2:RunInstances). When the SDK gave up after its own retries
// (*retry.MaxAttemptsError) the message says so and a throttle's minimum
// delay doubles: the SDK already backed off that long.
func ClassifyError(err error) Classification {
	if err == nil {
		return build(rule{class: Permanent}, "NoError", SourceSDK, "nil error: nothing to classify")
	}
	var c Classification
	ok := false
	for _, f := range defaultChain {
		if c, ok = f(err); ok {
			break
		}
	}
	if !ok {
		c = build(rule{class: Transient}, "Unknown", SourceSDK, err.Error())
	}
	if c.API == "" {
		var op interface {
			Service() string
			Operation() string
		}
		if errors.As(err, &op) {
			c.API = apiName(op.Service(), op.Operation())
		}
	}
	var maxErr *retry.MaxAttemptsError
	if errors.As(err, &maxErr) {
		c.Message = clip("after " + strconv.Itoa(maxErr.Attempt) + " SDK attempts: " + c.Message)
		if c.Class == Throttled {
			c.MinDelaySeconds *= 2
		}
	}
	return c
}

// classifyNamed reads this package's own error types: their class is
// already decided.
func classifyNamed(err error) (Classification, bool) {
	var (
		d     Detail
		class Class
		cap   *CapacityError
	)
	if e, ok := errors.AsType[*ThrottledError](err); ok {
		d, class = e.Detail, Throttled
	} else if e, ok := errors.AsType[*CapacityError](err); ok {
		d, class, cap = e.Detail, Capacity, e
	} else if e, ok := errors.AsType[*QuotaError](err); ok {
		d, class = e.Detail, Quota
	} else if e, ok := errors.AsType[*TransientError](err); ok {
		d, class = e.Detail, Transient
	} else if e, ok := errors.AsType[*PermanentError](err); ok {
		d, class = e.Detail, Permanent
	} else {
		return Classification{}, false
	}
	r, _ := lookupCode(d.Code)
	r.class, r.api = class, d.Op
	c := build(r, d.Code, SourceLaunch, err.Error())
	if cap != nil {
		c.Scope, c.ScopeValue = cap.Scope, cap.ScopeValue
	}
	if s := d.RetryAfter.Seconds(); s > c.MinDelaySeconds {
		c.MinDelaySeconds = s
	}
	return c, true
}

// classifyAPIError classifies by the AWS error code (smithy.APIError, or
// anything with ErrorCode()), its message and the HTTP status.
func classifyAPIError(err error) (Classification, bool) {
	var coded interface{ ErrorCode() string }
	if !errors.As(err, &coded) {
		return classifyStatus(err)
	}
	msg := ""
	if m, ok := coded.(interface{ ErrorMessage() string }); ok {
		msg = m.ErrorMessage()
	}
	status := httpStatus(err)
	r, code := decide(coded.ErrorCode(), msg, status)
	if status == 0 && r.class == Transient && !known(coded.ErrorCode()) {
		// An unknown code without a status: the fault, when modelled, decides.
		if f, ok := coded.(interface{ ErrorFault() smithy.ErrorFault }); ok && f.ErrorFault() == smithy.FaultClient {
			r = rule{class: Permanent}
		}
	}
	return build(r, code, SourceSDK, coded.ErrorCode()+": "+msg), true
}

// known reports whether code or its message rules decided the class.
func known(code string) bool {
	_, ok := lookupCode(code)
	return ok
}

// classifyStatus classifies an HTTP error response that carried no code.
func classifyStatus(err error) (Classification, bool) {
	status := httpStatus(err)
	if status == 0 {
		return Classification{}, false
	}
	code := "HTTP" + strconv.Itoa(status)
	switch {
	case status == 429:
		return build(rule{class: Throttled}, code, SourceSDK, err.Error()), true
	case status >= 500:
		return build(rule{class: Transient}, code, SourceSDK, err.Error()), true
	case status >= 400:
		return build(rule{class: Permanent}, code, SourceSDK, err.Error()), true
	}
	return Classification{}, false
}

func httpStatus(err error) int {
	var s interface{ HTTPStatusCode() int }
	if errors.As(err, &s) {
		return s.HTTPStatusCode()
	}
	return 0
}

// classifyContext: a deadline or cancellation ends the call without an
// answer, so it may have happened.
func classifyContext(err error) (Classification, bool) {
	var canceled interface{ CanceledError() bool }
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return build(rule{class: Transient}, "DeadlineExceeded", SourceSDK, err.Error()), true
	case errors.Is(err, context.Canceled), errors.As(err, &canceled) && canceled.CanceledError():
		return build(rule{class: Transient}, "RequestCanceled", SourceSDK, err.Error()), true
	}
	return Classification{}, false
}

// classifyConnection: resets, refusals, broken pipes, truncated responses
// and network timeouts are transient — the request may have arrived.
func classifyConnection(err error) (Classification, bool) {
	code := ""
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		code = "ConnectionReset"
	case errors.Is(err, syscall.ECONNREFUSED):
		code = "ConnectionRefused"
	case errors.Is(err, syscall.EPIPE):
		code = "BrokenPipe"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		code = "UnexpectedEOF"
	case errors.As(err, &netErr):
		code = "NetworkError"
		if netErr.Timeout() {
			code = "NetworkTimeout"
		}
	default:
		return Classification{}, false
	}
	return build(rule{class: Transient}, code, SourceSDK, err.Error()), true
}

// classifyRetryable honours errors that declare themselves retryable
// (smithy's RequestSendError, the SDK's retryable wrappers).
func classifyRetryable(err error) (Classification, bool) {
	var r interface{ RetryableError() bool }
	if errors.As(err, &r) && r.RetryableError() {
		return build(rule{class: Transient}, "Retryable", SourceSDK, err.Error()), true
	}
	return Classification{}, false
}
