package handler

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

// failedEvents counts the LaunchFailed put with code (and, if set, for the
// stopped task arn).
func failedEvents(e *retryEnv, code, arn string) int {
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	n := 0
	for _, en := range e.events.entries {
		body, ok := strings.CutPrefix(en, launch.DetailLaunchFailed+" ")
		if !ok {
			continue
		}
		var d launch.LaunchFailedDetail
		if json.Unmarshal([]byte(body), &d) == nil && d.Code == code && (arn == "" || d.StoppedTaskARN == arn) {
			n++
		}
	}
	return n
}

// Chunks the state machine ended without a decision — a stalled chunk,
// one whose child execution failed, one never started — used to stay
// "pending" in the final summary: neither launched nor dead-lettered, and
// out of redrive's reach. The state machine's check dead-letters every such
// unit with its reason, once, so launched + dead-lettered = requested.
func TestSummaryDeadLettersUnfinishedChunks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prepare leaves chunk 1 of a 3-chunk request in some state.
		prepare  func(t *testing.T, e *retryEnv)
		wantCode string
		wantAtt  int
	}{
		{name: "never ran", prepare: func(*testing.T, *retryEnv) {}, wantCode: launch.CodeChunkUnfinished},
		{name: "refused, then stalled", prepare: func(t *testing.T, e *retryEnv) {
			e.ecs.respond = func(int, *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
				return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
			}
			_, _ = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 1, Attempt: 1})
		}, wantCode: launch.CodeChunkUnfinished, wantAtt: 1},
		{name: "outcome unknown", prepare: func(t *testing.T, e *retryEnv) {
			spec, _ := launchtest.ECSRequest("r1", 30).Chunk(1)
			rec := launch.AttemptRecord{Attempt: 2, Count: 10, Token: "tok", StartedBy: launch.StartedBy("r1", 1, 2)}
			if _, err := e.st.BeginAttempt(context.Background(), "r1", spec, rec, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, wantCode: launch.CodeOutcomeUnknown, wantAtt: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newRetryEnv(t, 0)
			plan(t, e.st, launchtest.ECSRequest("r1", 30), t0)
			for _, c := range []int{0, 2} {
				if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: c, Attempt: 1}); err != nil || out.Status != StatusLaunched {
					t.Fatalf("chunk %d: %+v, %v", c, out, err)
				}
			}
			tt.prepare(t, e)
			sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus, o.StartWatch = e.clk, "product", -1 }).WithDeadLetters(e.sqs, "http://127.0.0.1/q")
			var sum launch.Summary
			for range 2 { // a repeated check dead-letters nothing twice
				var err error
				if sum, err = sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true}); err != nil {
					t.Fatal(err)
				}
			}
			if sum.Launched != 20 || sum.DeadLettered != 10 || sum.Unfinished != 10 || sum.Pending != 0 || sum.Launched+sum.DeadLettered != sum.Requested {
				t.Fatalf("summary %+v; want 20 launched, 10 dead-lettered (unfinished), nothing pending", sum)
			}
			if len(e.sqs.msgs) != 1 || failedEvents(e, tt.wantCode, "") != 1 {
				t.Fatalf("%d DLQ messages, %d LaunchFailed %s; want 1 and 1 (%v)", len(e.sqs.msgs), failedEvents(e, tt.wantCode, ""), tt.wantCode, e.events.entries)
			}
			var dl DeadLetter
			if err := json.Unmarshal([]byte(e.sqs.msgs[0]), &dl); err != nil || dl.Chunk != 1 || dl.Missing != 10 || dl.Attempt != tt.wantAtt || dl.Reason == "" {
				t.Errorf("dead letter %+v (%v); want chunk 1, 10 missing, attempt %d, a reason", dl, err, tt.wantAtt)
			}
			if n := completedEvents(e); n != 2 {
				t.Errorf("LaunchCompleted put %d times, want once per final answer (2)", n)
			}
		})
	}
}
