package handler

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/backoff"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// Event actions.
const (
	EventIgnored    = "ignored"    // not ours, or not a failure to act on
	EventSlowed     = "slowed"     // the ECS launch buckets were signalled
	EventRelaunched = "relaunched" // the stopped task was relaunched
	EventDuplicate  = "duplicate"  // the stopped task was already relaunched (or given up)
	EventGaveUp     = "giveup"     // the stopped task will not be relaunched (dead-lettered)
	EventDeferred   = "deferred"   // the relaunch holds a far slot and waits on the relaunch queue
)

// EventOutput is the answer to one ECS event.
type EventOutput struct {
	Action         string   `json:"action"`
	Reason         string   `json:"reason,omitempty"`
	RequestID      string   `json:"requestId,omitempty"`
	Chunk          int      `json:"chunk,omitempty"`
	StoppedTaskARN string   `json:"stoppedTaskArn,omitempty"`
	NewTaskARN     string   `json:"newTaskArn,omitempty"`
	Buckets        []string `json:"buckets,omitempty"`
	// WaitSeconds is the delay of a deferred relaunch's queue message.
	WaitSeconds int `json:"waitSeconds,omitempty"`
}

// ECSEvent is the relaunch handler's event input: an EventBridge event
// parsed once by failure.ParseECSEvent, and its bytes, which go back on the
// relaunch queue as they came.
type ECSEvent struct {
	failure.ECSEvent
	Raw json.RawMessage
}

// UnmarshalJSON parses an EventBridge envelope; input that is not one is a
// PermanentError naming what is wrong.
func (e *ECSEvent) UnmarshalJSON(b []byte) error {
	ev, err := failure.ParseECSEvent(b)
	if err != nil {
		return permanent("retry", "InvalidInput", fmt.Errorf("retry event: %w", err))
	}
	e.ECSEvent, e.Raw = ev, bytes.Clone(b)
	return nil
}

// MarshalJSON returns the event as it came (null for one never decoded).
func (e ECSEvent) MarshalJSON() ([]byte, error) {
	if len(e.Raw) == 0 {
		return []byte("null"), nil
	}
	return e.Raw, nil
}

// RelaunchOptions configures Relaunch.
type RelaunchOptions struct {
	Options
	// Policy shapes the waits of a refused relaunch call and of a hand-off.
	Policy backoff.Policy
	// Rand returns a float in [0, 1); default math/rand/v2.
	Rand func() float64
	// Peek gives the bucket's next free slot; nil means 0.
	Peek SlotPeeker
	// DeferThreshold: a relaunch further than this from its slot waits on
	// the relaunch queue; a nearer one sleeps until the slot, then calls.
	// Default 2 s.
	DeferThreshold time.Duration
	// Bus is the product's event bus; DLQURL the product's dead-letter queue.
	Bus, DLQURL string
	// RelaunchQueueURL is the queue a relaunch waits on for a far slot
	// (message delay); empty: the invocation fails with ThrottledError.
	RelaunchQueueURL string
	// ClassifyError classifies call and limiter errors; default
	// failure.ClassifyError.
	ClassifyError func(error) failure.Classification
	// TokenLifetime is how long after a relaunch call's first send of
	// unknown outcome its client token certainly still binds (as
	// RunTaskOptions.TokenLifetime): within it the call is replayed with the
	// token; beyond it, it is settled by evidence, never sent again.
	// Default 1 h.
	TokenLifetime time.Duration
	// EvidenceLooks and EvidenceSpacing: how often, and how far apart, the
	// evidence is looked for (ListTasks is eventually consistent).
	// Defaults 3 and 2 s.
	EvidenceLooks   int
	EvidenceSpacing time.Duration
}

// Relaunch reacts to ECS events from the default bus. Its two entry points
// are HandleEvent (an event invoked asynchronously by an EventBridge rule)
// and HandleSQS (the relaunch queue's batches). Safe for concurrent use.
//
//   - "ECS Service Action" ECS_OPERATION_THROTTLED / SERVICE_DISCOVERY_
//     OPERATION_THROTTLED (classified throttled by pkg/failure): ECS's own
//     calls on the account's behalf are throttled. They draw on a budget we
//     cannot see, and every task we place costs some of it, so our launch
//     rate is the lever: each ECS launch bucket gets one throttle signal,
//     without a position (no slot comes with the event): the limiter
//     decreases a bucket once per SignalWindow, so a storm of events is one
//     step, not a collapse; the rate then recovers gradually.
//   - "ECS Task State Change" of a task of ours (startedBy th/…): its
//     state is recorded and decided (track.go): a TaskFailedToStart is
//     relaunched (relaunch_steps.go; a throttling cause slows the tasks
//     bucket, slowTasks), an exit of a waiting request retried or ended by
//     its retryStrategy.
//
// Anything else is ignored.
type Relaunch struct {
	store launchstore.Store
	lim   Limiter
	ecs   ECSAPI
	sqs   SQSAPI
	dead  deadLetters
	o     RelaunchOptions
	logs  *logStreams
}

// NewRelaunch returns the relaunch handler.
func NewRelaunch(store launchstore.Store, lim Limiter, ecsc ECSAPI, events EventsAPI, sqsc SQSAPI, optFns ...func(*RelaunchOptions)) *Relaunch {
	o := RelaunchOptions{DeferThreshold: 2 * time.Second}
	for _, f := range optFns {
		f(&o)
	}
	o.defaults()
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.ClassifyError == nil {
		o.ClassifyError = failure.ClassifyError
	}
	o.TokenLifetime = cmp.Or(o.TokenLifetime, time.Hour)
	o.EvidenceLooks = cmp.Or(o.EvidenceLooks, 3)
	o.EvidenceSpacing = cmp.Or(o.EvidenceSpacing, 2*time.Second)
	return &Relaunch{store: store, lim: lim, ecs: ecsc, sqs: sqsc,
		dead: deadLetters{events: events, sqs: sqsc, bus: o.Bus, dlq: o.DLQURL}, o: o, logs: newLogStreams(ecsc, o.Options)}
}

// HandleEvent is the entry point of an event delivered by an EventBridge
// rule (an asynchronous invocation). Work stops when a fifth of the
// invocation's time is left, so a hung call still leaves time to hand the
// event to the relaunch queue (handOff) rather than time out.
func (h *Relaunch) HandleEvent(ctx context.Context, ev ECSEvent) (EventOutput, error) {
	work, cancel := reserveTime(ctx)
	defer cancel()
	out, err := h.react(work, ev)
	if err != nil {
		return h.handOff(ctx, ev, err)
	}
	return out, nil
}

// SQSBatch is the event an SQS event source mapping delivers: records of
// the relaunch queue, each body an ECS event.
type SQSBatch struct {
	Records []SQSRecord `json:"Records"`
}

// SQSRecord is one message of an SQSBatch (the fields retry reads).
type SQSRecord struct {
	MessageID   string `json:"messageId"`
	EventSource string `json:"eventSource"`
	Body        string `json:"body"`
}

// SQSBatchResponse is the partial batch response (ReportBatchItemFailures):
// only the listed records stay on the queue.
type SQSBatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names a record to redeliver by its messageId.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// HandleSQS is the entry point of the relaunch queue: it reacts to each
// record's event (or sends a callback's heartbeat) (concurrently; a batch is at most 10) and reports the
// records that failed, so the event source deletes the others and
// redelivers these after the visibility timeout (then the queue's redrive
// policy dead-letters what keeps failing). A deferred relaunch has queued
// itself again and counts as done. A batch that is not SQS records is
// refused whole, before anything is handled.
func (h *Relaunch) HandleSQS(ctx context.Context, b SQSBatch) (SQSBatchResponse, error) {
	if err := b.check(); err != nil {
		return SQSBatchResponse{}, err
	}
	failed := make([]bool, len(b.Records))
	work, cancel := reserveTime(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range b.Records {
		wg.Go(func() {
			out, err := h.queueRecord(work, r)
			if err != nil {
				failed[i] = true
				h.o.Logger.Warn("relaunch queue record failed; redelivered", "messageId", r.MessageID, "err", err)
				return
			}
			h.o.Logger.Debug("relaunch queue record", "messageId", r.MessageID, "action", out.Action)
		})
	}
	wg.Wait()
	resp := SQSBatchResponse{BatchItemFailures: []BatchItemFailure{}}
	for i, r := range b.Records {
		if failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: r.MessageID})
		}
	}
	return resp, nil
}

func (b SQSBatch) check() error {
	if len(b.Records) == 0 {
		return permanent("retry", "InvalidInput", errors.New("retry input: Records: at least one record required"))
	}
	for i, r := range b.Records {
		switch {
		case r.EventSource != "aws:sqs":
			return permanent("retry", "InvalidInput", fmt.Errorf("retry input: Records[%d].eventSource: want aws:sqs, got %q", i, r.EventSource))
		case r.MessageID == "":
			return permanent("retry", "InvalidInput", fmt.Errorf("retry input: Records[%d].messageId: required", i))
		}
	}
	return nil
}

// queueRecord answers one record of the relaunch queue: an ECS event, or a
// callback's heartbeat (callback_heartbeat.go).
func (h *Relaunch) queueRecord(ctx context.Context, r SQSRecord) (EventOutput, error) {
	if m, ok := parseHeartbeat(r.Body); ok {
		if h.o.Callback == nil {
			return EventOutput{Action: EventIgnored, Reason: "a heartbeat, and no callback configured"}, nil
		}
		action, err := h.o.Callback.heartbeat(ctx, m, r.MessageID)
		return EventOutput{Action: "heartbeat " + action, RequestID: m.Heartbeat.RequestID}, err
	}
	var ev ECSEvent
	if err := json.Unmarshal([]byte(r.Body), &ev); err != nil {
		return EventOutput{}, err
	}
	return h.react(ctx, ev)
}

// react answers one event, whichever entry point brought it.
func (h *Relaunch) react(ctx context.Context, ev ECSEvent) (EventOutput, error) {
	if ev.Source != "aws.ecs" {
		return EventOutput{Action: EventIgnored, Reason: "source " + ev.Source + " is not aws.ecs"}, nil
	}
	switch ev.DetailType {
	case failure.DetailECSServiceAction:
		if ev.Class.Class != failure.Throttled {
			return EventOutput{Action: EventIgnored, Reason: "service action " + ev.EventName}, nil
		}
		h.o.Metrics.Add(MetricThrottledAsync, 1, UnitCount)
		return EventOutput{Action: EventSlowed, Reason: ev.EventName, Buckets: h.slowECS(ctx, ev.EventName)}, nil
	case failure.DetailECSTaskStateChange:
		if !ours(ev) {
			return EventOutput{Action: EventIgnored, Reason: "not a task of ours"}, nil
		}
		return h.track(ctx, ev)
	}
	return EventOutput{Action: EventIgnored, Reason: "detail-type " + ev.DetailType}, nil
}

// slowECS signals every ECS launch bucket once. The events carry no slot,
// so the signals have no position and the limiter judges them by time.
func (h *Relaunch) slowECS(ctx context.Context, reason string) []string {
	now := h.o.Clock.Now()
	var slowed []string
	for _, b := range ecsLaunchBuckets {
		if err := h.lim.Signal(ctx, ServiceECS, b, limiter.Signal{Reason: reason, At: now}); err != nil {
			h.o.Logger.Warn("throttle signal lost", "bucket", b, "code", reason, "err", err)
			continue
		}
		slowed = append(slowed, b)
	}
	return slowed
}

// slowTasks signals a throttling TaskFailedToStart (an ENI provisioning
// timeout, an image pull or secret fetch throttled) on the one bucket that
// counts what it costs: tasks started, not calls. An ENI timeout points at
// an EC2 network-interface bucket ECS calls on our behalf, which we do not
// draw on; one ENI per awsvpc task makes ecs:FargateTasks its image among
// ours (ecs:RunTask for the EC2 launch type, the only bucket such a launch
// draws on). Slowing the call buckets as well would count one throttle
// three times. The event arrives long after the call and carries no slot:
// no position, judged by time.
func (h *Relaunch) slowTasks(ctx context.Context, j *relaunchJob, reason string) {
	bucket := limiter.ECSRunTask
	if j.fargate() {
		bucket = limiter.ECSFargateTasks
	}
	if err := h.lim.Signal(ctx, ServiceECS, bucket, limiter.Signal{Reason: reason, At: h.o.Clock.Now()}); err != nil {
		j.log.Warn("throttle signal lost", "bucket", bucket, "code", reason, "err", err)
	}
}

// UnmarshalJSON decodes a batch; one that does not fit is a PermanentError.
func (b *SQSBatch) UnmarshalJSON(data []byte) error {
	type plain SQSBatch
	if err := json.Unmarshal(data, (*plain)(b)); err != nil {
		return permanent("retry", "InvalidInput", fmt.Errorf("retry input: Records: %w", err))
	}
	return nil
}
