package submit

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

const machine = "arn:aws:states:us-east-1:000000000000:stateMachine:launch"

// fakeSFN keeps executions by name, as Step Functions does for a Standard
// machine: the same name is ExecutionAlreadyExists (the running-and-same-input
// case answers success on AWS; the handler treats both alike).
type fakeSFN struct {
	mu          sync.Mutex
	executions  map[string]string // name → input
	starts      []*sfn.StartExecutionInput
	startErr    error
	describeErr error
}

func (f *fakeSFN) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, in)
	if f.startErr != nil {
		return nil, f.startErr
	}
	if f.executions == nil {
		f.executions = map[string]string{}
	}
	if _, ok := f.executions[*in.Name]; ok {
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: '" + *in.Name + "'")}
	}
	f.executions[*in.Name] = *in.Input
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String(ExecutionARN(*in.StateMachineArn, *in.Name))}, nil
}

func (f *fakeSFN) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	name := (*in.ExecutionArn)[strings.LastIndexByte(*in.ExecutionArn, ':')+1:]
	input, ok := f.executions[name]
	if !ok {
		return nil, &sfntypes.ExecutionDoesNotExist{}
	}
	return &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Input: aws.String(input), Status: sfntypes.ExecutionStatusRunning}, nil
}

const request = `{"requestId": "nightly-1", "ecs": {"cluster": "jobs", "taskDefinition": "job:3", "count": 25,
  "launchType": "FARGATE", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a"]}}}}`

func envelope(detail string) events.EventBridgeEvent {
	return events.EventBridgeEvent{Version: "0", ID: "e1", DetailType: "LaunchRequested", Source: "throttle-handler",
		Region: "us-east-1", Detail: json.RawMessage(detail)}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	other := strings.Replace(request, `"count": 25`, `"count": 26`, 1)
	tests := []struct {
		name       string
		fake       *fakeSFN
		events     []events.EventBridgeEvent
		want       Result // of the last event
		wantErr    string // a PermanentError mentioning this
		wantErrT   string // the errorType of the error, when wantErr is set or for other errors
		wantStarts int
	}{
		{
			name: "starts one execution named after the request", fake: &fakeSFN{}, events: []events.EventBridgeEvent{envelope(request)},
			want:       Result{RequestID: "nightly-1", ExecutionName: "nightly-1", ExecutionARN: "arn:aws:states:us-east-1:000000000000:execution:launch:nightly-1"},
			wantStarts: 1,
		},
		{
			name: "a duplicated event is already submitted", fake: &fakeSFN{}, events: []events.EventBridgeEvent{envelope(request), envelope(request)},
			want:       Result{RequestID: "nightly-1", ExecutionName: "nightly-1", ExecutionARN: "arn:aws:states:us-east-1:000000000000:execution:launch:nightly-1", AlreadySubmitted: true, Status: "RUNNING"},
			wantStarts: 2,
		},
		{
			name: "a different request under the same id is rejected", fake: &fakeSFN{}, events: []events.EventBridgeEvent{envelope(request), envelope(other)},
			wantErr: "requestId", wantErrT: "PermanentError", wantStarts: 2,
		},
		{
			name: "an unreadable existing execution still counts as submitted", fake: &fakeSFN{describeErr: errors.New("AccessDenied")},
			events:     []events.EventBridgeEvent{envelope(request), envelope(other)},
			want:       Result{RequestID: "nightly-1", ExecutionName: "nightly-1", ExecutionARN: "arn:aws:states:us-east-1:000000000000:execution:launch:nightly-1", AlreadySubmitted: true},
			wantStarts: 2,
		},
		{
			name: "an invalid request names the field and starts nothing", fake: &fakeSFN{},
			events:  []events.EventBridgeEvent{envelope(strings.Replace(request, `"count": 25`, `"count": 0`, 1))},
			wantErr: "ecs.count", wantErrT: "PermanentError",
		},
		{
			name: "an unknown field is rejected", fake: &fakeSFN{},
			events:  []events.EventBridgeEvent{envelope(strings.Replace(request, `"count"`, `"cout"`, 1))},
			wantErr: "cout", wantErrT: "PermanentError",
		},
		{
			name: "another detail-type is rejected", fake: &fakeSFN{},
			events:  []events.EventBridgeEvent{func() events.EventBridgeEvent { e := envelope(request); e.DetailType = "LaunchCompleted"; return e }()},
			wantErr: "detail-type", wantErrT: "PermanentError",
		},
		{
			name: "an envelope without detail is rejected", fake: &fakeSFN{}, events: []events.EventBridgeEvent{envelope("")},
			wantErr: "detail", wantErrT: "PermanentError",
		},
		{
			name: "a throttled StartExecution is a ThrottledError", fake: &fakeSFN{startErr: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}},
			events: []events.EventBridgeEvent{envelope(request)}, wantErrT: "ThrottledError", wantStarts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(tt.fake, machine)
			var got Result
			var err error
			for _, ev := range tt.events {
				got, err = s.Handle(t.Context(), ev)
			}
			if len(tt.fake.starts) != tt.wantStarts {
				t.Errorf("got %d StartExecution calls, want %d", len(tt.fake.starts), tt.wantStarts)
			}
			if tt.wantErrT != "" {
				if err == nil {
					t.Fatalf("got %+v, want a %s", got, tt.wantErrT)
				}
				if typ := reflect.TypeOf(err).Elem().Name(); typ != tt.wantErrT {
					t.Errorf("got error type %s (%v), want %s", typ, err, tt.wantErrT)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %q, want it to name %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStartExecutionInput(t *testing.T) {
	t.Parallel()
	f := &fakeSFN{}
	if _, err := New(f, machine).Submit(t.Context(), []byte(request)); err != nil {
		t.Fatal(err)
	}
	in := f.starts[0]
	if *in.StateMachineArn != machine || *in.Name != "nightly-1" {
		t.Errorf("got machine %s name %s", *in.StateMachineArn, *in.Name)
	}
	if !sameJSON([]byte(*in.Input), []byte(request)) || strings.ContainsAny(*in.Input, "\n") {
		t.Errorf("input %s: want the request, compacted", *in.Input)
	}
}

// TestHandlerContract runs the handler as Lambda does, from JSON.
func TestHandlerContract(t *testing.T) {
	t.Parallel()
	ev, _ := json.Marshal(envelope(request))
	out, err := lambda.NewHandler(New(&fakeSFN{}, machine).Handle).Invoke(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r["executionName"] != "nightly-1" || r["alreadySubmitted"] != false {
		t.Errorf("got %s", out)
	}
	_, err = lambda.NewHandler(New(&fakeSFN{}, machine).Handle).Invoke(context.Background(), []byte(`{"detail-type":"LaunchRequested","source":"throttle-handler","detail":{"requestId":""}}`))
	if _, ok := errors.AsType[*failure.PermanentError](err); !ok || !strings.Contains(err.Error(), "requestId") {
		t.Errorf("got %v, want a PermanentError naming requestId", err)
	}
}
