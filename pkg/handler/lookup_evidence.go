package handler

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// ECSLookupAPI is the part of ECS that settles an unknown outcome by
// evidence; *ecs.Client satisfies it. It is asked of the ECSAPI client
// given to NewRunTask (a client without it finds no evidence).
type ECSLookupAPI interface {
	ListTasks(context.Context, *ecs.ListTasksInput, ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
}

// EC2LookupAPI is the EC2 counterpart; *ec2.Client satisfies it.
type EC2LookupAPI interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

var (
	_ ECSLookupAPI = (*ecs.Client)(nil)
	_ EC2LookupAPI = (*ec2.Client)(nil)
)

// look makes one pass over the evidence of an attempt: ECS tasks listed
// with its startedBy (ECS accepts only the cluster beside that filter) or
// EC2 instances with its client token. Every page draws a limiter slot in
// the bucket the lookup belongs to.
func (h *RunTask) look(ctx context.Context, v chunkView, rec launch.AttemptRecord) ([]string, error) {
	if v.spec.Kind == launch.KindEC2 {
		api, ok := h.ec2.(EC2LookupAPI)
		if !ok {
			return nil, nil
		}
		return h.describeByToken(ctx, api, rec.Token)
	}
	api, ok := h.ecs.(ECSLookupAPI)
	if !ok {
		return nil, nil
	}
	return h.listByStartedBy(ctx, api, v.sr.Request.ECS.Cluster, rec.StartedBy)
}

func (h *RunTask) listByStartedBy(ctx context.Context, api ECSLookupAPI, cluster, startedBy string) ([]string, error) {
	var ids []string
	var next *string
	for {
		if err := h.lookupSlot(ctx, ServiceECS, limiter.BucketOf("ecs:ListTasks")); err != nil {
			return nil, err
		}
		out, err := api.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), StartedBy: aws.String(startedBy), NextToken: next}, noECSRetry)
		if err != nil {
			return nil, lookupErr("ecs:ListTasks", err)
		}
		ids = append(ids, out.TaskArns...)
		if next = out.NextToken; aws.ToString(next) == "" {
			return ids, nil
		}
	}
}

func (h *RunTask) describeByToken(ctx context.Context, api EC2LookupAPI, token string) ([]string, error) {
	var ids []string
	var next *string
	for {
		if err := h.lookupSlot(ctx, ServiceEC2, limiter.BucketOf("ec2:DescribeInstances")); err != nil {
			return nil, err
		}
		out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
			Filters:   []ec2types.Filter{{Name: aws.String("client-token"), Values: []string{token}}},
			NextToken: next,
		}, noEC2Retry)
		if err != nil {
			return nil, lookupErr("ec2:DescribeInstances", err)
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				if i.InstanceId != nil {
					ids = append(ids, *i.InstanceId)
				}
			}
		}
		if next = out.NextToken; aws.ToString(next) == "" {
			return ids, nil
		}
	}
}

// lookupErr: a failed lookup proves nothing; the step is tried again.
func lookupErr(op string, err error) error {
	return transientErr("runtask", fmt.Errorf("%s: %w", op, err))
}

// lookupSlot holds a slot in bucket for one lookup call and waits for it.
// A slot further than the defer threshold (or than the invocation has
// time for) is given back exactly and the step is tried again later.
func (h *RunTask) lookupSlot(ctx context.Context, service, bucket string) error {
	slot, err := h.lim.Reserve(ctx, service, []limiter.Take{{Bucket: bucket, N: 1}})
	if err != nil {
		countBusy(h.o.Metrics, err)
		return limiterErr(h.o.Classify(err), err)
	}
	wait := slot.At.Sub(h.o.Clock.Now())
	if wait <= 0 {
		return nil
	}
	if wait > max(h.o.DeferThreshold, time.Second) || lambdaTooNear(ctx, h.o.Clock, wait) {
		if rerr := giveBack(ctx, h.lim, service, slot); rerr != nil {
			h.o.Logger.Warn("lookup slot not released", "bucket", bucket, "err", rerr)
		}
		return transientErr("runtask", fmt.Errorf("%s slot %v away", bucket, wait))
	}
	if err := h.o.Clock.Sleep(ctx, wait); err != nil {
		return transientErr("runtask", fmt.Errorf("waiting for the %s slot: %w", bucket, err))
	}
	return nil
}
