package launchtest

import (
	"context"
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestQuotaUnitsWaitForCapacity: 40 Fargate tasks of 0.25 vCPU under a
// Fargate vCPU quota of 3 (12 at a time), each running about 30 s: the
// calls the quota refuses (RunTask failures[] "You've reached the limit on
// the number of vCPUs…") wait for capacity instead of being dead-lettered,
// spending none of the 3 attempts, and the request probes at most once per
// 30 s (no task stop is reported to the gate here: the tracker does that).
func TestQuotaUnitsWaitForCapacity(t *testing.T) {
	req := launch.Request{RequestID: "it-quota", MaxAttempts: 3, DeadlineSeconds: 3600,
		ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: 40, LaunchType: "FARGATE",
			NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}}}
	sc := Scenario{Invokers: 8, TimeScale: 10, EventWorkers: 2, Request: &req, Sim: sim.Config{Seed: 3,
		Capacity: sim.Capacity{FargateVCPULimit: 3}, Runs: sim.Runs{MeanSeconds: 30}}}
	e := start(t, sc)
	r := runOn(t, e, sc)
	t.Logf("ledger %+v; decisions %v; %.0f simulated s", r.Counts, r.RetryDecision, r.SimSeconds)
	if r.Summary.Launched != 40 || r.Summary.DeadLettered != 0 || r.Counts.Duplicates != 0 {
		t.Fatalf("launched %d, dead-lettered %d, duplicates %d; want 40, 0, 0", r.Summary.Launched, r.Summary.DeadLettered, r.Counts.Duplicates)
	}
	if r.RetryDecision["retry/quota"] == 0 {
		t.Fatal("no quota wait: the scenario does not meet the quota")
	}
	ctx := context.Background()
	chunks, _, err := e.store.Chunks(ctx, req.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if c.Retries != 0 || !c.QuotaWaitSince.IsZero() {
			t.Errorf("chunk %d: %d attempts spent, waiting since %v; want 0 and cleared", c.Index, c.Retries, c.QuotaWaitSince)
		}
	}
	g, err := e.store.QuotaGate(ctx, req.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if most := int(r.SimSeconds/handler.QuotaProbeEvery.Seconds()) + 1; g.Probes == 0 || g.Probes > most {
		t.Errorf("%d probes in %.0f s, want 1..%d (one per 30 s)", g.Probes, r.SimSeconds, most)
	}
}
