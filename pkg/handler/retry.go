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
	"math/rand/v2"
	"slices"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// Retry actions.
const (
	ActionRetry    = "retry"    // call again after WaitSeconds (same token when ReuseToken)
	ActionFailover = "failover" // call again elsewhere: Exclude grew
	ActionGiveUp   = "giveup"   // dead-lettered and LaunchFailed put; the chunk ends
)

// RetryInput is the retry function's chunk-mode input.
type RetryInput struct {
	RequestID string `json:"requestId"`
	Chunk     int    `json:"chunk"`
	// Attempt is the attempt that failed (0 is read as 1).
	Attempt int `json:"attempt"`
	// Classification is classify's answer about the failure.
	Classification *failure.Classification `json:"classification"`
	// Failures are the runtask failures[] (for the dead letter), optional.
	Failures []launch.Failure `json:"failures,omitempty"`
	// Exclude is the current EC2 exclude list, optional.
	Exclude []string `json:"exclude,omitempty"`
}

// RetryOutput is the retry function's chunk-mode output.
type RetryOutput struct {
	Action    string `json:"action"`
	RequestID string `json:"requestId"`
	Chunk     int    `json:"chunk"`
	// WaitSeconds is whole seconds, rounded up.
	WaitSeconds int `json:"waitSeconds"`
	// Attempt is the attempt runtask should make next.
	Attempt    int      `json:"attempt"`
	ReuseToken bool     `json:"reuseToken"`
	Exclude    []string `json:"exclude"`
	Reason     string   `json:"reason"`
}

// RetryOptions configures Retry.
type RetryOptions struct {
	// Clock defaults to the wall clock.
	Clock clock.Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Metrics defaults to discarding.
	Metrics Recorder
	// BaseDelay and MaxDelay shape the full-jitter exponential backoff
	// (uniform in [0, min(MaxDelay, BaseDelay·2^(retries−1))]); MaxDelay
	// also caps the whole wait. Defaults 1 s and 300 s.
	BaseDelay, MaxDelay time.Duration
	// Rand returns a float in [0, 1); default math/rand/v2.
	Rand func() float64
	// Peek gives the bucket's next free slot; nil means 0 (runtask defers
	// on a far slot anyway).
	Peek SlotPeeker
	// DeferThreshold is runtask's; event-mode relaunches further than this
	// from their slot wait on the relaunch queue (default 2 s); nearer ones
	// sleep until the slot, then call.
	DeferThreshold time.Duration
	// Sleep waits d of Clock time or until ctx ends (RunTaskOptions.Sleep);
	// default: the clock's own.
	Sleep func(ctx context.Context, d time.Duration) error
	// Bus is the product's event bus; DLQURL the product's dead-letter queue.
	Bus, DLQURL string
	// RelaunchQueueURL is the queue a relaunch waits on for a far slot
	// (message delay); empty: the invocation fails with ThrottledError.
	RelaunchQueueURL string
	// ClassifyEvent classifies an EventBridge envelope; default
	// failure.ClassifyEvent. ClassifyError: default failure.ClassifyError.
	ClassifyEvent func([]byte) failure.Classification
	ClassifyError func(error) failure.Classification
}

// Retry is the retry handler: in chunk mode it decides how a failed chunk
// goes on; in event mode it reacts to ECS events. Safe for concurrent use.
type Retry struct {
	store  launchstore.Store
	lim    Limiter
	ecs    ECSAPI
	events EventsAPI
	sqs    SQSAPI
	o      RetryOptions
}

// NewRetry returns the retry handler.
func NewRetry(store launchstore.Store, lim Limiter, ecsc ECSAPI, events EventsAPI, sqsc SQSAPI, optFns ...func(*RetryOptions)) *Retry {
	o := RetryOptions{BaseDelay: time.Second, MaxDelay: 300 * time.Second, DeferThreshold: 2 * time.Second}
	for _, f := range optFns {
		f(&o)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = nopRecorder{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.ClassifyEvent == nil {
		o.ClassifyEvent = failure.ClassifyEvent
	}
	if o.ClassifyError == nil {
		o.ClassifyError = failure.ClassifyError
	}
	if o.Sleep == nil {
		o.Sleep = sleeperFor(o.Clock)
	}
	return &Retry{store: store, lim: lim, ecs: ecsc, events: events, sqs: sqsc, o: o}
}

// Handle dispatches on the input's shape: an EventBridge envelope
// (detail-type present) is event mode, an SQS batch (Records present) is
// the relaunch queue's, anything else chunk mode.
func (h *Retry) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		DetailType *string          `json:"detail-type"`
		Records    *json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, permanent("retry", "InvalidInput", fmt.Errorf("retry input: not a JSON object: %w", err))
	}
	if probe.DetailType != nil {
		work, cancel := reserveTime(ctx)
		defer cancel()
		out, err := h.HandleEvent(work, raw)
		if err != nil {
			return h.handOff(ctx, raw, err)
		}
		return out, nil
	}
	if probe.Records != nil {
		var b SQSBatch
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, permanent("retry", "InvalidInput", fmt.Errorf("retry input: Records: %w", err))
		}
		return h.HandleSQS(ctx, b)
	}
	var in RetryInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, permanent("retry", "InvalidInput", fmt.Errorf("retry input: %w", err))
	}
	return h.HandleChunk(ctx, in)
}

// HandleChunk decides the next step of a failed chunk. The wait is the
// largest of the classification's minimum delay, the bucket's next free
// slot and a full-jitter exponential backoff, capped at MaxDelay; the
// attempt budget (request maxAttempts) and the request deadline bound it.
func (h *Retry) HandleChunk(ctx context.Context, in RetryInput) (RetryOutput, error) {
	if in.RequestID == "" || in.Chunk < 0 {
		return RetryOutput{}, permanent("retry", "InvalidInput", fmt.Errorf("retry input: requestId required and chunk ≥ 0, got %q/%d", in.RequestID, in.Chunk))
	}
	if in.Classification == nil {
		return RetryOutput{}, permanent("retry", "InvalidInput", errors.New("retry input: classification: required"))
	}
	in.Attempt = max(in.Attempt, 1)
	c := *in.Classification
	log := h.o.Logger.With("requestId", in.RequestID, "chunk", in.Chunk, "attempt", in.Attempt, "kind", c.Class, "code", c.Code)
	sr, err := h.store.Request(ctx, in.RequestID)
	if errors.Is(err, launchstore.ErrNotFound) {
		return RetryOutput{}, permanent("retry", "RequestNotFound", err)
	} else if err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	spec, err := sr.Request.Chunk(in.Chunk)
	if err != nil {
		return RetryOutput{}, permanent("retry", "InvalidInput", err)
	}
	state, err := h.store.Chunk(ctx, in.RequestID, in.Chunk)
	if err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	out := RetryOutput{RequestID: in.RequestID, Chunk: in.Chunk, Attempt: in.Attempt, Exclude: slices.Clone(in.Exclude)}
	if out.Exclude == nil {
		out.Exclude = []string{}
	}
	if state.GaveUp || state.Missing(spec.Size) == 0 {
		out.Action, out.Reason = ActionRetry, "chunk already ended"
		return out, nil
	}
	retries, err := h.store.AddRetry(ctx, in.RequestID, in.Chunk)
	if err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	h.o.Metrics.Add(MetricRetries, 1, UnitCount)
	h.o.Metrics.Add(MetricRetries+"."+string(c.Class), 1, UnitCount)
	now := h.o.Clock.Now()

	// Next attempt: a transient failure may have launched, so the same
	// attempt (token) is repeated; otherwise a new token for what is missing.
	if c.ReuseToken {
		out.ReuseToken = true
		if u, ok := state.Unsettled(); ok {
			out.Attempt = u.Attempt
		}
	} else {
		last := in.Attempt
		for a := range state.Attempts {
			last = max(last, a)
		}
		out.Attempt = last + 1
	}

	wait := c.MinDelay()
	if h.o.Peek != nil {
		service, takes := takesFor(spec.Kind, max(1, state.Missing(spec.Size)), spec.Kind == launch.KindECS && sr.Request.ECS.Fargate())
		if next, perr := h.o.Peek.NextSlot(ctx, service, takes); perr == nil {
			wait = max(wait, next)
		}
	}
	backoff := min(float64(h.o.MaxDelay), float64(h.o.BaseDelay)*math.Pow(2, float64(retries-1)))
	wait = min(max(wait, time.Duration(h.o.Rand()*backoff)), h.o.MaxDelay)

	out.Action = ActionRetry
	if c.Class == failure.Capacity && spec.Kind == launch.KindEC2 {
		out.Action = ActionFailover
		if c.ScopeValue != "" && !slices.Contains(out.Exclude, c.ScopeValue) {
			out.Exclude = append(out.Exclude, c.ScopeValue)
		}
		if len(out.Exclude) >= len(sr.Request.EC2.Placements()) {
			// Everything tried: start over; the fleet-wide marks still
			// steer runtask away from what is still without capacity.
			out.Exclude = []string{}
		}
	}

	missing, deadline := state.Missing(spec.Size), sr.Deadline.UTC().Format(time.RFC3339)
	var giveUp string
	switch {
	case c.Code == CodeDeadlinePassed || !now.Before(sr.Deadline):
		// runtask found no slot before the deadline, or it has passed.
		giveUp = fmt.Sprintf("%s %s passed: %d of %d units not launched; last %s: %s",
			reasonDeadline, deadline, missing, spec.Size, c.Class, c.Code)
	case !c.Retryable:
		giveUp = fmt.Sprintf("%s: %s: %s", c.Class, c.Code, c.Message)
	case retries >= sr.Request.Attempts():
		giveUp = fmt.Sprintf("attempts exhausted (%d of %d); last %s: %s", retries, sr.Request.Attempts(), c.Class, c.Code)
	case now.Add(wait).After(sr.Deadline):
		giveUp = fmt.Sprintf("%s %s passes before the next attempt (in %.0f s): %d of %d units not launched; last %s: %s",
			reasonDeadline, deadline, math.Ceil(wait.Seconds()), missing, spec.Size, c.Class, c.Code)
	}
	if giveUp != "" {
		// An attempt whose outcome is unknown may have launched: the table
		// does not count its units yet, so giving up now would dead-letter
		// units that run (and a relaunch of one of them would then count
		// on top). Its replay (same token, launches nothing twice) comes
		// first, within settleReplays decisions beyond the budget.
		u, unsettled := state.Unsettled()
		if !unsettled || retries >= sr.Request.Attempts()+settleReplays {
			if unsettled {
				giveUp += fmt.Sprintf("; attempt %d's outcome still unknown after %d replays", u.Attempt, settleReplays)
			}
			return h.giveUp(ctx, log, sr, spec, state, in, out, c, giveUp)
		}
		out.Action, out.ReuseToken, out.Attempt, out.Exclude = ActionRetry, true, u.Attempt, slices.Clone(in.Exclude)
		if out.Exclude == nil {
			out.Exclude = []string{}
		}
		out.WaitSeconds = int(math.Ceil(wait.Seconds()))
		out.Reason = fmt.Sprintf("settle attempt %d (outcome unknown) before giving up: %s", u.Attempt, giveUp)
		log.Info("replay before give-up", "next", out.Attempt, "delayMs", wait.Milliseconds(), "reason", giveUp)
		return out, nil
	}
	out.WaitSeconds = int(math.Ceil(wait.Seconds()))
	out.Reason = fmt.Sprintf("%s: %s", c.Class, c.Code)
	log.Info("retry", "action", out.Action, "delayMs", wait.Milliseconds(), "next", out.Attempt, "reuseToken", out.ReuseToken)
	return out, nil
}

// settleReplays bounds the replays of an attempt whose outcome is unknown
// that a chunk may get beyond its attempt budget before it is given up.
const settleReplays = 5

// reasonDeadline starts the reason of every give-up caused by the request's
// deadline; the summary groups those units under one deadline reason.
const reasonDeadline = "deadline"

// giveUp dead-letters the chunk's missing units and puts LaunchFailed, then
// records the give-up. The sends come first: if this invocation dies, the
// state machine's retry sends again (at least once, never zero times).
func (h *Retry) giveUp(ctx context.Context, log *slog.Logger, sr launch.StoredRequest, spec launch.ChunkSpec, state launch.ChunkState, in RetryInput, out RetryOutput, c failure.Classification, reason string) (RetryOutput, error) {
	missing := state.Missing(spec.Size)
	last := state.Attempts[in.Attempt]
	detail := launch.LaunchFailedDetail{
		RequestID: in.RequestID, Chunk: in.Chunk, Kind: spec.Kind, Attempt: in.Attempt, Missing: missing,
		Class: string(c.Class), Code: c.Code, Reason: reason, At: h.o.Clock.Now().UTC(),
	}
	failures := in.Failures
	if failures == nil {
		failures = last.Failures
	}
	if err := sendDeadLetter(ctx, h.sqs, h.o.DLQURL, DeadLetter{LaunchFailedDetail: detail, Failures: failures, StartedBy: last.StartedBy}); err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	if err := putEvent(ctx, h.events, h.o.Bus, launch.DetailLaunchFailed, detail); err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	first, err := h.store.GiveUp(ctx, in.RequestID, in.Chunk, missing, string(c.Class), c.Code, reason)
	if err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	if first {
		h.o.Metrics.Add(MetricFailed, float64(missing), UnitCount)
		h.o.Metrics.Add(MetricDeadLettered, float64(missing), UnitCount)
	}
	log.Warn("gave up", "missing", missing, "reason", reason)
	out.Action, out.WaitSeconds, out.Reason, out.ReuseToken, out.Attempt = ActionGiveUp, 0, reason, false, in.Attempt
	return out, nil
}

// holdRelaunch is used by event mode: acquire (or reuse) the slot of a
// relaunch. ok true: call after wait (≥ 0, the time left to the slot: the
// call happens at the slot the limiter assumed, not up to DeferThreshold
// early). ok false: the slot is too far (or the Lambda deadline cannot hold
// the wait) and has been remembered in the claim; wait is the time to it.
func (h *Retry) holdRelaunch(ctx context.Context, claim launch.RelaunchClaim, fargate bool) (ok bool, wait time.Duration, err error) {
	if !claim.SlotAt.IsZero() {
		w := claim.SlotAt.Sub(h.o.Clock.Now())
		if w > h.o.DeferThreshold || lambdaTooNear(ctx, w) {
			return false, w, nil
		}
		return true, max(0, w), nil
	}
	service, takes := takesFor(launch.KindECS, 1, fargate)
	slot, err := h.lim.Reserve(ctx, service, takes)
	if err != nil {
		return false, 0, err
	}
	if slot.Fallback {
		h.o.Metrics.Add(MetricLimiterFallback, 1, UnitCount)
	}
	// From now, not from the limiter's reading of the clock: its write took time.
	w := slot.At.Sub(h.o.Clock.Now())
	if w <= h.o.DeferThreshold && !lambdaTooNear(ctx, w) {
		return true, max(0, w), nil
	}
	if err := h.store.SetRelaunchSlot(ctx, claim.TaskARN, slot.At); err != nil {
		_ = h.lim.Release(ctx, service, takes, slot)
		return false, 0, err
	}
	return false, max(w, 0), nil
}
