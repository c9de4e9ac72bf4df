package handler

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// samePlaces says a and b hold the same places: bucket, frontier end and
// size (their times and epochs may differ).
func samePlaces(a, b []limiter.Position) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Bucket != b[i].Bucket || a[i].End != b[i].End || a[i].N != b[i].N {
			return false
		}
	}
	return true
}

// recordCalls makes e's ECS note when each call is made.
func recordCalls(e *runTaskEnv, clk clock.Clock) *[]time.Time {
	var at []time.Time
	e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		at = append(at, clk.Now())
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	return &at
}

// GIVEN a chunk deferred with a slot 4.2 s away (waitSeconds 4, rounded down)
// WHEN the Wait ends and runtask is called with the slot
// THEN the rest is slept, the slot is re-checked just before the call,
// nothing is reserved anew, and: unchanged, the call lands on the slot;
// moved within the threshold, the move is slept, the slot re-checked once
// more, and the call lands on the moved slot; moved beyond it, the slot is
// deferred again with the same positions; unreadable (store busy), it
// keeps its place and time.
func TestRunTaskWakesWithHeldSlot(t *testing.T) {
	t.Parallel()
	slotAt := t0.Add(4200 * time.Millisecond)
	busy := &limiter.StoreBusyError{Key: "limiter#ecs#test", Wait: 5 * time.Second, Err: errors.New("connection refused")}
	for name, tc := range map[string]struct {
		threshold time.Duration
		legacy    bool          // the input carries only slotAt
		later     time.Duration // Recheck moves the slot this much
		err       error         // Recheck fails
		calledAt  time.Time     // zero: deferred again
		wantWait  int
		busy      float64 // MetricLimiterBusy
		rechecks  int     // 0: one
	}{
		"unchanged: the rest is slept":          {threshold: 2 * time.Second, calledAt: slotAt},
		"unchanged, threshold 0: still slept":   {calledAt: slotAt},
		"legacy slotAt: called at it":           {threshold: 2 * time.Second, legacy: true, calledAt: slotAt},
		"re-timed within the threshold: slept":  {threshold: 2 * time.Second, later: 1500 * time.Millisecond, calledAt: slotAt.Add(1500 * time.Millisecond), rechecks: 2},
		"re-timed beyond it: deferred again":    {threshold: 2 * time.Second, later: 10 * time.Second, wantWait: 10},
		"store busy: the slot keeps its place":  {threshold: 2 * time.Second, err: busy, calledAt: slotAt, busy: 1},
		"threshold 0, re-timed beyond a second": {later: 3 * time.Second, wantWait: 3},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRunTaskEnv(t)
			e.h.o.DeferThreshold = tc.threshold
			plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
			calls := recordCalls(e, e.clk)
			e.lim.waits = []time.Duration{4200 * time.Millisecond}
			first, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
			if err != nil || first.Status != StatusDeferred || first.WaitSeconds != 4 || first.Slot == nil {
				t.Fatalf("first: got %+v, %v; want deferred 4 s with the slot", first, err)
			}
			e.lim.later, e.lim.recheckErr = []time.Duration{tc.later}, tc.err
			e.clk.Advance(time.Duration(first.WaitSeconds) * time.Second)
			in := RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Slot: first.Slot}
			if tc.legacy {
				in.Slot, in.SlotAt = nil, first.SlotAt
			}
			out, err := e.run(t, in)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(tc.rechecks, 1); len(e.lim.rechecks) != want || len(e.lim.reserves) != 1 {
				t.Errorf("rechecks %d, reserves %d; want %d and 1 (the held slot, nothing reserved anew)", len(e.lim.rechecks), len(e.lim.reserves), want)
			}
			if got := e.metrics.get(MetricLimiterBusy); got != tc.busy {
				t.Errorf("%s: got %v, want %v", MetricLimiterBusy, got, tc.busy)
			}
			if !tc.calledAt.IsZero() {
				if out.Status != StatusLaunched || len(*calls) != 1 || !(*calls)[0].Equal(tc.calledAt) {
					t.Fatalf("got %s with calls at %v, want launched by one call at %v", out.Status, *calls, tc.calledAt)
				}
				return
			}
			if out.Status != StatusDeferred || out.WaitSeconds != tc.wantWait || len(*calls) != 0 {
				t.Fatalf("got %+v with %d calls, want deferred again for %d s, no call", out, len(*calls), tc.wantWait)
			}
			if !out.Slot.At.Equal(slotAt.Add(tc.later)) || !out.SlotAt.Equal(out.Slot.At) || !samePlaces(out.Slot.Positions, first.Slot.Positions) {
				t.Errorf("deferred again with %+v, want %+v moved %v later in the same places", out.Slot, first.Slot, tc.later)
			}
		})
	}
}

// realLimiterEnv is a runtask over a real limiter on a memory store whose
// failures a test switches on.
type realLimiterEnv struct {
	*runTaskEnv
	store *flakyStore
	d     *limiter.Distributed
}

func newRealLimiterEnv(t *testing.T, limitsJSON string, threshold time.Duration) *realLimiterEnv {
	t.Helper()
	e := newRunTaskEnv(t)
	lims, err := limiter.ParseLimits(limitsJSON)
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: limiter.NewMemoryStore()}
	d := limiter.NewDistributed(store, lims, func(o *limiter.Options) { o.Clock = e.clk; o.BurstFeedback = -1 })
	e.h = NewRunTask(e.st, d, e.ecs, e.ec2, func(o *RunTaskOptions) {
		o.Clock, o.DeferThreshold, o.AccountScope, o.Metrics = e.clk, threshold, "test", e.metrics
	})
	return &realLimiterEnv{runTaskEnv: e, store: store, d: d}
}

func (e *realLimiterEnv) bucket(t *testing.T, bucket string) limiter.BucketState {
	t.Helper()
	item, err := e.store.Store.Load(context.Background(), e.d.Key(ServiceECS))
	if err != nil {
		t.Fatal(err)
	}
	return item[bucket]
}

// wantFargateTasksOnly checks the Fargate task bucket's epoch and
// throttled count, and that the request buckets were not signalled.
func (e *realLimiterEnv) wantFargateTasksOnly(t *testing.T, epoch int64, throttled float64) {
	t.Helper()
	for bucket, want := range map[string]struct {
		epoch     int64
		throttled float64
	}{limiter.ECSFargateTasks: {epoch, throttled}, limiter.ECSRunTask: {0, 0}, limiter.ECSFargateRunTask: {0, 0}} {
		if st := e.bucket(t, bucket); st.Epoch != want.epoch || st.Throttled != want.throttled {
			t.Errorf("%s: epoch %d, throttled %g; want %d, %g", bucket, st.Epoch, st.Throttled, want.epoch, want.throttled)
		}
	}
}

// flakyStore fails every call while down.
type flakyStore struct {
	limiter.Store
	down atomic.Bool
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:8000: connect: connection refused")

func (s *flakyStore) Take(ctx context.Context, key string, arrive limiter.Arrival, debits []limiter.Debit) (limiter.Item, time.Time, error) {
	if s.down.Load() {
		return nil, time.Time{}, errStoreDown
	}
	return s.Store.Take(ctx, key, arrive, debits)
}

func (s *flakyStore) Give(ctx context.Context, key string, now time.Time, debits []limiter.Debit) (limiter.Item, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.Store.Give(ctx, key, now, debits)
}

func (s *flakyStore) Swap(ctx context.Context, key, bucket string, prev, next limiter.BucketState) (bool, limiter.Item, error) {
	if s.down.Load() {
		return false, nil, errStoreDown
	}
	return s.Store.Swap(ctx, key, bucket, prev, next)
}

func (s *flakyStore) Load(ctx context.Context, key string) (limiter.Item, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.Store.Load(ctx, key)
}

// slowTasks is a Fargate tasks bucket of 20 tasks refilling 2 per second:
// two chunks of 10 fit its burst allowance (0.9 × 20), the third waits.
const slowTasks = `{"actions": {"ecs:FargateTasks": {"burst": 20, "rate": 2, "decrease": 0.7, "burstFraction": 0.9}}}`

// GIVEN three chunks on a small tasks bucket, the third deferred
// WHEN a throttle decreases the bucket while the third waits
// THEN on waking its slot is re-timed (later, same positions, the new
// epoch, nothing reserved) and deferred again; on waking again it is
// unchanged, the rest is slept and the call lands on the re-timed slot
func TestRunTaskRetimesAfterDecrease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRealLimiterEnv(t, slowTasks, time.Second)
	plan(t, e.st, launchtest.ECSRequest("r1", 30), t0)
	calls := recordCalls(e.runTaskEnv, e.clk)
	for chunk := range 2 {
		if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: chunk, Attempt: 1}); err != nil || out.Status != StatusLaunched {
			t.Fatalf("chunk %d: got %+v, %v; want launched", chunk, out, err)
		}
	}
	first, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 2, Attempt: 1})
	if err != nil || first.Status != StatusDeferred || first.Slot == nil || first.Slot.Binding != limiter.ECSFargateTasks {
		t.Fatalf("chunk 2: got %+v, %v; want deferred, bound by %s", first, err, limiter.ECSFargateTasks)
	}
	if err := e.d.Signal(ctx, ServiceECS, limiter.ECSFargateTasks, limiter.Signal{Reason: "ThrottlingException", At: e.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	frontier := e.bucket(t, limiter.ECSFargateTasks).Pos

	e.clk.Advance(time.Duration(first.WaitSeconds) * time.Second)
	b, _ := json.Marshal(first) // through the state machine
	var in RunTaskInput
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	again, err := e.run(t, in)
	if err != nil || again.Status != StatusDeferred || again.Slot == nil {
		t.Fatalf("waking: got %+v, %v; want deferred again", again, err)
	}
	p, _ := again.Slot.Position(limiter.ECSFargateTasks)
	if !again.Slot.At.After(first.Slot.At) || !samePlaces(again.Slot.Positions, first.Slot.Positions) || p.Epoch != 1 {
		t.Fatalf("re-timed slot %+v, want later than %v, the same places, epoch 1", again.Slot, first.Slot.At)
	}
	if got := e.bucket(t, limiter.ECSFargateTasks).Pos; got != frontier {
		t.Errorf("frontier moved from %g to %g: a place was reserved anew", frontier, got)
	}

	e.clk.Advance(time.Duration(again.WaitSeconds) * time.Second)
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 2, Attempt: 1, Slot: again.Slot})
	if err != nil || out.Status != StatusLaunched || len(*calls) != 3 {
		t.Fatalf("waking again: got %+v, %v, %d calls; want launched by the third call", out, err, len(*calls))
	}
	if got := (*calls)[2]; !got.Equal(again.Slot.At) {
		t.Errorf("called at %v, want on the re-timed slot %v", got, again.Slot.At)
	}
}

// sleepHook is a fake clock that runs onSleep (once) when a sleep starts:
// what the fleet does while a call sleeps in process for its slot.
type sleepHook struct {
	*clock.Fake
	onSleep func()
}

func (c *sleepHook) Sleep(ctx context.Context, d time.Duration) error {
	if f := c.onSleep; f != nil {
		c.onSleep = nil
		f()
	}
	return c.Fake.Sleep(ctx, d)
}

// GIVEN a call sleeping in process for a slot 5 s away (defer threshold 10 s)
// WHEN a throttle decreases its bucket while it sleeps
// THEN it re-checks the slot before calling (one read), sleeps the move,
// and the call lands on the re-timed slot, not the one it went to sleep
// for: a decrease reaches every call not yet sent
func TestRunTaskRechecksBeforeTheCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRealLimiterEnv(t, slowTasks, 10*time.Second)
	hc := &sleepHook{Fake: e.clk}
	e.h = NewRunTask(e.st, e.d, e.ecs, e.ec2, func(o *RunTaskOptions) {
		o.Clock, o.DeferThreshold, o.AccountScope, o.Metrics = hc, 10*time.Second, "test", e.metrics
	})
	plan(t, e.st, launchtest.ECSRequest("r1", 30), t0)
	calls := recordCalls(e.runTaskEnv, e.clk)
	for chunk := range 2 {
		if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: chunk, Attempt: 1}); err != nil || out.Status != StatusLaunched {
			t.Fatalf("chunk %d: got %+v, %v; want launched", chunk, out, err)
		}
	}
	slept := false
	hc.onSleep = func() {
		if err := e.d.Signal(ctx, ServiceECS, limiter.ECSFargateTasks, limiter.Signal{Reason: "ThrottlingException", At: e.clk.Now()}); err != nil {
			t.Error(err)
		}
		slept = true
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 2, Attempt: 1})
	if err != nil || out.Status != StatusLaunched || len(*calls) != 3 {
		t.Fatalf("chunk 2: got %+v, %v, %d calls; want launched by the third call", out, err, len(*calls))
	}
	if !slept {
		t.Fatal("chunk 2 did not sleep in process for its slot")
	}
	// Undecreased, the slot lay 5 s after chunk 1's call (10 tokens at 2
	// per s); the decrease (×0.7) re-times what lies beyond the horizon.
	undecreased := (*calls)[1].Add(5 * time.Second)
	if got := (*calls)[2]; !got.After(undecreased) {
		t.Errorf("called at %v, want after %v: the decrease while it slept must move it", got, undecreased)
	}
	if p := e.bucket(t, limiter.ECSFargateTasks); p.Epoch != 1 {
		t.Errorf("epoch %d, want 1", p.Epoch)
	}
}

// GIVEN a launch call throttled by ECS ("Rate exceeded" names no bucket)
// WHEN runtask reports it
// THEN only the slot's binding bucket is decreased, and the call's
// position is counted there
func TestRunTaskThrottleSlowsTheBindingBucket(t *testing.T) {
	t.Parallel()
	e := newRealLimiterEnv(t, "", 2*time.Second)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.throttle = map[int]bool{1: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); errorTypeName(err) != "ThrottledError" {
		t.Fatalf("got %v, want ThrottledError", err)
	}
	e.wantFargateTasksOnly(t, 1, 10)
}

// GIVEN the limiter's store failing
// WHEN a chunk asks for its slot, again and again
// THEN each answer defers the chunk for the limiter's 5 s retry-after,
// counted as LimiterBusy, without growth, without spending an attempt and
// without leaving the uncalled attempt "sent"; once the store answers, the
// next try launches
func TestRunTaskLimiterStoreBusy(t *testing.T) {
	t.Parallel()
	e := newRealLimiterEnv(t, "", 2*time.Second)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.store.down.Store(true)
	const rounds = 12
	in := RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}
	for i := range rounds {
		out, err := e.run(t, in)
		if err != nil || out.Status != StatusDeferred || out.WaitSeconds != 5 {
			t.Fatalf("round %d: got %+v, %v; want deferred 5 s", i, out, err)
		}
		if st, _ := e.st.Chunk(context.Background(), "r1", 0); st.Attempts[1].State == launch.AttemptSent {
			t.Fatalf("round %d: attempt %+v left sent without a call", i, st.Attempts[1])
		}
		in.Slot = out.Slot
		e.clk.Advance(time.Duration(out.WaitSeconds) * time.Second)
	}
	if got := e.metrics.get(MetricLimiterBusy); got != rounds {
		t.Errorf("%s: got %v, want %d", MetricLimiterBusy, got, rounds)
	}
	if st, _ := e.st.Chunk(context.Background(), "r1", 0); st.Retries != 0 || len(e.ecs.Calls()) != 0 {
		t.Errorf("retries %d, calls %d; want 0 and 0 (nothing admitted, no attempt spent)", st.Retries, len(e.ecs.Calls()))
	}
	e.store.down.Store(false)
	if out, err := e.run(t, in); err != nil || out.Status != StatusLaunched {
		t.Fatalf("after recovery: got %+v, %v; want launched", out, err)
	}
}

// A throttle the limiter cannot record is logged, not fatal: the call's
// own error still goes back.
func TestRunTaskThrottleWithStoreDown(t *testing.T) {
	t.Parallel()
	e := newRealLimiterEnv(t, "", 2*time.Second)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.respond = func(int, *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		e.store.down.Store(true)
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); errorTypeName(err) != "ThrottledError" {
		t.Fatalf("got %v, want ThrottledError", err)
	}
}

// GIVEN a chunk deferred to a slot 4.2 s away, 20 s before the deadline
// WHEN a decrease moves the slot 30 s later, past the deadline
// THEN a new attempt (marked not sent while it waited) gives the slot
// back and ends DeadlinePassed without a call; the replay of an attempt
// whose outcome is unknown keeps its slot, to be called when it comes
func TestRunTaskRetimedPastTheDeadline(t *testing.T) {
	t.Parallel()
	for name, replay := range map[string]bool{"new attempt": false, "replay": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRunTaskEnv(t)
			r := launchtest.ECSRequest("r1", 10)
			r.DeadlineSeconds = 20
			plan(t, e.st, r, t0)
			if replay {
				e.ecs.loseResponse = map[int]bool{1: true}
				if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); errorTypeName(err) != "TransientError" {
					t.Fatalf("lost response: got %v", err)
				}
			}
			e.lim.waits = []time.Duration{4200 * time.Millisecond}
			first, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
			if err != nil || first.Status != StatusDeferred {
				t.Fatalf("got %+v, %v; want deferred", first, err)
			}
			calls := len(e.ecs.Calls())
			e.lim.later = []time.Duration{30 * time.Second}
			e.clk.Advance(4 * time.Second)
			out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Slot: first.Slot})
			if err != nil || len(e.ecs.Calls()) != calls {
				t.Fatalf("got %+v, %v, %d new calls; want no call", out, err, len(e.ecs.Calls())-calls)
			}
			if replay {
				if out.Status != StatusDeferred || len(e.lim.releases) != 0 {
					t.Errorf("got %s, %d releases; want deferred again, the slot kept", out.Status, len(e.lim.releases))
				}
				return
			}
			if out.Status != StatusPartial || len(out.Failures) != 1 || out.Failures[0].Reason != CodeDeadlinePassed || len(e.lim.releases) != 1 {
				t.Errorf("got %+v, %d releases; want partial DeadlinePassed, the slot given back", out, len(e.lim.releases))
			}
			if st, _ := e.st.Chunk(context.Background(), "r1", 0); st.Attempts[1].State != launch.AttemptFailed {
				t.Errorf("attempt 1: %+v, want failed (nothing sent)", st.Attempts[1])
			}
		})
	}
}

// GIVEN a chunk deferred with a slot 4.2 s away
// WHEN runtask wakes with it 15 s late (its invocation retried through a
// DynamoDB outage)
// THEN the stale slot is not called on (the real bucket lost the refill it
// stood for, and every such chunk would call at once): a new slot is
// taken, and the call made at it.
func TestRunTaskReplacesAStaleHeldSlot(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	e.h.o.DeferThreshold = 2 * time.Second
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	calls := recordCalls(e, e.clk)
	e.lim.waits = []time.Duration{4200 * time.Millisecond, 1500 * time.Millisecond}
	first, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || first.Status != StatusDeferred {
		t.Fatalf("first: %+v, %v", first, err)
	}
	e.clk.Advance(first.Slot.Wait + 15*time.Second)
	woke := e.clk.Now()
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Slot: first.Slot})
	if err != nil || out.Status != StatusLaunched {
		t.Fatalf("got %+v, %v; want launched", out, err)
	}
	if len(e.lim.reserves) != 2 || len(*calls) != 1 || !(*calls)[0].Equal(woke.Add(1500*time.Millisecond)) {
		t.Fatalf("reserves %d, calls at %v; want a second reservation and one call at it (%v)", len(e.lim.reserves), *calls, woke.Add(1500*time.Millisecond))
	}
	if e.metrics.get(MetricStaleSlots) != 1 {
		t.Errorf("%s = %v, want 1", MetricStaleSlots, e.metrics.get(MetricStaleSlots))
	}
}
