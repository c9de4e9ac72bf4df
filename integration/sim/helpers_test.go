package sim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// env is a simulator on a fake clock behind an httptest server on
// 127.0.0.1, with real SDK clients that do not retry.
type env struct {
	sim *sim.Sim
	clk *clock.Fake
	srv *httptest.Server
	ecs *ecs.Client
	ec2 *ec2.Client
}

func newEnv(t *testing.T, cfg sim.Config) *env {
	t.Helper()
	clk := clock.NewFake(t0)
	e := newEnvOn(t, clk, cfg)
	e.clk = clk
	return e
}

// newEnvOn is newEnv on any clock (env.clk stays nil).
func newEnvOn(t *testing.T, clk clock.Clock, cfg sim.Config) *env {
	t.Helper()
	s, err := sim.New(clk, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ecsH, ec2H := s.ECSHandler(), s.EC2Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), sim.ECSTargetPrefix) {
			ecsH.ServeHTTP(w, r)
			return
		}
		ec2H.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e := &env{sim: s, srv: srv}
	e.ecs = ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), Retryer: aws.NopRetryer{}})
	e.ec2 = ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), Retryer: aws.NopRetryer{}})
	return e
}

// step advances the fake clock and runs the schedule.
func (e *env) step(t *testing.T, d time.Duration) {
	t.Helper()
	e.clk.Advance(d)
	if err := e.sim.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// settle advances the clock to each scheduled item until none is due
// before limit (simulated).
func (e *env) settle(t *testing.T, limit time.Duration) {
	t.Helper()
	end := e.clk.Now().Add(limit)
	for {
		next, ok := e.sim.NextDue()
		if !ok || next.After(end) {
			return
		}
		e.clk.Set(next)
		if err := e.sim.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

func runTaskEC2(startedBy string) *ecs.RunTaskInput {
	return &ecs.RunTaskInput{Cluster: aws.String("jobs"), TaskDefinition: aws.String("job:3"), Count: aws.Int32(1),
		LaunchType: "EC2", StartedBy: aws.String(startedBy)}
}
