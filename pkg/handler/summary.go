package handler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// SummaryInput is the summary function's input.
type SummaryInput struct {
	RequestID string `json:"requestId"`
	// WaitForRelaunches is the state machine's call once the chunks have
	// ended: it dead-letters every unit still pending (closePending); while
	// relaunches are pending and the deadline has not passed (plus
	// RelaunchGrace while one's call has an unknown outcome), or — for a
	// request waiting for completion — while a unit is not final and the
	// deadline has not passed, the summary is returned with WaitSeconds and
	// LaunchCompleted is not put; the final one closes the request and
	// dead-letters the relaunches still pending (closeRelaunches). Without
	// it every call is final and only reports (throttlectl invoke). Every
	// final summary carries the request's status (finish).
	WaitForRelaunches bool `json:"waitForRelaunches,omitempty"`
	// ChunksError is the state machine's call when the chunks' Map failed
	// (its Catch): the failure is recorded for the final summary, which
	// answers the request's callback with it (callback_summary.go).
	ChunksError *ExecutionError `json:"chunksError,omitempty"`
}

// RelaunchCheckSeconds is the shortest WaitSeconds of a summary that waits
// (a loop of the state machine: 3 transitions each).
const RelaunchCheckSeconds = 30

// RelaunchGrace is how long after the deadline the summary still waits for
// a pending relaunch whose call has an unknown outcome: it is replayed at
// the deadline, from the relaunch queue.
const RelaunchGrace = 2 * time.Minute

// SummaryHandler sums a request's chunk results and per-unit results from
// the table, decides its final status, writes its results object and puts
// LaunchCompleted. Safe for concurrent use.
type SummaryHandler struct {
	store  launchstore.Store
	events EventsAPI
	sqs    SQSAPI // nil: closed units are announced, not queued
	dlq    string
	table  string // the results location's table (WithResultsTable)
	o      HandlerOptions
}

// NewSummaryHandler returns the summary handler.
func NewSummaryHandler(store launchstore.Store, events EventsAPI, optFns ...func(*HandlerOptions)) *SummaryHandler {
	var o HandlerOptions
	for _, f := range optFns {
		f(&o)
	}
	o.defaults()
	return &SummaryHandler{store: store, events: events, o: o}
}

// Handle summarises the request and puts LaunchCompleted on the bus.
func (h *SummaryHandler) Handle(ctx context.Context, in SummaryInput) (launch.Summary, error) {
	if in.RequestID == "" {
		return launch.Summary{}, permanent("summary", "InvalidInput", errors.New("summary input: requestId: required"))
	}
	if in.ChunksError != nil {
		return h.recordChunksError(ctx, in)
	}
	if in.WaitForRelaunches {
		sum, done, err := h.check(ctx, in.RequestID)
		if done || err != nil {
			return sum, err
		}
	}
	st, err := h.summarize(ctx, in.RequestID)
	if err != nil {
		return launch.Summary{}, err
	}
	if err := h.finish(ctx, &st); err != nil {
		return launch.Summary{}, transientErr("summary", err)
	}
	if in.WaitForRelaunches { // the execution's end: answer its callback
		if err := h.answer(ctx, st); err != nil {
			return launch.Summary{}, transientErr("summary", err)
		}
	}
	sum := st.sum
	if err := putEvent(ctx, h.events, h.o.Bus, launch.DetailLaunchCompleted, sum); err != nil {
		return launch.Summary{}, transientErr("summary", err)
	}
	h.o.Logger.Info("summary", "requestId", sum.RequestID, "status", sum.Status, "error", sum.Error, "requested", sum.Requested, "launched", sum.Launched,
		"failed", sum.Failed, "deadLettered", sum.DeadLettered, "pending", sum.Pending, "pendingRelaunches", sum.PendingRelaunches, "counts", sum.Counts)
	return sum, nil
}

// summarize is summary with the handler's errors.
func (h *SummaryHandler) summarize(ctx context.Context, requestID string) (summaryState, error) {
	st, err := h.summary(ctx, requestID)
	if errors.Is(err, launchstore.ErrNotFound) {
		return summaryState{}, permanent("summary", "RequestNotFound", err)
	} else if err != nil {
		return summaryState{}, transientErr("summary", err)
	}
	return st, nil
}

// check is the state machine's call: it dead-letters the units the chunks
// left pending, then either answers a wait (done) or closes the
// relaunches still pending before the final summary.
func (h *SummaryHandler) check(ctx context.Context, requestID string) (launch.Summary, bool, error) {
	sr, err := h.store.Request(ctx, requestID)
	if errors.Is(err, launchstore.ErrNotFound) {
		return launch.Summary{}, true, permanent("summary", "RequestNotFound", err)
	} else if err != nil {
		return launch.Summary{}, true, transientErr("summary", err)
	}
	if _, err := h.closePending(ctx, sr); err != nil {
		return launch.Summary{}, true, transientErr("summary", err)
	}
	next := h.sweep(ctx, sr)
	st, err := h.summarize(ctx, requestID)
	if err != nil {
		return launch.Summary{}, true, err
	}
	wait, err := h.waitFor(ctx, st, next)
	if err != nil {
		return launch.Summary{}, true, transientErr("summary", err)
	}
	if wait > 0 {
		sum := st.sum
		sum.WaitSeconds = wait
		h.o.Logger.Info("summary waits", "requestId", sum.RequestID, "pendingRelaunches", sum.PendingRelaunches, "counts", sum.Counts, "waitSeconds", wait)
		return sum, true, nil
	}
	if _, err := h.closeRelaunches(ctx, requestID); err != nil {
		return launch.Summary{}, true, transientErr("summary", err)
	}
	return launch.Summary{}, false, nil
}

// waitFor returns how long a check should wait before the final summary
// (0: final now). A request waiting for completion waits while a unit is
// not final, until its deadline (waitJobs; next is the sweep's next
// timeout). Otherwise it waits while relaunches are pending until the deadline
// or the first check, whichever is later (the relaunch path gives up at the
// deadline, so one still pending then is lost: its event late or on the
// relaunch dead-letter queue), RelaunchGrace longer only while a relaunch's
// call has an unknown outcome (it is replayed at the deadline); and, for a
// request with ECS tasks launched, StartWatch past its latest launch (see
// startWatch).
func (h *SummaryHandler) waitFor(ctx context.Context, st summaryState, next time.Duration) (int, error) {
	sum, sr := st.sum, st.sr
	now := h.o.Clock.Now()
	first, err := h.store.MarkSummaryCheck(ctx, sum.RequestID, now)
	if err != nil {
		return 0, err
	}
	waiting := sr.Request.WaitForCompletion
	if waiting && now.Before(sr.Deadline) && !allFinal(st.rows) {
		return waitJobs(now, first, sr.Deadline, next), nil
	}
	limit := later(sr.Deadline, first)
	if sum.PendingRelaunches > 0 {
		unknown, err := h.relaunchOutcomeUnknown(ctx, sum.RequestID)
		if err != nil {
			return 0, err
		}
		if unknown {
			limit = limit.Add(RelaunchGrace)
		}
	}
	if sum.PendingRelaunches > 0 && now.Before(limit) {
		// A hundredth of the time left, so that a deadline of days stays
		// within a few hundred loops (the execution's history holds 25,000
		// events, ≈ 9 a loop).
		return max(RelaunchCheckSeconds, int(math.Ceil(limit.Sub(now).Seconds()/100))), nil
	}
	if !waiting && sr.Plan.ECSChunks > 0 && sum.Launched+sum.Relaunched > 0 {
		return startWatch(now, first, st.latest, later(sr.Deadline, first).Add(RelaunchGrace), h.o.StartWatch), nil
	}
	return 0, nil
}

// startWatch is the wait of a check at now for the tasks launched last
// (at latest) to fail to start: StartWatch past the later of latest and
// the first check, a launch counted no later than bound (the relaunch path
// launches nothing after the deadline and its grace). Steps are at most
// RelaunchCheckSeconds, but at least a fiftieth of the time since the first
// check, so that relaunches all along a deadline of days keep the watch
// within a few hundred loops.
func startWatch(now, first, latest, bound time.Time, watch time.Duration) int {
	if latest.After(bound) {
		latest = bound
	}
	end := later(first, latest).Add(watch)
	if !now.Before(end) {
		return 0
	}
	step := min(RelaunchCheckSeconds, int(math.Ceil(end.Sub(now).Seconds())))
	return max(step, int(math.Ceil(now.Sub(first).Seconds()/50)))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Summarize computes a request's summary from the table without side effects
// (throttlectl status uses it too).
func (h *SummaryHandler) Summarize(ctx context.Context, requestID string) (launch.Summary, error) {
	st, err := h.summary(ctx, requestID)
	return st.sum, err
}

// summaryState is what one read of the table says of a request.
type summaryState struct {
	sr   launch.StoredRequest
	sum  launch.Summary
	rows []launch.ResultRow
	// latest is the latest LaunchedAt of the request's chunks.
	latest time.Time
}

// summary is Summarize, with the request, its result rows and its latest
// launch.
func (h *SummaryHandler) summary(ctx context.Context, requestID string) (summaryState, error) {
	sr, err := h.store.Request(ctx, requestID)
	if err != nil {
		return summaryState{}, err
	}
	chunks, lost, err := h.store.Chunks(ctx, requestID)
	if err != nil {
		return summaryState{}, err
	}
	rows, err := h.results(ctx, sr, chunks)
	if err != nil {
		return summaryState{}, err
	}
	sum, latest := chunkSummary(sr, chunks, lost, h.o.Clock.Now().UTC())
	sum.Counts = launch.StatusCounts(rows)
	return summaryState{sr: sr, sum: sum, rows: rows, latest: latest}, nil
}

// chunkSummary sums the chunks' launches and losses, and returns the
// latest LaunchedAt.
func chunkSummary(sr launch.StoredRequest, chunks []launch.ChunkState, lost []launch.LostRecord, now time.Time) (launch.Summary, time.Time) {
	var latest time.Time
	sum := launch.Summary{RequestID: sr.Request.RequestID, Requested: sr.Request.Requested(), Reasons: map[string]int{}, CompletedAt: now}
	seen := map[int]bool{}
	for _, c := range chunks {
		seen[c.Index] = true
		latest = later(latest, c.LaunchedAt)
		spec, err := sr.Request.Chunk(c.Index)
		if err != nil {
			continue
		}
		// A task whose relaunch is pending is neither launched nor failed yet.
		settled, relaunching := c.Settled(), c.PendingRelaunches()
		sum.Launched += settled
		sum.PendingRelaunches += relaunching
		sum.Relaunched += len(c.Stopped) - c.Lost
		if c.GaveUp {
			sum.Failed += c.DeadLettered
			sum.DeadLettered += c.DeadLettered
			if c.Class == launch.ClassUnfinished {
				sum.Unfinished += c.DeadLettered
			}
			sum.Reasons[summaryReason(sr, c)] += c.DeadLettered
		} else {
			sum.Pending += max(0, spec.Size-settled-relaunching-c.Lost)
		}
		if !c.QuotaWaitSince.IsZero() {
			sum.WaitingForQuota += c.Missing(spec.Size)
		}
	}
	for _, l := range lost {
		sum.Failed += l.Units
		sum.DeadLettered += l.Units
		sum.Reasons["relaunch: "+l.Reason] += l.Units
		if closedRelaunch(l.Reason) {
			sum.Unfinished += l.Units
			sum.RelaunchesUnfinished += l.Units
		}
	}
	for i := range sr.Plan.Count {
		if !seen[i] {
			spec, _ := sr.Request.Chunk(i)
			sum.Pending += spec.Size
		}
	}
	return sum, latest
}

// summaryReason is the Reasons key of a given-up chunk: "<class>: <code>"
// of its last failure, or one deadline reason for every chunk the deadline
// ended (whatever its last failure was).
func summaryReason(sr launch.StoredRequest, c launch.ChunkState) string {
	if strings.HasPrefix(c.Reason, reasonDeadline+" ") {
		return fmt.Sprintf("%s %s passed", reasonDeadline, sr.Deadline.UTC().Format(time.RFC3339))
	}
	return c.Class + ": " + c.Code
}
