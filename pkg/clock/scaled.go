package clock

import (
	"context"
	"time"
)

// Scaled is a clock that runs Factor times faster than real time, starting
// at Origin when it is created. The local stack shares one Scaled clock
// between the simulator, the limiter, the in-process Lambda handlers and the
// Step Functions runner (which divides its timers by Factor). Safe for
// concurrent use; immutable after construction.
type Scaled struct {
	origin time.Time
	start  time.Time // real monotonic reading at creation
	factor float64
}

// NewScaled returns a clock reading origin now and advancing factor
// simulated seconds per real second. A factor ≤ 0 is treated as 1.
func NewScaled(origin time.Time, factor float64) *Scaled {
	if factor <= 0 {
		factor = 1
	}
	return &Scaled{origin: origin, start: time.Now(), factor: factor}
}

// Factor returns the number of simulated seconds per real second.
func (s *Scaled) Factor() float64 { return s.factor }

// Now returns the simulated time. It never runs backwards: it derives from
// the monotonic reading of time.Now.
func (s *Scaled) Now() time.Time {
	elapsed := time.Since(s.start)
	return s.origin.Add(time.Duration(float64(elapsed) * s.factor))
}

// RealDuration converts a simulated duration to the real duration it takes.
func (s *Scaled) RealDuration(sim time.Duration) time.Duration {
	return time.Duration(float64(sim) / s.factor)
}

// SimDuration converts a real duration to simulated time.
func (s *Scaled) SimDuration(real time.Duration) time.Duration {
	return time.Duration(float64(real) * s.factor)
}

// Sleep waits for the simulated duration d, or until ctx is done.
func (s *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(s.RealDuration(d))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remaining is the time left until deadline, a real-time instant (a
// context's deadline), measured on c: a Scaled clock runs Factor times
// faster, so a Lambda's 30 s timeout is 30 simulated seconds on the local
// stack whatever the scale. Other clocks measure it in real time.
func Remaining(c Clock, deadline time.Time) time.Duration {
	left := time.Until(deadline)
	if s, ok := c.(interface {
		SimDuration(time.Duration) time.Duration
	}); ok {
		return s.SimDuration(left)
	}
	return left
}
