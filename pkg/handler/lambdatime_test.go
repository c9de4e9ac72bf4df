package handler

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// The invocation's deadline is a real instant; the slot wait is on the
// handler's clock. On the local stack at time scale 20 a 30 s timeout is
// 1.5 s of real time: a 1 s wait still fits (old code compared 1.5 s real
// with 1 s + the 5 s reserve, and deferred every near slot).
func TestLambdaTooNearOnTheHandlersClock(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(1500*time.Millisecond))
	defer cancel()
	tests := []struct {
		name string
		clk  clock.Clock
		wait time.Duration
		want bool
	}{
		{"scaled 20: 1 s of 30 s", clock.NewScaled(time.Now(), 20), time.Second, false},
		{"scaled 20: 26 s of 30 s", clock.NewScaled(time.Now(), 20), 26 * time.Second, true},
		{"real: 1 s of 1.5 s", clock.Real{}, time.Second, true},
		{"no wait", clock.Real{}, 0, false},
	}
	for _, tt := range tests {
		if got := lambdaTooNear(ctx, tt.clk, tt.wait); got != tt.want {
			t.Errorf("%s: lambdaTooNear = %v, want %v", tt.name, got, tt.want)
		}
	}
}
