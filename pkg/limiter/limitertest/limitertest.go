// Package limitertest is the conformance suite every limiter.Store passes:
// limiter.MemoryStore in its unit tests, limiter.DynamoStore against
// dynalite. It checks the GCRA semantics of each operation, atomicity under
// concurrency and a 400-goroutine contention run through a Distributed
// limiter.
package limitertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// T0 is the start of every test timeline.
var T0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

var keySeq atomic.Int64

// key returns a key no other subtest uses, so one store can serve all.
func key(t *testing.T) string {
	return fmt.Sprintf("limiter#test%d#%s", keySeq.Add(1), t.Name())
}

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// debit is n tokens of a bucket at rate/s with the given burst.
func debit(bucket string, n, rate, burst float64) limiter.Debit {
	return limiter.Debit{Bucket: bucket, N: n, Inc: sec(n / rate), Tau: sec(burst / rate)}
}

func tatOf(t *testing.T, it limiter.Item, bucket string) time.Time {
	t.Helper()
	s, ok := it[bucket]
	if !ok {
		t.Fatalf("item has no bucket %q: %v", bucket, it)
	}
	return s.TAT
}

func wantTAT(t *testing.T, it limiter.Item, bucket string, want time.Time) {
	t.Helper()
	if got := tatOf(t, it, bucket); !got.Equal(want) {
		t.Fatalf("%s TAT: got %v, want %v (%+v)", bucket, got.Sub(T0), want.Sub(T0), it)
	}
}

// equalState compares states at the store's microsecond precision.
func equalState(a, b limiter.BucketState) bool {
	eq := func(x, y time.Time) bool { return x.UnixMicro() == y.UnixMicro() }
	return eq(a.TAT, b.TAT) && eq(a.RateAt, b.RateAt) && eq(a.AnchorAt, b.AnchorAt) && eq(a.MarkAt, b.MarkAt) &&
		eq(a.BurstAt, b.BurstAt) && a.BurstPos == b.BurstPos &&
		a.Pos == b.Pos && a.Rate == b.Rate && a.Epoch == b.Epoch && a.AnchorPos == b.AnchorPos && a.AnchorRate == b.AnchorRate &&
		a.Throttled == b.Throttled && a.MarkPos == b.MarkPos && a.MarkThrottled == b.MarkThrottled && a.LastSignal == b.LastSignal
}

// TestStore runs the conformance suite on the store newStore returns. The
// subtests share one store (distinct keys) and run in parallel.
func TestStore(t *testing.T, newStore func(t *testing.T) limiter.Store) {
	s := newStore(t)
	ctx := context.Background()
	const ahead = time.Hour
	a := debit("svc:A", 1, 10, 3) // inc 100 ms, tau 300 ms
	b := debit("svc:B", 2, 4, 8)  // inc 500 ms, tau 2 s

	t.Run("LoadMissing", func(t *testing.T) {
		t.Parallel()
		it, err := s.Load(ctx, key(t))
		if err != nil || len(it) != 0 {
			t.Fatalf("Load of a missing item: got %v, %v; want empty, nil", it, err)
		}
	})
	t.Run("TakeIdleThenBacklog", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		steps := []struct {
			at   time.Duration
			want time.Duration // TAT after, from T0
			// The burst mark after: the last idle take's time (from T0)
			// and the frontier before it.
			burstAt  time.Duration
			burstPos float64
		}{
			{0, sec(0.1), 0, 0},              // idle: now + inc
			{0, sec(0.2), 0, 0},              // backlog: TAT + inc
			{sec(0.05), sec(0.3), 0, 0},      // still backlog
			{sec(5), sec(5.1), sec(5), 3},    // idle again
			{sec(5.01), sec(5.2), sec(5), 3}, // backlog: the mark stays
		}
		for i, st := range steps {
			now := T0.Add(st.at)
			it, _, err := s.Take(ctx, k, limiter.At(now, now.Add(ahead)), []limiter.Debit{a})
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			wantTAT(t, it, a.Bucket, T0.Add(st.want))
			if got := it[a.Bucket]; !got.BurstAt.Equal(T0.Add(st.burstAt)) || got.BurstPos != st.burstPos {
				t.Fatalf("step %d: burst mark %v at %g, want %v at %g", i, got.BurstAt.Sub(T0), got.BurstPos, st.burstAt, st.burstPos)
			}
		}
	})
	t.Run("TakeSeveralBucketsAtOnce", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		if _, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(ahead)), []limiter.Debit{a}); err != nil {
			t.Fatal(err)
		}
		// A is in backlog (TAT T0+0.1 s), B idle: both branches in one write.
		it, _, err := s.Take(ctx, k, limiter.At(T0.Add(sec(0.05)), T0.Add(ahead)), []limiter.Debit{a, b})
		if err != nil {
			t.Fatal(err)
		}
		wantTAT(t, it, a.Bucket, T0.Add(sec(0.2)))
		wantTAT(t, it, b.Bucket, T0.Add(sec(0.55)))
	})
	t.Run("TakeArrivingLater", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		steps := []struct {
			at   time.Duration // arrival; now is T0 throughout
			want time.Duration // TAT after
		}{
			{sec(1), sec(1.1)},   // idle: arrival + inc
			{sec(0.5), sec(1.2)}, // TAT past the arrival: TAT + inc
			{sec(3), sec(3.1)},   // arrival past the TAT: arrival + inc
		}
		for i, st := range steps {
			it, _, err := s.Take(ctx, k, limiter.At(T0.Add(st.at), T0.Add(ahead)), []limiter.Debit{a})
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			wantTAT(t, it, a.Bucket, T0.Add(st.want))
		}
		// The bound counts from now, not from the arrival.
		var full *limiter.BacklogFullError
		if _, _, err := s.Take(ctx, k, limiter.At(T0.Add(sec(2)), T0.Add(sec(2.5))), []limiter.Debit{a}); !errors.As(err, &full) || full.Wait != sec(0.4) {
			t.Fatalf("got %v, want a BacklogFullError retrying after 400ms (3.1 + 0.1 − 0.3 − 2.5)", err)
		}
	})
	t.Run("MaxAheadRefusesAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		// Slots: TAT − tau ≤ now + 1 s; with inc 0.1 and tau 0.3 the 13th
		// take would need a slot at 1.0 s + 0.1 s.
		n := 0
		var full *limiter.BacklogFullError
		for ; n < 100; n++ {
			_, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(time.Second)), []limiter.Debit{a})
			if errors.As(err, &full) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if n != 13 {
			t.Fatalf("granted %d takes within 1 s ahead at 10/s burst 3, want 13", n)
		}
		if full.Bucket != a.Bucket || full.Wait <= 0 || full.Wait > sec(0.1) {
			t.Fatalf("BacklogFullError %+v: want bucket %s and 0 < RetryAfter ≤ 100ms", full, a.Bucket)
		}
		it, err := s.Load(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		wantTAT(t, it, a.Bucket, T0.Add(sec(1.3)))
		// A refused multi-bucket take leaves the other bucket alone too.
		if _, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(time.Second)), []limiter.Debit{b, a}); !errors.As(err, &full) {
			t.Fatalf("got %v, want a BacklogFullError", err)
		}
		if it, _ = s.Load(ctx, k); len(it) != 1 {
			t.Fatalf("a refused take wrote: %+v", it)
		}
	})
	t.Run("Give", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		for range 5 {
			if _, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(ahead)), []limiter.Debit{a}); err != nil {
				t.Fatal(err)
			}
		}
		// TAT T0+0.5 s. Giving back at T0 moves it to T0+0.4 s.
		it, err := s.Give(ctx, k, T0, []limiter.Debit{a})
		if err != nil {
			t.Fatal(err)
		}
		wantTAT(t, it, a.Bucket, T0.Add(sec(0.4)))
		if it[a.Bucket].Pos != 4 {
			t.Fatalf("Give left the frontier at %v, want 4", it[a.Bucket].Pos)
		}
		// A debit of another epoch gives nothing back.
		stale := a
		stale.Epoch = 3
		if it, err = s.Give(ctx, k, T0, []limiter.Debit{stale}); err != nil || it[a.Bucket].Pos != 4 {
			t.Fatalf("Give of another epoch: %+v, %v; want nothing given", it, err)
		}
		// At T0+0.35 s the tokens have refilled (TAT < now + inc): no change.
		if it, err = s.Give(ctx, k, T0.Add(sec(0.35)), []limiter.Debit{a, b}); err != nil {
			t.Fatal(err)
		}
		wantTAT(t, it, a.Bucket, T0.Add(sec(0.4)))
		if _, ok := it[b.Bucket]; ok {
			t.Fatalf("Give created bucket %s: %+v", b.Bucket, it)
		}
	})
	t.Run("SwapCompareAndSet", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		at1, at2 := T0.Add(time.Second), T0.Add(2*time.Second)
		v1 := limiter.BucketState{Rate: 20, RateAt: at1, Epoch: 1, AnchorAt: at1, AnchorPos: 7.5, AnchorRate: 20,
			TAT: at1.Add(time.Second), Pos: 12, Throttled: 3, MarkAt: at1, MarkPos: 10, MarkThrottled: 3, LastSignal: "ThrottlingException"}
		v2 := v1
		v2.Epoch, v2.Rate, v2.RateAt = 2, 10, at2
		steps := []struct {
			prev, next limiter.BucketState
			applied    bool
			want       limiter.BucketState
		}{
			{limiter.BucketState{}, v1, true, v1},
			{limiter.BucketState{}, v2, false, v1}, // someone wrote first
			{v2, v2, false, v1},                    // wrong prev
			{v1, v2, true, v2},
		}
		for i, st := range steps {
			applied, it, err := s.Swap(ctx, k, "svc:A", st.prev, st.next)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if got := it["svc:A"]; applied != st.applied || !equalState(got, st.want) {
				t.Fatalf("step %d: applied %v state %+v; want %v %+v", i, applied, got, st.applied, st.want)
			}
		}
		// Takes keep the rest of the state and move the frontier.
		it, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(ahead)), []limiter.Debit{{Bucket: "svc:A", N: 2, Inc: sec(0.2), Epoch: 2}})
		if err != nil || it["svc:A"].Rate != 10 || it["svc:A"].Pos != 14 || it["svc:A"].Epoch != 2 || it["svc:A"].AnchorPos != 7.5 {
			t.Fatalf("after a take: %+v, %v; want rate 10, epoch 2, anchor kept and Pos 14", it, err)
		}
	})
	t.Run("TakeRefusesAnOlderEpoch", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		if _, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(ahead)), []limiter.Debit{a, b}); err != nil {
			t.Fatal(err)
		}
		it, _ := s.Load(ctx, k)
		next := it[b.Bucket]
		next.Epoch, next.Rate, next.RateAt = 1, 2, T0
		if ok, _, err := s.Swap(ctx, k, b.Bucket, it[b.Bucket], next); !ok || err != nil {
			t.Fatalf("swap: %v %v", ok, err)
		}
		var ee *limiter.EpochError
		if _, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(ahead)), []limiter.Debit{a, b}); !errors.As(err, &ee) || ee.Bucket != b.Bucket || ee.Item[b.Bucket].Epoch != 1 {
			t.Fatalf("a debit of epoch 0 on a bucket in epoch 1: got %v, want an EpochError for %s carrying the item", err, b.Bucket)
		}
		if after, _ := s.Load(ctx, k); after[a.Bucket].Pos != 1 || after[b.Bucket].Pos != 2 {
			t.Fatalf("a refused take wrote: %+v", after)
		}
		b1 := b
		b1.Epoch = 1
		if it, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(ahead)), []limiter.Debit{a, b1}); err != nil || it[b.Bucket].Pos != 4 || it[a.Bucket].Pos != 2 {
			t.Fatalf("a take in the current epoch: %+v, %v", it, err)
		}
	})
	t.Run("ConcurrentTakesAreAtomic", func(t *testing.T) {
		t.Parallel()
		k := key(t)
		const workers, each = 16, 8
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					if _, _, err := s.Take(ctx, k, limiter.At(T0, T0.Add(ahead)), []limiter.Debit{a, b}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		it, err := s.Load(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		wantTAT(t, it, a.Bucket, T0.Add(workers*each*a.Inc))
		wantTAT(t, it, b.Bucket, T0.Add(workers*each*b.Inc))
		if it[a.Bucket].Pos != workers*each*a.N || it[b.Bucket].Pos != workers*each*b.N {
			t.Fatalf("frontiers %v and %v, want %v and %v", it[a.Bucket].Pos, it[b.Bucket].Pos, workers*each*a.N, workers*each*b.N)
		}
	})
	t.Run("Contention400", func(t *testing.T) {
		t.Parallel()
		Contention(t, s, 400, 5*time.Second)
	})
	testLanes(t, s)
}

// laneKit is what the lane subtests share: a store, a low debit (inc
// 100 ms) and a backlog of 20 of them (TAT T0 + 2 s).
type laneKit struct {
	s   limiter.Store
	low limiter.Debit
}

const laneAhead = time.Hour

func us(d time.Duration) int64 { return T0.Add(d).UnixMicro() }

func (k laneKit) backlog(t *testing.T, key string) limiter.Item {
	t.Helper()
	var it limiter.Item
	for range 20 {
		var err error
		if it, _, err = k.s.Take(context.Background(), key, limiter.At(T0, T0.Add(laneAhead)), []limiter.Debit{k.low}); err != nil {
			t.Fatal(err)
		}
	}
	return it
}

// preempt is a high debit inserted at T0 + 1 s, pushing the low lane back.
func (k laneKit) preempt(prev limiter.LaneState) limiter.Debit {
	high := k.low
	high.Lane = limiter.LaneHigh
	next := prev
	next.Shift[2] = limiter.LaneShift{Thr: [4]int64{us(sec(1))}, Cum: [4]int64{sec(0.1).Microseconds()}, Budget: us(sec(0.2))}
	high.Lanes = &limiter.LaneWrite{Prev: prev, Next: next, Preempt: true, P: us(sec(1)), Shifted: [3]bool{false, false, true}}
	return high
}

// testLanes checks the lane part of takes: a lane's front, a preemption
// (the frontier and the shifted lane's front move by the increment, the
// take's lane front goes to the insertion point plus it, the push-back
// state is swapped), its refusal when the state moved, the start of a
// lane state, and the urgent case through a Distributed.
func testLanes(t *testing.T, s limiter.Store) {
	low := debit("svc:L", 1, 10, 3)
	low.Lane = limiter.LaneLow
	k := laneKit{s: s, low: low}
	t.Run("LaneFront", func(t *testing.T) {
		t.Parallel()
		it := k.backlog(t, key(t))
		if got := it[low.Bucket].Lanes.Front[2]; got != us(sec(2)) {
			t.Fatalf("low front %v, want T0+2s", time.UnixMicro(got).Sub(T0))
		}
	})
	t.Run("LanePreempt", func(t *testing.T) { t.Parallel(); lanePreempt(t, k) })
	t.Run("LanePreemptRefused", func(t *testing.T) { t.Parallel(); lanePreemptRefused(t, k) })
	t.Run("LaneUrgentThroughDistributed", func(t *testing.T) { t.Parallel(); laneUrgent(t, s) })
	t.Run("LaneStateStart", func(t *testing.T) { t.Parallel(); laneStateStart(t, k) })
}

func lanePreempt(t *testing.T, k laneKit) {
	ky := key(t)
	it := k.backlog(t, ky)
	high := k.preempt(it[k.low.Bucket].Lanes)
	it, _, err := k.s.Take(context.Background(), ky, limiter.At(T0, T0.Add(laneAhead)), []limiter.Debit{high})
	if err != nil {
		t.Fatal(err)
	}
	st := it[k.low.Bucket]
	wantTAT(t, it, k.low.Bucket, T0.Add(sec(2.1)))
	if st.Pos != 21 || st.Lanes.Front[2] != us(sec(2.1)) || st.Lanes.Front[0] != us(sec(1.1)) || st.Lanes.Shift[2] != high.Lanes.Next.Shift[2] {
		t.Fatalf("after the preemption: pos %g, lanes %+v", st.Pos, st.Lanes)
	}
}

func lanePreemptRefused(t *testing.T, k laneKit) {
	ctx, ky := context.Background(), key(t)
	it := k.backlog(t, ky)
	stale := it[k.low.Bucket].Lanes
	stale.Shift[2].Budget = 1 // not what is stored
	// A lane with positions beyond the insertion point that the take does
	// not shift refuses it too.
	unshifted := k.preempt(it[k.low.Bucket].Lanes)
	unshifted.Lanes.Shifted[2] = false
	for name, d := range map[string]limiter.Debit{"stale lane state": k.preempt(stale), "unshifted lane beyond P": unshifted} {
		_, _, err := k.s.Take(ctx, ky, limiter.At(T0, T0.Add(laneAhead)), []limiter.Debit{d})
		if _, ok := errors.AsType[*limiter.LaneConflictError](err); !ok {
			t.Fatalf("%s: got %v, want a *LaneConflictError", name, err)
		}
	}
	after, err := k.s.Load(ctx, ky)
	if err != nil {
		t.Fatal(err)
	}
	if !equalState(after[k.low.Bucket], it[k.low.Bucket]) || after[k.low.Bucket].Lanes != it[k.low.Bucket].Lanes {
		t.Fatalf("a refused preemption wrote: %+v, want %+v", after[k.low.Bucket], it[k.low.Bucket])
	}
}

func laneStateStart(t *testing.T, k laneKit) {
	ky := key(t)
	it := k.backlog(t, ky)
	d := k.low
	d.Lane = limiter.LaneHigh
	next := it[k.low.Bucket].Lanes
	next.Gen, next.Floor = 3, us(sec(2))
	d.Lanes = &limiter.LaneWrite{Prev: it[k.low.Bucket].Lanes, Next: next}
	it, _, err := k.s.Take(context.Background(), ky, limiter.At(T0, T0.Add(laneAhead)), []limiter.Debit{d})
	if err != nil {
		t.Fatal(err)
	}
	if l := it[k.low.Bucket].Lanes; l.Gen != 3 || l.Floor != us(sec(2)) || l.Front[0] != us(sec(2.1)) {
		t.Fatalf("lane state %+v, want gen 3, floor T0+2s, high front T0+2.1s", l)
	}
}

// laneUrgent: through a Distributed, a high take behind a low batch booked
// a minute ahead is due within the horizon plus its increment, and the
// batch's last chunk moves back by that increment.
func laneUrgent(t *testing.T, s limiter.Store) {
	ctx := context.Background()
	clk := clock.NewFake(T0)
	d := limiter.NewDistributed(s, nil, func(o *limiter.Options) {
		o.Clock, o.AccountScope, o.BurstFeedback = clk, key(t), -1
	})
	take := func(lane string) limiter.Slot {
		t.Helper()
		sl, err := d.Reserve(ctx, "ecs", []limiter.Take{{Bucket: limiter.ECSFargateTasks, N: 10, Lane: lane}})
		if err != nil {
			t.Fatal(err)
		}
		return sl
	}
	var last limiter.Slot
	for last.Wait < 60*time.Second {
		last = take(limiter.LaneLow)
	}
	clk.Advance(sec(0.1))
	if h := take(limiter.LaneHigh); h.Wait > sec(2.5) {
		t.Fatalf("high take behind a low batch: wait %v, want ≤ 2.5s (horizon 2 s + 0.5 s)", h.Wait)
	}
	r, err := d.Recheck(ctx, "ecs", last)
	if err != nil {
		t.Fatal(err)
	}
	if moved := r.At.Sub(last.At); moved != sec(0.5) {
		t.Fatalf("the batch's last chunk moved %v, want 0.5s", moved)
	}
}

// Contention runs workers goroutines acquiring one token at a time from one
// distributed bucket (burst 100, 40 per s) on a fake clock that a driver
// advances over window, each holding its slot until the clock reaches it.
// It asserts admitted ≤ burst + rate × window + 1 and ≥ 95 % of that.
func Contention(t *testing.T, s limiter.Store, workers int, window time.Duration) {
	t.Helper()
	const burst, rate = 100, 40
	lims, err := limiter.ParseLimits(`{"actions": {"svc:Run": {"burst": 100, "rate": 40}}}`)
	if err != nil {
		t.Fatal(err)
	}
	clk := &tickClock{Fake: clock.NewFake(T0), tick: make(chan struct{})}
	d := limiter.NewDistributed(s, lims, func(o *limiter.Options) {
		o.Clock = clk
		o.AccountScope = fmt.Sprintf("contention%d", keySeq.Add(1))
		o.MaxAhead = 2 * time.Second // callers must come back: real contention
		o.StoreTimeout = 30 * time.Second
		o.BurstFeedback = -1 // the bound counts the whole burst at once
	})
	end := T0.Add(window)
	var admitted, full, inflight atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for !done.Load() {
				asked := clk.Now()
				inflight.Add(1)
				slot, err := d.Reserve(context.Background(), "svc", []limiter.Take{{Bucket: "svc:Run", N: 1}})
				inflight.Add(-1)
				var bf *limiter.BacklogFullError
				switch {
				case errors.As(err, &bf):
					full.Add(1)
					// Come back after RetryAfter, jittered as real callers are.
					back := asked.Add(bf.Wait + time.Duration(rnd.Int64N(int64(4*time.Second))))
					clk.waitUntil(back, &done)
					continue
				case err != nil:
					errs <- err
					return
				}
				if slot.At.After(end) {
					return
				}
				admitted.Add(1)
				clk.waitUntil(slot.At, &done) // honour the slot
			}
		})
	}
	// Advance the fake time in 20 ms steps once no Reserve is in flight, so
	// a slow store slows the fake time down instead of losing slots.
	giveUp := time.Now().Add(2 * time.Minute)
	for clk.Now().Before(end) {
		time.Sleep(500 * time.Microsecond)
		for inflight.Load() > 0 && time.Now().Before(giveUp) {
			time.Sleep(500 * time.Microsecond)
		}
		clk.advance(20 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	done.Store(true)
	clk.advance(time.Millisecond)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	bound := burst + rate*window.Seconds() + 1
	got := float64(admitted.Load())
	t.Logf("%d workers over %v: admitted %v (bound %v, %.1f %%), %d backlog-full answers", workers, window, got, bound, 100*got/bound, full.Load())
	if got > bound {
		t.Fatalf("admitted %v > burst + rate × elapsed + 1 = %v", got, bound)
	}
	if got < 0.95*bound {
		t.Fatalf("admitted %v < 95 %% of %v", got, bound)
	}
}

// tickClock is a fake clock whose waiters wake on every advance, instead of
// polling it.
type tickClock struct {
	*clock.Fake
	mu   sync.Mutex
	tick chan struct{}
}

func (c *tickClock) advance(d time.Duration) {
	c.Advance(d)
	c.mu.Lock()
	close(c.tick)
	c.tick = make(chan struct{})
	c.mu.Unlock()
}

// waitUntil returns once the clock reaches t or done is set. done is set
// before the last advance, so checking it after taking the channel cannot
// miss that wake-up.
func (c *tickClock) waitUntil(t time.Time, done *atomic.Bool) {
	for {
		c.mu.Lock()
		ch := c.tick
		c.mu.Unlock()
		if done.Load() || !c.Now().Before(t) {
			return
		}
		<-ch
	}
}
