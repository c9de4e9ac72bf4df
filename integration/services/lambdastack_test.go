package services

import (
	"errors"
	"maps"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/infra/cdk/settings"
	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/pkg/config"
)

func noFunctions(name string) (awslambda.Handler, error) {
	return nil, errors.New("no function " + name)
}

// TestStackLambdaAsDeployed: the local Lambda runs each function with the
// timeout the stack deploys (not 900 s for all) and the stack's reserved
// concurrency.
func TestStackLambdaAsDeployed(t *testing.T) {
	t.Parallel()
	var got lambda.Options
	svc, err := lambda.Create(noFunctions, stackLambda(config.Config{DLQURL: "dlq"}), func(o *lambda.Options) { got = *o })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	for name, want := range map[string]time.Duration{"runtask": 30 * time.Second, "plan": 120 * time.Second, "classify": 10 * time.Second} {
		if got.Timeouts[name] != want {
			t.Errorf("%s timeout: got %v, want %v", name, got.Timeouts[name], want)
		}
	}
	if want := (map[string]int{"runtask": settings.DefaultRunTaskConcurrency, "retry": settings.DefaultRetryConcurrency}); !maps.Equal(got.Reserved, want) {
		t.Errorf("reserved: got %v, want %v", got.Reserved, want)
	}
	for _, name := range []string{"retry", "submit"} {
		if got.MaxEventAges[name] != settings.MaxEventAge || got.OnFailure[name] != "dlq" || *got.AsyncRetries != settings.AsyncRetries {
			t.Errorf("%s's asynchronous configuration: %v, %v", name, got.MaxEventAges, got.OnFailure)
		}
	}
	if _, ok := got.OnFailure["runtask"]; ok {
		t.Error("runtask, not an event target, has an on-failure destination")
	}
}

// TestStackReservationsNeedTheAccountFloor follows AWS Lambda Developer
// Guide: Configuring reserved concurrency for a function — an account
// whose concurrency limit is 200 cannot reserve the stack's 120 (100 for
// runtask, 20 for retry) and keep 100 unreserved.
func TestStackReservationsNeedTheAccountFloor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		limit   int
		wantErr bool
	}{{200, true}, {219, true}, {220, false}, {1000, false}}
	for _, tc := range tests {
		svc, err := lambda.Create(noFunctions, stackLambda(config.Config{}), func(o *lambda.Options) { o.Concurrency = tc.limit })
		var code interface{ ErrorCode() string }
		if (err != nil) != tc.wantErr || (err != nil && (!errors.As(err, &code) || code.ErrorCode() != "InvalidParameterValueException")) {
			t.Errorf("account limit %d: got %v, want refused %v with InvalidParameterValueException", tc.limit, err, tc.wantErr)
		}
		if svc != nil {
			svc.Close()
		}
	}
}
