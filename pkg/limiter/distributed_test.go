package limiter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
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
	base := func(o *Options) { o.Clock = clk; o.AccountScope = "111122223333/us-east-1" }
	return NewDistributed(s, lims, append([]func(*Options){base}, optFns...)...), clk
}

var fargate10 = []Take{{ECSRunTask, 1}, {ECSFargateRunTask, 1}, {ECSFargateTasks, 10}}

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
		{"RunTask burst then 25 ms apart", []Take{{ECSRunTask, 1}}, append(make([]time.Duration, 90), ms(25), ms(50))},
		// Fargate tasks bucket (100 / 20 per s, 90 at once) binds: 9 calls
		// of 10 tasks, then one every 500 ms.
		{"Fargate 10 tasks per call", fargate10, append(make([]time.Duration, 9), ms(500), ms(1000))},
		// RunInstances requests bucket (5 / 2 per s, 4 at once) binds
		// before instances.
		{"EC2 one instance per call", []Take{{EC2RunInstances, 1}, {EC2Instances, 1}}, []time.Duration{0, 0, 0, 0, ms(500), ms(1000)}},
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
				if s.Wait != want || !s.At.Equal(t0.Add(want)) || s.Fallback {
					t.Fatalf("reservation %d: got wait %v at %v fallback %v, want wait %v", i, s.Wait, s.At.Sub(t0), s.Fallback, want)
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
		s, err := d.Reserve(context.Background(), "ecs", []Take{{ECSFargateTasks, 10}})
		if err != nil || s.Wait != w {
			t.Fatalf("reservation %d: wait %v, %v; want %v", i, s.Wait, err, w)
		}
	}
	// A bucket whose tolerance is shorter (Fargate RunTask calls: 18 of 20
	// at 20/s is 0.9 s) puts its slots after the TAT: 1.1 s + 50 ms. Drawn
	// with the tasks bucket, it binds the first Fargate calls (each made at
	// once: 1.15 s ≤ 2 s).
	d, _ = newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.EarlyCalls = 2 * time.Second })
	if s, err := d.Reserve(context.Background(), "ecs", []Take{{ECSFargateRunTask, 1}}); err != nil || s.Wait != ms(1150) {
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
		{"other service", "ecs", []Take{{EC2RunInstances, 1}}, `takes[0].bucket "ec2:RunInstances" is not a bucket of service "ecs"`},
		{"unknown bucket", "ecs", []Take{{"ecs:Nope", 1}}, `"ecs:Nope"`},
		{"above burst", "ecs", []Take{{ECSFargateTasks, 101}}, "takes[0].n = 101 for ecs:FargateTasks: must be in (0, burst 100]"},
		{"zero", "ecs", []Take{{ECSRunTask, 1}, {ECSFargateTasks, 0}}, "takes[1].n = 0"},
		{"twice", "ecs", []Take{{ECSRunTask, 1}, {ECSRunTask, 1}}, `takes[1].bucket "ecs:RunTask" appears twice`},
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
	takes := []Take{{EC2RunInstances, 1}}
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

func TestReleaseGivesTheSlotBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	takes := []Take{{EC2RunInstances, 1}}
	for _, tc := range []struct {
		name   string
		strip  bool // release a slot rebuilt from its time alone (JSON without debits)
		viaRTT bool // release a slot that went through JSON
	}{{"as returned", false, false}, {"through JSON", false, true}, {"rebuilt from At", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, clk := newTestDistributed(t, NewMemoryStore(), nil)
			var last Slot
			for range 6 { // 4 at once (burstFraction), then 500 ms apart
				var err error
				if last, err = d.Reserve(ctx, "ec2", takes); err != nil {
					t.Fatal(err)
				}
			}
			if last.Wait != time.Second {
				t.Fatalf("6th slot: wait %v, want 1s", last.Wait)
			}
			rel := last
			if tc.viaRTT {
				b, _ := json.Marshal(last)
				rel = Slot{}
				if err := json.Unmarshal(b, &rel); err != nil {
					t.Fatal(err)
				}
			}
			if tc.strip {
				rel = Slot{At: last.At}
			}
			if err := d.Release(ctx, "ec2", takes, rel); err != nil {
				t.Fatal(err)
			}
			if s, _ := d.Reserve(ctx, "ec2", takes); s.Wait != time.Second {
				t.Fatalf("after release the next slot waits %v, want the released 1s", s.Wait)
			}
			// A slot whose time has come is used: releasing it gives nothing.
			clk.Advance(time.Second)
			if err := d.Release(ctx, "ec2", takes, last); err != nil {
				t.Fatal(err)
			}
			if s, _ := d.Reserve(ctx, "ec2", takes); s.Wait != ms(500) {
				t.Fatalf("after a late release the next slot waits %v, want 500ms", s.Wait)
			}
		})
	}
}

func TestSlotJSON(t *testing.T) {
	t.Parallel()
	s := Slot{At: t0.Add(ms(1500)), Wait: ms(1500), Debits: []Debit{{Bucket: ECSRunTask, Inc: ms(25), Tau: ms(2500)}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2026-11-22T10:00:01.5Z","waitSeconds":1.5,"debits":[{"bucket":"ecs:RunTask","incSeconds":0.025,"tauSeconds":2.5}]}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back Slot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.At.Equal(s.At) || back.Wait != s.Wait || len(back.Debits) != 1 || back.Debits[0] != s.Debits[0] {
		t.Fatalf("round trip: got %+v, want %+v", back, s)
	}
	if err := json.Unmarshal([]byte(`{"debits":[{"incSeconds":1}]}`), &back); err == nil || !strings.Contains(err.Error(), "debits[0]") {
		t.Fatalf("a debit without bucket: got %v, want an error naming debits[0]", err)
	}
}

func TestSignalDecreasesOncePerStormAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	rec := &Counters{}
	var logs bytes.Buffer
	d, clk := newTestDistributed(t, store, nil, func(o *Options) {
		o.Recorder = rec
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	// Another process of the fleet on the same store and clock.
	other := NewDistributed(store, nil, func(o *Options) { o.Clock = clk; o.AccountScope = "111122223333/us-east-1" })
	rate := func(dl *Distributed) float64 {
		t.Helper()
		if _, err := dl.Reserve(ctx, "ecs", []Take{{ECSRunTask, 1}}); err != nil { // refreshes what it knows
			t.Fatal(err)
		}
		r, err := dl.Rate("ecs", ECSRunTask)
		if err != nil {
			t.Fatal(err)
		}
		return float64(r)
	}
	sig := Signal{Reason: "ThrottlingException"}
	dec, win := defaultDecrease, defaultSignalWindow
	w := win.Seconds()
	steps := []struct {
		name    string
		advance time.Duration
		signals int
		want    float64 // rate seen by the other process afterwards
	}{
		{"storm of 50 signals decreases once", 0, 50, 40 * dec},
		{"still the same storm", win - ms(100), 10, 40 * dec * math.Pow(1.01, w-0.1)},
		{"a new storm decreases again", ms(200), 1, 40 * dec * math.Pow(1.01, w+0.1) * dec},
		{"recovers ×1.01 per second", 10 * time.Second, 0, 40 * dec * math.Pow(1.01, w+0.1) * dec * math.Pow(1.01, 10)},
		{"up to the ceiling", time.Hour, 0, 40},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		for range st.signals {
			if err := d.Signal(ctx, "ecs", ECSRunTask, sig); err != nil {
				t.Fatal(err)
			}
		}
		if got := rate(other); got < st.want-1e-6 || got > st.want+1e-6 {
			t.Fatalf("%s: other process sees rate %v, want %v", st.name, got, st.want)
		}
	}
	if got := rec.Get(MetricThrottleSignals, "ecs"); got != 61 {
		t.Fatalf("%s: got %v, want 61", MetricThrottleSignals, got)
	}
	if got := rec.Get(MetricRateDecreases, "ecs"); got != 2 {
		t.Fatalf("%s: got %v, want 2", MetricRateDecreases, got)
	}
	if !strings.Contains(logs.String(), `"code":"ThrottlingException"`) {
		t.Fatalf("no decrease logged: %s", logs.String())
	}
	// A late signal about a throttle from before the last decrease is a duplicate.
	if err := d.Signal(ctx, "ecs", ECSRunTask, Signal{Reason: "ECS_OPERATION_THROTTLED", At: t0}); err != nil {
		t.Fatal(err)
	}
	if got := rec.Get(MetricRateDecreases, "ecs"); got != 2 {
		t.Fatalf("a stale signal decreased the rate (%v decreases)", got)
	}
}

// TestDecreaseReachesAProcessThatHasNotSeenIt: a process whose adaptive
// state predates another process's decrease learns it from its next take's
// answer and charges the difference at once, so that very call is paced at
// the decreased rate (one process per Lambda sandbox: most calls come from
// processes that have not seen the last decrease).
func TestDecreaseReachesAProcessThatHasNotSeenIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	a, clk := newTestDistributed(t, store, nil)
	b := NewDistributed(store, nil, func(o *Options) { o.Clock = clk; o.AccountScope = "111122223333/us-east-1" })
	takes := []Take{{ECSFargateTasks, 10}}
	for range 10 { // 90 at once, then 500 ms apart at 20/s: TAT 5 s
		if _, err := b.Reserve(ctx, "ecs", takes); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Signal(ctx, "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException"}); err != nil {
		t.Fatal(err)
	}
	inc := fromSeconds(10 / (20 * defaultDecrease)) // 714 ms at 14/s
	for i, want := range []time.Duration{ms(500) + inc, ms(500) + 2*inc} {
		s, err := b.Reserve(ctx, "ecs", takes)
		if err != nil {
			t.Fatal(err)
		}
		if d := s.Wait - want; d < -time.Millisecond || d > time.Millisecond || s.Debits[0].Inc-inc > time.Microsecond || inc-s.Debits[0].Inc > time.Microsecond {
			t.Fatalf("reservation %d after the decrease: wait %v, debit %v; want %v and %v (paced at 14/s)", i, s.Wait, s.Debits[0].Inc, want, inc)
		}
	}
}

func TestSignalFloor(t *testing.T) {
	t.Parallel()
	lims, err := ParseLimits(`{"defaults": {"floorFraction": 0.25, "signalWindowSeconds": 0}}`)
	if err != nil {
		t.Fatal(err)
	}
	d, clk := newTestDistributed(t, NewMemoryStore(), lims)
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
			s, err := d.Reserve(ctx, "ecs", []Take{{ECSRunTask, 1}})
			if err != nil {
				t.Fatal(err)
			}
			clk.Set(s.At)
			ok := aws.AllowN(clk.Now(), 1)
			if !ok {
				if err := d.Signal(ctx, "ecs", ECSRunTask, Signal{Reason: "ThrottlingException"}); err != nil {
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
	return errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
}

func (f *flaky) Take(ctx context.Context, key string, arrive Arrival, ds []Debit) (Item, time.Time, error) {
	if err := f.err(ctx); err != nil {
		return nil, time.Time{}, err
	}
	return f.Store.Take(ctx, key, arrive, ds)
}

func (f *flaky) SetRate(ctx context.Context, key, bucket string, rate float64, at, prev time.Time) (bool, Item, error) {
	if err := f.err(ctx); err != nil {
		return false, nil, err
	}
	return f.Store.SetRate(ctx, key, bucket, rate, at, prev)
}

func (f *flaky) Load(ctx context.Context, key string) (Item, error) {
	if err := f.err(ctx); err != nil {
		return nil, err
	}
	return f.Store.Load(ctx, key)
}

func TestFallbackWhenTheStoreFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, hang := range []bool{false, true} {
		store := &flaky{Store: NewMemoryStore()}
		store.hang.Store(hang)
		rec := &Counters{}
		var logs bytes.Buffer
		d, clk := newTestDistributed(t, store, nil, func(o *Options) {
			o.Recorder = rec
			o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			o.StoreTimeout = 20 * time.Millisecond
			o.FallbackRetry = 5 * time.Second
			o.BusyGrace = -1 // timeouts fall back at once (TestStoreTimeoutDefersBeforeFallingBack)
		})
		takes := []Take{{EC2RunInstances, 1}}
		if _, err := d.Reserve(ctx, "ec2", takes); err != nil {
			t.Fatal(err)
		}
		store.down.Store(true)
		// Fallback: 10 % of 5 burst → 1, of 2/s → 0.2/s: slots 5 s apart,
		// the first one 5 s away (the fallback bucket starts empty).
		for i := 1; i <= 3; i++ {
			s, err := d.Reserve(ctx, "ec2", takes)
			if err != nil {
				t.Fatalf("hang %v, reservation %d: got error %v; the fallback must serve", hang, i, err)
			}
			if !s.Fallback || s.Wait != time.Duration(i)*5*time.Second {
				t.Fatalf("hang %v, reservation %d: %+v; want a fallback slot %d s away", hang, i, s, 5*i)
			}
		}
		calls := store.calls.Load()
		if calls != 3 {
			t.Fatalf("hang %v: %d store calls; want 3 (load and take, one failure, then the fallback until the retry time)", hang, calls)
		}
		if got := rec.Get(MetricFallbackEpisodes, "ec2"); got != 1 {
			t.Fatalf("hang %v: %s = %v, want 1", hang, MetricFallbackEpisodes, got)
		}
		if got := rec.Get(MetricFallbackAcquisitions, "ec2"); got != 3 {
			t.Fatalf("hang %v: %s = %v, want 3", hang, MetricFallbackAcquisitions, got)
		}
		if !strings.Contains(logs.String(), `"level":"WARN","msg":"limiter: bucket store unreachable; using the local fallback limit"`) {
			t.Fatalf("hang %v: no warning logged: %s", hang, logs.String())
		}
		// After the retry time the store is tried again; once it answers,
		// the episode ends.
		store.down.Store(false)
		clk.Advance(5 * time.Second)
		s, err := d.Reserve(ctx, "ec2", takes)
		if err != nil || s.Fallback {
			t.Fatalf("hang %v: after recovery: %+v, %v; want a fleet slot", hang, s, err)
		}
		if !strings.Contains(logs.String(), "fallback episode over") {
			t.Fatalf("hang %v: recovery not logged: %s", hang, logs.String())
		}
	}
}

// TestSignalsSlowTheFallback: a throttle storm while the store is down still
// slows this process (once per storm), and Signal says the store failed.
func TestSignalsSlowTheFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &flaky{Store: NewMemoryStore()}
	d, _ := newTestDistributed(t, store, nil)
	takes := []Take{{EC2RunInstances, 1}}
	if _, err := d.Reserve(ctx, "ec2", takes); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	if s, _ := d.Reserve(ctx, "ec2", takes); !s.Fallback || s.Wait != 5*time.Second {
		t.Fatalf("first fallback slot %+v, want one 5 s away (an empty bucket at 0.2/s)", s)
	}
	for range 10 {
		if err := d.Signal(ctx, "ec2", EC2RunInstances, Signal{Reason: "RequestLimitExceeded"}); err == nil {
			t.Fatal("Signal succeeded although the store is down")
		}
	}
	// 10 % of 2/s is 0.2/s; one decrease (×0.7) makes it 0.14/s: the
	// second slot, 10 s away at the old rate, moves to 10 / 0.7 s.
	s, _ := d.Reserve(ctx, "ec2", takes)
	if want := fromSeconds(10.0 / defaultDecrease); s.Wait < want-time.Millisecond || s.Wait > want+time.Millisecond {
		t.Fatalf("fallback slot after a storm: wait %v, want %v", s.Wait, want)
	}
}

func TestCallerCancellationIsNotAFallback(t *testing.T) {
	t.Parallel()
	store := &flaky{Store: NewMemoryStore()}
	store.down.Store(true)
	store.hang.Store(true)
	d, _ := newTestDistributed(t, store, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := d.Reserve(ctx, "ecs", []Take{{ECSRunTask, 1}}); !errors.Is(err, context.DeadlineExceeded) {
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
		s, err := d.Reserve(ctx, "ecs", []Take{{ECSRunTask, 1}})
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
		takes := []Take{{EC2RunInstances, 1}}
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
					if err := d.Release(ctx, "ec2", takes, s); err != nil {
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

// TestFallbackStartsEmpty: a fleet of processes falling back at once must
// not each spend a burst; a fallback bucket admits fraction × rate from its
// first take on.
func TestFallbackStartsEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &flaky{Store: NewMemoryStore()}
	store.down.Store(true) // refused: not a timeout, so the fallback serves at once
	d, _ := newTestDistributed(t, store, nil)
	// ecs:FargateTasks 100 burst / 20 per s; 10 % of it is 2/s and a burst
	// of 10, which a full bucket would hand out at once.
	takes := []Take{{ECSFargateTasks, 10}}
	for i := 1; i <= 3; i++ {
		s, err := d.Reserve(ctx, "ecs", takes)
		if err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
		if want := time.Duration(i) * 5 * time.Second; !s.Fallback || s.Wait != want {
			t.Fatalf("reservation %d: %+v; want a fallback slot %v away (10 tasks at 2/s each, no burst)", i, s, want)
		}
	}
}

// TestStoreTimeoutDefersBeforeFallingBack: a store that times out is most
// often a busy one; for BusyGrace Reserve admits nothing and says when to
// try again, then the fallback serves. A refusal falls back at once.
func TestStoreTimeoutDefersBeforeFallingBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &flaky{Store: NewMemoryStore()}
	rec := &Counters{}
	var logs bytes.Buffer
	d, clk := newTestDistributed(t, store, nil, func(o *Options) {
		o.Recorder = rec
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		o.StoreTimeout = 20 * time.Millisecond
		o.FallbackRetry = 5 * time.Second
	})
	takes := []Take{{EC2RunInstances, 1}}
	if _, err := d.Reserve(ctx, "ec2", takes); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	store.hang.Store(true)
	for _, step := range []time.Duration{0, 4 * time.Second, 5 * time.Second} { // 0, 4, 9 s < 10 s grace
		clk.Advance(step)
		s, err := d.Reserve(ctx, "ec2", takes)
		busy, ok := errors.AsType[*StoreBusyError](err)
		if !ok || busy.Wait != 5*time.Second || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("after %v: %+v, %v; want a *StoreBusyError retrying after 5 s", step, s, err)
		}
	}
	if got := rec.Get(MetricAcquisitions, "ec2"); got != 1 {
		t.Fatalf("%s = %v while the store is busy; want 1 (nothing admitted)", MetricAcquisitions, got)
	}
	if got := rec.Get(MetricStoreBusy, "ec2"); got != 3 {
		t.Fatalf("%s = %v, want 3", MetricStoreBusy, got)
	}
	if n := strings.Count(logs.String(), "bucket store slow"); n != 1 {
		t.Fatalf("%d busy warnings, want 1 per run of timeouts: %s", n, logs.String())
	}
	clk.Advance(time.Second) // 10 s and a 4th timeout: the fallback takes over
	s, err := d.Reserve(ctx, "ec2", takes)
	if err != nil || !s.Fallback || s.Wait != 5*time.Second {
		t.Fatalf("after the grace: %+v, %v; want a fallback slot 5 s away", s, err)
	}
	if got := rec.Get(MetricFallbackEpisodes, "ec2"); got != 1 {
		t.Fatalf("%s = %v, want 1", MetricFallbackEpisodes, got)
	}
	// Recovery clears the run of timeouts: the next one is busy again.
	store.down.Store(false)
	clk.Advance(5 * time.Second)
	if _, err := d.Reserve(ctx, "ec2", takes); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	if _, err := d.Reserve(ctx, "ec2", takes); !errors.As(err, new(*StoreBusyError)) {
		t.Fatalf("a timeout after recovery: %v; want a *StoreBusyError", err)
	}
	// A refusal is no busy store: the fallback serves at once.
	store.hang.Store(false)
	s, err = d.Reserve(ctx, "ec2", takes)
	if err != nil || !s.Fallback {
		t.Fatalf("refused store: %+v, %v; want a fallback slot", s, err)
	}
}

// TestBusyLastsSomeTimeouts: on a fast clock one timeout (wall time) may
// outlast BusyGrace; the busy answer still lasts BusyTimeouts timeouts.
func TestBusyLastsSomeTimeouts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &flaky{Store: NewMemoryStore()}
	d, clk := newTestDistributed(t, store, nil, func(o *Options) { o.StoreTimeout = 10 * time.Millisecond })
	takes := []Take{{EC2RunInstances, 1}}
	store.down.Store(true)
	store.hang.Store(true)
	for i := range 4 {
		s, err := d.Reserve(ctx, "ec2", takes)
		if busy := errors.As(err, new(*StoreBusyError)); busy != (i < 3) {
			t.Fatalf("timeout %d, 20 s apart: %+v, %v; want busy for the first 3 only", i+1, s, err)
		}
		clk.Advance(20 * time.Second)
	}
}
