package limiter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
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
}

// Slot is a held place in every bucket a call draws on: the call may be made
// at At. Wait is At minus the time of the reservation (0: go now). Fallback
// says the slot came from the local fallback limit because the fleet bucket
// could not be reached. Debits record what was taken, so Release can give
// exactly that back. A Slot survives a JSON round trip (times in RFC 3339,
// durations in seconds), e.g. through a Step Functions Wait.
type Slot struct {
	At       time.Time
	Wait     time.Duration
	Fallback bool
	Debits   []Debit
}

// Signal is a throttle seen on a bucket: a synchronous ThrottlingException
// or RequestLimitExceeded, or an asynchronous ECS_OPERATION_THROTTLED event
// or a TaskFailedToStart caused by throttling.
type Signal struct {
	// Reason is the error code or event name, for logs.
	Reason string
	// At is when the throttle happened; zero means now. A signal from before
	// the last decrease, or within SignalWindow after it, is a duplicate.
	At time.Time
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
	// FallbackFraction is the share of a bucket this instance may use when
	// the store cannot be reached, in (0, 1]. Default 0.1.
	FallbackFraction float64
	// FallbackRetry is how long (clock time) to stay on the fallback after a
	// store failure before trying the store again, and the Wait of a
	// *StoreBusyError. Default 5 s.
	FallbackRetry time.Duration
	// BusyGrace is how long (clock time) store timeouts answer
	// *StoreBusyError (nothing admitted, retry after FallbackRetry) before
	// the local fallback takes over: a store that times out is most often
	// one loaded by the fleet itself, and if every process fell back at
	// once the fallback fractions would add up past the bucket. Errors
	// other than timeouts fall back at once. Default 2 × FallbackRetry;
	// negative: timeouts fall back at once too.
	BusyGrace time.Duration
	// BusyTimeouts is how many timeouts in a row the busy answer lasts at
	// least, besides BusyGrace: a timeout is wall time (StoreTimeout) and
	// on a scaled clock one may already outlast BusyGrace. Default 3.
	BusyTimeouts int
	// StoreTimeout bounds each store call (wall time). Default 2 s.
	StoreTimeout time.Duration
	// EarlyCalls is how far ahead of its slot a caller may make a call.
	// Every bucket's tolerance is shortened by it, so a call made that
	// early still conforms to the real bucket. Default 0: calls are made at
	// their slots (pkg/launch waits for a slot within its defer threshold).
	EarlyCalls time.Duration
	// Logger receives fallback episodes and rate decreases. Default: discard.
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
	local    map[string]*Local      // fallback limiters per key|bucket
	until    map[string]time.Time   // per key: stay on the fallback until
	episode  map[string]bool        // per key: inside a fallback episode
	failures map[string]int         // per key: store failures in the episode
	busy     map[string]time.Time   // per key: first timeout of the current run of timeouts
	timeouts map[string]int         // per key: timeouts in the current run
	localDec map[string]time.Time   // per key|bucket: last decrease of its fallback limit
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
	if o.FallbackFraction <= 0 || o.FallbackFraction > 1 {
		o.FallbackFraction = 0.1
	}
	if o.FallbackRetry <= 0 {
		o.FallbackRetry = 5 * time.Second
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 2 * time.Second
	}
	if o.BusyGrace == 0 {
		o.BusyGrace = 2 * o.FallbackRetry
	}
	if o.BusyTimeouts <= 0 {
		o.BusyTimeouts = 3
	}
	o.EarlyCalls = max(0, o.EarlyCalls)
	if limits == nil {
		limits = DefaultLimits()
	}
	d := &Distributed{
		store: store, lims: limits, o: o, rec: o.Recorder, log: o.Logger,
		known: map[string]Item{}, resolved: map[string]BucketLimit{}, local: map[string]*Local{},
		until: map[string]time.Time{}, episode: map[string]bool{}, failures: map[string]int{}, busy: map[string]time.Time{}, timeouts: map[string]int{}, localDec: map[string]time.Time{},
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
	l, err := d.lims.Bucket(d.o.AccountScope, bucket)
	if err != nil {
		return BucketLimit{}, err
	}
	d.resolved[bucket] = l
	return l, nil
}

// Rate returns the bucket's current effective rate (tokens/s) as this
// process last saw it: the configured rate, or the adaptive rate after a
// throttle signal while it recovers.
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

// effRate is the adaptive rate at now: after a decrease to st.Rate it
// recovers by the factor (1 + Recovery) per second, within [Floor, Rate].
// Growth in proportion to the rate makes a probing cycle last about as long
// at 5 calls/s as at 50, so the throttled share does not grow at low rates
// as it does with additive recovery.
func effRate(l BucketLimit, st BucketState, now time.Time) Limit {
	if st.Rate <= 0 || st.RateAt.IsZero() {
		return l.Rate
	}
	r := Limit(st.Rate * math.Pow(1+l.Recovery, max(0, now.Sub(st.RateAt).Seconds())))
	return min(max(r, l.Floor), l.Rate)
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
		lims[i] = l
	}
	return lims, nil
}

func (d *Distributed) debitsLocked(key string, takes []Take, lims []BucketLimit, now time.Time) []Debit {
	debits := make([]Debit, len(takes))
	for i, t := range takes {
		r := effRate(lims[i], d.known[key][t.Bucket], now)
		// A tolerance shorter than EarlyCalls turns negative: slots then lie
		// after the TAT, so an early call still conforms.
		debits[i] = Debit{Bucket: t.Bucket, Inc: r.durationFor(t.N), Tau: lims[i].Rate.durationFor(lims[i].Tolerance) - d.o.EarlyCalls}
	}
	return debits
}

// Reserve holds a slot in every bucket of takes (all of one service) with
// one atomic store operation and returns it: make the call at Slot.At. The
// slot stays held whether or not the caller waits in process; give an unused
// one back with Release. Errors: invalid takes (naming the field), a
// *BacklogFullError when a slot would lie beyond MaxAhead, or ctx's error. A
// store failure is not an error: the slot then comes from a conservative
// local limit (Slot.Fallback), logged and counted.
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
	now := d.nowLocked()
	fallback := now.Before(d.until[key])
	_, seen := d.known[key]
	d.mu.Unlock()
	if fallback {
		return d.reserveFallback(key, service, takes, lims)
	}
	if !seen { // learn the adaptive state once per process
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		item, err := d.store.Load(sctx, key)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return Slot{}, ctx.Err()
			}
			return d.storeError(key, service, takes, lims, err)
		}
		d.remember(key, item, true)
	}
	d.mu.Lock()
	debits := d.debitsLocked(key, takes, lims, now)
	d.mu.Unlock()
	// Every bucket is charged at now, each on its own GCRA timeline (see
	// the package doc on buckets drawn together). now is read again for
	// each write attempt: a retry after a lost race arrives when it is made.
	arrive := func() (time.Time, time.Time) {
		t := d.now()
		return t, t.Add(d.o.MaxAhead)
	}
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	item, at, err := d.store.Take(sctx, key, arrive, debits)
	cancel()
	if err != nil {
		if full, ok := errors.AsType[*BacklogFullError](err); ok {
			d.rec.Add(MetricBacklogFull, service, 1)
			return Slot{}, full
		}
		if ctx.Err() != nil {
			return Slot{}, ctx.Err()
		}
		return d.storeError(key, service, takes, lims, err)
	}
	d.storeOK(key, service)
	d.remember(key, item, false)
	tats := make(map[string]time.Time, len(debits))
	for _, db := range debits {
		tats[db.Bucket] = item[db.Bucket].TAT
	}
	debits = d.chargeDecrease(ctx, key, takes, lims, debits, item, at, arrive, tats)
	now = at // the arrival the store applied
	for _, db := range debits {
		if s := tats[db.Bucket].Add(-db.Tau); s.After(at) {
			at = s
		}
	}
	s := Slot{At: at, Wait: at.Sub(now), Debits: debits}
	d.recordSlot(service, s)
	return s, nil
}

// chargeDecrease charges what debits, computed from the adaptive state this
// process knew, fell short of the state item (the store's, right after the
// take) says: after another process's decrease, a process that has not
// seen it yet would otherwise pace its next call at the old rate, and with
// one process per Lambda sandbox most calls come from such processes. It
// costs one more write, once per process and decrease. It returns the
// debits with the charge added and updates tats for the buckets charged;
// if the charge fails the take stands as it was (the adaptive rate is a
// soft control; the slot is still within the configured limit).
func (d *Distributed) chargeDecrease(ctx context.Context, key string, takes []Take, lims []BucketLimit,
	debits []Debit, item Item, at time.Time, arrive Arrival, tats map[string]time.Time) []Debit {
	var extra []Debit
	for i, t := range takes {
		want := effRate(lims[i], item[t.Bucket], at).durationFor(t.N)
		if short := want - debits[i].Inc; short > time.Microsecond {
			extra = append(extra, Debit{Bucket: t.Bucket, Inc: short, Tau: debits[i].Tau})
		}
	}
	if len(extra) == 0 {
		return debits
	}
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	fresh, _, err := d.store.Take(sctx, key, arrive, extra)
	cancel()
	if err != nil {
		d.log.Warn("limiter: decrease seen late not charged", "key", key, "err", err)
		return debits
	}
	d.remember(key, fresh, false)
	out := slices.Clone(debits)
	for _, e := range extra {
		tats[e.Bucket] = fresh[e.Bucket].TAT
		for i := range out {
			if out[i].Bucket == e.Bucket {
				out[i].Inc += e.Inc
			}
		}
	}
	return out
}

func (d *Distributed) recordSlot(service string, s Slot) {
	d.rec.Add(MetricAcquisitions, service, 1)
	if s.Fallback {
		d.rec.Add(MetricFallbackAcquisitions, service, 1)
	}
	if s.Wait > 0 {
		d.rec.Add(MetricDeferrals, service, 1)
		d.rec.Add(MetricDelay, service, s.Wait.Seconds())
	}
}

// remember keeps the latest item seen for key. replace: the item is an
// authoritative fresh read; otherwise adaptive state only moves forward.
func (d *Distributed) remember(key string, item Item, replace bool) {
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
	for b, s := range item { // responses may arrive out of order
		if o, ok := merged[b]; ok {
			if o.RateAt.After(s.RateAt) {
				s.Rate, s.RateAt = o.Rate, o.RateAt
			}
			if o.TAT.After(s.TAT) {
				s.TAT = o.TAT
			}
		}
		merged[b] = s
	}
	d.known[key] = merged
}

// Peek returns, without reserving anything, how long from now until takes
// could all be admitted (0: now), from one read of the item and the same
// arithmetic as Reserve. A retry can wait at least that long. Errors: bad
// takes, the store's error, ctx's error.
func (d *Distributed) Peek(ctx context.Context, service string, takes []Take) (time.Duration, error) {
	lims, err := d.check(service, takes)
	if err != nil {
		return 0, err
	}
	key := d.Key(service)
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	item, err := d.store.Load(sctx, key)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("limiter: peek %s: %w", key, err)
	}
	d.remember(key, item, true)
	d.mu.Lock()
	now := d.nowLocked()
	debits := d.debitsLocked(key, takes, lims, now)
	d.mu.Unlock()
	var wait time.Duration
	for _, db := range debits {
		tat := item[db.Bucket].TAT
		if tat.Before(now) {
			tat = now
		}
		wait = max(wait, tat.Add(db.Inc-db.Tau).Sub(now))
	}
	return wait, nil
}

// Release gives back a slot that will not be used (best effort): a slot
// whose time has come counts as used and is not given back. takes must be
// those of the Reserve; they are used only when s carries no Debits (a slot
// rebuilt from its time alone).
func (d *Distributed) Release(ctx context.Context, service string, takes []Take, s Slot) error {
	key := d.Key(service)
	now := d.now()
	if !s.At.After(now) {
		return nil
	}
	debits := s.Debits
	if len(debits) == 0 {
		lims, err := d.check(service, takes)
		if err != nil {
			return err
		}
		d.mu.Lock()
		debits = d.debitsLocked(key, takes, lims, now)
		d.mu.Unlock()
	}
	d.rec.Add(MetricReleases, service, 1)
	if s.Fallback {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, db := range debits {
			if l := d.local[key+"|"+db.Bucket]; l != nil {
				l.giveBack(s.At.UnixNano(), int64(db.Inc))
			}
		}
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
	defer cancel()
	item, err := d.store.Give(sctx, key, now, debits)
	if err != nil {
		return fmt.Errorf("limiter: release %s: %w", key, err)
	}
	d.remember(key, item, true) // TATs moved back: replace, not merge
	return nil
}

// Signal reports a throttle on bucket. The first signal of a storm lowers
// the bucket's rate for the whole fleet (rate × Decrease, not below Floor);
// signals within SignalWindow after a decrease are counted but change
// nothing. The rate then recovers by (1 + Recovery) per second. An error
// means the store could not be reached; the signal is then lost.
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
	d.mu.Lock()
	now := d.nowLocked()
	item, seen := d.known[key]
	d.mu.Unlock()
	at := sig.At
	if at.IsZero() || at.After(now) {
		at = now
	}
	if !seen {
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		item, err = d.store.Load(sctx, key)
		cancel()
		if err != nil {
			d.slowFallback(key, bucket, lim)
			return fmt.Errorf("limiter: signal %s: %w", bucket, err)
		}
		d.remember(key, item, true)
	}
	for range 3 {
		st := item[bucket]
		if !st.RateAt.IsZero() && at.Before(st.RateAt.Add(lim.SignalWindow)) {
			return nil // the same storm: already slowed down
		}
		cur := effRate(lim, st, now)
		next := max(lim.Floor, cur*Limit(lim.Decrease))
		sctx, cancel := context.WithTimeout(ctx, d.o.StoreTimeout)
		applied, fresh, err := d.store.SetRate(sctx, key, bucket, float64(next), now, st.RateAt)
		cancel()
		if err != nil {
			d.slowFallback(key, bucket, lim)
			return fmt.Errorf("limiter: signal %s: %w", bucket, err)
		}
		d.remember(key, fresh, true)
		item = fresh
		if applied {
			d.rec.Add(MetricRateDecreases, service, 1)
			d.log.Info("limiter: rate decreased", "bucket", bucket, "code", sig.Reason,
				"fromRate", float64(cur), "toRate", float64(next), "scope", d.o.AccountScope)
			return nil
		}
	}
	return nil
}

// slowFallback applies a signal the store could not take to this process's
// fallback limit of the bucket, so a storm while the store is unreachable
// still slows this process down.
func (d *Distributed) slowFallback(key, bucket string, lim BucketLimit) {
	name := key + "|" + bucket
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.local[name]
	now := d.nowLocked()
	if l == nil || now.Before(d.localDec[name].Add(lim.SignalWindow)) {
		return // no fallback limit yet, or the same storm
	}
	d.localDec[name] = now
	l.SetLimit(max(lim.Floor*Limit(d.o.FallbackFraction), l.Limit()*Limit(lim.Decrease)))
}

// StoreBusyError is Reserve's answer when the store timed out and has been
// timing out for less than Options.BusyGrace: nothing is held; try again
// after Wait. A slow store is a busy one, and waiting drops nothing.
//
// pkg/failure classifies it by its behaviour (RetryAfter, LimiterBusy) as
// transient, code LimiterStoreBusy, with Wait as the least delay — not by
// the timeout it wraps.
type StoreBusyError struct {
	Key string
	// Wait is Options.FallbackRetry: when to ask the store again.
	Wait time.Duration
	Err  error
}

func (e *StoreBusyError) Error() string {
	return fmt.Sprintf("limiter: bucket store busy (%s: %v); nothing reserved, retry after %v", e.Key, e.Err, e.Wait)
}

func (e *StoreBusyError) Unwrap() error { return e.Err }

// RetryAfter returns Wait: the least wait before asking again.
func (e *StoreBusyError) RetryAfter() time.Duration { return e.Wait }

// LimiterBusy reports true: the limiter could not ask its store; the
// bucket may well have room.
func (e *StoreBusyError) LimiterBusy() bool { return true }

// isTimeout says err is a store call running out of its StoreTimeout (or
// the SDK's own deadline), as opposed to a refusal or an unreachable host.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	t, ok := errors.AsType[interface {
		error
		Timeout() bool
	}](err)
	return ok && t.Timeout()
}

// storeError decides what a failed store call answers: a timeout within
// BusyGrace of the first one is a *StoreBusyError; anything else opens (or
// extends) a fallback episode and takes the slot from the fallback limit.
func (d *Distributed) storeError(key, service string, takes []Take, lims []BucketLimit, err error) (Slot, error) {
	if isTimeout(err) && d.o.BusyGrace > 0 {
		d.mu.Lock()
		now := d.nowLocked()
		first, ok := d.busy[key]
		if !ok {
			first = now
			d.busy[key] = now
		}
		d.timeouts[key]++
		n := d.timeouts[key]
		d.mu.Unlock()
		if now.Sub(first) < d.o.BusyGrace || n <= d.o.BusyTimeouts {
			d.rec.Add(MetricStoreBusy, service, 1)
			if !ok {
				d.log.Warn("limiter: bucket store slow; deferring without admitting",
					"key", key, "err", err, "retryMs", d.o.FallbackRetry.Milliseconds(),
					"fallbackAfterMs", d.o.BusyGrace.Milliseconds())
			}
			return Slot{}, &StoreBusyError{Key: key, Wait: d.o.FallbackRetry, Err: err}
		}
	}
	d.storeFailed(key, service, err)
	return d.reserveFallback(key, service, takes, lims)
}

// storeFailed starts (or extends) a fallback episode for key.
func (d *Distributed) storeFailed(key, service string, err error) {
	d.mu.Lock()
	d.until[key] = d.nowLocked().Add(d.o.FallbackRetry)
	d.failures[key]++
	start := !d.episode[key]
	d.episode[key] = true
	d.mu.Unlock()
	if start {
		d.rec.Add(MetricFallbackEpisodes, service, 1)
		d.log.Warn("limiter: bucket store unreachable; using the local fallback limit",
			"key", key, "err", err, "fallbackFraction", d.o.FallbackFraction,
			"retryMs", d.o.FallbackRetry.Milliseconds())
	}
}

// storeOK ends a fallback episode for key, if one is open.
func (d *Distributed) storeOK(key, service string) {
	d.mu.Lock()
	was := d.episode[key]
	n := d.failures[key]
	delete(d.episode, key)
	delete(d.failures, key)
	delete(d.busy, key)
	delete(d.timeouts, key)
	d.mu.Unlock()
	if was {
		d.log.Info("limiter: bucket store reachable again; fallback episode over", "key", key, "failures", n, "service", service)
	}
}

// reserveFallback takes the slot from per-process local limits at
// FallbackFraction of each bucket (of its adaptive rate as last seen).
func (d *Distributed) reserveFallback(key, service string, takes []Take, lims []BucketLimit) (Slot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.nowLocked()
	s := Slot{At: now, Fallback: true, Debits: make([]Debit, len(takes))}
	type held struct {
		l       *Local
		at, inc int64
	}
	var hs []held
	for i, t := range takes {
		name := key + "|" + t.Bucket
		l := d.local[name]
		if l == nil {
			f := d.o.FallbackFraction
			rate := effRate(lims[i], d.known[key][t.Bucket], now) * Limit(f)
			burst := max(1, int(lims[i].Burst*f))
			l = NewLocal(rate, burst, func(o *LocalOptions) { o.Clock = d.o.Clock })
			l.drain() // no burst: see drain
			d.local[name] = l
		}
		at, inc := l.reserveAny(t.N)
		hs = append(hs, held{l, at.UnixNano(), inc})
		if at.After(s.At) {
			s.At = at
		}
		s.Debits[i] = Debit{Bucket: t.Bucket, Inc: time.Duration(inc)}
	}
	if ahead := s.At.Sub(now); ahead > d.o.MaxAhead {
		for _, h := range hs {
			h.l.giveBack(h.at, h.inc)
		}
		d.rec.Add(MetricBacklogFull, service, 1)
		return Slot{}, &BacklogFullError{Bucket: takes[0].Bucket, Wait: ahead - d.o.MaxAhead}
	}
	s.Wait = s.At.Sub(now)
	d.recordSlot(service, s)
	return s, nil
}
