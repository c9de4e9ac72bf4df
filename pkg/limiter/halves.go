package limiter

import "time"

// halves is how a bucket hands out its burst after an idle take (the
// start, or a bucket that refilled): the first half of the allowance at
// once, the rest no earlier than Options.BurstFeedback after the idle take.
// A co-tenant that drained the real bucket then costs the first half's
// calls, and their throttle re-anchors the rest before it is called: the
// feedback interval is the in-flight horizon (calls asleep in process,
// which a decrease cannot move) plus the time a throttle takes to come
// back.
type halves struct {
	at       time.Time // the idle take
	pos      float64   // the frontier before it
	half     float64   // tokens handed out at once
	feedback time.Duration
	// shift delays every later position of the run: while the second half
	// waits, the real bucket fills up again after half/rate and loses the
	// refill beyond that. The headroom the limiter keeps (burst −
	// tolerance) stays for what it is for: the refill lost between the
	// limiter's reading and the call.
	shift time.Duration
}

// halvesOf returns bucket l's halves from st, if its last idle take set
// them and no decrease came after it (a decrease's re-anchor grants no
// burst at all).
func (d *Distributed) halvesOf(l BucketLimit, st BucketState) (halves, bool) {
	f := d.o.BurstFeedback
	if f <= 0 || st.BurstAt.IsZero() || !st.BurstAt.After(st.AnchorAt) {
		return halves{}, false
	}
	h := halves{at: st.BurstAt, pos: st.BurstPos, half: l.Tolerance / 2, feedback: f}
	h.shift = max(0, f-l.Rate.durationFor(h.half))
	return h, true
}

// due is when the position ending at end, due at raw by the bucket's
// timing, may be called: positions of the first half keep raw, later ones
// wait for the feedback and lie shift later.
func (h halves) due(end float64, raw time.Time) time.Time {
	if end <= h.pos+h.half {
		return raw
	}
	raw = raw.Add(h.shift)
	// The second half is spread over halfSpread rather than due at one
	// instant: callers that all woke at once would all write at once, and
	// conflict on the one item.
	frac := min(1, (end-h.pos-h.half)/h.half)
	if f := h.at.Add(h.feedback + time.Duration(frac*float64(halfSpread))); raw.Before(f) {
		return f
	}
	return raw
}

// halfSpread is how long the second half of a burst takes to go out.
const halfSpread = 250 * time.Millisecond

// anchorFloor is the anchor position a decrease at from may take: when the
// second half is not yet due at from, no later than the first half's end,
// so the second half moves to the new rate; ok says it applies.
func (h halves) anchorFloor(from time.Time) (float64, bool) {
	return h.pos + h.half, h.at.Add(h.feedback).After(from)
}
