package launchtest

import (
	"context"
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestLaunchEC2Failover: 250 instances preferring c7g.large, of which the
// account has capacity for 120: batches fill c7g.large in subnet-a, fail
// over to subnet-b (no capacity left for the type anywhere), then to
// c6g.large — every instance launched once, the RunInstances bucket (5
// burst, 2 per s) respected.
func TestLaunchEC2Failover(t *testing.T) {
	req := launch.Request{RequestID: "it-ec2", MaxAttempts: 10, DeadlineSeconds: 3600,
		EC2: &launch.EC2Spec{LaunchTemplate: launch.LaunchTemplate{LaunchTemplateID: "lt-1"},
			InstanceTypes: []string{"c7g.large", "c6g.large"}, SubnetIDs: []string{"subnet-a", "subnet-b"}, Count: 250}}
	sc := Scenario{Invokers: 8, TimeScale: 5, Request: &req, Sim: sim.Config{
		Seed: 3, Capacity: sim.Capacity{InstanceTypes: map[string]int{"c7g.large": 120}},
		Faults: sim.Faults{LostResponseRate: 0.1, LostMode: sim.LostAsReset},
	}}
	e := start(t, sc)
	r := runOn(t, e, sc)
	t.Logf("ledger: %+v; summary %+v; decisions %v", r.Counts, r.Summary, r.RetryDecision)
	if r.Counts.Duplicates != 0 || r.Lost != 0 || r.Summary.Launched != 250 {
		t.Fatalf("duplicates %d, lost %d, launched %d; want 0, 0, 250", r.Counts.Duplicates, r.Lost, r.Summary.Launched)
	}
	byType := map[string]int{}
	chunks, _, err := e.store.Chunks(context.Background(), req.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		for _, a := range c.Attempts {
			byType[a.InstanceType] += a.Launched
		}
	}
	t.Logf("launched by type: %v", byType)
	if byType["c7g.large"] > 120 || byType["c7g.large"]+byType["c6g.large"] != 250 {
		t.Errorf("launched by type %v: want ≤ 120 c7g.large and the rest c6g.large", byType)
	}
	st := e.stack.Sim.Stats()
	if st.Throttled["ec2:RunInstances"] != 0 {
		t.Errorf("RunInstances throttled %d times, want 0", st.Throttled["ec2:RunInstances"])
	}
	marks, err := e.store.Unavailable(context.Background(), "it", e.stack.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := marks["c7g.large#subnet-a"]; !ok {
		t.Errorf("failover marks %v: want c7g.large#subnet-a marked", marks)
	}
}
