package sfn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/services/servicestest"
	"github.com/throttle-handler/throttle-handler/integration/services/sfn"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
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

	inflight, peak, calls, throttled atomic.Int64
	release                          chan struct{}
	// tokens receives the task tokens the function is invoked with.
	tokens chan string
}

func newWorker() *worker {
	return &worker{attempts: map[string]int{}, throttle: map[string]int{}, release: make(chan struct{}), tokens: make(chan string, 16)}
}

type workInput struct {
	Item  workItem `json:"item"`
	Token string   `json:"token"`
}

func (w *worker) handle(ctx context.Context, in workInput) (map[string]any, error) {
	w.calls.Add(1)
	n := w.inflight.Add(1)
	defer w.inflight.Add(-1)
	for p := w.peak.Load(); n > p && !w.peak.CompareAndSwap(p, n); p = w.peak.Load() {
	}
	if in.Token != "" {
		w.tokens <- in.Token
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
		w.throttled.Add(1)
		return lambda.FaultThrottle
	}
	return lambda.FaultNone
}

// shared is the one composition the package's tests share: each test gets
// its own "work-<test>" function (its worker) and its own copies of the
// testdata machines, so tests stay independent and only one Node runner
// starts.
var shared struct {
	once    sync.Once
	st      *servicestest.Stack
	stop    func()
	err     error
	mu      sync.Mutex
	workers map[string]*worker // by function name
	seq     int                // makes names unique when a test runs again (-count)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

func workerOf(function string) *worker {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return shared.workers[function]
}

func sharedStack(t testing.TB) *servicestest.Stack {
	t.Helper()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("local services need the Node tools: %v", err)
	}
	shared.once.Do(func() {
		shared.workers = map[string]*worker{}
		shared.st, shared.stop, shared.err = servicestest.Start(services.Options{
			StateMachinesDir: "-", NoDynamoDB: true,
			Resolver: func(name string) (awslambda.Handler, error) {
				if workerOf(name) != nil {
					// Look the worker up per call: sandboxes outlive a test.
					return awslambda.NewHandler(func(ctx context.Context, in workInput) (map[string]any, error) {
						return workerOf(name).handle(ctx, in)
					}), nil
				}
				return nil, fmt.Errorf("no function %s", name)
			},
			Lambda: func(lo *lambda.Options) {
				lo.Fault = func(ctx context.Context, fn string, payload []byte) lambda.FaultKind {
					if w := workerOf(fn); w != nil {
						return w.fault(ctx, fn, payload)
					}
					return lambda.FaultNone
				}
			},
		})
	})
	if shared.err != nil {
		t.Fatalf("start local services: %v", shared.err)
	}
	return shared.st
}

// newStack returns the shared services with w as this test's work
// function and the testdata machines defined for it, by file name.
func newStack(t testing.TB, w *worker) (*servicestest.Stack, map[string]string) {
	t.Helper()
	st := sharedStack(t)
	shared.mu.Lock()
	shared.seq++
	id := fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()), shared.seq)
	fn := "work-" + id
	shared.workers[fn] = w
	shared.mu.Unlock()
	defs, err := sfn.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	subs := map[string]string{
		"WorkFunctionArn":      "arn:aws:lambda:us-east-1:000000000000:function:" + fn,
		"ChildStateMachineArn": st.SFN.MachineARN(id + "-child"),
	}
	arns := map[string]string{}
	for name, def := range defs {
		d, err := sfn.Substitute(def, subs)
		if err != nil {
			t.Fatal(err)
		}
		if arns[name], err = st.SFN.Define(context.Background(), id+"-"+name, d); err != nil {
			t.Fatal(err)
		}
	}
	return st, arns
}
