package handler

import (
	"cmp"
	"context"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"log/slog"
	"slices"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// runtask statuses.
const (
	StatusLaunched = "launched" // the chunk is complete
	StatusPartial  = "partial"  // the call answered; Missing units are still missing (Failures say why)
	StatusDeferred = "deferred" // the slot is WaitSeconds away and held: wait, then call again with Slot
	StatusDone     = "done"     // nothing to do: the chunk was already complete or given up
)

// RunTaskInput is the runtask function's input.
type RunTaskInput struct {
	RequestID string `json:"requestId"`
	Chunk     int    `json:"chunk"`
	// Attempt numbers the chunk's calls from 1 (0 is read as 1).
	Attempt int `json:"attempt"`
	// ReuseToken says the caller expects the previous call to be repeated
	// with its token. runtask does not need it: an attempt whose outcome is
	// unknown is always repeated, with its token, before anything new.
	ReuseToken bool `json:"reuseToken"`
	// Exclude lists EC2 placements "<instanceType>#<subnet>" not to use.
	Exclude []string `json:"exclude,omitempty"`
	// Slot is a slot held from an earlier "deferred" answer: runtask
	// re-times it (one read) and does not reserve again.
	Slot *limiter.Slot `json:"slot,omitempty"`
	// SlotAt is the form of a held slot from before slots carried their
	// positions (executions in flight during an upgrade): a slot with only
	// its time, which is neither re-timed nor given back. Slot wins.
	SlotAt *time.Time `json:"slotAt,omitempty"`
}

// held returns the slot the input holds, if any. A slot without positions
// or time holds nothing: the answer of a wait on a busy limiter.
func (in RunTaskInput) held() (limiter.Slot, bool) {
	switch {
	case in.Slot != nil && (len(in.Slot.Positions) > 0 || !in.Slot.At.IsZero()):
		return *in.Slot, true
	case in.SlotAt != nil:
		return limiter.Slot{At: *in.SlotAt}, true
	}
	return limiter.Slot{}, false
}

// RunTaskOutput is the runtask function's output. It echoes requestId,
// chunk, the attempt actually used and exclude, so it can be passed on.
type RunTaskOutput struct {
	Status    string      `json:"status"`
	RequestID string      `json:"requestId"`
	Chunk     int         `json:"chunk"`
	Attempt   int         `json:"attempt"`
	Kind      launch.Kind `json:"kind"`
	Exclude   []string    `json:"exclude,omitempty"`
	// Launched and Missing count the chunk's units after this call.
	Launched int `json:"launched"`
	Missing  int `json:"missing"`
	// WaitSeconds, Slot and SlotAt are set when deferred. WaitSeconds is
	// the wait in whole seconds rounded down, for the Wait state (always
	// written: a deferral can wait 0 s, and the Wait state reads it); the
	// invocation after it sleeps the rest, so the call lands on its slot.
	// Slot is what the next invocation passes back; SlotAt, its time, is
	// for readers and logs (and for executions of an older definition,
	// which pass it back instead).
	WaitSeconds int              `json:"waitSeconds"`
	Slot        *limiter.Slot    `json:"slot,omitempty"`
	SlotAt      *time.Time       `json:"slotAt,omitempty"`
	Failures    []launch.Failure `json:"failures,omitempty"`
}

// RunTaskOptions configures RunTask.
type RunTaskOptions struct {
	Options
	// DeferThreshold: a slot further away than this is answered "deferred";
	// for a nearer one the invocation sleeps until the slot (Clock.Sleep),
	// then calls (config.Config.DeferThreshold, default 2 s).
	DeferThreshold time.Duration
	// FailoverPeriod is how long a (type, subnet) without capacity is
	// skipped fleet-wide; default 5 minutes.
	FailoverPeriod time.Duration
	// StaleSlot: a slot already this far in the past when the limiter
	// answers is taken again (see reserve). Default 1 s.
	StaleSlot time.Duration
	// AccountScope keys the failover marks (config.Config.AccountScope).
	AccountScope string
	// Classify classifies call errors; default failure.ClassifyError.
	Classify func(error) failure.Classification
	// TokenLifetime is how long after an attempt's first send its client
	// token certainly still binds: within it an attempt whose outcome is
	// unknown is replayed with its token (authoritative); beyond it, it is
	// settled by evidence, never sent again. Default 1 h: ECS keeps a
	// RunTask token at most 24 h and, by the second bound of its
	// idempotency page as modelled here, an hour after the tasks launched
	// under it stop; tasks cannot stop before the send, so an hour from
	// the first send is within both bounds.
	TokenLifetime time.Duration
	// MaxReplays: an attempt replayed this often without an answer that
	// settles it is settled by evidence. Default 3.
	MaxReplays int
	// EvidenceLooks and EvidenceSpacing: how often, and how far apart, the
	// evidence is looked for (the listings are eventually consistent).
	// Defaults 3 and 2 s.
	EvidenceLooks   int
	EvidenceSpacing time.Duration
}

func (o *RunTaskOptions) defaults() {
	o.Options.defaults()
	if o.FailoverPeriod == 0 {
		o.FailoverPeriod = 5 * time.Minute
	}
	if o.AccountScope == "" {
		o.AccountScope = "default"
	}
	if o.StaleSlot == 0 {
		o.StaleSlot = time.Second
	}
	if o.Classify == nil {
		o.Classify = failure.ClassifyError
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = time.Hour
	}
	if o.MaxReplays == 0 {
		o.MaxReplays = 3
	}
	if o.EvidenceLooks == 0 {
		o.EvidenceLooks = 3
	}
	if o.EvidenceSpacing == 0 {
		o.EvidenceSpacing = 2 * time.Second
	}
}

// callReserve is the time an invocation keeps for the call and its record
// after a wait for the slot; with less left before the Lambda deadline the
// slot is answered "deferred" instead.
const callReserve = 5 * time.Second

// lambdaTooNear says the invocation's deadline leaves no callReserve after
// a wait of d on clk (runtask's and relaunch's slot waits). The deadline is
// a real instant and d is on clk: both are compared on clk.
func lambdaTooNear(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	dl, ok := ctx.Deadline()
	return ok && clock.Remaining(clk, dl) < d+callReserve
}

// RunTask is the runtask handler: it makes one chunk's launch call under the
// limiter at its slot (sleeping at most DeferThreshold for it) and records
// the outcome in the table. Safe for concurrent use.
type RunTask struct {
	store launchstore.Store
	lim   Limiter
	ecs   ECSAPI
	ec2   EC2API
	o     RunTaskOptions
}

// NewRunTask returns the runtask handler. ecs or ec2 may be nil if requests
// never use that part.
func NewRunTask(store launchstore.Store, lim Limiter, ecsc ECSAPI, ec2c EC2API, optFns ...func(*RunTaskOptions)) *RunTask {
	o := RunTaskOptions{DeferThreshold: 2 * time.Second}
	for _, f := range optFns {
		f(&o)
	}
	o.defaults()
	return &RunTask{store: store, lim: lim, ecs: ecsc, ec2: ec2c, o: o}
}

// Handle runs one invocation in named steps: load the chunk → decide the
// call → record the attempt → hold its slot (reserve one, or re-time the
// one held across a Wait; sleep for a near one, defer a far one) → call →
// record the answer. Errors are the named types of pkg/failure.
func (h *RunTask) Handle(ctx context.Context, in RunTaskInput) (RunTaskOutput, error) {
	if in.RequestID == "" || in.Chunk < 0 || in.Attempt < 0 {
		return RunTaskOutput{}, permanent("runtask", "InvalidInput", fmt.Errorf("runtask input: requestId required, chunk and attempt ≥ 0, got %q/%d/%d", in.RequestID, in.Chunk, in.Attempt))
	}
	in.Attempt = max(in.Attempt, 1)
	v, err := loadChunk(ctx, h.store, "runtask", in.RequestID, in.Chunk)
	if err != nil {
		return RunTaskOutput{}, err
	}
	out := RunTaskOutput{RequestID: in.RequestID, Chunk: in.Chunk, Attempt: in.Attempt, Kind: v.spec.Kind, Exclude: in.Exclude}
	now := h.o.Clock.Now()
	rec, call, err := h.nextCall(ctx, v.sr, v.spec, v.state, in, now)
	if out, done, err := h.withoutCall(ctx, in, v, out, rec, call, err, now); done {
		return out, err
	}
	if err := h.stopIfClosed(ctx, in, v.spec.Kind); err != nil {
		return RunTaskOutput{}, err
	}
	fresh := rec.State != launch.AttemptSent
	if err := h.quotaGate(ctx, in, v, fresh); err != nil {
		return RunTaskOutput{}, err
	}
	if rec, err = h.begin(ctx, in, &v, rec); err != nil {
		return RunTaskOutput{}, err
	}
	out.Attempt = rec.Attempt
	c := h.newCall(in, v, rec, fresh)
	if out, done, err := h.hold(ctx, c, in, out); done || err != nil {
		return out, err
	}
	return h.callAndRecord(ctx, c, out)
}

// withoutCall answers when no call is made: nextCall failed or found
// nothing to call (a held slot goes back), a new call after the deadline,
// or an attempt whose outcome is unknown beyond the replay window (settled
// by evidence). done says out and err are the answer.
func (h *RunTask) withoutCall(ctx context.Context, in RunTaskInput, v chunkView, out RunTaskOutput, rec launch.AttemptRecord, call bool, err error, now time.Time) (RunTaskOutput, bool, error) {
	held, holding := in.held()
	// A call that would launch anew (not the replay of an attempt whose
	// outcome is unknown) is not made once the deadline has passed.
	fresh := rec.State != launch.AttemptSent
	switch {
	case err != nil || !call:
		if holding {
			h.release(ctx, v.spec.Kind, held)
		}
		if err != nil {
			return RunTaskOutput{}, true, err
		}
		return h.answer(out, v.spec, v.state, rec), true, nil
	case fresh && !holding && !now.Before(v.sr.Deadline):
		return h.pastDeadline(out, v.spec, v.state, v.sr.Deadline, now), true, nil
	case !fresh && h.beyondReplay(rec, v.sr, now):
		if holding {
			h.release(ctx, v.spec.Kind, held)
		}
		out, err := h.settleByEvidence(ctx, in, v, rec, out)
		return out, true, err
	}
	return out, false, nil
}

// launchCall is one invocation's call as its steps see it.
type launchCall struct {
	in      RunTaskInput
	v       chunkView
	rec     launch.AttemptRecord
	fresh   bool // a new call, not the replay of one whose outcome is unknown
	service string
	takes   []limiter.Take
	slot    limiter.Slot // the slot held for the call
	recheck bool         // slot was slept for: re-check it before the call
	at      time.Time    // when the call was made
	log     *slog.Logger
}

func (h *RunTask) newCall(in RunTaskInput, v chunkView, rec launch.AttemptRecord, fresh bool) *launchCall {
	service, takes := takesFor(v.spec.Kind, rec.Count, v.fargate(), v.sr.Request.Lane())
	return &launchCall{in: in, v: v, rec: rec, fresh: fresh, service: service, takes: takes,
		log: h.o.Logger.With("requestId", in.RequestID, "chunk", in.Chunk, "attempt", in.Attempt)}
}

// begin records the attempt (parameters, token) before its slot is
// acquired, so that the slot is used right after the limiter hands it out:
// the limiter assumes the call happens at the slot, and every delay
// between its clock reading and the call lets the real bucket refill less
// than it believes. It then claims the attempt's next send (ClaimSend):
// two invocations of one attempt (Step Functions retrying an invocation
// that still runs) never own the same send, and each state change carries
// its send, so a stale invocation cannot fail a send it did not make. A
// deferred attempt stays "sent" and is what the next invocation (with its
// slot) makes; repeating its token is always safe.
func (h *RunTask) begin(ctx context.Context, in RunTaskInput, v *chunkView, rec launch.AttemptRecord) (launch.AttemptRecord, error) {
	if rec.State == "" {
		state, err := h.store.BeginAttempt(ctx, in.RequestID, v.spec, rec, v.sr.Deadline.Add(launchstore.Retention))
		if err != nil {
			return rec, transientErr("runtask", err)
		}
		v.state = state
		rec = state.Attempts[rec.Attempt] // a concurrent invocation's record wins
	}
	now := h.o.Clock.Now()
	sends, err := h.store.ClaimSend(ctx, in.RequestID, in.Chunk, rec.Attempt, rec.Sends, now)
	if err != nil {
		// Fenced: another invocation sends the attempt now; the step is
		// retried and finds its record.
		return rec, transientErr("runtask", err)
	}
	rec.State, rec.Sends = launch.AttemptSent, sends
	if rec.SentAt.IsZero() {
		rec.SentAt = now
	}
	return rec, nil
}

// callAndRecord makes the call and records its answer in the chunk.
func (h *RunTask) callAndRecord(ctx context.Context, c *launchCall, out RunTaskOutput) (RunTaskOutput, error) {
	in, v, rec := c.in, c.v, c.rec
	op := "ecs:RunTask"
	var res result
	var err error
	if v.spec.Kind == launch.KindECS {
		call, ierr := chunkRunTaskInput(ctx, h.store, v.sr, v.spec, rec)
		if ierr != nil {
			// Nothing was sent; the attempt stays "sent" and is made
			// again with its token.
			return RunTaskOutput{}, ierr
		}
		h.o.Metrics.Add(MetricCalls, 1, UnitCount)
		c.at = h.o.Clock.Now()
		res, err = callRunTask(ctx, h.ecs, call)
	} else {
		op = "ec2:RunInstances"
		h.o.Metrics.Add(MetricCalls, 1, UnitCount)
		c.at = h.o.Clock.Now()
		res, err = callRunInstances(ctx, h.ec2, runInstancesInput(v.sr.Request.EC2, in.RequestID, rec))
	}
	if err != nil {
		return RunTaskOutput{}, h.callFailed(ctx, c, op, err)
	}
	h.signalFailures(ctx, c, res.Failures)
	at := h.o.Clock.Now()
	state, err := h.store.FinishAttempt(ctx, in.RequestID, in.Chunk, rec.Attempt, res.IDs, res.Failures, at)
	if err != nil {
		// The call happened; its record stays "sent", so the next
		// invocation replays it with the same token and records it.
		return RunTaskOutput{}, transientErr("runtask", err)
	}
	h.o.Metrics.Add(MetricLaunched, float64(len(res.IDs)), UnitCount)
	h.endQuotaWait(ctx, c, len(res.IDs))
	rec = state.Attempts[rec.Attempt]
	if v.spec.Kind == launch.KindEC2 && len(res.IDs) < rec.Count {
		h.markUnavailable(ctx, c.log, launch.Placement{InstanceType: rec.InstanceType, Subnet: rec.Subnet})
	}
	out = h.answer(out, v.spec, state, rec)
	c.log.Info("called", "op", op, "launchedNow", len(res.IDs), "launched", out.Launched, "missing", out.Missing)
	return out, nil
}

// nextCall decides what this invocation calls: a chunk with an attempt
// settled as unknown calls nothing more (OutcomeUnknown); an attempt whose
// outcome is unknown is replayed first (same token, same parameters); an attempt
// already answered is answered again from the table (call false); otherwise
// a new attempt for the missing units.
func (h *RunTask) nextCall(ctx context.Context, sr launch.StoredRequest, spec launch.ChunkSpec, state launch.ChunkState, in RunTaskInput, now time.Time) (launch.AttemptRecord, bool, error) {
	if err := unknownOutcome(in.RequestID, spec, state); err != nil {
		return launch.AttemptRecord{}, false, err
	}
	if rec, ok := state.Unsettled(); ok {
		return rec, true, nil
	}
	if rec, ok := state.Attempts[in.Attempt]; ok {
		// A refused call is repeated as it was (nothing was launched);
		// an answered one is not made again.
		return rec, rec.State == launch.AttemptFailed && !state.GaveUp && state.Missing(spec.Size) > 0, nil
	}
	missing := state.Missing(spec.Size)
	if missing <= 0 || state.GaveUp {
		return launch.AttemptRecord{Attempt: in.Attempt}, false, nil
	}
	rec := launch.AttemptRecord{
		Attempt: in.Attempt, Count: missing,
		Token:     launch.ClientToken(in.RequestID, in.Chunk, in.Attempt),
		StartedBy: launch.StartedBy(in.RequestID, in.Chunk, in.Attempt),
	}
	if spec.Kind == launch.KindEC2 {
		p, err := h.placement(ctx, sr.Request.EC2, in.Exclude, now)
		if err != nil {
			return launch.AttemptRecord{}, false, err
		}
		rec.InstanceType, rec.Subnet = p.InstanceType, p.Subnet
	}
	return rec, true, nil
}

// placement returns the first (type, subnet) in preference order that is
// neither excluded nor marked unavailable fleet-wide.
func (h *RunTask) placement(ctx context.Context, s *launch.EC2Spec, exclude []string, now time.Time) (launch.Placement, error) {
	marks, err := h.store.Unavailable(ctx, h.o.AccountScope, now)
	if err != nil {
		return launch.Placement{}, transientErr("runtask", err)
	}
	var soonest time.Time
	for _, p := range s.Placements() {
		if slices.Contains(exclude, p.Key()) {
			continue
		}
		until, marked := marks[p.Key()]
		if !marked {
			return p, nil
		}
		if soonest.IsZero() || until.Before(soonest) {
			soonest = until
		}
	}
	d := failure.Detail{Code: "NoPlacementAvailable", Op: "ec2:RunInstances", RetryAfter: 5 * time.Second,
		Err: fmt.Errorf("every instance type × subnet is excluded or without capacity")}
	if !soonest.IsZero() {
		d.RetryAfter = max(soonest.Sub(now), time.Second)
	}
	return launch.Placement{}, &failure.CapacityError{Detail: d, Scope: failure.ScopeInstanceType}
}

func (h *RunTask) markUnavailable(ctx context.Context, log *slog.Logger, p launch.Placement) {
	until := h.o.Clock.Now().Add(h.o.FailoverPeriod)
	if err := h.store.MarkUnavailable(ctx, h.o.AccountScope, p, until); err != nil {
		log.Warn("failover mark not stored", "placement", p.Key(), "err", err)
		return
	}
	log.Info("placement marked unavailable", "placement", p.Key(), "until", until)
}

// callFailed records a failed call and returns the named error for it.
func (h *RunTask) callFailed(ctx context.Context, c *launchCall, op string, err error) error {
	cl := h.o.Classify(err)
	log := c.log.With("kind", cl.Class, "code", cl.Code)
	// Only a fresh call's refusal says nothing was launched. ECS and EC2
	// throttle a call before they look its client token up, and a replay
	// refused for capacity or a quota may have been launched by an
	// earlier send: only a success settles a replay.
	if c.fresh && cl.Class != failure.Transient {
		if ferr := h.store.FailAttempt(ctx, c.v.sr.Request.RequestID, c.v.spec.Index, c.rec.Attempt, c.rec.Sends, cl.Code); ferr != nil {
			log.Warn("attempt not marked failed", "err", ferr)
		}
	}
	switch cl.Class {
	case failure.Throttled:
		h.o.Metrics.Add(MetricThrottledSync, 1, UnitCount)
		bucket, sig := throttleSignal(c.slot, c.takes, cl.Code, c.at)
		if serr := h.lim.Signal(ctx, c.service, bucket, sig); serr != nil {
			log.Warn("throttle signal lost", "bucket", bucket, "err", serr)
		}
	case failure.Capacity:
		if c.v.spec.Kind == launch.KindEC2 {
			p := launch.Placement{InstanceType: c.rec.InstanceType, Subnet: c.rec.Subnet}
			h.markUnavailable(ctx, log, p)
			cl.Scope, cl.ScopeValue = failure.ScopeInstanceType, p.Key()
		}
	}
	log.Warn("call failed", "err", err, "replay", !c.fresh)
	if !c.fresh && cl.Class != failure.Throttled && cl.Class != failure.Transient {
		if nerr := h.store.NoteUnsettled(ctx, c.v.sr.Request.RequestID, c.v.spec.Index, c.rec.Attempt, c.rec.Sends, CodeReplayUnsettled); nerr != nil {
			log.Warn("unsettled replay not counted", "err", nerr)
		}
		return replayUnsettled(c.rec, cl, op, err)
	}
	return failure.ErrorFor(cl, op, err)
}

// signalFailures signals the limiter once for a call whose failures[]
// entries say it was throttled (failuresSignal says which bucket).
func (h *RunTask) signalFailures(ctx context.Context, c *launchCall, fs []launch.Failure) {
	n, reason := 0, ""
	for _, f := range fs {
		if cl := failure.ClassifyRunTaskFailure(f.Reason, f.Detail); cl.Class == failure.Throttled {
			n++
			reason = cmp.Or(reason, cl.Code)
		}
	}
	if n == 0 {
		return
	}
	h.o.Metrics.Add(MetricThrottledSync, 1, UnitCount)
	bucket, sig := failuresSignal(c.slot, c.takes, reason, n, c.at)
	if err := h.lim.Signal(ctx, c.service, bucket, sig); err != nil {
		c.log.Warn("throttle signal lost", "bucket", bucket, "err", err)
	}
}

// answer builds the output from the chunk's state and the attempt's record.
func (h *RunTask) answer(out RunTaskOutput, spec launch.ChunkSpec, state launch.ChunkState, rec launch.AttemptRecord) RunTaskOutput {
	out.Launched = state.Launched()
	out.Missing = state.Missing(spec.Size)
	switch {
	case rec.State == "" && (out.Missing == 0 || state.GaveUp):
		out.Status = StatusDone
	case out.Missing == 0:
		out.Status = StatusLaunched
	case state.GaveUp:
		out.Status = StatusDone
	default:
		out.Status = StatusPartial
		out.Failures = rec.Failures
		if len(out.Failures) == 0 {
			// A call that launched fewer than asked without saying why.
			out.Failures = []launch.Failure{{Reason: "Incomplete", Detail: fmt.Sprintf("%d of %d units not launched", out.Missing, spec.Size)}}
		}
	}
	return out
}

// CodeDeadlinePassed is the failure reason (and so the classification
// code) of a chunk whose next call could not be made before the request's
// deadline; the retry handler gives such a chunk up with a deadline reason.
const CodeDeadlinePassed = "DeadlinePassed"

// pastDeadline answers "partial" with a DeadlinePassed failure: nothing was
// called; at is the slot (or the time) that fell after the deadline.
func (h *RunTask) pastDeadline(out RunTaskOutput, spec launch.ChunkSpec, state launch.ChunkState, deadline, at time.Time) RunTaskOutput {
	out.Status = StatusPartial
	out.Launched, out.Missing = state.Launched(), state.Missing(spec.Size)
	out.Failures = []launch.Failure{{Reason: CodeDeadlinePassed, Detail: fmt.Sprintf("deadline %s passed (next slot %s): %d of %d units not launched",
		deadline.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), out.Missing, spec.Size)}}
	return out
}
