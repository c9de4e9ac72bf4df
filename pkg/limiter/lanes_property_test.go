package limiter

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"
)

// laneSim drives one Distributed on a fake clock as a fleet would: takes
// in random lanes, holders that sleep in process when their slot is
// within the in-flight horizon and otherwise wait (a Step Functions Wait)
// until their slot's time and recheck it, releases, and throttle signals
// that decrease the rate. It records every call made.
type laneSim struct {
	t       *testing.T
	d       *Distributed
	rng     *rand.Rand
	now     time.Time
	wakes   []simHolder
	calls   []simCall
	horizon time.Duration
	// highChecks counts the high takes checked against horizon + inc.
	highChecks int
	lastHigh   time.Time
	lastDec    time.Time
	// normal adds normal-lane takes; without them the high-take check
	// applies (see take).
	normal bool
}

type simHolder struct {
	at   time.Time
	slot Slot
}

type simCall struct {
	at  time.Time
	n   float64
	pos Position
}

func (s *laneSim) set(at time.Time) {
	s.now = at
	s.d.o.Clock.(interface{ Set(time.Time) }).Set(at)
}

// hold schedules a slot: called at its time if within the horizon, else
// woken at its time to recheck.
func (s *laneSim) hold(sl Slot) {
	if !sl.At.After(s.now.Add(s.horizon)) {
		p, _ := sl.Position(ECSFargateTasks)
		s.calls = append(s.calls, simCall{at: sl.At, n: p.N, pos: p})
		return
	}
	s.wakes = append(s.wakes, simHolder{at: sl.At, slot: sl})
}

func (s *laneSim) take(lane string) {
	n := float64(1 + s.rng.IntN(10))
	roomy := s.roomy(n)
	sl, err := s.d.Reserve(context.Background(), "ecs", []Take{{Bucket: ECSFargateTasks, N: n, Lane: lane}})
	if err != nil {
		return // backlog full: the caller retries later
	}
	// A high take, with no high work queued, no decrease in the
	// look-ahead and room in the lower lanes' budgets and runs, lands
	// within the horizon plus its own increment (checked without normal
	// takes, whose insertions a high take must follow).
	if lane == LaneHigh && !s.normal && roomy && s.now.Sub(s.lastHigh) > 10*time.Second && s.now.Sub(s.lastDec) > s.d.o.MaxAhead {
		limit := s.horizon + Limit(20).durationFor(n) + time.Millisecond
		if sl.Wait > limit {
			s.t.Errorf("high take of %g at %v: wait %v, want ≤ %v", n, s.now.Sub(t0), sl.Wait, limit)
		}
		s.highChecks++
	}
	if lane == LaneHigh {
		s.lastHigh = s.now
	}
	s.hold(sl)
}

func (s *laneSim) wake(h simHolder) {
	if s.rng.Float64() < 0.05 {
		if err := s.d.Release(context.Background(), "ecs", h.slot); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	r, err := s.d.Recheck(context.Background(), "ecs", h.slot)
	if err != nil {
		s.t.Fatal(err)
	}
	if r.At.Before(h.slot.At) {
		s.t.Fatalf("recheck moved a slot earlier: %v → %v", h.slot.At, r.At)
	}
	s.hold(r)
}

func (s *laneSim) signal() {
	if len(s.calls) == 0 {
		return
	}
	c := s.calls[len(s.calls)-1]
	if err := s.d.Signal(context.Background(), "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException", At: s.now, Position: c.pos}); err != nil {
		s.t.Fatal(err)
	}
	s.lastDec = s.now
}

// run simulates dur: a low batch at the start, then random arrivals.
func (s *laneSim) run(dur time.Duration, decreases bool) {
	for range 200 {
		s.take(LaneLow)
	}
	next := s.now
	for s.now.Before(t0.Add(dur)) {
		sort.Slice(s.wakes, func(i, j int) bool { return s.wakes[i].at.Before(s.wakes[j].at) })
		if len(s.wakes) > 0 && !s.wakes[0].at.After(next) {
			h := s.wakes[0]
			s.wakes = s.wakes[1:]
			s.set(h.at)
			s.wake(h)
			continue
		}
		s.set(next)
		switch r := s.rng.Float64(); {
		case r < 0.02:
			s.take(LaneHigh)
		case r < 0.10 && s.normal:
			s.take(LaneNormal)
		case r < 0.25:
			s.take(LaneLow)
		case decreases && r < 0.252:
			s.signal()
		}
		next = next.Add(time.Duration(s.rng.IntN(200)) * time.Millisecond)
	}
}

// checkBound says no window holds more calls than the bucket admits: its
// tolerance plus its rate over the window.
func (s *laneSim) checkBound(tol, rate float64) {
	c := slices.Clone(s.calls)
	sort.Slice(c, func(i, j int) bool { return c[i].at.Before(c[j].at) })
	for i := range c {
		sum := 0.0
		for j := i; j < len(c); j++ {
			w := c[j].at.Sub(c[i].at).Seconds()
			if w > 120 {
				break
			}
			sum += c[j].n
			if sum > tol+rate*w+1e-6 {
				s.t.Fatalf("window [%v, %v] of %.3fs holds %g tokens > %g + %g × %.3f", c[i].at.Sub(t0), c[j].at.Sub(t0), w, sum, tol, rate, w)
			}
		}
	}
}

// TestLanesFleetBound: over many seeds of random lanes, takes, releases
// and decreases, no window of calls exceeds the bucket's bound, and high
// takes with their budget whole land within the horizon plus their own
// increment.
func TestLanesFleetBound(t *testing.T) {
	t.Parallel()
	for seed := range uint64(12) {
		for _, mix := range []struct{ dec, normal bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			d, _ := newTestDistributed(t, NewMemoryStore(), nil)
			s := &laneSim{t: t, d: d, rng: rand.New(rand.NewPCG(seed, 7)), now: t0, horizon: d.o.InFlight, normal: mix.normal}
			t.Logf("seed %d %+v", seed, mix)
			s.run(600*time.Second, mix.dec)
			s.checkBound(90, 20)
			if !mix.dec && !mix.normal && s.highChecks == 0 {
				t.Errorf("seed %d: no high take checked", seed)
			}
			t.Logf("seed %d %+v: %d calls, %d high takes checked", seed, mix, len(s.calls), s.highChecks)
		}
	}
}

// roomy says the high lane has nothing queued and every lower lane of the
// bucket could be pushed back by n tokens' increment now: budget left,
// and a run free or foldable.
func (s *laneSim) roomy(n float64) bool {
	it, err := s.d.store.Load(context.Background(), s.d.Key("ecs"))
	if err != nil {
		s.t.Fatal(err)
	}
	st, now := it[ECSFargateTasks], micros(s.now)
	inc, tau := Limit(20).durationFor(n).Microseconds(), (4500 * time.Millisecond).Microseconds()
	if st.Lanes.Front[laneHigh]-tau > now+s.horizon.Microseconds() {
		return false // high work still queued: the take goes behind it
	}
	for m := laneNormal; m < nLanes; m++ {
		sh := st.Lanes.Shift[m]
		if max(sh.Budget, now)+inc*2-now > laneWindow.Microseconds()/2 {
			return false
		}
		if sh.runs() == laneRuns && sh.Thr[0]+sh.Base-tau+laneFoldMargin.Microseconds() > now {
			return false
		}
	}
	return true
}

// TestLaneStarvationBound: a low batch booked up to 50 s ahead while a
// high lane asks for twice the bucket's rate for 20 minutes. A low
// position first due D0 seconds ahead is pushed back by at most its
// lane's budget, (1 − share) × (laneWindow + the time it waits), so it is
// called by (D0 + (1 − share) × laneWindow) / share: the low lane is
// never starved, and the high lane is served meanwhile.
func TestLaneStarvationBound(t *testing.T) {
	t.Parallel()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil)
	s := &laneSim{t: t, d: d, rng: rand.New(rand.NewPCG(1, 1)), now: t0, horizon: d.o.InFlight}
	const share = defaultShareLow
	type lowSlot struct {
		bound time.Time
		end   float64
	}
	var lows []lowSlot
	for range 100 {
		sl, err := d.Reserve(context.Background(), "ecs", []Take{{Bucket: ECSFargateTasks, N: 10, Lane: LaneLow}})
		if err != nil {
			t.Fatal(err)
		}
		bound := (sl.Wait.Seconds() + (1-share)*laneWindow.Seconds()) / share
		p, _ := sl.Position(ECSFargateTasks)
		lows = append(lows, lowSlot{bound: t0.Add(time.Duration(bound * float64(time.Second))), end: p.End})
		s.hold(sl)
	}
	highCalls := 0
	for next := t0.Add(100 * time.Millisecond); next.Before(t0.Add(20 * time.Minute)); {
		sort.Slice(s.wakes, func(i, j int) bool { return s.wakes[i].at.Before(s.wakes[j].at) })
		if len(s.wakes) > 0 && !s.wakes[0].at.After(next) {
			h := s.wakes[0]
			s.wakes = s.wakes[1:]
			s.set(h.at)
			r, err := d.Recheck(context.Background(), "ecs", h.slot)
			if err != nil {
				t.Fatal(err)
			}
			s.hold(r)
			continue
		}
		s.set(next)
		if sl, err := d.Reserve(context.Background(), "ecs", []Take{{Bucket: ECSFargateTasks, N: 10, Lane: LaneHigh}}); err == nil {
			s.hold(sl)
			highCalls++
		}
		next = next.Add(250 * time.Millisecond)
	}
	called := map[float64]time.Time{}
	for _, c := range s.calls {
		called[c.pos.End] = c.at
	}
	worst := time.Duration(0)
	for i, l := range lows {
		at, ok := called[l.end]
		if !ok || at.After(l.bound) {
			t.Fatalf("low chunk %d: called %v (ok %v), want by %v", i, at.Sub(t0), ok, l.bound.Sub(t0))
		}
		worst = max(worst, at.Sub(t0))
	}
	s.checkBound(90, 20)
	if highCalls < 1000 {
		t.Errorf("high takes served: %d, want ≥ 1000 over 20 minutes", highCalls)
	}
	t.Logf("last low chunk called at %v (bound for it %v); %d high takes", worst, lows[len(lows)-1].bound.Sub(t0), highCalls)
}
