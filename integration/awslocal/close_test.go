package awslocal_test

import (
	"context"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/lambdafn"
)

// TestCloseIsPrompt: Close does not wait for a function that is still
// running (here one waiting 30 s real time): the Lambda service cancels it,
// so the edge's Shutdown does not sit out its 5 s grace period.
func TestCloseIsPrompt(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("local services need the Node tools: %v", err)
	}
	st, err := awslocal.Start(context.Background(), awslocal.Options{TimeScale: 20, Services: awslocal.ServicesOptions{
		StateMachinesDir: "-",
		Functions: func(ctx context.Context, name string, d lambdafn.Deps) (awslambda.Handler, error) {
			return awslambda.NewHandler(func(ctx context.Context) error {
				select { // a handler waiting on the clock (a limiter slot, a backoff)
				case <-time.After(30 * time.Second):
				case <-ctx.Done():
				}
				return ctx.Err()
			}), nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(st.Endpoint), Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	go lambdaapi.NewFromConfig(cfg).Invoke( //nolint:errcheck // cut off by Close
		context.Background(), &lambdaapi.InvokeInput{FunctionName: aws.String("runtask")})
	time.Sleep(200 * time.Millisecond)
	begin := time.Now()
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Close took %v with an invocation in flight, want < 2 s", took)
	}
}
