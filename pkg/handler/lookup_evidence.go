package handler

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// ECSLookupAPI is the part of ECS that settles an unknown outcome by
// evidence; *ecs.Client satisfies it. It is asked of the ECSAPI client
// given to NewRunTask or NewRelaunch (a client without it finds no
// evidence).
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

// evidence looks for what a call of unknown outcome launched: the one
// lookup runtask and relaunch share. op names the function in its errors.
type evidence struct {
	lim      Limiter
	ecs      ECSAPI
	ec2      EC2API
	o        Options
	op       string
	classify func(error) failure.Classification
	// deferThreshold: a lookup slot further than this (at least 1 s) fails
	// the step instead of waiting.
	deferThreshold time.Duration
	// looks and spacing: how often, and how far apart, to look.
	looks   int
	spacing time.Duration
}

// gather looks e.looks times, e.spacing apart, for the units of rec
// (cluster: an ECS chunk's cluster; "" for EC2), and returns every one
// seen (a unit seen once exists: the listings lag, they do not invent).
func (e evidence) gather(ctx context.Context, kind launch.Kind, cluster string, rec launch.AttemptRecord) ([]string, error) {
	found := map[string]bool{}
	for i := range e.looks {
		if i > 0 {
			if err := e.o.Clock.Sleep(ctx, e.spacing); err != nil {
				return nil, transientErr(e.op, fmt.Errorf("waiting to look again: %w", err))
			}
		}
		ids, err := e.look(ctx, kind, cluster, rec)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			found[id] = true
		}
		if len(found) >= rec.Count {
			break
		}
	}
	return slices.Sorted(maps.Keys(found)), nil
}

// look makes one pass over the evidence of an attempt: ECS tasks listed
// with its startedBy (ECS accepts only the cluster beside that filter) or
// EC2 instances with its client token. Every page draws a limiter slot in
// the bucket the lookup belongs to.
func (e evidence) look(ctx context.Context, kind launch.Kind, cluster string, rec launch.AttemptRecord) ([]string, error) {
	if kind == launch.KindEC2 {
		api, ok := e.ec2.(EC2LookupAPI)
		if !ok {
			return nil, nil
		}
		return e.describeByToken(ctx, api, rec.Token)
	}
	api, ok := e.ecs.(ECSLookupAPI)
	if !ok {
		return nil, nil
	}
	return e.listByStartedBy(ctx, api, cluster, rec.StartedBy)
}

func (e evidence) listByStartedBy(ctx context.Context, api ECSLookupAPI, cluster, startedBy string) ([]string, error) {
	var ids []string
	var next *string
	for {
		if err := e.lookupSlot(ctx, ServiceECS, limiter.BucketOf("ecs:ListTasks")); err != nil {
			return nil, err
		}
		out, err := api.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), StartedBy: aws.String(startedBy), NextToken: next}, noECSRetry)
		if err != nil {
			return nil, e.lookupErr("ecs:ListTasks", err)
		}
		ids = append(ids, out.TaskArns...)
		if next = out.NextToken; aws.ToString(next) == "" {
			return ids, nil
		}
	}
}

func (e evidence) describeByToken(ctx context.Context, api EC2LookupAPI, token string) ([]string, error) {
	var ids []string
	var next *string
	for {
		if err := e.lookupSlot(ctx, ServiceEC2, limiter.BucketOf("ec2:DescribeInstances")); err != nil {
			return nil, err
		}
		out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
			Filters:   []ec2types.Filter{{Name: aws.String("client-token"), Values: []string{token}}},
			NextToken: next,
		}, noEC2Retry)
		if err != nil {
			return nil, e.lookupErr("ec2:DescribeInstances", err)
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
func (e evidence) lookupErr(op string, err error) error {
	return transientErr(e.op, fmt.Errorf("%s: %w", op, err))
}

// lookupSlot holds a slot in bucket for one lookup call and waits for it.
// A slot further than the defer threshold (or than the invocation has
// time for) is given back exactly and the step is tried again later.
func (e evidence) lookupSlot(ctx context.Context, service, bucket string) error {
	slot, err := e.lim.Reserve(ctx, service, []limiter.Take{{Bucket: bucket, N: 1}})
	if err != nil {
		countBusy(e.o.Metrics, err)
		return limiterErr(e.classify(err), err)
	}
	wait := slot.At.Sub(e.o.Clock.Now())
	if wait <= 0 {
		return nil
	}
	if wait > max(e.deferThreshold, time.Second) || lambdaTooNear(ctx, e.o.Clock, wait) {
		if rerr := giveBack(ctx, e.lim, service, slot); rerr != nil {
			e.o.Logger.Warn("lookup slot not released", "bucket", bucket, "err", rerr)
		}
		return transientErr(e.op, fmt.Errorf("%s slot %v away", bucket, wait))
	}
	if err := e.o.Clock.Sleep(ctx, wait); err != nil {
		return transientErr(e.op, fmt.Errorf("waiting for the %s slot: %w", bucket, err))
	}
	return nil
}
