package handler

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// Quota as a queue. A call refused for an account quota (Fargate vCPUs,
// TaskLimitExceeded, EC2 vCPU or instance limits — as an exception, in
// failures[], or a task that failed to start for it) does not give its
// units up: the chunk waits, spending no attempt, until capacity frees —
// when one of the request's own tasks stops (the tracker counts it:
// NoteTaskStopped) or QuotaProbeEvery after the last probe — and only then
// calls again (a probe). Probes are claimed on the request's quota gate
// (Store.ClaimQuotaProbe), so however many chunks wait, the request probes
// at most once per interval plus once per stop. The wait ends at the
// request's deadline: the units are then dead-lettered with class quota.
//
// The loop is the state machine's retry loop (RunTask → Classify → Retry →
// Backoff), about 21 history events a turn. Its Wait grows with the time
// waited (QuotaWaitInterval), so a wait as long as the longest deadline
// (7 days) stays under Step Functions' 25,000 events of history.

// Quota gate settings.
const (
	// QuotaProbeEvery is the least time between two probes of a request
	// without a stop of its tasks in between.
	QuotaProbeEvery = 30 * time.Second
	// CodeQuotaWait is the code of a call not made: the chunk waits for
	// quota and the gate granted no probe.
	CodeQuotaWait = "QuotaWait"
	// MetricQuotaProbes counts the calls made as quota probes;
	// MetricQuotaWaits the waits decided for quota.
	MetricQuotaProbes = "QuotaProbes"
	MetricQuotaWaits  = "QuotaWaits"
)

// The quota wait's schedule: quotaWaitShare of the time waited so far,
// within [quotaWaitMin, quotaWaitMax]. The overhead on a wait that ends is
// then at most 5 % (or 10 s); 600 s as the cap keeps a 7-day wait to
// about 1,100 turns (≈ 23,000 events) where 300 s would take 2,100 turns,
// too many for the history.
const (
	quotaWaitMin   = 10 * time.Second
	quotaWaitMax   = 600 * time.Second
	quotaWaitShare = 0.05
)

// QuotaWaitInterval is the wait of a chunk that has waited for quota for
// waited: 5 % of it, at least 10 s, at most 600 s.
func QuotaWaitInterval(waited time.Duration) time.Duration {
	w := time.Duration(float64(waited) * quotaWaitShare)
	return min(max(w, quotaWaitMin), quotaWaitMax).Round(time.Second)
}

// IsQuotaStop says a stopped task's reason is an account quota: a
// TaskFailedToStart of that kind waits for quota (QuotaHold) rather than
// spending an attempt.
func IsQuotaStop(stoppedReason string) bool {
	return failure.ClassifyRunTaskFailure(stoppedReason, "").Class == failure.Quota
}

// QuotaHold is what a unit waiting for quota does now.
type QuotaHold struct {
	// Probe: the gate granted a probe: call now.
	Probe bool
	// Wait: no probe now; ask again after Wait.
	Wait time.Duration
	// GiveUp: the deadline passes before the next probe: dead-letter the
	// unit with class quota (Reason says why).
	GiveUp bool
	Reason string
	// Since is when the chunk began waiting.
	Since time.Time
}

// HoldForQuota decides for a unit of chunk that met a quota (the relaunch
// path's TaskFailedToStart of quota kind, or its call refused for one):
// the chunk's wait starts now if it had not (SetQuotaWait); then a probe
// if the gate grants one, else a wait, or a give-up past the deadline.
func HoldForQuota(ctx context.Context, st launchstore.Store, m Recorder, requestID string, chunk int, state launch.ChunkState, deadline, now time.Time) (QuotaHold, error) {
	since, err := beginQuotaWait(ctx, st, requestID, chunk, state, now)
	if err != nil {
		return QuotaHold{}, err
	}
	ok, err := st.ClaimQuotaProbe(ctx, requestID, now, QuotaProbeEvery)
	if err != nil {
		return QuotaHold{}, err
	}
	if ok && now.Before(deadline) {
		m.Add(MetricQuotaProbes, 1, UnitCount)
		return QuotaHold{Probe: true, Since: since}, nil
	}
	wait := QuotaWaitInterval(now.Sub(since))
	if !now.Add(wait).Before(deadline) {
		return QuotaHold{GiveUp: true, Since: since, Reason: quotaDeadlineReason(since, deadline)}, nil
	}
	m.Add(MetricQuotaWaits, 1, UnitCount)
	return QuotaHold{Wait: wait, Since: since}, nil
}

// beginQuotaWait returns since when the chunk waits for quota, starting
// the wait at now if it had not. The refused call that started it counts
// as the gate's first probe, so the next comes QuotaProbeEvery later (or
// after a stop).
func beginQuotaWait(ctx context.Context, st launchstore.Store, requestID string, chunk int, state launch.ChunkState, now time.Time) (time.Time, error) {
	if !state.QuotaWaitSince.IsZero() {
		return state.QuotaWaitSince, nil
	}
	if err := st.SetQuotaWait(ctx, requestID, chunk, now); err != nil {
		return time.Time{}, err
	}
	if _, err := st.ClaimQuotaProbe(ctx, requestID, now, QuotaProbeEvery); err != nil {
		return time.Time{}, err
	}
	return now, nil
}

func quotaDeadlineReason(since, deadline time.Time) string {
	return fmt.Sprintf("waited for quota since %s; the deadline %s passes before the next probe",
		since.UTC().Format(time.RFC3339), deadline.UTC().Format(time.RFC3339))
}

// quotaWaitErr is runtask's answer when the gate grants no probe: nothing
// was called; class quota, so the retry waits again.
func quotaWaitErr(requestID string, chunk int, since time.Time) error {
	return &failure.QuotaError{Detail: failure.Detail{Code: CodeQuotaWait, Op: "runtask",
		Err: fmt.Errorf("request %s chunk %d waits for quota since %s: no probe granted (next on a stop of the request's tasks or %s after the last probe)",
			requestID, chunk, since.UTC().Format(time.RFC3339), QuotaProbeEvery)}}
}

// quotaGate is runtask's gate before a new call of a chunk that waits
// for quota: the call goes only if the gate grants a probe. A replay (its
// outcome unknown) and a call holding its slot (granted before its Wait)
// pass.
func (h *RunTask) quotaGate(ctx context.Context, in RunTaskInput, v chunkView, fresh bool) error {
	since := v.state.QuotaWaitSince
	if _, holding := in.held(); !fresh || holding || since.IsZero() {
		return nil
	}
	log := h.o.Logger.With("requestId", in.RequestID, "chunk", in.Chunk, "attempt", in.Attempt)
	ok, err := h.store.ClaimQuotaProbe(ctx, in.RequestID, h.o.Clock.Now(), QuotaProbeEvery)
	if err != nil {
		return transientErr("runtask", err)
	}
	if !ok {
		log.Info("waiting for quota", "since", since.UTC())
		return quotaWaitErr(in.RequestID, in.Chunk, since)
	}
	h.o.Metrics.Add(MetricQuotaProbes, 1, UnitCount)
	log.Info("quota probe", "since", since.UTC())
	return nil
}

// endQuotaWait clears the chunk's wait once it launched; a failure only
// costs a gated probe later.
func (h *RunTask) endQuotaWait(ctx context.Context, c *launchCall, launched int) {
	if launched == 0 || c.v.state.QuotaWaitSince.IsZero() {
		return
	}
	if err := h.store.SetQuotaWait(ctx, c.in.RequestID, c.in.Chunk, time.Time{}); err != nil {
		c.log.Warn("quota wait not cleared", "err", err)
	}
}

// waitForQuota is the retry's decision on a quota failure: wait (no
// attempt spent) and make the same call again when a probe is granted, or
// give the chunk up with class quota when the deadline passes first.
func (h *ChunkRetry) waitForQuota(ctx context.Context, in RetryInput, out RetryOutput, v chunkView, c failure.Classification) (RetryOutput, error) {
	now := h.o.Clock.Now()
	log := h.o.Logger.With("requestId", in.RequestID, "chunk", in.Chunk, "attempt", in.Attempt, "kind", c.Class, "code", c.Code)
	h.o.Metrics.Add(MetricRetries, 1, UnitCount)
	h.o.Metrics.Add(MetricRetries+"."+string(c.Class), 1, UnitCount)
	since, err := beginQuotaWait(ctx, h.store, in.RequestID, in.Chunk, v.state, now)
	if err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	wait := QuotaWaitInterval(now.Sub(since))
	if !now.Add(wait).Before(v.sr.Deadline) {
		code := c.Code
		if cause := lastQuotaRefusal(v.state); code == CodeQuotaWait && cause != "" {
			code += " (last refused: " + cause + ")" // which quota: the gate's own code does not say
		}
		reason := fmt.Sprintf("%s: %s: %s: %d of %d units not launched", c.Class, code, quotaDeadlineReason(since, v.sr.Deadline), v.state.Missing(v.spec.Size), v.spec.Size)
		return h.settleOrGiveUp(ctx, log, in, out, v, c, v.state.Retries, wait, reason)
	}
	h.o.Metrics.Add(MetricQuotaWaits, 1, UnitCount)
	out.Attempt, out.ReuseToken = quotaAttempt(in.Attempt, c, v.state)
	out.WaitSeconds = int(wait / time.Second)
	out.Reason = fmt.Sprintf("%s: %s: waiting for quota since %s", c.Class, c.Code, since.UTC().Format(time.RFC3339))
	log.Info("waiting for quota", "since", since.UTC(), "delayMs", wait.Milliseconds(), "next", out.Attempt)
	return out, nil
}

// quotaAttempt is the attempt made after a quota wait: an attempt whose
// outcome is unknown is replayed first; a call not made (the gate) or
// refused (an exception: its token bound nothing) is made again as it
// was; an answer with failures[] binds its token, so the missing units
// take the next attempt.
func quotaAttempt(failed int, c failure.Classification, state launch.ChunkState) (int, bool) {
	if u, ok := state.Unsettled(); ok {
		return u.Attempt, true
	}
	rec, recorded := state.Attempts[failed]
	if c.Code == CodeQuotaWait || !recorded || rec.State == launch.AttemptFailed {
		return failed, false
	}
	last := failed
	for a := range state.Attempts {
		last = max(last, a)
	}
	return last + 1, false
}

// lastQuotaRefusal is the code (or failures[] reason) of the chunk's
// latest attempt that was refused: the quota the chunk waited for.
func lastQuotaRefusal(state launch.ChunkState) string {
	nums := slices.Sorted(maps.Keys(state.Attempts))
	for _, n := range slices.Backward(nums) {
		a := state.Attempts[n]
		switch {
		case a.Code != "" && a.Code != CodeQuotaWait:
			return a.Code
		case len(a.Failures) > 0:
			return a.Failures[0].Reason
		}
	}
	return ""
}
