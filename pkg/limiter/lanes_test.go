package limiter

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// tasks10 is one Fargate chunk of 10 tasks in lane.
func tasks10(lane string) []Take { return InLane(fargate10, lane) }

// bookAhead books chunks in lane until a slot lies ahead seconds away and
// returns the slots.
func bookAhead(t *testing.T, d *Distributed, lane string, ahead time.Duration) []Slot {
	t.Helper()
	var slots []Slot
	for {
		s, err := d.Reserve(context.Background(), "ecs", tasks10(lane))
		if err != nil {
			t.Fatalf("booking %s: %v", lane, err)
		}
		slots = append(slots, s)
		if s.Wait >= ahead {
			return slots
		}
	}
}

func posAt(t *testing.T, s Slot, bucket string) time.Time {
	t.Helper()
	p, ok := s.Position(bucket)
	if !ok {
		t.Fatalf("slot has no %s position: %+v", bucket, s)
	}
	return p.At
}

// The urgent case: a low batch booked 300 s ahead, then a high request of
// 5 chunks of 10 tasks: every chunk is due within the in-flight horizon
// plus the increments of the chunks up to it (10 tasks at 20/s: 0.5 s
// each), the batch's chunks beyond the horizon move back by the 2.5 s the
// request took, and those within it keep their time.
func TestLaneUrgentAheadOfBookedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, clk := newTestDistributed(t, NewMemoryStore(), nil)
	low := bookAhead(t, d, LaneLow, 300*time.Second)
	clk.Advance(100 * time.Millisecond)
	const horizon = 2 * time.Second
	for k := range 5 {
		s, err := d.Reserve(ctx, "ecs", tasks10(LaneHigh))
		if err != nil {
			t.Fatal(err)
		}
		if limit := horizon + time.Duration(k+1)*500*time.Millisecond + time.Millisecond; s.Wait > limit {
			t.Errorf("high chunk %d: wait %v, want ≤ %v (batch booked %v ahead)", k, s.Wait, limit, low[len(low)-1].Wait)
		}
		t.Logf("high chunk %d: wait %v", k, s.Wait)
		if s.Lane != LaneHigh {
			t.Errorf("high chunk %d: slot lane %q", k, s.Lane)
		}
	}
	now := clk.Now()
	for i, s := range low {
		before := posAt(t, s, ECSFargateTasks)
		r, err := d.Recheck(ctx, "ecs", s)
		if err != nil {
			t.Fatal(err)
		}
		moved := posAt(t, r, ECSFargateTasks).Sub(before)
		switch {
		case before.Before(now.Add(horizon)):
			if moved != 0 {
				t.Errorf("low chunk %d due %v, within the horizon: moved %v, want 0", i, before.Sub(now), moved)
			}
		case before.After(now.Add(horizon + 5*time.Second)):
			if moved != 2500*time.Millisecond {
				t.Errorf("low chunk %d due %v: moved %v, want 2.5s", i, before.Sub(now), moved)
			}
		}
		if r.At.Before(s.At) {
			t.Errorf("low chunk %d: recheck moved it earlier (%v → %v)", i, s.At, r.At)
		}
	}
}

// A table of lane mixes on one bucket (10 tasks per take, 20/s, the
// Fargate task bucket): the wait of the last take after the setup.
func TestLaneOrdering(t *testing.T) {
	t.Parallel()
	type book struct {
		lane  string
		ahead time.Duration
	}
	tests := []struct {
		name   string
		limits string
		setup  []book
		take   string
		// want the last take's wait within [lo, hi].
		lo, hi time.Duration
	}{
		{"high alone uses everything", "", nil, LaneHigh, 0, 0},
		{"low alone uses everything", "", nil, LaneLow, 0, 0},
		{"high behind its own lane", "", []book{{LaneHigh, 30 * time.Second}}, LaneHigh, 30 * time.Second, 31 * time.Second},
		{"high ahead of low", "", []book{{LaneLow, 100 * time.Second}}, LaneHigh, 2 * time.Second, 2500 * time.Millisecond},
		{"high ahead of normal", "", []book{{LaneNormal, 100 * time.Second}}, LaneHigh, 2 * time.Second, 2500 * time.Millisecond},
		{"normal ahead of low", "", []book{{LaneLow, 100 * time.Second}}, LaneNormal, 2 * time.Second, 2500 * time.Millisecond},
		{"normal behind high", "", []book{{LaneHigh, 100 * time.Second}}, LaneNormal, 100 * time.Second, 101 * time.Second},
		{"low behind everything", "", []book{{LaneHigh, 50 * time.Second}, {LaneLow, 100 * time.Second}}, LaneLow, 100 * time.Second, 101 * time.Second},
		{"normal ahead of low but behind high", "", []book{{LaneHigh, 20 * time.Second}, {LaneLow, 100 * time.Second}}, LaneNormal, 20 * time.Second, 21 * time.Second},
		// A budget of (1 − 0.95) × 60 s = 3 s of push back: six chunks of
		// 0.5 s preempt; the seventh queues behind the batch.
		{"budget spent: behind the batch", `{"defaults": {"laneShares": {"low": 0.95}}}`,
			[]book{{LaneLow, 100 * time.Second}, {LaneHigh, 0}, {LaneHigh, 0}, {LaneHigh, 0}, {LaneHigh, 0}, {LaneHigh, 0}, {LaneHigh, 0}},
			LaneHigh, 100 * time.Second, 104 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lims, err := ParseLimits(tt.limits)
			if err != nil {
				t.Fatal(err)
			}
			d, clk := newTestDistributed(t, NewMemoryStore(), lims)
			for _, b := range tt.setup {
				bookAheadOne(t, d, b.lane, b.ahead)
			}
			clk.Advance(10 * time.Millisecond)
			s, err := d.Reserve(context.Background(), "ecs", []Take{{Bucket: ECSFargateTasks, N: 10, Lane: tt.take}})
			if err != nil {
				t.Fatal(err)
			}
			if s.Wait < tt.lo || s.Wait > tt.hi {
				t.Errorf("%s take: wait %v, want in [%v, %v]", tt.take, s.Wait, tt.lo, tt.hi)
			}
		})
	}
}

// bookAheadOne books 10-task takes on the Fargate task bucket alone.
func bookAheadOne(t *testing.T, d *Distributed, lane string, ahead time.Duration) {
	t.Helper()
	for {
		s, err := d.Reserve(context.Background(), "ecs", []Take{{Bucket: ECSFargateTasks, N: 10, Lane: lane}})
		if err != nil {
			t.Fatalf("booking %s: %v", lane, err)
		}
		if s.Wait >= ahead {
			return
		}
	}
}

func TestLaneTakesValidated(t *testing.T) {
	t.Parallel()
	d, _ := newTestDistributed(t, NewMemoryStore(), nil)
	for _, tt := range []struct {
		takes []Take
		want  string
	}{
		{[]Take{{Bucket: ECSRunTask, N: 1, Lane: "urgent"}}, `limiter: takes[0].lane "urgent": want high, normal or low`},
		{[]Take{{Bucket: ECSRunTask, N: 1, Lane: LaneHigh}, {Bucket: ECSFargateTasks, N: 1}}, `limiter: takes[1].lane "": every take of an acquisition names the same lane (takes[0] has "high")`},
	} {
		if _, err := d.Reserve(context.Background(), "ecs", tt.takes); err == nil || err.Error() != tt.want {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
}

func TestLaneSlotJSON(t *testing.T) {
	t.Parallel()
	s := Slot{At: t0, Lane: LaneLow, Binding: ECSFargateTasks,
		Positions: []Position{{Bucket: ECSFargateTasks, End: 10, N: 10, At: t0, Base: 123, Shift: 45}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Slot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Lane != LaneLow || back.Positions[0].Base != 123 || back.Positions[0].Shift != 45 {
		t.Errorf("round trip: %s → %+v", b, back)
	}
	// A normal slot omits the lane, as slots of older releases do.
	n, _ := json.Marshal(Slot{At: t0, Lane: LaneNormal})
	var m map[string]any
	_ = json.Unmarshal(n, &m)
	if _, ok := m["lane"]; ok {
		t.Errorf("normal slot: %s, want no lane", n)
	}
	if err := json.Unmarshal([]byte(`{"at":"2026-11-22T10:00:00Z","lane":"urgent"}`), &back); err == nil {
		t.Error("lane urgent: want an error")
	}
}

// Peek, Release and a decrease with lanes: Peek answers a high take's
// wait at its insertion point; a released low slot gives its tokens back
// at the frontier; after a decrease the positions booked before it are
// re-timed in booking order and no longer preempted (the next high take
// queues behind them), while the lane state restarts for what follows.
func TestLanePeekReleaseDecrease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, clk := newTestDistributed(t, NewMemoryStore(), nil)
	low := bookAhead(t, d, LaneLow, 60*time.Second)
	clk.Advance(100 * time.Millisecond)
	one := []Take{{Bucket: ECSFargateTasks, N: 10}}
	for _, tt := range []struct {
		lane   string
		lo, hi time.Duration
	}{{LaneHigh, 2 * time.Second, 2600 * time.Millisecond}, {LaneLow, 59 * time.Second, 61 * time.Second}} {
		w, err := d.Peek(ctx, "ecs", InLane(one, tt.lane))
		if err != nil || w < tt.lo || w > tt.hi {
			t.Errorf("Peek %s: %v, %v; want in [%v, %v]", tt.lane, w, err, tt.lo, tt.hi)
		}
	}
	before, _ := d.store.Load(ctx, d.Key("ecs"))
	if err := d.Release(ctx, "ecs", low[len(low)-1]); err != nil {
		t.Fatal(err)
	}
	after, _ := d.store.Load(ctx, d.Key("ecs"))
	if got := after[ECSFargateTasks].Pos; got != before[ECSFargateTasks].Pos-10 {
		t.Errorf("release: frontier %g, want %g", got, before[ECSFargateTasks].Pos-10)
	}
	p, _ := low[0].Position(ECSFargateTasks)
	if err := d.Signal(ctx, "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException", Position: p}); err != nil {
		t.Fatal(err)
	}
	r, err := d.Recheck(ctx, "ecs", low[len(low)-2])
	if err != nil {
		t.Fatal(err)
	}
	if rp, _ := r.Position(ECSFargateTasks); rp.Base != 0 || rp.Epoch != 1 {
		t.Errorf("a position re-timed by the decrease: %+v, want base 0 in epoch 1", rp)
	}
	h, err := d.Reserve(ctx, "ecs", InLane(one, LaneHigh))
	if err != nil {
		t.Fatal(err)
	}
	if h.Wait < 60*time.Second {
		t.Errorf("high take after the decrease: wait %v, want behind the re-timed batch (≥ 60 s)", h.Wait)
	}
	st, _ := d.store.Load(ctx, d.Key("ecs"))
	if l := st[ECSFargateTasks].Lanes; l.Gen != 1 || l.Floor == 0 {
		t.Errorf("lane state after the decrease: %+v, want started in epoch 1 with a floor", l)
	}
}
