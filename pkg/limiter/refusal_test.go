package limiter

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// The limiter's refusals have the behaviour pkg/failure reads; the
// limiter itself imports no failure package (only this test does).
var (
	_ interface {
		RetryAfter() time.Duration
		LimiterBusy() bool
	} = (*BacklogFullError)(nil)
	_ failure.LimiterError = (*BacklogFullError)(nil)
	_ failure.LimiterError = (*StoreBusyError)(nil)
)

// TestRefusalsClassified: Reserve's real refusals, through
// failure.ClassifyError, keep their class and their wait.
func TestRefusalsClassified(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	takes := []Take{{Bucket: EC2RunInstances, N: 1}}
	tests := map[string]struct {
		refuse func(t *testing.T) error
		class  failure.Class
		code   string
		reuse  bool
		delay  time.Duration
	}{
		"backlog full": {
			refuse: func(t *testing.T) error {
				d, _ := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.MaxAhead = 10 * time.Second })
				for range 100 {
					if _, err := d.Reserve(ctx, "ec2", takes); err != nil {
						return err
					}
				}
				t.Fatal("100 reservations at 2/s within 10 s ahead, want a full backlog")
				return nil
			},
			// 4 of the burst and 20 ahead at 2/s: the 25th is 500 ms too far.
			class: failure.Throttled, code: failure.CodeLimiterBacklogFull, delay: time.Second, // the class minimum: longer than 500 ms
		},
		"backlog far too full": {
			refuse: func(t *testing.T) error {
				d, _ := newTestDistributed(t, NewMemoryStore(), nil, func(o *Options) { o.MaxAhead = 10 * time.Second })
				_, err := d.Reserve(ctx, "ec2", []Take{{Bucket: EC2Instances, N: 900}, {Bucket: EC2RunInstances, N: 1}})
				if err != nil {
					return err
				}
				_, err = d.Reserve(ctx, "ec2", []Take{{Bucket: EC2Instances, N: 50}, {Bucket: EC2RunInstances, N: 1}})
				return err
			},
			// ec2:Instances 1000 / 2 per s, 900 at once: 50 more are 25 s away, 15 s beyond the bound.
			class: failure.Throttled, code: failure.CodeLimiterBacklogFull, delay: 15 * time.Second,
		},
		"store busy": {
			refuse: func(t *testing.T) error {
				store := &flaky{Store: NewMemoryStore()}
				store.down.Store(true)
				store.hang.Store(true)
				d, _ := newTestDistributed(t, store, nil, func(o *Options) {
					o.StoreTimeout = 10 * time.Millisecond
					o.BusyRetry = 7 * time.Second
				})
				_, err := d.Reserve(ctx, "ec2", takes)
				return err
			},
			// Transient: the retry keeps its attempt and token.
			class: failure.Transient, code: failure.CodeLimiterStoreBusy, reuse: true, delay: 7 * time.Second,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tt.refuse(t)
			t.Log(err)
			got := failure.ClassifyError(err)
			if got.Class != tt.class || got.Code != tt.code || got.ReuseToken != tt.reuse || got.MinDelay() != tt.delay {
				t.Errorf("got %s/%s reuse=%v minDelay=%v, want %s/%s reuse=%v minDelay=%v (%v)",
					got.Class, got.Code, got.ReuseToken, got.MinDelay(), tt.class, tt.code, tt.reuse, tt.delay, err)
			}
		})
	}
}
