package sim

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// cotenantStep is how often the co-tenant caller calls on each bucket.
const cotenantStep = 100 * time.Millisecond

// The co-tenant caller is traffic the product does not control, drawing on
// the same token buckets as the product's calls: AWS keeps one bucket per
// action category per account and Region, shared by every caller in it
// ("Amazon ECS API request throttling", "Request throttling for the Amazon
// EC2 API"). While present it wants Share of each published bucket's rate;
// hidden buckets are ECS's own calls and it does not draw on them.
//
// Every 100 ms of simulated time it makes one call on each published bucket
// for the tokens its rate earned since its last call, all or nothing, as a
// throttled API call takes nothing. A call that finds the bucket short is a
// throttled co-tenant call; its tokens stay wanted and the next call asks
// for them too, up to Share of the burst plus one step's worth (what its own
// callers cannot send in one burst, they give up). A co-tenant already there
// when it is set (Config.CotenantStartSeconds 0, or SetCotenantTraffic from
// not after now) first takes Share of each burst: the account is in use, so
// the product finds the buckets (1 − Share) full. One that arrives later
// ramps in at its rate. The schedule has no randomness: the same calls give
// the same answers.
type cotenantCaller struct {
	share       float64
	from, until time.Time // until zero: it never leaves
	last        time.Time // its previous call
	generation  int       // bumped when replaced; calls of an older one stop
}

// cotenantDraw is the co-tenant caller's state on one bucket.
type cotenantDraw struct {
	share     float64 // while present, else 0
	want      float64 // tokens asked for and not granted yet
	taken     float64
	calls     int64
	throttled int64
}

// drawnByCotenant reports whether the co-tenant caller draws on b.
func (b *bucket) drawnByCotenant() bool {
	return !b.unlimited() && !strings.HasPrefix(b.name, hiddenPrefix)
}

// cotenantCall is one co-tenant call for everything it wants at at.
func (b *bucket) cotenantCall(at time.Time) {
	if b.cot.want <= 1e-12 {
		return
	}
	b.advance(at)
	b.cot.calls++
	if !b.has(b.cot.want) {
		b.cot.throttled++
		return
	}
	b.tokens -= b.cot.want
	b.cot.taken += b.cot.want
	b.cot.want = 0
}

// SetCotenantTraffic replaces the co-tenant caller: from from until until
// (zero: never leaves) it draws share of every published bucket. A from not
// after now means it is already there and has taken its share of each burst;
// share 0 removes it.
func (s *Sim) SetCotenantTraffic(share float64, from, until time.Time) error {
	if share < 0 || share >= 1 {
		return fmt.Errorf("sim: co-tenant share must be in [0, 1), got %v", share)
	}
	if !until.IsZero() && !until.After(from) {
		return fmt.Errorf("sim: the co-tenant must leave after it arrives, got %v → %v", from, until)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	s.startCotenant(now, share, from, until)
	s.cfg.CotenantShare, s.cfg.CotenantStartSeconds, s.cfg.CotenantStopSeconds = share, 0, 0
	if share > 0 {
		s.cfg.CotenantStartSeconds = max(0, from.Sub(s.epoch).Seconds())
		if !until.IsZero() {
			s.cfg.CotenantStopSeconds = until.Sub(s.epoch).Seconds()
		}
	}
	return nil
}

// SetCotenantShare makes a co-tenant caller that is already there draw
// share of every published bucket from now on, for good.
func (s *Sim) SetCotenantShare(share float64) error {
	return s.SetCotenantTraffic(share, s.clock.Now(), time.Time{})
}

// startCotenant replaces the co-tenant caller at now. Callers hold s.mu.
func (s *Sim) startCotenant(now time.Time, share float64, from, until time.Time) {
	c := &s.caller
	c.generation++
	c.share, c.from, c.until = share, from, until
	for _, b := range s.buckets {
		b.cot.share, b.cot.want = 0, 0
	}
	if share == 0 {
		return
	}
	burst := !from.After(now)
	gen := c.generation
	s.sched.at(laterOf(from, now), func(at time.Time) { s.cotenantArrive(at, gen, burst) })
}

// cotenantArrive starts the co-tenant's calls, with its share of each
// burst first when burst is set.
func (s *Sim) cotenantArrive(at time.Time, gen int, burst bool) {
	c := &s.caller
	if gen != c.generation {
		return
	}
	c.last = at
	for _, b := range s.buckets {
		if !b.drawnByCotenant() {
			continue
		}
		b.cot.share = c.share
		if burst {
			b.cot.want = c.share * b.cfg.Burst
			b.cotenantCall(at)
		}
	}
	s.scheduleCotenant(at, gen)
}

// cotenantCalls is one round of co-tenant calls, one per published bucket.
func (s *Sim) cotenantCalls(at time.Time, gen int) {
	c := &s.caller
	if gen != c.generation {
		return
	}
	dt := at.Sub(c.last).Seconds()
	c.last = at
	for _, b := range s.buckets {
		if !b.drawnByCotenant() {
			continue
		}
		most := c.share * (b.cfg.Burst + b.cfg.Rate*cotenantStep.Seconds())
		b.cot.want = math.Min(b.cot.want+c.share*b.cfg.Rate*dt, most)
		b.cotenantCall(at)
	}
	if !c.until.IsZero() && !at.Before(c.until) {
		for _, b := range s.buckets {
			b.cot.share, b.cot.want = 0, 0
		}
		return
	}
	s.scheduleCotenant(at, gen)
}

// scheduleCotenant schedules the next round of calls after at, the last
// one at the co-tenant's departure.
func (s *Sim) scheduleCotenant(at time.Time, gen int) {
	next := at.Add(cotenantStep)
	if u := s.caller.until; !u.IsZero() && next.After(u) {
		next = u
	}
	s.sched.at(next, func(t time.Time) { s.cotenantCalls(t, gen) })
}
