package handler

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// GIVEN a relaunch whose call's answer was lost and which was then given
// up (its unit dead-lettered: the evidence did not show the task)
// WHEN the task that call did launch fails to start, unrecorded
// THEN its event is a duplicate: no relaunch registered, no call, no
// second dead letter (old code: it waited for a predecessor that would
// never be recorded and was given up at the deadline, counted twice).
func TestRelaunchOfAGivenUpRelaunchIsAccounted(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	ctx := context.Background()
	p := arns[0]
	if _, err := e.st.RegisterRelaunch(ctx, "r1", 0, p); err != nil {
		t.Fatal(err)
	}
	claim, _, err := e.st.ClaimRelaunch(ctx, launch.RelaunchClaim{TaskARN: p, RequestID: "r1", Chunk: 0}, t0.Add(24*3600e9))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.GiveUpRelaunch(ctx, claim, launch.CodeOutcomeUnknown+": not found"); err != nil {
		t.Fatal(err)
	}
	before, _ := e.st.Chunk(ctx, "r1", 0)
	calls, letters := len(e.ecs.Calls()), len(e.sqs.msgs)
	hidden := "arn:aws:ecs:us-east-1:000000000000:task/jobs/hidden"
	out, err := e.event(ctx, taskEvent(t, hidden, launch.RelaunchStartedBy("r1", 0, p), ""))
	if err != nil || out.Action != EventDuplicate {
		t.Fatalf("got %+v, %v; want a duplicate", out, err)
	}
	after, _ := e.st.Chunk(ctx, "r1", 0)
	if len(e.ecs.Calls()) != calls || len(e.sqs.msgs) != letters || len(after.Relaunching) != len(before.Relaunching) || after.Lost != before.Lost {
		t.Errorf("calls %d→%d, dead letters %d→%d, relaunching %d→%d, lost %d→%d: want nothing new",
			calls, len(e.ecs.Calls()), letters, len(e.sqs.msgs), len(before.Relaunching), len(after.Relaunching), before.Lost, after.Lost)
	}
}

// GIVEN the same, but the unrecorded task's event arrives while its
// predecessor's relaunch is still pending
// THEN it waits on the relaunch queue without being registered, and once
// the predecessor has ended it is a duplicate: the summary never counts a
// relaunch of it (old code: registered at once, it was closed as
// RelaunchUnfinished beside the predecessor's own dead letter).
func TestRelaunchOfAPendingRelaunchWaitsUnregistered(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	withQueue(e)
	ctx := context.Background()
	p := arns[0]
	if _, err := e.st.RegisterRelaunch(ctx, "r1", 0, p); err != nil {
		t.Fatal(err)
	}
	hidden := taskEvent(t, "arn:aws:ecs:us-east-1:000000000000:task/jobs/hidden", launch.RelaunchStartedBy("r1", 0, p), "")
	if out, err := e.event(ctx, hidden); err != nil || out.Action != EventDeferred {
		t.Fatalf("predecessor pending: got %+v, %v; want deferred", out, err)
	}
	if st, _ := e.st.Chunk(ctx, "r1", 0); len(st.Relaunching) != 1 {
		t.Fatalf("relaunching %v: want only the predecessor", st.Relaunching)
	}
	claim, _, err := e.st.ClaimRelaunch(ctx, launch.RelaunchClaim{TaskARN: p, RequestID: "r1", Chunk: 0}, t0.Add(24*3600e9))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.GiveUpRelaunch(ctx, claim, launch.CodeRelaunchUnfinished+": the request ended"); err != nil {
		t.Fatal(err)
	}
	if out, err := e.event(ctx, hidden); err != nil || out.Action != EventDuplicate {
		t.Fatalf("predecessor ended: got %+v, %v; want a duplicate", out, err)
	}
	if st, _ := e.st.Chunk(ctx, "r1", 0); len(st.Relaunching) != 1 || st.Lost != 1 {
		t.Errorf("relaunching %v, lost %d: want the predecessor alone, counted once", st.Relaunching, st.Lost)
	}
}

// GIVEN a chunk whose attempt launched a task the table never recorded
// (the answer was lost)
// WHEN that task fails to start
// THEN its event is the evidence: it joins the chunk's ids and is
// relaunched, so the chunk counts its unit once, never also as missing;
// and once the chunk has been given up (the unit dead-lettered among the
// missing), a later such event is a duplicate (old code: relaunched on top
// of the dead letter, counted twice).
func TestRelaunchOfAnUnrecordedChunkTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hidden := "arn:aws:ecs:us-east-1:000000000000:task/jobs/hidden"
	t.Run("relaunched and counted", func(t *testing.T) {
		t.Parallel()
		e := newRetryEnv(t, 0)
		launchChunk(t, e)
		calls := len(e.ecs.Calls())
		out, err := e.event(ctx, taskEvent(t, hidden, launch.StartedBy("r1", 0, 1), ""))
		if err != nil || out.Action != EventRelaunched || len(e.ecs.Calls()) != calls+1 {
			t.Fatalf("got %+v, %v, %d calls; want relaunched with one call", out, err, len(e.ecs.Calls())-calls)
		}
		st, _ := e.st.Chunk(ctx, "r1", 0)
		if !slices.Contains(st.IDs, hidden) || !slices.Contains(st.Stopped, hidden) || st.Launched() != 11 {
			t.Errorf("ids has it %v, stopped has it %v, launched %d; want true, true, 11 (10 + the relaunch)",
				slices.Contains(st.IDs, hidden), slices.Contains(st.Stopped, hidden), st.Launched())
		}
	})
	t.Run("after the give-up", func(t *testing.T) {
		t.Parallel()
		e := newRetryEnv(t, 0)
		launchChunk(t, e)
		if _, err := e.st.GiveUp(ctx, "r1", 0, 0, "transient", launch.CodeOutcomeUnknown, "not found"); err != nil {
			t.Fatal(err)
		}
		calls := len(e.ecs.Calls())
		out, err := e.event(ctx, taskEvent(t, hidden, launch.StartedBy("r1", 0, 1), ""))
		if err != nil || out.Action != EventDuplicate || len(e.ecs.Calls()) != calls {
			t.Fatalf("got %+v, %v; want a duplicate without a call", out, err)
		}
		if st, _ := e.st.Chunk(ctx, "r1", 0); slices.Contains(st.Relaunching, hidden) {
			t.Errorf("relaunching %v: want it unregistered", st.Relaunching)
		}
	})
}

// GIVEN a relaunch whose record committed while its answer timed out (the
// chunk has the new task; the claim is still pending)
// WHEN a later delivery gives the relaunch up (its evidence no longer shows
// the new task, which has stopped since)
// THEN nothing is dead-lettered and nothing counted lost: the unit is
// already counted (old code: a dead letter and a lost record on top of the
// relaunch, so the summary counted launched + failed above the request).
func TestRelaunchGiveUpOfASettledTaskIsADuplicate(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	ctx := context.Background()
	p := arns[0]
	if _, err := e.st.RegisterRelaunch(ctx, "r1", 0, p); err != nil {
		t.Fatal(err)
	}
	claim := launch.RelaunchClaim{TaskARN: p, RequestID: "r1", Chunk: 0, State: launch.RelaunchPending}
	if err := e.st.FinishRelaunch(ctx, claim, "arn:aws:ecs:us-east-1:000000000000:task/jobs/new", t0); err != nil {
		t.Fatal(err)
	}
	letters := len(e.sqs.msgs)
	j := &relaunchJob{claim: claim, requestID: "r1", log: slog.New(slog.DiscardHandler)}
	out, err := e.rl.giveUp(ctx, j, failure.Classification{Class: failure.Transient, Code: launch.CodeOutcomeUnknown}, "not found")
	if err != nil || out.Action != EventDuplicate {
		t.Fatalf("got %+v, %v; want a duplicate", out, err)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	_, lost, _ := e.st.Chunks(ctx, "r1")
	if len(e.sqs.msgs) != letters || st.Lost != 0 || len(lost) != 0 || st.Launched() != 10 {
		t.Errorf("dead letters %d→%d, lost %d, lost records %d, launched %d: want no dead letter, nothing lost, 10 launched",
			letters, len(e.sqs.msgs), st.Lost, len(lost), st.Launched())
	}
}

// GIVEN a chunk whose give-up has begun (its missing units counted)
// WHEN a task the chunk never recorded fails to start
// THEN it is a duplicate: not registered, not relaunched (old code: it
// joined the chunk and was relaunched after the give-up had counted its
// unit missing, so the unit was both launched and dead-lettered).
func TestRelaunchDuringAGiveUpIsAccounted(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	launchChunk(t, e)
	ctx := context.Background()
	if _, err := e.st.BeginGiveUp(ctx, "r1", 0); err != nil {
		t.Fatal(err)
	}
	calls := len(e.ecs.Calls())
	hidden := "arn:aws:ecs:us-east-1:000000000000:task/jobs/hidden"
	out, err := e.event(ctx, taskEvent(t, hidden, launch.StartedBy("r1", 0, 1), ""))
	if err != nil || out.Action != EventDuplicate || len(e.ecs.Calls()) != calls {
		t.Fatalf("got %+v, %v, %d calls; want a duplicate without a call", out, err, len(e.ecs.Calls())-calls)
	}
	if st, _ := e.st.Chunk(ctx, "r1", 0); slices.Contains(st.IDs, hidden) || slices.Contains(st.Relaunching, hidden) {
		t.Errorf("ids %v relaunching %v: want the hidden task in neither", st.IDs, st.Relaunching)
	}
}
