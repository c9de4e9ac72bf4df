package handler

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// GIVEN a low-priority batch that booked the Fargate buckets two minutes
// ahead
// WHEN a chunk of a request of each priority asks for its slot
// THEN a high (or normal) chunk is served ahead of the batch, within the
// in-flight horizon and its own increment, and keeps its lane through the
// Wait; a low one queues behind the batch.
func TestRunTaskLaneAheadOfBookedBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		priority string
		lo, hi   time.Duration
	}{
		{launch.PriorityHigh, 2 * time.Second, 3 * time.Second},
		{"", 2 * time.Second, 3 * time.Second}, // normal is ahead of low too
		{launch.PriorityLow, 120 * time.Second, 122 * time.Second},
	} {
		t.Run("priority "+tc.priority, func(t *testing.T) {
			t.Parallel()
			e := newRealLimiterEnv(t, "", 2*time.Second)
			_, batch := takesFor(launch.KindECS, 10, true, limiter.LaneLow)
			for {
				s, err := e.d.Reserve(context.Background(), ServiceECS, batch)
				if err != nil {
					t.Fatal(err)
				}
				if s.Wait >= 120*time.Second {
					break
				}
			}
			r := launchtest.ECSRequest("r1", 10)
			r.Priority = tc.priority
			plan(t, e.st, r, t0)
			out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
			if err != nil || out.Status != StatusDeferred || out.Slot == nil {
				t.Fatalf("got %+v, %v; want deferred with a slot", out, err)
			}
			if w := out.Slot.At.Sub(t0); w < tc.lo || w > tc.hi {
				t.Errorf("slot %v away, want within [%v, %v]", w, tc.lo, tc.hi)
			}
			b, _ := json.Marshal(out.Slot)
			var back limiter.Slot
			if err := json.Unmarshal(b, &back); err != nil || back.Lane != r.Lane() && !(back.Lane == "" && r.Lane() == launch.PriorityNormal) {
				t.Errorf("slot through the Wait: %s (%v), want lane %s", b, err, r.Lane())
			}
			if tc.priority != launch.PriorityNormal && tc.priority != "" && !strings.Contains(string(b), `"lane":"`+tc.priority+`"`) {
				t.Errorf("slot JSON %s carries no lane %q", b, tc.priority)
			}
			// After the Wait, the slot (rechecked in its lane) is called.
			e.clk.Advance(time.Duration(out.WaitSeconds) * time.Second)
			calls := recordCalls(e.runTaskEnv, e.clk)
			again, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Slot: &back})
			if err != nil {
				t.Fatal(err)
			}
			if again.Status != StatusLaunched || len(*calls) != 1 {
				t.Errorf("after the Wait: %s with %d calls, want launched by one call", again.Status, len(*calls))
			}
		})
	}
}
