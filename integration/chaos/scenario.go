package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// Scenario is one seed's request mix and fault schedule. Durations are
// simulated unless named Real.
type Scenario struct {
	Seed     uint64
	Requests []launch.Request
	// Sim is the simulated account: buckets, capacity, quota, lifecycle and
	// the per-call faults (storms, 5xx, resets, latency, lost responses).
	Sim sim.Config
	// LimitsJSON configures the limiter with the same buckets as Sim, so
	// "never above the bucket" is a property of the limiter, not luck.
	LimitsJSON string
	// Lambda faults per invocation of runtask and retry: crash before the
	// handler, crash after it ran, timeout after it ran.
	CrashBefore, CrashAfter, TimeoutAfter float64
	// Events: probability a delivery is duplicated, and that it is held
	// back (late, so out of order) by up to EventDelay.
	EventDuplicates, EventLate float64
	EventDelay                 time.Duration
	// DynamoOutageAt > 0 kills dynalite that long after the first
	// submission and restarts it after DynamoOutageFor.
	DynamoOutageAt, DynamoOutageFor time.Duration
	// ChildFailCrashes > 0 makes one Map child fail past its retries: the
	// first ChildFailCrashes invocations of runtask, classify and retry for
	// chunk 0 of request ChildFailRequest crash before their handler runs,
	// more than the state machine's Retry of any one state absorbs.
	ChildFailRequest, ChildFailCrashes int
}

// Subnets of the simulated account (two zones, so failover has somewhere to go).
var subnets = map[string]string{"subnet-a": "us-east-1a", "subnet-b": "us-east-1b"}

// NewScenario draws seed's scenario. It is a pure function of seed.
func NewScenario(seed uint64) Scenario {
	r := rand.New(rand.NewPCG(seed, 0x6368616f73)) // "chaos"
	on := func(p float64) bool { return r.Float64() < p }
	between := func(lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }
	sc := Scenario{Seed: seed}
	cfg := sim.Config{Seed: seed, Resources: sim.Resources{Subnets: subnets}}

	// Buckets shared by the simulator and the limiter: small, so a few
	// dozen tasks already meet the limits.
	runTask := sim.Bucket{Burst: float64(5 + r.IntN(16)), Rate: between(2, 10)}
	fargateTasks := sim.Bucket{Burst: float64(10 + r.IntN(31)), Rate: between(3, 15)}
	runInstances := sim.Bucket{Burst: float64(2 + r.IntN(4)), Rate: between(0.5, 2)}
	cfg.Buckets = map[string]sim.Bucket{
		sim.BucketRunTask: runTask, sim.BucketFargateTasks: fargateTasks, sim.BucketRunInstances: runInstances,
	}
	limits := map[string]map[string]map[string]float64{"actions": {
		sim.BucketRunTask:      {"burst": runTask.Burst, "rate": runTask.Rate},
		sim.BucketFargateTasks: {"burst": fargateTasks.Burst, "rate": fargateTasks.Rate},
		sim.BucketRunInstances: {"burst": runInstances.Burst, "rate": runInstances.Rate},
	}}
	b, _ := json.Marshal(limits)
	sc.LimitsJSON = string(b)

	// The request mix: one to three requests, each ECS Fargate, ECS on EC2
	// capacity or EC2 instances.
	n := 1 + r.IntN(4)
	for i := range n {
		id := fmt.Sprintf("chaos-%d-%d", seed, i)
		switch k := r.IntN(4); {
		case k <= 1:
			sc.Requests = append(sc.Requests, launch.Request{RequestID: id, MaxAttempts: 6 + r.IntN(5), DeadlineSeconds: 900,
				ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: 1 + r.IntN(150), LaunchType: "FARGATE",
					NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}}})
		case k == 2:
			sc.Requests = append(sc.Requests, launch.Request{RequestID: id, MaxAttempts: 4 + r.IntN(4), DeadlineSeconds: 900,
				ECS: &launch.ECSSpec{Cluster: "ec2-jobs", TaskDefinition: "job:3", Count: 1 + r.IntN(60), LaunchType: "EC2"}})
		default:
			sc.Requests = append(sc.Requests, launch.Request{RequestID: id, MaxAttempts: 4 + r.IntN(4), DeadlineSeconds: 900,
				EC2: &launch.EC2Spec{LaunchTemplate: launch.LaunchTemplate{LaunchTemplateID: "lt-1", Version: "$Latest"},
					InstanceTypes: []string{"c7g.large", "c6g.large"}, SubnetIDs: []string{"subnet-a", "subnet-b"}, Count: 1 + r.IntN(30)}})
		}
	}

	// Capacity and quota: the EC2-launch-type cluster holds a limited
	// number of tasks (RESOURCE:MEMORY), c7g.large is short in one zone,
	// and the vCPU quota may stop EC2 requests (quota: dead-lettered).
	if on(0.5) {
		cfg.Capacity.Clusters = map[string]sim.ClusterCapacity{"ec2-jobs": {MaxTasks: 5 + r.IntN(30)}}
	}
	if on(0.5) {
		cfg.Capacity.InstanceTypes = map[string]int{"c7g.large/us-east-1a": r.IntN(6)}
	}
	if on(0.3) {
		cfg.Capacity.VCPULimit = 2 * (4 + r.IntN(20))
	}
	// TaskFailedToStart: ECS's ENI attachments starved for a while.
	if on(0.4) {
		cfg.Buckets[sim.BucketHiddenENI] = sim.Bucket{Burst: float64(3 + r.IntN(15)), Rate: between(0.2, 2)}
		cfg.Lifecycle.ENITimeoutSeconds = between(5, 20)
	}

	f := &cfg.Faults
	if on(0.5) {
		f.StormsPerHour, f.StormSeconds, f.StormFraction = between(60, 240), between(10, 40), between(0.05, 0.3)
	}
	if on(0.5) {
		f.ServerErrorRate = between(0.02, 0.15)
	}
	if on(0.3) {
		f.ResetRate = between(0.02, 0.08)
	}
	if on(0.4) {
		f.LatencyRate, f.LatencySeconds = between(0.05, 0.2), between(0.5, 3)
	}
	if on(0.6) {
		f.LostResponseRate = between(0.05, 0.2)
		f.LostMode = []string{sim.LostAsReset, sim.LostAsServerError, sim.LostAsTimeout}[r.IntN(3)]
		f.LostHoldSeconds = between(5, 20)
	}
	sc.Sim = cfg

	if on(0.5) {
		sc.CrashBefore, sc.CrashAfter = between(0.01, 0.08), between(0.02, 0.12)
	}
	if on(0.3) {
		sc.TimeoutAfter = between(0.02, 0.08)
	}
	if on(0.7) {
		sc.EventDuplicates = between(0.2, 1)
	}
	if on(0.5) {
		sc.EventLate, sc.EventDelay = between(0.2, 0.8), time.Duration(between(2, 30)*float64(time.Second))
	}
	if on(0.35) {
		sc.DynamoOutageAt = time.Duration(between(0.5, 20) * float64(time.Second))
		sc.DynamoOutageFor = time.Duration(between(3, 30) * float64(time.Second))
	}
	// Drawn last, so the draws above (and the seeds replayed before these
	// faults existed) are unchanged.
	if on(0.3) {
		sc.ChildFailRequest, sc.ChildFailCrashes = r.IntN(len(sc.Requests)), 8+r.IntN(16)
	}
	// A Lambda timeout mid-call: the launch commits, its answer is held
	// past the calling function's timeout (runtask and retry: 30 s), so the
	// function ends Sandbox.Timedout inside the call.
	if on(0.25) {
		sc.Sim.Faults.LostResponseRate = max(sc.Sim.Faults.LostResponseRate, between(0.03, 0.1))
		sc.Sim.Faults.LostMode, sc.Sim.Faults.LostHoldSeconds = sim.LostAsTimeout, between(35, 90)
	}
	// A token that expires before its outcome is settled: the product may
	// not replay it (it would launch anew) and must settle by evidence.
	// And whether an answer of failures[] alone binds the token (AWS does
	// not say): the product must be right either way.
	if on(0.3) {
		sc.Sim.Tokens.LifetimeSeconds = between(45, 240)
		sc.Sim.Faults.LostResponseRate = max(sc.Sim.Faults.LostResponseRate, between(0.05, 0.15))
	}
	sc.Sim.Tokens.FailuresDoNotBind = on(0.5)
	return sc
}

// Requested is the number of units (tasks and instances) sc asks for.
func (sc Scenario) Requested() int {
	n := 0
	for _, r := range sc.Requests {
		n += r.Requested()
	}
	return n
}

// String describes sc in one line, for logs and replays.
func (sc Scenario) String() string {
	mix := ""
	for _, r := range sc.Requests {
		switch {
		case r.ECS != nil:
			mix += fmt.Sprintf(" ecs/%s×%d", r.ECS.LaunchType, r.ECS.Count)
		case r.EC2 != nil:
			mix += fmt.Sprintf(" ec2×%d", r.EC2.Count)
		}
	}
	f := sc.Sim.Faults
	return fmt.Sprintf("seed %d:%s | storms/h %.0f 5xx %.2f reset %.2f latency %.2f lost %.2f(%s %.0fs) | lambda crash %.2f/%.2f timeout %.2f | events dup %.2f late %.2f | dynamo outage %v+%v | child fail %d×%d | tokens %.0fs bind %v | ENI %v | capacity %v",
		sc.Seed, mix, f.StormsPerHour, f.ServerErrorRate, f.ResetRate, f.LatencyRate, f.LostResponseRate, f.LostMode, f.LostHoldSeconds,
		sc.CrashBefore, sc.CrashAfter, sc.TimeoutAfter, sc.EventDuplicates, sc.EventLate,
		sc.DynamoOutageAt.Round(100*time.Millisecond), sc.DynamoOutageFor.Round(100*time.Millisecond),
		sc.ChildFailRequest, sc.ChildFailCrashes, sc.Sim.Tokens.LifetimeSeconds, !sc.Sim.Tokens.FailuresDoNotBind, sc.Sim.Buckets[sim.BucketHiddenENI], sc.Sim.Capacity)
}
