package sim_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
)

func TestRunTaskValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	awsvpc := &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-a"}}}
	for name, tc := range map[string]struct {
		mod      func(*ecs.RunTaskInput)
		code     string
		inMesage string
	}{
		"count 0":              {func(in *ecs.RunTaskInput) { in.Count = aws.Int32(0) }, "InvalidParameterException", "count"},
		"count 11":             {func(in *ecs.RunTaskInput) { in.Count = aws.Int32(11) }, "InvalidParameterException", "count"},
		"startedBy 37 chars":   {func(in *ecs.RunTaskInput) { in.StartedBy = aws.String(strings.Repeat("a", 37)) }, "InvalidParameterException", "startedBy"},
		"startedBy with a dot": {func(in *ecs.RunTaskInput) { in.StartedBy = aws.String("th/a.b/1/0") }, "InvalidParameterException", "startedBy"},
		"clientToken 65 chars": {func(in *ecs.RunTaskInput) { in.ClientToken = aws.String(strings.Repeat("t", 65)) }, "InvalidParameterException", "clientToken"},
		"clientToken space":    {func(in *ecs.RunTaskInput) { in.ClientToken = aws.String("a b") }, "InvalidParameterException", "clientToken"},
		"reserved tag prefix": {func(in *ecs.RunTaskInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}
		}, "InvalidParameterException", "tags"},
		"launch type and cps": {func(in *ecs.RunTaskInput) {
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}
		}, "InvalidParameterException", "launch type and capacity provider"},
		"fargate without vpc": {func(in *ecs.RunTaskInput) { in.LaunchType = ecstypes.LaunchTypeFargate }, "InvalidParameterException", "Network Configuration"},
		"awsvpc with 17 subnets": {func(in *ecs.RunTaskInput) {
			in.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: make([]string, 17)}}
		}, "InvalidParameterException", "subnets"},
		"valid fargate": {func(in *ecs.RunTaskInput) {
			in.LaunchType = ecstypes.LaunchTypeFargate
			in.NetworkConfiguration = awsvpc
		}, "", ""},
		"valid startedBy 36": {func(in *ecs.RunTaskInput) { in.StartedBy = aws.String("th/0123456789ab/000123/0000000000001") }, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := runTaskEC2("")
			in.StartedBy = nil
			tc.mod(in)
			_, err := e.ecs.RunTask(context.Background(), in)
			if got := code(err); got != tc.code {
				t.Fatalf("got %q (%v), want %q", got, err, tc.code)
			}
			if err == nil {
				return
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
				t.Fatalf("got %v, want HTTP 400", err)
			}
			if !strings.Contains(err.Error(), tc.inMesage) {
				t.Fatalf("message %q does not name %q", err, tc.inMesage)
			}
		})
	}
	if got := fargateVPCMessage(t, e); !strings.Contains(got, "awsvpc") {
		t.Fatalf("got %q", got)
	}
}

func fargateVPCMessage(t *testing.T, e *env) string {
	in := runTaskEC2("")
	in.LaunchType = ecstypes.LaunchTypeFargate
	_, err := e.ecs.RunTask(context.Background(), in)
	if err == nil {
		t.Fatal("Fargate without a network configuration was accepted")
	}
	return err.Error()
}

func TestRunInstancesValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{})
	for name, tc := range map[string]struct {
		in   *ec2.RunInstancesInput
		code string
	}{
		"min above max":      {&ec2.RunInstancesInput{MinCount: aws.Int32(3), MaxCount: aws.Int32(2), ImageId: aws.String("ami-1")}, "InvalidParameterValue"},
		"min 0":              {&ec2.RunInstancesInput{MinCount: aws.Int32(0), MaxCount: aws.Int32(2), ImageId: aws.String("ami-1")}, "InvalidParameterValue"},
		"no image, no lt":    {&ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}, "MissingParameter"},
		"token 65 chars":     {&ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ImageId: aws.String("ami-1"), ClientToken: aws.String(strings.Repeat("t", 65))}, "InvalidClientToken"},
		"reserved tag":       {&ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ImageId: aws.String("ami-1"), TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("aws:x"), Value: aws.String("")}}}}}, "InvalidParameterValue"},
		"launch template ok": {&ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("$Latest")}}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := e.ec2.RunInstances(context.Background(), tc.in)
			if got := code(err); got != tc.code {
				t.Fatalf("got %q (%v), want %q", got, err, tc.code)
			}
		})
	}
}

func TestStrictAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Strict: true, Resources: sim.Resources{
		Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"},
		Subnets:         map[string]string{"subnet-a": "us-east-1a"},
		LaunchTemplates: map[string]string{"lt-1": "c7g.large"}, InstanceTypes: []string{"c7g.large"},
	}})
	ctx := context.Background()
	vpc := func(subnet string) *ecstypes.NetworkConfiguration {
		return &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{subnet}}}
	}
	for name, tc := range map[string]struct {
		mod  func(*ecs.RunTaskInput)
		code string
	}{
		"known":            {func(*ecs.RunTaskInput) {}, ""},
		"unknown cluster":  {func(in *ecs.RunTaskInput) { in.Cluster = aws.String("nope") }, "ClusterNotFoundException"},
		"unknown task def": {func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("job:4") }, "ClientException"},
		"unknown subnet":   {func(in *ecs.RunTaskInput) { in.NetworkConfiguration = vpc("subnet-z") }, "InvalidParameterException"},
		"known subnet":     {func(in *ecs.RunTaskInput) { in.NetworkConfiguration = vpc("subnet-a") }, ""},
	} {
		t.Run("ecs "+name, func(t *testing.T) {
			t.Parallel()
			in := runTaskEC2("")
			tc.mod(in)
			if _, err := e.ecs.RunTask(ctx, in); code(err) != tc.code {
				t.Fatalf("got %v, want %q", err, tc.code)
			}
		})
	}
	lt := func(id string) *ec2types.LaunchTemplateSpecification {
		return &ec2types.LaunchTemplateSpecification{LaunchTemplateId: aws.String(id)}
	}
	for name, tc := range map[string]struct {
		in   *ec2.RunInstancesInput
		code string
	}{
		"known":          {&ec2.RunInstancesInput{LaunchTemplate: lt("lt-1"), SubnetId: aws.String("subnet-a")}, ""},
		"unknown lt":     {&ec2.RunInstancesInput{LaunchTemplate: lt("lt-9")}, "InvalidLaunchTemplateId.NotFound"},
		"unknown subnet": {&ec2.RunInstancesInput{LaunchTemplate: lt("lt-1"), SubnetId: aws.String("subnet-z")}, "InvalidSubnetID.NotFound"},
		"unknown type":   {&ec2.RunInstancesInput{LaunchTemplate: lt("lt-1"), InstanceType: "m5.large"}, "InvalidParameterValue"},
	} {
		t.Run("ec2 "+name, func(t *testing.T) {
			t.Parallel()
			tc.in.MinCount, tc.in.MaxCount = aws.Int32(1), aws.Int32(1)
			out, err := e.ec2.RunInstances(ctx, tc.in)
			if code(err) != tc.code {
				t.Fatalf("got %v, want %q", err, tc.code)
			}
			if err == nil && out.Instances[0].InstanceType != "c7g.large" {
				t.Fatalf("instance type from the launch template: got %s, want c7g.large", out.Instances[0].InstanceType)
			}
		})
	}
}
