package handler

import (
	"context"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// Services of the limiter (the first part of a bucket item's key).
const (
	ServiceECS = "ecs"
	ServiceEC2 = "ec2"
)

// Limiter is the fleet-wide limiter as the handlers use it;
// *limiter.Distributed satisfies it. Reserve holds a slot for every take at
// once (one conditional write) and never blocks; Release gives an unused
// slot back; Signal slows a bucket for the whole fleet.
type Limiter interface {
	Reserve(ctx context.Context, service string, takes []limiter.Take) (limiter.Slot, error)
	Release(ctx context.Context, service string, takes []limiter.Take, s limiter.Slot) error
	Signal(ctx context.Context, service, bucket string, sig limiter.Signal) error
}

var _ Limiter = (*limiter.Distributed)(nil)

// SlotPeeker tells, without reserving, how far away the next free slot for
// takes is; the retry handler waits at least that long.
type SlotPeeker interface {
	NextSlot(ctx context.Context, service string, takes []limiter.Take) (time.Duration, error)
}

// StorePeeker is a SlotPeeker on the fleet-wide limiter: one read of the
// limiter's item, no write. It delegates to (*limiter.Distributed).Peek so
// the retry handler's wait and Reserve share one GCRA arithmetic (the
// adaptive rate included) and cannot drift apart.
type StorePeeker struct {
	Limiter *limiter.Distributed
}

// NextSlot returns the wait until takes could all be admitted (0 if now).
func (p StorePeeker) NextSlot(ctx context.Context, service string, takes []limiter.Take) (time.Duration, error) {
	return p.Limiter.Peek(ctx, service, takes)
}

// takesFor returns the limiter takes of a call launching count units of
// kind; fargate adds the Fargate buckets for ECS.
func takesFor(kind launch.Kind, count int, fargate bool) (string, []limiter.Take) {
	if kind == launch.KindEC2 {
		return ServiceEC2, []limiter.Take{{Bucket: limiter.EC2RunInstances, N: 1}, {Bucket: limiter.EC2Instances, N: float64(count)}}
	}
	t := []limiter.Take{{Bucket: limiter.ECSRunTask, N: 1}}
	if fargate {
		t = append(t, limiter.Take{Bucket: limiter.ECSFargateRunTask, N: 1}, limiter.Take{Bucket: limiter.ECSFargateTasks, N: float64(count)})
	}
	return ServiceECS, t
}

// ecsLaunchBuckets are the buckets an account-wide ECS congestion signal
// slows.
var ecsLaunchBuckets = []string{limiter.ECSRunTask, limiter.ECSFargateRunTask, limiter.ECSFargateTasks}
