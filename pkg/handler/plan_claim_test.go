package handler

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// fakeExecutions answers DescribeExecution from a status per ARN; an ARN
// it does not know does not exist.
type fakeExecutions struct {
	mu     sync.Mutex
	status map[string]sfntypes.ExecutionStatus
	err    error
	calls  int
}

func (f *fakeExecutions) set(arn string, s sfntypes.ExecutionStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == nil {
		f.status = map[string]sfntypes.ExecutionStatus{}
	}
	f.status[arn] = s
}

func (f *fakeExecutions) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	s, ok := f.status[aws.ToString(in.ExecutionArn)]
	if !ok {
		return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("Execution Does Not Exist")}
	}
	return &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Status: s}, nil
}

const execA, execB = "arn:aws:states:us-east-1:000000000000:execution:launch:a", "arn:aws:states:us-east-1:000000000000:execution:launch:b"

// machineInput is plan's input from the launch machine.
func machineInput(t *testing.T, r launch.Request, arn string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(map[string]any{"request": r, "executionArn": arn})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type claimEnv struct {
	h   *PlanHandler
	st  *launchstore.Memory
	sfn *fakeExecutions
	clk *clock.Fake
}

func newClaimEnv(t *testing.T, withSFN bool) claimEnv {
	t.Helper()
	e := claimEnv{st: launchstore.NewMemory(), sfn: &fakeExecutions{}, clk: clock.NewFake(t0)}
	e.h = NewPlanHandler(e.st, func(o *HandlerOptions) {
		o.Clock = e.clk
		if withSFN {
			o.Executions = e.sfn
		}
	})
	return e
}

// TestPlanClaimsTheRequestID: one live execution per request id. A second
// one fails with RequestAlreadyRunning naming the request and the live
// execution, and changes nothing; the holder's own retried plan gets its
// plan; once the holder has ended, a new execution takes the id over.
func TestPlanClaimsTheRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := launchtest.ECSRequest("nightly/1", 25)
	t.Run("a second live execution is refused and changes nothing", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, true)
		e.sfn.set(execA, sfntypes.ExecutionStatusRunning)
		first, err := e.h.Handle(ctx, machineInput(t, r, execA))
		if err != nil {
			t.Fatal(err)
		}
		items := e.st.Len()
		e.clk.Advance(time.Minute)
		for _, again := range []launch.Request{r, launchtest.ECSRequest("nightly/1", 26)} {
			_, err := e.h.Handle(ctx, machineInput(t, again, execB))
			var running *RequestAlreadyRunning
			if !errors.As(err, &running) || running.Holder != execA || running.Execution != execB || running.RequestID != r.RequestID {
				t.Fatalf("second execution (count %d): %v, want RequestAlreadyRunning held by %s", again.ECS.Count, err, execA)
			}
			for _, want := range []string{`"nightly/1"`, execA, execB} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		}
		if e.st.Len() != items {
			t.Errorf("the refused executions changed the table: %d items, then %d", items, e.st.Len())
		}
		if held, _, err := e.st.ClaimExecution(ctx, r.RequestID, "arn:aws:states:us-east-1:000000000000:execution:launch:probe", "", t0, t0); err != nil || held.ExecutionARN != execA || !held.ClaimedAt.Equal(t0) {
			t.Errorf("claim after the refusals: %+v, %v; want A's, made at %v", held, err, t0)
		}
		sr, err := e.st.Request(ctx, r.RequestID)
		if err != nil || !sr.Created.Equal(t0) || sr.Plan.Count != first.Count {
			t.Errorf("stored request after the refusals: %+v, %v", sr, err)
		}
		// The holder's own plan, retried (Lambda retry), still plans.
		again, err := e.h.Handle(ctx, machineInput(t, r, execA))
		if err != nil || again.Count != first.Count || !again.Deadline.Equal(first.Deadline) {
			t.Fatalf("the holder's retried plan: %+v, %v; want %+v", again, err, first)
		}
	})
	t.Run("the error type is the execution's error", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, true)
		e.sfn.set(execA, sfntypes.ExecutionStatusRunning)
		if _, err := e.h.Handle(ctx, machineInput(t, r, execA)); err != nil {
			t.Fatal(err)
		}
		_, err := lambda.NewHandler(e.h.Handle).Invoke(ctx, machineInput(t, r, execB))
		// Lambda's errorType is the error's type name (aws-lambda-go).
		if err == nil || reflect.TypeOf(err).Elem().Name() != ErrRequestAlreadyRunning {
			t.Errorf("Lambda error %T %v, want errorType %s", err, err, ErrRequestAlreadyRunning)
		}
	})
	for _, ended := range []sfntypes.ExecutionStatus{sfntypes.ExecutionStatusSucceeded, sfntypes.ExecutionStatusFailed,
		sfntypes.ExecutionStatusAborted, sfntypes.ExecutionStatusTimedOut, ""} {
		status := map[bool]string{true: string(ended), false: "no longer known"}[ended != ""]
		t.Run("a holder that ended ("+status+") is taken over", func(t *testing.T) {
			t.Parallel()
			e := newClaimEnv(t, true)
			first, err := e.h.Handle(ctx, machineInput(t, r, execA))
			if err != nil {
				t.Fatal(err)
			}
			if ended != "" { // "": the execution no longer exists
				e.sfn.set(execA, ended)
			}
			e.clk.Advance(time.Hour)
			got, err := e.h.Handle(ctx, machineInput(t, r, execB))
			if err != nil || got.Count != first.Count || !got.Deadline.Equal(first.Deadline) {
				t.Fatalf("after the holder ended: %+v, %v; want the stored plan %+v", got, err, first)
			}
			// Now B holds it: A's late retry is the one refused.
			e.sfn.set(execB, sfntypes.ExecutionStatusRunning)
			if _, err := e.h.Handle(ctx, machineInput(t, r, execA)); !isAlreadyRunning(err, execB) {
				t.Errorf("A after B took over: %v, want RequestAlreadyRunning held by B", err)
			}
		})
	}
	t.Run("a failed DescribeExecution is transient", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, true)
		if _, err := e.h.Handle(ctx, machineInput(t, r, execA)); err != nil {
			t.Fatal(err)
		}
		e.sfn.err = errors.New("ThrottlingException: Rate exceeded")
		_, err := e.h.Handle(ctx, machineInput(t, r, execB))
		if _, ok := errors.AsType[*failure.TransientError](err); !ok {
			t.Fatalf("got %v, want a TransientError (the Plan state retries it)", err)
		}
	})
	t.Run("a role without DescribeExecution: the closed mark decides", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, true)
		e.sfn.err = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: states:DescribeExecution"}
		testClosedMarkDecides(t, e, r)
	})
	t.Run("without DescribeExecution the closed mark decides", func(t *testing.T) {
		t.Parallel()
		testClosedMarkDecides(t, newClaimEnv(t, false), r)
	})
	t.Run("a bare request claims nothing", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, true)
		e.sfn.set(execA, sfntypes.ExecutionStatusRunning)
		if _, err := e.h.Handle(ctx, machineInput(t, r, execA)); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		if _, err := e.h.Handle(ctx, b); err != nil {
			t.Fatalf("bare request (throttlectl invoke): %v", err)
		}
		if e.sfn.calls != 0 {
			t.Errorf("%d DescribeExecution calls, want none", e.sfn.calls)
		}
	})
	t.Run("an envelope inside the machine's input", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, true)
		e.sfn.set(execA, sfntypes.ExecutionStatusRunning)
		body, _ := json.Marshal(r)
		env := `{"detail-type":"LaunchRequested","source":"throttle-handler","detail":` + string(body) + `}`
		in := `{"request":` + env + `,"executionArn":"` + execA + `"}`
		if _, err := e.h.Handle(ctx, json.RawMessage(in)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.h.Handle(ctx, machineInput(t, r, execB)); !isAlreadyRunning(err, execA) {
			t.Fatalf("got %v, want RequestAlreadyRunning held by A", err)
		}
	})
}

func isAlreadyRunning(err error, holder string) bool {
	var running *RequestAlreadyRunning
	return errors.As(err, &running) && running.Holder == holder
}

// testClosedMarkDecides: A holds the id; B is refused while the request is
// open and takes it over once it is closed.
func testClosedMarkDecides(t *testing.T, e claimEnv, r launch.Request) {
	ctx := context.Background()
	if _, err := e.h.Handle(ctx, machineInput(t, r, execA)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.Handle(ctx, machineInput(t, r, execB)); !isAlreadyRunning(err, execA) {
		t.Fatalf("open request: %v, want RequestAlreadyRunning", err)
	}
	if _, err := e.st.CloseRequest(ctx, r.RequestID, launchstore.ClosedCompleted, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.Handle(ctx, machineInput(t, r, execB)); err != nil {
		t.Fatalf("closed request: %v, want B to take it over", err)
	}
}
