package services_test

import (
	"context"
	"encoding/json"
	"testing"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/services/servicestest"
)

// TestStepFunctionsNamesLambdaServiceErrors follows AWS Lambda API
// Reference: Invoke (Errors) and AWS Step Functions Developer Guide:
// Handling errors in Step Functions workflows — a task that calls Lambda
// fails with "Lambda." and the error code Lambda answered, so a Retry can
// name ResourceNotReadyException apart from ServiceException.
func TestStepFunctionsNamesLambdaServiceErrors(t *testing.T) {
	t.Parallel()
	faults := map[string]lambda.FaultKind{
		"Lambda.ServiceException":          lambda.FaultServiceError,
		"Lambda.ResourceNotReadyException": lambda.FaultResourceNotReady,
		"Lambda.EC2ThrottledException":     lambda.FaultEC2Throttled,
		"Lambda.ENILimitReachedException":  lambda.FaultENILimitReached,
		"Lambda.TooManyRequestsException":  lambda.FaultThrottle,
	}
	st := servicestest.New(t, services.Options{StateMachinesDir: "-", NoDynamoDB: true,
		Resolver: func(string) (awslambda.Handler, error) { return awslambda.NewHandler(func() error { return nil }), nil },
		Lambda: func(lo *lambda.Options) {
			lo.Fault = func(_ context.Context, _ string, payload []byte) lambda.FaultKind {
				var in struct{ Want string }
				_ = json.Unmarshal(payload, &in)
				return faults[in.Want]
			}
		}})
	ctx := context.Background()
	machine, err := st.SFN.Define(ctx, "call", `{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Parameters":{"FunctionName":"f","Payload.$":"$"},"End":true}}}`)
	if err != nil {
		t.Fatal(err)
	}
	for want := range faults {
		in, _ := json.Marshal(map[string]string{"Want": want})
		run, err := st.SFN.StartExecution(ctx, machine, "", string(in))
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.SFN.Wait(ctx, run.ExecutionARN)
		if err != nil {
			t.Fatal(err)
		}
		if info.Status != "FAILED" || info.Error != want {
			t.Errorf("got %s %s (%s), want FAILED %s", info.Status, info.Error, info.Cause, want)
		}
	}
}
