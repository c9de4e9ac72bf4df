package limiter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Take is what one API call draws from one bucket: N tokens (calls, tasks,
// instances) of Bucket (service:Action, e.g. ecs:FargateTasks).
type Take struct {
	Bucket string  `json:"bucket"`
	N      float64 `json:"n"`
	// Lane is the acquisition's priority lane: LaneHigh, LaneNormal ("",
	// the default) or LaneLow; every take of one acquisition names the
	// same lane (InLane sets it).
	Lane string `json:"lane,omitempty"`
}

// InLane returns takes with their lane set to lane (normal as "", the
// default).
func InLane(takes []Take, lane string) []Take {
	if lane == LaneNormal {
		lane = ""
	}
	out := make([]Take, len(takes))
	for i, t := range takes {
		t.Lane = lane
		out[i] = t
	}
	return out
}

// Position is a slot's place in one bucket: End is the bucket's frontier
// right after the take (so the slot holds positions End−N … End), Epoch the
// bucket's epoch it was timed in, and At when it is due.
type Position struct {
	Bucket string
	End    float64
	N      float64
	Epoch  int64
	At     time.Time
	// Base and Shift place a lower-lane position on its lane's push back
	// (LaneShift): its TAT less the lane's push back when booked, and the
	// push back it has seen (µs). Base 0: no preemption can move it.
	Base, Shift int64
}

// Slot is a held place in every bucket a call draws on: the call may be made
// at At, the latest of its positions' times (Binding names the bucket that
// set it). Wait is At minus the time of the reservation (0: go now). A Slot
// survives a JSON round trip, e.g. through a Step Functions Wait: Recheck
// and Release need only the slot.
type Slot struct {
	At        time.Time
	Wait      time.Duration
	Binding   string
	Positions []Position
	// Lane is the acquisition's lane ("" for normal).
	Lane string
}

// Position returns the slot's position in bucket (ok false if none).
func (s Slot) Position(bucket string) (Position, bool) {
	for _, p := range s.Positions {
		if p.Bucket == bucket {
			return p, true
		}
	}
	return Position{}, false
}

// Signal is a throttle seen on a bucket: a synchronous ThrottlingException
// or RequestLimitExceeded, a RunTask failures[] entry, an
// ECS_OPERATION_THROTTLED event or a TaskFailedToStart caused by
// throttling.
type Signal struct {
	// Reason is the error code or event name, for logs and Status.
	Reason string
	// At is when the throttled call was made; zero means now.
	At time.Time
	// Position is the throttled call's position in the bucket, when the
	// caller holds its slot (Bucket empty otherwise: an asynchronous
	// signal). A signal with a position counts for the epoch it carries; one
	// without, by its time (see the package doc).
	Position Position
}

// Options configures a Distributed limiter. Zero fields take the defaults
// named on each.
type Options struct {
	// Clock is the time source. Default clock.Real.
	Clock clock.Clock
	// AccountScope is the account/region part of the item key and the
	// "accounts" level of the limit hierarchy. Default "default".
	AccountScope string
	// MaxAhead bounds how far ahead slots are handed out. Default 900 s.
	MaxAhead time.Duration
	// BusyRetry is the Wait of a *StoreBusyError: how soon to ask a store
	// that failed again. Default 5 s.
	BusyRetry time.Duration
	// StoreTimeout bounds each store call (wall time). Default 2 s.
	StoreTimeout time.Duration
	// EarlyCalls is how far ahead of its slot a caller may make a call.
	// Every bucket's tolerance is shortened by it, so a call made that
	// early still conforms to the real bucket. Default 0: calls are made at
	// their slots.
	EarlyCalls time.Duration
	// InFlight is how far ahead a caller may already be asleep for its slot
	// in process, where no re-check reaches it (runtask's defer threshold).
	// A decrease leaves positions due within it at their time and re-times
	// from there. Default 2 s.
	InFlight time.Duration
	// BurstFeedback is how long after an idle take (the start, or a bucket
	// that refilled) the second half of its burst allowance waits for
	// feedback on the first half (see halves). Default InFlight + 1.5 s;
	// negative: the whole allowance at once.
	BurstFeedback time.Duration
	// Logger receives store failures and rate decreases. Default: discard.
	Logger *slog.Logger
	// Recorder receives the counters of metrics.go. Default: none.
	Recorder Recorder
}

// Distributed is the fleet-wide limiter: every process sharing a Store (one
// DynamoDB table) shares the buckets. Each service's buckets live in one item
// keyed limiter#<service>#<accountScope>, so an acquisition drawing on
// several buckets is one atomic store operation. Safe for concurrent use.
type Distributed struct {
	store Store
	lims  *Limits
	o     Options
	rec   Recorder
	log   *slog.Logger

	mu       sync.Mutex
	last     time.Time              // latest clock reading; never rewinds
	known    map[string]Item        // last item seen per key (adaptive state)
	resolved map[string]BucketLimit // per bucket
	failing  map[string]bool        // per key: inside a run of store failures (logged once)

	live map[string]appliedLimits // per key: the stored limits applied (livelimits.go)
}

// NewDistributed returns a limiter over store with limits (nil: the built-in
// AWS defaults).
func NewDistributed(store Store, limits *Limits, optFns ...func(*Options)) *Distributed {
	o := Options{}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.AccountScope == "" {
		o.AccountScope = "default"
	}
	if o.MaxAhead <= 0 {
		o.MaxAhead = 900 * time.Second
	}
	if o.BusyRetry <= 0 {
		o.BusyRetry = 5 * time.Second
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 2 * time.Second
	}
	if o.InFlight == 0 {
		o.InFlight = 2 * time.Second
	}
	o.InFlight = max(0, o.InFlight)
	if o.BurstFeedback == 0 {
		o.BurstFeedback = o.InFlight + 1500*time.Millisecond
	}
	o.EarlyCalls = max(0, o.EarlyCalls)
	if limits == nil {
		limits = DefaultLimits()
	}
	d := &Distributed{
		store: store, lims: limits, o: o, rec: o.Recorder, log: o.Logger,
		known: map[string]Item{}, resolved: map[string]BucketLimit{}, failing: map[string]bool{},
	}
	if d.rec == nil {
		d.rec = nopRecorder{}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Key returns the store key of service's item.
func (d *Distributed) Key(service string) string {
	return "limiter#" + service + "#" + d.o.AccountScope
}

// Limit returns the resolved limit of bucket in this limiter's scope.
func (d *Distributed) Limit(bucket string) (BucketLimit, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.limitLocked(bucket)
}

func (d *Distributed) limitLocked(bucket string) (BucketLimit, error) {
	if l, ok := d.resolved[bucket]; ok {
		return l, nil
	}
	l, err := d.limitsOf(bucket).Bucket(d.o.AccountScope, bucket)
	if err != nil {
		return BucketLimit{}, err
	}
	d.resolved[bucket] = l
	return l, nil
}

// Rate returns the bucket's current effective rate (tokens/s) as this
// process last saw it: the configured rate, or the learned rate while it
// recovers.
func (d *Distributed) Rate(service, bucket string) (Limit, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.limitLocked(bucket)
	if err != nil {
		return 0, err
	}
	return effRate(l, d.known[d.Key(service)][bucket], d.nowLocked()), nil
}

func (d *Distributed) nowLocked() time.Time {
	t := d.o.Clock.Now()
	if t.Before(d.last) {
		return d.last
	}
	d.last = t
	return t
}

func (d *Distributed) now() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nowLocked()
}

// probeHold is how long a decreased rate holds before it probes upward:
// a rate measured just under the real one would otherwise cross it again
// within seconds (×1.005 per second from 3 % below: 6 s) and make a throttle
// per few seconds, which at 5 calls/s is several percent of the calls.
const probeHold = 10 * time.Second

// effRate is the learned rate at now: after a decrease to st.Rate it holds
// for probeHold, then recovers by the factor (1 + Recovery) per second,
// within [Floor, Rate].
// Growth in proportion to the rate makes a probing cycle last about as long
// at 5 calls/s as at 50. A take uses the rate of its own time, so growth
// reaches only positions beyond the frontier.
func effRate(l BucketLimit, st BucketState, now time.Time) Limit {
	if st.Rate <= 0 || st.RateAt.IsZero() {
		return l.Rate
	}
	r := Limit(st.Rate * math.Pow(1+l.Recovery, max(0, now.Sub(st.RateAt.Add(probeHold)).Seconds())))
	return min(max(r, l.Floor), l.Rate)
}

// tau is bucket l's burst allowance as a duration, shortened by EarlyCalls.
func (d *Distributed) tau(l BucketLimit) time.Duration {
	return l.Rate.durationFor(l.Tolerance) - d.o.EarlyCalls
}

// check validates takes for service and returns their limits.
func (d *Distributed) check(service string, takes []Take) ([]BucketLimit, error) {
	if len(takes) == 0 {
		return nil, fmt.Errorf("limiter: %s: no takes", service)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	lims := make([]BucketLimit, len(takes))
	for i, t := range takes {
		if svc, _, _ := strings.Cut(t.Bucket, ":"); svc != service {
			return nil, fmt.Errorf("limiter: takes[%d].bucket %q is not a bucket of service %q", i, t.Bucket, service)
		}
		l, err := d.limitLocked(t.Bucket)
		if err != nil {
			return nil, err
		}
		if !(t.N > 0) || t.N > l.Burst {
			return nil, fmt.Errorf("limiter: takes[%d].n = %g for %s: must be in (0, burst %g]", i, t.N, t.Bucket, l.Burst)
		}
		for _, u := range takes[:i] {
			if u.Bucket == t.Bucket {
				return nil, fmt.Errorf("limiter: takes[%d].bucket %q appears twice", i, t.Bucket)
			}
		}
		if _, ok := laneIndex(t.Lane); !ok {
			return nil, fmt.Errorf("limiter: takes[%d].lane %q: want high, normal or low", i, t.Lane)
		}
		if t.Lane != takes[0].Lane {
			return nil, fmt.Errorf("limiter: takes[%d].lane %q: every take of an acquisition names the same lane (takes[0] has %q)", i, t.Lane, takes[0].Lane)
		}
		lims[i] = l
	}
	return lims, nil
}

func (d *Distributed) debitsLocked(key string, takes []Take, lims []BucketLimit, now time.Time) []Debit {
	debits := make([]Debit, len(takes))
	for i, t := range takes {
		st := d.known[key][t.Bucket]
		// A tolerance shorter than EarlyCalls turns negative: slots then lie
		// after the TAT, so an early call still conforms.
		debits[i] = Debit{Bucket: t.Bucket, N: t.N, Inc: effRate(lims[i], st, now).durationFor(t.N), Tau: d.tau(lims[i]), Epoch: st.Epoch, Lane: t.Lane}
		l, _ := laneIndex(t.Lane)
		debits[i].Lanes = lanePlan(st, l, debits[i].Inc.Microseconds(), debits[i].Tau.Microseconds(),
			micros(now), d.o.InFlight.Microseconds(), lims[i].Shares)
	}
	return debits
}

// load reads key's item within StoreTimeout.
func (d *Distributed) load(ctx context.Context, key string) (Item, error) {
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	defer cancel()
	return d.store.Load(sctx, key)
}

// Reserve holds a slot in every bucket of takes (all of one service) with
// one atomic store operation and returns it: make the call at Slot.At. The
// slot stays held whether or not the caller waits in process; give an unused
// one back with Release, and Recheck a slot held across a wait. Errors:
// invalid takes (naming the field), a *BacklogFullError when a slot would
// lie beyond MaxAhead, a *StoreBusyError when the store failed (nothing
// held: fail closed), or ctx's error.
func (d *Distributed) Reserve(ctx context.Context, service string, takes []Take) (Slot, error) {
	lims, err := d.check(service, takes)
	if err != nil {
		return Slot{}, err
	}
	if err := ctx.Err(); err != nil {
		return Slot{}, err
	}
	key := d.Key(service)
	d.mu.Lock()
	_, seen := d.known[key]
	d.mu.Unlock()
	// A high take reads the item first: it preempts what the fleet has
	// booked, which this process's view may not show yet.
	if !seen || takes[0].Lane == LaneHigh { // otherwise learn the rates and epochs once per process
		item, err := d.load(ctx, key)
		if err != nil {
			return Slot{}, d.storeError(ctx, key, service, err)
		}
		d.remember(key, item, true)
	}
	// now is read again for each write attempt: a retry after a lost race
	// arrives when it is made.
	arrive := func() (time.Time, time.Time) {
		t := d.now()
		return t, t.Add(d.o.MaxAhead)
	}
	for try, applied := 0, int64(-1); ; try++ {
		lims = d.recheckLimits(ctx, service, takes, lims, &applied) // the stored limits may have changed
		d.mu.Lock()
		debits := d.debitsLocked(key, takes, lims, d.nowLocked())
		d.mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		item, at, err := d.store.Take(sctx, key, arrive, debits)
		cancel()
		if d.planAgain(key, err, try) {
			continue
		}
		if err != nil {
			if full, ok := errors.AsType[*BacklogFullError](err); ok {
				d.rec.Add(MetricBacklogFull, service, 1)
				return Slot{}, full
			}
			return Slot{}, d.storeError(ctx, key, service, err)
		}
		d.storeOK(key, service)
		d.remember(key, item, false)
		if try < 4 && d.giveBackIfChanged(ctx, key, applied, debits) {
			continue // the answer brought new limits: take again under them
		}
		s := d.slotOf(item, at, debits, lims)
		s.Lane = takes[0].Lane
		d.recordSlot(service, s)
		d.recordRatio(service, s, item, takes, lims, at)
		return s, nil
	}
}

// recordRatio records the binding bucket's learned / configured rate.
func (d *Distributed) recordRatio(service string, s Slot, item Item, takes []Take, lims []BucketLimit, at time.Time) {
	for i, t := range takes {
		if t.Bucket == s.Binding {
			d.rec.Add(MetricRateRatio, service, float64(effRate(lims[i], item[t.Bucket], at)/lims[i].Rate))
		}
	}
}

// planAgain says a take refused for a stale plan is to be made again,
// from the item the refusal carries: another process decreased a rate
// (take again at the new one) or moved the lanes a preemption was planned
// on.
func (d *Distributed) planAgain(key string, err error, try int) bool {
	if ee, ok := errors.AsType[*EpochError](err); ok && try < 4 {
		d.remember(key, ee.Item, true)
		return true
	}
	if le, ok := errors.AsType[*LaneConflictError](err); ok && try < 8 {
		d.remember(key, le.Item, true)
		return true
	}
	return false
}

// slotOf builds the slot a take applied at `at` got, from the item right
// after it. The binding bucket is the one whose position is due latest;
// when every bucket still has burst left, the one with the fewest such
// calls left (its allowance over this call's increment), which a burst of
// launches, ours or a co-tenant's, empties first. A bucket handing out its
// burst in halves times the second half after its feedback interval.
func (d *Distributed) slotOf(item Item, at time.Time, debits []Debit, lims []BucketLimit) Slot {
	s := Slot{At: at, Positions: make([]Position, len(debits))}
	best := math.Inf(-1)
	for i, db := range debits {
		st := item[db.Bucket]
		tat := laneTAT(st, db)
		raw := tat.Add(-db.Tau)
		if h, ok := d.halvesOf(lims[i], st); ok {
			raw = h.due(st.Pos, raw)
		}
		due := raw
		if due.Before(at) {
			due = at
		}
		s.Positions[i] = Position{Bucket: db.Bucket, End: st.Pos, N: db.N, Epoch: st.Epoch, At: due}
		l, _ := laneIndex(db.Lane)
		s.Positions[i].Base, s.Positions[i].Shift = laneBase(st, l, micros(tat))
		score := raw.Sub(at).Seconds() // due later binds
		if score < 0 && db.Inc > 0 {
			score /= db.Inc.Seconds() // minus the calls of burst left
		}
		if score > best {
			best, s.Binding = score, db.Bucket
		}
		if due.After(s.At) {
			s.At = due
		}
	}
	s.Wait = s.At.Sub(at)
	return s
}

func (d *Distributed) recordSlot(service string, s Slot) {
	d.rec.Add(MetricAcquisitions, service, 1)
	if s.Wait > 0 {
		d.rec.Add(MetricDeferrals, service, 1)
		d.rec.Add(MetricDelay, service, s.Wait.Seconds())
	}
}

// remember keeps the latest item seen for key. replace: the item is an
// authoritative fresh read; otherwise a bucket's state moves only forward
// (responses to concurrent calls arrive in any order).
func (d *Distributed) remember(key string, item Item, replace bool) {
	d.adopt(key) // the answer carried the item's stored limits
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.known[key]
	if replace || old == nil {
		d.known[key] = item
		return
	}
	merged := make(Item, len(item))
	for b, s := range old {
		merged[b] = s
	}
	for b, s := range item {
		if o, ok := merged[b]; ok {
			if o.Epoch > s.Epoch {
				continue
			}
			if o.Epoch == s.Epoch && o.TAT.After(s.TAT) {
				s.TAT, s.Pos = o.TAT, o.Pos
			}
		}
		merged[b] = s
	}
	d.known[key] = merged
}

// Recheck re-times a slot held across a wait, from one read: a position
// booked in an epoch a decrease has since ended is due where the decrease's
// anchor puts it (never earlier than before) and is now of the current
// epoch; other positions keep their time. Wait counts from now. On a store
// error the slot is returned as it was (it keeps its place) with a
// *StoreBusyError.
func (d *Distributed) Recheck(ctx context.Context, service string, s Slot) (Slot, error) {
	key := d.Key(service)
	if len(s.Positions) == 0 {
		s.Wait = max(0, s.At.Sub(d.now()))
		return s, nil
	}
	item, err := d.load(ctx, key)
	if err != nil {
		s.Wait = max(0, s.At.Sub(d.now()))
		return s, d.storeError(ctx, key, service, err)
	}
	d.remember(key, item, true)
	out := retime(item, s)
	out.Wait = max(0, out.At.Sub(d.now()))
	if out.At.After(s.At) {
		d.rec.Add(MetricRetimed, service, 1)
	}
	return out, nil
}

// retime applies the item's anchors to s's positions (see Recheck).
func retime(item Item, s Slot) Slot {
	out := Slot{Positions: make([]Position, len(s.Positions)), Lane: s.Lane}
	for i, p := range s.Positions {
		st := item[p.Bucket]
		p = relane(st, s.Lane, p)
		if st.Epoch > p.Epoch {
			p.Base, p.Shift = 0, 0 // re-timed in booking order: no preemption moves it again
		}
		switch {
		case st.Epoch <= p.Epoch || st.AnchorRate <= 0:
		case p.End > st.AnchorPos:
			due := st.AnchorAt.Add(Limit(st.AnchorRate).durationFor(p.End - st.AnchorPos))
			if due.After(p.At) {
				p.At = due
			}
			p.Epoch = st.Epoch
		case st.AnchorPrev > 0:
			// Up to the anchor, a position keeps the timing before the
			// decrease (its calls were due, or asleep in process, before
			// the decrease took effect) and its epoch. One that missed an
			// earlier decrease too is timed back from the anchor at that
			// timing's rate, which is no earlier than the decrease it missed
			// put it.
			due := st.AnchorAt.Add(-Limit(st.AnchorPrev).durationFor(st.AnchorPos - p.End))
			if due.After(p.At) {
				p.At = due
			}
		}
		out.Positions[i] = p
		if p.At.After(out.At) {
			out.At = p.At
		}
	}
	// The binding bucket stays the limiter's choice unless another
	// position now lies later than it.
	out.Binding = s.Binding
	if b, ok := out.Position(s.Binding); !ok || out.At.After(b.At) {
		for _, p := range out.Positions {
			if p.At.Equal(out.At) {
				out.Binding = p.Bucket
				break
			}
		}
	}
	return out
}

// Peek returns, without reserving anything, how long from now until takes
// could all be admitted (0: now), from one read of the item and the same
// arithmetic as Reserve. A retry can wait at least that long. Errors: bad
// takes, a *StoreBusyError, ctx's error.
func (d *Distributed) Peek(ctx context.Context, service string, takes []Take) (time.Duration, error) {
	lims, err := d.check(service, takes)
	if err != nil {
		return 0, err
	}
	key := d.Key(service)
	item, err := d.load(ctx, key)
	if err != nil {
		return 0, d.storeError(ctx, key, service, err)
	}
	d.remember(key, item, true)
	d.mu.Lock()
	now := d.nowLocked()
	debits := d.debitsLocked(key, takes, lims, now)
	d.mu.Unlock()
	var wait time.Duration
	for _, db := range debits {
		tat := item[db.Bucket].TAT
		if db.Lanes != nil && db.Lanes.Preempt { // a higher lane goes ahead
			tat = fromMicros(db.Lanes.P)
		}
		if tat.Before(now) {
			tat = now
		}
		wait = max(wait, tat.Add(db.Inc-db.Tau).Sub(now))
	}
	return wait, nil
}

// Release gives back a slot that will not be used: each position not yet
// due (as Recheck would time it) returns its N tokens at the frontier, at
// the bucket's current rate and epoch, with one read and one write. A slot
// whose time has come counts as used; a slot without positions (from an
// older release of the product) has nothing exact to give back.
func (d *Distributed) Release(ctx context.Context, service string, s Slot) error {
	key := d.Key(service)
	now := d.now()
	if len(s.Positions) == 0 || !s.At.After(now) {
		return nil
	}
	item, err := d.load(ctx, key)
	if err != nil {
		return fmt.Errorf("limiter: release %s: %w", key, err)
	}
	s = retime(item, s)
	var debits []Debit
	d.mu.Lock()
	for _, p := range s.Positions {
		l, err := d.limitLocked(p.Bucket)
		if err != nil || !p.At.After(now) {
			continue
		}
		st := item[p.Bucket]
		debits = append(debits, Debit{Bucket: p.Bucket, N: p.N, Inc: effRate(l, st, now).durationFor(p.N), Epoch: st.Epoch})
	}
	d.mu.Unlock()
	if len(debits) == 0 {
		return nil
	}
	d.rec.Add(MetricReleases, service, 1)
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	defer cancel()
	item, err = d.store.Give(sctx, key, now, debits)
	if err != nil {
		return fmt.Errorf("limiter: release %s: %w", key, err)
	}
	d.remember(key, item, true) // TATs moved back: replace, not merge
	return nil
}
