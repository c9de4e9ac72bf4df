package chaos

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestDynamoDBOutageFailsClosed stops DynamoDB (the limiter's store and
// the launch table) for 120 simulated seconds in the middle of a request
// whose ideal is 25 s. The limiter fails closed — no process admits
// anything it cannot record — so the account's buckets are never exceeded
// (see the bound below), launches resume within 10 s of
// DynamoDB answering again, and the request ends within 10 % of the ideal
// plus the outage, with nothing lost or launched twice.
//
// DynamoDB's own documentation ("Error handling with DynamoDB") names 5xx
// and throttling errors that outlast the SDK's retries; a stopped endpoint
// is the harshest of them (connection refused on every call).
func TestDynamoDBOutageFailsClosed(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("chaos needs the Node tools (make deps): %v", err)
	}
	fargate := sim.Bucket{Burst: 100, Rate: 20}
	runTask := sim.Bucket{Burst: 100, Rate: 40}
	limits, _ := json.Marshal(map[string]any{"actions": map[string]any{
		sim.BucketRunTask:      map[string]float64{"burst": runTask.Burst, "rate": runTask.Rate},
		sim.BucketFargateTasks: map[string]float64{"burst": fargate.Burst, "rate": fargate.Rate}}})
	// 60 chunks: every chunk's functions fail during the outage and retry
	// (the retry function has 20 reserved executions); more chunks saturate
	// it until Step Functions' TooManyRequests retries run out and the Map
	// fails, which is the next issue's (a Map that tolerates a failed
	// child), not the limiter's.
	const tasks = 600
	sc := Scenario{Seed: 1, LimitsJSON: string(limits),
		Sim: sim.Config{Seed: 1, Resources: sim.Resources{Subnets: subnets},
			Buckets: map[string]sim.Bucket{sim.BucketRunTask: runTask, sim.BucketFargateTasks: fargate}},
		Requests: []launch.Request{{RequestID: "outage", MaxAttempts: 6, DeadlineSeconds: 1800,
			ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: tasks, LaunchType: "FARGATE",
				NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}}}},
		DynamoOutageAt: 10 * time.Second, DynamoOutageFor: 120 * time.Second}
	// Time scale 3, not chaos's usual 10: a function whose DynamoDB calls
	// fail spends the SDK's retry backoff in real time, which a faster
	// clock turns into minutes of simulated Lambda concurrency (and
	// TooManyRequests retries Step Functions would not exhaust on AWS).
	r, err := Run(t.Context(), sc, Options{TimeScale: 3, Timeout: 5 * time.Minute, FunctionTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Violations {
		t.Error(v)
	}
	// "Above the bucket" is judged two ways. Over the run, checkBuckets
	// (r.Violations, above) holds the calls to burst + rate × elapsed.
	// Call by call, the simulator's own bucket refuses a call that comes
	// early. On this shared machine, calls made at their slot can land up
	// to a scaled second late and bunch, so one such refusal is tolerated.
	// A fallback that fails open, or slots booked during the outage called
	// together after it, throttle dozens.
	if thr := r.Faults["sim:throttledCalls"]; thr > 1 {
		t.Errorf("%d calls refused by the account's buckets, want at most 1 (scheduling jitter)", thr)
	}
	if r.OutageTo.IsZero() || len(r.LaunchTimes) != tasks {
		t.Fatalf("outage %v–%v, %d launches: the run did not exercise the outage", r.OutageFrom, r.OutageTo, len(r.LaunchTimes))
	}
	var resumed time.Duration = -1
	for _, at := range r.LaunchTimes {
		if at.After(r.OutageTo) {
			resumed = at.Sub(r.OutageTo)
			break
		}
	}
	outage := r.OutageTo.Sub(r.OutageFrom)
	start := r.LaunchTimes[0]
	makespan := r.LaunchTimes[tasks-1].Sub(start)
	ideal := time.Duration((tasks - fargate.Burst) / fargate.Rate * float64(time.Second))
	t.Logf("outage %v, launches resumed %v after it, makespan %v (ideal %v + outage)", outage.Round(time.Millisecond), resumed.Round(time.Millisecond), makespan.Round(time.Millisecond), ideal)
	if resumed < 0 || resumed > 10*time.Second {
		t.Errorf("launches resumed %v after DynamoDB answered again, want ≤ 10 s", resumed)
	}
	if bound := time.Duration(1.1 * float64(ideal+outage)); makespan > bound {
		t.Errorf("makespan %v, want ≤ 1.1 × (ideal %v + outage %v) = %v", makespan, ideal, outage, bound)
	}
}
