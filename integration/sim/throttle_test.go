package sim_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// TestRunTaskBurstThenSustained fires 300 RunTask calls (EC2 launch type,
// count 1: only the RunTask bucket applies) at one instant, then keeps
// offering 6 calls every 100 ms for 5 s: the bucket admits its burst of 100,
// then 40 per second. (6 offers per 100 ms exceed the 4 tokens refilled.)
func TestRunTaskBurstThenSustained(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	ctx := context.Background()
	fire := func(n int) (ok, throttled int) {
		var okN, thN atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Go(func() {
				_, err := e.ecs.RunTask(ctx, runTaskEC2("th/burst/0/0"))
				switch {
				case err == nil:
					okN.Add(1)
				case isThrottle(err):
					thN.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			})
		}
		wg.Wait()
		return int(okN.Load()), int(thN.Load())
	}
	ok, th := fire(300)
	if ok != 100 || th != 200 {
		t.Fatalf("burst of 300: got %d admitted, %d throttled; want 100, 200", ok, th)
	}
	admitted := 0
	const seconds = 5
	for i := 0; i < seconds*10; i++ {
		e.step(t, 100*time.Millisecond)
		n, _ := fire(6)
		admitted += n
	}
	rate := float64(admitted) / seconds
	if math.Abs(rate-40)/40 > 0.05 {
		t.Fatalf("sustained: got %.1f calls/s admitted, want 40 ± 5%%", rate)
	}
	if got := e.sim.Ledger().Entries(); len(got) != 100+admitted {
		t.Fatalf("ledger: got %d entries, want %d", len(got), 100+admitted)
	}
}

// TestFargateTaskBucketBinds: Fargate RunTask with count 10 empties the
// 100-task bucket after 10 calls, although the call buckets have room.
func TestFargateTaskBucketBinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	ctx := context.Background()
	// A fresh input per call: the SDK writes the client token it generates
	// into the input, so reusing one input would replay the first call.
	in := func() *ecs.RunTaskInput { return fargate10() }
	firstThrottle := 0
	for i := 1; i <= 12 && firstThrottle == 0; i++ {
		_, err := e.ecs.RunTask(ctx, in())
		if isThrottle(err) {
			firstThrottle = i
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if firstThrottle != 11 {
		t.Fatalf("first throttled call: got %d, want 11", firstThrottle)
	}
	st := e.sim.Stats()
	if st.Buckets[sim.BucketFargateTasks].Throttled != 1 || st.Buckets[sim.BucketRunTask].Throttled != 0 || st.Buckets[sim.BucketFargateRunTask].Throttled != 0 {
		t.Fatalf("binding bucket: got throttles %+v, want only %s", st.Buckets, sim.BucketFargateTasks)
	}
	// 20 tasks/s refill: half a second later, one more call of 10 fits.
	e.step(t, 500*time.Millisecond)
	if _, err := e.ecs.RunTask(ctx, in()); err != nil {
		t.Fatalf("after 0.5 s: %v", err)
	}
	if n := len(e.sim.Ledger().Entries()); n != 110 {
		t.Fatalf("ledger: got %d tasks, want 110", n)
	}
}

// TestThrottleWireForm checks what the real clients surface: ECS HTTP 400
// ThrottlingException "Rate exceeded", EC2 HTTP 503 RequestLimitExceeded,
// both smithy.APIErrors that the SDK's throttle classifier and standard
// retryer recognise.
func TestThrottleWireForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Buckets: map[string]sim.Bucket{
		sim.BucketRunTask: {Burst: 1, Rate: 0.001}, sim.BucketRunInstances: {Burst: 1, Rate: 0.001}}})
	ctx := context.Background()
	_, _ = e.ecs.RunTask(ctx, runTaskEC2(""))
	_, ecsErr := e.ecs.RunTask(ctx, runTaskEC2(""))
	ri := &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ImageId: aws.String("ami-1")}
	_, _ = e.ec2.RunInstances(ctx, ri)
	_, ec2Err := e.ec2.RunInstances(ctx, ri)
	for _, tc := range []struct {
		name          string
		err           error
		code, message string
		status        int
	}{
		{"ecs", ecsErr, "ThrottlingException", "Rate exceeded", 400},
		{"ec2", ec2Err, "RequestLimitExceeded", "Request limit exceeded.", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ae smithy.APIError
			if !errors.As(tc.err, &ae) {
				t.Fatalf("got %v, want a smithy.APIError", tc.err)
			}
			if ae.ErrorCode() != tc.code || ae.ErrorMessage() != tc.message {
				t.Fatalf("got %s %q, want %s %q", ae.ErrorCode(), ae.ErrorMessage(), tc.code, tc.message)
			}
			var re *awshttp.ResponseError
			if !errors.As(tc.err, &re) || re.HTTPStatusCode() != tc.status {
				t.Fatalf("got HTTP status %v, want %d", re, tc.status)
			}
			if !isThrottle(tc.err) {
				t.Fatalf("retry.IsErrorThrottles: %v is not a throttle", tc.err)
			}
			if retry.NewStandard().IsErrorRetryable(tc.err) != true {
				t.Fatalf("standard retryer: %v is not retryable", tc.err)
			}
		})
	}
}

// TestStandardRetryerRetriesThrottles: with the SDK's standard retryer
// (3 attempts, no backoff delay) a throttled call reaches the server three
// times before the client gives up with a MaxAttemptsError.
func TestStandardRetryerRetriesThrottles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Buckets: map[string]sim.Bucket{sim.BucketRunTask: {Burst: 1, Rate: 0.001}}})
	client := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL),
		Credentials: e.ecs.Options().Credentials, HTTPClient: http.DefaultClient,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			o.RateLimiter = ratelimit.None
		})})
	ctx := context.Background()
	if _, err := client.RunTask(ctx, runTaskEC2("")); err != nil {
		t.Fatal(err)
	}
	_, err := client.RunTask(ctx, runTaskEC2(""))
	var mae *retry.MaxAttemptsError
	if !errors.As(err, &mae) || code(err) != "ThrottlingException" {
		t.Fatalf("got %v, want MaxAttemptsError wrapping ThrottlingException", err)
	}
	if got := e.sim.Stats().Calls["ecs:RunTask"]; got != 4 {
		t.Fatalf("server saw %d RunTask calls, want 1 + 3 attempts", got)
	}
}

func fargate10() *ecs.RunTaskInput {
	return &ecs.RunTaskInput{Cluster: aws.String("jobs"), TaskDefinition: aws.String("job"), Count: aws.Int32(10),
		LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-a", "subnet-b"}}}}
}

// TestECSErrorTypeForms: the simulator sends the bare __type; the SDK
// accepts AWS's other spellings too (namespace#Name, a :url suffix, the
// X-Amzn-ErrorType header), so the bare form loses nothing.
func TestECSErrorTypeForms(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		header, body string
	}{
		"bare":       {"", `{"__type":"ThrottlingException","message":"Rate exceeded"}`},
		"namespaced": {"", `{"__type":"com.amazonaws.ecs#ThrottlingException","message":"Rate exceeded"}`},
		"url suffix": {"", `{"__type":"ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/","message":"Rate exceeded"}`},
		"header":     {"ThrottlingException", `{"message":"Rate exceeded"}`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("X-Amzn-ErrorType", tc.header)
				}
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(400)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
				Credentials: aws.AnonymousCredentials{}})
			_, err := c.RunTask(context.Background(), runTaskEC2(""))
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" || ae.ErrorMessage() != "Rate exceeded" || !isThrottle(err) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
