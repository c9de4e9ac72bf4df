package demo

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

// chunk states as the observer sees them.
const (
	stateCalling  = iota // inside a runtask invocation, or between a failure and its retry
	stateDeferred        // answered "deferred": held by a Wait state
	stateDone            // launched, done or given up
)

type chunkView struct {
	state   int
	missing int
}

// observer watches one request's runtask invocations: which chunks are
// being called, which are deferred, and when calls were throttled.
type observer struct {
	requestID string
	size      func(chunk int) int

	mu        sync.Mutex
	chunks    map[int]*chunkView
	throttles []time.Time // simulated times of ThrottledError answers
}

func newObserver(requestID string, size func(int) int) *observer {
	return &observer{requestID: requestID, size: size, chunks: map[int]*chunkView{}}
}

// wrap returns a function builder that builds with build and watches the
// runtask handler.
func (o *observer) wrap(build func(context.Context, string, lambdafn.Deps) (awslambda.Handler, error)) func(context.Context, string, lambdafn.Deps) (awslambda.Handler, error) {
	return func(ctx context.Context, name string, d lambdafn.Deps) (awslambda.Handler, error) {
		h, err := build(ctx, name, d)
		if err != nil || name != "runtask" {
			return h, err
		}
		clk := d.Clock
		if clk == nil {
			clk = clock.Real{}
		}
		return watched{h: h, o: o, clock: clk}, nil
	}
}

type watched struct {
	h     awslambda.Handler
	o     *observer
	clock clock.Clock
}

func (w watched) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var in handler.RunTaskInput
	ours := json.Unmarshal(payload, &in) == nil && in.RequestID == w.o.requestID
	if ours {
		w.o.begin(in.Chunk)
	}
	out, err := w.h.Invoke(ctx, payload)
	if ours {
		var res handler.RunTaskOutput
		if err == nil && json.Unmarshal(out, &res) == nil {
			w.o.answer(in.Chunk, res)
		} else if _, ok := errors.AsType[*failure.ThrottledError](err); ok {
			w.o.throttled(w.clock.Now())
		}
	}
	return out, err
}

func (o *observer) view(chunk int) *chunkView {
	v, ok := o.chunks[chunk]
	if !ok {
		v = &chunkView{missing: o.size(chunk)}
		o.chunks[chunk] = v
	}
	return v
}

func (o *observer) begin(chunk int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.view(chunk)
	if v.state != stateDone {
		v.state = stateCalling
	}
}

func (o *observer) answer(chunk int, res handler.RunTaskOutput) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.view(chunk)
	v.missing = res.Missing
	switch res.Status {
	case handler.StatusDeferred:
		v.state = stateDeferred
	case handler.StatusLaunched, handler.StatusDone:
		v.state = stateDone
	default: // partial: a retry follows
		v.state = stateCalling
	}
}

func (o *observer) throttled(at time.Time) {
	o.mu.Lock()
	o.throttles = append(o.throttles, at)
	o.mu.Unlock()
}

// counts returns the units in chunks being called and in deferred chunks.
func (o *observer) counts() (inFlight, deferred int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range o.chunks {
		switch v.state {
		case stateCalling:
			inFlight += v.missing
		case stateDeferred:
			deferred += v.missing
		}
	}
	return inFlight, deferred
}

// throttleTimes returns the throttled answers' times, sorted.
func (o *observer) throttleTimes() []time.Time {
	o.mu.Lock()
	out := append([]time.Time(nil), o.throttles...)
	o.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
