package handler

import (
	"context"
	"fmt"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Codes of an attempt whose outcome stays unknown.
const (
	// CodeReplayUnsettled: a replay (same token) was answered with an
	// error other than a throttle. It may have been refused while an
	// earlier send launched, so the outcome stays unknown and the attempt
	// is replayed again (a transient failure: same token).
	CodeReplayUnsettled = "ReplayUnsettled"
	// CodeOutcomeUnknown: no replay settled the attempt (its token expired,
	// or replays kept failing), and the evidence found fewer units than it
	// asked for. The rest may be running: they are dead-lettered with this
	// code, never launched again under a new token (and redrive skips it).
	CodeOutcomeUnknown = launch.CodeOutcomeUnknown
)

// MetricOutcomeUnknown counts units left with an unknown outcome after the
// evidence (dead-lettered as OutcomeUnknown).
const MetricOutcomeUnknown = "OutcomeUnknown"

// replayUnsettled is the error of a replay answered with a non-throttle
// error: transient, so the retry keeps the attempt and its token.
func replayUnsettled(rec launch.AttemptRecord, cl failure.Classification, op string, err error) error {
	return &failure.TransientError{Detail: failure.Detail{
		Code: CodeReplayUnsettled, Op: op, RetryAfter: max(time.Duration(cl.MinDelaySeconds*float64(time.Second)), time.Second),
		Err: fmt.Errorf("replay of attempt %d (token %s) answered %s: outcome still unknown: %w", rec.Attempt, rec.Token, cl.Code, err),
	}}
}

// outcomeUnknownErr ends the chunk: the retry gives it up and dead-letters
// its missing units as OutcomeUnknown (DeadLetter.OutcomeUnknown), with the
// attempt's startedBy and token so a person can look for them.
func outcomeUnknownErr(requestID string, chunk int, rec launch.AttemptRecord) error {
	return permanent("runtask", CodeOutcomeUnknown, fmt.Errorf(
		"request %s chunk %d attempt %d: %d of %d units not found after the replay window; they may be running: look for startedBy %s / client token %s, do not launch them again",
		requestID, chunk, rec.Attempt, rec.Count-rec.Launched, rec.Count, rec.StartedBy, rec.Token))
}

// markOutcomeUnknown marks the dead letter of a chunk given up on
// OutcomeUnknown, naming the attempt's client token: whatever gives the
// chunk up, the marker travels with it.
func markOutcomeUnknown(dl DeadLetter) DeadLetter {
	if dl.Code != CodeOutcomeUnknown {
		return dl
	}
	dl.OutcomeUnknown = true
	if dl.Token == "" {
		dl.Token = launch.ClientToken(dl.RequestID, dl.Chunk, dl.Attempt)
	}
	return dl
}

// unknownOutcome is the error for a chunk with an attempt settled as
// unknown: it makes no new attempt (that could launch its units twice).
func unknownOutcome(requestID string, spec launch.ChunkSpec, state launch.ChunkState) error {
	u, ok := state.Unknown()
	if !ok || state.GaveUp || state.Missing(spec.Size) == 0 {
		return nil
	}
	return outcomeUnknownErr(requestID, spec.Index, u)
}

// beyondReplay says an attempt whose outcome is unknown is settled by
// evidence instead of a replay: its token may have expired (ECS keeps a
// RunTask token for a limited time, after which the same token launches
// anew), or replays kept failing. The token's age counts from the first
// claimed send; a record without one counts from the request's creation.
func (h *RunTask) beyondReplay(rec launch.AttemptRecord, sr launch.StoredRequest, now time.Time) bool {
	first := rec.SentAt
	if first.IsZero() {
		first = sr.Created
	}
	return now.Sub(first) >= h.o.TokenLifetime || rec.Replays >= h.o.MaxReplays
}

// settleByEvidence settles an attempt that may not be replayed: it claims
// the attempt (fencing other invocations), looks for what it launched
// (lookups under the limiter, more than once: the listings are eventually
// consistent), records every unit found, and ends the attempt "unknown"
// when fewer than asked were found: those are never relaunched.
func (h *RunTask) settleByEvidence(ctx context.Context, in RunTaskInput, v chunkView, rec launch.AttemptRecord, out RunTaskOutput) (RunTaskOutput, error) {
	log := h.o.Logger.With("requestId", in.RequestID, "chunk", in.Chunk, "attempt", rec.Attempt)
	sends, err := h.store.ClaimSend(ctx, in.RequestID, in.Chunk, rec.Attempt, rec.Sends, h.o.Clock.Now())
	if err != nil {
		return RunTaskOutput{}, transientErr("runtask", err)
	}
	rec.Sends = sends
	out.Attempt = rec.Attempt
	ids, err := h.gather(ctx, v, rec)
	if err != nil {
		// The attempt stays "sent": the next invocation looks again.
		return RunTaskOutput{}, err
	}
	at := h.o.Clock.Now()
	ids = sortedIDs(ids) // the attempt keeps its ids in order: the listing has none
	if len(ids) >= rec.Count {
		state, err := h.store.FinishAttempt(ctx, in.RequestID, in.Chunk, rec.Attempt, ids, nil, at)
		if err != nil {
			return RunTaskOutput{}, transientErr("runtask", err)
		}
		log.Info("settled by evidence", "found", len(ids))
		return h.answer(out, v.spec, state, state.Attempts[rec.Attempt]), nil
	}
	state, err := h.store.SettleAttempt(ctx, in.RequestID, in.Chunk, rec.Attempt, rec.Sends, ids, CodeOutcomeUnknown, at)
	if err != nil {
		return RunTaskOutput{}, transientErr("runtask", err)
	}
	h.o.Metrics.Add(MetricOutcomeUnknown, float64(rec.Count-len(ids)), UnitCount)
	log.Warn("outcome unknown", "found", len(ids), "count", rec.Count, "startedBy", rec.StartedBy, "token", rec.Token)
	return RunTaskOutput{}, outcomeUnknownErr(in.RequestID, in.Chunk, state.Attempts[rec.Attempt])
}

// evidence is the lookup of runtask's calls of unknown outcome.
func (h *RunTask) evidence() evidence {
	return evidence{lim: h.lim, ecs: h.ecs, ec2: h.ec2, o: h.o.Options, op: "runtask", classify: h.o.Classify,
		deferThreshold: h.o.DeferThreshold, looks: h.o.EvidenceLooks, spacing: h.o.EvidenceSpacing}
}

// gather looks for the units the attempt launched (evidence.gather).
func (h *RunTask) gather(ctx context.Context, v chunkView, rec launch.AttemptRecord) ([]string, error) {
	cluster := ""
	if v.sr.Request.ECS != nil {
		cluster = v.sr.Request.ECS.Cluster
	}
	return h.evidence().gather(ctx, v.spec.Kind, cluster, rec)
}
