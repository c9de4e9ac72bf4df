package benchlaunch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/throttle-handler/throttle-handler/integration/report"
	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// setup is one (scenario, strategy) pair made concrete: the account, the
// request and the bound of an ideal run.
type setup struct {
	scenario, strategy string
	sim                sim.Config
	request            launch.Request
	timeScale          float64
	// crashRate makes that share of the strategy's Lambda invocations that
	// launch crash after their work (Runtime.ExitError).
	crashRate float64
	// units drawn per bucket, and the account's buckets (the ideal's).
	units map[string]float64
	ideal map[string]report.Bucket
	// cotenant is the co-tenant caller, set on the simulator at submit.
	cotenant report.Cotenant
	// urgent is the priority scenario's high-priority request (nil
	// elsewhere); request is then its low-priority batch.
	urgent *urgentSetup
	// limitsJSON is what ours is told of the account's buckets ("": the
	// published defaults).
	limitsJSON string
}

// Buckets of the unknown scenario's account when the flags leave them: the
// figures of an account on which ours, told them, still throttled.
var (
	unknownRunTask = sim.Bucket{Burst: 70, Rate: 27}
	unknownFargate = sim.Bucket{Burst: 90, Rate: 16}
)

// account is the account's RunTask and Fargate task buckets in scenario:
// each flag that is set, else the scenario's default.
func (p Params) account(scenario string) (runTask, fargate sim.Bucket) {
	published := sim.DefaultBuckets()
	runTask, fargate = published[sim.BucketRunTask], published[sim.BucketFargateTasks]
	if scenario == Unknown {
		runTask, fargate = unknownRunTask, unknownFargate
	}
	set := func(v *float64, flag float64) {
		if flag > 0 {
			*v = flag
		}
	}
	set(&runTask.Burst, p.RunTaskBurst)
	set(&runTask.Rate, p.RunTaskRate)
	set(&fargate.Burst, p.FargateBurst)
	set(&fargate.Rate, p.FargateRate)
	return runTask, fargate
}

var subnets = []string{"subnet-a", "subnet-b", "subnet-c"}

// newSetup builds a pair. Every pair of a scenario has the same account and
// seed; only sdk-adaptive's size and time scale differ.
func newSetup(p Params, scenario, strategy string) (setup, error) {
	if scenario == EC2 && strategy != Ours && strategy != SDKAdaptive {
		return setup{}, fmt.Errorf("%s: the Step Functions baselines have no RunInstances integration in the local runner", strategy)
	}
	if scenario == EC2 && strategy == SDKAdaptive {
		return setup{}, fmt.Errorf("%s: not implemented for EC2 (RunTask only)", strategy)
	}
	if scenario == Priority && strategy != Ours {
		return setup{}, errors.New(prioritySkip)
	}
	if why := p.jobsSkip(strategy); why != "" {
		return setup{}, errors.New(why)
	}
	s := setup{scenario: scenario, strategy: strategy, timeScale: p.TimeScale}
	buckets := sim.DefaultBuckets()
	runTask, fargate := p.account(scenario)
	buckets[sim.BucketRunTask], buckets[sim.BucketFargateTasks] = runTask, fargate
	s.sim = sim.Config{Seed: p.Seed, Buckets: buckets,
		Resources: sim.Resources{Subnets: map[string]string{"subnet-a": "us-east-1a", "subnet-b": "us-east-1b", "subnet-c": "us-east-1c"}}}
	// ours is told the account's limits, as a user configures them; never
	// the co-tenant's share or the hidden buckets; in unknown, nothing.
	if scenario != Unknown {
		s.limitsJSON = fmt.Sprintf(`{"actions":{%q:{"burst":%g,"rate":%g},%q:{"burst":%g,"rate":%g}}}`,
			sim.BucketRunTask, runTask.Burst, runTask.Rate, sim.BucketFargateTasks, fargate.Burst, fargate.Rate)
	}

	tasks := p.Tasks
	if strategy == SDKAdaptive {
		tasks, s.timeScale = p.AdaptiveTasks, 1
	}
	id := fmt.Sprintf("bench-%s-%s", scenario, strategy)
	s.request = launch.Request{RequestID: id, ECS: &launch.ECSSpec{Cluster: "bench", TaskDefinition: "job:1", Count: tasks,
		LaunchType: "FARGATE", NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: subnets}}}}
	calls := math.Ceil(float64(tasks) / launch.ChunkSizeECS)
	s.units = map[string]float64{sim.BucketRunTask: calls, sim.BucketFargateRunTask: calls, sim.BucketFargateTasks: float64(tasks)}

	switch scenario {
	case Burst, Unknown:
	case Priority:
		p.setPriority(&s)
	case Cotenant:
		s.cotenant = report.Cotenant{Share: p.CotenantShare, StartS: p.CotenantStartS, StopS: p.CotenantStopS}
		s.sim.Cotenants = sim.Cotenants{Services: p.CotenantServices, ChargeRunTaskAPI: p.CotenantServicesRunTask}
	case Async:
		buckets[sim.BucketHiddenENI] = sim.Bucket{Burst: p.ENIBurst, Rate: p.ENIRate}
		s.sim.Lifecycle = sim.Lifecycle{ENITimeoutSeconds: 10}
		// The ENI bucket bounds the work physically, so the ideal counts it
		// (the strategies are not told it).
		s.units[sim.BucketHiddenENI] = float64(tasks)
	case Faults:
		s.sim.Faults = sim.Faults{LostResponseRate: p.LostRate, ServerErrorRate: p.ServerErrorRate, LostMode: sim.LostAsReset}
		s.crashRate = p.CrashRate
	case EC2:
		n := p.Instances
		types := []string{"c7g.large", "c6g.large", "m7g.large"}
		s.request = launch.Request{RequestID: id, EC2: &launch.EC2Spec{
			LaunchTemplate: launch.LaunchTemplate{LaunchTemplateID: "lt-bench", Version: "$Latest"},
			InstanceTypes:  types, SubnetIDs: subnets, Count: n}}
		// The first choice (c7g.large) is short in two zones; the account's
		// On-Demand vCPU quota fits exactly the request (2 vCPUs each), so
		// an instance launched twice leaves another one unlaunched.
		s.sim.Capacity = sim.Capacity{VCPULimit: 2 * n, InstanceTypes: map[string]int{
			"c7g.large/us-east-1a": n / 10, "c7g.large/us-east-1b": n / 10, "c6g.large/us-east-1a": n / 5}}
		s.sim.Resources.InstanceTypes = types
		s.sim.Resources.LaunchTemplates = map[string]string{"lt-bench": "c7g.large"}
		chunks := math.Ceil(float64(n) / launch.ChunkSizeEC2)
		s.units = map[string]float64{sim.BucketRunInstances: chunks, sim.BucketInstances: float64(n)}
	default:
		return setup{}, fmt.Errorf("unknown scenario %q", scenario)
	}
	p.applyJobs(&s)
	s.ideal = map[string]report.Bucket{}
	for name := range s.units {
		s.ideal[name] = report.Bucket{Burst: buckets[name].Burst, Rate: buckets[name].Rate}
	}
	return s, nil
}

// idealRemaining is the ideal over the capacity the co-tenant leaves.
func (s setup) idealRemaining() float64 {
	return report.IdealRemaining(s.units, s.ideal, s.cotenant, published)
}

// published tells the buckets the co-tenant draws on: not the hidden ones,
// ECS's own calls.
func published(bucket string) bool { return !strings.HasPrefix(bucket, "hidden:") }

// requested is the run's units: the request's, and the priority
// scenario's urgent request's.
func (s setup) requested() int {
	if s.urgent != nil {
		return s.request.Requested() + s.urgent.request.Requested()
	}
	return s.request.Requested()
}

// faultHook crashes a seeded share of the launching invocations after the
// work was done (the caller never learns its answer).
func (s setup) faultHook() lambdasvc.FaultHook {
	if s.crashRate <= 0 {
		return nil
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(s.sim.Seed, 0xc0ffee))
	return func(_ context.Context, function string, _ []byte) lambdasvc.FaultKind {
		if function != "runtask" && function != adaptiveFunction {
			return lambdasvc.FaultNone
		}
		// Seeded draws: a retried invocation draws again, as a crashed
		// sandbox's replacement would.
		mu.Lock()
		crash := rng.Float64() < s.crashRate
		mu.Unlock()
		if crash {
			return lambdasvc.FaultCrashAfter
		}
		return lambdasvc.FaultNone
	}
}
