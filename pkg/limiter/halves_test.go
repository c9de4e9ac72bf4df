package limiter

import (
	"context"
	"testing"
	"time"
)

// GIVEN an idle Fargate task bucket (100 burst, 20 per s; 90 handed out)
// WHEN 20 calls of 10 tasks reserve at once
// THEN with halves (the default) the first 4 calls (40 tasks, the first
// half of 90) go at once, the next wait 3.5 s for feedback (the 2-s
// in-flight horizon + 1.5 s), spread over the next 0.25 s (halfSpread:
// callers woken at one instant would all write at once), and later ones
// follow the rate 1.25 s later
// than the whole burst would (3.5 s less the 2.25 s the first half takes
// to refill: the refill the full real bucket loses meanwhile); with
// BurstFeedback < 0, the whole burst at once
func TestBurstInHalves(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		feedback time.Duration
		want     map[int]time.Duration // call (1-based) → wait
	}{
		"halves": {0, map[int]time.Duration{1: 0, 4: 0, 5: sec(3.5) + halfSpread/9, 9: sec(3.75), 13: sec(3.75), 14: sec(3.75), 20: sec(6.75)}},
		"whole":  {-1, map[int]time.Duration{1: 0, 4: 0, 5: 0, 9: 0, 10: sec(0.5), 13: sec(2), 14: sec(2.5), 20: sec(5.5)}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, _ := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.BurstFeedback = tc.feedback })
			for call := 1; call <= 20; call++ {
				s, err := d.Reserve(context.Background(), "ecs", fargate10)
				if err != nil {
					t.Fatal(err)
				}
				if want, ok := tc.want[call]; ok && s.Wait != want {
					t.Errorf("call %d: wait %v, want %v", call, s.Wait, want)
				}
			}
		})
	}
}

// GIVEN a co-tenant that drained the real Fargate task bucket before our
// 20 calls of 10 tasks reserved at once
// WHEN the first call's throttle comes back 0.3 s later
// THEN with halves only the first half (4 calls) went out at once; every
// later call, re-checked when it wakes, is of the new epoch and due at the
// new rate after the decrease, none before the feedback interval; with the
// whole burst, 9 calls went out at once into the empty bucket
func TestDrainedBurstCostsTheFirstHalf(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		feedback time.Duration
		atOnce   int
	}{"halves": {0, 4}, "whole": {-1, 9}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, clk := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.BurstFeedback = tc.feedback })
			slots := make([]Slot, 20)
			atOnce := 0
			for i := range slots {
				s, err := d.Reserve(ctx, "ecs", fargate10)
				if err != nil {
					t.Fatal(err)
				}
				slots[i] = s
				if s.Wait == 0 {
					atOnce++
				}
			}
			if atOnce != tc.atOnce {
				t.Fatalf("%d calls at once, want %d", atOnce, tc.atOnce)
			}
			clk.Advance(sec(0.3))
			p, _ := slots[0].Position(ECSFargateTasks)
			if err := d.Signal(ctx, "ecs", ECSFargateTasks, Signal{Reason: "ThrottlingException", At: t0, Position: p}); err != nil {
				t.Fatal(err)
			}
			if tc.feedback < 0 {
				return
			}
			for i, s := range slots[atOnce:] {
				got, err := d.Recheck(ctx, "ecs", s)
				if err != nil {
					t.Fatal(err)
				}
				q, _ := got.Position(ECSFargateTasks)
				if q.Epoch != 1 || got.At.Before(t0.Add(sec(3.5))) {
					t.Errorf("call %d: epoch %d due %v; want epoch 1, due at 3.5 s or later", atOnce+i+1, q.Epoch, got.At.Sub(t0))
				}
			}
			last, _ := d.Recheck(ctx, "ecs", slots[19])
			// The decrease (×0.85 → 17 per s) takes effect at 0.3 + 2 +
			// 10/17 s, from the first half's end (45 tasks): the 200th task
			// is due 155/17 s after that.
			if want := t0.Add(sec(0.3 + 2 + 10.0/17 + 155.0/17)); last.At.Sub(want).Abs() > time.Millisecond {
				t.Errorf("last call due %v, want %v", last.At.Sub(t0), want.Sub(t0))
			}
		})
	}
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
