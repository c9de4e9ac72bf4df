package sim_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// runOne launches one Fargate (or Fargate Spot) task of array index idx and
// settles the account for an hour.
func runOne(t *testing.T, e *env, spot bool, idx int) string {
	t.Helper()
	in := fargate10()
	in.Count = aws.Int32(1)
	in.StartedBy = aws.String("th/0123456789ab/0/1")
	in.Overrides = &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("job"),
		Environment: []ecstypes.KeyValuePair{{Name: aws.String(sim.ArrayIndexEnv), Value: aws.String(strconv.Itoa(idx))}}}}}
	if spot {
		in.LaunchType = ""
		in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}
	}
	out, err := e.ecs.RunTask(context.Background(), in)
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, out)
	}
	e.settle(t, time.Hour)
	return *out.Tasks[0].TaskArn
}

// TestRunsFidelity follows the Amazon ECS Developer Guide: "Amazon ECS task
// state change events" (a task whose essential container exits is stopped
// with stopCode EssentialContainerExited, stoppedReason "Essential
// container in task exited" and the container's exitCode; desiredStatus
// STOPPED is sent before lastStatus STOPPED) and "AWS Fargate capacity
// providers" (a Fargate Spot interruption is a two-minute warning — a task
// state change with stopCode SpotInterruption while the task still runs —
// then the stop). DescribeTasks and the ledger answer from the same state.
func TestRunsFidelity(t *testing.T) {
	t.Parallel()
	pl := sim.Lifecycle{ProvisioningSeconds: 5, PendingSeconds: 10, StoppingSeconds: 2}
	for name, tc := range map[string]struct {
		runs       sim.Runs
		spot       bool
		code       string
		reason     string
		exit       *int
		stopWithin [2]time.Duration // STOPPED this long after RUNNING
	}{
		"exit 0":        {sim.Runs{MeanSeconds: 20}, false, "EssentialContainerExited", "Essential container in task exited", aws.Int(0), [2]time.Duration{12 * time.Second, 32 * time.Second}},
		"exit 1":        {sim.Runs{MeanSeconds: 20, FailureRate: 1}, false, "EssentialContainerExited", "Essential container in task exited", aws.Int(1), [2]time.Duration{12 * time.Second, 32 * time.Second}},
		"fail, no run":  {sim.Runs{FailureRate: 1}, false, "EssentialContainerExited", "Essential container in task exited", aws.Int(1), [2]time.Duration{7 * time.Second, 17 * time.Second}},
		"spot":          {sim.Runs{SpotInterruptionRate: 1, SpotInterruptionSeconds: 30}, true, "SpotInterruption", "Your Spot Task was interrupted.", nil, [2]time.Duration{135 * time.Second, 165 * time.Second}},
		"spot, on-dem.": {sim.Runs{SpotInterruptionRate: 1, SpotInterruptionSeconds: 30}, false, "", "", nil, [2]time.Duration{}},
		"off":           {sim.Runs{}, true, "", "", nil, [2]time.Duration{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Lifecycle: pl, Runs: tc.runs})
			arn := runOne(t, e, tc.spot, 4)
			got := taskEvents(t, e.sim)
			if tc.code == "" {
				if last := got[len(got)-1]; last.LastStatus != "RUNNING" || last.DesiredStatus != "RUNNING" {
					t.Fatalf("a task that should run on ended %+v", last)
				}
				return
			}
			checkStopEvents(t, got, tc.code, tc.reason, tc.exit, tc.spot, tc.stopWithin)
			checkDescribed(t, e, arn, tc.code, tc.reason, tc.exit)
			led := e.sim.LedgerTasks()
			if len(led) != 1 || led[0].StopCode != tc.code || led[0].StoppedReason != tc.reason ||
				!sameExit(led[0].ExitCode, tc.exit) || led[0].ArrayIndex == nil || *led[0].ArrayIndex != 4 {
				t.Errorf("ledger: %+v", led)
			}
		})
	}
}

func sameExit(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// checkStopEvents: RUNNING, then desiredStatus STOPPED (the Spot warning
// while still RUNNING), then STOPPED within the window after RUNNING, with
// versions increasing.
func checkStopEvents(t *testing.T, got []taskDetail, code, reason string, exit *int, spot bool, within [2]time.Duration) {
	t.Helper()
	n := len(got)
	if n < 3 {
		t.Fatalf("events %+v", got)
	}
	run, warn, stop := got[n-3], got[n-2], got[n-1]
	if run.LastStatus != "RUNNING" || run.DesiredStatus != "RUNNING" ||
		warn.LastStatus != "RUNNING" || warn.DesiredStatus != "STOPPED" || warn.StopCode != code ||
		stop.LastStatus != "STOPPED" || stop.StopCode != code || stop.StoppedReason != reason {
		t.Fatalf("last events: %+v", got[n-3:])
	}
	for i := 1; i < n; i++ {
		if got[i].Version <= got[i-1].Version {
			t.Errorf("version %d after %d", got[i].Version, got[i-1].Version)
		}
	}
	if !sameExit(stop.Containers[0].ExitCode, exit) || !spot && stop.Containers[0].ExitCode == nil {
		t.Errorf("exitCode %v, want %v", stop.Containers[0].ExitCode, exit)
	}
	started, _ := time.Parse(time.RFC3339, run.StartedAt)
	stopped, _ := time.Parse(time.RFC3339, stop.StoppedAt)
	if d := stopped.Sub(started); d < within[0] || d >= within[1] {
		t.Errorf("stopped %v after RUNNING, want in [%v, %v)", d, within[0], within[1])
	}
	if spot {
		warned, _ := time.Parse(time.RFC3339, warn.StoppingAt)
		if d := stopped.Sub(warned); d != 2*time.Minute {
			t.Errorf("Spot warning %v before the stop, want two minutes", d)
		}
	}
	var env []struct{ Name, Value string }
	if len(stop.Overrides.ContainerOverrides) == 1 {
		env = stop.Overrides.ContainerOverrides[0].Environment
	}
	if len(env) != 1 || env[0].Name != sim.ArrayIndexEnv || env[0].Value != "4" {
		t.Errorf("overrides: %+v", stop.Overrides)
	}
}

func checkDescribed(t *testing.T, e *env, arn, code, reason string, exit *int) {
	t.Helper()
	out, err := e.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("jobs"), Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %v %+v", err, out)
	}
	d := out.Tasks[0]
	if aws.ToString(d.LastStatus) != "STOPPED" || string(d.StopCode) != code || aws.ToString(d.StoppedReason) != reason ||
		d.StoppedAt == nil || d.StartedAt == nil || !sameExit32(d.Containers[0].ExitCode, exit) {
		t.Errorf("DescribeTasks: %s %s %q %v", aws.ToString(d.LastStatus), d.StopCode, aws.ToString(d.StoppedReason), d.Containers[0].ExitCode)
	}
	listed, err := e.ecs.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String("jobs"), DesiredStatus: ecstypes.DesiredStatusStopped})
	if err != nil || len(listed.TaskArns) != 1 || listed.TaskArns[0] != arn {
		t.Errorf("ListTasks STOPPED: %v %+v", err, listed)
	}
	if len(d.Overrides.ContainerOverrides) != 1 || aws.ToString(d.Overrides.ContainerOverrides[0].Environment[0].Value) != "4" {
		t.Errorf("DescribeTasks overrides: %+v", d.Overrides)
	}
}

func sameExit32(a *int32, b *int) bool {
	return a == nil && b == nil || a != nil && b != nil && int(*a) == *b
}

// TestRunsShareAndSeed: the failure and interruption shares are met over
// many tasks (runs long enough that every drawn interruption comes first;
// interrupted tasks do not exit on their own), and the same seed gives the
// same outcomes.
func TestRunsShareAndSeed(t *testing.T) {
	t.Parallel()
	outcome := func(seed uint64) (codes []string, failed, interrupted int) {
		e := newEnv(t, sim.Config{Seed: seed, Capacity: sim.Capacity{FargateSpotVCPULimit: -1},
			Runs: sim.Runs{MeanSeconds: 600, FailureRate: 0.3, SpotInterruptionRate: 0.5}})
		for i := 0; i < 20; i++ {
			in := fargate10()
			in.LaunchType = ""
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}
			if _, err := e.ecs.RunTask(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			e.step(t, time.Second)
		}
		e.settle(t, time.Hour)
		for _, l := range e.sim.LedgerTasks() {
			codes = append(codes, l.StopCode)
			if l.ExitCode != nil && *l.ExitCode == 1 {
				failed++
			}
			if l.StopCode == sim.StopSpotInterruption {
				interrupted++
			}
		}
		return codes, failed, interrupted
	}
	a, failed, interrupted := outcome(7)
	if len(a) != 200 || interrupted < 70 || interrupted > 130 || failed < 12 || failed > 50 {
		t.Fatalf("200 Spot tasks: %d interrupted, %d exited 1 (%d)", interrupted, failed, len(a))
	}
	b, _, _ := outcome(7)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 twice: task %d %s then %s", i, a[i], b[i])
		}
	}
}

// TestRunsValidate: rates outside [0, 1] and negative times are refused.
func TestRunsValidate(t *testing.T) {
	t.Parallel()
	for _, r := range []sim.Runs{{FailureRate: 1.5}, {SpotInterruptionRate: -0.1}, {MeanSeconds: -1}, {SpotWarningSeconds: -1}} {
		if err := (sim.Config{Runs: r}).Validate(); err == nil {
			t.Errorf("%+v: accepted", r)
		}
	}
	raw, _ := json.Marshal(sim.Config{Runs: sim.Runs{MeanSeconds: 3}})
	var back sim.Config
	if err := json.Unmarshal(raw, &back); err != nil || back.Runs.MeanSeconds != 3 {
		t.Errorf("round trip: %s %v", raw, err)
	}
}
