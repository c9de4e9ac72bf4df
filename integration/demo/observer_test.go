package demo

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

// scripted answers runtask invocations from a script keyed by chunk.
type scripted struct {
	answer map[int]func() (handler.RunTaskOutput, error)
	inside func() // called during the invocation
}

func (s scripted) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	var in handler.RunTaskInput
	_ = json.Unmarshal(payload, &in)
	if s.inside != nil {
		s.inside()
	}
	out, err := s.answer[in.Chunk]()
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func TestObserver(t *testing.T) {
	t.Parallel()
	fake := clock.NewFake(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	obs := newObserver("r1", func(int) int { return 10 })
	var during [2]int
	h := scripted{answer: map[int]func() (handler.RunTaskOutput, error){
		0: func() (handler.RunTaskOutput, error) {
			return handler.RunTaskOutput{Status: handler.StatusLaunched, Launched: 10}, nil
		},
		1: func() (handler.RunTaskOutput, error) {
			return handler.RunTaskOutput{Status: handler.StatusDeferred, Missing: 10, WaitSeconds: 5}, nil
		},
		2: func() (handler.RunTaskOutput, error) {
			return handler.RunTaskOutput{Status: handler.StatusPartial, Launched: 6, Missing: 4}, nil
		},
		3: func() (handler.RunTaskOutput, error) {
			return handler.RunTaskOutput{}, &failure.ThrottledError{Detail: failure.Detail{Code: "ThrottlingException"}}
		},
	}, inside: func() { during[0], during[1] = obs.counts() }}
	build := obs.wrap(func(context.Context, string, lambdafn.Deps) (awslambda.Handler, error) { return h, nil })
	rt, err := build(t.Context(), "runtask", lambdafn.Deps{Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	if other, _ := build(t.Context(), "summary", lambdafn.Deps{}); !isScripted(other) {
		t.Error("functions other than runtask must not be wrapped")
	}
	call := func(id string, chunk int) {
		b, _ := json.Marshal(handler.RunTaskInput{RequestID: id, Chunk: chunk, Attempt: 1})
		_, _ = rt.Invoke(t.Context(), b)
	}
	call("r1", 0)
	if during != [2]int{10, 0} {
		t.Errorf("during chunk 0's call: in flight, deferred = %v, want [10 0]", during)
	}
	call("r1", 1)
	call("r1", 2)
	fake.Advance(3 * time.Second)
	call("r1", 3)
	call("other", 0) // another request: not counted
	inFlight, deferred := obs.counts()
	// chunk 0 done; 1 deferred (10); 2 partial, retrying (4); 3 throttled, retrying (10).
	if inFlight != 14 || deferred != 10 {
		t.Errorf("in flight %d, deferred %d; want 14 and 10", inFlight, deferred)
	}
	if th := obs.throttleTimes(); len(th) != 1 || !th[0].Equal(fake.Now()) {
		t.Errorf("throttle times %v, want one at %v", th, fake.Now())
	}
}

func isScripted(h awslambda.Handler) bool { _, ok := h.(scripted); return ok }
