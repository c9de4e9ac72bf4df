package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// hold holds the call's slot: the one the input holds across a Wait,
// re-timed (wake), or a new one (acquire). done says out is the answer.
func (h *RunTask) hold(ctx context.Context, c *launchCall, in RunTaskInput, out RunTaskOutput) (RunTaskOutput, bool, error) {
	if held, ok := in.held(); ok {
		return h.wake(ctx, c, held, out)
	}
	return h.acquire(ctx, c, out)
}

// acquire reserves the call's slot in every bucket it draws on, then
// places it (see place). The limiter's back-pressure waits (see waitBusy).
func (h *RunTask) acquire(ctx context.Context, c *launchCall, out RunTaskOutput) (RunTaskOutput, bool, error) {
	slot, err := h.reserve(ctx, c.log, c.service, c.takes)
	if le, ok := errors.AsType[failure.LimiterError](err); ok {
		out, err := h.waitBusy(ctx, c, out, le.RetryAfter())
		return out, true, err
	}
	if err != nil {
		return RunTaskOutput{}, true, err
	}
	c.slot = slot
	return h.place(ctx, c, out, h.o.DeferThreshold)
}

// wake takes up a slot held across a Wait state. The Wait was rounded
// down, so up to a second is left to sleep here whatever the defer
// threshold; place re-checks the slot when its time has come.
func (h *RunTask) wake(ctx context.Context, c *launchCall, held limiter.Slot, out RunTaskOutput) (RunTaskOutput, bool, error) {
	c.slot, c.recheck = held, true
	return h.place(ctx, c, out, max(h.o.DeferThreshold, time.Second))
}

// maxRetimes bounds the re-checks of one invocation: each one that moves
// the slot stands for a decrease, and a storm of them ends in one call at
// the last time read rather than an invocation that never calls.
const maxRetimes = 3

// place decides what happens at c.slot. A slot past the request's deadline
// goes back and the attempt closes as refused; a slot at most sleepMax
// away is slept for, so the call lands on the slot the limiter timed; a
// further one (or a wait the Lambda deadline cannot hold) is answered
// "deferred" with the slot held, for a Wait state. A slot that was slept
// for (here or in a Wait) is re-checked just before the call, with one
// read: a decrease while it slept moves it later (see recheck), and it is
// placed again. So only the calls already sent miss a decrease, and the
// limiter's in-flight horizon can be the call's round trip (wire sets
// it). done says out is the answer.
func (h *RunTask) place(ctx context.Context, c *launchCall, out RunTaskOutput, sleepMax time.Duration) (RunTaskOutput, bool, error) {
	for retimes := 0; ; retimes++ {
		if c.fresh && c.slot.At.After(c.v.sr.Deadline) {
			out, err := h.slotPastDeadline(ctx, c, out)
			return out, true, err
		}
		// The wait counts from now, not from the limiter's reading of the
		// clock: the time its write took is already spent.
		wait := c.slot.At.Sub(h.o.Clock.Now())
		if wait > sleepMax || wait > 0 && lambdaTooNear(ctx, h.o.Clock, wait) {
			h.markHeld(ctx, c)
			return h.deferred(c, out, wait), true, nil
		}
		if wait > 0 {
			if err := h.o.Clock.Sleep(ctx, wait); err != nil {
				// The attempt stays "sent": the next invocation replays it.
				return RunTaskOutput{}, true, transientErr("runtask", fmt.Errorf("waiting for the slot: %w", err))
			}
			c.recheck = true
		}
		if !c.recheck || retimes == maxRetimes {
			return out, false, nil
		}
		c.recheck = false
		held := c.slot
		if out, done, err := h.recheck(ctx, c, out); done {
			return out, true, err
		}
		if !c.slot.At.After(held.At) {
			return out, false, nil
		}
	}
}

// recheck re-times c.slot with one read: a decrease since it was booked
// moves it later, never earlier, with the same positions. If the limiter
// cannot read its store, the slot keeps its place and time, unless it is
// already more than StaleSlot past: then the chunk waits for the limiter.
// A slot re-timed more than StaleSlot into the past (woken long after it:
// retried through a store outage, a slow invocation) is replaced by a new
// one. done says out is the answer.
func (h *RunTask) recheck(ctx context.Context, c *launchCall, out RunTaskOutput) (RunTaskOutput, bool, error) {
	held := c.slot
	slot, err := h.lim.Recheck(ctx, c.service, held)
	switch {
	case err != nil && h.o.Clock.Now().Sub(held.At) > h.o.StaleSlot:
		// Late and not re-checked: calling now could land far off the
		// schedule, and a new slot needs the same store. Wait for it.
		countBusy(h.o.Metrics, err)
		c.log.Warn("stale held slot not re-checked; waiting for the limiter", "err", err)
		out, err := h.waitBusy(ctx, c, out, busyWait(err))
		return out, true, err
	case err != nil:
		countBusy(h.o.Metrics, err)
		c.log.Warn("held slot not re-timed; kept as it was", "err", err)
		return out, false, nil
	case h.o.Clock.Now().Sub(slot.At) > h.o.StaleSlot:
		// The real bucket lost the refill the slot stood for, and a crowd
		// of such calls would go out at once. The old position stays
		// charged (it pays for that refill); a new one is taken now.
		h.o.Metrics.Add(MetricStaleSlots, 1, UnitCount)
		c.log.Info("held slot stale; taking a new one", "slotAt", slot.At.UTC(), "lateMs", h.o.Clock.Now().Sub(slot.At).Milliseconds())
		return h.acquire(ctx, c, out)
	case slot.At.After(held.At):
		c.log.Info("held slot re-timed", "from", held.At.UTC(), "slotAt", slot.At.UTC(), "laterMs", slot.At.Sub(held.At).Milliseconds())
	}
	c.slot = slot
	return out, false, nil
}

// codeSlotHeld marks a new attempt that waits for its slot across a Wait.
const codeSlotHeld = "SlotHeld"

// markHeld records that a new attempt deferred to its slot was not sent: its
// outcome is known until the invocation after the Wait marks it sent again
// (begin), so a slot a decrease moved past the request's deadline is then
// given up without a call. Left "sent" (the write failed, or a replay of
// an attempt whose outcome is unknown), it is called whenever its slot
// comes, as a replay must be.
func (h *RunTask) markHeld(ctx context.Context, c *launchCall) {
	if !c.fresh {
		return
	}
	if err := h.store.FailAttempt(ctx, c.v.sr.Request.RequestID, c.v.spec.Index, c.rec.Attempt, c.rec.Sends, codeSlotHeld); err != nil {
		c.log.Warn("deferred attempt left as sent", "err", err)
	}
}

// slotPastDeadline gives back a slot that lies after the request's
// deadline and closes the attempt as refused.
func (h *RunTask) slotPastDeadline(ctx context.Context, c *launchCall, out RunTaskOutput) (RunTaskOutput, error) {
	v := c.v
	ferr := h.store.FailAttempt(ctx, v.sr.Request.RequestID, v.spec.Index, c.rec.Attempt, c.rec.Sends, CodeDeadlinePassed)
	if rerr := giveBack(ctx, h.lim, c.service, c.slot); rerr != nil {
		c.log.Warn("slot past the deadline not released", "err", rerr)
	}
	if ferr != nil {
		return RunTaskOutput{}, transientErr("runtask", ferr)
	}
	c.log.Info("slot past the deadline given back", "slotAt", c.slot.At.UTC(), "deadline", v.sr.Deadline)
	return h.pastDeadline(out, v.spec, v.state, v.sr.Deadline, c.slot.At), nil
}

// deferred answers "deferred" with the slot held. waitSeconds is the wait
// rounded down and the invocation after the Wait sleeps the rest: rounded
// up, every deferred call would land up to a second after its slot, off
// the schedule the limiter keeps (and times throttles by).
func (h *RunTask) deferred(c *launchCall, out RunTaskOutput, wait time.Duration) RunTaskOutput {
	slot := c.slot
	slot.At, slot.Wait = slot.At.UTC(), wait
	at := slot.At
	out.Status, out.WaitSeconds, out.Slot, out.SlotAt = StatusDeferred, int(wait/time.Second), &slot, &at
	out.Launched, out.Missing = c.v.state.Launched(), c.v.state.Missing(c.v.spec.Size)
	h.o.Metrics.Add(MetricDeferrals, 1, UnitCount)
	h.o.Metrics.Add(MetricDeferSeconds, wait.Seconds(), UnitSeconds)
	c.log.Info("deferred", "delayMs", wait.Milliseconds(), "slotAt", at, "binding", slot.Binding)
	return out
}

// reserve takes a slot. A slot already further in the past than StaleSlot
// when the limiter answers was computed from a stale clock reading (the
// limiter's write took that long): the limiter believes the call happened
// back then, while the real bucket, full in the meantime, could not bank
// the refill. The slot is then taken again, once, at the current time; the
// stale one stays charged, which pays for the refill the bucket lost.
func (h *RunTask) reserve(ctx context.Context, log *slog.Logger, service string, takes []limiter.Take) (limiter.Slot, error) {
	var slot limiter.Slot
	var err error
	for try := 0; try < 2; try++ {
		if slot, err = h.lim.Reserve(ctx, service, takes); err != nil {
			countBusy(h.o.Metrics, err)
			log.Warn("limiter refused", "err", err)
			return limiter.Slot{}, limiterErr(h.o.Classify(err), err)
		}
		late := h.o.Clock.Now().Sub(slot.At)
		if late <= h.o.StaleSlot {
			break
		}
		h.o.Metrics.Add(MetricStaleSlots, 1, UnitCount)
		log.Info("stale slot taken again", "delayMs", late.Milliseconds())
	}
	return slot, nil
}

// release gives back a slot held from a deferral when no call is made.
func (h *RunTask) release(ctx context.Context, kind launch.Kind, slot limiter.Slot) {
	if err := giveBack(ctx, h.lim, serviceOf(kind), slot); err != nil {
		h.o.Logger.Warn("held slot not released", "err", err)
	}
}

// codeLimiterWait marks a new attempt that was not sent because the
// limiter pushed back (backlog full, store busy).
const codeLimiterWait = "LimiterWait"

// busyWait is the wait a limiter failure asks for (1 s if it says none).
func busyWait(err error) time.Duration {
	if le, ok := errors.AsType[failure.LimiterError](err); ok && le.RetryAfter() > 0 {
		return le.RetryAfter()
	}
	return time.Second
}

// waitBusy answers the limiter's back-pressure (backlog full, store busy):
// nothing was called, so a new attempt is recorded as not sent and the
// chunk is "deferred" for the limiter's retry-after, holding no slot. It
// spends no attempt; only the request's deadline bounds it. A replay stays
// unknown and is made after the wait.
func (h *RunTask) waitBusy(ctx context.Context, c *launchCall, out RunTaskOutput, wait time.Duration) (RunTaskOutput, error) {
	wait = max(wait, time.Second)
	now := h.o.Clock.Now()
	if c.fresh {
		if err := h.store.FailAttempt(ctx, c.v.sr.Request.RequestID, c.v.spec.Index, c.rec.Attempt, c.rec.Sends, codeLimiterWait); err != nil {
			c.log.Warn("attempt not sent, left as sent", "err", err)
		}
		if now.Add(wait).After(c.v.sr.Deadline) {
			return h.pastDeadline(out, c.v.spec, c.v.state, c.v.sr.Deadline, now.Add(wait)), nil
		}
	}
	out.Status, out.WaitSeconds = StatusDeferred, int(math.Ceil(wait.Seconds()))
	out.Slot, out.SlotAt = &limiter.Slot{}, nil // the Wait state's next step reads a slot
	out.Launched, out.Missing = c.v.state.Launched(), c.v.state.Missing(c.v.spec.Size)
	h.o.Metrics.Add(MetricDeferrals, 1, UnitCount)
	h.o.Metrics.Add(MetricDeferSeconds, wait.Seconds(), UnitSeconds)
	c.log.Info("limiter busy; deferred", "delayMs", wait.Milliseconds())
	return out, nil
}
