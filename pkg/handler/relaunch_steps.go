package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// relaunchJob is one stopped task's relaunch as its steps see it.
type relaunchJob struct {
	ev        ECSEvent
	id        launch.Identity
	requestID string
	sr        launch.StoredRequest
	spec      launch.ChunkSpec
	claim     launch.RelaunchClaim
	// slot is the slot held for the call (holdSlot): the limiter's own
	// when reserved by this invocation, only a time when kept in the claim.
	slot     limiter.Slot
	calledAt time.Time
	// unsettled: an earlier call of the current token has an unknown
	// outcome, first sent at unsettledAt (zero: a mark without a time).
	unsettled   bool
	unsettledAt time.Time
	// sends is this delivery's claimed send (ClaimRelaunchSend).
	sends int
	log   *slog.Logger
	out   EventOutput
	// retry: the stopped task exited and retryStrategy retries it (a new
	// attempt), rather than a relaunch after TaskFailedToStart; pred is
	// the stopped task's record (its unit and attempt).
	retry bool
	pred  launch.TaskRecord
	// quotaProbe: the quota gate granted this delivery's call a probe.
	quotaProbe bool
}

func (j *relaunchJob) taskARN() string { return j.ev.Task.TaskArn }
func (j *relaunchJob) reason() string  { return j.ev.Task.StoppedReason }
func (j *relaunchJob) fargate() bool   { return j.sr.Request.ECS.Fargate() }

// relaunchSteps launches one task in place of a stopped one, in named steps:
// find the request → stop if it is closed → register the relaunch → claim
// it → hold a slot → (closed? again) call → record.
//
// How: a direct RunTask of count 1 through the limiter (same buckets as a
// chunk's call), with client token RelaunchTokenGen(taskARN, claim.Gen) and
// startedBy th/<hash>/<chunk>/<100000 + hash of the stopped ARN>, recorded
// in the chunk (the new ARN joins ids, the stopped one joins stoppedIds).
// The stopped task's ARN keys everything: a conditional write creates
// relaunch#<taskArn>, so a duplicated event finds it and does nothing,
// while two failed tasks of one chunk are two keys and two relaunches; a
// retried invocation after a lost response reuses the same token. A slot
// further than DeferThreshold is kept in the claim and the event waits on
// the relaunch queue (relaunch_queue.go). A relaunch is given up once the
// request's deadline has passed or its slot lies beyond it, so nothing
// waits forever. A chunk may relaunch at most maxAttempts × chunk size
// tasks; a task that cannot start for a permanent reason (bad image,
// missing secret) is dead-lettered with LaunchFailed, not relaunched.
//
// A retry after an exit (j.retry) takes the same steps but spends no
// relaunch budget and is never refused for the stop's class: its bound is
// retryStrategy's attempts, decided before (decideTask).
func (h *Relaunch) relaunchSteps(ctx context.Context, j *relaunchJob) (EventOutput, error) {
	for _, step := range []func(context.Context, *relaunchJob) (bool, EventOutput, error){h.predecessor, h.stopIfClosed, h.register, h.claim, h.call} {
		if done, out, err := step(ctx, j); done || err != nil {
			return out, err
		}
	}
	return j.out, nil
}

// find reads the request and chunk the stopped task belongs to. Events of
// tasks that are not ours, or of no stored request, are ignored.
func (h *Relaunch) find(ctx context.Context, ev ECSEvent) (*relaunchJob, bool, EventOutput, error) {
	arn, startedBy := ev.Task.TaskArn, ev.Task.StartedBy
	id, ok := launch.ParseStartedBy(startedBy)
	if !ok || arn == "" {
		return nil, true, EventOutput{Action: EventIgnored, Reason: "startedBy " + startedBy + " is not ours"}, nil
	}
	requestID, err := h.store.RequestIDForHash(ctx, id.RequestHash)
	if errors.Is(err, launchstore.ErrNotFound) {
		return nil, true, EventOutput{Action: EventIgnored, Reason: "no request with hash " + id.RequestHash}, nil
	} else if err != nil {
		return nil, true, EventOutput{}, transientErr("retry", err)
	}
	sr, err := h.store.Request(ctx, requestID)
	if err != nil {
		return nil, true, EventOutput{}, transientErr("retry", err)
	}
	spec, err := sr.Request.Chunk(id.Chunk)
	if err != nil || spec.Kind != launch.KindECS {
		return nil, true, EventOutput{Action: EventIgnored, Reason: fmt.Sprintf("chunk %d is not an ECS chunk of %s", id.Chunk, requestID)}, nil
	}
	return &relaunchJob{ev: ev, id: id, requestID: requestID, sr: sr, spec: spec,
		log: h.o.Logger.With("requestId", requestID, "chunk", id.Chunk, "attempt", id.Attempt, "stoppedTaskArn", arn),
		out: EventOutput{RequestID: requestID, Chunk: id.Chunk, StoppedTaskARN: arn}}, false, EventOutput{}, nil
}

// register marks the relaunch pending in the chunk first, so the summary
// counts it from now until it is recorded or given up (the state machine
// waits for it before LaunchCompleted). A relaunched task that failed to
// start before its own relaunch was recorded (lost response, crash,
// timeout) waits for that record: relaunching it now would count its
// replacement on top of the task it replaced, which the table still
// counts as launched.
func (h *Relaunch) register(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	_, err := h.store.RegisterRelaunch(ctx, j.requestID, j.id.Chunk, j.taskARN())
	if errors.Is(err, launchstore.ErrFenced) {
		// Unrecorded, and the chunk is being given up: its unit is among
		// the missing ones the give-up dead-letters.
		j.out.Action, j.out.Reason = EventDuplicate, "the chunk is being given up: this unrecorded task's unit is among its missing ones"
		return true, j.out, nil
	}
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	return false, EventOutput{}, nil
}

// claim creates the relaunch claim keyed by the stopped task's ARN. Only
// its creator signals a throttle, refuses a permanent cause and charges
// the chunk's relaunch budget; a duplicate of a settled claim ends here.
func (h *Relaunch) claim(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	claim, created, err := h.store.ClaimRelaunch(ctx, launch.RelaunchClaim{TaskARN: j.taskARN(), RequestID: j.requestID, Chunk: j.id.Chunk},
		j.sr.Deadline.Add(launchstore.Retention))
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	j.claim = claim
	if claim.State != launch.RelaunchPending {
		j.out.Action, j.out.NewTaskARN, j.out.Reason = EventDuplicate, claim.NewARN, "already "+claim.State
		j.log.Info("duplicate TaskFailedToStart event", "state", claim.State)
		return true, j.out, nil
	}
	if !created || j.retry {
		return false, EventOutput{}, nil
	}
	// Once per stopped task: the same event back from the relaunch queue
	// (or duplicated by EventBridge) is not another throttle.
	c := j.ev.Class
	if c.Class == failure.Throttled {
		h.o.Metrics.Add(MetricThrottledAsync, 1, UnitCount)
		h.slowTasks(ctx, j, "TaskFailedToStart:"+c.Code)
	}
	if c.Class == failure.Permanent {
		out, err := h.giveUp(ctx, j, c, fmt.Sprintf("not relaunched: %s: %s: %s", c.Class, c.Code, j.reason()))
		return true, out, err
	}
	if c.Class == failure.Quota {
		// Waits for quota (holdForQuota); no attempt spent.
		return false, EventOutput{}, nil
	}
	budget := j.sr.Request.Attempts() * j.spec.Size
	ok, err := h.store.ChargeRelaunch(ctx, j.requestID, j.id.Chunk, budget)
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	if !ok {
		out, err := h.giveUp(ctx, j, c, fmt.Sprintf("relaunch budget of %d spent; last: %s", budget, j.reason()))
		return true, out, err
	}
	return false, EventOutput{}, nil
}

// awaitSlot settles an expired call, passes the quota gate, holds the
// relaunch's slot and waits for it.
func (h *Relaunch) awaitSlot(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	if done, out, err := h.settleIfExpired(ctx, j); done || err != nil {
		return true, out, err
	}
	if done, out, err := h.holdForQuota(ctx, j); done || err != nil {
		return true, out, err
	}
	wait, done, out, err := h.slot(ctx, j)
	if done || err != nil {
		return true, out, err
	}
	if wait > 0 {
		// Before the unsettled mark: a wait cut short calls nothing.
		if err := h.o.Clock.Sleep(ctx, wait); err != nil {
			return true, EventOutput{}, transientErr("retry", fmt.Errorf("waiting for the relaunch slot: %w", err))
		}
	}
	return false, EventOutput{}, nil
}

// call holds the relaunch's slot, waits for it, makes the call and
// records its answer.
func (h *Relaunch) call(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	if done, out, err := h.awaitSlot(ctx, j); done || err != nil {
		return true, out, err
	}
	if done, out, err := h.stopIfClosed(ctx, j); done || err != nil {
		if err == nil && !j.slot.At.IsZero() {
			_ = giveBack(ctx, h.lim, ServiceECS, j.slot)
		}
		return true, out, err
	}
	if h.beyondReplay(j) {
		// The wait outlasted the token's window.
		_ = giveBack(ctx, h.lim, ServiceECS, j.slot)
		out, err := h.settleByEvidence(ctx, j)
		return true, out, err
	}
	rec := j.record()
	sends, err := h.store.ClaimRelaunchSend(ctx, j.taskARN(), j.claim.Gen)
	if err != nil {
		// Fenced: another delivery moved the token on; the next delivery
		// reads it.
		return true, EventOutput{}, transientErr("retry", err)
	}
	j.sends = sends
	if err := h.store.SetRelaunchUnsettled(ctx, j.taskARN(), h.markUnsettled(j)); err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	h.o.Metrics.Add(MetricCalls, 1, UnitCount)
	j.calledAt = h.o.Clock.Now()
	res, err := runChunkTask(ctx, h.ecs, h.store, j.sr, j.spec, rec)
	if err != nil {
		out, err := h.callFailed(ctx, j, err)
		return true, out, err
	}
	out, err := h.answered(ctx, j, res)
	return true, out, err
}

// answered records the call's answer: the new task, or failures[] (the
// token's own answer: nothing launched), retried later.
func (h *Relaunch) answered(ctx context.Context, j *relaunchJob, res result) (EventOutput, error) {
	if len(res.IDs) == 0 {
		reason := "no task launched"
		if len(res.Failures) > 0 {
			reason = res.Failures[0].Reason + " " + res.Failures[0].Detail
		}
		fc := failure.ClassifyRunTaskFailure(firstReason(res.Failures), firstDetail(res.Failures))
		return h.retryLater(ctx, j, true, fc, errors.New(reason))
	}
	return h.record(ctx, j, res.IDs[0])
}

// slot decides when the call goes: a call of unknown outcome past the
// deadline (and within its token's window) is replayed at once; otherwise a slot is held, and a
// far one sends the event to the relaunch queue, or — beyond the deadline
// — gives the relaunch up. wait is the time left to a near slot.
func (h *Relaunch) slot(ctx context.Context, j *relaunchJob) (time.Duration, bool, EventOutput, error) {
	if !h.o.Clock.Now().Before(j.sr.Deadline) {
		// An unsettled call is still within its token's window here
		// (settleIfExpired): it is replayed.
		if !j.unsettled {
			out, err := h.giveUp(ctx, j, j.ev.Class, fmt.Sprintf("deadline %s passed before the relaunch; last: %s", j.sr.Deadline.Format(time.RFC3339), j.reason()))
			return 0, true, out, err
		}
		return 0, false, EventOutput{}, nil
	}
	near, wait, err := h.holdSlot(ctx, j)
	if err != nil {
		return 0, true, EventOutput{}, limiterErr(h.o.ClassifyError(err), err)
	}
	if near {
		return wait, false, EventOutput{}, nil
	}
	if now := h.o.Clock.Now(); now.Add(wait).After(j.sr.Deadline) {
		out, err := h.slotPastDeadline(ctx, j, wait)
		return 0, true, out, err
	}
	out, err := h.deferRelaunch(ctx, j, wait)
	return 0, true, out, err
}

// slotPastDeadline: the held slot lies beyond the deadline, so it goes
// back (exactly when this invocation reserved it; one kept in the claim is
// only a time, with nothing exact to give back, so it stays counted). An
// earlier call of unknown outcome may have launched the task: giving up
// would count it lost while it runs, so the event waits for the deadline,
// where the call is replayed with its token (slot's settle) if still within
// its window, or settled by evidence beyond it (settleIfExpired).
// Otherwise the relaunch is given up.
func (h *Relaunch) slotPastDeadline(ctx context.Context, j *relaunchJob, wait time.Duration) (EventOutput, error) {
	unsettled := j.unsettled
	if unsettled {
		// Cleared first: a pass back before the deadline must not release
		// the same slot twice.
		if err := h.store.SetRelaunchSlot(ctx, j.taskARN(), time.Time{}); err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
	}
	if err := giveBack(ctx, h.lim, ServiceECS, j.slot); err != nil {
		j.log.Warn("relaunch slot not released", "err", err)
	}
	if !unsettled {
		return h.giveUp(ctx, j, j.ev.Class, fmt.Sprintf("deadline %s reached before the relaunch's slot (%.0f s away); last: %s",
			j.sr.Deadline.Format(time.RFC3339), wait.Seconds(), j.reason()))
	}
	out, err := h.deferRelaunch(ctx, j, j.sr.Deadline.Sub(h.o.Clock.Now()))
	if err == nil {
		out.Reason = fmt.Sprintf("slot %.0f s away, after the deadline; the call of unknown outcome is replayed at the deadline", wait.Seconds())
	}
	return out, err
}

// holdSlot acquires (or reuses) the slot of a relaunch, into j.slot. near
// true: call after wait (≥ 0, the time left to the slot: the call happens
// at the slot the limiter assumed, not up to DeferThreshold early). near
// false: the slot is too far (or the Lambda deadline cannot hold the wait)
// and has been remembered in the claim; wait is the time to it. The claim
// keeps only the slot's time, so a slot back from the relaunch queue is
// neither re-timed nor given back exactly.
func (h *Relaunch) holdSlot(ctx context.Context, j *relaunchJob) (near bool, wait time.Duration, err error) {
	if at := j.claim.SlotAt; !at.IsZero() {
		j.slot = limiter.Slot{At: at}
		w := at.Sub(h.o.Clock.Now())
		if w > h.o.DeferThreshold || lambdaTooNear(ctx, h.o.Clock, w) {
			return false, w, nil
		}
		return true, max(0, w), nil
	}
	service, takes := takesFor(launch.KindECS, 1, j.fargate(), j.sr.Request.Lane())
	slot, err := h.lim.Reserve(ctx, service, takes)
	if err != nil {
		countBusy(h.o.Metrics, err)
		return false, 0, err
	}
	j.slot = slot
	// From now, not from the limiter's reading of the clock: its write took time.
	w := slot.At.Sub(h.o.Clock.Now())
	if w <= h.o.DeferThreshold && !lambdaTooNear(ctx, h.o.Clock, w) {
		return true, max(0, w), nil
	}
	if err := h.store.SetRelaunchSlot(ctx, j.claim.TaskARN, slot.At); err != nil {
		_ = h.lim.Release(ctx, service, slot)
		return false, 0, err
	}
	return false, max(w, 0), nil
}

// callFailed: a throttle slows the slot's binding bucket (throttleSignal),
// a permanent refusal gives the relaunch up, anything else tries again
// later.
func (h *Relaunch) callFailed(ctx context.Context, j *relaunchJob, err error) (EventOutput, error) {
	lc := h.o.ClassifyError(err)
	if lc.Class == failure.Throttled {
		h.o.Metrics.Add(MetricThrottledSync, 1, UnitCount)
		service, takes := takesFor(launch.KindECS, 1, j.fargate(), j.sr.Request.Lane())
		bucket, sig := throttleSignal(j.slot, takes, lc.Code, j.calledAt)
		if serr := h.lim.Signal(ctx, service, bucket, sig); serr != nil {
			j.log.Warn("throttle signal lost", "bucket", bucket, "err", serr)
		}
	}
	if lc.Class == failure.Permanent {
		return h.giveUp(ctx, j, lc, fmt.Sprintf("relaunch refused: %s: %s", lc.Code, lc.Message))
	}
	j.log.Warn("relaunch call failed", "kind", lc.Class, "code", lc.Code, "err", err)
	return h.retryLater(ctx, j, false, lc, err)
}

// record closes the claim with the new task and announces it.
func (h *Relaunch) record(ctx context.Context, j *relaunchJob, newARN string) (EventOutput, error) {
	// The new task's unit and attempt first: a failure here leaves the
	// claim pending, and the next delivery replays the same token.
	if err := h.store.RecordTasks(ctx, j.requestID, []launch.TaskRef{j.nextRef(newARN, h.o.Clock.Now())}); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if err := h.store.FinishRelaunch(ctx, j.claim, newARN, h.o.Clock.Now()); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if j.quotaProbe {
		// The probe launched: the chunk no longer waits for quota.
		if err := h.store.SetQuotaWait(ctx, j.requestID, j.id.Chunk, time.Time{}); err != nil {
			j.log.Warn("quota wait not cleared", "err", err)
		}
	}
	h.o.Metrics.Add(MetricRelaunched, 1, UnitCount)
	detail := launch.TaskRelaunchedDetail{RequestID: j.requestID, Chunk: j.id.Chunk, StoppedTaskARN: j.taskARN(), NewTaskARN: newARN,
		StoppedReason: j.reason(), At: h.o.Clock.Now().UTC()}
	if err := putEvent(ctx, h.dead.events, h.o.Bus, launch.DetailTaskRelaunched, detail); err != nil {
		j.log.Warn("TaskRelaunched not put", "err", err) // the relaunch itself is recorded
	}
	j.log.Info("relaunched", "newTaskArn", newARN)
	j.out.Action, j.out.NewTaskARN = EventRelaunched, newARN
	return j.out, nil
}

// giveUp dead-letters the stopped task's unit, puts LaunchFailed and
// closes the claim as given up.
func (h *Relaunch) giveUp(ctx context.Context, j *relaunchJob, c failure.Classification, reason string) (EventOutput, error) {
	return h.giveUpCall(ctx, j, c, reason, launch.AttemptRecord{})
}

// giveUpCall is giveUp naming the call's startedBy and token in the dead
// letter (rec; zero for none).
func (h *Relaunch) giveUpCall(ctx context.Context, j *relaunchJob, c failure.Classification, reason string, rec launch.AttemptRecord) (EventOutput, error) {
	claim := j.claim
	// Settled already: recorded (a write that committed while its answer
	// timed out) or given up by another delivery, which sent its dead
	// letter first. A second give-up would count the unit failed on top.
	st, err := h.store.Chunk(ctx, claim.RequestID, claim.Chunk)
	if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if slices.Contains(st.Stopped, claim.TaskARN) {
		j.out.Action, j.out.Reason = EventDuplicate, "the stopped task is already settled (relaunched or given up)"
		return j.out, nil
	}
	detail := launch.LaunchFailedDetail{RequestID: claim.RequestID, Chunk: claim.Chunk, Kind: launch.KindECS, Attempt: -1, Missing: 1,
		Class: string(c.Class), Code: c.Code, Reason: reason, StoppedTaskARN: claim.TaskARN, At: h.o.Clock.Now().UTC()}
	if err := h.dead.send(ctx, DeadLetter{LaunchFailedDetail: detail, StartedBy: rec.StartedBy, Token: rec.Token}); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	if err := h.store.GiveUpRelaunch(ctx, claim, reason); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	h.o.Metrics.Add(MetricFailed, 1, UnitCount)
	h.o.Metrics.Add(MetricDeadLettered, 1, UnitCount)
	j.log.Warn("relaunch given up", "reason", reason)
	j.out.Action, j.out.Reason = EventGaveUp, reason
	return j.out, nil
}
