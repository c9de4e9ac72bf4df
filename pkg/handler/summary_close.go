package handler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// WithDeadLetters gives the summary the product's dead-letter queue: the
// units it closes (closePending, closeRelaunches) are sent there as well as
// announced with LaunchFailed. Without it they are only announced and
// recorded.
func (h *SummaryHandler) WithDeadLetters(api SQSAPI, dlqURL string) *SummaryHandler {
	h.sqs, h.dlq = api, dlqURL
	return h
}

// deadLetter sends one closed unit group (DLQ if configured, then
// LaunchFailed): at least once, before it is recorded.
func (h *SummaryHandler) deadLetter(ctx context.Context, dl DeadLetter) error {
	if h.sqs != nil && h.dlq != "" {
		if err := sendDeadLetter(ctx, h.sqs, h.dlq, dl); err != nil {
			return err
		}
	}
	return putEvent(ctx, h.events, h.o.Bus, launch.DetailLaunchFailed, dl.LaunchFailedDetail)
}

// closePending dead-letters every unit of a chunk that is neither launched,
// given up nor waiting for a relaunch, once every chunk has ended: a chunk
// that stalled (Classify/Retry failing past their retries), failed, or
// never ran. Each chunk is recorded given up once (GiveUp is conditional),
// so a repeated check sends nothing new. A unit whose attempt's outcome is
// unknown may be running: it is dead-lettered as OutcomeUnknown.
func (h *SummaryHandler) closePending(ctx context.Context, sr launch.StoredRequest) (int, error) {
	chunks, _, err := h.store.Chunks(ctx, sr.Request.RequestID)
	if err != nil {
		return 0, err
	}
	byIndex := make(map[int]launch.ChunkState, len(chunks))
	for _, c := range chunks {
		byIndex[c.Index] = c
	}
	closed := 0
	for i := range sr.Plan.Count {
		spec, err := sr.Request.Chunk(i)
		if err != nil {
			continue
		}
		c := byIndex[i]
		missing := c.Missing(spec.Size)
		if c.GaveUp || missing == 0 {
			continue
		}
		dl := h.unfinished(sr.Request.RequestID, spec, c, missing)
		if err := h.deadLetter(ctx, dl); err != nil {
			return closed, err
		}
		first, err := h.store.GiveUp(ctx, dl.RequestID, i, missing, dl.Class, dl.Code, dl.Reason)
		if err != nil {
			return closed, err
		}
		if first {
			closed += missing
			h.o.Metrics.Add(MetricFailed, float64(missing), UnitCount)
			h.o.Metrics.Add(MetricDeadLettered, float64(missing), UnitCount)
			h.o.Logger.Warn("summary dead-lettered an unfinished chunk", "requestId", dl.RequestID, "chunk", i, "missing", missing, "code", dl.Code)
		}
	}
	return closed, nil
}

// unfinished is the dead letter of a chunk's missing units, naming the
// attempt they belong to.
func (h *SummaryHandler) unfinished(requestID string, spec launch.ChunkSpec, c launch.ChunkState, missing int) DeadLetter {
	last := 0
	for a := range c.Attempts {
		last = max(last, a)
	}
	code, reason := launch.CodeChunkUnfinished, fmt.Sprintf("the request's chunks ended with %d of %d units neither launched nor given up", missing, spec.Size)
	switch u, unknown := c.Unsettled(); {
	case unknown:
		last = u.Attempt
		code, reason = launch.CodeOutcomeUnknown, fmt.Sprintf("attempt %d's outcome is unknown (it may have launched up to %d units) and the chunk ended without settling it", u.Attempt, missing)
	case len(c.Attempts) == 0:
		reason = fmt.Sprintf("the chunk never ran (%d units)", missing)
	default:
		reason += fmt.Sprintf(" (last attempt %d)", last)
	}
	rec := c.Attempts[last]
	return DeadLetter{LaunchFailedDetail: launch.LaunchFailedDetail{
		RequestID: requestID, Chunk: spec.Index, Kind: spec.Kind, Attempt: last, Missing: missing,
		Class: launch.ClassUnfinished, Code: code, Reason: reason, At: h.o.Clock.Now().UTC(),
	}, Failures: rec.Failures, StartedBy: rec.StartedBy}
}

// closeRelaunches ends the request's pending relaunches when its final
// summary is due: the request is marked closed first (the relaunch path
// then launches nothing more for it), then each task still waiting for a
// relaunch is dead-lettered (a lost record, counted once). A relaunch whose
// call has an unknown outcome is dead-lettered as OutcomeUnknown.
func (h *SummaryHandler) closeRelaunches(ctx context.Context, requestID string) (int, error) {
	if c, ok := h.store.(launchstore.Closer); ok {
		if _, err := c.CloseRequest(ctx, requestID, launchstore.ClosedCompleted, h.o.Clock.Now()); err != nil {
			return 0, err
		}
	}
	chunks, _, err := h.store.Chunks(ctx, requestID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range chunks {
		for _, arn := range c.Relaunching {
			if slices.Contains(c.Stopped, arn) {
				continue
			}
			if err := h.closeRelaunch(ctx, requestID, c.Index, arn); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func (h *SummaryHandler) closeRelaunch(ctx context.Context, requestID string, chunk int, arn string) error {
	code, reason := launch.CodeRelaunchUnfinished, "the request ended while the task that failed to start waited for its relaunch (late, or on the relaunch dead-letter queue)"
	if unknown, err := h.store.RelaunchUnsettled(ctx, arn); err != nil {
		return err
	} else if unknown {
		code, reason = launch.CodeOutcomeUnknown, "the request ended while the relaunch's call had an unknown outcome: the new task may be running"
	}
	err := h.deadLetter(ctx, DeadLetter{LaunchFailedDetail: launch.LaunchFailedDetail{
		RequestID: requestID, Chunk: chunk, Kind: launch.KindECS, Missing: 1, Class: launch.ClassUnfinished,
		Code: code, Reason: reason, StoppedTaskARN: arn, At: h.o.Clock.Now().UTC(),
	}})
	if err != nil {
		return err
	}
	h.o.Logger.Warn("summary dead-lettered a pending relaunch", "requestId", requestID, "chunk", chunk, "stoppedTaskArn", arn, "code", code)
	return h.store.GiveUpRelaunch(ctx, launch.RelaunchClaim{TaskARN: arn, RequestID: requestID, Chunk: chunk}, code+": "+reason)
}

// closedRelaunch says a lost relaunch's reason is closeRelaunch's.
func closedRelaunch(reason string) bool {
	return strings.HasPrefix(reason, launch.CodeRelaunchUnfinished+": ") || strings.HasPrefix(reason, launch.CodeOutcomeUnknown+": ")
}

// relaunchOutcomeUnknown says a pending relaunch of the request made a call
// whose outcome is unknown (replayed at the deadline, so worth the grace).
func (h *SummaryHandler) relaunchOutcomeUnknown(ctx context.Context, requestID string) (bool, error) {
	chunks, _, err := h.store.Chunks(ctx, requestID)
	if err != nil {
		return false, err
	}
	for _, c := range chunks {
		for _, arn := range c.Relaunching {
			if slices.Contains(c.Stopped, arn) {
				continue
			}
			if unknown, err := h.store.RelaunchUnsettled(ctx, arn); err != nil || unknown {
				return unknown, err
			}
		}
	}
	return false, nil
}
