package handler

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// GIVEN a RunTask call answered with failures[] entries
// WHEN some of them classify as throttled (pkg/failure's reading of the
// entries: "Rate exceeded", a Throttling code)
// THEN runtask sends one signal, to the per-task bucket (the call itself
// was admitted by the request buckets), with the call's position there and
// N the throttled tasks; entries of another class send none
func TestRunTaskFailuresThrottleSignals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		launchType string
		reasons    []string
		wantBucket string // "" = no signal
		wantN      float64
		wantEnd    float64
	}{
		"fargate rate exceeded":   {"FARGATE", []string{"Rate exceeded", "Rate exceeded", "RESOURCE:MEMORY"}, limiter.ECSFargateTasks, 2, 10},
		"fargate throttling code": {"FARGATE", []string{"ThrottlingException"}, limiter.ECSFargateTasks, 1, 10},
		"ec2 launch type":         {"EC2", []string{"Rate exceeded"}, limiter.ECSRunTask, 1, 1},
		"capacity only":           {"FARGATE", []string{"Capacity is unavailable at this time. Please try again later or in a different availability zone"}, "", 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRunTaskEnv(t)
			r := launchtest.ECSRequest("r1", 10)
			r.ECS.LaunchType = tc.launchType
			plan(t, e.st, r, t0)
			e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
				out := e.ecs.launch(int(aws.ToInt32(in.Count)) - len(tc.reasons))
				for _, why := range tc.reasons {
					out.Failures = append(out.Failures, ecstypes.Failure{Reason: aws.String(why)})
				}
				return out, nil
			}
			out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
			if err != nil || out.Status != StatusPartial {
				t.Fatalf("got %+v, %v; want partial", out, err)
			}
			if tc.wantBucket == "" {
				if len(e.lim.sigs) != 0 {
					t.Fatalf("signals %v, want none", e.lim.signals)
				}
				return
			}
			if len(e.lim.sigs) != 1 {
				t.Fatalf("signals %v, want one", e.lim.signals)
			}
			got := e.lim.sigs[0]
			if b := e.lim.signals[0]; b != "ecs/"+tc.wantBucket+"/"+got.Reason || got.Position.Bucket != tc.wantBucket ||
				got.Position.N != tc.wantN || got.Position.End != tc.wantEnd || got.At != t0 {
				t.Errorf("signal %s %+v; want %s at the call's position (end %g) with N %g, at %v", b, got, tc.wantBucket, tc.wantEnd, tc.wantN, t0)
			}
		})
	}
}

// GIVEN a chunk answered with 3 of its 10 tasks failed "Rate exceeded"
// WHEN runtask signals the real limiter
// THEN the Fargate task bucket counts the 3 throttled tasks and decreases
// (epoch 1: the call was timed in epoch 0), and the request buckets, which
// admitted the call, are untouched
func TestRunTaskFailuresThrottleDecreases(t *testing.T) {
	t.Parallel()
	e := newRealLimiterEnv(t, "", 2*time.Second)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		out := e.ecs.launch(int(aws.ToInt32(in.Count)) - 3)
		for range 3 {
			out.Failures = append(out.Failures, ecstypes.Failure{Reason: aws.String("Rate exceeded")})
		}
		return out, nil
	}
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusPartial {
		t.Fatalf("got %+v, %v; want partial", out, err)
	}
	e.wantFargateTasksOnly(t, 1, 3)
}
