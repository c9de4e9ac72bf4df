package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/backoff"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// Retry actions.
const (
	ActionRetry    = "retry"    // call again after WaitSeconds (same token when ReuseToken)
	ActionFailover = "failover" // call again elsewhere: Exclude grew
	ActionGiveUp   = "giveup"   // dead-lettered and LaunchFailed put; the chunk ends
)

// RetryInput is the retry function's chunk input (from the state machine).
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

// RetryOutput is the retry function's chunk output.
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

// ChunkRetryOptions configures ChunkRetry.
type ChunkRetryOptions struct {
	Options
	// Policy shapes the delay (backoff.Policy's defaults: 1 s base, 300 s cap).
	Policy backoff.Policy
	// Rand returns a float in [0, 1); default math/rand/v2.
	Rand func() float64
	// Peek gives the bucket's next free slot; nil means 0 (runtask defers
	// on a far slot anyway).
	Peek SlotPeeker
	// Bus is the product's event bus; DLQURL the product's dead-letter queue.
	Bus, DLQURL string
}

// ChunkRetry decides how a failed chunk goes on: the same attempt again
// (its outcome is unknown), the next attempt after a delay, failover to
// another placement, or give-up (dead letter and LaunchFailed). Safe for
// concurrent use.
type ChunkRetry struct {
	store launchstore.Store
	dead  deadLetters
	o     ChunkRetryOptions
}

// NewChunkRetry returns the chunk retry handler.
func NewChunkRetry(store launchstore.Store, events EventsAPI, sqsc SQSAPI, optFns ...func(*ChunkRetryOptions)) *ChunkRetry {
	var o ChunkRetryOptions
	for _, f := range optFns {
		f(&o)
	}
	o.defaults()
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return &ChunkRetry{store: store, dead: deadLetters{events: events, sqs: sqsc, bus: o.Bus, dlq: o.DLQURL}, o: o}
}

// Handle decides the next step of a failed chunk: load → count the retry →
// choose the attempt → ask the policy for the delay → give up, settle, or
// retry. The delay is backoff.Policy's; the attempt budget (request
// maxAttempts) and the request deadline bound it.
func (h *ChunkRetry) Handle(ctx context.Context, in RetryInput) (RetryOutput, error) {
	c, err := in.check()
	if err != nil {
		return RetryOutput{}, err
	}
	in.Attempt = max(in.Attempt, 1)
	v, err := loadChunk(ctx, h.store, "retry", in.RequestID, in.Chunk)
	if err != nil {
		return RetryOutput{}, err
	}
	out := RetryOutput{Action: ActionRetry, RequestID: in.RequestID, Chunk: in.Chunk, Attempt: in.Attempt, Exclude: orEmpty(in.Exclude)}
	if v.state.GaveUp || v.state.Missing(v.spec.Size) == 0 {
		out.Reason = "chunk already ended"
		return out, nil
	}
	if c.Code == CodeDeadlinePassed && !v.state.QuotaWaitSince.IsZero() {
		// The deadline came while the chunk waited for quota (its probe's
		// slot lay past it): that wait is why its units end, say so.
		c = failure.Classification{Class: failure.Quota, Code: CodeQuotaWait, Retryable: failure.Quota.Retryable()}
	}
	if c.Class == failure.Quota {
		return h.waitForQuota(ctx, in, out, v, c)
	}
	wc := waitCase(c)
	retries, err := h.countRetry(ctx, in, v, c, wc)
	if err != nil {
		return RetryOutput{}, err
	}
	now := h.o.Clock.Now()
	out.Attempt, out.ReuseToken = nextAttempt(in.Attempt, c, wc, v.state)
	dec := h.o.Policy.Delay(backoff.Input{Case: wc, Retries: retries, MinDelay: c.MinDelay(),
		NextSlot: h.nextSlot(ctx, v), Now: now, Deadline: v.sr.Deadline, Rand: h.o.Rand()})
	out.Action, out.Exclude = failover(c, v, out.Exclude)
	log := h.o.Logger.With("requestId", in.RequestID, "chunk", in.Chunk, "attempt", in.Attempt, "kind", c.Class, "code", c.Code)
	if reason := giveUpReason(c, v, retries, dec, now); reason != "" {
		return h.settleOrGiveUp(ctx, log, in, out, v, c, retries, dec.Delay, reason)
	}
	out.WaitSeconds = int(math.Ceil(dec.Delay.Seconds()))
	out.Reason = fmt.Sprintf("%s: %s", c.Class, c.Code)
	log.Info("retry", "action", out.Action, "delayMs", dec.Delay.Milliseconds(), "next", out.Attempt, "reuseToken", out.ReuseToken, "case", wc.String())
	return out, nil
}

func (in RetryInput) check() (failure.Classification, error) {
	if in.RequestID == "" || in.Chunk < 0 {
		return failure.Classification{}, permanent("retry", "InvalidInput", fmt.Errorf("retry input: requestId required and chunk ≥ 0, got %q/%d", in.RequestID, in.Chunk))
	}
	if in.Classification == nil {
		return failure.Classification{}, permanent("retry", "InvalidInput", errors.New("retry input: classification: required"))
	}
	return *in.Classification, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// waitCase is the policy's case for a chunk's failure: the limiter's own
// refusals spend no attempt.
func waitCase(c failure.Classification) backoff.Case {
	if limiterRefused(c.Code) {
		return backoff.LimiterBusy
	}
	return backoff.ChunkCall
}

// limiterRefused says code is one of the limiter's own refusals (nothing
// was called). Only the code crosses Step Functions, not the error.
func limiterRefused(code string) bool {
	return code == failure.CodeLimiterBacklogFull || code == failure.CodeLimiterStoreBusy
}

// countRetry records the decision and returns the chunk's retries so far,
// this one included; a wait that spends no attempt is not counted.
func (h *ChunkRetry) countRetry(ctx context.Context, in RetryInput, v chunkView, c failure.Classification, wc backoff.Case) (int, error) {
	h.o.Metrics.Add(MetricRetries, 1, UnitCount)
	h.o.Metrics.Add(MetricRetries+"."+string(c.Class), 1, UnitCount)
	if !wc.SpendsAttempt() {
		return v.state.Retries, nil
	}
	retries, err := h.store.AddRetry(ctx, in.RequestID, in.Chunk)
	if err != nil {
		return 0, transientErr("retry", err)
	}
	return retries, nil
}

// nextAttempt: a failure that may have launched (transient), or a wait on
// the limiter that called nothing, repeats the attempt with its token;
// otherwise the next attempt takes a new token for what is missing.
func nextAttempt(failed int, c failure.Classification, wc backoff.Case, state launch.ChunkState) (int, bool) {
	if c.ReuseToken || wc == backoff.LimiterBusy {
		if u, ok := state.Unsettled(); ok {
			return u.Attempt, true
		}
		return failed, true
	}
	last := failed
	for a := range state.Attempts {
		last = max(last, a)
	}
	return last + 1, false
}

func (h *ChunkRetry) nextSlot(ctx context.Context, v chunkView) time.Duration {
	if h.o.Peek == nil {
		return 0
	}
	service, takes := takesFor(v.spec.Kind, max(1, v.state.Missing(v.spec.Size)), v.fargate(), v.sr.Request.Lane())
	next, err := h.o.Peek.NextSlot(ctx, service, takes)
	if err != nil {
		return 0
	}
	return next
}

// failover: an EC2 capacity failure moves to another placement. Once
// everything was tried the list starts over; the fleet-wide marks still
// steer runtask away from what is still without capacity.
func failover(c failure.Classification, v chunkView, exclude []string) (string, []string) {
	if c.Class != failure.Capacity || v.spec.Kind != launch.KindEC2 {
		return ActionRetry, exclude
	}
	if c.ScopeValue != "" && !slices.Contains(exclude, c.ScopeValue) {
		exclude = append(exclude, c.ScopeValue)
	}
	if len(exclude) >= len(v.sr.Request.EC2.Placements()) {
		exclude = []string{}
	}
	return ActionFailover, exclude
}

// giveUpReason says why the chunk ends now, or "" if it goes on.
func giveUpReason(c failure.Classification, v chunkView, retries int, dec backoff.Decision, now time.Time) string {
	missing, size, deadline := v.state.Missing(v.spec.Size), v.spec.Size, v.sr.Deadline.UTC().Format(time.RFC3339)
	attempts := v.sr.Request.Attempts()
	switch {
	case c.Code == CodeDeadlinePassed || !now.Before(v.sr.Deadline):
		// runtask found no slot before the deadline, or it has passed.
		return fmt.Sprintf("%s %s passed: %d of %d units not launched; last %s: %s", reasonDeadline, deadline, missing, size, c.Class, c.Code)
	case !c.Retryable:
		return fmt.Sprintf("%s: %s: %s", c.Class, c.Code, c.Message)
	case retries >= attempts:
		return fmt.Sprintf("attempts exhausted (%d of %d); last %s: %s", retries, attempts, c.Class, c.Code)
	case dec.PastDeadline:
		return fmt.Sprintf("%s %s passes before the next attempt (in %.0f s): %d of %d units not launched; last %s: %s",
			reasonDeadline, deadline, math.Ceil(dec.Delay.Seconds()), missing, size, c.Class, c.Code)
	}
	return ""
}

// settleOrGiveUp ends the chunk, unless an attempt's outcome is unknown:
// it may have launched, and the table does not count its units yet, so
// giving up now would dead-letter units that run (and a relaunch of one of
// them would then count on top). Its replay (same token, launches nothing
// twice) comes first, within settleReplays decisions beyond the budget.
func (h *ChunkRetry) settleOrGiveUp(ctx context.Context, log *slog.Logger, in RetryInput, out RetryOutput, v chunkView, c failure.Classification, retries int, wait time.Duration, reason string) (RetryOutput, error) {
	u, unsettled := v.state.Unsettled()
	if !unsettled || retries >= v.sr.Request.Attempts()+settleReplays {
		if unsettled {
			// Its units may be running: dead-lettered as OutcomeUnknown with
			// that attempt's token, so redrive never launches them again.
			reason += fmt.Sprintf("; attempt %d's outcome still unknown after %d replays", u.Attempt, settleReplays)
			c.Code, in.Attempt = CodeOutcomeUnknown, u.Attempt
		}
		return h.giveUp(ctx, log, in, out, v, c, reason)
	}
	out.Action, out.ReuseToken, out.Attempt, out.Exclude = ActionRetry, true, u.Attempt, orEmpty(in.Exclude)
	out.WaitSeconds = int(math.Ceil(wait.Seconds()))
	out.Reason = fmt.Sprintf("settle attempt %d (outcome unknown) before giving up: %s", u.Attempt, reason)
	log.Info("replay before give-up", "next", out.Attempt, "delayMs", wait.Milliseconds(), "reason", reason)
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
func (h *ChunkRetry) giveUp(ctx context.Context, log *slog.Logger, in RetryInput, out RetryOutput, v chunkView, c failure.Classification, reason string) (RetryOutput, error) {
	// The missing units are counted from the chunk as it stands when the
	// give-up begins: a task that failed to start unrecorded cannot join
	// the chunk after that (its unit is among these).
	state, err := h.store.BeginGiveUp(ctx, in.RequestID, in.Chunk)
	if err != nil {
		return RetryOutput{}, transientErr("retry", err)
	}
	v.state = state
	missing := v.state.Missing(v.spec.Size)
	last := v.state.Attempts[in.Attempt]
	detail := launch.LaunchFailedDetail{
		RequestID: in.RequestID, Chunk: in.Chunk, Kind: v.spec.Kind, Attempt: in.Attempt, Missing: missing,
		Class: string(c.Class), Code: c.Code, Reason: reason, At: h.o.Clock.Now().UTC(),
	}
	failures := in.Failures
	if failures == nil {
		failures = last.Failures
	}
	if err := h.dead.send(ctx, DeadLetter{LaunchFailedDetail: detail, Failures: failures, StartedBy: last.StartedBy}); err != nil {
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

// UnmarshalJSON decodes the input; a document that does not fit is a
// PermanentError (the state machine never retries it).
func (in *RetryInput) UnmarshalJSON(b []byte) error {
	type plain RetryInput
	if err := json.Unmarshal(b, (*plain)(in)); err != nil {
		return permanent("retry", "InvalidInput", fmt.Errorf("retry input: %w", err))
	}
	return nil
}
