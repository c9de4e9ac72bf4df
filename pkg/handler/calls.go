package handler

import (
	"context"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ECSAPI is the part of the ECS API the launcher uses; *ecs.Client satisfies it.
type ECSAPI interface {
	RunTask(context.Context, *ecs.RunTaskInput, ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
}

// EC2API is the part of the EC2 API the launcher uses; *ec2.Client satisfies it.
type EC2API interface {
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
}

var (
	_ ECSAPI = (*ecs.Client)(nil)
	_ EC2API = (*ec2.Client)(nil)
)

// The SDK must not retry a launch call: its retry would reuse the token
// (fine) but spend bucket tokens the limiter did not hand out, and EC2's
// InsufficientInstanceCapacity is a 5xx it would retry into a RunInstances
// bucket of 5 burst / 2 per s. The product's retry path owns retrying.
func noECSRetry(o *ecs.Options) { o.Retryer = aws.NopRetryer{} }
func noEC2Retry(o *ec2.Options) { o.Retryer = aws.NopRetryer{} }

// result is what one launch call returned.
type result struct {
	IDs      []string
	Failures []launch.Failure
}

// runTaskInput builds the RunTask call of an attempt record (count, token
// and startedBy come from the record so a replay sends identical parameters).
func runTaskInput(s *launch.ECSSpec, requestID string, rec launch.AttemptRecord) *ecs.RunTaskInput {
	in := &ecs.RunTaskInput{
		Cluster:        aws.String(s.Cluster),
		TaskDefinition: aws.String(s.TaskDefinition),
		Count:          aws.Int32(int32(rec.Count)),
		StartedBy:      aws.String(rec.StartedBy),
		ClientToken:    aws.String(rec.Token),
	}
	if s.LaunchType != "" {
		in.LaunchType = ecstypes.LaunchType(s.LaunchType)
	}
	for _, c := range s.CapacityProviderStrategy {
		in.CapacityProviderStrategy = append(in.CapacityProviderStrategy, ecstypes.CapacityProviderStrategyItem{
			CapacityProvider: aws.String(c.CapacityProvider), Weight: c.Weight, Base: c.Base,
		})
	}
	if s.PlatformVersion != "" {
		in.PlatformVersion = aws.String(s.PlatformVersion)
	}
	if s.Group != "" {
		in.Group = aws.String(s.Group)
	}
	if nc := s.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		a := nc.AwsvpcConfiguration
		in.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: a.Subnets, SecurityGroups: a.SecurityGroups, AssignPublicIp: ecstypes.AssignPublicIp(a.AssignPublicIp),
		}}
	}
	if o := s.Overrides; o != nil {
		to := &ecstypes.TaskOverride{}
		if o.Cpu != "" {
			to.Cpu = aws.String(o.Cpu)
		}
		if o.Memory != "" {
			to.Memory = aws.String(o.Memory)
		}
		if o.TaskRoleArn != "" {
			to.TaskRoleArn = aws.String(o.TaskRoleArn)
		}
		for _, c := range o.ContainerOverrides {
			co := ecstypes.ContainerOverride{Name: aws.String(c.Name), Command: c.Command}
			for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
				co.Environment = append(co.Environment, ecstypes.KeyValuePair{Name: aws.String(k), Value: aws.String(c.Environment[k])})
			}
			to.ContainerOverrides = append(to.ContainerOverrides, co)
		}
		in.Overrides = to
	}
	in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(launch.TagRequestID), Value: aws.String(requestID)})
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		in.Tags = append(in.Tags, ecstypes.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
	}
	return in
}

func callRunTask(ctx context.Context, c ECSAPI, in *ecs.RunTaskInput) (result, error) {
	out, err := c.RunTask(ctx, in, noECSRetry)
	if err != nil {
		return result{}, err
	}
	var r result
	for _, t := range out.Tasks {
		if t.TaskArn != nil {
			r.IDs = append(r.IDs, *t.TaskArn)
		}
	}
	for _, f := range out.Failures {
		r.Failures = append(r.Failures, launch.Failure{Reason: aws.ToString(f.Reason), Detail: aws.ToString(f.Detail), ARN: aws.ToString(f.Arn)})
	}
	return r, nil
}

// runInstancesInput builds the RunInstances call of an attempt record.
// MinCount 1 lets EC2 launch what capacity allows; the missing part is
// retried elsewhere.
func runInstancesInput(s *launch.EC2Spec, requestID string, rec launch.AttemptRecord) *ec2.RunInstancesInput {
	lt := &ec2types.LaunchTemplateSpecification{}
	if s.LaunchTemplate.LaunchTemplateID != "" {
		lt.LaunchTemplateId = aws.String(s.LaunchTemplate.LaunchTemplateID)
	}
	if s.LaunchTemplate.LaunchTemplateName != "" {
		lt.LaunchTemplateName = aws.String(s.LaunchTemplate.LaunchTemplateName)
	}
	if s.LaunchTemplate.Version != "" {
		lt.Version = aws.String(s.LaunchTemplate.Version)
	}
	tags := []ec2types.Tag{
		{Key: aws.String(launch.TagStartedBy), Value: aws.String(rec.StartedBy)},
		{Key: aws.String(launch.TagRequestID), Value: aws.String(requestID)},
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
	}
	in := &ec2.RunInstancesInput{
		LaunchTemplate:    lt,
		InstanceType:      ec2types.InstanceType(rec.InstanceType),
		SubnetId:          aws.String(rec.Subnet),
		MinCount:          aws.Int32(1),
		MaxCount:          aws.Int32(int32(rec.Count)),
		ClientToken:       aws.String(rec.Token),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}},
	}
	if s.Market == "spot" {
		in.InstanceMarketOptions = &ec2types.InstanceMarketOptionsRequest{MarketType: ec2types.MarketTypeSpot}
	}
	return in
}

func callRunInstances(ctx context.Context, c EC2API, in *ec2.RunInstancesInput) (result, error) {
	out, err := c.RunInstances(ctx, in, noEC2Retry)
	if err != nil {
		return result{}, err
	}
	var r result
	for _, i := range out.Instances {
		if i.InstanceId != nil {
			r.IDs = append(r.IDs, *i.InstanceId)
		}
	}
	if want := int(aws.ToInt32(in.MaxCount)); len(r.IDs) < want {
		r.Failures = append(r.Failures, launch.Failure{
			Reason: "InsufficientInstanceCapacity",
			Detail: fmt.Sprintf("launched %d of %d %s instances in %s", len(r.IDs), want, in.InstanceType, aws.ToString(in.SubnetId)),
		})
	}
	return r, nil
}
