package handler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// Tracking actions of an ECS Task State Change (beside the relaunch ones).
const (
	EventTracked = "tracked" // the task's state is recorded; nothing else to do
	EventDecided = "decided" // the stopped task's outcome is recorded (Reason)
)

// observeTask is the one reading of a task's state change, shared by the
// events (Relaunch.track) and DescribeTasks answers (Tracker): the
// observation is stored (forward only), a first STOPPED counts in the
// request's quota gate (advanced says the record moved), and decideTask
// says what the recorded state calls for.
func observeTask(ctx context.Context, store launchstore.Store, o Options, logs *logStreams, j *relaunchJob) (launch.TaskRecord, taskDecision, bool, error) {
	t := j.ev.Task
	obs, container := taskObservation(j.sr.Request, t, o.Clock.Now())
	obs.LogStream = logs.stream(ctx, t.TaskDefinitionArn, container, t.TaskArn)
	rec, advanced, err := store.ObserveTask(ctx, j.requestID, obs)
	if err != nil {
		return rec, taskDecision{}, false, transientErr("retry", fmt.Errorf("recording task state: %w", err))
	}
	if !rec.Referenced && rec.Stopped() && j.sr.Request.WaitForCompletion {
		// Only a waiting request's decision on a stop needs the unit (its
		// retries); the results and the sweep derive it from the chunks.
		rec = referenceFromChunk(ctx, store, j, rec)
	}
	if advanced && rec.Stopped() {
		// Once: a duplicate or older event does not advance the record.
		if err := store.NoteTaskStopped(ctx, j.requestID); err != nil {
			j.log.Warn("task stop not counted in the quota gate", "err", err)
		}
	}
	return rec, decideTask(j.sr.Request, rec), advanced, nil
}

// referenceFromChunk gives a record the launcher's fields derived from
// its chunk (launch.RefFromChunk), and writes them: runtask writes no
// per-task record, the chunk's attempts are the record of what each
// launched. A task the chunk does not hold yet (its answer not recorded,
// or a replacement the relaunch path records itself) stays unreferenced.
func referenceFromChunk(ctx context.Context, store launchstore.Store, j *relaunchJob, rec launch.TaskRecord) launch.TaskRecord {
	state, err := store.Chunk(ctx, j.requestID, j.id.Chunk)
	if err != nil {
		j.log.Warn("chunk not read for the task's unit", "err", err)
		return rec
	}
	ref, ok := launch.RefFromChunk(j.sr.Request, j.spec, state, rec.ARN)
	if !ok {
		return rec
	}
	if err := store.RecordTasks(ctx, j.requestID, []launch.TaskRef{ref}); err != nil {
		j.log.Warn("task's unit not recorded", "err", err)
		return rec
	}
	rec.TaskRef, rec.Referenced = ref, true
	return rec
}

// ours says whether an ECS Task State Change is of a task the product
// started.
func ours(ev ECSEvent) bool {
	return strings.HasPrefix(ev.Task.StartedBy, launch.StartedByPrefix) && ev.Task.TaskArn != ""
}

// track handles an ECS Task State Change of one of our tasks: it records
// the state and acts on the decision. A relaunch or retry is carried only
// by a STOPPED event (the one a deferred relaunch puts back on the queue);
// any other event of a stopped task only records.
func (h *Relaunch) track(ctx context.Context, ev ECSEvent) (EventOutput, error) {
	j, done, out, err := h.find(ctx, ev)
	if done || err != nil {
		return out, err
	}
	if !j.sr.Request.WaitForCompletion && ev.Task.LastStatus != "STOPPED" {
		// Nothing waits for it: only its stop is recorded (it carries the
		// start time too), which saves a write per task.
		j.out.Action, j.out.Reason = EventIgnored, "task is "+ev.Task.LastStatus+"; the request does not wait for completion"
		return j.out, nil
	}
	_, d, _, err := observeTask(ctx, h.store, h.o.Options, h.logs, j)
	if err != nil {
		return EventOutput{}, err
	}
	switch d.Step {
	case stepNeedRef:
		return EventOutput{}, transientErr("retry", fmt.Errorf("task %s: %s", j.taskARN(), d.Why))
	case stepFinal:
		rec, _, err := h.store.DecideTask(ctx, j.requestID, j.taskARN(), d.Outcome, d.Why)
		if err != nil {
			return EventOutput{}, transientErr("retry", err)
		}
		j.out.Action, j.out.Reason = EventDecided, rec.Outcome+": "+rec.Why
		return j.out, nil
	case stepRelaunch, stepRetry:
		if ev.Task.LastStatus == "STOPPED" {
			return h.replace(ctx, j, d)
		}
	}
	j.out.Action, j.out.Reason = EventTracked, d.Why
	return j.out, nil
}

// replace decides the stopped task RELAUNCHED or RETRIED (once; a later
// delivery reads the stored outcome) and launches its replacement through
// the relaunch steps. An outcome decided otherwise by another delivery
// ends here.
func (h *Relaunch) replace(ctx context.Context, j *relaunchJob, d taskDecision) (EventOutput, error) {
	rec, _, err := h.store.DecideTask(ctx, j.requestID, j.taskARN(), d.Outcome, d.Why)
	if err != nil {
		return EventOutput{}, transientErr("retry", err)
	}
	switch rec.Outcome {
	case launch.OutcomeRetried:
		j.retry = true
	case launch.OutcomeRelaunched:
	default:
		j.out.Action, j.out.Reason = EventDecided, rec.Outcome+": "+rec.Why
		return j.out, nil
	}
	if !rec.Referenced {
		// The replacement runs the stopped task's unit: derive it from the
		// chunk (a request that does not wait has not needed it yet).
		rec = referenceFromChunk(ctx, h.store, j, rec)
	}
	j.pred = rec
	if j.retry {
		j.log = j.log.With("retry", rec.Attempt+1)
	}
	return h.relaunchSteps(ctx, j)
}

// unit is the unit index the stopped task ran, which its replacement
// runs too (the item whose overrides the replacement's call carries): the
// predecessor's recorded index, or, for a predecessor the launcher never
// recorded (a request that does not wait, whose launcher predates task
// records), the chunk's first unit — exact for items requests (one unit a
// chunk).
func (j *relaunchJob) unit() int {
	if j.pred.Referenced {
		return j.pred.Index
	}
	return j.sr.Request.UnitIndex(j.spec, 0)
}

// nextRef is the launcher's record of the task that replaces the stopped
// one: its unit, the predecessor's attempt (a relaunch; 1 when not
// recorded) or the next one (a retry).
func (j *relaunchJob) nextRef(newARN string, now time.Time) launch.TaskRef {
	ref := launch.TaskRef{ARN: newARN, Chunk: j.id.Chunk, Index: j.unit(), Attempt: 1, Predecessor: j.taskARN(), LaunchedAt: now}
	if j.pred.Referenced {
		ref.Attempt = max(1, j.pred.Attempt)
	}
	if j.retry {
		ref.Attempt++
	}
	return ref
}
