package handler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/pkg/backoff"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// predecessorWait is how long a relaunched task's own relaunch waits for
// the relaunch it came from to be recorded.
const predecessorWait = 10 * time.Second

// maxQueueDelay is SQS's longest DelaySeconds.
const maxQueueDelay = 900

// deferRelaunch puts the original event on the relaunch queue, to come back
// when the held slot is due (at most SQS's 900 s; a longer wait is queued
// again). Failing the invocation instead would lean on Lambda's two async
// retries, which are minutes apart in total: a longer wait dropped the
// relaunch. Without a queue (RelaunchQueueURL empty) the invocation fails
// with ThrottledError, for a caller that retries by itself.
func (h *Relaunch) deferRelaunch(ctx context.Context, j *relaunchJob, wait time.Duration) (EventOutput, error) {
	if h.o.RelaunchQueueURL == "" {
		return EventOutput{}, &failure.ThrottledError{Detail: failure.Detail{Code: "SlotDeferred", Op: "ecs:RunTask", RetryAfter: wait,
			Err: fmt.Errorf("relaunch of %s holds a slot %.0f s away", j.out.StoppedTaskARN, wait.Seconds())}}
	}
	delay := min(int(math.Ceil(wait.Seconds())), maxQueueDelay)
	_, err := h.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(h.o.RelaunchQueueURL), MessageBody: aws.String(string(j.ev.Raw)), DelaySeconds: int32(delay),
		MessageAttributes: map[string]sqsAttr{
			"requestId":      {DataType: aws.String("String"), StringValue: aws.String(j.out.RequestID)},
			"stoppedTaskArn": {DataType: aws.String("String"), StringValue: aws.String(j.out.StoppedTaskARN)},
		},
	})
	if err != nil {
		// The slot stays held in the claim; the caller's retry comes back to it.
		return EventOutput{}, transientErr("retry", fmt.Errorf("relaunch queue: %w", err))
	}
	h.o.Metrics.Add(MetricDeferrals, 1, UnitCount)
	h.o.Metrics.Add(MetricDeferSeconds, wait.Seconds(), UnitSeconds)
	j.log.Info("relaunch waits for its slot on the relaunch queue", "delayMs", wait.Milliseconds(), "delaySeconds", delay)
	out := j.out
	out.Action, out.WaitSeconds = EventDeferred, delay
	out.Reason = fmt.Sprintf("slot %.0f s away", wait.Seconds())
	return out, nil
}

// retryLater puts a relaunch whose call failed for a retryable reason
// (throttled, capacity, transient) back on the relaunch queue after the
// policy's RelaunchCall delay, so a throttling storm or an ECS outage
// longer than Lambda's two async retries does not drop it; the request's
// deadline ends the loop. Only a transient failure keeps its slot (the
// call may have happened; the token is the same): the others reserve a new
// one next time. answered says the failure is the token's own answer
// (failures[]), which settles the call. Without a queue, or for another
// class, the invocation fails.
func (h *Relaunch) retryLater(ctx context.Context, j *relaunchJob, answered bool, lc failure.Classification, cause error) (EventOutput, error) {
	if lc.Class == failure.Quota && h.o.RelaunchQueueURL != "" {
		return h.quotaLater(ctx, j, answered)
	}
	if h.o.RelaunchQueueURL == "" || !lc.Class.Retryable() {
		return EventOutput{}, failure.ErrorFor(lc, "ecs:RunTask", cause)
	}
	if answered {
		// failures[] is the token's own answer: nothing launched, and a
		// replay of that token would get the same answer; the next call
		// uses the next generation.
		if err := h.store.AdvanceRelaunchToken(ctx, j.claim.TaskARN, j.claim.Gen, j.sends); err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
	}
	if lc.Class != failure.Transient {
		// A throttle comes before ECS looks the token up: an earlier call
		// of unknown outcome stays unknown, but the slot is spent.
		if err := h.store.SetRelaunchSlot(ctx, j.claim.TaskARN, time.Time{}); err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
	}
	var next time.Duration
	if h.o.Peek != nil {
		service, takes := takesFor(launch.KindECS, 1, j.fargate(), j.sr.Request.Lane())
		if d, err := h.o.Peek.NextSlot(ctx, service, takes); err == nil {
			next = d
		}
	}
	dec := h.o.Policy.Delay(backoff.Input{Case: backoff.RelaunchCall, MinDelay: lc.MinDelay(), NextSlot: next, Rand: h.o.Rand()})
	out, err := h.deferRelaunch(ctx, j, h.withinWindow(j, answered, dec.Delay))
	if err != nil {
		return out, err
	}
	out.Reason = fmt.Sprintf("relaunch call %s: %s; again in %d s", lc.Class, lc.Code, out.WaitSeconds)
	return out, nil
}

// withinWindow shortens the wait of a call left with an unknown outcome to
// half the time its token still binds, so the replay settles it by the
// token's answer rather than by evidence (which cannot tell a task never
// launched from one not listed yet). A window too short for that (under
// 2 s left) keeps the policy's wait: the evidence settles it.
func (h *Relaunch) withinWindow(j *relaunchJob, answered bool, wait time.Duration) time.Duration {
	if answered || !j.unsettled {
		return wait
	}
	if half := h.replayWindowLeft(j) / 2; half >= time.Second {
		return min(wait, half)
	}
	return wait
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

// handOff is for an EventBridge event whose handling failed for a reason
// that may pass (the table, the limiter or ECS unreachable): rather than
// fail the asynchronous invocation — Lambda retries it twice within three
// minutes, then it is dead-lettered — the event goes to the relaunch queue
// after the policy's HandOff delay, and the queue's event source retries it
// for maxReceiveCount receives. Bad input, a missing queue or a failed
// send return the error as it was.
func (h *Relaunch) handOff(ctx context.Context, ev ECSEvent, cause error) (EventOutput, error) {
	var pe *failure.PermanentError
	if h.o.RelaunchQueueURL == "" || errors.As(cause, &pe) {
		return EventOutput{}, cause
	}
	var retryAfter time.Duration
	var te *failure.ThrottledError
	var tr *failure.TransientError
	if errors.As(cause, &te) {
		retryAfter = te.RetryAfter
	} else if errors.As(cause, &tr) && limiterRefused(tr.Code) {
		retryAfter = tr.RetryAfter
	}
	dec := h.o.Policy.Delay(backoff.Input{Case: backoff.HandOff, MinDelay: retryAfter})
	secs := min(int(math.Ceil(dec.Delay.Seconds())), maxQueueDelay)
	if _, err := h.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(h.o.RelaunchQueueURL), MessageBody: aws.String(string(ev.Raw)), DelaySeconds: int32(secs),
	}); err != nil {
		h.o.Logger.Warn("event not handed to the relaunch queue", "err", err)
		return EventOutput{}, cause
	}
	h.o.Logger.Warn("event handed to the relaunch queue", "delaySeconds", secs, "err", cause)
	return EventOutput{Action: EventDeferred, WaitSeconds: secs, Reason: "handed to the relaunch queue: " + cause.Error()}, nil
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
