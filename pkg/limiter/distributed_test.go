package limiter

import (
	"context"

	"errors"

	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

func newTestDistributed(t *testing.T, s Store, lims *Limits, optFns ...func(*Options)) (*Distributed, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	// The whole burst at once (BurstFeedback < 0): the tests of other
	// behaviour count on GCRA's plain arithmetic; halves_test.go tests halves.
	base := func(o *Options) { o.Clock = clk; o.AccountScope = "111122223333/us-east-1"; o.BurstFeedback = -1 }
	return NewDistributed(s, lims, append([]func(*Options){base}, optFns...)...), clk
}

var fargate10 = []Take{{Bucket: ECSRunTask, N: 1}, {Bucket: ECSFargateRunTask, N: 1}, {Bucket: ECSFargateTasks, N: 10}}

func TestReserveSlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		takes []Take
		// waits of successive reservations at the same instant
		waits []time.Duration
	}{
		// 100 burst at 40/s, 90 of it at once (burstFraction 0.9): the 91st
		// call waits 25 ms.
		{"RunTask burst then 25 ms apart", []Take{{Bucket: ECSRunTask, N: 1}}, append(make([]time.Duration, 90), ms(25), ms(50))},
		// Fargate tasks bucket (100 / 20 per s, 90 at once) binds: 9 calls
		// of 10 tasks, then one every 500 ms.
		{"Fargate 10 tasks per call", fargate10, append(make([]time.Duration, 9), ms(500), ms(1000))},
		// RunInstances requests bucket (5 / 2 per s, 4 at once) binds
		// before instances.
		{"EC2 one instance per call", []Take{{Bucket: EC2RunInstances, N: 1}, {Bucket: EC2Instances, N: 1}}, []time.Duration{0, 0, 0, 0, ms(500), ms(1000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, _ := newTestDistributed(t, NewMemoryStore(), nil)
			svc, _, _ := strings.Cut(tt.takes[0].Bucket, ":")
			for i, want := range tt.waits {
				s, err := d.Reserve(ctx, svc, tt.takes)
				if err != nil {
					t.Fatalf("reservation %d: %v", i, err)
				}
				if s.Wait != want || !s.At.Equal(t0.Add(want)) {
					t.Fatalf("reservation %d: got wait %v at %v, want wait %v", i, s.Wait, s.At.Sub(t0), want)
				}
			}
		})
	}
}

// TestEarlyCallsShortenTheTolerance: with EarlyCalls 2 s, every slot lies
// 2 s later, so a call made when its slot is 2 s away still conforms.
func TestEarlyCallsShortenTheTolerance(t *testing.T) {
	t.Parallel()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.EarlyCalls = 2 * time.Second })
	// Fargate tasks: 90 of 100 at once (4.5 s at 20/s) less 2 s is 2.5 s:
	// 5 calls of 10 tasks now, then 500 ms apart.
	want := append(make([]time.Duration, 5), ms(500), ms(1000), ms(1500), ms(2000), ms(2500))
	for i, w := range want {
		s, err := d.Reserve(context.Background(), "ecs", []Take{{Bucket: ECSFargateTasks, N: 10}})
		if err != nil || s.Wait != w {
			t.Fatalf("reservation %d: wait %v, %v; want %v", i, s.Wait, err, w)
		}
	}
	// A bucket whose tolerance is shorter (Fargate RunTask calls: 18 of 20
	// at 20/s is 0.9 s) puts its slots after the TAT: 1.1 s + 50 ms. Drawn
	// with the tasks bucket, it binds the first Fargate calls (each made at
	// once: 1.15 s ≤ 2 s).
	d, _ = newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.EarlyCalls = 2 * time.Second })
	if s, err := d.Reserve(context.Background(), "ecs", []Take{{Bucket: ECSFargateRunTask, N: 1}}); err != nil || s.Wait != ms(1150) {
		t.Fatalf("short tolerance: wait %v, %v; want 1.15s", s.Wait, err)
	}
}

func TestPeekMatchesReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, clk := newTestDistributed(t, NewMemoryStore(), nil)
	for i := range 30 {
		if i%7 == 0 {
			clk.Advance(ms(300))
		}
		if i == 20 { // a lowered rate changes both alike
			if err := d.Signal(ctx, "ecs", ECSFargateTasks, Signal{}); err != nil {
				t.Fatal(err)
			}
		}
		peek, err := d.Peek(ctx, "ecs", fargate10)
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Reserve(ctx, "ecs", fargate10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := peek - s.Wait; diff < -time.Microsecond || diff > time.Microsecond {
			t.Fatalf("reservation %d: Peek said %v, Reserve gave %v", i, peek, s.Wait)
		}
	}
}

func TestReserveRejectsBadTakes(t *testing.T) {
	t.Parallel()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil)
	tests := []struct {
		name    string
		service string
		takes   []Take
		want    string
	}{
		{"none", "ecs", nil, "no takes"},
		{"other service", "ecs", []Take{{Bucket: EC2RunInstances, N: 1}}, `takes[0].bucket "ec2:RunInstances" is not a bucket of service "ecs"`},
		{"unknown bucket", "ecs", []Take{{Bucket: "ecs:Nope", N: 1}}, `"ecs:Nope"`},
		{"above burst", "ecs", []Take{{Bucket: ECSFargateTasks, N: 101}}, "takes[0].n = 101 for ecs:FargateTasks: must be in (0, burst 100]"},
		{"zero", "ecs", []Take{{Bucket: ECSRunTask, N: 1}, {Bucket: ECSFargateTasks, N: 0}}, "takes[1].n = 0"},
		{"twice", "ecs", []Take{{Bucket: ECSRunTask, N: 1}, {Bucket: ECSRunTask, N: 1}}, `takes[1].bucket "ecs:RunTask" appears twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := d.Reserve(context.Background(), tt.service, tt.takes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestReserveBacklogFull(t *testing.T) {
	t.Parallel()
	rec := &Counters{}
	d, clk := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.MaxAhead = time.Second; o.Recorder = rec })
	ctx := context.Background()
	takes := []Take{{Bucket: EC2RunInstances, N: 1}}
	// 4 of the burst (burstFraction 0.9 of 5, in whole tokens) + 2 within
	// the second ahead at 2/s.
	for i := range 6 {
		if _, err := d.Reserve(ctx, "ec2", takes); err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
	}
	_, err := d.Reserve(ctx, "ec2", takes)
	full, ok := errors.AsType[*BacklogFullError](err)
	if !ok || full.Wait != ms(500) || full.Bucket != EC2RunInstances {
		t.Fatalf("got %v, want a BacklogFullError on ec2:RunInstances, retry after 500ms", err)
	}
	clk.Advance(full.Wait)
	if s, err := d.Reserve(ctx, "ec2", takes); err != nil || s.Wait != time.Second {
		t.Fatalf("after RetryAfter: %+v, %v; want a slot 1 s away", s, err)
	}
	if got := rec.Get(MetricBacklogFull, "ec2"); got != 1 {
		t.Fatalf("%s: got %v, want 1", MetricBacklogFull, got)
	}
}

func TestSignalFloor(t *testing.T) {
	t.Parallel()
	lims, err := ParseLimits(`{"defaults": {"floorFraction": 0.25, "signalWindowSeconds": 0}}`)
	if err != nil {
		t.Fatal(err)
	}
	d, clk := newTestDistributed(t, NewMemoryStore(), lims, func(o *Options) { o.InFlight = -1 })
	for range 40 {
		clk.Advance(time.Millisecond)
		if err := d.Signal(context.Background(), "ec2", EC2RunInstances, Signal{}); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := d.Rate("ec2", EC2RunInstances); r < 0.5 || r > 0.5+1e-3 {
		t.Fatalf("rate after 40 decreases: got %v, want the floor 0.5 (25 %% of 2/s)", r)
	}
}

// TestAdaptiveConverges runs one caller against a simulated AWS bucket whose
// true rate (25/s) is lower than the configured 40/s, signalling each
// throttle: the limiter's admitted rate converges to within 10 % of the true
// rate and, after convergence, fewer than 2 % of calls are throttled.
func TestAdaptiveConverges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, trueRate := range []Limit{25, 10, 5, 39} {
		d, clk := newTestDistributed(t, NewMemoryStore(), nil)
		aws := NewLocal(trueRate, 100, func(o *LocalOptions) { o.Clock = clk })
		const total, settle = 1200 * time.Second, 300 * time.Second
		var admitted, throttled int
		for clk.Now().Before(t0.Add(total)) {
			s, err := d.Reserve(ctx, "ecs", []Take{{Bucket: ECSRunTask, N: 1}})
			if err != nil {
				t.Fatal(err)
			}
			clk.Set(s.At)
			ok := aws.AllowN(clk.Now(), 1)
			if !ok {
				p, _ := s.Position(ECSRunTask)
				if err := d.Signal(ctx, "ecs", ECSRunTask, Signal{Reason: "ThrottlingException", At: clk.Now(), Position: p}); err != nil {
					t.Fatal(err)
				}
			}
			if clk.Now().After(t0.Add(settle)) {
				admitted++
				if !ok {
					throttled++
				}
			}
		}
		got := float64(admitted) / (total - settle).Seconds()
		frac := float64(throttled) / float64(admitted)
		t.Logf("true rate %v/s: admitted %.2f/s after convergence, %.2f %% throttled", trueRate, got, 100*frac)
		if got < 0.9*float64(trueRate) || got > 1.1*float64(trueRate) {
			t.Errorf("true rate %v/s: admitted %.2f/s, want within 10 %%", trueRate, got)
		}
		if frac >= 0.02 {
			t.Errorf("true rate %v/s: %.2f %% throttled after convergence, want < 2 %%", trueRate, 100*frac)
		}
	}
}

// flaky wraps a Store and fails (or hangs until the context ends) while
// down is set.
type flaky struct {
	Store
	down, hang atomic.Bool
	calls      atomic.Int64
	fail       error // what a down store answers; default connection refused
}

func (f *flaky) err(ctx context.Context) error {
	f.calls.Add(1)
	if !f.down.Load() {
		return nil
	}
	if f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.fail != nil {
		return f.fail
	}
	return errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
}

func (f *flaky) Take(ctx context.Context, key string, arrive Arrival, ds []Debit) (Item, time.Time, error) {
	if err := f.err(ctx); err != nil {
		return nil, time.Time{}, err
	}
	return f.Store.Take(ctx, key, arrive, ds)
}

func (f *flaky) Swap(ctx context.Context, key, bucket string, prev, next BucketState) (bool, Item, error) {
	if err := f.err(ctx); err != nil {
		return false, nil, err
	}
	return f.Store.Swap(ctx, key, bucket, prev, next)
}

func (f *flaky) Load(ctx context.Context, key string) (Item, error) {
	if err := f.err(ctx); err != nil {
		return nil, err
	}
	return f.Store.Load(ctx, key)
}

func TestCallerCancellationIsNotAFallback(t *testing.T) {
	t.Parallel()
	store := &flaky{Store: NewMemoryStore()}
	store.down.Store(true)
	store.hang.Store(true)
	d, _ := newTestDistributed(t, store, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := d.Reserve(ctx, "ecs", []Take{{Bucket: ECSRunTask, N: 1}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's context error", err)
	}
}

// TestMixedCallsShareABucket measures the approximation of buckets drawn
// together: 200 Fargate calls (bound by ecs:FargateTasks, one per 500 ms)
// are reserved at once and hold slots up to 95 s ahead, while RunTask-only
// calls (EC2 launch type) draw on ecs:RunTask alone. Each bucket is its own
// GCRA timeline, so the Fargate calls charge ecs:RunTask when reserved, and
// the RunTask-only calls are not starved behind them. Replayed at their
// slots through a simulated AWS RunTask bucket (100 burst, 40 per s), the
// calls in transit show up as a small excess, which the adaptive rate
// absorbs in practice (each throttle is a signal).
func TestMixedCallsShareABucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, clk := newTestDistributed(t, NewMemoryStore(), nil)
	var calls []time.Time
	for range 200 {
		s, err := d.Reserve(ctx, "ecs", fargate10)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, s.At)
	}
	end := calls[len(calls)-1]
	for clk.Now().Before(end) {
		s, err := d.Reserve(ctx, "ecs", []Take{{Bucket: ECSRunTask, N: 1}})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, s.At)
		clk.Set(s.At)
	}
	slices.SortFunc(calls, func(a, b time.Time) int { return a.Compare(b) })
	aws := NewLocal(40, 100, func(o *LocalOptions) { o.Clock = clock.NewFake(t0) })
	throttled := 0
	for _, at := range calls {
		if !aws.AllowN(at, 1) {
			throttled++
		}
	}
	elapsed := end.Sub(t0).Seconds()
	frac := float64(throttled) / float64(len(calls))
	t.Logf("%d calls over %.0f s (%.1f per s), %d throttled (%.1f %%)", len(calls), elapsed, float64(len(calls))/elapsed, throttled, 100*frac)
	if want := 0.95 * (100 + 40*elapsed); float64(len(calls)) < want {
		t.Fatalf("%d calls, want ≥ %.0f: RunTask-only calls starved behind the Fargate backlog", len(calls), want)
	}
	if frac > 0.03 {
		t.Fatalf("%.1f %% of calls throttled, want ≤ 3 %%", 100*frac)
	}
}

// FuzzDistributed drives one bucket (ec2:RunInstances, 5 burst, 2 per s)
// with arbitrary advances, reservations, releases and signals, and checks
// the invariants: waits and RetryAfter are never negative, and the slots
// granted up to any time never exceed burst + rate × elapsed + 1.
func FuzzDistributed(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 0, 1, 3, 2, 9, 1, 200, 4, 0, 1})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1, 255, 3, 1, 2})
	f.Fuzz(fuzzDistributedBody)
}

func fuzzDistributedBody(t *testing.T, ops []byte) {
	if len(ops) > 1024 {
		return
	}
	{
		ctx := context.Background()
		d, clk := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.MaxAhead = 10 * time.Second })
		takes := []Take{{Bucket: EC2RunInstances, N: 1}}
		var slots []Slot
		for i := 0; i+1 < len(ops); i += 2 {
			clk.Advance(time.Duration(ops[i]) * 10 * time.Millisecond)
			switch ops[i+1] % 4 {
			case 0, 1:
				s, err := d.Reserve(ctx, "ec2", takes)
				if full, ok := errors.AsType[*BacklogFullError](err); ok {
					if full.Wait <= 0 {
						t.Fatalf("RetryAfter %v", full.Wait)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if s.Wait < 0 || s.At.Before(clk.Now()) {
					t.Fatalf("slot %+v before now %v", s, clk.Now())
				}
				slots = append(slots, s)
			case 2:
				if len(slots) > 0 {
					s := slots[len(slots)-1]
					if s.At.After(clk.Now()) { // given back: it will not be used
						slots = slots[:len(slots)-1]
					}
					if err := d.Release(ctx, "ec2", s); err != nil {
						t.Fatal(err)
					}
				}
			case 3:
				if err := d.Signal(ctx, "ec2", EC2RunInstances, Signal{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		slices.SortFunc(slots, func(a, b Slot) int { return a.At.Compare(b.At) })
		for i, s := range slots {
			if bound := 5 + 2*s.At.Sub(t0).Seconds() + 1; float64(i+1) > bound {
				t.Fatalf("%d slots up to %v, bound %.2f", i+1, s.At.Sub(t0), bound)
			}
		}
	}
}

// BenchmarkDistributedReserveMemory is the in-process cost of one
// acquisition of three buckets (the store's own cost aside).
func BenchmarkDistributedReserveMemory(b *testing.B) {
	d := NewDistributed(NewMemoryStore(), nil, func(o *Options) { o.MaxAhead = time.Duration(1 << 62) })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Reserve(ctx, "ecs", fargate10); err != nil {
			b.Fatal(err)
		}
	}
}
