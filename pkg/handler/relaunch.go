package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// Event-mode actions.
const (
	EventIgnored    = "ignored"    // not ours, or not a failure to act on
	EventSlowed     = "slowed"     // the ECS launch buckets were signalled
	EventRelaunched = "relaunched" // the stopped task was relaunched
	EventDuplicate  = "duplicate"  // the stopped task was already relaunched (or given up)
	EventGaveUp     = "giveup"     // the stopped task will not be relaunched (dead-lettered)
	EventDeferred   = "deferred"   // the relaunch holds a far slot and waits on the relaunch queue
)

// EventOutput is the retry function's event-mode output.
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

type ecsEvent struct {
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	Detail     struct {
		EventName     string `json:"eventName"`
		TaskArn       string `json:"taskArn"`
		LastStatus    string `json:"lastStatus"`
		StopCode      string `json:"stopCode"`
		StoppedReason string `json:"stoppedReason"`
		StartedBy     string `json:"startedBy"`
	} `json:"detail"`
}

// HandleEvent reacts to an ECS event from the default bus:
//
//   - "ECS Service Action" ECS_OPERATION_THROTTLED / SERVICE_DISCOVERY_
//     OPERATION_THROTTLED: ECS's own calls on the account's behalf (ENI
//     attachment, load balancer and Cloud Map registration) are throttled.
//     They draw on a budget we cannot see, and every task we place costs
//     some of it, so our launch rate is the lever: each ECS launch bucket
//     (ecs:RunTask, ecs:FargateRunTask, ecs:FargateTasks) gets one throttle
//     signal. The limiter multiplies the bucket's rate by its Decrease
//     (0.85 by default, not below Floor) once per SignalWindow, so a storm
//     of events is one step, not a collapse; the rate then recovers
//     gradually. A TaskFailedToStart caused by throttling is signalled the
//     same way.
//   - "ECS Task State Change" STOPPED, stopCode TaskFailedToStart, startedBy
//     th/…: the task is relaunched, see relaunch.
//
// Anything else is ignored.
func (h *Retry) HandleEvent(ctx context.Context, raw json.RawMessage) (EventOutput, error) {
	var ev ecsEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return EventOutput{}, permanent("retry", "InvalidInput", fmt.Errorf("retry event: %w", err))
	}
	if ev.Source != "aws.ecs" {
		return EventOutput{Action: EventIgnored, Reason: "source " + ev.Source + " is not aws.ecs"}, nil
	}
	switch ev.DetailType {
	case "ECS Service Action":
		switch ev.Detail.EventName {
		case "ECS_OPERATION_THROTTLED", "SERVICE_DISCOVERY_OPERATION_THROTTLED":
			h.o.Metrics.Add(MetricThrottledAsync, 1, UnitCount)
			return EventOutput{Action: EventSlowed, Reason: ev.Detail.EventName, Buckets: h.slowECS(ctx, ev.Detail.EventName)}, nil
		}
		return EventOutput{Action: EventIgnored, Reason: "service action " + ev.Detail.EventName}, nil
	case "ECS Task State Change":
		d := ev.Detail
		if d.LastStatus != "STOPPED" || d.StopCode != "TaskFailedToStart" || !strings.HasPrefix(d.StartedBy, launch.StartedByPrefix) {
			return EventOutput{Action: EventIgnored, Reason: "not a task of ours that failed to start"}, nil
		}
		return h.relaunch(ctx, raw, d.TaskArn, d.StartedBy, d.StoppedReason)
	}
	return EventOutput{Action: EventIgnored, Reason: "detail-type " + ev.DetailType}, nil
}

func (h *Retry) slowECS(ctx context.Context, reason string) []string {
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

// relaunch launches one task in place of the stopped task taskARN.
//
// How: a direct RunTask of count 1 through the limiter (same buckets as a
// chunk's call), with client token RelaunchTokenGen(taskARN, claim.Gen) and
// startedBy th/<hash>/<chunk>/<100000 + hash of the stopped ARN>, recorded in the chunk (the
// new ARN joins ids, the stopped one joins stoppedIds). The stopped task's
// ARN keys everything: a conditional write creates relaunch#<taskArn>, so a
// duplicated event finds it and does nothing, while two failed tasks of one
// chunk are two keys and two relaunches; a retried invocation after a lost
// response reuses the same token. There is no Step Functions Wait here: if
// the slot is further than DeferThreshold it is kept in the claim and the
// original event goes to the relaunch queue with DelaySeconds = the wait
// (at most SQS's 900 s; a longer wait is queued again), and the invocation
// succeeds; the queue's event source brings the event back to the held slot.
// Failing the invocation instead would lean on Lambda's two async retries,
// which are minutes apart in total: a longer wait dropped the relaunch. A
// relaunch is given up once the request's deadline has passed or its slot
// lies beyond it, so nothing waits forever. A chunk may relaunch at most maxAttempts ×
// chunk size tasks; a task that cannot start for a permanent reason (bad
// image, missing secret) is not relaunched: it is dead-lettered with
// LaunchFailed.
func (h *Retry) relaunch(ctx context.Context, raw json.RawMessage, taskARN, startedBy, stoppedReason string) (EventOutput, error) {
	id, ok := launch.ParseStartedBy(startedBy)
	if !ok || taskARN == "" {
		return EventOutput{Action: EventIgnored, Reason: "startedBy " + startedBy + " is not ours"}, nil
	}
	requestID, err := h.store.RequestIDForHash(ctx, id.RequestHash)
	if errors.Is(err, launchstore.ErrNotFound) {
		return EventOutput{Action: EventIgnored, Reason: "no request with hash " + id.RequestHash}, nil
	} else if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	log := h.o.Logger.With("requestId", requestID, "chunk", id.Chunk, "attempt", id.Attempt, "stoppedTaskArn", taskARN)
	out := EventOutput{RequestID: requestID, Chunk: id.Chunk, StoppedTaskARN: taskARN}
	sr, err := h.store.Request(ctx, requestID)
	if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	spec, err := sr.Request.Chunk(id.Chunk)
	if err != nil || spec.Kind != launch.KindECS {
		return EventOutput{Action: EventIgnored, Reason: fmt.Sprintf("chunk %d is not an ECS chunk of %s", id.Chunk, requestID)}, nil
	}
	// Registered first, so that the summary counts the relaunch as pending
	// from now until it is recorded or given up (the state machine waits for
	// it before LaunchCompleted); the write's answer is the chunk as stored.
	st, err := h.store.RegisterRelaunch(ctx, requestID, id.Chunk, taskARN)
	if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if id.Attempt >= launch.RelaunchAttemptBase && h.o.RelaunchQueueURL != "" && h.o.Clock.Now().Before(sr.Deadline) {
		// A relaunched task that failed to start before its own relaunch
		// was recorded (lost response, crash, timeout): relaunching it now
		// would count its replacement on top of the task it replaced,
		// which the table still counts as launched. It waits until that
		// relaunch is recorded (or the deadline).
		if !slices.Contains(st.IDs, taskARN) {
			o, err := h.deferRelaunch(ctx, log, raw, out, predecessorWait)
			if err == nil {
				o.Reason = "the relaunch this task came from is not recorded yet"
			}
			return o, err
		}
	}
	c := h.o.ClassifyEvent(raw)
	claim, created, err := h.store.ClaimRelaunch(ctx, launch.RelaunchClaim{TaskARN: taskARN, RequestID: requestID, Chunk: id.Chunk}, sr.Deadline.Add(launchstore.Retention))
	if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if claim.State != launch.RelaunchPending {
		out.Action, out.NewTaskARN, out.Reason = EventDuplicate, claim.NewARN, "already "+claim.State
		log.Info("duplicate TaskFailedToStart event", "state", claim.State)
		return out, nil
	}
	if created {
		// Once per stopped task: the same event back from the relaunch
		// queue (or duplicated by EventBridge) is not another throttle.
		if c.Class == failure.Throttled {
			h.o.Metrics.Add(MetricThrottledAsync, 1, UnitCount)
			h.slowECS(ctx, "TaskFailedToStart:"+c.Code)
		}
		if c.Class == failure.Permanent || c.Class == failure.Quota {
			return h.giveUpRelaunch(ctx, log, claim, out, c, fmt.Sprintf("not relaunched: %s: %s: %s", c.Class, c.Code, stoppedReason))
		}
		budget := sr.Request.Attempts() * spec.Size
		ok, err := h.store.ChargeRelaunch(ctx, requestID, id.Chunk, budget)
		if err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
		if !ok {
			return h.giveUpRelaunch(ctx, log, claim, out, c, fmt.Sprintf("relaunch budget of %d spent; last: %s", budget, stoppedReason))
		}
	}
	fargate := sr.Request.ECS.Fargate()
	settle := false // replay a call of unknown outcome past the deadline
	if now := h.o.Clock.Now(); !now.Before(sr.Deadline) {
		if settle, err = h.store.RelaunchUnsettled(ctx, taskARN); err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
		if !settle {
			return h.giveUpRelaunch(ctx, log, claim, out, c, fmt.Sprintf("deadline %s passed before the relaunch; last: %s", sr.Deadline.Format(time.RFC3339), stoppedReason))
		}
	}
	go_, wait, err := true, time.Duration(0), error(nil)
	if !settle {
		go_, wait, err = h.holdRelaunch(ctx, claim, fargate)
	}
	if err != nil {
		lc := h.o.ClassifyError(err)
		if lc.Class == failure.Throttled || lc.Class == failure.Quota {
			return EventOutput{}, failure.ErrorFor(lc, "limiter", err)
		}
		return EventOutput{}, transientErr("limiter", err)
	}
	if !go_ {
		if now := h.o.Clock.Now(); now.Add(wait).After(sr.Deadline) {
			// An earlier call of unknown outcome may have launched the task:
			// giving up would count it lost while it runs. The far slot goes
			// back and the event waits for the deadline, where the call is
			// replayed with its token (settle above) and only then settled.
			unsettled, err := h.store.RelaunchUnsettled(ctx, taskARN)
			if err != nil {
				return EventOutput{}, transientErr("retry", err)
			}
			if unsettled {
				// Cleared first: a pass back before the deadline must not
				// release the same slot twice.
				if err := h.store.SetRelaunchSlot(ctx, taskARN, time.Time{}); err != nil {
					return EventOutput{}, transientErr("retry", err)
				}
			}
			service, takes := takesFor(launch.KindECS, 1, fargate)
			if err := h.lim.Release(ctx, service, takes, limiter.Slot{At: now.Add(wait)}); err != nil {
				log.Warn("relaunch slot not released", "err", err)
			}
			if unsettled {
				o, err := h.deferRelaunch(ctx, log, raw, out, sr.Deadline.Sub(now))
				if err == nil {
					o.Reason = fmt.Sprintf("slot %.0f s away, after the deadline; the call of unknown outcome is replayed at the deadline", wait.Seconds())
				}
				return o, err
			}
			return h.giveUpRelaunch(ctx, log, claim, out, c, fmt.Sprintf("deadline %s reached before the relaunch's slot (%.0f s away); last: %s",
				sr.Deadline.Format(time.RFC3339), wait.Seconds(), stoppedReason))
		}
		return h.deferRelaunch(ctx, log, raw, out, wait)
	}
	if wait > 0 {
		// Before the unsettled mark: a wait cut short calls nothing.
		if err := h.o.Sleep(ctx, wait); err != nil {
			return EventOutput{}, transientErr("retry", fmt.Errorf("waiting for the relaunch slot: %w", err))
		}
	}
	rec := launch.AttemptRecord{Count: 1, Token: launch.RelaunchTokenGen(taskARN, claim.Gen), StartedBy: launch.RelaunchStartedBy(requestID, id.Chunk, taskARN)}
	if err := h.store.SetRelaunchUnsettled(ctx, taskARN, true); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	h.o.Metrics.Add(MetricCalls, 1, UnitCount)
	res, err := callRunTask(ctx, h.ecs, runTaskInput(sr.Request.ECS, requestID, rec))
	if err != nil {
		lc := h.o.ClassifyError(err)
		if lc.Class == failure.Throttled {
			h.o.Metrics.Add(MetricThrottledSync, 1, UnitCount)
			service, takes := takesFor(launch.KindECS, 1, fargate)
			for _, t := range takes {
				_ = h.lim.Signal(ctx, service, t.Bucket, limiter.Signal{Reason: lc.Code, At: h.o.Clock.Now()})
			}
		}
		if lc.Class == failure.Permanent {
			return h.giveUpRelaunch(ctx, log, claim, out, lc, fmt.Sprintf("relaunch refused: %s: %s", lc.Code, lc.Message))
		}
		log.Warn("relaunch call failed", "kind", lc.Class, "code", lc.Code, "err", err)
		return h.retryRelaunchLater(ctx, log, raw, out, claim, fargate, false, lc, err)
	}
	if len(res.IDs) == 0 {
		reason := "no task launched"
		if len(res.Failures) > 0 {
			reason = res.Failures[0].Reason + " " + res.Failures[0].Detail
		}
		fc := failure.ClassifyRunTaskFailure(firstReason(res.Failures), firstDetail(res.Failures))
		return h.retryRelaunchLater(ctx, log, raw, out, claim, fargate, true, fc, errors.New(reason))
	}
	if err := h.store.FinishRelaunch(ctx, claim, res.IDs[0]); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	h.o.Metrics.Add(MetricRelaunched, 1, UnitCount)
	detail := launch.TaskRelaunchedDetail{RequestID: requestID, Chunk: id.Chunk, StoppedTaskARN: taskARN, NewTaskARN: res.IDs[0],
		StoppedReason: stoppedReason, At: h.o.Clock.Now().UTC()}
	if err := putEvent(ctx, h.events, h.o.Bus, launch.DetailTaskRelaunched, detail); err != nil {
		log.Warn("TaskRelaunched not put", "err", err) // the relaunch itself is recorded
	}
	log.Info("relaunched", "newTaskArn", res.IDs[0])
	out.Action, out.NewTaskARN = EventRelaunched, res.IDs[0]
	return out, nil
}

// predecessorWait is how long a relaunched task's own relaunch waits for
// the relaunch it came from to be recorded.
const predecessorWait = 10 * time.Second

// maxQueueDelay is SQS's longest DelaySeconds.
const maxQueueDelay = 900

// deferRelaunch puts the original event on the relaunch queue, to come back
// when the held slot is due. Without a queue (RelaunchQueueURL empty) the
// invocation fails with ThrottledError, for a caller that retries by itself.
func (h *Retry) deferRelaunch(ctx context.Context, log *slog.Logger, raw json.RawMessage, out EventOutput, wait time.Duration) (EventOutput, error) {
	if h.o.RelaunchQueueURL == "" {
		return EventOutput{}, &failure.ThrottledError{Detail: failure.Detail{Code: "SlotDeferred", Op: "ecs:RunTask", RetryAfter: wait,
			Err: fmt.Errorf("relaunch of %s holds a slot %.0f s away", out.StoppedTaskARN, wait.Seconds())}}
	}
	delay := min(int(math.Ceil(wait.Seconds())), maxQueueDelay)
	_, err := h.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(h.o.RelaunchQueueURL), MessageBody: aws.String(string(raw)), DelaySeconds: int32(delay),
		MessageAttributes: map[string]sqsAttr{
			"requestId":      {DataType: aws.String("String"), StringValue: aws.String(out.RequestID)},
			"stoppedTaskArn": {DataType: aws.String("String"), StringValue: aws.String(out.StoppedTaskARN)},
		},
	})
	if err != nil {
		// The slot stays held in the claim; the caller's retry comes back to it.
		return EventOutput{}, transientErr("retry", fmt.Errorf("relaunch queue: %w", err))
	}
	h.o.Metrics.Add(MetricDeferrals, 1, UnitCount)
	h.o.Metrics.Add(MetricDeferSeconds, wait.Seconds(), UnitSeconds)
	log.Info("relaunch waits for its slot on the relaunch queue", "delayMs", wait.Milliseconds(), "delaySeconds", delay)
	out.Action, out.WaitSeconds = EventDeferred, delay
	out.Reason = fmt.Sprintf("slot %.0f s away", wait.Seconds())
	return out, nil
}

// retryRelaunchLater puts a relaunch whose call failed for a retryable
// reason (throttled, capacity, transient) back on the relaunch queue after
// max(the class minimum, the bucket's next slot) plus up to 30 s of jitter,
// so a throttling storm or an ECS outage longer than Lambda's two async
// retries does not drop it; the request's deadline ends the loop. Only a
// transient failure keeps its slot (the call may have happened; the token
// is the same): the others reserve a new one next time. answered says the
// failure is the token's own answer (failures[]), which settles the call.
// Without a queue, or for another class, the invocation fails.
func (h *Retry) retryRelaunchLater(ctx context.Context, log *slog.Logger, raw json.RawMessage, out EventOutput, claim launch.RelaunchClaim, fargate, answered bool, lc failure.Classification, cause error) (EventOutput, error) {
	if h.o.RelaunchQueueURL == "" || !lc.Class.Retryable() {
		return EventOutput{}, failure.ErrorFor(lc, "ecs:RunTask", cause)
	}
	if answered {
		// failures[] is the token's own answer: nothing launched, and a
		// replay of that token would get the same answer; the next call
		// uses the next generation.
		if err := h.store.AdvanceRelaunchToken(ctx, claim.TaskARN, claim.Gen); err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
	}
	if lc.Class != failure.Transient {
		// A throttle comes before ECS looks the token up: an earlier call
		// of unknown outcome stays unknown, but the slot is spent.
		if err := h.store.SetRelaunchSlot(ctx, claim.TaskARN, time.Time{}); err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
	}
	wait := max(lc.MinDelay(), time.Second)
	if h.o.Peek != nil {
		service, takes := takesFor(launch.KindECS, 1, fargate)
		if next, err := h.o.Peek.NextSlot(ctx, service, takes); err == nil {
			wait = max(wait, next)
		}
	}
	wait += time.Duration(h.o.Rand() * float64(30*time.Second))
	o, err := h.deferRelaunch(ctx, log, raw, out, wait)
	if err != nil {
		return o, err
	}
	o.Reason = fmt.Sprintf("relaunch call %s: %s; again in %d s", lc.Class, lc.Code, o.WaitSeconds)
	return o, nil
}

// reserveTime returns a context that ends when a fifth of ctx's remaining
// time is left (the function's timeout), so that a hung call (a response
// that never comes) leaves time to hand the event to the relaunch queue or
// to answer a batch's failures, instead of timing the invocation out.
func reserveTime(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, d.Add(-time.Until(d)/5))
}

// handOffDelay is how long an event handed to the relaunch queue waits.
const handOffDelay = 10 * time.Second

// handOff is for an EventBridge event whose handling failed for a reason
// that may pass (the table, the limiter or ECS unreachable): rather than
// fail the asynchronous invocation — Lambda retries it twice within three
// minutes, then it is dead-lettered — the event goes to the relaunch queue,
// whose event source retries it for maxReceiveCount receives. Bad input,
// a missing queue or a failed send return the error as it was.
func (h *Retry) handOff(ctx context.Context, raw json.RawMessage, cause error) (any, error) {
	var pe *failure.PermanentError
	if h.o.RelaunchQueueURL == "" || errors.As(cause, &pe) {
		return nil, cause
	}
	delay := handOffDelay
	var te *failure.ThrottledError
	if errors.As(cause, &te) && te.RetryAfter > delay {
		delay = te.RetryAfter
	}
	secs := min(int(math.Ceil(delay.Seconds())), maxQueueDelay)
	if _, err := h.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(h.o.RelaunchQueueURL), MessageBody: aws.String(string(raw)), DelaySeconds: int32(secs),
	}); err != nil {
		h.o.Logger.Warn("event not handed to the relaunch queue", "err", err)
		return nil, cause
	}
	h.o.Logger.Warn("event handed to the relaunch queue", "delaySeconds", secs, "err", cause)
	return EventOutput{Action: EventDeferred, WaitSeconds: secs, Reason: "handed to the relaunch queue: " + cause.Error()}, nil
}

// SQSBatch is the event an SQS event source mapping delivers to the retry
// function: records of the relaunch queue, each body an ECS event.
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

// HandleSQS runs HandleEvent on each record's body (concurrently; a batch
// is at most 10) and reports the records that failed, so the event source
// deletes the others and redelivers these after the visibility timeout
// (then the queue's redrive policy dead-letters what keeps failing). A
// deferred relaunch has queued itself again and counts as done. A batch
// that is not SQS records is refused whole, before anything is handled.
func (h *Retry) HandleSQS(ctx context.Context, b SQSBatch) (SQSBatchResponse, error) {
	if len(b.Records) == 0 {
		return SQSBatchResponse{}, permanent("retry", "InvalidInput", errors.New("retry input: Records: at least one record required"))
	}
	for i, r := range b.Records {
		switch {
		case r.EventSource != "aws:sqs":
			return SQSBatchResponse{}, permanent("retry", "InvalidInput", fmt.Errorf("retry input: Records[%d].eventSource: want aws:sqs, got %q", i, r.EventSource))
		case r.MessageID == "":
			return SQSBatchResponse{}, permanent("retry", "InvalidInput", fmt.Errorf("retry input: Records[%d].messageId: required", i))
		}
	}
	failed := make([]bool, len(b.Records))
	work, cancel := reserveTime(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range b.Records {
		wg.Go(func() {
			out, err := h.HandleEvent(work, json.RawMessage(r.Body))
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

func firstReason(fs []launch.Failure) string {
	if len(fs) == 0 {
		return ""
	}
	return fs[0].Reason
}

func firstDetail(fs []launch.Failure) string {
	if len(fs) == 0 {
		return ""
	}
	return fs[0].Detail
}

func (h *Retry) giveUpRelaunch(ctx context.Context, log interface {
	Warn(string, ...any)
}, claim launch.RelaunchClaim, out EventOutput, c failure.Classification, reason string) (EventOutput, error) {
	detail := launch.LaunchFailedDetail{RequestID: claim.RequestID, Chunk: claim.Chunk, Kind: launch.KindECS, Attempt: -1, Missing: 1,
		Class: string(c.Class), Code: c.Code, Reason: reason, StoppedTaskARN: claim.TaskARN, At: h.o.Clock.Now().UTC()}
	if err := sendDeadLetter(ctx, h.sqs, h.o.DLQURL, DeadLetter{LaunchFailedDetail: detail}); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if err := putEvent(ctx, h.events, h.o.Bus, launch.DetailLaunchFailed, detail); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if err := h.store.GiveUpRelaunch(ctx, claim, reason); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	h.o.Metrics.Add(MetricFailed, 1, UnitCount)
	h.o.Metrics.Add(MetricDeadLettered, 1, UnitCount)
	log.Warn("relaunch given up", "reason", reason)
	out.Action, out.Reason = EventGaveUp, reason
	return out, nil
}
