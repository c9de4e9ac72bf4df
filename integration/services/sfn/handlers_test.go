package sfn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/services/servicestest"
	"github.com/throttle-handler/throttle-handler/integration/services/sfn"
)

// TransientError and PermanentError are named like the product's failure
// types: Step Functions matches the errorType, the Go type name.
type TransientError struct{ Msg string }

func (e *TransientError) Error() string { return e.Msg }

type PermanentError struct{ Msg string }

func (e *PermanentError) Error() string { return e.Msg }

type workItem struct {
	Value         int    `json:"value"`
	Key           string `json:"key"`
	FailTimes     int    `json:"failTimes"`     // TransientError this many times per key
	ThrottleTimes int    `json:"throttleTimes"` // 429 from Lambda this many times per key
	Permanent     bool   `json:"permanent"`
	Pad           int    `json:"pad"`   // bytes of padding in the output
	Block         bool   `json:"block"` // wait for worker.release
}

// worker is the "work" function: it doubles item.value and fails, pads or
// blocks on request. It never sleeps: a blocked call waits for release.
type worker struct {
	mu       sync.Mutex
	attempts map[string]int
	throttle map[string]int

	inflight, peak, calls atomic.Int64
	release               chan struct{}
}

func newWorker() *worker {
	return &worker{attempts: map[string]int{}, throttle: map[string]int{}, release: make(chan struct{})}
}

func (w *worker) handle(ctx context.Context, in struct {
	Item workItem `json:"item"`
}) (map[string]any, error) {
	w.calls.Add(1)
	n := w.inflight.Add(1)
	defer w.inflight.Add(-1)
	for p := w.peak.Load(); n > p && !w.peak.CompareAndSwap(p, n); p = w.peak.Load() {
	}
	it := in.Item
	if it.Block {
		select {
		case <-w.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if it.Permanent {
		return nil, &PermanentError{Msg: "bad input"}
	}
	if it.FailTimes > 0 {
		w.mu.Lock()
		w.attempts[it.Key]++
		a := w.attempts[it.Key]
		w.mu.Unlock()
		if a <= it.FailTimes {
			return nil, &TransientError{Msg: fmt.Sprintf("try again (attempt %d)", a)}
		}
	}
	out := map[string]any{"value": it.Value * 2}
	if it.Pad > 0 {
		out["pad"] = strings.Repeat("x", it.Pad)
	}
	return out, nil
}

// fault throttles the first throttleTimes invocations of an item's key.
func (w *worker) fault(_ context.Context, _ string, payload []byte) lambda.FaultKind {
	var in struct {
		Item workItem `json:"item"`
	}
	if json.Unmarshal(payload, &in) != nil || in.Item.ThrottleTimes == 0 {
		return lambda.FaultNone
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.throttle[in.Item.Key]++
	if w.throttle[in.Item.Key] <= in.Item.ThrottleTimes {
		return lambda.FaultThrottle
	}
	return lambda.FaultNone
}

// newStack starts the services with the work function and the test
// machines of testdata defined.
func newStack(t testing.TB, w *worker, opt func(*services.Options)) (*servicestest.Stack, map[string]string) {
	t.Helper()
	o := services.Options{
		StateMachinesDir: "-", NoDynamoDB: true,
		Resolver: func(name string) (awslambda.Handler, error) {
			if name == "work" {
				return awslambda.NewHandler(w.handle), nil
			}
			return nil, fmt.Errorf("no function %s", name)
		},
		Lambda: func(lo *lambda.Options) { lo.Fault = w.fault },
	}
	if opt != nil {
		opt(&o)
	}
	st := servicestest.New(t, o)
	arns, err := st.SFN.LoadDir(context.Background(), "testdata", "throttle-handler", nil)
	if err != nil {
		t.Fatal(err)
	}
	return st, arns
}

var _ = sfn.ValidName
