package limiter

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Measurement bounds: two throttle marks closer than measureMin say little
// (a call or two between them), further apart than measureMax describe an
// account that may have changed since.
const (
	measureMin = time.Second
	measureMax = 60 * time.Second
	// measureMargin is kept below a measured rate: the real bucket's refill
	// over the window includes what it lost while full, and a bucket run at
	// its exact rate never holds more than one call's tokens, so any
	// jitter in call times is a throttle.
	measureMargin = 0.05
	// leastStep is the smallest decrease (×0.95): a throttle at or under
	// the measured rate still says the rate is too high.
	leastStep = 0.95
	// signalSwaps bounds the conditional writes of one signal; after
	// exactSwaps a decrease compares only the epoch and the mark.
	signalSwaps = 12
	exactSwaps  = 4
)

// Signal reports a throttle on bucket. It counts the throttled tokens and
// moves the bucket's mark (when the signal carries its position) and, the
// first time a call timed in the current epoch is throttled, decreases the
// rate for the whole fleet: to the measured rate less a margin, within one
// blind step, when two marks bracket a usable window, else by the bucket's
// Decrease factor (not below Floor). A decrease re-anchors the bucket: every booked position not
// yet due moves to the new rate at once (Recheck), the frontier grants no
// burst, and the epoch advances, so throttles of calls timed before it
// count but do not decrease again. A signal without a position counts for
// the current epoch when its call was made at least SignalWindow after the
// last decrease. An error means the store could not be reached; the signal
// is then lost.
func (d *Distributed) Signal(ctx context.Context, service, bucket string, sig Signal) error {
	if svc, _, _ := strings.Cut(bucket, ":"); svc != service {
		return fmt.Errorf("limiter: signal: bucket %q is not a bucket of service %q", bucket, service)
	}
	lim, err := d.Limit(bucket)
	if err != nil {
		return err
	}
	d.rec.Add(MetricThrottleSignals, service, 1)
	key := d.Key(service)
	now := d.now()
	at := sig.At
	if at.IsZero() || at.After(now) {
		at = now
	}
	item, err := d.load(ctx, key)
	for try := 0; err == nil && try < signalSwaps; try++ {
		d.remember(key, item, true)
		st := item[bucket]
		next, decreased, write := d.afterSignal(lim, st, sig, at, now)
		if !write {
			return nil
		}
		// Takes landing between this read and the write move the frontier
		// a decrease is computed from; at a fleet's start they can starve
		// it. After a few tries the decrease is written on the epoch alone:
		// the tokens taken in between (a round trip's worth) are then
		// re-timed onto the first increments of the new timing.
		st.loose = try >= exactSwaps
		var ok bool
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		ok, item, err = d.store.Swap(sctx, key, bucket, st, next)
		cancel()
		if err == nil && ok {
			d.remember(key, item, true)
			if decreased {
				d.rec.Add(MetricRateDecreases, service, 1)
				d.log.Info("limiter: rate decreased", "bucket", bucket, "code", sig.Reason, "epoch", next.Epoch,
					"fromRate", float64(effRate(lim, st, now)), "toRate", next.Rate, "scope", d.o.AccountScope)
			}
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("limiter: signal %s: %w", bucket, err)
	}
	return fmt.Errorf("limiter: signal %s: still conflicting after %d writes", bucket, signalSwaps)
}

// afterSignal is st after sig: next, whether it is a decrease, and whether
// there is anything to write.
func (d *Distributed) afterSignal(lim BucketLimit, st BucketState, sig Signal, at, now time.Time) (BucketState, bool, bool) {
	next := st
	p := sig.Position
	hasPos := p.N > 0
	if hasPos {
		next.Throttled += p.N
	}
	if !currentEpoch(lim, st, sig, at) {
		// The mark stays where a decrease put it, so the next decrease
		// measures over a whole window; one older than measureMax is
		// replaced, as the account may have changed since.
		if hasPos && (st.MarkAt.IsZero() || at.Sub(st.MarkAt) > measureMax) {
			next.MarkAt, next.MarkPos, next.MarkThrottled = at, p.End, next.Throttled
		}
		return next, false, hasPos
	}
	r := effRate(lim, st, now)
	target := r * Limit(lim.Decrease)
	if m, ok := measured(st, p, at); ok {
		// A window can catch a co-tenant catching up on its own backlog:
		// one measurement moves the rate by at most the blind step, and a
		// rate still too high is throttled and measured again.
		target = max(target, min(r*leastStep, m*(1-measureMargin)))
	}
	target = max(lim.Floor, target)
	// The new timing starts after the calls asleep in process and one
	// call's refill: the real bucket is empty after a throttle, and a call
	// of N tokens needs N of them there.
	from := now.Add(d.o.InFlight)
	if hasPos {
		from = from.Add(target.durationFor(p.N))
	}
	reanchor(&next, st, r, target, from, d.tau(lim))
	if h, ok := d.halvesOf(lim, st); ok {
		if floor, ok := h.anchorFloor(from); ok && floor < next.AnchorPos {
			// The second half, held for this feedback, moves too: the
			// anchor is the first half's end, and positions up to it keep
			// their own times.
			next.TAT = next.TAT.Add(target.durationFor(next.AnchorPos - floor))
			next.AnchorPos, next.AnchorPrev = floor, 0
		}
	}
	next.LastSignal = sig.Reason
	if hasPos {
		next.MarkAt, next.MarkPos, next.MarkThrottled = at, p.End, next.Throttled
	}
	return next, true, true
}

// currentEpoch says sig is about a call timed in st's epoch: by the epoch
// its position carries, or, without one, by being made SignalWindow or more
// after the last decrease (a slot re-timed by it has been called by then:
// runtask sleeps at most its defer threshold, 2 s, in process).
func currentEpoch(lim BucketLimit, st BucketState, sig Signal, at time.Time) bool {
	if sig.Position.N > 0 {
		return sig.Position.Epoch == st.Epoch
	}
	return st.RateAt.IsZero() || !at.Before(st.RateAt.Add(lim.SignalWindow))
}

// measured is the rate the real bucket admitted our calls at between the
// bucket's mark (the throttle that made the last decrease) and the throttle
// of p at `at`. The bucket was empty at both
// instants (each refused a call), and a bucket driven past its limit admits
// exactly its refill, so what it admitted of ours in between (the positions
// between the two throttled calls, less those reported throttled) over the
// time between is the rate left to us.
func measured(st BucketState, p Position, at time.Time) (Limit, bool) {
	if p.N <= 0 || st.MarkAt.IsZero() || !at.After(st.MarkAt) {
		return 0, false
	}
	span := at.Sub(st.MarkAt)
	if span < measureMin || span > measureMax {
		return 0, false
	}
	admitted := p.End - p.N - st.MarkPos - (st.Throttled - st.MarkThrottled)
	return Limit(max(0, admitted) / span.Seconds()), true
}

// reanchor sets next to st decreased from rate r to target, from `from`
// on (now plus the in-flight horizon: calls asleep in process until then
// cannot move): the position due at `from` under the old timing
// (underestimated when the rate grew while booking, which only delays)
// becomes the anchor, later positions follow at target with no burst (the
// real bucket is empty after a throttle), and the epoch advances.
func reanchor(next *BucketState, st BucketState, r, target Limit, from time.Time, tau time.Duration) {
	pAt, prev := st.Pos, 0.0
	if f := st.TAT.Add(-tau); f.After(from) {
		pAt, prev = st.Pos-f.Sub(from).Seconds()*float64(r), float64(r)
	}
	// prev times positions up to the anchor back from it (Recheck); when the
	// whole frontier was due before `from`, the anchor is not where the old
	// timing put position pAt, and those positions keep their own times.
	next.AnchorAt, next.AnchorPos, next.AnchorRate, next.AnchorPrev = from, pAt, float64(target), prev
	next.TAT = from.Add(tau + target.durationFor(st.Pos-pAt))
	next.Rate, next.RateAt = float64(target), from
	next.Epoch = st.Epoch + 1
}
