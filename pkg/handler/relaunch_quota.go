package handler

import (
	"context"
	"fmt"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// Quota as a queue on the relaunch path: a task that failed to start for
// an account quota (vCPUs, TaskLimitExceeded), a relaunch call refused for
// one, and any relaunch of a chunk already waiting for quota, wait instead
// of giving up. No attempt is spent (the relaunch budget is not charged);
// the relaunch calls only when the request's quota gate grants a probe (a
// task of the request stopped, or QuotaProbeEvery since the last probe:
// HoldForQuota), and waits on the relaunch queue otherwise, until the
// deadline dead-letters it with class quota.

// holdForQuota is the gate before a relaunch's slot. A call of unknown
// outcome (replayed with its token) and a relaunch holding a slot granted
// earlier pass.
func (h *Relaunch) holdForQuota(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	if j.unsettled || !j.claim.SlotAt.IsZero() {
		return false, EventOutput{}, nil
	}
	st, err := h.store.Chunk(ctx, j.requestID, j.id.Chunk)
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	if j.ev.Class.Class != failure.Quota && st.QuotaWaitSince.IsZero() {
		return false, EventOutput{}, nil
	}
	hold, err := HoldForQuota(ctx, h.store, h.o.Metrics, j.requestID, j.id.Chunk, st, j.sr.Deadline, h.o.Clock.Now())
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	switch {
	case hold.Probe:
		j.quotaProbe = true
		return false, EventOutput{}, nil
	case hold.GiveUp:
		out, err := h.giveUp(ctx, j, quotaClass(j), "not relaunched: "+hold.Reason+"; last: "+j.reason())
		return true, out, err
	}
	out, err := h.deferRelaunch(ctx, j, hold.Wait)
	if err == nil {
		out.Reason = fmt.Sprintf("waits for quota since %s; asks again in %d s", hold.Since.UTC().Format("15:04:05"), out.WaitSeconds)
	}
	return true, out, err
}

// quotaLater starts (or continues) the chunk's wait for quota after the
// relaunch call was refused for one, and puts the relaunch back on the
// queue; its next delivery goes through the gate. answered: the refusal
// is the token's own answer (failures[]), which settles the call.
func (h *Relaunch) quotaLater(ctx context.Context, j *relaunchJob, answered bool) (EventOutput, error) {
	if answered {
		if err := h.store.AdvanceRelaunchToken(ctx, j.claim.TaskARN, j.claim.Gen, j.sends); err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
	}
	if err := h.store.SetRelaunchSlot(ctx, j.claim.TaskARN, time.Time{}); err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	now := h.o.Clock.Now()
	st, err := h.store.Chunk(ctx, j.requestID, j.id.Chunk)
	if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	since, err := beginQuotaWait(ctx, h.store, j.requestID, j.id.Chunk, st, now)
	if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	wait := QuotaWaitInterval(now.Sub(since))
	if !now.Add(wait).Before(j.sr.Deadline) {
		return h.giveUp(ctx, j, quotaClass(j), "not relaunched: "+quotaDeadlineReason(since, j.sr.Deadline)+"; last: "+j.reason())
	}
	h.o.Metrics.Add(MetricQuotaWaits, 1, UnitCount)
	out, err := h.deferRelaunch(ctx, j, wait)
	if err == nil {
		out.Reason = fmt.Sprintf("relaunch refused for quota; waits, asks again in %d s", out.WaitSeconds)
	}
	return out, err
}

// quotaClass is the class a quota give-up is dead-lettered with.
func quotaClass(j *relaunchJob) failure.Classification {
	if j.ev.Class.Class == failure.Quota {
		return j.ev.Class
	}
	return failure.Classification{Class: failure.Quota, Code: CodeQuotaWait}
}
