package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// GIVEN a low batch booked a minute ahead on the Fargate task bucket and a
// high take served ahead of it
// WHEN the limiter's status is read
// THEN the bucket lists the queue of each lane, in the table and the JSON.
func TestStatusQueuePerLane(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	d := limiter.NewDistributed(limiter.NewMemoryStore(), nil, func(o *limiter.Options) { o.Clock = clk })
	take := func(lane string) limiter.Slot {
		s, err := d.Reserve(ctx, "ecs", []limiter.Take{{Bucket: limiter.ECSFargateTasks, N: 10, Lane: lane}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for take(limiter.LaneLow).Wait < 60*time.Second {
	}
	take(limiter.LaneHigh)
	st, err := d.Status(ctx, "ecs")
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	lanes := map[string]limiter.LaneStatus{}
	for _, l := range st[0].Lanes {
		lanes[l.Lane] = l
	}
	if h := lanes[limiter.LaneHigh]; h.QueueSeconds < 2 || h.QueueSeconds > 3 || h.Queued <= 0 {
		t.Errorf("high lane %+v, want 2–3 s ahead", h)
	}
	if l := lanes[limiter.LaneLow]; l.QueueSeconds < 55 || l.Queued < 1000 {
		t.Errorf("low lane %+v, want ≥ 55 s and ≥ 1000 tokens ahead", l)
	}
	if _, ok := lanes[limiter.LaneNormal]; ok {
		t.Errorf("normal lane listed with nothing queued: %+v", st[0].Lanes)
	}
	row := limiterRow(st[0])
	for _, want := range []string{"; lanes high ≤", "low ≤"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	b, _ := json.Marshal(st[0])
	if !strings.Contains(string(b), `"lanes":[{"lane":"high","queued":`) {
		t.Errorf("JSON %s lacks the lanes", b)
	}
}
