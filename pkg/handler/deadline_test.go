package handler

import (
	"context"
	"encoding/json"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// A slot after the deadline is not taken: it goes back to the limiter,
// nothing is called, the attempt is closed, and the chunk is given up with
// a reason (dead letter, LaunchFailed, summary) that names the deadline.
func TestRunTaskSlotPastDeadlineGivenUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 20)
	r.DeadlineSeconds = 20
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("chunk 0: got %+v, %v; want launched", out, err)
	}
	e.lim.waits = []time.Duration{25 * time.Second} // the slot falls after t0+20s
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 1, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != StatusPartial || out.Missing != 10 || len(out.Failures) != 1 || out.Failures[0].Reason != CodeDeadlinePassed {
		t.Fatalf("got %+v; want partial with a DeadlinePassed failure", out)
	}
	if n := len(e.ecs.Calls()); n != 1 {
		t.Errorf("RunTask calls: got %d, want 1 (none for the late slot)", n)
	}
	if len(e.lim.releases) != 1 {
		t.Errorf("releases: got %d, want 1 (the late slot given back)", len(e.lim.releases))
	}
	st, _ := e.st.Chunk(ctx, "r1", 1)
	if a := st.Attempts[1]; a.State != launch.AttemptFailed || a.Code != CodeDeadlinePassed {
		t.Errorf("attempt 1: got %+v, want failed with DeadlinePassed (never sent, never replayed)", a)
	}

	// The state machine's path: classify the partial output, then retry.
	raw, _ := json.Marshal(out)
	c := failure.Classify(raw)
	if c.Code != CodeDeadlinePassed {
		t.Fatalf("classify: got code %q, want %q", c.Code, CodeDeadlinePassed)
	}
	dec, err := e.r.Handle(ctx, RetryInput{RequestID: "r1", Chunk: 1, Attempt: out.Attempt, Classification: &c})
	if err != nil {
		t.Fatal(err)
	}
	wantReason := "deadline " + t0.Add(20*time.Second).UTC().Format(time.RFC3339) + " passed: 10 of 10 units not launched"
	if dec.Action != ActionGiveUp || !strings.HasPrefix(dec.Reason, wantReason) {
		t.Fatalf("retry: got %+v; want giveup with reason %q…", dec, wantReason)
	}
	if len(e.sqs.msgs) != 1 || !strings.Contains(e.sqs.msgs[0], wantReason) {
		t.Errorf("dead letters %v: want one naming the deadline", e.sqs.msgs)
	}

	// A later call (the deadline has passed) reserves nothing.
	e.clk.Advance(21 * time.Second)
	reserves := len(e.lim.reserves)
	out, err = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 1, Attempt: 2})
	if err != nil || out.Status != StatusDone {
		t.Fatalf("after giveup: got %+v, %v; want done", out, err)
	}
	if len(e.lim.reserves) != reserves {
		t.Errorf("a call after the give-up reserved a slot")
	}

	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
	sum, err := sh.Summarize(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	key := "deadline " + t0.Add(20*time.Second).UTC().Format(time.RFC3339) + " passed"
	if sum.Launched != 10 || sum.Failed != 10 || sum.Reasons[key] != 10 || len(sum.Reasons) != 1 {
		t.Errorf("summary %+v: want 10 launched, 10 failed under %q", sum, key)
	}
}

// Once the deadline has passed, a new attempt neither reserves nor calls.
func TestRunTaskAfterDeadlineReservesNothing(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 20
	plan(t, e.st, r, t0)
	e.clk.Advance(20 * time.Second)
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != StatusPartial || out.Failures[0].Reason != CodeDeadlinePassed {
		t.Fatalf("got %+v; want partial with DeadlinePassed", out)
	}
	if len(e.lim.reserves) != 0 || len(e.ecs.Calls()) != 0 {
		t.Errorf("got %d reserves, %d calls; want none", len(e.lim.reserves), len(e.ecs.Calls()))
	}
	st, _ := e.st.Chunk(context.Background(), "r1", 0)
	if len(st.Attempts) != 0 {
		t.Errorf("attempts recorded: %+v; want none", st.Attempts)
	}
}

// An attempt whose outcome is unknown is still replayed (same token) after
// the deadline: it may have launched, and only its answer tells.
func TestRunTaskReplaysUnknownAttemptAfterDeadline(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 20
	plan(t, e.st, r, t0)
	e.ecs.loseResponse = map[int]bool{1: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err == nil {
		t.Fatal("lost response: want an error")
	}
	e.clk.Advance(30 * time.Second)
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true})
	if err != nil || out.Status != StatusLaunched || e.ecs.seq != 10 {
		t.Fatalf("got %+v, %v, %d tasks; want the replay answered (launched 10, no duplicate)", out, err, e.ecs.seq)
	}
}
