package limiter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

func ExampleLocal() {
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	l := limiter.NewLocal(10, 2, func(o *limiter.LocalOptions) { o.Clock = clk })
	fmt.Println(l.Allow(), l.Allow(), l.Allow())
	r := l.ReserveN(time.Time{}, 1)
	fmt.Println(r.Delay())
	r.Cancel() // not used after all: the token goes back
	clk.Advance(100 * time.Millisecond)
	fmt.Println(l.Allow())
	// Output:
	// true true false
	// 100ms
	// true
}

func ExampleDistributed() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	// On AWS: limiter.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), cfg.Table).
	d := limiter.NewDistributed(limiter.NewMemoryStore(), nil, func(o *limiter.Options) {
		o.Clock = clk
		o.AccountScope = "us-east-1"
	})
	// A Fargate RunTask call launching 10 tasks draws on three buckets at once.
	takes := []limiter.Take{
		{Bucket: limiter.ECSRunTask, N: 1},
		{Bucket: limiter.ECSFargateRunTask, N: 1},
		{Bucket: limiter.ECSFargateTasks, N: 10},
	}
	for range 12 {
		s, err := d.Reserve(ctx, "ecs", takes)
		if err != nil {
			panic(err)
		}
		if s.Wait > 0 { // the slot is held: defer the call rather than sleep
			fmt.Println("deferred", s.Wait)
		}
	}
	_ = d.Signal(ctx, "ecs", limiter.ECSFargateTasks, limiter.Signal{Reason: "ThrottlingException"})
	r, _ := d.Rate("ecs", limiter.ECSFargateTasks)
	fmt.Printf("Fargate tasks now at %.0f per s\n", float64(r))
	// The first half of the burst (40 tasks) goes at once; the rest waits
	// 3.5 s for feedback on it (Options.BurstFeedback), spread over 0.25 s,
	// then follows the rate.

	// Output:
	// deferred 3.527777777s
	// deferred 3.583333333s
	// deferred 3.638888888s
	// deferred 3.694444444s
	// deferred 3.75s
	// deferred 3.75s
	// deferred 3.75s
	// deferred 3.75s
	// Fargate tasks now at 17 per s
}
