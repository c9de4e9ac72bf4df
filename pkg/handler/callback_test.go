package handler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// sfnCall is one SendTask* call the fake received.
type sfnCall struct {
	Kind, Token, Output, Error, Cause string
}

// fakeSFN records SendTask* calls; answer, when set, decides the error of
// each (by kind: success, failure, heartbeat).
type fakeSFN struct {
	mu     sync.Mutex
	calls  []sfnCall
	answer func(kind string, n int) error
}

func (f *fakeSFN) call(c sfnCall) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if f.answer == nil {
		return nil
	}
	return f.answer(c.Kind, len(f.calls))
}

func (f *fakeSFN) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	return &sfn.SendTaskSuccessOutput{}, f.call(sfnCall{Kind: "success", Token: aws.ToString(in.TaskToken), Output: aws.ToString(in.Output)})
}

func (f *fakeSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	return &sfn.SendTaskFailureOutput{}, f.call(sfnCall{Kind: "failure", Token: aws.ToString(in.TaskToken), Error: aws.ToString(in.Error), Cause: aws.ToString(in.Cause)})
}

func (f *fakeSFN) SendTaskHeartbeat(_ context.Context, in *sfn.SendTaskHeartbeatInput, _ ...func(*sfn.Options)) (*sfn.SendTaskHeartbeatOutput, error) {
	return &sfn.SendTaskHeartbeatOutput{}, f.call(sfnCall{Kind: "heartbeat", Token: aws.ToString(in.TaskToken)})
}

func (f *fakeSFN) got() []sfnCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sfnCall(nil), f.calls...)
}

// fakeQueue records the messages sent with their delay.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []*sqs.SendMessageInput
	err  error
}

func (f *fakeQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.msgs = append(f.msgs, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (f *fakeQueue) sent() []*sqs.SendMessageInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sqs.SendMessageInput(nil), f.msgs...)
}

const testToken = "AQB8token"

// callbackRequest is a 10-task ECS request (one chunk) with a callback.
func callbackRequest(id string, heartbeat int) launch.Request {
	r := launchtest.ECSRequest(id, 10)
	r.DeadlineSeconds = 600
	r.Callback = &launch.Callback{TaskToken: testToken + id, HeartbeatSeconds: heartbeat}
	return r
}

// finalSummary checks the request until its final summary.
func finalSummary(t *testing.T, sh *SummaryHandler, clk *clock.Fake, id string) (launch.Summary, error) {
	t.Helper()
	for range 100 {
		sum, err := sh.Handle(context.Background(), SummaryInput{RequestID: id, WaitForRelaunches: true})
		if err != nil || sum.Status != "" {
			return sum, err
		}
		clk.Advance(time.Duration(sum.WaitSeconds) * time.Second)
	}
	t.Fatal("no final summary in 100 checks")
	return launch.Summary{}, nil
}

// TestCallbackAnswersAsTheExecutionEnds: the final summary answers the
// request's token as the execution ends — success with the summary (the
// execution's output), RequestFailed's error and cause, the chunks' Map
// failure (ChunksFailed) whatever the status — once: the summary run again
// (a failed LaunchCompleted, a retried state) sends nothing more.
func TestCallbackAnswersAsTheExecutionEnds(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		launch      bool // run the chunk (else it never ran: LaunchIncomplete)
		chunksError *ExecutionError
		kind, error string
	}{
		"success":       {launch: true, kind: "success"},
		"RequestFailed": {launch: false, kind: "failure", error: launch.ErrLaunchIncomplete},
		"ChunksFailed":  {launch: true, chunksError: &ExecutionError{Error: "States.ExceedToleratedFailureThreshold", Cause: "the Map Run failed"}, kind: "failure", error: "States.ExceedToleratedFailureThreshold"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newRetryEnv(t, 0)
			api := &fakeSFN{}
			plan(t, e.st, callbackRequest("r1", 0), t0)
			if tc.launch {
				if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
					t.Fatalf("launch: %+v, %v", out, err)
				}
			}
			sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) {
				o.Clock, o.Bus, o.Callback = e.clk, "product", NewCallback(e.st, api, Options{Clock: e.clk})
			})
			if tc.chunksError != nil {
				if _, err := sh.Handle(ctx, SummaryInput{RequestID: "r1", ChunksError: tc.chunksError}); err != nil {
					t.Fatal(err)
				}
			}
			sum, err := finalSummary(t, sh, e.clk, "r1")
			if err != nil {
				t.Fatal(err)
			}
			calls := api.got()
			if len(calls) != 1 || calls[0].Kind != tc.kind || calls[0].Token != testToken+"r1" || calls[0].Error != tc.error {
				t.Fatalf("calls %+v; want one %s %q with the request's token", calls, tc.kind, tc.error)
			}
			checkAnswer(t, calls[0], sum, tc.chunksError)
			if _, err := sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true}); err != nil {
				t.Fatal(err)
			}
			if n := len(api.got()); n != 1 {
				t.Errorf("the summary run again answered again: %d calls", n)
			}
		})
	}
}

// checkAnswer: a success carries the summary as the execution outputs it;
// a failure the execution's error and cause.
func checkAnswer(t *testing.T, c sfnCall, sum launch.Summary, chunksError *ExecutionError) {
	t.Helper()
	switch {
	case chunksError != nil:
		if c.Cause != chunksError.Cause {
			t.Errorf("cause %q, want the Map's %q", c.Cause, chunksError.Cause)
		}
	case c.Kind == "failure":
		if c.Cause != sum.Cause || sum.Cause == "" {
			t.Errorf("cause %q, want the summary's %q", c.Cause, sum.Cause)
		}
	default:
		b, _ := json.Marshal(sum)
		if c.Output != string(b) {
			t.Errorf("output %s, want the summary %s", c.Output, b)
		}
	}
}

// TestCallbackRetriesAndRefusals: a retryable error of SendTask* fails
// the summary as transient (the state's Retry sends again, and
// LaunchCompleted waits for the answer); TaskTimedOut, TaskDoesNotExist
// and InvalidToken are final — recorded, never sent again, and the launch
// itself ends as it would have.
func TestCallbackRetriesAndRefusals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		err        error
		wantAnswer string
	}{
		"TaskTimedOut":     {&sfntypes.TaskTimedOut{Message: aws.String("timed out")}, launchstore.AnswerFinal},
		"TaskDoesNotExist": {&sfntypes.TaskDoesNotExist{Message: aws.String("gone")}, launchstore.AnswerFinal},
		"InvalidToken":     {&sfntypes.InvalidToken{Message: aws.String("bad")}, launchstore.AnswerFinal},
		"unavailable":      {&smithy.GenericAPIError{Code: "ServiceUnavailable", Message: "try again"}, launchstore.AnswerSuccess},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newRetryEnv(t, 0)
			api := &fakeSFN{answer: func(_ string, n int) error {
				if n == 1 {
					return tc.err
				}
				return nil
			}}
			plan(t, e.st, callbackRequest("r1", 0), t0)
			if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil {
				t.Fatal(err)
			}
			sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) {
				o.Clock, o.Bus, o.Callback = e.clk, "product", NewCallback(e.st, api, Options{Clock: e.clk})
			})
			_, err := finalSummary(t, sh, e.clk, "r1")
			retryable := tc.wantAnswer != launchstore.AnswerFinal
			if _, ok := errors.AsType[*failure.TransientError](err); ok != retryable {
				t.Fatalf("summary: %v; want a TransientError: %v", err, retryable)
			}
			if retryable {
				if completedEvents(e) != 0 {
					t.Fatal("LaunchCompleted put before the callback was answered")
				}
				if _, err := finalSummary(t, sh, e.clk, "r1"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := finalSummary(t, sh, e.clk, "r1"); err != nil {
				t.Fatal(err)
			}
			cb, _ := e.st.(launchstore.Callbacks).Callback(ctx, "r1")
			wantCalls := map[bool]int{true: 2, false: 1}[retryable]
			if n := len(api.got()); n != wantCalls || cb.Answer != tc.wantAnswer || completedEvents(e) == 0 {
				t.Fatalf("%d calls, answer %+v, %d LaunchCompleted; want %d calls, answer %s, LaunchCompleted put", n, cb, completedEvents(e), wantCalls, tc.wantAnswer)
			}
			if !retryable && !strings.HasPrefix(cb.Detail, name+": ") {
				t.Errorf("final answer's detail %q does not name %s", cb.Detail, name)
			}
		})
	}
}
