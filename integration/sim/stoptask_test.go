package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
)

// TestStopTaskFidelity follows Amazon ECS API Reference: "StopTask" (a
// SIGTERM, then a SIGKILL after the stop timeout: a container that keeps
// running is killed, exit code 137) and Amazon ECS Developer Guide:
// "Amazon ECS task state change events" (stopCode UserInitiated, the
// caller's reason as stoppedReason, the STOPPED event with the container's
// exit code; DescribeTasks answers the same state). A task stopped before
// it started has no exit code; Runs.NoStopExitCode turns the code off.
func TestStopTaskFidelity(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg      sim.Config
		runFirst time.Duration
		wantExit *int
	}{
		"running task is killed": {sim.Config{}, time.Minute, aws.Int(sim.StopTaskExitCode)},
		"stopped before start":   {sim.Config{}, 0, nil},
		"exit code turned off":   {sim.Config{Runs: sim.Runs{NoStopExitCode: true}}, time.Minute, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.cfg)
			ctx := context.Background()
			out, err := e.ecs.RunTask(ctx, runTaskEC2("th/0123456789ab/0/1"))
			if err != nil {
				t.Fatal(err)
			}
			arn := out.Tasks[0].TaskArn
			e.settle(t, tc.runFirst)
			reason := "Task timed out after 60 s (timeout.attemptDurationSeconds)"
			if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: arn, Reason: aws.String(reason)}); err != nil {
				t.Fatal(err)
			}
			e.settle(t, time.Minute)
			var last failure.ECSTask
			for _, raw := range e.sim.Events().Raw() {
				ev, err := failure.ParseECSEvent(raw)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Task.TaskArn == *arn {
					last = ev.Task
				}
			}
			if last.LastStatus != "STOPPED" || last.StopCode != "UserInitiated" || last.StoppedReason != reason || last.StoppedAt.IsZero() || last.ClusterArn == "" {
				t.Fatalf("STOPPED event: got %+v", last)
			}
			c, _ := last.Essential()
			if !sameCode(c.ExitCode, tc.wantExit) {
				t.Errorf("event exit code %v, want %v", c.ExitCode, tc.wantExit)
			}
			d, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("jobs"), Tasks: []string{*arn}})
			if err != nil {
				t.Fatal(err)
			}
			dt := d.Tasks[0]
			var dcode *int
			if x := dt.Containers[0].ExitCode; x != nil {
				dcode = aws.Int(int(*x))
			}
			if !aws.ToTime(dt.StartedAt).Equal(last.StartedAt) || !aws.ToTime(dt.StoppedAt).Equal(last.StoppedAt) {
				t.Errorf("times: DescribeTasks started %v stopped %v; the event %v, %v", dt.StartedAt, dt.StoppedAt, last.StartedAt, last.StoppedAt)
			}
			if aws.ToString(dt.LastStatus) != "STOPPED" || dt.Version != last.Version || !sameCode(dcode, tc.wantExit) {
				t.Errorf("DescribeTasks: %s v%d exit %v; the event: v%d exit %v", aws.ToString(dt.LastStatus), dt.Version, dcode, last.Version, c.ExitCode)
			}
		})
	}
}

func sameCode(a, b *int) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
