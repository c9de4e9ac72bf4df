package handler

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// ECS throttles before it looks a client token up: a throttled replay of an
// attempt whose response was lost says nothing about it. The attempt must
// stay unknown and be replayed, never followed by a new token (which would
// launch the chunk twice and leave the first launch out of the table).
func TestRunTaskThrottledReplayKeepsAttemptUnknown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.loseResponse = map[int]bool{1: true}
	e.ecs.throttle = map[int]bool{2: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); errorTypeName(err) != "TransientError" {
		t.Fatalf("lost response: got %v, want TransientError", err)
	}
	_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true})
	var th *failure.ThrottledError
	if !errors.As(err, &th) {
		t.Fatalf("throttled replay: got %T %v, want ThrottledError", err, err)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if got := st.Attempts[1].State; got != launch.AttemptSent {
		t.Fatalf("attempt 1 after a throttled replay: got %q, want %q (outcome still unknown)", got, launch.AttemptSent)
	}
	// The state machine: classify (throttled: a new token), retry, runtask.
	dec, err := e.r.Handle(ctx, RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: classification(failure.Throttled, "ThrottlingException", 1)})
	if err != nil || dec.Action != ActionRetry {
		t.Fatalf("retry: got %+v, %v", dec, err)
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: dec.Attempt, ReuseToken: dec.ReuseToken})
	if err != nil || out.Status != StatusLaunched || out.Attempt != 1 {
		t.Fatalf("got %+v, %v; want attempt 1 replayed and launched", out, err)
	}
	if e.ecs.seq != 10 {
		t.Fatalf("ECS launched %d tasks for a chunk of 10 (a new token after a throttled replay)", e.ecs.seq)
	}
	calls := e.ecs.Calls()
	if tok := aws.ToString(calls[len(calls)-1].ClientToken); tok != launch.ClientToken("r1", 0, 1) {
		t.Errorf("last call token %q, want attempt 1's", tok)
	}
}

// A chunk is not given up while an attempt's outcome is unknown: that
// attempt may have launched (chaos seed 24: a chunk dead-lettered while its
// tasks run; seed 19: a relaunch of one of them then counted on top, 145
// launched of 144). Its replay comes first; the summary then adds up.
func TestRetrySettlesUnknownAttemptBeforeGivingUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.MaxAttempts = 1
	plan(t, e.st, r, t0)
	e.ecs.loseResponse = map[int]bool{1: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); errorTypeName(err) != "TransientError" {
		t.Fatalf("lost response: got %v, want TransientError", err)
	}
	// Budget spent (1 of 1): the retry must still replay attempt 1.
	dec, err := e.r.Handle(ctx, RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: classification(failure.Transient, "RequestTimeout", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if dec.Action != ActionRetry || !dec.ReuseToken || dec.Attempt != 1 {
		t.Fatalf("got %+v; want a replay of attempt 1 before any give-up", dec)
	}
	if len(e.sqs.msgs) != 0 {
		t.Fatalf("dead-lettered %v while attempt 1's outcome was unknown", e.sqs.msgs)
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: dec.Attempt, ReuseToken: dec.ReuseToken})
	if err != nil || out.Status != StatusLaunched || e.ecs.seq != 10 {
		t.Fatalf("replay: got %+v, %v, %d tasks; want launched 10", out, err, e.ecs.seq)
	}
	// One of the ten fails to start and is relaunched.
	stopped := "arn:aws:ecs:us-east-1:000000000000:task/jobs/0001"
	if err := e.st.FinishRelaunch(ctx, launch.RelaunchClaim{TaskARN: stopped, RequestID: "r1", Chunk: 0}, "arn:aws:ecs:us-east-1:000000000000:task/jobs/r001", time.Time{}); err != nil {
		t.Fatal(err)
	}
	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
	sum, err := sh.Summarize(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Launched != 10 || sum.Failed != 0 || sum.Launched+sum.Failed != sum.Requested {
		t.Errorf("summary %+v: want 10 launched, none failed", sum)
	}
}

// The replays before a give-up are bounded: an attempt that stays unknown
// is given up after settleReplays more decisions, saying so.
func TestRetrySettleReplaysBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.MaxAttempts = 1
	plan(t, e.st, r, t0)
	e.ecs.loseResponse = map[int]bool{1: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err == nil {
		t.Fatal("lost response: want an error")
	}
	in := RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: classification(failure.Transient, "RequestTimeout", 0)}
	for i := range settleReplays {
		if dec, err := e.r.Handle(ctx, in); err != nil || dec.Action != ActionRetry || !dec.ReuseToken {
			t.Fatalf("decision %d: got %+v, %v; want a replay", i+1, dec, err)
		}
	}
	dec, err := e.r.Handle(ctx, in)
	if err != nil || dec.Action != ActionGiveUp || !strings.Contains(dec.Reason, "outcome still unknown") {
		t.Fatalf("got %+v, %v; want a give-up naming the unknown outcome", dec, err)
	}
	// The units may be running: the dead letter says so, with the token of
	// the unknown attempt, so redrive leaves them alone.
	if len(e.sqs.msgs) != 1 {
		t.Fatalf("dead letters %v: want 1", e.sqs.msgs)
	}
	var dl DeadLetter
	if err := json.Unmarshal([]byte(e.sqs.msgs[0]), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Code != CodeOutcomeUnknown || !dl.OutcomeUnknown || dl.Token != launch.ClientToken("r1", 0, 1) {
		t.Errorf("dead letter code %q outcomeUnknown %v token %q: want %s, true, attempt 1's token", dl.Code, dl.OutcomeUnknown, dl.Token, CodeOutcomeUnknown)
	}
}
