package limiter

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type ev struct {
	at    time.Time
	chunk int
	call  bool // false: reserve; true: call at at
	resAt time.Time
	early bool
	proc  int
	seq   int
	slot  Slot
	wake  bool // a deferred call waking: re-check its slot first
}
type evq []ev

func (q evq) Len() int { return len(q) }
func (q evq) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q evq) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *evq) Push(x any)   { *q = append(*q, x.(ev)) }
func (q *evq) Pop() any     { o := *q; x := o[len(o)-1]; *q = o[:len(o)-1]; return x }

type regime struct {
	chunks    int
	share     float64 // co-tenant share of the Fargate bucket
	ramp, lat time.Duration
	// early: a slot at most this far ahead is used at once (pkg/launch's
	// defer threshold) instead of at its time.
	early time.Duration
	// compensate: the limiter is told (Options.EarlyCalls).
	compensate bool
	// revalidate: a deferred call whose bucket was decreased after its
	// reservation reserves again instead of calling.
	revalidate bool
	// recheck: the product's regime: a slot at most early away is slept
	// for and called at its time; a further one wakes at it, re-checks
	// (Recheck) and calls, or sleeps again if a decrease moved it; a
	// throttle signals the slot's binding position.
	recheck bool
	// maxAhead: Options.MaxAhead (0: the default).
	maxAhead time.Duration
	// procs: the fleet's processes (Distributed instances on one store).
	procs      int
	limitsJSON string
	seed       uint64
}

func runRegime(t *testing.T, r regime) (thrPct, makespan float64) {
	lims, err := ParseLimits(r.limitsJSON)
	if err != nil {
		t.Fatal(err)
	}
	store, clk := NewMemoryStore(), clock.NewFake(t0)
	procs := make([]*Distributed, max(1, r.procs))
	for i := range procs {
		procs[i] = NewDistributed(store, lims, func(o *Options) {
			o.Clock = clk
			o.MaxAhead = r.maxAhead
			o.BurstFeedback = -1 // the regimes below were tuned on the whole burst
			if r.compensate {
				o.EarlyCalls = r.early
			}
		})
	}
	left := 1 - r.share
	aws := NewLocal(Limit(20*left), int(100*left), func(o *LocalOptions) { o.Clock = clk })
	rng := rand.New(rand.NewPCG(r.seed, 1))
	q := &evq{}
	seq := 0
	push := func(e ev) { seq++; e.seq = seq; heap.Push(q, e) }
	for i := range r.chunks {
		push(ev{at: t0.Add(time.Duration(float64(r.ramp) * rng.Float64())), chunk: i})
	}
	ctx := context.Background()
	calls, thr := 0, 0
	retries := map[int]int{}
	var end time.Time
	for q.Len() > 0 {
		e := heap.Pop(q).(ev)
		clk.Set(e.at)
		if !e.call {
			// Each invocation runs in one of the fleet's processes.
			e.proc = rng.IntN(len(procs))
			s, err := procs[e.proc].Reserve(ctx, "ecs", fargate10)
			if full, ok := errors.AsType[*BacklogFullError](err); ok {
				push(ev{at: e.at.Add(full.Wait + time.Millisecond), chunk: e.chunk})
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			lat := time.Duration(float64(r.lat) * (0.5 + rng.Float64()))
			at := s.At
			if s.Wait <= r.early && !r.recheck {
				at = e.at
			}
			push(ev{at: at.Add(lat), chunk: e.chunk, call: true, proc: e.proc, resAt: e.at, early: s.Wait <= r.early, slot: s, wake: r.recheck && s.Wait > r.early})
			continue
		}
		if e.wake {
			s, err := procs[e.proc].Recheck(ctx, "ecs", e.slot)
			if err != nil {
				t.Fatal(err)
			}
			if s.At.After(e.at) {
				e.slot, e.at, e.wake = s, s.At, s.Wait > r.early
				push(e)
				continue
			}
		}
		if r.revalidate && !e.early {
			if it, _ := store.Load(ctx, procs[0].Key("ecs")); it[ECSFargateTasks].RateAt.After(e.resAt) {
				push(ev{at: e.at, chunk: e.chunk})
				continue
			}
		}
		calls++
		if aws.AllowN(e.at, 10) {
			end = e.at
			continue
		}
		thr++
		sig := Signal{Reason: "ThrottlingException", At: e.at}
		if r.recheck {
			sig.Position, _ = e.slot.Position(ECSFargateTasks)
		}
		_ = procs[e.proc].Signal(ctx, "ecs", ECSFargateTasks, sig)
		retries[e.chunk]++
		wait, _ := procs[e.proc].Peek(ctx, "ecs", fargate10)
		backoff := min(20*time.Second, time.Duration(float64(time.Second)*float64(int(1)<<min(retries[e.chunk]-1, 5))))
		wait = max(wait, time.Second, time.Duration(rng.Float64()*float64(backoff)))
		push(ev{at: e.at.Add(wait), chunk: e.chunk})
	}
	return 100 * float64(thr) / float64(calls), end.Sub(t0).Seconds()
}

// TestLaunchRegime replays the product's regime on the default limits: 60
// Fargate RunTask calls of 10 tasks arriving over 10 s in 30 processes
// (Lambda sandboxes, one Distributed each, one store), each reserving a
// slot (held however far ahead) and calling at it after 50–150 % of a
// latency: slept for when at most 2 s away (runtask's defer threshold),
// else woken at it and re-checked first (regime.recheck), against an AWS
// bucket of 100 / 20 per s, or 70 / 14 with a co-tenant taking 30 %. A
// throttled call signals and reserves again after max(1 s, Peek, jittered
// backoff). Means over 20 seeds. At 60 calls the start dominates: a
// co-tenant that took 30 % of the burst throttles the first calls past it
// and the blind steps (×0.85) take two or three epochs to get under its
// share, each leaving the calls asleep in process at the old timing:
// 8.5–9.8 % throttled, ×1.07–1.09 (the previous design: 3.8–4.6 %,
// ×1.02–1.04, and it never measured or re-timed; README "Tuning").
func TestLaunchRegime(t *testing.T) {
	t.Parallel()
	for _, share := range []float64{0, 0.3} {
		for _, lat := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond} {
			var thr, ms float64
			const seeds = 20
			for s := range seeds {
				a, b := runRegime(t, regime{chunks: 60, share: share, ramp: 10 * time.Second, lat: lat,
					early: 2 * time.Second, recheck: true, procs: 30, seed: uint64(s)})
				thr += a / seeds
				ms += b / seeds
			}
			ideal := (600 - 100*(1-share)) / (20 * (1 - share))
			t.Logf("co-tenant %.0f %%, latency %v: %.1f %% throttled, makespan %.1f s (ideal %.1f, ×%.2f)", 100*share, lat, thr, ms, ideal, ms/ideal)
			if maxThr := map[float64]float64{0: 0.5, 0.3: 12}[share]; thr > maxThr {
				t.Errorf("co-tenant %.0f %%, latency %v: %.1f %% throttled, want ≤ %g %%", 100*share, lat, thr, maxThr)
			}
			if ms > 1.15*ideal {
				t.Errorf("co-tenant %.0f %%, latency %v: makespan %.1f s, want ≤ 1.15 × ideal %.1f s", 100*share, lat, ms, ideal)
			}
		}
	}
}

// TestRegimeSweep prints the regime's numbers for limit documents
// separated by ";" in TH_REGIME (e.g. {} for the defaults), with calls at
// their slots, 2 s early, and 2 s early with EarlyCalls set (shown as -2s).
// TH_PROCS (processes, default 1), TH_RAMP (arrivals spread, default 0:
// all at once), TH_MAX_AHEAD (Options.MaxAhead) and TH_REVALIDATE (a
// deferred call whose bucket was decreased after its reservation reserves
// again) vary the regime. README "Tuning" has the numbers.
func TestRegimeSweep(t *testing.T) {
	if os.Getenv("TH_REGIME") == "" {
		t.Skip("experiment")
	}
	procs, _ := strconv.Atoi(os.Getenv("TH_PROCS"))
	ramp, _ := time.ParseDuration(os.Getenv("TH_RAMP"))
	maxAhead, _ := time.ParseDuration(os.Getenv("TH_MAX_AHEAD"))
	for _, js := range strings.Split(os.Getenv("TH_REGIME"), ";") {
		for _, early := range []time.Duration{0, 2 * time.Second, -2 * time.Second} {
			for _, share := range []float64{0, 0.3} {
				for _, lat := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond} {
					var thr, ms float64
					const seeds = 20
					for s := range seeds {
						a, b := runRegime(t, regime{chunks: 60, share: share, ramp: ramp, lat: lat, early: max(early, -early), compensate: early < 0, seed: uint64(s), limitsJSON: js, procs: procs, maxAhead: maxAhead, revalidate: os.Getenv("TH_REVALIDATE") != ""})
						thr += a / seeds
						ms += b / seeds
					}
					ideal := (600 - 100*(1-share)) / (20 * (1 - share))
					fmt.Printf("%-60s early %v share %.1f lat %v: %5.1f %% thr, ×%.2f\n", js, early, share, lat, thr, ms/ideal)
				}
			}
		}
	}
}
