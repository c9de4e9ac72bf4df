// Package clock provides the time sources shared by the limiter, the
// launch handlers and the local AWS simulator.
//
// Every stateful type in this project takes a Clock (Now and Sleep, as uber
// ratelimit's) through its options, so tests can run on a Fake and the local
// stack can run everything on one Scaled clock: k simulated seconds pass per
// real second, which lets a 500-second launch burst be measured in a few
// real seconds. Durations in contracts, reports and benchmark JSON are
// simulated seconds. Code that waits calls its Clock's Sleep; nothing asks
// which kind of clock it has.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock reports the current time and waits on it. Implementations are safe
// for concurrent use.
type Clock interface {
	// Now returns the current time. It never runs backwards.
	Now() time.Time
	// Sleep waits d of this clock's time, or until ctx is done: it returns
	// nil after the wait, else ctx.Err(). A d ≤ 0 returns ctx.Err() at once.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
type Real struct{}

var (
	_ Clock = Real{}
	_ Clock = (*Fake)(nil)
	_ Clock = (*Scaled)(nil)
)

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Sleep waits d of wall time, or until ctx is done (then ctx.Err()).
func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fake is a manually advanced clock for tests. The zero value starts at the
// zero time; use NewFake for a realistic start. Safe for concurrent use.
//
// Its Sleep does not block: it advances the fake time by d and returns, so
// code that sleeps runs on a Fake as fast and as deterministically as code
// that does not (a test sees the wait as time gone by, not as a goroutine
// to coordinate with). Tests of blocking itself use testing/synctest on
// Real.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake reading t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward by d (negative d is ignored: time never
// runs backwards).
func (f *Fake) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// Set moves the fake time to t if t is later than the current time.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	if t.After(f.now) {
		f.now = t
	}
	f.mu.Unlock()
}

// Sleep is the Fake's wait: unless ctx is already done (then ctx.Err(),
// and no time passes), it advances the fake time by d and returns nil.
// Concurrent sleepers each add their d: the Fake has one timeline, moved
// by whoever waits.
func (f *Fake) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.Advance(d)
	return nil
}
