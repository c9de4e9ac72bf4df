package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestEC2FailoverAndQuota asks for 40 instances of c7g.large or c6g.large
// in subnet-a or subnet-b. c7g.large has room for 5 instances in subnet-a's
// zone, so the launcher must fail over to other placements; the account's
// On-Demand vCPU quota (60 vCPUs: 30 two-vCPU instances) then holds the
// rest: quota is a queue, so they wait (no attempt spent) for capacity the
// request's own instances never free, and at the deadline (5 simulated
// minutes) end dead-lettered with the quota as the reason — which fails the
// execution (LaunchIncomplete: no failure is tolerated).
func TestEC2FailoverAndQuota(t *testing.T) {
	w := newWorld(t, setup{sim: sim.Config{
		Resources: sim.Resources{Subnets: map[string]string{"subnet-a": "us-east-1a", "subnet-b": "us-east-1b"}},
		Capacity:  sim.Capacity{InstanceTypes: map[string]int{"c7g.large/us-east-1a": 5}, VCPULimit: 60},
	}})
	req := launch.Request{RequestID: "e2e-ec2", EC2: &launch.EC2Spec{
		LaunchTemplate: launch.LaunchTemplate{LaunchTemplateID: "lt-1", Version: "$Latest"},
		InstanceTypes:  []string{"c7g.large", "c6g.large"}, SubnetIDs: []string{"subnet-a", "subnet-b"}, Count: 40,
	}, DeadlineSeconds: 300}
	e := w.wait(w.start(req), 90*time.Second)
	if e.Status != "FAILED" || e.Error != launch.ErrLaunchIncomplete {
		t.Fatalf("execution %s: %s %s; want FAILED %s", e.Status, e.Error, e.Cause, launch.ErrLaunchIncomplete)
	}
	s := e.Summary
	if s.Launched != 30 || s.Failed != 10 || s.Launched+s.Failed != 40 {
		t.Errorf("summary %+v: want 30 launched (the vCPU quota) and 10 failed", s)
	}
	quota := 0
	for reason, n := range s.Reasons {
		if strings.Contains(reason, "VcpuLimitExceeded") || strings.Contains(strings.ToLower(reason), "quota") {
			quota += n
		}
	}
	if quota != s.Failed {
		t.Errorf("reasons %v: want the %d failed instances to name the vCPU quota", s.Reasons, s.Failed)
	}
	units, reasons := w.deadLetters(req.RequestID)
	dead := 0
	for _, n := range units {
		dead += n
	}
	if dead != s.Failed || len(reasons) == 0 {
		t.Errorf("dead letters: %d units (%v), want the %d failed", dead, reasons, s.Failed)
	}
	for _, r := range reasons {
		if !strings.Contains(r, "VcpuLimitExceeded") {
			t.Errorf("dead letter reason %q does not name the vCPU quota", r)
		}
	}

	// Where did the instances go? Failover means placements other than
	// c7g.large in subnet-a, which holds at most 5.
	out, err := ec2.NewFromConfig(w.aws).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:th:requestId"), Values: []string{req.RequestID}}},
	})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	placements := map[string]int{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			placements[string(in.InstanceType)+"/"+aws.ToString(in.SubnetId)]++
		}
	}
	// With MinCount 1, EC2 fills c7g.large/subnet-a (5) and reports the
	// rest missing; the launcher must then go elsewhere.
	if placements["c7g.large/subnet-a"] != 5 || len(placements) < 2 {
		t.Errorf("placements %v: want c7g.large/subnet-a full (5) and failover to other placements", placements)
	}
	c := counts(req, w.ledger(req.RequestID))
	if c.Duplicates != 0 || c.Unique != s.Launched {
		t.Errorf("ledger %+v vs summary launched %d", c, s.Launched)
	}
	t.Logf("placements %v, reasons %v", placements, s.Reasons)
}
