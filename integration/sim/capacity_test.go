package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

func TestRunTaskPartialFailures(t *testing.T) {
	t.Parallel()
	const fargateCapacity = "Capacity is unavailable at this time. Please try again later or in a different availability zone"
	for name, tc := range map[string]struct {
		capacity     sim.Capacity
		fargate      bool
		wantTasks    int
		wantFailures int
		wantReason   string
	}{
		"cluster memory":  {sim.Capacity{Clusters: map[string]sim.ClusterCapacity{"jobs": {MaxTasks: 3}}}, false, 3, 2, "RESOURCE:MEMORY"},
		"cluster cpu":     {sim.Capacity{Clusters: map[string]sim.ClusterCapacity{"jobs": {MaxTasks: 1, Reason: "RESOURCE:CPU"}}}, false, 1, 4, "RESOURCE:CPU"},
		"agent":           {sim.Capacity{Clusters: map[string]sim.ClusterCapacity{"jobs": {MaxTasks: 4, Reason: "AGENT"}}}, false, 4, 1, "AGENT"},
		"fargate subnets": {sim.Capacity{FargateSubnets: map[string]int{"subnet-a": 1, "subnet-b": 2}}, true, 3, 2, fargateCapacity},
		"room":            {sim.Capacity{}, false, 5, 0, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Capacity: tc.capacity})
			in := runTaskEC2("th/0123456789ab/0/0")
			in.Count = aws.Int32(5)
			if tc.fargate {
				in.LaunchType = ecstypes.LaunchTypeFargate
				in.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}
			}
			out, err := e.ecs.RunTask(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Tasks) != tc.wantTasks || len(out.Failures) != tc.wantFailures {
				t.Fatalf("got %d tasks and %d failures, want %d and %d", len(out.Tasks), len(out.Failures), tc.wantTasks, tc.wantFailures)
			}
			for _, f := range out.Failures {
				if aws.ToString(f.Reason) != tc.wantReason {
					t.Fatalf("failure reason: got %q, want %q", aws.ToString(f.Reason), tc.wantReason)
				}
			}
			if n := len(e.sim.Ledger().Entries()); n != tc.wantTasks {
				t.Fatalf("ledger: got %d, want %d", n, tc.wantTasks)
			}
		})
	}
}

// TestCapacityFreedByStop: a stopped task gives its cluster slot back.
func TestCapacityFreedByStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Capacity: sim.Capacity{Clusters: map[string]sim.ClusterCapacity{"jobs": {MaxTasks: 1}}}})
	ctx := context.Background()
	out, err := e.ecs.RunTask(ctx, runTaskEC2(""))
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("first: %v %v", out, err)
	}
	if out, _ := e.ecs.RunTask(ctx, runTaskEC2("")); len(out.Failures) != 1 {
		t.Fatalf("second: got %d failures, want 1", len(out.Failures))
	}
	if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("jobs"), Task: out.Tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}
	e.settle(t, 60e9)
	if out, _ := e.ecs.RunTask(ctx, runTaskEC2("")); len(out.Tasks) != 1 {
		t.Fatalf("after stop: got %d tasks, want 1", len(out.Tasks))
	}
}

func TestRunInstancesCapacity(t *testing.T) {
	t.Parallel()
	run := func(typ ec2types.InstanceType, subnet string, min, max int32, spot bool) *ec2.RunInstancesInput {
		in := &ec2.RunInstancesInput{MinCount: aws.Int32(min), MaxCount: aws.Int32(max), ImageId: aws.String("ami-1"),
			InstanceType: typ, SubnetId: aws.String(subnet)}
		if spot {
			in.InstanceMarketOptions = &ec2types.InstanceMarketOptionsRequest{MarketType: ec2types.MarketTypeSpot}
		}
		return in
	}
	for name, tc := range map[string]struct {
		capacity sim.Capacity
		in       *ec2.RunInstancesInput
		code     string
		status   int
		launched int
	}{
		"type capacity in the zone": {sim.Capacity{InstanceTypes: map[string]int{"c7g.large/us-east-1a": 2}},
			run("c7g.large", "subnet-a", 3, 5, false), "InsufficientInstanceCapacity", 500, 0},
		"max reduced to capacity": {sim.Capacity{InstanceTypes: map[string]int{"c7g.large": 2}},
			run("c7g.large", "subnet-a", 1, 5, false), "", 0, 2},
		"vcpu quota":      {sim.Capacity{VCPULimit: 8}, run("c7g.2xlarge", "subnet-a", 2, 2, false), "VcpuLimitExceeded", 400, 0},
		"vcpu quota fits": {sim.Capacity{VCPULimit: 8}, run("c7g.2xlarge", "subnet-a", 1, 2, false), "", 0, 1},
		"subnet addresses": {sim.Capacity{SubnetAddresses: map[string]int{"subnet-a": 1}},
			run("c7g.large", "subnet-a", 2, 2, false), "InsufficientFreeAddressesInSubnet", 400, 0},
		"spot limit":              {sim.Capacity{SpotInstanceLimit: 1}, run("c7g.large", "subnet-a", 2, 2, true), "MaxSpotInstanceCountExceeded", 400, 0},
		"spot ignores vcpu quota": {sim.Capacity{VCPULimit: 1}, run("c7g.large", "subnet-a", 2, 2, true), "", 0, 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Capacity: tc.capacity, Resources: sim.Resources{Subnets: map[string]string{"subnet-a": "us-east-1a"}}})
			out, err := e.ec2.RunInstances(context.Background(), tc.in)
			if code(err) != tc.code {
				t.Fatalf("got %v, want %q", err, tc.code)
			}
			if err != nil {
				var re *awshttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != tc.status {
					t.Fatalf("got %v, want HTTP %d", err, tc.status)
				}
				return
			}
			if len(out.Instances) != tc.launched {
				t.Fatalf("got %d instances, want %d", len(out.Instances), tc.launched)
			}
		})
	}
}

// TestProvisioningQuota: tasks held in PROVISIONING (here by a dry ENI
// bucket) count against the per-cluster quota; RunTask beyond it fails with
// ClientException, and room returns as they leave PROVISIONING.
func TestProvisioningQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{
		Buckets:   map[string]sim.Bucket{sim.BucketHiddenENI: {Burst: 1, Rate: 0.0001}},
		Capacity:  sim.Capacity{ProvisioningPerCluster: 25},
		Lifecycle: sim.Lifecycle{ProvisioningSeconds: 5, ENITimeoutSeconds: 10},
	})
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := e.ecs.RunTask(ctx, fargate10()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.ecs.RunTask(ctx, fargate10())
	if code(err) != "ClientException" || !strings.Contains(err.Error(), "provisioning") {
		t.Fatalf("third call: got %v, want ClientException for the PROVISIONING quota", err)
	}
	e.settle(t, time.Minute) // one attaches, 19 fail to start: none left PROVISIONING
	if _, err := e.ecs.RunTask(ctx, fargate10()); err != nil {
		t.Fatalf("after the tasks left PROVISIONING: %v", err)
	}
}
