package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// TestCotenantCaller follows "Amazon ECS API request throttling": one token
// bucket per action category per account and Region, shared by every caller
// in the account. The co-tenant caller draws half of the RunTask bucket (20
// burst, 40 per s: 2 tokens per 100 ms step) from the same bucket as the
// product's RunTask calls (EC2 launch type, count 1: one RunTask token
// each). A product that draws only what the co-tenant leaves (its share of
// the burst taken at the start, 2 of the 4 tokens refilled each step while
// it is there) is never refused and never refuses the co-tenant; one that
// drains the bucket just before each co-tenant call throttles it on every
// call but its first.
func TestCotenantCaller(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		start, stop float64 // seconds; stop 0: never
		greedy      bool
		// co-tenant calls on the RunTask bucket, and how many throttled
		calls, minThrottled, maxThrottled int64
	}{
		// 31 calls: its burst share at 0 s, then one every 100 ms to 3 s.
		{"there all along, polite", 0, 0, false, 31, 0, 0},
		{"there all along, greedy", 0, 0, true, 31, 30, 30},
		// No burst for a late arrival: calls from 1.1 s to 3 s.
		{"arrives at 1 s, polite", 1, 0, false, 20, 0, 0},
		{"arrives at 1 s, greedy", 1, 0, true, 20, 20, 20},
		// Its burst share, then calls to 1 s.
		{"leaves at 1 s, polite", 0, 1, false, 11, 0, 0},
		{"leaves at 1 s, greedy", 0, 1, true, 11, 10, 10},
		{"arrives at 1 s, leaves at 2 s, greedy", 1, 2, true, 10, 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Buckets: map[string]sim.Bucket{sim.BucketRunTask: {Burst: 20, Rate: 40}},
				CotenantShare: 0.5, CotenantStartSeconds: tc.start, CotenantStopSeconds: tc.stop})
			present := func(s float64) bool { return s > tc.start && (tc.stop == 0 || s <= tc.stop) }
			if tc.greedy {
				drain(t, e)
			} else if tc.start == 0 {
				take(t, e, 10) // the burst the co-tenant left
			} else {
				take(t, e, 20)
			}
			for k := 1; k <= 30; k++ {
				if tc.greedy {
					e.step(t, 99*time.Millisecond)
					drain(t, e)
					e.step(t, time.Millisecond)
					continue
				}
				e.step(t, 100*time.Millisecond)
				if present(float64(k) / 10) {
					take(t, e, 2)
				} else {
					take(t, e, 4)
				}
			}
			st := e.sim.Stats()
			b := st.Buckets[sim.BucketRunTask]
			if b.CotenantCalls != tc.calls || b.CotenantThrottled < tc.minThrottled || b.CotenantThrottled > tc.maxThrottled {
				t.Errorf("co-tenant on RunTask: %d calls, %d throttled; want %d calls, %d–%d throttled",
					b.CotenantCalls, b.CotenantThrottled, tc.calls, tc.minThrottled, tc.maxThrottled)
			}
			var calls, throttled int64
			for _, b := range st.Buckets {
				calls += b.CotenantCalls
				throttled += b.CotenantThrottled
			}
			if st.CotenantCalls != calls || st.CotenantThrottledCalls != throttled || st.CotenantThrottledCalls != b.CotenantThrottled {
				t.Errorf("Stats: %d calls, %d throttled; want the buckets' sums %d, %d, all throttles on RunTask (%d)",
					st.CotenantCalls, st.CotenantThrottledCalls, calls, throttled, b.CotenantThrottled)
			}
		})
	}
}

// TestCotenantCallerSpares covers what the co-tenant does not draw on:
// hidden buckets (ECS's own calls, "Amazon ECS API request throttling"
// lists only the account's API actions) and disabled ones; and that
// SetCotenantTraffic replaces the caller, share 0 removing it.
func TestCotenantCallerSpares(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Buckets: map[string]sim.Bucket{sim.BucketClusterRead: {}}, CotenantShare: 0.3})
	e.step(t, time.Second)
	st := e.sim.Stats()
	for name, b := range st.Buckets {
		hidden := len(name) > 7 && name[:7] == "hidden:"
		switch {
		case hidden || name == sim.BucketClusterRead:
			if b.CotenantCalls != 0 || b.Share != 0 {
				t.Errorf("%s: %d co-tenant calls at share %v, want none", name, b.CotenantCalls, b.Share)
			}
		case b.CotenantCalls != 11 || b.CotenantThrottled != 0 || b.Share != 0.3:
			t.Errorf("%s: %d co-tenant calls (%d throttled) at share %v, want 11 (0) at 0.3", name, b.CotenantCalls, b.CotenantThrottled, b.Share)
		}
	}
	if err := e.sim.SetCotenantTraffic(0, e.clk.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.step(t, time.Second)
	if got := e.sim.Stats().CotenantCalls; got != st.CotenantCalls {
		t.Errorf("after share 0: %d co-tenant calls, want still %d", got, st.CotenantCalls)
	}
	if cfg := e.sim.Config(); cfg.CotenantShare != 0 {
		t.Errorf("Config().CotenantShare = %v after share 0", cfg.CotenantShare)
	}
}

func TestCotenantTrafficErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	now := e.clk.Now()
	for name, tc := range map[string]struct {
		share       float64
		from, until time.Time
	}{
		"share of 1":          {1, now, time.Time{}},
		"negative share":      {-0.1, now, time.Time{}},
		"leaves before it is": {0.3, now.Add(time.Second), now},
	} {
		if err := e.sim.SetCotenantTraffic(tc.share, tc.from, tc.until); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for name, cfg := range map[string]sim.Config{
		"negative start":         {CotenantShare: 0.3, CotenantStartSeconds: -1},
		"stop before the start":  {CotenantShare: 0.3, CotenantStartSeconds: 5, CotenantStopSeconds: 4},
		"stop equals the start":  {CotenantShare: 0.3, CotenantStartSeconds: 5, CotenantStopSeconds: 5},
		"negative stop":          {CotenantShare: 0.3, CotenantStopSeconds: -2},
		"share of 1 in a config": {CotenantShare: 1},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
	}
}

// take makes n RunTask calls, each of which must be admitted.
func take(t *testing.T, e *env, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := e.ecs.RunTask(context.Background(), runTaskEC2("")); err != nil {
			t.Fatalf("call %d of %d at +%v: %v", i+1, n, e.clk.Now().Sub(t0), err)
		}
	}
}

// drain makes RunTask calls until one is throttled.
func drain(t *testing.T, e *env) {
	t.Helper()
	for {
		_, err := e.ecs.RunTask(context.Background(), runTaskEC2(""))
		if isThrottle(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
