package handler

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

// stateEvent is an ECS Task State Change of one task, shaped as in "Amazon
// ECS Developer Guide: Amazon ECS task state change events".
func stateEvent(t *testing.T, arn, startedBy, status string, version int64, stopCode string, exit *int) json.RawMessage {
	t.Helper()
	c := map[string]any{"name": "main", "lastStatus": status}
	if exit != nil {
		c["exitCode"] = *exit
	}
	d := map[string]any{"clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/jobs", "taskArn": arn, "startedBy": startedBy,
		"lastStatus": status, "version": version, "containers": []any{c}, "startedAt": "2026-11-22T10:00:05.000Z"}
	if status == "STOPPED" {
		d["stopCode"], d["stoppedReason"], d["stoppedAt"] = stopCode, "Essential container in task exited", "2026-11-22T10:01:05.000Z"
	}
	b, err := json.Marshal(map[string]any{"version": "0", "source": "aws.ecs", "detail-type": "ECS Task State Change",
		"resources": []string{arn}, "detail": d})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// launchWaiting plans r, launches its chunk 0 and, when ref, records the
// launcher's TaskRef of each task (unit k, attempt 1).
func launchWaiting(t *testing.T, e *retryEnv, r launch.Request, ref bool) []string {
	t.Helper()
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: r.RequestID, Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	st, err := e.st.Chunk(context.Background(), r.RequestID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ref {
		recordRefs(t, e, r.RequestID, st.IDs)
	}
	return st.IDs
}

func recordRefs(t *testing.T, e *retryEnv, requestID string, arns []string) {
	t.Helper()
	var refs []launch.TaskRef
	for k, a := range arns {
		refs = append(refs, launch.TaskRef{ARN: a, Index: k, Attempt: 1, LaunchedAt: t0})
	}
	if err := e.st.RecordTasks(context.Background(), requestID, refs); err != nil {
		t.Fatal(err)
	}
}

func waitingRequest(attempts int) launch.Request {
	r := launchtest.ECSRequest("r1", 10)
	r.WaitForCompletion, r.RetryStrategy = true, &launch.RetryStrategy{Attempts: attempts}
	return r
}

func mustEvent(t *testing.T, e *retryEnv, raw json.RawMessage, want string) EventOutput {
	t.Helper()
	out, err := e.event(context.Background(), raw)
	if err != nil || out.Action != want {
		t.Fatalf("got %+v, %v; want action %s", out, err, want)
	}
	return out
}

func task(t *testing.T, e *retryEnv, arn string) launch.TaskRecord {
	t.Helper()
	rec, err := e.st.Task(context.Background(), "r1", arn)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// An exit retried by retryStrategy launches one replacement (next
// attempt, same unit), whatever the duplicates and the order of the
// events; the replacement's own exit is the last attempt.
func TestTrackRetryOnExit(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchWaiting(t, e, waitingRequest(2), true)
	sb, one := launch.StartedBy("r1", 0, 1), 1
	ctx := context.Background()

	mustEvent(t, e, stateEvent(t, arns[3], sb, "RUNNING", 2, "", nil), EventTracked)
	stopped := stateEvent(t, arns[3], sb, "STOPPED", 4, "EssentialContainerExited", &one)
	out := mustEvent(t, e, stopped, EventRelaunched)
	mustEvent(t, e, stopped, EventDuplicate)
	mustEvent(t, e, stateEvent(t, arns[3], sb, "RUNNING", 2, "", nil), EventTracked)
	if n := len(e.ecs.Calls()); n != 2 {
		t.Fatalf("RunTask calls: got %d, want 2 (the chunk, one retry)", n)
	}
	if rec := task(t, e, arns[3]); rec.Outcome != launch.OutcomeRetried || rec.Observation.LastStatus != "STOPPED" {
		t.Errorf("stopped task: outcome %q status %q, want RETRIED, STOPPED", rec.Outcome, rec.Observation.LastStatus)
	}
	next := task(t, e, out.NewTaskARN)
	if want := (launch.TaskRef{ARN: out.NewTaskARN, Index: 3, Attempt: 2, Predecessor: arns[3], LaunchedAt: t0}); !next.Referenced || next.TaskRef != want {
		t.Errorf("replacement: %+v, want %+v referenced", next.TaskRef, want)
	}
	g, _ := e.st.QuotaGate(ctx, "r1")
	if g.Stops != 1 {
		t.Errorf("quota gate stops: got %d, want 1 (duplicates count once)", g.Stops)
	}
	// The replacement fails too: attempt 2 of 2 is the last.
	nsb := launch.RelaunchStartedBy("r1", 0, arns[3])
	mustEvent(t, e, stateEvent(t, out.NewTaskARN, nsb, "STOPPED", 3, "EssentialContainerExited", &one), EventDecided)
	if rec := task(t, e, out.NewTaskARN); rec.Outcome != launch.OutcomeFailed {
		t.Errorf("last attempt: outcome %q, want FAILED", rec.Outcome)
	}
	if n := len(e.ecs.Calls()); n != 2 {
		t.Errorf("RunTask calls: got %d, want 2", n)
	}
}

// A STOPPED event that outruns the launcher's record of the task is
// redelivered (an error), never decided without the unit and attempt.
func TestTrackStoppedBeforeRecordTasksIsRedelivered(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	launchWaiting(t, e, waitingRequest(2), false)
	// A task of the chunk whose TaskRef the launcher has not written yet.
	arns := []string{"arn:aws:ecs:us-east-1:000000000000:task/jobs/9999"}
	one := 1
	ev := stateEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "STOPPED", 4, "EssentialContainerExited", &one)
	if _, err := e.rl.react(context.Background(), decodeEvent(t, ev)); err == nil {
		t.Fatal("decided without the launcher's record")
	}
	if rec := task(t, e, arns[0]); rec.Outcome != "" || rec.Observation.LastStatus != "STOPPED" {
		t.Fatalf("before the record: outcome %q status %q, want none, STOPPED", rec.Outcome, rec.Observation.LastStatus)
	}
	recordRefs(t, e, "r1", arns)
	mustEvent(t, e, ev, EventRelaunched)
	g, _ := e.st.QuotaGate(context.Background(), "r1")
	if g.Stops != 1 {
		t.Errorf("quota gate stops: got %d, want 1", g.Stops)
	}
}

func decodeEvent(t *testing.T, raw json.RawMessage) ECSEvent {
	t.Helper()
	var ev ECSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// Without waitForCompletion the exit alone decides; nothing is retried.
func TestTrackExitWithoutWaiting(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchWaiting(t, e, launchtest.ECSRequest("r1", 10), false)
	sb, zero, one := launch.StartedBy("r1", 0, 1), 0, 1
	mustEvent(t, e, stateEvent(t, arns[0], sb, "STOPPED", 4, "EssentialContainerExited", &zero), EventDecided)
	mustEvent(t, e, stateEvent(t, arns[1], sb, "STOPPED", 4, "EssentialContainerExited", &one), EventDecided)
	for arn, want := range map[string]string{arns[0]: launch.OutcomeSucceeded, arns[1]: launch.OutcomeFailed} {
		if rec := task(t, e, arn); rec.Outcome != want {
			t.Errorf("%s: outcome %q, want %q", arn, rec.Outcome, want)
		}
	}
	if n := len(e.ecs.Calls()); n != 1 {
		t.Errorf("RunTask calls: got %d, want 1", n)
	}
}

// A relaunch after TaskFailedToStart keeps the unit and the attempt.
func TestTrackFailedToStartKeepsAttempt(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchWaiting(t, e, waitingRequest(3), true)
	out := mustEvent(t, e, taskEvent(t, arns[5], launch.StartedBy("r1", 0, 1), ""), EventRelaunched)
	next := task(t, e, out.NewTaskARN)
	if next.Index != 5 || next.Attempt != 1 || next.Predecessor != arns[5] {
		t.Errorf("replacement: %+v, want index 5 attempt 1 predecessor %s", next.TaskRef, arns[5])
	}
	if rec := task(t, e, arns[5]); rec.Outcome != launch.OutcomeRelaunched {
		t.Errorf("stopped task: outcome %q, want RELAUNCHED", rec.Outcome)
	}
}

// A retry deferred to the relaunch queue comes back through react and
// continues the same relaunch: one replacement, never a second.
func TestTrackDeferredRetryContinues(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	e.rl = NewRelaunch(e.st, e.lim, e.ecs, e.events, e.sqs, func(o *RelaunchOptions) {
		o.Clock, o.Bus, o.DLQURL, o.RelaunchQueueURL = e.clk, "product", "http://127.0.0.1/q", "http://127.0.0.1/relaunch"
	})
	arns := launchWaiting(t, e, waitingRequest(2), true)
	one := 1
	ev := stateEvent(t, arns[2], launch.StartedBy("r1", 0, 1), "STOPPED", 4, "EssentialContainerExited", &one)
	e.lim.waits = []time.Duration{30 * time.Second}
	mustEvent(t, e, ev, EventDeferred)
	if len(e.sqs.msgs) != 1 {
		t.Fatalf("relaunch queue messages: got %d, want 1", len(e.sqs.msgs))
	}
	e.clk.Advance(30 * time.Second)
	mustEvent(t, e, ev, EventRelaunched)
	mustEvent(t, e, ev, EventDuplicate)
	if n := len(e.ecs.Calls()); n != 2 {
		t.Errorf("RunTask calls: got %d, want 2", n)
	}
}

// A task that failed to start, of a request that does not wait, has no
// record (runtask writes none): its replacement still runs the stopped
// task's unit, derived from the chunk, not the chunk's first.
func TestTrackFailedToStartUnitFromChunk(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchWaiting(t, e, launchtest.ECSRequest("r1", 10), false)
	state, err := e.st.Chunk(context.Background(), "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	stopped := state.Attempts[1].IDs[7] // unit 7: the answer's order, not the set's
	if !slices.Contains(arns, stopped) {
		t.Fatalf("attempt ids %v not among the chunk's %v", state.Attempts[1].IDs, arns)
	}
	out := mustEvent(t, e, taskEvent(t, stopped, launch.StartedBy("r1", 0, 1), ""), EventRelaunched)
	if next := task(t, e, out.NewTaskARN); next.Index != 7 || next.Attempt != 1 || next.Predecessor != stopped {
		t.Errorf("replacement: %+v, want unit 7 attempt 1 predecessor %s", next.TaskRef, stopped)
	}
	if prev := task(t, e, stopped); !prev.Referenced || prev.Index != 7 {
		t.Errorf("stopped task's record: %+v, want its unit (7) derived from the chunk", prev.TaskRef)
	}
}
