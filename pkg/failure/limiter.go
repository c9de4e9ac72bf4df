package failure

import (
	"errors"
	"time"
)

// Codes of a rate limiter's own refusals (LimiterError).
const (
	CodeLimiterBacklogFull = "LimiterBacklogFull"
	CodeLimiterStoreBusy   = "LimiterStoreBusy"
)

// LimiterError is the behaviour of a rate limiter's "not now": nothing was
// reserved and no call was made, and the limiter knows how long to wait.
// ClassifyError finds it with errors.As, so this package imports no
// limiter (pkg/limiter's *BacklogFullError and *StoreBusyError implement
// it), as arvados' scheduler reads cloud.RateLimitError without importing
// EC2:
//
//	LimiterBusy()  class      code                why
//	false          throttled  LimiterBacklogFull  the bucket's next slot lies beyond the look-ahead
//	true           transient  LimiterStoreBusy    the limiter's store did not answer in time;
//	                                              the bucket may have room
//
// RetryAfter raises MinDelaySeconds above the class's default, as a named
// error's RetryAfter does. A busy store is transient, so the retry keeps
// its attempt and token (ReuseToken): waiting for the store spends no
// attempt. A full backlog is a throttle like AWS's own.
type LimiterError interface {
	error
	// RetryAfter is the least wait before asking the limiter again.
	RetryAfter() time.Duration
	// LimiterBusy reports whether the limiter's store, not the bucket,
	// said no.
	LimiterBusy() bool
}

// classifyLimiter reads a LimiterError (see there).
func classifyLimiter(err error) (Classification, bool) {
	le, ok := errors.AsType[LimiterError](err)
	if !ok {
		return Classification{}, false
	}
	r, code := rule{class: Throttled}, CodeLimiterBacklogFull
	if le.LimiterBusy() {
		r, code = rule{class: Transient}, CodeLimiterStoreBusy
	}
	c := build(r, code, SourceSDK, err.Error())
	if s := le.RetryAfter().Seconds(); s > c.MinDelaySeconds {
		c.MinDelaySeconds = s
	}
	return c, true
}
