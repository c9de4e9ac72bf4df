package chaos

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestSeeds runs a few seeds of the matrix on the whole local stack. CI
// runs these; `make chaos SEEDS=N` runs many more.
//
// Unless CHAOS_KNOWN_FAILURES=1, the faults that meet a known, reported
// defect are left out of these seeds (make chaos keeps them all):
//   - no starved ENIs: relaunches after TaskFailedToStart wait for their
//     slot through Lambda's asynchronous retries, so a long wait can drop
//     them (README, defect 3).
//
// Lambda crashes and timeouts hit every function, and DynamoDB outages
// run: Plan, Classify, Retry and Summary retry both natively.
func TestSeeds(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("chaos needs the Node tools (make deps): %v", err)
	}
	// Two minutes a seed: every running or stopped task's event now goes
	// through the relaunch queue (the tracker), and a seed settles only once
	// that queue is empty.
	o := Options{TimeScale: 10, Timeout: 2 * time.Minute}
	known := os.Getenv("CHAOS_KNOWN_FAILURES") != ""
	for _, seed := range []uint64{3, 4, 6} {
		sc := NewScenario(seed)
		if !known {
			delete(sc.Sim.Buckets, sim.BucketHiddenENI)
		}
		r, err := Run(t.Context(), sc, o)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, v := range r.Violations {
			t.Errorf("seed %d: %s", seed, v)
		}
		units := 0
		for _, q := range r.Requests {
			units += q.Requested
		}
		if units != sc.Requested() || len(r.Faults) == 0 {
			t.Errorf("seed %d: judged %d units of %d with faults %v: the run did not exercise the scenario", seed, units, sc.Requested(), r.Faults)
		}
		t.Logf("seed %d: %v, %d units, faults %v", seed, r.Runtime.Round(time.Millisecond), units, r.Faults)
	}
}

// TestScenarioIsAFunctionOfTheSeed: a failing seed must replay the same
// mix and schedule.
func TestScenarioIsAFunctionOfTheSeed(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		a, b := NewScenario(seed), NewScenario(seed)
		if a.String() != b.String() || a.LimitsJSON != b.LimitsJSON {
			t.Fatalf("seed %d: %s\nthen %s", seed, a, b)
		}
		for _, r := range a.Requests {
			if err := r.Validate(); err != nil {
				t.Fatalf("seed %d: scenario request %s is invalid: %v", seed, r.RequestID, err)
			}
		}
	}
	if NewScenario(1).String() == NewScenario(2).String() {
		t.Error("seeds 1 and 2 drew the same scenario")
	}
}

// TestScenariosCoverTheMatrix: over 200 seeds every fault of the matrix is
// drawn, so `make chaos SEEDS=200` exercises all of them.
func TestScenariosCoverTheMatrix(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(1); seed <= 200; seed++ {
		sc := NewScenario(seed)
		f := sc.Sim.Faults
		for name, on := range map[string]bool{
			"storms": f.StormsPerHour > 0, "5xx": f.ServerErrorRate > 0, "resets": f.ResetRate > 0,
			"latency": f.LatencyRate > 0, "lost:" + f.LostMode: f.LostResponseRate > 0,
			"lambda crash": sc.CrashAfter > 0, "lambda timeout": sc.TimeoutAfter > 0,
			"event duplicates": sc.EventDuplicates > 0, "late events": sc.EventLate > 0,
			"dynamodb outage": sc.DynamoOutageAt > 0, "ENI starved": sc.Sim.Buckets[sim.BucketHiddenENI].Burst > 0,
			"cluster capacity": len(sc.Sim.Capacity.Clusters) > 0, "vCPU quota": sc.Sim.Capacity.VCPULimit > 0,
			"instance capacity": len(sc.Sim.Capacity.InstanceTypes) > 0,
		} {
			if on {
				seen[name]++
			}
		}
		for _, r := range sc.Requests {
			switch {
			case r.EC2 != nil:
				seen["ec2"]++
			case r.ECS.LaunchType == "FARGATE":
				seen["fargate"]++
			default:
				seen["ecs on ec2"]++
			}
		}
	}
	for _, want := range []string{"storms", "5xx", "resets", "latency", "lost:reset", "lost:error", "lost:timeout",
		"lambda crash", "lambda timeout", "event duplicates", "late events", "dynamodb outage", "ENI starved",
		"cluster capacity", "vCPU quota", "instance capacity", "ec2", "fargate", "ecs on ec2"} {
		if seen[want] < 10 {
			t.Errorf("%s drawn by %d of 200 seeds, want ≥ 10", want, seen[want])
		}
	}
}

// TestCheckCatchesBrokenPromises: the judge reports each broken invariant.
func TestCheckCatchesBrokenPromises(t *testing.T) {
	ok := RequestResult{RequestID: "r", Requested: 10, Status: "SUCCEEDED", DeadLettered: 2,
		Summary: launch.Summary{RequestID: "r", Requested: 10, Launched: 8, Failed: 2, DeadLettered: 2, Reasons: map[string]int{"quota: VcpuLimitExceeded": 2}},
		Ledger:  sim.Counts{Unique: 8}}
	tests := []struct {
		name   string
		mutate func(*RequestResult)
		want   string
	}{
		{"holds", func(*RequestResult) {}, ""},
		{"lost", func(r *RequestResult) { r.Lost = 1 }, "lost 1"},
		{"duplicates", func(r *RequestResult) { r.Ledger.Duplicates = 1 }, "duplicates"},
		{"pending", func(r *RequestResult) { r.Summary.Pending = 1 }, "pending"},
		{"no reason", func(r *RequestResult) { r.Summary.Reasons = map[string]int{"": 2} }, "without a reason"},
		{"reasons short", func(r *RequestResult) { r.Summary.Reasons = map[string]int{"x": 1} }, "reasons"},
		{"dlq short", func(r *RequestResult) { r.DeadLettered = 1 }, "DLQ holds 1"},
		{"dead-lettered after the close", func(r *RequestResult) { r.DeadLettered, r.DeadLetteredAfterClose = 3, 1 }, ""},
		{"after the close, none extra", func(r *RequestResult) { r.DeadLetteredAfterClose = 1 }, "DLQ holds 2"},
		{"dlq extra", func(r *RequestResult) { r.DeadLettered = 3 }, "DLQ holds 3"},
		{"sum", func(r *RequestResult) { r.Summary.Launched = 7 }, "≠ requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			r.Summary.Reasons = map[string]int{"quota: VcpuLimitExceeded": 2}
			tt.mutate(&r)
			v := check(Scenario{}, []RequestResult{r}, nil)
			if tt.want == "" {
				if len(v) != 0 {
					t.Fatalf("violations %q, want none", v)
				}
				return
			}
			if !strings.Contains(strings.Join(v, "\n"), tt.want) {
				t.Fatalf("violations %q, want one saying %q", v, tt.want)
			}
		})
	}
}

// TestCheckBuckets: more calls than burst + rate × elapsed is a violation.
func TestCheckBuckets(t *testing.T) {
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sc := Scenario{Sim: sim.Config{Buckets: map[string]sim.Bucket{sim.BucketRunTask: {Burst: 10, Rate: 2}, sim.BucketRunInstances: {Burst: 2, Rate: 1}}}}
	st := sim.Stats{Now: origin.Add(10 * time.Second), Calls: map[string]int64{"ecs:RunTask": 30, "ec2:RunInstances": 12}}
	if v := checkBuckets(sc, st, origin); len(v) != 0 {
		t.Fatalf("at the budget: %q", v)
	}
	st.Calls["ecs:RunTask"] = 31
	if v := checkBuckets(sc, st, origin); len(v) != 1 || !strings.Contains(v[0], "ecs:RunTask") {
		t.Fatalf("over the budget: %q", v)
	}
}

// TestDeadLetteredAfterClose: only the relaunch path's letters for a task
// that failed to start once its request was closed count as after the
// close; a chunk's give-up or another relaunch give-up does not.
func TestDeadLetteredAfterClose(t *testing.T) {
	letter := func(arn, reason string) handler.DeadLetter {
		return handler.DeadLetter{LaunchFailedDetail: launch.LaunchFailedDetail{Missing: 1, StoppedTaskARN: arn, Reason: reason}}
	}
	c := chunkLetters{
		"0/ecs/a": letter("arn:a", "request completed before the relaunch: not relaunched; last: ENI timeout"),
		"0/ecs/b": letter("arn:b", "request cancelled before the relaunch: not relaunched; last: x"),
		"0/ecs/c": letter("arn:c", "deadline 2026-01-01T00:00:00Z passed before the relaunch; last: x"),
		"0/ecs/d": letter("arn:d", "relaunch budget spent"),
		"1/ecs":   letter("", "request completed before the relaunch"),
	}
	if got := c.afterClose(); got != 2 {
		t.Fatalf("afterClose = %d, want 2 (completed and cancelled)", got)
	}
}
