package limiter

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// near says a and b are within a millisecond.
func near(a, b time.Duration) bool { return (a - b).Abs() <= time.Millisecond }

func reserveN(t *testing.T, d *Distributed, service string, takes []Take, n int) []Slot {
	t.Helper()
	out := make([]Slot, n)
	for i := range out {
		s, err := d.Reserve(context.Background(), service, takes)
		if err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
		out[i] = s
	}
	return out
}

func TestSlotJSON(t *testing.T) {
	t.Parallel()
	s := Slot{At: t0.Add(ms(1500)), Wait: ms(1500), Binding: ECSFargateTasks,
		Positions: []Position{{Bucket: ECSFargateTasks, End: 130, N: 10, Epoch: 2, At: t0.Add(ms(1500))}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2026-11-22T10:00:01.5Z","waitSeconds":1.5,"binding":"ecs:FargateTasks","positions":[{"bucket":"ecs:FargateTasks","end":130,"n":10,"epoch":2,"at":"2026-11-22T10:00:01.5Z"}]}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back Slot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.At.Equal(s.At) || back.Wait != s.Wait || back.Binding != s.Binding || len(back.Positions) != 1 || back.Positions[0] != s.Positions[0] {
		t.Fatalf("round trip: got %+v, want %+v", back, s)
	}
	for _, bad := range []string{`{"positions":[{"n":1}]}`, `{"positions":[{"bucket":"ecs:RunTask","n":0}]}`, `{"positions":[{"bucket":"ecs:RunTask","n":1,"epoch":-1}]}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), "positions[0]") {
			t.Fatalf("%s: got %v, want an error naming positions[0]", bad, err)
		}
	}
}

// TestSlotsCarryPositions: each slot holds N positions per bucket, in the
// bucket's tokens, ending at the frontier right after its take.
func TestSlotsCarryPositions(t *testing.T) {
	t.Parallel()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil)
	slots := reserveN(t, d, "ecs", fargate10, 12)
	last := slots[11]
	if p, ok := last.Position(ECSFargateTasks); !ok || p.End != 120 || p.N != 10 || p.Epoch != 0 || !p.At.Equal(last.At) {
		t.Fatalf("12th slot's tasks position: %+v, want end 120, n 10, epoch 0, due at the slot", p)
	}
	if p, _ := last.Position(ECSRunTask); p.End != 12 || p.N != 1 {
		t.Fatalf("12th slot's RunTask position: %+v, want end 12, n 1", p)
	}
	if last.Binding != ECSFargateTasks || !near(last.Wait, ms(1500)) {
		t.Fatalf("12th slot: binding %s, wait %v; want the tasks bucket binding, 1.5 s", last.Binding, last.Wait)
	}
	// Within every burst, the bucket closest to empty binds: after one
	// call, tasks (10 of 90) before calls (1 of 90 or 18).
	if first := slots[0]; first.Wait != 0 || first.Binding != ECSFargateTasks {
		t.Fatalf("first slot: wait %v binding %s; want 0 and the tasks bucket", first.Wait, first.Binding)
	}
}

// TestReleaseGivesPositionsBack: Release returns exactly the slot's tokens
// at the frontier, at the bucket's current rate, once; a slot due already,
// or one without positions, gives nothing.
func TestReleaseGivesPositionsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	takes := []Take{{Bucket: EC2RunInstances, N: 1}}
	for _, viaJSON := range []bool{false, true} {
		d, clk := newTestDistributed(t, NewMemoryStore(), nil)
		last := reserveN(t, d, "ec2", takes, 6)[5] // 4 at once, then 500 ms apart
		if last.Wait != time.Second {
			t.Fatalf("6th slot: wait %v, want 1s", last.Wait)
		}
		rel := last
		if viaJSON {
			b, _ := json.Marshal(last)
			rel = Slot{}
			if err := json.Unmarshal(b, &rel); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Release(ctx, "ec2", Slot{At: last.At}); err != nil { // no positions: nothing exact
			t.Fatal(err)
		}
		if err := d.Release(ctx, "ec2", rel); err != nil {
			t.Fatal(err)
		}
		s := reserveN(t, d, "ec2", takes, 1)[0]
		if s.Wait != time.Second {
			t.Fatalf("after release the next slot waits %v, want the released 1s", s.Wait)
		}
		if p, _ := s.Position(EC2RunInstances); p.End != 6 {
			t.Fatalf("the next slot ends at %v, want the released position 6", p.End)
		}
		clk.Advance(time.Second) // a slot whose time has come is used
		if err := d.Release(ctx, "ec2", last); err != nil {
			t.Fatal(err)
		}
		if s := reserveN(t, d, "ec2", takes, 1)[0]; s.Wait != ms(500) {
			t.Fatalf("after a late release the next slot waits %v, want 500ms", s.Wait)
		}
	}
}

// TestDecreaseRetimesBookedSlots: a decrease re-anchors the bucket: every
// slot not yet due moves to the new rate at once (Recheck, one read), never
// earlier; slots due already stay due; new slots follow on with no burst.
func TestDecreaseRetimesBookedSlots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &Counters{}
	d, _ := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.Recorder = rec })
	takes := []Take{{Bucket: ECSFargateTasks, N: 10}}
	// 100 burst, 90 at once, 20/s: 9 slots now, then 500 ms apart; the
	// 30th at 10.5 s.
	slots := reserveN(t, d, "ecs", takes, 30)
	first, last := slots[0], slots[29]
	if !near(last.Wait, ms(10500)) {
		t.Fatalf("30th slot: %v, want 10.5s", last.Wait)
	}
	p, _ := first.Position(ECSFargateTasks)
	if err := d.Signal(ctx, "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException", Position: p}); err != nil {
		t.Fatal(err)
	}
	// Blind decrease to 17/s (no earlier mark), from 2 s (the in-flight
	// horizon) plus one call's refill (10/17 s): the position due then
	// under the old timing (20/s) is the anchor, the rest follow at 17/s.
	from := 2*time.Second + fromSeconds(10.0/17)
	anchor := 300 - (10.5-from.Seconds())*20
	want := from + fromSeconds((300-anchor)/17)
	moved, err := d.Recheck(ctx, "ecs", last)
	if err != nil {
		t.Fatal(err)
	}
	if mp, _ := moved.Position(ECSFargateTasks); !near(moved.Wait, want) || mp.Epoch != 1 || mp.End != 300 {
		t.Fatalf("re-timed 30th slot: wait %v, %+v; want %v, epoch 1, same position", moved.Wait, mp, want)
	}
	if due, _ := d.Recheck(ctx, "ecs", slots[5]); due.Wait != 0 || due.Binding != slots[5].Binding {
		t.Fatalf("a slot due before the decrease: wait %v binding %s, want 0 and its binding %s kept", due.Wait, due.Binding, slots[5].Binding)
	}
	if next := reserveN(t, d, "ecs", takes, 1)[0]; !near(next.Wait, want+fromSeconds(10.0/17)) {
		t.Fatalf("first new slot: %v, want one increment (588 ms at 17/s) after the last booked, no burst", next.Wait)
	}
	// 31 acquisitions at the configured rate (ratio 1), the last at 0.85.
	if got := rec.Get(MetricRateRatio, "ecs"); got < 30.84 || got > 30.86 {
		t.Fatalf("%s summed %v, want 30 × 1 + 0.85", MetricRateRatio, got)
	}
	if rec.Get(MetricRetimed, "ecs") != 1 {
		t.Fatalf("%s = %v, want 1", MetricRetimed, rec.Get(MetricRetimed, "ecs"))
	}
}

// TestOneDecreasePerEpoch: throttles of calls timed before a decrease
// count but do not decrease again, however many processes report them; a
// call timed in the new epoch does. Without a position a signal counts
// for the current epoch once SignalWindow has passed since the decrease.
func TestOneDecreasePerEpoch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	rec := &Counters{}
	d, clk := newTestDistributed(t, store, nil, func(o *Options) { o.Recorder = rec })
	other := NewDistributed(store, nil, func(o *Options) { o.Clock = clk; o.AccountScope = "111122223333/us-east-1"; o.BurstFeedback = -1 })
	slots := reserveN(t, d, "ecs", []Take{{Bucket: ECSRunTask, N: 1}}, 120)
	for i, s := range slots[:50] { // a storm from calls timed in epoch 0
		p, _ := s.Position(ECSRunTask)
		l := d
		if i%2 == 1 {
			l = other
		}
		if err := l.Signal(ctx, "ecs", ECSRunTask, Signal{Reason: "ThrottlingException", Position: p}); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.Get(MetricRateDecreases, "ecs"); got != 1 {
		t.Fatalf("a storm of 50 epoch-0 throttles made %v decreases, want 1", got)
	}
	it, _ := store.Load(ctx, d.Key("ecs"))
	if st := it[ECSRunTask]; st.Epoch != 1 || st.Throttled != 50 || st.LastSignal != "ThrottlingException" {
		t.Fatalf("bucket after the storm: %+v; want epoch 1, 50 throttled counted", st)
	}
	// A call timed in epoch 1 and throttled decreases again.
	clk.Advance(2 * time.Second)
	p, _ := reserveN(t, d, "ecs", []Take{{Bucket: ECSRunTask, N: 1}}, 1)[0].Position(ECSRunTask)
	if err := d.Signal(ctx, "ecs", ECSRunTask, Signal{Reason: "ThrottlingException", Position: p}); err != nil {
		t.Fatal(err)
	}
	// Asynchronous signals (no position): within the window, the same
	// episode; after it, a new one.
	for _, step := range []struct {
		advance time.Duration
		want    float64
	}{{time.Second, 2}, {defaultSignalWindow + 2*time.Second, 3}} { // the window counts from the decrease's in-flight horizon
		clk.Advance(step.advance)
		if err := d.Signal(ctx, "ecs", ECSRunTask, Signal{Reason: "TaskFailedToStart"}); err != nil {
			t.Fatal(err)
		}
		if got := rec.Get(MetricRateDecreases, "ecs"); got != step.want {
			t.Fatalf("after %v: %v decreases, want %v", step.advance, got, step.want)
		}
	}
}

// TestDecreaseToTheMeasuredRate: between two throttles the real bucket
// was empty both times, so what it admitted of ours in between is its rate
// left to us; the decrease goes to that rate less the margin.
func TestDecreaseToTheMeasuredRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, clk := newTestDistributed(t, NewMemoryStore(), nil)
	sig := func(end float64, epoch int64) {
		t.Helper()
		p := Position{Bucket: ECSFargateTasks, End: end, N: 10, Epoch: epoch}
		if err := d.Signal(ctx, "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException", At: clk.Now(), Position: p}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(10 * time.Second)
	sig(200, 0) // blind: 20 → 17/s; the mark
	clk.Advance(2 * time.Second)
	sig(220, 0) // epoch 0: counted only
	sig(230, 0)
	clk.Advance(8 * time.Second)
	// Ours between the marks: 390 − 10 − 200 = 180 positions, 20 of them
	// throttled: 160 admitted in 10 s → 16/s, less 5 %: 15.2, within one
	// blind step of 17 (14.45).
	sig(390, 1)
	if r, _ := d.Rate("ecs", ECSFargateTasks); !(float64(r) > 15.19 && float64(r) < 15.21) {
		t.Fatalf("rate after a measured decrease: %v, want 15.2", r)
	}
	// A measurement far below (a co-tenant catching up on its backlog)
	// moves the rate one blind step at most: × 0.85.
	clk.Advance(20 * time.Second)
	before, _ := d.Rate("ecs", ECSFargateTasks)
	sig(420, 2)
	if r, _ := d.Rate("ecs", ECSFargateTasks); math.Abs(float64(r-before*0.85)) > 1e-9 {
		t.Fatalf("rate after a measurement far below: %v, want %v × 0.85", r, before)
	}
}

// TestEpochErrorRetakesAtTheNewRate: a process that has not seen another's
// decrease computes its debit at the old rate; the store refuses it and
// the take is made again at the new rate, so the call is paced at it.
func TestEpochErrorRetakesAtTheNewRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewMemoryStore()
	a, clk := newTestDistributed(t, store, nil)
	b := NewDistributed(store, nil, func(o *Options) { o.Clock = clk; o.AccountScope = "111122223333/us-east-1"; o.BurstFeedback = -1 })
	takes := []Take{{Bucket: ECSFargateTasks, N: 10}}
	reserveN(t, b, "ecs", takes, 10) // 90 at once, then 500 ms apart: the 10th at 0.5 s
	if err := a.Signal(ctx, "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException"}); err != nil {
		t.Fatal(err)
	}
	// Re-anchored at 2 s (the in-flight horizon): every booked position is
	// due by then; new ones follow at 17/s with no burst.
	inc := fromSeconds(10.0 / 17)
	for i, want := range []time.Duration{2*time.Second + inc, 2*time.Second + 2*inc} {
		s := reserveN(t, b, "ecs", takes, 1)[0]
		if p, _ := s.Position(ECSFargateTasks); !near(s.Wait, want) || p.Epoch != 1 {
			t.Fatalf("reservation %d after the decrease: wait %v epoch %d; want %v, epoch 1 (paced at 17/s)", i, s.Wait, p.Epoch, want)
		}
	}
}

// TestStoreFailuresFailClosed: whatever the store's failure, nothing is
// admitted: the answer is busy, retry after BusyRetry, spending nothing; a
// configuration error says so and is counted for its alarm; Recheck keeps
// the slot's place.
func TestStoreFailuresFailClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		err    error
		hang   bool
		config bool
	}{
		"refused":   {err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")},
		"timeout":   {hang: true},
		"throttled": {err: &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}},
		"no table":  {err: &smithy.GenericAPIError{Code: "ResourceNotFoundException"}, config: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := &flaky{Store: NewMemoryStore(), fail: tc.err}
			store.hang.Store(tc.hang)
			rec := &Counters{}
			d, _ := newTestDistributed(t, store, nil, func(o *Options) {
				o.Recorder = rec
				o.StoreTimeout = 10 * time.Millisecond
				o.BusyRetry = 7 * time.Second
			})
			held := reserveN(t, d, "ecs", []Take{{Bucket: ECSRunTask, N: 1}}, 95)[94]
			store.down.Store(true)
			for range 3 {
				_, err := d.Reserve(ctx, "ecs", []Take{{Bucket: ECSRunTask, N: 1}})
				busy, ok := errors.AsType[*StoreBusyError](err)
				if !ok || busy.RetryAfter() != 7*time.Second || !busy.LimiterBusy() || busy.Config != tc.config {
					t.Fatalf("got %v, want a busy answer retrying after 7s (config %v)", err, tc.config)
				}
			}
			metric := MetricStoreBusy
			if tc.config {
				metric = MetricStoreConfig
			}
			if rec.Get(metric, "ecs") != 3 || rec.Get(MetricAcquisitions, "ecs") != 95 {
				t.Fatalf("%s %v, acquisitions %v; want 3 and 95", metric, rec.Get(metric, "ecs"), rec.Get(MetricAcquisitions, "ecs"))
			}
			if kept, err := d.Recheck(ctx, "ecs", held); err == nil || !kept.At.Equal(held.At) {
				t.Fatalf("Recheck with the store down: %+v, %v; want the slot as it was and an error", kept, err)
			}
			store.down.Store(false)
			if s, err := d.Reserve(ctx, "ecs", []Take{{Bucket: ECSRunTask, N: 1}}); err != nil || s.Wait != ms(150) {
				t.Fatalf("after recovery: %+v, %v; want the 96th slot, 150 ms away", s, err)
			}
		})
	}
}

// TestStatus reports the learned rate, epoch, queue and last decrease.
func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil)
	reserveN(t, d, "ecs", []Take{{Bucket: ECSFargateTasks, N: 10}}, 30) // frontier 10.5 s ahead at 20/s
	st, err := d.Status(ctx, "ecs")
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if s := st[0]; s.Bucket != ECSFargateTasks || s.Rate != 20 || s.Epoch != 0 || s.QueueSeconds != 10.5 || s.Queued != 210 {
		t.Fatalf("before a decrease: %+v; want rate 20, epoch 0, 10.5 s and 210 tasks queued", s)
	}
	if err := d.Signal(ctx, "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException"}); err != nil {
		t.Fatal(err)
	}
	st, _ = d.Status(ctx, "ecs")
	// Blind ×0.85 to 17/s from 2 s on (the in-flight horizon): position
	// 130 is due then, the 170 after it follow at 17/s, 12 s ahead.
	if s := st[0]; s.Rate != 17 || s.Epoch != 1 || s.LastSignal != "ThrottlingException" || !s.LastDecrease.Equal(t0.Add(2*time.Second)) || !near(time.Duration(s.QueueSeconds*1e9), 12*time.Second) {
		t.Fatalf("after a decrease: %+v; want rate 17, epoch 1, the signal, from 2 s, 12 s queued", s)
	}
}

// TestRecheckKeepsTheBinding: re-timing a slot keeps the limiter's choice
// of binding bucket unless another position now lies later, so a throttle
// after a wake still blames the bucket that timed the call.
func TestRecheckKeepsTheBinding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil)
	s := reserveN(t, d, "ecs", fargate10, 1)[0] // within every burst: tasks bind
	if s.Binding != ECSFargateTasks {
		t.Fatalf("binding %s, want %s", s.Binding, ECSFargateTasks)
	}
	// A decrease on another bucket of the slot makes Recheck re-time it.
	if err := d.Signal(ctx, "ecs", ECSRunTask, Signal{Reason: "ThrottlingException"}); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Recheck(ctx, "ecs", s); err != nil || got.Binding != ECSFargateTasks || got.Wait != 0 {
		t.Fatalf("re-checked: %+v, %v; want binding %s kept, due now", got, err, ECSFargateTasks)
	}
}
