package limiter

import (
	"fmt"
	"math"
	"time"
)

// Lane names: an acquisition's priority (Take.Lane). "" is LaneNormal.
const (
	LaneHigh   = "high"
	LaneNormal = "normal"
	LaneLow    = "low"
)

// Lane indexes, highest first.
const (
	laneHigh = iota
	laneNormal
	laneLow
	nLanes
)

var laneNames = [nLanes]string{LaneHigh, LaneNormal, LaneLow}

// laneIndex returns the index of lane name ("" is normal).
func laneIndex(name string) (int, bool) {
	if name == "" {
		return laneNormal, true
	}
	for i, n := range laneNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// Lane preemption constants.
const (
	// laneRuns is how many distinct push-back thresholds a lower lane
	// keeps (see LaneShift).
	laneRuns = 4
	// laneWindow is the preemption budget's window: a lower lane may be
	// pushed back by at most (1 − share) × laneWindow at once, and by
	// (1 − share) seconds per second after that.
	laneWindow = 60 * time.Second
	// laneFoldMargin is how long after its positions' due time a run is
	// folded: a holder woken from a Wait at its slot's time rechecks
	// within it.
	laneFoldMargin = time.Second
)

// Default lane shares (BucketLimit.Shares): the part of a bucket a lower
// lane keeps while a higher lane has queued work. Normal keeps 30 % so a
// burst of urgent work cannot freeze the day's ordinary launches; low
// keeps 10 %, enough for a batch to make progress (never starved) while
// leaving 90 % to anything more urgent.
const (
	defaultShareNormal = 0.3
	defaultShareLow    = 0.1
)

// LaneShift is how far a lower lane's positions booked beyond the
// in-flight horizon have been pushed back by higher lanes' takes, as a
// step function of a position's base (its TAT less the lane's total push
// back when it was booked, µs): positions whose base lies beyond Thr[i]
// are Cum[i] later than booked, those at or below every threshold Base
// later. Thresholds only grow, so a few runs describe every position still
// waiting; an older run is folded into Base once every position at or
// below it is past. Budget is the lane's preemption GCRA (TAT, µs).
type LaneShift struct {
	Base   int64
	Thr    [laneRuns]int64 // 0: no run
	Cum    [laneRuns]int64
	Budget int64
}

// runs returns how many runs s holds.
func (s LaneShift) runs() int {
	n := 0
	for n < laneRuns && s.Thr[n] != 0 {
		n++
	}
	return n
}

// total is the push back of a position booked now: the last run's.
func (s LaneShift) total() int64 {
	if n := s.runs(); n > 0 {
		return s.Cum[n-1]
	}
	return s.Base
}

// at is the push back of the position whose base is b.
func (s LaneShift) at(b int64) int64 {
	v := s.Base
	for i := range s.runs() {
		if b > s.Thr[i] {
			v = s.Cum[i]
		}
	}
	return v
}

// chain is where the last run's pushed-back positions begin now (µs): a
// take inserted there extends the run instead of starting another.
func (s LaneShift) chain() (int64, bool) {
	if n := s.runs(); n > 0 {
		return s.Thr[n-1] + s.Cum[n-1], true
	}
	return 0, false
}

// LaneState is a bucket's lane bookkeeping (times in µs since the epoch).
// Front is each lane's frontier (the TAT of its last position). Gen is the
// bucket epoch the push-back state was started in and Floor the frontier
// then: a decrease re-times the positions booked before it in booking
// order, so preemption never moves a position due before Floor.
type LaneState struct {
	Front [nLanes]int64
	Gen   int64
	Floor int64
	Shift [nLanes]LaneShift // [laneHigh] unused: nothing preempts it
}

// LaneWrite is the lane part of one debit (Debit.Lanes): the shift state
// it expects (Prev) and writes (Next), and, when it preempts, the
// insertion point P (a TAT, µs): the take lies at P + Inc, every lane in
// Shifted moves its positions beyond P by Inc, and every other lane must
// have none beyond P.
type LaneWrite struct {
	Prev, Next LaneState
	Preempt    bool
	P          int64
	Shifted    [nLanes]bool
}

// LaneConflictError is a store's answer to a debit whose LaneWrite no
// longer matches the bucket: nothing was written; Item is the state that
// refused it, to plan again from.
type LaneConflictError struct {
	Bucket string
	Item   Item
}

func (e *LaneConflictError) Error() string {
	return fmt.Sprintf("limiter: %s: lane state changed since the preemption was planned", e.Bucket)
}

// lanePlan plans a take of inc in lane l on st arriving at `at` (µs); tau
// and horizon in µs. It returns nil when the take is first come, first
// served and no lane state needs writing.
func lanePlan(st BucketState, l int, inc, tau, at, horizon int64, shares [nLanes]float64) *LaneWrite {
	u := micros(st.TAT)
	w := &LaneWrite{Prev: st.Lanes, Next: st.Lanes}
	if st.Lanes.Gen != st.Epoch {
		if l == laneLow || u < at {
			return nil // nothing to preempt; the next high or normal take starts the state
		}
		// Positions booked before the decrease are timed in booking order:
		// preemption starts beyond them.
		w.Next.Gen, w.Next.Floor = st.Epoch, u
		return w
	}
	if l == laneLow || u < at {
		return nil
	}
	p := insertionPoint(st, l, inc, tau, at, horizon, shares)
	if u <= p {
		return nil
	}
	for m := l + 1; m < nLanes; m++ {
		if min(st.Lanes.Front[m], u) > p {
			w.Shifted[m] = true
			w.Next.Shift[m], _ = shiftLane(st.Lanes.Shift[m], p, inc, at, tau, shares[m])
		}
	}
	w.Preempt, w.P = true, p
	return w
}

// insertionPoint is where a lane-l take of inc goes (a TAT, µs): beyond
// the in-flight horizon, the lane state's floor and the fronts of its own
// and higher lanes; beyond the last run of each lower lane it pushes
// back; and behind every lower lane that cannot be pushed back (budget
// spent, no run left).
func insertionPoint(st BucketState, l int, inc, tau, at, horizon int64, shares [nLanes]float64) int64 {
	u := micros(st.TAT)
	front := func(m int) int64 { return min(st.Lanes.Front[m], u) }
	p := max(at+horizon+tau, st.Lanes.Floor)
	for m := 0; m <= l; m++ {
		p = max(p, front(m))
	}
	for changed := true; changed; {
		changed = false
		for m := l + 1; m < nLanes; m++ {
			if front(m) <= p {
				continue
			}
			if c, ok := st.Lanes.Shift[m].chain(); ok && c > p {
				p, changed = c, true
				continue
			}
			if _, ok := shiftLane(st.Lanes.Shift[m], p, inc, at, tau, shares[m]); !ok {
				p, changed = front(m), true
			}
		}
	}
	return p
}

// shiftLane returns s after pushing lane positions beyond p back by inc,
// and whether the lane's budget and runs allow it. The oldest run is
// folded when every position at or below it was due laneFoldMargin ago
// (tau: the bucket's tolerance, TAT − due).
func shiftLane(s LaneShift, p, inc, now, tau int64, share float64) (LaneShift, bool) {
	if !(share > 0 && share < 1) {
		return s, false
	}
	bud := max(s.Budget, now) + int64(math.Ceil(float64(inc)/(1-share)))
	if bud-now > laneWindow.Microseconds() {
		return s, false
	}
	s.Budget = bud
	beta, n := p-s.total(), s.runs()
	switch {
	case n > 0 && beta == s.Thr[n-1]:
		s.Cum[n-1] += inc
		return s, true
	case n == laneRuns && s.Thr[0]+s.Base-tau+laneFoldMargin.Microseconds() > now:
		return s, false // the oldest run's positions may still be waiting
	case n == laneRuns:
		s.Base = s.Cum[0]
		copy(s.Thr[:], s.Thr[1:])
		copy(s.Cum[:], s.Cum[1:])
		n--
	}
	if n > 0 && beta < s.Thr[n-1] {
		return s, false // cannot happen: p is at or after the chain point
	}
	s.Thr[n], s.Cum[n] = beta, s.total()+inc
	return s, true
}

// applyLanes is what a store does to st for debit d arriving at atUS: the
// take itself (GCRA at the frontier, or the preemption's insertion) and
// the lanes' fronts. ok false: d.Lanes no longer matches st.
func applyLanes(st BucketState, d Debit, atUS int64) (BucketState, bool) {
	inc := d.Inc.Microseconds()
	lw := d.Lanes
	l, _ := laneIndex(d.Lane)
	if lw != nil && (st.Lanes.Gen != lw.Prev.Gen || st.Lanes.Floor != lw.Prev.Floor) {
		return st, false
	}
	if lw != nil {
		st.Lanes.Gen, st.Lanes.Floor = lw.Next.Gen, lw.Next.Floor
	}
	if lw == nil || !lw.Preempt {
		if micros(st.TAT) < atUS { // idle: the burst allowance is whole again
			st.BurstAt, st.BurstPos = fromMicros(atUS), st.Pos
		}
		st.TAT = fromMicros(max(micros(st.TAT), atUS) + inc)
		st.Pos += d.N
		st.Lanes.Front[l] = micros(st.TAT)
		return st, true
	}
	if !preemptHolds(st, l, lw) {
		return st, false
	}
	for m := range nLanes {
		if lw.Shifted[m] {
			st.Lanes.Shift[m] = lw.Next.Shift[m]
			st.Lanes.Front[m] += inc
		}
	}
	st.TAT = st.TAT.Add(d.Inc)
	st.Pos += d.N
	st.Lanes.Front[l] = lw.P + inc
	return st, true
}

// preemptHolds says lw's preemption by a lane-l take still fits st:
// backlog beyond P, the shifted lanes (all lower than l) as planned, and
// no other lane with anything beyond P.
func preemptHolds(st BucketState, l int, lw *LaneWrite) bool {
	if micros(st.TAT) <= lw.P {
		return false
	}
	for m := range nLanes {
		switch {
		case lw.Shifted[m] && (m <= l || st.Lanes.Shift[m] != lw.Prev.Shift[m]):
			return false
		case !lw.Shifted[m] && st.Lanes.Front[m] > lw.P:
			return false
		}
	}
	return true
}

// laneTAT is the TAT of the position debit d got, from the item right
// after the take.
func laneTAT(st BucketState, d Debit) time.Time {
	if d.Lanes != nil && d.Lanes.Preempt {
		return fromMicros(d.Lanes.P + d.Inc.Microseconds())
	}
	return st.TAT
}

// laneBase returns the base and push back of a lane-l position whose TAT
// is tat (µs) on st right after its take: base 0 marks a position that no
// later preemption can move (high lane, booked before a decrease's floor,
// or before the lane's last run began).
func laneBase(st BucketState, l int, tat int64) (int64, int64) {
	if l == laneHigh || l >= nLanes || st.Lanes.Gen != st.Epoch {
		return 0, 0
	}
	s := st.Lanes.Shift[l]
	if c, ok := s.chain(); ok && tat <= c {
		return 0, 0
	}
	return tat - s.total(), s.total()
}

// relane applies the lane push back recorded on st to position p (later,
// never earlier): its At moves by the push back its base has gained since
// it was booked or last re-checked.
func relane(st BucketState, lane string, p Position) Position {
	l, ok := laneIndex(lane)
	if !ok || p.Base == 0 || l == laneHigh {
		return p
	}
	if s := st.Lanes.Shift[l].at(p.Base); s > p.Shift {
		p.At = p.At.Add(time.Duration(s-p.Shift) * time.Microsecond)
		p.Shift = s
	}
	return p
}
