package launchtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
)

// eventQueue is the simulator's event sink standing in for the default bus
// and the two ECS rules of statemachines/rules (TaskFailedToStart with our
// startedBy prefix; ECS throttle service actions), and for the relaunch
// queue with its event source: matching envelopes and the relaunch queue's
// messages are delivered to handle (the retry handler). A failed delivery
// comes back later, as Lambda's retry does, for as long as the run lasts:
// an event the harness dropped would be a relaunch lost by the harness, not
// by the product.
type eventQueue struct {
	clk    *clock.Scaled
	handle func(context.Context, json.RawMessage) (handler.EventOutput, error)

	mu       sync.Mutex
	items    []queued
	inflight int
	seen     int // matching envelopes put so far (the relaunch queue's messages are not new events)
	failed   []string
	lastOut  map[string]string // event body → the handler's last answer to it
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

// delay is a relaunch queue message: body comes back after delay.
func (q *eventQueue) delay(body string, delay time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, queued{raw: []byte(body), notBefore: q.clk.Now().Add(delay)})
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

// pending describes what is still queued or failing (empty when idle).
func (q *eventQueue) pending() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 && q.inflight == 0 {
		return ""
	}
	var due []string // when each queued item comes back (simulated) and its last answer
	now := q.clk.Now()
	for _, it := range q.items {
		due = append(due, fmt.Sprintf("in %v after %s", it.notBefore.Sub(now).Round(time.Second), q.lastOut[string(it.raw)]))
	}
	return fmt.Sprintf("%d queued (due %q), %d in flight; failures %q", len(q.items), due, q.inflight, q.failed)
}

// work delivers events until ctx ends.
func (q *eventQueue) work(ctx context.Context, action func(string)) {
	for ctx.Err() == nil {
		it, ok := q.next(q.clk.Now())
		if !ok {
			_ = q.clk.Sleep(ctx, 200*time.Millisecond)
			continue
		}
		out, err := q.handle(ctx, it.raw)
		q.mu.Lock()
		if q.lastOut == nil {
			q.lastOut = map[string]string{}
		}
		q.lastOut[string(it.raw)] = fmt.Sprintf("%+v (err %v)", out, err)
		q.mu.Unlock()
		if err == nil {
			action(out.Action)
			q.done(nil)
			continue
		}
		wait := time.Second
		var th *failure.ThrottledError
		if errors.As(err, &th) && th.RetryAfter > wait {
			wait = th.RetryAfter
		}
		it.tries++
		action(fmt.Sprintf("retried:%T", err))
		if it.tries%50 == 0 {
			q.mu.Lock()
			q.failed = append(q.failed, fmt.Sprintf("%d tries: %v", it.tries, err))
			q.mu.Unlock()
		}
		it.notBefore = q.clk.Now().Add(wait)
		q.done(&it)
	}
}

// drain waits until every event is handled.
func (q *eventQueue) drain(ctx context.Context) {
	for ctx.Err() == nil && !q.idle() {
		_ = q.clk.Sleep(ctx, 500*time.Millisecond)
	}
}

func (q *eventQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.seen
}

// settle waits until every event is handled and then no task fails to
// start for quiet (longer than a task's ENI timeout): the quiet period
// starts once the queue is idle, after the last relaunch, since a
// relaunched task may itself fail to start.
func (q *eventQueue) settle(ctx context.Context, quiet time.Duration) {
	for ctx.Err() == nil {
		q.drain(ctx)
		before := q.count()
		_ = q.clk.Sleep(ctx, quiet)
		if q.count() == before && q.idle() {
			return
		}
	}
}

// relaunchQueueURL names the relaunch queue the events' queue stands for.
const relaunchQueueURL = "http://127.0.0.1/000000000000/relaunch"

// recordingSQS records the dead letters and hands the relaunch queue's
// messages to relaunch, after their DelaySeconds.
type recordingSQS struct {
	relaunch *eventQueue
	mu       sync.Mutex
	msgs     []string
}

func (r *recordingSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	if aws.ToString(in.QueueUrl) == relaunchQueueURL && r.relaunch != nil {
		r.relaunch.delay(aws.ToString(in.MessageBody), time.Duration(in.DelaySeconds)*time.Second)
		return &sqs.SendMessageOutput{MessageId: aws.String("relaunch")}, nil
	}
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
