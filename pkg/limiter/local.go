package limiter

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Local is an in-process token bucket implemented as GCRA: it stores the
// theoretical arrival time (TAT) of the next token and admits n tokens at t
// when max(TAT, t) + n·T − burst·T ≤ t, where T = 1/limit.
//
// Unlike golang.org/x/time/rate, Local reads its clock under its lock and
// never lets time run backwards: an explicit t older than the latest time it
// has seen is treated as that latest time. x/time/rate instead rewinds its
// "last" timestamp to a stale t and then refills the same interval again for
// the next caller, which over-admits when concurrent callers read the clock
// before taking the lock (see the Cadence clock.Ratelimiter and
// golang/go#71360).
//
// Local is safe for concurrent use. Allow, AllowN and ReserveN do not
// allocate.
type Local struct {
	mu    sync.Mutex
	clk   clock.Clock // nil means the wall clock, read without an interface call
	limit Limit
	burst int
	t     int64 // ns per token; 0 = Inf, -1 = nothing refills
	tau   int64 // burst·t: how far the TAT may run ahead of now
	tat   int64 // theoretical arrival time, Unix ns
	last  int64 // latest time seen, Unix ns; never decreases
}

// LocalOptions configures NewLocal.
type LocalOptions struct {
	// Clock is the time source; Wait sleeps on it. Default: the wall clock
	// (whose timers are fake under testing/synctest).
	Clock clock.Clock
}

// NewLocal returns a limiter admitting limit tokens per second with bursts of
// up to burst tokens. It starts full.
func NewLocal(limit Limit, burst int, optFns ...func(*LocalOptions)) *Local {
	var o LocalOptions
	for _, fn := range optFns {
		fn(&o)
	}
	l := &Local{clk: o.Clock, limit: limit, burst: burst}
	if _, real := o.Clock.(clock.Real); real {
		l.clk = nil
	}
	l.t = limit.interval()
	if l.t > 0 {
		l.tau = int64(burst) * l.t
	}
	return l
}

// Limit returns the rate in tokens per second.
func (l *Local) Limit() Limit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// Burst returns the bucket size in tokens.
func (l *Local) Burst() int { return l.burst }

// SetLimit changes the rate from now on, keeping the tokens the bucket has
// (as x/time/rate's SetLimit): the backlog is rescaled to the new rate.
// Slots already handed out stay.
func (l *Local) SetLimit(limit Limit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.nowLocked()
	t := limit.interval()
	if l.t > 0 && t > 0 && l.tat > now {
		l.tat = now + int64(float64(l.tat-now)*float64(t)/float64(l.t))
	}
	l.limit, l.t, l.tau = limit, t, 0
	if t > 0 {
		l.tau = int64(l.burst) * t
	}
}

// nowLocked reads the clock (under l.mu) and clamps it so it never runs
// backwards.
func (l *Local) nowLocked() int64 {
	var now int64
	if l.clk == nil {
		now = time.Now().UnixNano()
	} else {
		now = l.clk.Now().UnixNano()
	}
	return l.clampLocked(now)
}

// sleep waits d on the limiter's clock.
func (l *Local) sleep(ctx context.Context, d time.Duration) error {
	if l.clk == nil {
		return clock.Real{}.Sleep(ctx, d)
	}
	return l.clk.Sleep(ctx, d)
}

func (l *Local) clampLocked(t int64) int64 {
	if t < l.last {
		return l.last
	}
	l.last = t
	return t
}

// reserveLocked takes inc ns of the bucket at now if the caller's slot is at
// most maxWait away. It returns the slot (Unix ns) and whether it was taken.
// Callers check n ≤ burst themselves.
func (l *Local) reserveLocked(now, inc, maxWait int64) (at int64, ok bool) {
	tat := max(l.tat, now)
	newTAT := tat + inc
	at = max(newTAT-l.tau, now)
	if at-now > maxWait {
		return 0, false
	}
	l.tat = newTAT
	return at, true
}

// Allow reports whether one token may be used now.
func (l *Local) Allow() bool {
	l.mu.Lock()
	ok := l.allowLocked(l.nowLocked(), 1)
	l.mu.Unlock()
	return ok
}

// AllowN reports whether n tokens may be used at t, and takes them if so.
// A t earlier than the latest time the limiter has seen counts as that
// latest time.
func (l *Local) AllowN(t time.Time, n int) bool {
	l.mu.Lock()
	ok := l.allowLocked(l.clampLocked(t.UnixNano()), n)
	l.mu.Unlock()
	return ok
}

func (l *Local) allowLocked(now int64, n int) bool {
	switch {
	case l.t == 0 || n <= 0:
		return true
	case l.t < 0 || n > l.burst:
		return false
	}
	_, ok := l.reserveLocked(now, int64(n)*l.t, 0)
	return ok
}

// Reservation is a promise of n tokens at a time to act. It is a value:
// methods on it do not allocate. Cancel it if the tokens will not be used.
type Reservation struct {
	lim      *Local
	ok       bool
	canceled bool
	now      int64 // when it was made
	at       int64 // time to act
	inc      int64
}

// OK reports whether the limiter can ever grant the tokens (false when n
// exceeds the burst or the limit is zero).
func (r Reservation) OK() bool { return r.ok }

// Delay is how long after the reservation was made the caller must wait.
func (r Reservation) Delay() time.Duration { return r.DelayFrom(time.Unix(0, r.now)) }

// DelayFrom is how long after t the caller must wait (0 if t is at or past
// the time to act). It is math.MaxInt64 for a reservation that is not OK.
func (r Reservation) DelayFrom(t time.Time) time.Duration {
	if !r.ok {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(max(0, r.at-t.UnixNano()))
}

// TimeToAct is when the tokens may be used.
func (r Reservation) TimeToAct() time.Time { return time.Unix(0, r.at) }

// Cancel gives the tokens back if the time to act is still in the future;
// tokens whose time has come are considered used. Calling it again does
// nothing.
func (r *Reservation) Cancel() {
	if !r.ok || r.canceled || r.lim == nil {
		return
	}
	r.canceled = true
	r.lim.giveBack(r.at, r.inc)
}

// giveBack returns inc ns of the bucket for a slot at `at` that will not be
// used. Later reservations keep their slots: the freed capacity goes to the
// next caller, so the count admitted over any window still respects the
// bound.
func (l *Local) giveBack(at, inc int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at <= l.nowLocked() {
		return
	}
	l.tat -= inc
}

// Reserve reserves one token now.
func (l *Local) Reserve() Reservation { return l.ReserveN(time.Time{}, 1) }

// ReserveN reserves n tokens at t (the zero t means the clock's now). The
// reservation holds the tokens until its time to act; see Reservation.
func (l *Local) ReserveN(t time.Time, n int) Reservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	var now int64
	if t.IsZero() {
		now = l.nowLocked()
	} else {
		now = l.clampLocked(t.UnixNano())
	}
	r := Reservation{lim: l, now: now, at: now}
	switch {
	case l.t == 0 || n <= 0:
		r.ok = true
		return r
	case l.t < 0 || n > l.burst:
		return r
	}
	r.inc = int64(n) * l.t
	r.at, r.ok = l.reserveLocked(now, r.inc, math.MaxInt64)
	return r
}

// drain empties the bucket as of now: the next take conforms one increment
// from now, with no burst. A fallback bucket starts so, since every process
// of a fleet may fall back at once and a full one each would add up to a
// burst per process.
func (l *Local) drain() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tat = max(l.tat, l.nowLocked()+l.tau)
}

// reserveAnyLocked is ReserveN for the fallback path: it also accepts n
// above the burst (the slot is then further away) and fractional n.
func (l *Local) reserveAny(n float64) (at time.Time, inc int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.nowLocked()
	if l.t <= 0 {
		return time.Unix(0, now), 0
	}
	inc = int64(n * float64(l.t))
	a, _ := l.reserveLocked(now, inc, math.MaxInt64)
	return time.Unix(0, a), inc
}

// Wait blocks until n tokens are available or ctx is done. It fails at once
// if n exceeds the burst or if ctx's deadline comes before the tokens would;
// a canceled wait gives its tokens back.
func (l *Local) Wait(ctx context.Context, n int) error {
	if n > l.burst && l.Limit() != Inf {
		return fmt.Errorf("limiter: Wait(n=%d) exceeds burst %d", n, l.burst)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := l.ReserveN(time.Time{}, n)
	if !r.ok {
		return fmt.Errorf("limiter: Wait(n=%d) can never be satisfied at limit %g", n, float64(l.Limit()))
	}
	d := r.Delay()
	if d == 0 {
		return nil
	}
	// The deadline is wall time; compare it only when the limiter runs on
	// the wall clock.
	if dl, ok := ctx.Deadline(); ok && l.clk == nil && dl.Before(time.Unix(0, r.at)) {
		r.Cancel()
		return fmt.Errorf("limiter: Wait(n=%d) would exceed the context deadline by %v", n, time.Unix(0, r.at).Sub(dl))
	}
	if err := l.sleep(ctx, d); err != nil {
		r.Cancel()
		return err
	}
	return nil
}
