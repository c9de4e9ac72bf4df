package handler

import (
	"context"
	"fmt"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// record is the relaunch call as sent: one task, the claim's token
// generation, the relaunch's startedBy.
func (j *relaunchJob) record() launch.AttemptRecord {
	return launch.AttemptRecord{Count: 1, Token: launch.RelaunchTokenGen(j.taskARN(), j.claim.Gen),
		StartedBy: launch.RelaunchStartedBy(j.requestID, j.id.Chunk, j.taskARN())}
}

// settleIfExpired reads whether an earlier call of the relaunch's token has
// an unknown outcome (into j), and settles it by evidence when the token's
// window has passed: re-sending it then could launch the task a second
// time (ECS forgets a token after a while, and the same token launches
// anew).
func (h *Relaunch) settleIfExpired(ctx context.Context, j *relaunchJob) (bool, EventOutput, error) {
	var err error
	j.unsettled, j.unsettledAt, err = h.store.RelaunchUnsettledSince(ctx, j.taskARN())
	if err != nil {
		return true, EventOutput{}, transientErr("retry", err)
	}
	if !h.beyondReplay(j) {
		return false, EventOutput{}, nil
	}
	out, err := h.settleByEvidence(ctx, j)
	return true, out, err
}

// markUnsettled is the time of the unsettled mark written before a call;
// the first such call starts the token's window (the store keeps the first).
func (h *Relaunch) markUnsettled(j *relaunchJob) time.Time {
	now := h.o.Clock.Now()
	if !j.unsettled {
		j.unsettled, j.unsettledAt = true, now
	}
	return now
}

// replayWindowLeft is the time left to replay the relaunch's call of
// unknown outcome with its token (≤ 0: none; it is settled by evidence).
func (h *Relaunch) replayWindowLeft(j *relaunchJob) time.Duration {
	first := j.unsettledAt
	if first.IsZero() {
		first = j.sr.Created
	}
	return first.Add(h.o.TokenLifetime).Sub(h.o.Clock.Now())
}

// beyondReplay says the relaunch's call of unknown outcome may not be
// replayed: its first send is TokenLifetime or more ago. A mark without a
// time counts from the request's creation.
func (h *Relaunch) beyondReplay(j *relaunchJob) bool {
	return j.unsettled && h.replayWindowLeft(j) <= 0
}

// evidence is the lookup of relaunch calls of unknown outcome.
func (h *Relaunch) evidence() evidence {
	return evidence{lim: h.lim, ecs: h.ecs, o: h.o.Options, op: "retry", classify: h.o.ClassifyError,
		deferThreshold: h.o.DeferThreshold, looks: h.o.EvidenceLooks, spacing: h.o.EvidenceSpacing}
}

// settleByEvidence settles a relaunch call whose token is past its window:
// the tasks listed with the relaunch's startedBy are looked for (under the
// limiter, more than once); one found is the relaunch's new task, recorded
// as an answer would be. None found: the task may still be running, so the
// relaunch is given up as OutcomeUnknown (dead-lettered with its startedBy
// and token; redrive skips it), never sent again.
func (h *Relaunch) settleByEvidence(ctx context.Context, j *relaunchJob) (EventOutput, error) {
	rec := j.record()
	ids, err := h.evidence().gather(ctx, launch.KindECS, j.sr.Request.ECS.Cluster, rec)
	if err != nil {
		// Still unsettled: the next delivery looks again.
		return EventOutput{}, err
	}
	if len(ids) > 0 {
		j.log.Info("relaunch settled by evidence", "found", ids[0])
		return h.record(ctx, j, ids[0])
	}
	h.o.Metrics.Add(MetricOutcomeUnknown, 1, UnitCount)
	c := failure.Classification{Class: failure.Permanent, Code: CodeOutcomeUnknown}
	reason := fmt.Sprintf("%s: the relaunch call first sent at %s was not answered within its token's window (%s), and no task with startedBy %s was found; it may be running: look for startedBy %s / client token %s, do not launch it again",
		CodeOutcomeUnknown, j.unsettledAt.UTC().Format(time.RFC3339), h.o.TokenLifetime, rec.StartedBy, rec.StartedBy, rec.Token)
	return h.giveUpCall(ctx, j, c, reason, rec)
}
