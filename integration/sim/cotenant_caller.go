package sim

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// cotenantStep is how often the co-tenant caller calls on each bucket;
// cotenantRetry how long it waits on a bucket after a throttled call: the
// AWS SDKs' standard retry mode waits a random 0 to 2 s before its first
// retry ("Retry behavior", AWS SDKs and Tools Reference Guide), 1 s on
// average, and no randomness keeps the runs comparable.
const (
	cotenantStep  = 100 * time.Millisecond
	cotenantRetry = time.Second
)

// The co-tenant caller is traffic the product does not control, drawing on
// the same token buckets as the product's calls: AWS keeps one bucket per
// action category per account and Region, shared by every caller in it
// ("Amazon ECS API request throttling", "Request throttling for the Amazon
// EC2 API"). While present it wants Share of each published bucket's rate;
// hidden buckets are ECS's own calls and it does not draw on them.
//
// Its demand accrues continuously; every 100 ms of simulated time it makes
// calls of one call's tokens (cotenantCallTokens) on each published bucket
// while it has that much demand, stopping at the first throttled call (a
// throttled call takes nothing) and trying that bucket again 1 s later.
// Unmet demand is kept up to Share of the burst plus one call (what its
// callers cannot send in one burst, they give up). Calls come whole, as
// the product's do: a co-tenant sipping fractions of a token every 100 ms
// would always be served before a caller waiting for ten tokens, and no
// over-drawing could harm it; and it backs off as the SDKs do, so a
// strategy that grabs every token the moment the bucket holds a call's
// worth finds it short again when it retries. A co-tenant already there when it is set
// (Config.CotenantStartSeconds 0, or SetCotenantTraffic from not after now)
// first takes Share of each burst: the account is in use, so the product
// finds the buckets (1 − Share) full. One that arrives later ramps in at its
// rate. Nothing here is random: the same calls get the same answers.
type cotenantCaller struct {
	share       float64
	from, until time.Time // until zero: it never leaves
	last        time.Time // its previous round of calls
	generation  int       // bumped when replaced; calls of an older one stop
}

// cotenantCallTokens is one co-tenant call's tokens on a bucket: ten tasks
// or instances on the resource buckets (RunTask launches at most ten tasks
// a call: "RunTask", Amazon ECS API Reference), one request elsewhere.
func cotenantCallTokens(bucket string) float64 {
	switch bucket {
	case BucketFargateTasks, BucketFargateSpotTasks, BucketInstances, BucketTerminatedInstances:
		return 10
	}
	return 1
}

// cotenantDraw is the co-tenant caller's state on one bucket.
type cotenantDraw struct {
	share     float64 // while present, else 0
	want      float64 // tokens wanted and not granted yet
	retryAt   time.Time
	taken     float64
	calls     int64
	throttled int64
}

// drawnByCotenant reports whether the co-tenant caller draws on b.
func (b *bucket) drawnByCotenant() bool {
	return !b.unlimited() && !strings.HasPrefix(b.name, hiddenPrefix)
}

// cotenantCalls makes the co-tenant's calls on b at at, one call's tokens
// each, until its demand is below one call or a call is throttled; none
// while it waits after a throttled call.
func (b *bucket) cotenantCalls(at time.Time) {
	call := cotenantCallTokens(b.name)
	if at.Before(b.cot.retryAt) {
		return
	}
	b.advance(at)
	for b.cot.want+1e-9 >= call {
		b.cot.calls++
		if !b.has(call) {
			b.cot.throttled++
			b.cot.retryAt = at.Add(cotenantRetry)
			return
		}
		b.tokens -= call
		b.cot.taken += call
		b.cot.want -= call
	}
}

// SetCotenantTraffic replaces the co-tenant caller: from from (zero: now)
// until until (zero: never) it draws share of every published bucket. A
// from not after now means it is already there and has taken its share of
// each burst; share 0 removes it.
func (s *Sim) SetCotenantTraffic(share float64, from, until time.Time) error {
	if share < 0 || share >= 1 {
		return fmt.Errorf("sim: co-tenant share must be in [0, 1), got %v", share)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	if from.IsZero() {
		from = now
	}
	if !until.IsZero() && !until.After(from) {
		return fmt.Errorf("sim: the co-tenant must leave after it arrives, got %v → %v", from, until)
	}
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
	return s.SetCotenantTraffic(share, time.Time{}, time.Time{})
}

// startCotenant replaces the co-tenant caller at now. Callers hold s.mu.
func (s *Sim) startCotenant(now time.Time, share float64, from, until time.Time) {
	c := &s.caller
	c.generation++
	c.share, c.from, c.until = share, from, until
	for _, b := range s.buckets {
		b.cot.share, b.cot.want, b.cot.retryAt = 0, 0, time.Time{}
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
			b.cotenantCalls(at)
		}
	}
	s.scheduleCotenant(at, gen)
}

// cotenantRound is one round of co-tenant calls on every published bucket.
func (s *Sim) cotenantRound(at time.Time, gen int) {
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
		most := c.share*b.cfg.Burst + cotenantCallTokens(b.name)
		b.cot.want = math.Min(b.cot.want+c.share*b.cfg.Rate*dt, most)
		b.cotenantCalls(at)
	}
	if !c.until.IsZero() && !at.Before(c.until) {
		for _, b := range s.buckets {
			b.cot.share, b.cot.want = 0, 0
		}
		return
	}
	s.scheduleCotenant(at, gen)
}

// scheduleCotenant schedules the next round after at, the last one at the
// co-tenant's departure.
func (s *Sim) scheduleCotenant(at time.Time, gen int) {
	next := at.Add(cotenantStep)
	if u := s.caller.until; !u.IsZero() && next.After(u) {
		next = u
	}
	s.sched.at(next, func(t time.Time) { s.cotenantRound(t, gen) })
}
