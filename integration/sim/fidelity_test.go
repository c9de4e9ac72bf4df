package sim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

func runTaskFargate(startedBy string, count int32) *ecs.RunTaskInput {
	return &ecs.RunTaskInput{Cluster: aws.String("jobs"), TaskDefinition: aws.String("job:3"), Count: aws.Int32(count),
		LaunchType: "FARGATE", StartedBy: aws.String(startedBy),
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-a", "subnet-b"}}}}
}

func taskArns(ts []ecstypes.Task) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, *t.TaskArn)
	}
	return out
}

// TestFargateVCPUQuota follows AWS documentation "Amazon ECS service
// quotas" (Fargate On-Demand and Spot vCPU resource counts): Fargate tasks
// not yet stopped count their vCPUs (cpu units / 1024) against the quota;
// a task beyond it is answered in failures[] with "You've reached the limit
// on the number of vCPUs you can run concurrently", and stopping tasks
// frees room.
func TestFargateVCPUQuota(t *testing.T) {
	t.Parallel()
	spot := []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}
	tests := []struct {
		name          string
		capacity      sim.Capacity
		cpu           string // overrides.cpu; "" keeps the task definition's 256
		spot          bool
		count         int32
		tasks, failed int
	}{
		{"quarter vCPU tasks fill one vCPU", sim.Capacity{FargateVCPULimit: 1}, "", false, 6, 4, 2},
		{"cpu override counts", sim.Capacity{FargateVCPULimit: 2}, "1024", false, 3, 2, 1},
		{"vCPU override counts", sim.Capacity{FargateVCPULimit: 2}, "2 vCPU", false, 2, 1, 1},
		{"spot has its own quota", sim.Capacity{FargateVCPULimit: 1, FargateSpotVCPULimit: 2}, "", true, 10, 8, 2},
		{"negative disables", sim.Capacity{FargateVCPULimit: -1}, "4096", false, 10, 10, 0},
		{"default is an established account's", sim.Capacity{}, "4096", false, 10, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Capacity: tt.capacity})
			in := runTaskFargate("th/quota", tt.count)
			if tt.cpu != "" {
				in.Overrides = &ecstypes.TaskOverride{Cpu: aws.String(tt.cpu)}
			}
			if tt.spot {
				in.LaunchType, in.CapacityProviderStrategy = "", spot
			}
			out, err := e.ecs.RunTask(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Tasks) != tt.tasks || len(out.Failures) != tt.failed {
				t.Fatalf("got %d tasks and %d failures, want %d and %d", len(out.Tasks), len(out.Failures), tt.tasks, tt.failed)
			}
			for _, f := range out.Failures {
				if aws.ToString(f.Reason) != sim.FargateVCPULimitReason {
					t.Fatalf("failure reason %q, want %q", aws.ToString(f.Reason), sim.FargateVCPULimitReason)
				}
			}
		})
	}
}

// TestFargateVCPUQuotaFreedOnStop: the quota counts running tasks, so a
// task that stops gives its vCPUs back ("Amazon ECS service quotas").
func TestFargateVCPUQuotaFreedOnStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Capacity: sim.Capacity{FargateVCPULimit: 1}})
	ctx := context.Background()
	first, err := e.ecs.RunTask(ctx, runTaskFargate("th/a", 4))
	if err != nil || len(first.Tasks) != 4 {
		t.Fatalf("first: %v, %d tasks", err, len(first.Tasks))
	}
	full, err := e.ecs.RunTask(ctx, runTaskFargate("th/b", 1))
	if err != nil || len(full.Failures) != 1 {
		t.Fatalf("at the quota: %v, %d failures, want 1", err, len(full.Failures))
	}
	if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: first.Tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}
	e.settle(t, time.Minute)
	again, err := e.ecs.RunTask(ctx, runTaskFargate("th/c", 2))
	if err != nil || len(again.Tasks) != 1 || len(again.Failures) != 1 {
		t.Fatalf("after one stop: %v, %d tasks and %d failures, want 1 and 1", err, len(again.Tasks), len(again.Failures))
	}
}

// TestClientTokenLifetime follows AWS documentation "Ensuring idempotency"
// (Amazon ECS API Reference): a RunTask client token answers with its
// first result for its lifetime (24 hours by default, bounded by the
// simulator's second bound, an hour after its tasks stop), and a reused
// token after that launches anew.
func TestClientTokenLifetime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tokens  sim.Tokens
		stop    bool
		advance time.Duration
		replays bool
	}{
		{"within the lifetime", sim.Tokens{LifetimeSeconds: 60}, false, 59 * time.Second, true},
		{"after the lifetime", sim.Tokens{LifetimeSeconds: 60}, false, 61 * time.Second, false},
		{"default lifetime is 24 h", sim.Tokens{}, false, 23 * time.Hour, true},
		{"default lifetime ends at 24 h", sim.Tokens{}, false, 24 * time.Hour, false},
		{"an hour after its tasks stop", sim.Tokens{}, true, 61 * time.Minute, false},
		{"within the hour after its tasks stop", sim.Tokens{}, true, 50 * time.Minute, true},
		{"stop bound off", sim.Tokens{AfterStopSeconds: -1}, true, 2 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Tokens: tt.tokens, Listing: sim.Listing{StoppedVisibleSeconds: -1}})
			ctx := context.Background()
			in := runTaskEC2("th/token")
			in.ClientToken = aws.String("tok-1")
			first, err := e.ecs.RunTask(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if tt.stop {
				if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: first.Tasks[0].TaskArn}); err != nil {
					t.Fatal(err)
				}
				e.settle(t, time.Minute)
			}
			e.step(t, tt.advance)
			again, err := e.ecs.RunTask(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Equal(taskArns(again.Tasks), taskArns(first.Tasks)); got != tt.replays {
				t.Fatalf("replayed = %v, want %v (first %v, again %v)", got, tt.replays, taskArns(first.Tasks), taskArns(again.Tasks))
			}
		})
	}
}

// TestFailuresBindToken: a RunTask answer with only failures[] binds its
// token by default ("Ensuring idempotency": a retry with the same token and
// parameters returns the original result), so the retry replays the
// failure even once capacity is back; Tokens.FailuresDoNotBind lets it
// launch.
func TestFailuresBindToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		doNotBind   bool
		wantLaunch  bool
		wantFailure bool
	}{
		{"binds by default", false, false, true},
		{"does not bind when off", true, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Tokens: sim.Tokens{FailuresDoNotBind: tt.doNotBind},
				Capacity: sim.Capacity{Clusters: map[string]sim.ClusterCapacity{"jobs": {MaxTasks: 1}}}})
			ctx := context.Background()
			holder, err := e.ecs.RunTask(ctx, runTaskEC2("th/holder"))
			if err != nil || len(holder.Tasks) != 1 {
				t.Fatalf("holder: %v", err)
			}
			in := runTaskEC2("th/retry")
			in.ClientToken = aws.String("tok-full")
			full, err := e.ecs.RunTask(ctx, in)
			if err != nil || len(full.Tasks) != 0 || len(full.Failures) != 1 {
				t.Fatalf("full cluster: %v, %d tasks, %d failures", err, len(full.Tasks), len(full.Failures))
			}
			if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: holder.Tasks[0].TaskArn}); err != nil {
				t.Fatal(err)
			}
			e.settle(t, time.Minute)
			retry, err := e.ecs.RunTask(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if launched := len(retry.Tasks) == 1; launched != tt.wantLaunch || (len(retry.Failures) == 1) != tt.wantFailure {
				t.Fatalf("retry: %d tasks, %d failures; want launch=%v failure=%v", len(retry.Tasks), len(retry.Failures), tt.wantLaunch, tt.wantFailure)
			}
		})
	}
}

// TestStrictByDefault: the zero Config checks requests against the
// account (DefaultResources when Resources is empty), answering as ECS does
// for a missing cluster or task definition ("Amazon ECS API Reference:
// RunTask", ClusterNotFoundException / ClientException); Lenient turns it
// off.
func TestStrictByDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     sim.Config
		cluster string
		taskDef string
		want    string
	}{
		{"default cluster and family", sim.Config{}, "jobs", "job:7", ""},
		{"unknown cluster", sim.Config{}, "nope", "job:3", "ClusterNotFoundException"},
		{"unknown family", sim.Config{}, "jobs", "nope:1", "ClientException"},
		{"lenient accepts", sim.Config{Lenient: true}, "nope", "nope:1", ""},
		{"explicit resources replace the defaults", sim.Config{Resources: sim.Resources{Clusters: []string{"mine"}}}, "jobs", "job:3", "ClusterNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			in := runTaskEC2("th/strict")
			in.Cluster, in.TaskDefinition = aws.String(tt.cluster), aws.String(tt.taskDef)
			_, err := e.ecs.RunTask(context.Background(), in)
			if got := code(err); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func listTasks(t *testing.T, e *env, in *ecs.ListTasksInput) ([]string, error) {
	t.Helper()
	out, err := e.ecs.ListTasks(context.Background(), in)
	if err != nil {
		return nil, err
	}
	return out.TaskArns, nil
}

// TestListTasksStartedByIsTheOnlyFilter follows "Amazon ECS API Reference:
// ListTasks": startedBy must be the only filter (the cluster is the scope,
// the desired status picks running or stopped tasks).
func TestListTasksStartedByIsTheOnlyFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Listing: sim.Listing{NewTaskDelaySeconds: -1}})
	if _, err := e.ecs.RunTask(context.Background(), runTaskEC2("th/only")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   ecs.ListTasksInput
		want string
		n    int
	}{
		{"alone", ecs.ListTasksInput{StartedBy: aws.String("th/only")}, "", 1},
		{"with desired status", ecs.ListTasksInput{StartedBy: aws.String("th/only"), DesiredStatus: ecstypes.DesiredStatusRunning}, "", 1},
		{"with family", ecs.ListTasksInput{StartedBy: aws.String("th/only"), Family: aws.String("job")}, "InvalidParameterException", 0},
		{"with launch type", ecs.ListTasksInput{StartedBy: aws.String("th/only"), LaunchType: ecstypes.LaunchTypeEc2}, "InvalidParameterException", 0},
		{"with service", ecs.ListTasksInput{StartedBy: aws.String("th/only"), ServiceName: aws.String("web")}, "InvalidParameterException", 0},
		{"family alone", ecs.ListTasksInput{Family: aws.String("job")}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Cluster = aws.String("jobs")
			arns, err := listTasks(t, e, &in)
			if got := code(err); got != tt.want || len(arns) != tt.n {
				t.Fatalf("got %q and %d tasks, want %q and %d", got, len(arns), tt.want, tt.n)
			}
		})
	}
}

// TestListTasksStoppedWindow: a stopped task stays listed (desiredStatus
// STOPPED, by startedBy) for an hour after it stops, then leaves the
// listing ("Amazon ECS API Reference: ListTasks", "DescribeTasks").
func TestListTasksStoppedWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		listing sim.Listing
		after   time.Duration
		want    int
	}{
		{"just stopped", sim.Listing{}, time.Second, 1},
		{"within the hour", sim.Listing{}, 59 * time.Minute, 1},
		{"after the hour", sim.Listing{}, 61 * time.Minute, 0},
		{"window off", sim.Listing{StoppedVisibleSeconds: -1}, 5 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Listing: tt.listing})
			ctx := context.Background()
			out, err := e.ecs.RunTask(ctx, runTaskEC2("th/stopped"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: out.Tasks[0].TaskArn}); err != nil {
				t.Fatal(err)
			}
			e.settle(t, time.Minute) // STOPPED after StoppingSeconds
			e.step(t, tt.after)
			arns, err := listTasks(t, e, &ecs.ListTasksInput{Cluster: aws.String("jobs"), StartedBy: aws.String("th/stopped"),
				DesiredStatus: ecstypes.DesiredStatusStopped})
			if err != nil || len(arns) != tt.want {
				t.Fatalf("got %v (%v), want %d tasks", arns, err, tt.want)
			}
		})
	}
}

// TestListTasksNewTaskDelay: ListTasks is eventually consistent ("Amazon
// ECS API Reference: RunTask"), so tasks just launched may be missing for
// up to NewTaskDelaySeconds (seeded); with the delay off they are listed at
// once.
func TestListTasksNewTaskDelay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		listing    sim.Listing
		wantHidden bool
	}{
		{"delayed by default", sim.Listing{}, true},
		{"off", sim.Listing{NewTaskDelaySeconds: -1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Listing: tt.listing})
			in := runTaskEC2("th/new")
			in.Count = aws.Int32(10)
			if _, err := e.ecs.RunTask(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			list := &ecs.ListTasksInput{Cluster: aws.String("jobs"), StartedBy: aws.String("th/new")}
			now, err := listTasks(t, e, list)
			if err != nil {
				t.Fatal(err)
			}
			if hidden := len(now) < 10; hidden != tt.wantHidden {
				t.Fatalf("listed %d of 10 at once, want hidden=%v", len(now), tt.wantHidden)
			}
			e.step(t, time.Second)
			if later, err := listTasks(t, e, list); err != nil || len(later) != 10 {
				t.Fatalf("after 1 s: listed %d of 10 (%v)", len(later), err)
			}
		})
	}
}

// TestCotenantsRunTaskBucket: co-tenant service deployments draw from the
// Fargate task launch bucket ("AWS Fargate throttling quotas") but, by
// default, not from the RunTask API request buckets, which AWS charges for
// API requests ("Request throttling for the Amazon ECS API");
// Cotenants.ChargeRunTaskAPI puts them back on those buckets.
func TestCotenantsRunTaskBucket(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		charge bool
	}{{"off the RunTask buckets", false}, {"charged to the RunTask buckets", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Cotenants: sim.Cotenants{Services: 3, IntervalSeconds: 5, TasksPerDeployment: 5, ChargeRunTaskAPI: tt.charge}})
			e.settle(t, 60*time.Second)
			st := e.sim.Stats()
			if st.CotenantDeploys == 0 {
				t.Fatal("no co-tenant deployments in 60 s")
			}
			if taken := st.Buckets[sim.BucketFargateTasks].Taken; taken < float64(5*st.CotenantDeploys) {
				t.Fatalf("Fargate task bucket: %v taken, want ≥ %d", taken, 5*st.CotenantDeploys)
			}
			for _, b := range []string{sim.BucketRunTask, sim.BucketFargateRunTask} {
				if taken := st.Buckets[b].Taken; (taken > 0) != tt.charge {
					t.Fatalf("%s: %v taken, want charged=%v", b, taken, tt.charge)
				}
			}
		})
	}
}

// TestRunInstancesTokenLifetime follows "Ensuring idempotency in Amazon EC2
// API requests": a reused client token answers with the original
// reservation while the token lives (Tokens.LifetimeSeconds) and launches
// anew after; DescribeInstances' client-token filter finds every instance
// launched under a token, the evidence a caller settles a lost answer by.
func TestRunInstancesTokenLifetime(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		advance time.Duration
		replays bool
	}{{"within", 59 * time.Second, true}, {"after", 61 * time.Second, false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Tokens: sim.Tokens{LifetimeSeconds: 60}})
			ctx := context.Background()
			in := &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ImageId: aws.String("ami-1"),
				InstanceType: "c7g.large", ClientToken: aws.String("ec2-tok"), SubnetId: aws.String("subnet-a")}
			first, err := e.ec2.RunInstances(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			e.step(t, tt.advance)
			again, err := e.ec2.RunInstances(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got := *again.ReservationId == *first.ReservationId; got != tt.replays {
				t.Fatalf("replayed = %v, want %v", got, tt.replays)
			}
			want := 2
			if tt.replays {
				want = 1
			}
			out, err := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
				Filters: []ec2types.Filter{{Name: aws.String("client-token"), Values: []string{"ec2-tok"}}}})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range out.Reservations {
				n += len(r.Instances)
			}
			if n != want {
				t.Fatalf("client-token filter: %d instances, want %d", n, want)
			}
		})
	}
}

// The window in which a token certainly binds is the lifetime, or the
// after-stop bound when shorter: a task cannot stop before the call.
func TestTokensCertainWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tokens sim.Tokens
		want   time.Duration
	}{
		{sim.Tokens{}, time.Hour},
		{sim.Tokens{LifetimeSeconds: 600}, 10 * time.Minute},
		{sim.Tokens{AfterStopSeconds: -1}, 24 * time.Hour},
		{sim.Tokens{LifetimeSeconds: 7200, AfterStopSeconds: 30}, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.tokens.CertainWindow(); got != tt.want {
			t.Errorf("%+v: CertainWindow = %v, want %v", tt.tokens, got, tt.want)
		}
	}
}
