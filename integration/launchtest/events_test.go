package launchtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	failure "github.com/throttle-handler/throttle-handler/pkg/errors"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// eventQueue is the simulator's event sink standing in for the default bus
// and the two ECS rules of statemachines/rules (TaskFailedToStart with our
// startedBy prefix; ECS throttle service actions): matching envelopes are
// delivered to the retry handler; a failed delivery comes back later, as
// Lambda's asynchronous retry does.
type eventQueue struct {
	mu       sync.Mutex
	items    []queued
	inflight int
	seen     int // matching envelopes put so far
}

type queued struct {
	raw       []byte
	notBefore time.Time
	tries     int
}

var (
	failedToStart = []byte(`"stopCode":"TaskFailedToStart"`)
	serviceAction = []byte(`"detail-type":"ECS Service Action"`)
)

// Put takes the account's envelopes (sim.EventSink).
func (q *eventQueue) Put(_ context.Context, envelopes ...[]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, raw := range envelopes {
		if bytes.Contains(raw, failedToStart) || bytes.Contains(raw, serviceAction) {
			q.items = append(q.items, queued{raw: raw})
			q.seen++
		}
	}
	return nil
}

func (q *eventQueue) next(now time.Time) (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, it := range q.items {
		if !it.notBefore.After(now) {
			q.items = append(q.items[:i], q.items[i+1:]...)
			q.inflight++
			return it, true
		}
	}
	return queued{}, false
}

func (q *eventQueue) done(it *queued) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight--
	if it != nil {
		q.items = append(q.items, *it)
	}
}

func (q *eventQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0 && q.inflight == 0
}

// work delivers events until ctx ends.
func (q *eventQueue) work(ctx context.Context, e *env, action func(string)) {
	for ctx.Err() == nil {
		it, ok := q.next(e.stack.Clock.Now())
		if !ok {
			e.sleep(ctx, 200*time.Millisecond)
			continue
		}
		out, err := e.retry.Handle(ctx, it.raw)
		if err == nil {
			action(out.(launch.EventOutput).Action)
			q.done(nil)
			continue
		}
		wait := time.Second
		var th *failure.ThrottledError
		if errors.As(err, &th) && th.RetryAfter > wait {
			wait = th.RetryAfter
		}
		it.tries++
		if it.tries > 50 {
			action("undeliverable: " + err.Error())
			q.done(nil)
			continue
		}
		action(fmt.Sprintf("retried:%T", err))
		it.notBefore = e.stack.Clock.Now().Add(wait)
		q.done(&it)
	}
}

// drain waits until every event is handled.
func (q *eventQueue) drain(ctx context.Context, e *env) {
	for ctx.Err() == nil && !q.idle() {
		e.sleep(ctx, 500*time.Millisecond)
	}
}

func (q *eventQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.seen
}

// settle waits until no task has failed to start for quiet (longer than a
// task's ENI timeout) and every event is handled: a relaunched task may
// itself fail to start.
func (q *eventQueue) settle(ctx context.Context, e *env, quiet time.Duration) {
	for ctx.Err() == nil {
		before := q.count()
		e.sleep(ctx, quiet)
		q.drain(ctx, e)
		if q.count() == before {
			return
		}
	}
}

type recordingSQS struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recordingSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, aws.ToString(in.MessageBody))
	return &sqs.SendMessageOutput{MessageId: aws.String(fmt.Sprint(len(r.msgs)))}, nil
}

type recordingEvents struct {
	mu      sync.Mutex
	entries []string
}

func (r *recordingEvents) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range in.Entries {
		r.entries = append(r.entries, aws.ToString(e.DetailType))
	}
	return &eventbridge.PutEventsOutput{}, nil
}
