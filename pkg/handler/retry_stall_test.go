package handler

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// TestStallBudget: the stall loop of a chunk ends about at the deadline
// (waits plus the failing function's own retries), whatever its length,
// and within a bounded number of loops.
func TestStallBudget(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		left      time.Duration
		wantLimit int
		wantWait  int
	}{
		{name: "deadline passed: one stall", left: -time.Minute, wantLimit: 1, wantWait: 60},
		{name: "two minutes: the shortest wait", left: 2 * time.Minute, wantLimit: 1, wantWait: 60},
		{name: "ten minutes", left: 10 * time.Minute, wantLimit: 5, wantWait: 75},
		{name: "one hour", left: time.Hour, wantLimit: 8, wantWait: 450},
		{name: "seven days: the wait is capped", left: 7 * 24 * time.Hour, wantLimit: 166, wantWait: 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := NewStallBudget(now.Add(tt.left), now)
			if b.Limit != tt.wantLimit || b.WaitSeconds != tt.wantWait {
				t.Errorf("got %+v, want limit %d, waitSeconds %d", b, tt.wantLimit, tt.wantWait)
			}
			loops := time.Duration(b.Limit) * (time.Duration(b.WaitSeconds)*time.Second + stallRetryTime)
			if tt.left > 0 && (loops < tt.left || loops > tt.left+time.Duration(b.WaitSeconds)*time.Second+stallRetryTime) {
				t.Errorf("stalls last about %v, want within one loop above the %v left", loops, tt.left)
			}
		})
	}
}

// plan answers the chunks' stall budget beside the plan, for the time left
// when it answers (the same request planned again gets the time left then),
// in the JSON the state machine's Map reads ($.stall.limit, waitSeconds).
func TestPlanAnswersStallBudget(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	clk := clock.NewFake(t0)
	h := NewPlanHandler(st, func(o *HandlerOptions) { o.Clock = clk })
	b, _ := os.ReadFile("../launch/testdata/request-ecs-ec2.json")
	for _, at := range []time.Duration{0, 50 * time.Minute} {
		clk.Set(t0.Add(at))
		p, err := h.Handle(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		if want := NewStallBudget(p.Deadline, t0.Add(at)); p.Stall != want {
			t.Errorf("at +%v: stall %+v, want %+v", at, p.Stall, want)
		}
		raw, _ := json.Marshal(p)
		var m struct {
			Chunks []int `json:"chunks"`
			Stall  struct {
				Limit       *int `json:"limit"`
				WaitSeconds *int `json:"waitSeconds"`
			} `json:"stall"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Chunks) != 251 || m.Stall.Limit == nil || m.Stall.WaitSeconds == nil {
			t.Errorf("JSON %s: want chunks and stall.limit, stall.waitSeconds", raw)
		}
	}
}
