package limiter_test

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
	"github.com/throttle-handler/throttle-handler/pkg/limiter/limitertest"
)

// TestDynamoStore runs the conformance suite on dynalite through the real
// aws-sdk-go-v2 client.
func TestDynamoStore(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDBTable(t, "th-test")
	var s *limiter.DynamoStore
	limitertest.TestStore(t, func(*testing.T) limiter.Store {
		s = limiter.NewDynamoStore(c, "th-test")
		return s
	})
	t.Cleanup(func() { t.Logf("DynamoDB calls: %+v", s.Stats()) })
}

// TestColdProcessReservesWithOneWrite: a process that has never touched the
// item (a new Lambda sandbox) learns it with one read and then takes its
// slot with one conditional write, on a busy bucket as on an idle one: the
// read informs the write's branch guess.
func TestColdProcessReservesWithOneWrite(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDBTable(t, "th-test")
	takes := []limiter.Take{{Bucket: limiter.ECSRunTask, N: 1}, {Bucket: limiter.ECSFargateRunTask, N: 1}, {Bucket: limiter.ECSFargateTasks, N: 10}}
	for _, tc := range []struct {
		name  string
		ahead int // reservations made before by another process
	}{
		{"idle bucket", 0},
		{"busy bucket", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			scope := func(o *limiter.Options) { o.Clock = clk; o.AccountScope = "cold/" + tc.name }
			warm := limiter.NewDistributed(limiter.NewDynamoStore(c, "th-test"), nil, scope)
			for range tc.ahead {
				if _, err := warm.Reserve(context.Background(), "ecs", takes); err != nil {
					t.Fatal(err)
				}
			}
			s := limiter.NewDynamoStore(c, "th-test")
			cold := limiter.NewDistributed(s, nil, scope)
			if _, err := cold.Reserve(context.Background(), "ecs", takes); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Reads != 1 || st.Writes != 1 || st.Conflicts != 0 {
				t.Fatalf("cold reservation: %+v; want 1 read, 1 write, no conflict", st)
			}
		})
	}
}
