package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// TestCotenantCaller follows "Amazon ECS API request throttling" (one token
// bucket per action category per account and Region, shared by every
// caller in the account) and "AWS Fargate throttling quotas" (the Fargate
// task bucket; 100 burst and 19 tasks per s here, so that no refill lands
// on a round of co-tenant calls exactly). The co-tenant draws half of it,
// 9.5 tasks per s, in RunTask calls of ten tasks as the product launches
// them (count at most 10: "RunTask", Amazon ECS API Reference). A product
// that launches only what the co-tenant leaves (the burst, less the
// co-tenant's half when it is there from the start, then 19 or 9.5 tasks
// per s) is never refused and never refuses it; one that calls every 10 ms
// and takes every ten tasks the bucket holds throttles every call the
// co-tenant makes after its burst, each retry 1 s later included.
func TestCotenantCaller(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		start, stop float64 // seconds; stop 0: never
		greedy      bool
		runTime     bool // SetCotenantTraffic at 0 s instead of the Config
		// co-tenant calls on the task bucket in 5 s, and how many were throttled
		calls, throttled int64
	}{
		// Its burst share (5 calls), then a call whenever 10 tasks are due:
		// at 1.1, 2.2, 3.2 and 4.3 s.
		{"there all along, polite", 0, 0, false, false, 9, 0},
		// Throttled at 1.1 s, and again each time it retries, 1 s later.
		{"there all along, greedy", 0, 0, true, false, 9, 4},
		// No burst for a late arrival: 10 tasks due at 2.1, 3.2 and 4.2 s.
		{"arrives at 1 s, polite", 1, 0, false, false, 3, 0},
		{"arrives at 1 s, greedy", 1, 0, true, false, 3, 3},
		{"leaves at 2 s, polite", 0, 2, false, false, 6, 0},
		{"leaves at 2 s, greedy", 0, 2, true, false, 6, 1},
		{"there from 1 s to 3.5 s, greedy", 1, 3.5, true, false, 2, 2},
		{"set at run time, there all along, polite", 0, 0, false, true, 9, 0},
		{"set at run time, from 1 s to 3.5 s, greedy", 1, 3.5, true, true, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := sim.Config{Buckets: map[string]sim.Bucket{sim.BucketFargateTasks: {Burst: 100, Rate: 19}},
				CotenantShare: 0.5, CotenantStartSeconds: tc.start, CotenantStopSeconds: tc.stop}
			if tc.runTime {
				cfg.CotenantShare, cfg.CotenantStartSeconds, cfg.CotenantStopSeconds = 0, 0, 0
			}
			e := newEnv(t, cfg)
			if tc.runTime {
				var until time.Time
				if tc.stop > 0 {
					until = t0.Add(time.Duration(tc.stop * float64(time.Second)))
				}
				if err := e.sim.SetCotenantTraffic(0.5, t0.Add(time.Duration(tc.start*float64(time.Second))), until); err != nil {
					t.Fatal(err)
				}
			}
			polite := 100.0 // tasks the co-tenant leaves us, not launched yet
			if tc.start == 0 {
				polite = 50
			}
			for k := 0; k <= 500; k++ { // 10 ms steps
				if k > 0 {
					e.step(t, 10*time.Millisecond)
				}
				if tc.greedy {
					drain(t, e)
					continue
				}
				if k > 0 && k%10 == 0 {
					if s := float64(k) / 100; s > tc.start && (tc.stop == 0 || s <= tc.stop) {
						polite += 0.95
					} else {
						polite += 1.9
					}
				}
				for ; polite >= 10-1e-9; polite -= 10 {
					if _, err := e.ecs.RunTask(context.Background(), fargate10()); err != nil {
						t.Fatalf("polite call at +%v: %v", e.clk.Now().Sub(t0), err)
					}
				}
			}
			st := e.sim.Stats()
			b := st.Buckets[sim.BucketFargateTasks]
			if b.CotenantCalls != tc.calls || b.CotenantThrottled != tc.throttled {
				t.Errorf("co-tenant on the task bucket: %d calls, %d throttled; want %d, %d", b.CotenantCalls, b.CotenantThrottled, tc.calls, tc.throttled)
			}
			var calls int64
			for _, b := range st.Buckets {
				calls += b.CotenantCalls
			}
			if st.CotenantCalls != calls || st.CotenantThrottledCalls != b.CotenantThrottled {
				t.Errorf("Stats: %d calls, %d throttled; want the buckets' %d calls, every throttle on the task bucket (%d)",
					st.CotenantCalls, st.CotenantThrottledCalls, calls, b.CotenantThrottled)
			}
		})
	}
}

// TestCotenantCallerSpares covers which buckets the co-tenant calls on:
// every published one ("Amazon ECS API request throttling", "Request
// throttling for the Amazon EC2 API"), one request a call, but not the
// hidden ones (ECS's own calls) or disabled ones; and that
// SetCotenantTraffic replaces it, share 0 removing it.
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
		case b.CotenantCalls == 0 || b.CotenantThrottled != 0 || b.Share != 0.3:
			t.Errorf("%s: %d co-tenant calls (%d throttled) at share %v, want some (none) at 0.3", name, b.CotenantCalls, b.CotenantThrottled, b.Share)
		}
	}
	// RunTask (100 burst, 40 per s): 30 calls for its burst share, then 12 a second.
	if got := st.Buckets[sim.BucketRunTask].CotenantCalls; got != 42 {
		t.Errorf("RunTask: %d co-tenant calls in 1 s, want 30 + 12", got)
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
		"leaves before now":   {0.3, time.Time{}, now.Add(-time.Second)},
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

// drain launches ten Fargate tasks at a time until a call is throttled.
func drain(t *testing.T, e *env) {
	t.Helper()
	for {
		_, err := e.ecs.RunTask(context.Background(), fargate10())
		if isThrottle(err) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
