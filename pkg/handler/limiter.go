package handler

import (
	"context"
	"errors"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// Services of the limiter (the first part of a bucket item's key).
const (
	ServiceECS = "ecs"
	ServiceEC2 = "ec2"
)

// Limiter is the fleet-wide limiter as the handlers use it;
// *limiter.Distributed satisfies it. Reserve holds a position in every
// take's bucket at once (one conditional write) and never blocks; Recheck
// re-times a slot held across a wait (one read; later, never earlier);
// Release gives an unused slot back exactly (a slot without positions
// gives nothing back); Signal slows a bucket for the whole fleet. Store
// failures are *limiter.StoreBusyError: nothing is admitted without the
// store.
type Limiter interface {
	Reserve(ctx context.Context, service string, takes []limiter.Take) (limiter.Slot, error)
	Recheck(ctx context.Context, service string, s limiter.Slot) (limiter.Slot, error)
	Release(ctx context.Context, service string, s limiter.Slot) error
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

// serviceOf is the limiter service whose buckets calls of kind draw on.
func serviceOf(kind launch.Kind) string {
	if kind == launch.KindEC2 {
		return ServiceEC2
	}
	return ServiceECS
}

// takesFor returns the limiter takes of a call launching count units of
// kind in lane (the request's priority, limiter "Lanes"); fargate adds
// the Fargate buckets for ECS. The last take is the
// one weighted by the count (see throttleSignal).
func takesFor(kind launch.Kind, count int, fargate bool, lane string) (string, []limiter.Take) {
	if kind == launch.KindEC2 {
		return ServiceEC2, limiter.InLane([]limiter.Take{{Bucket: limiter.EC2RunInstances, N: 1}, {Bucket: limiter.EC2Instances, N: float64(count)}}, lane)
	}
	t := []limiter.Take{{Bucket: limiter.ECSRunTask, N: 1}}
	if fargate {
		t = append(t, limiter.Take{Bucket: limiter.ECSFargateRunTask, N: 1}, limiter.Take{Bucket: limiter.ECSFargateTasks, N: float64(count)})
	}
	return ServiceECS, limiter.InLane(t, lane)
}

// ecsLaunchBuckets are the buckets an account-wide ECS congestion signal
// slows.
var ecsLaunchBuckets = []string{limiter.ECSRunTask, limiter.ECSFargateRunTask, limiter.ECSFargateTasks}

// throttleSignal is the one signal a throttled launch call sends, and the
// bucket it goes to. ECS's "Rate exceeded" does not say which bucket
// refused, so it goes to the bucket that timed the call (binding), with the
// call's position there: the throttle then counts once, for the epoch the
// call was timed in, however many calls of that epoch report it. A slot
// without positions (the legacy slotAt, a relaunch's slot kept as a time)
// names no bucket: the last take, weighted by the count and binding at the
// published limits, gets a signal judged by its time.
func throttleSignal(slot limiter.Slot, takes []limiter.Take, reason string, at time.Time) (string, limiter.Signal) {
	sig := limiter.Signal{Reason: reason, At: at}
	if p, ok := binding(slot); ok {
		sig.Position = p
		return p.Bucket, sig
	}
	return takes[len(takes)-1].Bucket, sig
}

// failuresSignal is the signal a RunTask answer sends when its failures[]
// entries classify as throttled (n of them, reason the first's code), and
// the bucket it goes to. The call itself was answered, so the request
// buckets (ecs:RunTask, ecs:FargateRunTask) admitted it; what refused was
// a per-task step: on Fargate the task-launch bucket, on the EC2 launch
// type ECS's work on the call's behalf, whose nearest bucket of ours is
// ecs:RunTask. Both are the last take, the one weighted by the count. The
// signal carries the slot's position there with N the throttled tasks
// (the launched ones were admitted), so it counts once, for the epoch the
// call was timed in, like a synchronous throttle; a slot without
// positions sends one judged by its time.
func failuresSignal(slot limiter.Slot, takes []limiter.Take, reason string, n int, at time.Time) (string, limiter.Signal) {
	bucket := takes[len(takes)-1].Bucket
	sig := limiter.Signal{Reason: reason, At: at}
	if p, ok := slot.Position(bucket); ok {
		p.N = min(p.N, float64(n))
		sig.Position = p
	}
	return bucket, sig
}

// binding is the slot's position in the bucket the limiter named binding:
// the one due latest or, when every bucket has burst left, the one with the
// fewest calls left. A slot that names none (built by hand, or by an older
// release) binds on its latest position, ties to the count-weighted last.
func binding(slot limiter.Slot) (limiter.Position, bool) {
	if p, ok := slot.Position(slot.Binding); ok {
		return p, true
	}
	var b limiter.Position
	for i, p := range slot.Positions {
		if i == 0 || !p.At.Before(b.At) {
			b = p
		}
	}
	return b, len(slot.Positions) > 0
}

// giveBack releases a slot that will not be used. A slot without positions
// (the legacy slotAt, a relaunch's slot kept as a time) has nothing exact
// to give back: it stays counted as used.
func giveBack(ctx context.Context, lim Limiter, service string, slot limiter.Slot) error {
	if len(slot.Positions) == 0 {
		return nil
	}
	return lim.Release(ctx, service, slot)
}

// countBusy counts a limiter answer of a failed store (MetricLimiterBusy).
func countBusy(m Recorder, err error) {
	if _, ok := errors.AsType[*limiter.StoreBusyError](err); ok {
		m.Add(MetricLimiterBusy, 1, UnitCount)
	}
}
