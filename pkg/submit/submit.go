package submit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// op names the call in errors and logs.
const op = "states:StartExecution"

// SFN is the part of the Step Functions client the Submitter uses;
// *sfn.Client satisfies it.
type SFN interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// Options configures a Submitter.
type Options struct {
	// Logger receives one line per submission; default discards.
	Logger *slog.Logger
	// Account is the function's own account, which Handle compares with
	// each event's; "" reads it from the invoked function's ARN in the
	// Lambda context.
	Account string
}

// Submitter starts one launch execution per request id. Safe for
// concurrent use.
type Submitter struct {
	client  SFN
	machine string
	log     *slog.Logger
	account string
}

// New returns a Submitter starting executions of the state machine
// stateMachineARN through client.
func New(client SFN, stateMachineARN string, optFns ...func(*Options)) *Submitter {
	o := Options{}
	for _, f := range optFns {
		f(&o)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Submitter{client: client, machine: stateMachineARN, log: o.Logger, account: o.Account}
}

// Result is the submit function's output.
type Result struct {
	RequestID     string `json:"requestId"`
	ExecutionName string `json:"executionName"`
	ExecutionARN  string `json:"executionArn"`
	// AlreadySubmitted is true when an execution of that name existed: a
	// duplicated event or a second submission of the same request.
	AlreadySubmitted bool `json:"alreadySubmitted"`
	// Status is the existing execution's status (RUNNING, SUCCEEDED,
	// FAILED, …) when AlreadySubmitted and it could be read.
	Status string `json:"status,omitempty"`
	// SourceAccount is the account of an event from another account,
	// whose requestId was namespaced as <account>/<requestId>.
	SourceAccount string `json:"sourceAccount,omitempty"`
}

// Handle is the submit function: it takes a LaunchRequested envelope from
// the product's bus and submits its detail (see Submit). An event from
// another account (its account is not the function's own) runs under the
// request id <account>/<requestId> (NamespacedID); one from the account
// itself keeps its id. Errors are the unwrapped named types of
// pkg/failure; a bad envelope or request is a *failure.PermanentError
// naming the field.
func (s *Submitter) Handle(ctx context.Context, ev events.EventBridgeEvent) (Result, error) {
	switch {
	case ev.DetailType != launch.DetailLaunchRequested:
		return Result{}, permanent(fmt.Errorf("detail-type: must be %q, got %q", launch.DetailLaunchRequested, ev.DetailType))
	case ev.Source != launch.EventSource:
		return Result{}, permanent(fmt.Errorf("source: must be %q, got %q", launch.EventSource, ev.Source))
	case len(bytes.TrimSpace(ev.Detail)) == 0 || string(bytes.TrimSpace(ev.Detail)) == "null":
		return Result{}, permanent(errors.New("detail: required (the launch request)"))
	}
	detail, foreign, err := s.namespace(ctx, ev.AccountID, ev.Detail)
	if err != nil {
		return Result{}, err
	}
	res, err := s.Submit(ctx, detail)
	res.SourceAccount = foreign
	return res, err
}

// Submit validates a launch request (launch.ParseRequest) and starts the
// execution named ExecutionName(requestId) with the request as its input.
// ExecutionAlreadyExists means already submitted: the Result says so and
// carries the existing execution's status. The same request id with a
// different request is a *failure.PermanentError naming requestId. A
// refused request's callback is answered (callback.go).
func (s *Submitter) Submit(ctx context.Context, request []byte) (Result, error) {
	res, err := s.submit(ctx, request)
	s.answerRefusal(ctx, request, err)
	return res, err
}

func (s *Submitter) submit(ctx context.Context, request []byte) (Result, error) {
	req, err := launch.ParseRequest(request)
	if err != nil {
		return Result{}, permanent(err)
	}
	var input bytes.Buffer
	if err := json.Compact(&input, request); err != nil {
		return Result{}, permanent(fmt.Errorf("detail: %w", err))
	}
	name := ExecutionName(req.RequestID)
	res := Result{RequestID: req.RequestID, ExecutionName: name, ExecutionARN: ExecutionARN(s.machine, name)}
	out, err := s.client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(s.machine),
		Name:            aws.String(name),
		Input:           aws.String(input.String()),
	})
	if err == nil {
		res.ExecutionARN = aws.ToString(out.ExecutionArn)
		s.log.InfoContext(ctx, "submitted", "requestId", req.RequestID, "execution", name)
		return res, nil
	}
	if _, ok := errors.AsType[*sfntypes.ExecutionAlreadyExists](err); !ok {
		c := failure.ClassifyError(err)
		return Result{}, failure.ErrorFor(c, op, err)
	}
	res.AlreadySubmitted = true
	return s.existing(ctx, res, input.Bytes())
}

// existing checks that the execution already holding the name ran the same
// request. If it cannot be read, the request counts as submitted: the name
// is taken either way.
func (s *Submitter) existing(ctx context.Context, res Result, input []byte) (Result, error) {
	d, err := s.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(res.ExecutionARN)})
	if err != nil {
		s.log.WarnContext(ctx, "already submitted; existing execution unreadable", "requestId", res.RequestID, "execution", res.ExecutionName, "err", err)
		return res, nil
	}
	res.Status = string(d.Status)
	if !sameJSON(input, []byte(aws.ToString(d.Input))) {
		return Result{}, permanent(fmt.Errorf("requestId: %q was already submitted with a different request (execution %s, %s)", res.RequestID, res.ExecutionName, res.Status))
	}
	s.log.InfoContext(ctx, "already submitted", "requestId", res.RequestID, "execution", res.ExecutionName, "status", res.Status)
	return res, nil
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func permanent(err error) error {
	return &failure.PermanentError{Detail: failure.Detail{Code: "InvalidRequest", Op: op, Err: err}}
}
