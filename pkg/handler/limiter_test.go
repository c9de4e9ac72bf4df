package handler

import (
	"context"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// The peek must announce exactly the wait the next Reserve gets, after a
// throttle signal too (the adaptive rate).
func TestStorePeekerMatchesReserve(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	store := limiter.NewMemoryStore()
	d := limiter.NewDistributed(store, nil, func(o *limiter.Options) { o.Clock = clk; o.BurstFeedback = -1 })
	p := StorePeeker{Limiter: d}
	service, takes := takesFor(launch.KindECS, 10, true, "")
	for i := range 12 {
		if i == 6 {
			if err := d.Signal(ctx, service, limiter.ECSFargateTasks, limiter.Signal{Reason: "ThrottlingException", At: clk.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		peek, err := p.NextSlot(ctx, service, takes)
		if err != nil {
			t.Fatal(err)
		}
		slot, err := d.Reserve(ctx, service, takes)
		if err != nil {
			t.Fatal(err)
		}
		// Reserve rounds the slot's time; the peek may differ by that.
		if got := slot.At.Sub(clk.Now()); (got - peek).Abs() > time.Millisecond {
			t.Fatalf("call %d: peek %v, reserve waits %v", i, peek, got)
		}
	}
}
