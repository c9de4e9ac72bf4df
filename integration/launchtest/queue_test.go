package launchtest

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
)

// fastQueue is an eventQueue on a clock 1000 times faster than real time.
func fastQueue(handle func(context.Context, json.RawMessage) (handler.EventOutput, error)) *eventQueue {
	return &eventQueue{clk: clock.NewScaled(time.Now(), 1000), handle: handle}
}

const stoppedEvent = `{"detail-type":"ECS Task State Change","detail":{"stopCode":"TaskFailedToStart"}}`

// TestEventQueueNeverDropsAnEvent: a relaunch the retry handler cannot make
// for longer than 50 deliveries (capacity out for minutes) is delivered
// until it succeeds; dropping it lost the task in TestLaunch2000Tasks.
func TestEventQueueNeverDropsAnEvent(t *testing.T) {
	var calls atomic.Int64
	q := fastQueue(func(context.Context, json.RawMessage) (handler.EventOutput, error) {
		if calls.Add(1) <= 80 {
			return handler.EventOutput{}, &failure.CapacityError{Detail: failure.Detail{Code: "RESOURCE:ENI", Op: "ecs:RunTask"}}
		}
		return handler.EventOutput{Action: handler.EventRelaunched}, nil
	})
	_ = q.Put(context.Background(), []byte(stoppedEvent))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	actions := map[string]int{}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		q.work(wctx, func(a string) { mu.Lock(); actions[a]++; mu.Unlock() })
	})
	q.drain(ctx)
	stop()
	wg.Wait()
	if ctx.Err() != nil || actions[handler.EventRelaunched] != 1 || calls.Load() != 81 {
		t.Fatalf("relaunched %d times after %d deliveries (%v); actions %v", actions[handler.EventRelaunched], calls.Load(), ctx.Err(), actions)
	}
}

// TestSettleWaitsPastTheLastRelaunch: a relaunch made while the queue
// drains (its event came back late) launches a task that fails to start
// 35 s later; settle must not return before that event is handled.
func TestSettleWaitsPastTheLastRelaunch(t *testing.T) {
	var q *eventQueue
	var calls atomic.Int64
	q = fastQueue(func(context.Context, json.RawMessage) (handler.EventOutput, error) {
		switch calls.Add(1) {
		case 1: // the slot is 50 s away: the event comes back then
			return handler.EventOutput{}, &failure.ThrottledError{Detail: failure.Detail{Code: "SlotDeferred", RetryAfter: 50 * time.Second}}
		case 2: // relaunched; the new task fails to start 35 s later
			go func() {
				_ = q.clk.Sleep(context.Background(), 35*time.Second)
				_ = q.Put(context.Background(), []byte(stoppedEvent))
			}()
		}
		return handler.EventOutput{Action: handler.EventRelaunched}, nil
	})
	_ = q.Put(context.Background(), []byte(stoppedEvent))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { q.work(wctx, func(string) {}) })
	q.settle(ctx, 45*time.Second)
	settled := calls.Load()
	stop()
	wg.Wait()
	if settled != 3 || q.count() != 2 || !q.idle() {
		t.Fatalf("settled after %d deliveries of %d events (idle %v); want 3 of 2", settled, q.count(), q.idle())
	}
}
