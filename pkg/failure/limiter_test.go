package failure

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// refusal is a limiter's "not now" as this package sees it: only the
// behaviour (pkg/failure imports no limiter).
type refusal struct {
	busy  bool
	after time.Duration
	err   error
}

func (r *refusal) Error() string             { return fmt.Sprintf("limiter: not now (busy %v): %v", r.busy, r.err) }
func (r *refusal) Unwrap() error             { return r.err }
func (r *refusal) RetryAfter() time.Duration { return r.after }
func (r *refusal) LimiterBusy() bool         { return r.busy }

var _ LimiterError = (*refusal)(nil)

// afterOnly has a RetryAfter but no LimiterBusy: not a LimiterError.
type afterOnly struct{}

func (afterOnly) Error() string             { return "come back later" }
func (afterOnly) RetryAfter() time.Duration { return time.Minute }

func TestClassifyLimiterError(t *testing.T) {
	t.Parallel()
	full := func(d time.Duration) error { return &refusal{after: d} }
	busy := func(d time.Duration, err error) error { return &refusal{busy: true, after: d, err: err} }
	tests := map[string]struct {
		err   error
		class Class
		code  string
		reuse bool
		delay float64
		src   Source
	}{
		"backlog full":                   {full(3500 * time.Millisecond), Throttled, CodeLimiterBacklogFull, false, 3.5, SourceSDK},
		"backlog full, short hint":       {full(200 * time.Millisecond), Throttled, CodeLimiterBacklogFull, false, delayThrottled, SourceSDK},
		"backlog full, wrapped":          {fmt.Errorf("runtask: reserve: %w", full(90*time.Second)), Throttled, CodeLimiterBacklogFull, false, 90, SourceSDK},
		"store busy on a timeout":        {busy(5*time.Second, context.DeadlineExceeded), Transient, CodeLimiterStoreBusy, true, 5, SourceSDK},
		"store busy on a DynamoDB code":  {busy(5*time.Second, &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}), Transient, CodeLimiterStoreBusy, true, 5, SourceSDK},
		"store busy, no hint":            {busy(0, context.DeadlineExceeded), Transient, CodeLimiterStoreBusy, true, delayTransient, SourceSDK},
		"a named error around it wins":   {&ThrottledError{Detail{Code: "Custom", RetryAfter: 2 * time.Second, Err: full(time.Minute)}}, Throttled, "Custom", false, 2, SourceLaunch},
		"RetryAfter alone is no limiter": {afterOnly{}, Transient, "Unknown", true, delayTransient, SourceSDK},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := ClassifyError(tt.err)
			if got.Class != tt.class || got.Code != tt.code || got.ReuseToken != tt.reuse || got.MinDelaySeconds != tt.delay || !got.Retryable {
				t.Errorf("got %s/%s reuse=%v delay=%v retryable=%v, want %s/%s reuse=%v delay=%v retryable=true (%s)",
					got.Class, got.Code, got.ReuseToken, got.MinDelaySeconds, got.Retryable, tt.class, tt.code, tt.reuse, tt.delay, got.Message)
			}
			if got.Source != tt.src || got.Message == "" {
				t.Errorf("source %q message %q, want %s and the error's text", got.Source, got.Message, tt.src)
			}
		})
	}
	// The chain DefaultErrorClassifiers returns answers the same.
	if got, ok := DefaultErrorClassifiers().ClassifyError(full(3 * time.Second)); !ok || got.Code != CodeLimiterBacklogFull || got.MinDelay() != 3*time.Second {
		t.Errorf("DefaultErrorClassifiers: got %+v ok=%v", got, ok)
	}
	if !errors.Is(busy(time.Second, context.DeadlineExceeded), context.DeadlineExceeded) {
		t.Error("the fake must unwrap, as pkg/limiter's StoreBusyError does")
	}
}
