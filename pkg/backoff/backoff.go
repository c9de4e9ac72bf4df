// Package backoff is the product's one retry-delay policy: how long a
// failed call, relaunch or event waits before it goes again, and whether
// that wait spends one of the request's attempts. Every retry in
// pkg/handler asks Policy.Delay; none computes a delay of its own, so a
// new kind of wait is a new Case here, not a new policy elsewhere.
//
// Delay is pure: time, the bucket's next slot and the random draw are
// inputs, so the table in backoff_test.go is the whole specification.
package backoff

import (
	"math"
	"time"
)

// Case names what waits.
type Case int

const (
	// ChunkCall: a chunk's launch call failed; the state machine's Wait
	// holds the chunk. Full-jitter exponential backoff, at least the
	// classification's minimum and the bucket's next slot, capped at Max.
	// Spends an attempt.
	ChunkCall Case = iota + 1
	// RelaunchCall: a relaunch's call failed; the relaunch queue holds the
	// event. At least RelaunchFloor, the minimum and the next slot, plus
	// up to RelaunchJitter, so relaunches refused together spread out.
	// Spends no chunk attempt (relaunches have their own budget).
	RelaunchCall
	// HandOff: handling an ECS event failed for a reason that may pass;
	// the relaunch queue holds it for at least HandOffMin or the error's
	// own retry-after.
	HandOff
	// LimiterBusy: the limiter could not answer (its store is busy, or the
	// bucket is booked beyond its backlog). Nothing was called, so the
	// wait is the limiter's own retry-after (at least the next slot and
	// BusyMin) and spends no attempt; the deadline still bounds it.
	LimiterBusy
)

// SpendsAttempt says a wait of this case counts against the request's
// maxAttempts: only a chunk's own failed call does.
func (c Case) SpendsAttempt() bool { return c == ChunkCall }

func (c Case) String() string {
	switch c {
	case ChunkCall:
		return "chunk-call"
	case RelaunchCall:
		return "relaunch-call"
	case HandOff:
		return "hand-off"
	case LimiterBusy:
		return "limiter-busy"
	}
	return "unknown"
}

// Policy holds the shape of every wait. The zero value is usable: each
// zero field takes the default named in its comment.
type Policy struct {
	// Base and Max shape ChunkCall's backoff, uniform in
	// [0, min(Max, Base·2^(retries−1))]; Max also caps its whole delay.
	// Defaults 1 s and 300 s.
	Base, Max time.Duration
	// RelaunchFloor and RelaunchJitter shape RelaunchCall. Defaults 1 s and 30 s.
	RelaunchFloor, RelaunchJitter time.Duration
	// HandOffMin is HandOff's least delay. Default 10 s.
	HandOffMin time.Duration
	// BusyMin is LimiterBusy's least delay, default 5 s (the limiter's
	// BusyRetry): a wait that spends no attempt must not loop fast, since
	// every loop adds to the execution's history. It does not grow with
	// repeated answers, so that launches resume within one such wait of
	// the store answering again.
	BusyMin time.Duration
}

// Input is one decision's facts.
type Input struct {
	Case Case
	// Retries is the chunk's number of retry decisions including this one
	// (1 for the first); ChunkCall only.
	Retries int
	// MinDelay is the classification's least delay (its retry-after).
	MinDelay time.Duration
	// NextSlot is how far the bucket's next free slot is; 0 if unknown.
	NextSlot time.Duration
	// Now and Deadline: a delay that ends after Deadline is reported as
	// PastDeadline. A zero Deadline has none.
	Now, Deadline time.Time
	// Rand is a uniform draw in [0, 1).
	Rand float64
}

// Decision is the answer.
type Decision struct {
	// Delay is how long to wait, ≥ 0.
	Delay time.Duration
	// SpendsAttempt says the wait counts against the request's maxAttempts.
	SpendsAttempt bool
	// PastDeadline says the wait ends after the deadline.
	PastDeadline bool
}

func (p Policy) withDefaults() Policy {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.Base, time.Second)
	def(&p.Max, 300*time.Second)
	def(&p.RelaunchFloor, time.Second)
	def(&p.RelaunchJitter, 30*time.Second)
	def(&p.HandOffMin, 10*time.Second)
	def(&p.BusyMin, 5*time.Second)
	return p
}

// Delay decides one wait.
func (p Policy) Delay(in Input) Decision {
	p = p.withDefaults()
	var d Decision
	switch in.Case {
	case ChunkCall:
		ceiling := min(float64(p.Max), float64(p.Base)*math.Pow(2, float64(max(in.Retries, 1)-1)))
		jitter := time.Duration(in.Rand * ceiling)
		d.Delay = min(max(in.MinDelay, in.NextSlot, jitter), p.Max)
	case RelaunchCall:
		d.Delay = max(in.MinDelay, p.RelaunchFloor, in.NextSlot) + time.Duration(in.Rand*float64(p.RelaunchJitter))
	case HandOff:
		d.Delay = max(in.MinDelay, p.HandOffMin)
	case LimiterBusy:
		d.Delay = max(in.MinDelay, in.NextSlot, p.BusyMin)
	}
	d.Delay = max(d.Delay, 0)
	d.SpendsAttempt = in.Case.SpendsAttempt()
	d.PastDeadline = !in.Deadline.IsZero() && in.Now.Add(d.Delay).After(in.Deadline)
	return d
}
