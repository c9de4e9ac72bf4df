package sim_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// TestENIBucketFailsTasks: 60 Fargate tasks at once against a hidden ENI
// bucket of 20 burst / 2 per s, with 5 s provisioning and a 10 s ENI
// timeout: 20 attach at once, 2 more per second until the timeout (20),
// and the other 20 stop with TaskFailedToStart — events the product's rule
// matches, with the ENI timeout as reason.
func TestENIBucketFailsTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{
		Buckets:   map[string]sim.Bucket{sim.BucketHiddenENI: {Burst: 20, Rate: 2}},
		Lifecycle: sim.Lifecycle{ProvisioningSeconds: 5, ENITimeoutSeconds: 10, ENIRetrySeconds: 1},
	})
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		in := fargate10()
		in.StartedBy = aws.String("th/0123456789ab/" + string(rune('0'+i)) + "/0")
		if _, err := e.ecs.RunTask(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	e.settle(t, 2*time.Minute)
	failed := 0
	for _, d := range taskEvents(t, e.sim) {
		if d.StopCode == "TaskFailedToStart" {
			failed++
			if d.LastStatus != "STOPPED" || d.StoppedReason != "Timeout waiting for network interface provisioning to complete." || d.Containers[0].Reason != d.StoppedReason {
				t.Fatalf("failed event: got %+v", d)
			}
		}
	}
	if failed != 20 {
		t.Fatalf("TaskFailedToStart events: got %d, want 20", failed)
	}
	// The rule takes every state change of the product's tasks (startedBy th/).
	if n, all := matching(t, ruleMatcher(t, "ecs-task-failed-to-start.json"), e.sim.Events().Raw()), len(taskEvents(t, e.sim)); n != all {
		t.Fatalf("events matched by rules/ecs-task-failed-to-start.json: got %d, want all %d", n, all)
	}
	c := sim.Count(e.sim.Ledger().Entries(), func(string, int) int { return 10 })
	if c.Launched != 60 || c.FailedToStart != 20 || c.Effective != 40 || c.Duplicates != 0 {
		t.Fatalf("ledger counts: got %+v", c)
	}
	if st := e.sim.Stats(); st.FailedToStart != 20 {
		t.Fatalf("stats: got %d failed to start", st.FailedToStart)
	}
}

// TestWrappedSubnetThrottle: when ECS's hidden subnet lookup is throttled,
// RunTask answers the wrapped InvalidParameterException, which the SDK
// does not see as a throttle (the product must read the message).
func TestWrappedSubnetThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Buckets: map[string]sim.Bucket{sim.BucketHiddenSubnetLookup: {Burst: 2, Rate: 0.001}}})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := e.ecs.RunTask(ctx, fargate10()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.ecs.RunTask(ctx, fargate10())
	if code(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "Error retrieving subnet information for [subnet-a, subnet-b]: Rate exceeded (ErrorCode: Throttling)") {
		t.Fatalf("got %v, want the wrapped InvalidParameterException", err)
	}
	if isThrottle(err) {
		t.Fatal("the SDK classifies the wrapped form as a throttle; AWS's does not")
	}
	if n := len(e.sim.Ledger().Entries()); n != 20 {
		t.Fatalf("ledger: got %d, want 20 (nothing launched by the wrapped failure)", n)
	}
	// EC2 launch type without awsvpc does not look subnets up.
	if _, err := e.ecs.RunTask(ctx, runTaskEC2("")); err != nil {
		t.Fatal(err)
	}
}

type serviceAction struct {
	service, name string
	at            time.Time
}

func serviceActions(t *testing.T, s *sim.Sim) []serviceAction {
	t.Helper()
	var out []serviceAction
	for _, e := range s.Events().Events("ECS Service Action") {
		var d struct {
			EventType, EventName, ClusterArn, CreatedAt string
		}
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z", d.CreatedAt)
		if d.EventType != "ERROR" || err != nil || !strings.HasSuffix(d.ClusterArn, ":cluster/cotenants") || len(e.Resources) != 1 {
			t.Fatalf("service action: got %+v (%v)", e, err)
		}
		out = append(out, serviceAction{service: e.Resources[0], name: d.EventName, at: at})
	}
	return out
}

// TestCotenantServiceActions: co-tenant services whose deployments find a
// shared bucket dry get "ECS Service Action" events — one per retry, every
// RetrySeconds — ECS_OPERATION_THROTTLED for the ECS/ENI/ELB budget and
// SERVICE_DISCOVERY_OPERATION_THROTTLED for Cloud Map; uncongested, none.
func TestCotenantServiceActions(t *testing.T) {
	t.Parallel()
	cot := sim.Cotenants{Services: 2, IntervalSeconds: 10, TasksPerDeployment: 5, RetrySeconds: 5}
	for name, tc := range map[string]struct {
		buckets map[string]sim.Bucket
		want    map[string]int // event name → events over 200 s, per service with the behaviour
	}{
		"uncongested": {nil, map[string]int{}},
		"eni dry": {map[string]sim.Bucket{sim.BucketHiddenENI: {Burst: 1, Rate: 0.0001}},
			map[string]int{sim.EventECSOperationThrottled: 2}},
		"cloud map dry": {map[string]sim.Bucket{sim.BucketHiddenServiceDiscov: {Burst: 1, Rate: 0.0001}},
			map[string]int{sim.EventServiceDiscoveryOperationThrottled: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Buckets: tc.buckets, Cotenants: cot})
			e.settle(t, 200*time.Second)
			acts := serviceActions(t, e.sim)
			byService := map[string][]serviceAction{}
			for _, a := range acts {
				byService[a.service] = append(byService[a.service], a)
				if _, ok := tc.want[a.name]; !ok {
					t.Fatalf("unexpected %s", a.name)
				}
			}
			for ev, services := range tc.want {
				if len(byService) != services {
					t.Fatalf("%s: got events from %d services, want %d", ev, len(byService), services)
				}
			}
			for svc, list := range byService {
				// One event per RetrySeconds once congested: ≥ (200 s − first) / 5 s.
				if want := int((200*time.Second - list[0].at.Sub(t0)) / (5 * time.Second)); len(list) < want {
					t.Errorf("%s: got %d events, want ≥ %d", svc, len(list), want)
				}
				for i := 1; i < len(list); i++ {
					if gap := list[i].at.Sub(list[i-1].at); gap != 5*time.Second {
						t.Fatalf("%s: gap %v between events, want RetrySeconds (5 s)", svc, gap)
					}
				}
			}
			if n := matching(t, ruleMatcher(t, "ecs-service-throttled.json"), e.sim.Events().Raw()); n != len(acts) {
				t.Fatalf("rules/ecs-service-throttled.json matched %d of %d events", n, len(acts))
			}
			if st := e.sim.Stats(); len(acts) == 0 && st.CotenantDeploys < 20 {
				t.Fatalf("uncongested: got %d deployments in 200 s from 2 services at one per 10 s", st.CotenantDeploys)
			}
		})
	}
}

// admitted offers 60 RunTask calls at once, then 3 every 100 ms for
// steps × 100 ms, and returns the calls admitted (size the RunTask bucket
// below that: burst ≤ 60, rate ≤ 30 per s).
func admitted(t *testing.T, e *env, steps int) int {
	t.Helper()
	ctx := context.Background()
	var n atomic.Int64
	fire := func(k int) {
		var wg sync.WaitGroup
		for i := 0; i < k; i++ {
			wg.Go(func() {
				if _, err := e.ecs.RunTask(ctx, runTaskEC2("")); err == nil {
					n.Add(1)
				} else if !isThrottle(err) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	fire(60)
	for i := 0; i < steps; i++ {
		e.step(t, 100*time.Millisecond)
		fire(3)
	}
	return int(n.Load())
}

// TestCotenantShareHalvesRate: a co-tenant caller drawing 50 % of the
// RunTask bucket, which it shares with the product ("Amazon ECS API request
// throttling": one bucket per account and Region for every caller), halves
// what the product is admitted, burst and refill alike.
func TestCotenantShareHalvesRate(t *testing.T) {
	t.Parallel()
	// A small RunTask bucket keeps the test to a few hundred calls.
	small := map[string]sim.Bucket{sim.BucketRunTask: {Burst: 20, Rate: 10}}
	alone := admitted(t, newEnv(t, sim.Config{Buckets: small}), 40)
	shared := admitted(t, newEnv(t, sim.Config{Buckets: small, CotenantShare: 0.5}), 40)
	if alone != 60 {
		t.Fatalf("alone: got %d admitted, want 20 + 4 s × 10", alone)
	}
	if r := float64(shared) / float64(alone); math.Abs(r-0.5) > 0.025 {
		t.Fatalf("with a 50 %% co-tenant: got %d of %d admitted (%.3f), want half ± 5 %%", shared, alone, r)
	}
	// At run time: the share applies from now on.
	e := newEnv(t, sim.Config{Buckets: small})
	if err := e.sim.SetCotenantShare(0.5); err != nil {
		t.Fatal(err)
	}
	if got := admitted(t, e, 40); got != shared {
		t.Fatalf("SetCotenantShare(0.5): got %d admitted, want %d", got, shared)
	}
}

// TestBurstCongestsCotenants: the product's Fargate burst beyond the hidden
// ENI bucket makes its own tasks fail to start and, while the bucket is dry,
// the co-tenant services get ECS_OPERATION_THROTTLED; before the burst and
// after it has drained, they deploy quietly.
func TestBurstCongestsCotenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{
		Buckets: map[string]sim.Bucket{
			sim.BucketHiddenENI:      {Burst: 50, Rate: 5},
			sim.BucketFargateTasks:   {Burst: 1000, Rate: 100},
			sim.BucketFargateRunTask: {Burst: 100, Rate: 100},
		},
		Lifecycle: sim.Lifecycle{ProvisioningSeconds: 5, ENITimeoutSeconds: 20},
		Cotenants: sim.Cotenants{Services: 3, IntervalSeconds: 10, TasksPerDeployment: 2, RetrySeconds: 5},
	})
	e.settle(t, 60*time.Second)
	if n := len(serviceActions(t, e.sim)); n != 0 {
		t.Fatalf("before the burst: got %d service actions, want 0", n)
	}
	burstAt := e.clk.Now()
	for i := 0; i < 20; i++ {
		if _, err := e.ecs.RunTask(context.Background(), fargate10()); err != nil {
			t.Fatal(err)
		}
	}
	e.settle(t, 10*time.Minute)
	st := e.sim.Stats()
	if st.FailedToStart < 50 || st.AsyncThrottles != st.FailedToStart {
		t.Fatalf("200 tasks against ENI 50 + 5/s for 20 s: got %d failed to start (async %d), want ≥ 50", st.FailedToStart, st.AsyncThrottles)
	}
	acts := serviceActions(t, e.sim)
	if len(acts) == 0 {
		t.Fatal("no ECS Service Action events while the ENI bucket was dry")
	}
	lastTask := burstAt.Add(25 * time.Second) // the last ENI attempt: 5 s provisioning + 20 s timeout
	for _, a := range acts {
		if a.name != sim.EventECSOperationThrottled || a.at.Before(burstAt) || a.at.After(lastTask.Add(20*time.Second)) {
			t.Fatalf("service action %s at +%v, want ECS_OPERATION_THROTTLED within the congestion after +0s", a.name, a.at.Sub(burstAt))
		}
	}
}
