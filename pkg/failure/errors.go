package failure

import (
	"errors"
	"strconv"
	"strings"
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

// format writes the message every named error uses:
//
//	<kind>[ <code>][ in <op>][ [<scope> <value>]][: <err>]
//
// e.g. "throttled ThrottlingException in ecs:RunTask: Rate exceeded". The
// code is quoted when it holds spaces. The layout is parsed back by
// parseNamed when the message reaches classify inside a Step Functions
// Cause, so code, op and scope survive the trip through errorMessage.
func (d Detail) format(kind string, scope ScopeKind, value string) string {
	var b strings.Builder
	b.WriteString(kind)
	if d.Code != "" {
		b.WriteByte(' ')
		b.WriteString(quoteToken(d.Code))
	}
	if d.Op != "" {
		b.WriteString(" in ")
		b.WriteString(quoteToken(d.Op))
	}
	if scope != ScopeNone {
		b.WriteString(" [")
		b.WriteString(string(scope))
		if value != "" {
			b.WriteByte(' ')
			b.WriteString(quoteToken(value))
		}
		b.WriteByte(']')
	}
	if d.Err != nil {
		b.WriteString(": ")
		b.WriteString(d.Err.Error())
	}
	return b.String()
}

// quoteToken quotes s when it would not read back as one token.
func quoteToken(s string) string {
	if s == "" || s == "in" || strings.HasSuffix(s, ":") || strings.HasPrefix(s, "\"") ||
		strings.ContainsAny(s, " []") || strings.IndexFunc(s, func(r rune) bool { return r < 0x21 || r >= 0x7f }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// ThrottledError is returned when an API's request rate limit was hit.
type ThrottledError struct{ Detail }

// CapacityError is returned when capacity is not available now. Scope says
// what the shortage is specific to (subnet, AZ, instance type, cluster), so
// the launcher knows where to fail over.
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

// The message prefixes of the five named errors.
const (
	kindThrottled = "throttled"
	kindCapacity  = "insufficient capacity"
	kindQuota     = "quota exceeded"
	kindTransient = "transient failure"
	kindPermanent = "permanent failure"
)

func (e *ThrottledError) Error() string { return e.format(kindThrottled, ScopeNone, "") }
func (e *CapacityError) Error() string  { return e.format(kindCapacity, e.Scope, e.ScopeValue) }
func (e *QuotaError) Error() string     { return e.format(kindQuota, ScopeNone, "") }
func (e *TransientError) Error() string { return e.format(kindTransient, ScopeNone, "") }
func (e *PermanentError) Error() string { return e.format(kindPermanent, ScopeNone, "") }

func (e *ThrottledError) Unwrap() error { return e.Err }
func (e *CapacityError) Unwrap() error  { return e.Err }
func (e *QuotaError) Unwrap() error     { return e.Err }
func (e *TransientError) Unwrap() error { return e.Err }
func (e *PermanentError) Unwrap() error { return e.Err }

// ErrorNames are the Go type names of the five errors: the errorType a Go
// Lambda reports and the ErrorEquals names the state machines match.
var ErrorNames = [...]string{"ThrottledError", "CapacityError", "QuotaError", "TransientError", "PermanentError"}

// classOfName maps an errorType to its class; ok is false for other names.
func classOfName(name string) (Class, string, bool) {
	switch name {
	case "ThrottledError":
		return Throttled, kindThrottled, true
	case "CapacityError":
		return Capacity, kindCapacity, true
	case "QuotaError":
		return Quota, kindQuota, true
	case "TransientError":
		return Transient, kindTransient, true
	case "PermanentError":
		return Permanent, kindPermanent, true
	}
	return "", "", false
}

// ErrorFor returns the named error of c's class, carrying its code, op,
// minimum delay and message, for a handler to return unwrapped.
func ErrorFor(c Classification, op string, err error) error {
	if err == nil && c.Message != "" {
		err = errors.New(strings.TrimPrefix(c.Message, c.Code+": "))
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

// named is what parseNamed reads back from a named error's message.
type named struct {
	code, op   string
	scope      ScopeKind
	scopeValue string
	rest       string
}

// parseNamed reads the layout written by Detail.format. It is lenient: a
// message that does not follow the layout yields its whole text as rest.
func parseNamed(kind, msg string) named {
	s, ok := strings.CutPrefix(msg, kind)
	if !ok {
		return named{rest: msg}
	}
	var n named
	if t, ok := strings.CutPrefix(s, " "); ok && !strings.HasPrefix(t, "in ") {
		if n.code, s, ok = readToken(t, " "); !ok {
			return named{rest: msg}
		}
	}
	if t, ok := strings.CutPrefix(s, " in "); ok {
		if n.op, s, ok = readToken(t, " "); !ok {
			return named{rest: msg}
		}
	}
	if t, ok := strings.CutPrefix(s, " ["); ok {
		end := strings.IndexAny(t, " ]")
		if end <= 0 {
			return named{rest: msg}
		}
		n.scope, t = ScopeKind(t[:end]), t[end:]
		if v, ok := strings.CutPrefix(t, " "); ok {
			if n.scopeValue, t, ok = readToken(v, " ]"); !ok {
				return named{rest: msg}
			}
		}
		if s, ok = strings.CutPrefix(t, "]"); !ok {
			return named{rest: msg}
		}
	}
	n.rest, _ = strings.CutPrefix(s, ": ")
	return n
}

// readToken reads one token written by quoteToken and returns the rest.
// An unquoted token ends at any byte of stops, or before ": ".
func readToken(s, stops string) (tok, rest string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", s, false
		}
		tok, _ = strconv.Unquote(q)
		return tok, s[len(q):], true
	}
	end := strings.IndexAny(s, stops)
	if end < 0 {
		end = len(s)
	}
	if end > 0 && s[end-1] == ':' { // "<token>: <err>"
		end--
	}
	if end == 0 {
		return "", s, false
	}
	return s[:end], s[end:], true
}
