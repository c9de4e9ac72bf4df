package handler

import (
	"context"
	"encoding/json"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

type retryEnv struct {
	runTaskEnv
	events *fakeEvents
	sqs    *fakeSQS
	peek   *fakePeek
	r      *ChunkRetry
	rl     *Relaunch
}

type fakePeek struct{ wait time.Duration }

func (p *fakePeek) NextSlot(context.Context, string, []limiter.Take) (time.Duration, error) {
	return p.wait, nil
}

func newRetryEnv(t *testing.T, rnd float64) *retryEnv {
	t.Helper()
	e := &retryEnv{runTaskEnv: *newRunTaskEnv(t), events: &fakeEvents{}, sqs: &fakeSQS{}, peek: &fakePeek{}}
	rand := func() float64 { return rnd }
	e.r = NewChunkRetry(e.st, e.events, e.sqs, func(o *ChunkRetryOptions) {
		o.Clock, o.Rand, o.Peek, o.Bus, o.DLQURL = e.clk, rand, e.peek, "product", "http://127.0.0.1/q"
	})
	e.rl = NewRelaunch(e.st, e.lim, e.ecs, e.events, e.sqs, func(o *RelaunchOptions) {
		o.Clock, o.Rand, o.Peek, o.Bus, o.DLQURL = e.clk, rand, e.peek, "product", "http://127.0.0.1/q"
	})
	return e
}

func classification(class failure.Class, code string, minDelay float64) *failure.Classification {
	return &failure.Classification{Class: class, Code: code, Retryable: class.Retryable(),
		ReuseToken: class == failure.Transient, MinDelaySeconds: minDelay, Message: code}
}

func TestRetryDecisions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		class      *failure.Classification
		rnd        float64
		peek       time.Duration
		retriesBef int // retry decisions already made for the chunk
		want       RetryOutput
	}{
		{name: "transient reuses the token", class: classification(failure.Transient, "ServerException", 1), rnd: 0,
			want: RetryOutput{Action: ActionRetry, Attempt: 1, ReuseToken: true, WaitSeconds: 1}},
		{name: "throttled moves to the next token", class: classification(failure.Throttled, "ThrottlingException", 1), rnd: 0,
			want: RetryOutput{Action: ActionRetry, Attempt: 2, WaitSeconds: 1}},
		{name: "bucket slot beyond minimum", class: classification(failure.Throttled, "ThrottlingException", 1), peek: 7500 * time.Millisecond,
			want: RetryOutput{Action: ActionRetry, Attempt: 2, WaitSeconds: 8}},
		{name: "jitter beyond both", class: classification(failure.Throttled, "ThrottlingException", 1), rnd: 0.5, retriesBef: 4,
			want: RetryOutput{Action: ActionRetry, Attempt: 2, WaitSeconds: 8}}, // 0.5 × 1 s × 2^(5−1)
		{name: "backoff capped", class: classification(failure.Throttled, "ThrottlingException", 1), rnd: 0.99, retriesBef: 6,
			want: RetryOutput{Action: ActionRetry, Attempt: 2, WaitSeconds: 64}}, // min(300, 2^6) × .99 → 63.36
		{name: "permanent gives up", class: classification(failure.Permanent, "ClientException", 0),
			want: RetryOutput{Action: ActionGiveUp, Attempt: 1}},
		// Quota is a queue: the chunk waits 10 s (the schedule's first
		// wait, not the class's 60 s minimum), the same attempt again
		// (nothing was recorded: no token bound), even with the budget spent.
		{name: "quota waits", class: classification(failure.Quota, "LimitExceededException", 60),
			want: RetryOutput{Action: ActionRetry, Attempt: 1, WaitSeconds: 10}},
		{name: "quota waits past the attempt budget", class: classification(failure.Quota, "LimitExceededException", 60), retriesBef: 7,
			want: RetryOutput{Action: ActionRetry, Attempt: 1, WaitSeconds: 10}},
		{name: "attempt budget", class: classification(failure.Throttled, "ThrottlingException", 1), retriesBef: 7,
			want: RetryOutput{Action: ActionGiveUp, Attempt: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRetryEnv(t, tt.rnd)
			e.peek.wait = tt.peek
			plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
			ctx := context.Background()
			for range tt.retriesBef {
				if _, err := e.st.AddRetry(ctx, "r1", 0); err != nil {
					t.Fatal(err)
				}
			}
			got, err := e.r.Handle(ctx, RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: tt.class})
			if err != nil {
				t.Fatal(err)
			}
			if got.Action != tt.want.Action || got.Attempt != tt.want.Attempt || got.ReuseToken != tt.want.ReuseToken || got.WaitSeconds != tt.want.WaitSeconds {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			gaveUp := tt.want.Action == ActionGiveUp
			if (len(e.sqs.msgs) == 1) != gaveUp || (len(e.events.entries) == 1) != gaveUp {
				t.Fatalf("dead letters %d, events %d; want %v", len(e.sqs.msgs), len(e.events.entries), gaveUp)
			}
			if gaveUp {
				var dl DeadLetter
				if err := json.Unmarshal([]byte(e.sqs.msgs[0]), &dl); err != nil || dl.Missing != 10 || dl.RequestID != "r1" || dl.Reason == "" {
					t.Errorf("dead letter %s: %v", e.sqs.msgs[0], err)
				}
				if !strings.HasPrefix(e.events.entries[0], launch.DetailLaunchFailed+" ") {
					t.Errorf("event: got %s, want LaunchFailed", e.events.entries[0])
				}
			}
		})
	}
}

func TestRetryNextAttemptFollowsRecordedAttempts(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.respond = func(int, *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	// The state machine passes the attempt it sent (0 at first); runtask
	// recorded attempt 1; the next must be 2.
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 0}); err == nil {
		t.Fatal("want a throttle")
	}
	out, err := e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 0, Attempt: 0,
		Classification: classification(failure.Throttled, "ThrottlingException", 1)})
	if err != nil || out.Attempt != 2 || out.ReuseToken {
		t.Fatalf("got %+v, %v; want attempt 2 with a new token", out, err)
	}
}

func TestRetryDeadline(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 30
	plan(t, e.st, r, t0)
	e.clk.Advance(29 * time.Second)
	out, err := e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1,
		Classification: classification(failure.Capacity, "RESOURCE:FARGATE", 5)})
	if err != nil || out.Action != ActionGiveUp || !strings.Contains(out.Reason, "deadline") {
		t.Fatalf("got %+v, %v; want giveup for the deadline", out, err)
	}
}

func TestRetryGiveUpOnceCounted(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	in := RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: classification(failure.Permanent, "ClientException", 0)}
	for range 2 {
		if _, err := e.r.Handle(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := e.st.Chunk(context.Background(), "r1", 0)
	if !st.GaveUp || st.DeadLettered != 10 {
		t.Fatalf("got gaveUp %v deadLettered %d, want true 10 (not 20)", st.GaveUp, st.DeadLettered)
	}
	// runtask on a given-up chunk does nothing.
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 2})
	if err != nil || out.Status != StatusDone || len(e.ecs.Calls()) != 0 {
		t.Fatalf("got %+v, %v, %d calls; want done, no call", out, err, len(e.ecs.Calls()))
	}
}

func TestRetryFailover(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.EC2Request("r1", 10), t0)
	c := classification(failure.Capacity, "InsufficientInstanceCapacity", 5)
	c.Scope, c.ScopeValue = failure.ScopeInstanceType, "c7g.large#subnet-a"
	out, err := e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: c, Exclude: []string{}})
	if err != nil || out.Action != ActionFailover || !slices.Equal(out.Exclude, []string{"c7g.large#subnet-a"}) || out.Attempt != 2 || out.WaitSeconds != 5 {
		t.Fatalf("got %+v, %v; want failover excluding c7g.large#subnet-a, attempt 2, 5 s", out, err)
	}
	// Everything excluded: start over (the fleet-wide marks still steer).
	c.ScopeValue = "c6g.large#subnet-b"
	out, err = e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 0, Attempt: 2, Classification: c,
		Exclude: []string{"c7g.large#subnet-a", "c7g.large#subnet-b", "c6g.large#subnet-a"}})
	if err != nil || out.Action != ActionFailover || len(out.Exclude) != 0 {
		t.Fatalf("got %+v, %v; want failover with exclude reset", out, err)
	}
}

// TestRetryJSONContract drives the chunk entry point as Lambda does: JSON
// in, JSON out, and bad input a PermanentError (its errorType).
func TestRetryJSONContract(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	raw := `{"requestId":"r1","chunk":0,"attempt":1,"classification":{"class":"throttled","code":"ThrottlingException","source":"sdk","retryable":true,"reuseToken":false,"minDelaySeconds":2,"message":"Rate exceeded"}}`
	h := lambda.NewHandler(e.r.Handle)
	b, err := h.Invoke(context.Background(), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"action", "waitSeconds", "attempt", "reuseToken", "exclude", "reason"} {
		if _, ok := m[k]; !ok {
			t.Errorf("output %s lacks %q", b, k)
		}
	}
	if m["action"] != "retry" || m["waitSeconds"].(float64) != 2 {
		t.Errorf("got %s, want retry after 2 s", b)
	}
	if _, err := h.Invoke(context.Background(), []byte(`[1]`)); errorTypeName(err) != "PermanentError" {
		t.Errorf("bad input: got %v, want PermanentError", err)
	}
}

// event hands raw to the EventBridge entry point, decoded as Lambda does.
func (e *retryEnv) event(ctx context.Context, raw json.RawMessage) (EventOutput, error) {
	return invokeEvent(ctx, e.rl, raw)
}

func invokeEvent(ctx context.Context, rl *Relaunch, raw json.RawMessage) (EventOutput, error) {
	var ev ECSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return EventOutput{}, err
	}
	return rl.HandleEvent(ctx, ev)
}

// queue hands raw to the relaunch queue's entry point, decoded as Lambda does.
func (e *retryEnv) queue(ctx context.Context, raw json.RawMessage) (SQSBatchResponse, error) {
	var b SQSBatch
	if err := json.Unmarshal(raw, &b); err != nil {
		return SQSBatchResponse{}, err
	}
	return e.rl.HandleSQS(ctx, b)
}

// sleepless is a clock whose Sleep is always cut short.
type sleepless struct{ clock.Clock }

func (sleepless) Sleep(context.Context, time.Duration) error { return context.Canceled }

// GIVEN a chunk whose runtask was refused by the limiter itself (its
// backlog full), with nothing called
// WHEN retry decides
// THEN it waits the limiter's retry-after, repeats the same attempt, and
// spends none of the request's attempts
func TestRetryLimiterBusySpendsNoAttempt(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0.99)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	c := classification(failure.Throttled, "LimiterBacklogFull", 7) // above the policy's 5 s floor
	for range 12 {                                                  // more than the request's 8 attempts
		out, err := e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 0, Attempt: 3, Classification: c})
		if err != nil {
			t.Fatal(err)
		}
		if out.Action != ActionRetry || out.Attempt != 3 || !out.ReuseToken || out.WaitSeconds != 7 {
			t.Fatalf("got %+v, want retry of attempt 3 with its token after 7 s", out)
		}
	}
	st, err := e.st.Chunk(context.Background(), "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Retries != 0 {
		t.Errorf("retries counted: %d, want 0", st.Retries)
	}
}
