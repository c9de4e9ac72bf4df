package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// TestDescribeInstanceStatusFidelity follows Amazon EC2 API Reference:
// "DescribeInstanceStatus" (running instances only unless
// IncludeAllInstances; status checks initializing, then ok;
// not-applicable when not running; InvalidInstanceID.NotFound) and Amazon
// EC2 User Guide: "Status checks for Amazon EC2 instances".
func TestDescribeInstanceStatusFidelity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Lifecycle: sim.Lifecycle{InstancePendingSeconds: 15, InstanceStatusSeconds: 120}})
	ctx := context.Background()
	out, err := e.ec2.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(2), MaxCount: aws.Int32(2), ImageId: aws.String("ami-1")})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{*out.Instances[0].InstanceId, *out.Instances[1].InstanceId}
	status := func(all bool) map[string]string {
		t.Helper()
		d, err := e.ec2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: ids, IncludeAllInstances: aws.Bool(all)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, s := range d.InstanceStatuses {
			m[*s.InstanceId] = string(s.InstanceState.Name) + "/" + string(s.InstanceStatus.Status) + "/" + string(s.SystemStatus.Status)
		}
		return m
	}
	if m := status(false); len(m) != 0 {
		t.Fatalf("pending instances without IncludeAllInstances: %v", m)
	}
	if m := status(true); m[ids[0]] != "pending/not-applicable/not-applicable" {
		t.Fatalf("pending: %v", m)
	}
	e.settle(t, 20*time.Second)
	if m := status(false); m[ids[0]] != "running/initializing/initializing" {
		t.Fatalf("just running: %v", m)
	}
	e.clk.Advance(2 * time.Minute)
	if _, err := e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[1:]}); err != nil {
		t.Fatal(err)
	}
	m := status(true)
	if m[ids[0]] != "running/ok/ok" || m[ids[1]] != "shutting-down/not-applicable/not-applicable" {
		t.Fatalf("after the checks: %v", m)
	}
	_, err = e.ec2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{"i-0000000000nope"}})
	if code(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("unknown instance: got %v", err)
	}
}
