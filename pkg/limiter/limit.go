package limiter

import (
	"math"
	"time"
)

// Limit is a rate in events (tokens) per second. The zero value admits
// nothing beyond the burst; Inf admits everything.
type Limit float64

// Inf is the infinite rate: every request is allowed at once.
const Inf = Limit(math.MaxFloat64)

// Every converts a minimum interval between events into a Limit. A
// non-positive interval is Inf.
func Every(interval time.Duration) Limit {
	if interval <= 0 {
		return Inf
	}
	return 1 / Limit(interval.Seconds())
}

// interval returns the time one token takes to refill, in nanoseconds, or 0
// for Inf and -1 for a zero (or negative) limit.
func (l Limit) interval() int64 {
	switch {
	case l == Inf:
		return 0
	case l <= 0:
		return -1
	}
	return int64(math.Round(float64(time.Second) / float64(l)))
}

// durationFor returns how long n tokens take to refill at rate l.
func (l Limit) durationFor(n float64) time.Duration {
	if l <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n / float64(l) * float64(time.Second))
}
