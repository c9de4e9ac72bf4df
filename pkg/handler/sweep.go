package handler

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// TrackerECSAPI is the part of ECS the Tracker calls; *ecs.Client
// satisfies it.
type TrackerECSAPI interface {
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	StopTask(context.Context, *ecs.StopTaskInput, ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

var _ TrackerECSAPI = (*ecs.Client)(nil)

// TrackerOptions configures a Tracker.
type TrackerOptions struct {
	Options
	// Overdue: a task not stopped whose latest observation (or launch) is
	// older than this is described, and not again within it; a task
	// stopped for its timeout is not stopped again within it. Default
	// 10 min.
	Overdue time.Duration
	// DeferThreshold: a limiter slot further than this ends the sweep's
	// calls (the next loop carries on). Default 2 s.
	DeferThreshold time.Duration
	// RelaunchQueueURL and SQS: a described stop that calls for a
	// replacement (TaskFailedToStart, or an exit retried) goes on the
	// relaunch queue as the event it stands for, and the retry function
	// relaunches it as any event. Empty: the stop is recorded and decided
	// on its own event (or the next sweep).
	RelaunchQueueURL string
	SQS              SQSAPI
	// ClassifyError classifies call and limiter errors; default
	// failure.ClassifyError.
	ClassifyError func(error) failure.Classification
	// EC2 answers DescribeInstanceStatus for waiting EC2 requests
	// (ec2.waitFor); nil: instances are not followed.
	EC2 TrackerEC2API
}

// Tracker is the waiting request's Sweeper: ECS Task State Change events
// keep the task records current; the Tracker looks only where they are
// overdue, and enforces timeout.attemptDurationSeconds. For a waiting EC2
// request it follows the instances to ec2.waitFor (waitInstances).
//
//   - Tasks not STOPPED (or STOPPED without an outcome) whose latest
//     observation (or launch) is older than Overdue, and not described
//     within it, are described (DescribeTasks,
//     ≤ 100 a call, each call a slot of the limiter's ecs:DescribeTasks
//     bucket, "cluster resource read", shared with ListTasks). Each answer
//     is read as the event it stands for and goes through the same
//     observation and decision (observeTask); a task ECS reports MISSING
//     is recorded STOPPED with stoppedReason "task not found by
//     DescribeTasks" and decided as an exit without a code.
//   - RUNNING tasks whose startedAt + attemptDurationSeconds has passed
//     are stopped (StopTask, a slot of the ecs:RunTask bucket: StopTask is
//     "cluster resource modify"); their STOPPED event then decides as any
//     exit. NextTimeout is the time to the next one.
//
// When a described task was last described is kept in memory (per warm
// function instance): a cold start may describe an overdue task once more.
// Safe for concurrent use.
type Tracker struct {
	store launchstore.Store
	lim   Limiter
	ecs   TrackerECSAPI
	o     TrackerOptions
	logs  *logStreams

	mu        sync.Mutex
	described map[string]time.Time
	stopSent  map[string]time.Time
}

// NewTracker returns the Tracker; see TrackerOptions for its options.
func NewTracker(store launchstore.Store, lim Limiter, ecsc TrackerECSAPI, optFns ...func(*TrackerOptions)) *Tracker {
	var o TrackerOptions
	for _, f := range optFns {
		f(&o)
	}
	o.defaults()
	o.Overdue = cmp.Or(o.Overdue, 10*time.Minute)
	o.DeferThreshold = cmp.Or(o.DeferThreshold, 2*time.Second)
	if o.ClassifyError == nil {
		o.ClassifyError = failure.ClassifyError
	}
	return &Tracker{store: store, lim: lim, ecs: ecsc, o: o, logs: newLogStreams(ecsc, o.Options),
		described: map[string]time.Time{}, stopSent: map[string]time.Time{}}
}

var _ Sweeper = (*Tracker)(nil)

// Sweep describes a waiting request's overdue tasks and stops those past
// their timeout. A limiter slot too far away ends it early without error:
// the next loop carries on.
func (t *Tracker) Sweep(ctx context.Context, sr launch.StoredRequest) (SweepReport, error) {
	var rep SweepReport
	t.forget(t.o.Clock.Now())
	recs, err := t.store.Tasks(ctx, sr.Request.RequestID)
	if err != nil {
		return rep, transientErr("summary", err)
	}
	// The chunks hold what each attempt launched: a task none of whose
	// events arrived has no record but is looked after all the same.
	chunks, _, err := t.store.Chunks(ctx, sr.Request.RequestID)
	if err != nil {
		return rep, transientErr("summary", err)
	}
	recs = launch.WithChunkRefs(sr, chunks, recs)
	if sr.Request.EC2 != nil && t.o.EC2 != nil {
		if err := t.waitInstances(ctx, sr, recs, &rep); err != nil {
			return rep, err
		}
	}
	if sr.Request.ECS == nil {
		return rep, nil
	}
	recs, err = t.reconcile(ctx, sr, recs, &rep)
	if err != nil {
		return rep, err
	}
	err = t.enforceTimeouts(ctx, sr, recs, &rep)
	return rep, err
}

// slot holds a slot of bucket for one call and waits for it; ok false:
// the slot is too far (given back exactly; the sweep stops here and the
// next loop carries on); err: the limiter failed.
func (t *Tracker) slot(ctx context.Context, bucket string) (bool, error) {
	return t.slotOf(ctx, ServiceECS, bucket)
}

// slotOf is slot in service's buckets.
func (t *Tracker) slotOf(ctx context.Context, service, bucket string) (bool, error) {
	slot, err := t.lim.Reserve(ctx, service, []limiter.Take{{Bucket: bucket, N: 1}})
	if err != nil {
		countBusy(t.o.Metrics, err)
		return false, limiterErr(t.o.ClassifyError(err), err)
	}
	wait := slot.At.Sub(t.o.Clock.Now())
	if wait <= 0 {
		return true, nil
	}
	if wait > t.o.DeferThreshold || lambdaTooNear(ctx, t.o.Clock, wait) {
		if rerr := giveBack(ctx, t.lim, service, slot); rerr != nil {
			t.o.Logger.Warn("sweep slot not released", "bucket", bucket, "err", rerr)
		}
		t.o.Logger.Info("sweep waits for the next loop", "bucket", bucket, "slotIn", wait)
		return false, nil
	}
	if err := t.o.Clock.Sleep(ctx, wait); err != nil {
		return false, transientErr("summary", err)
	}
	return true, nil
}

// forget drops what the Tracker remembers of calls older than Overdue:
// they no longer hold a task back, and a warm instance serves many
// requests.
func (t *Tracker) forget(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range []map[string]time.Time{t.described, t.stopSent} {
		for arn, at := range m {
			if !now.Before(at.Add(t.o.Overdue)) {
				delete(m, arn)
			}
		}
	}
}

// overdue says whether a task's state is due a look: not stopped, or
// stopped without an outcome (its decision waited for the launcher's
// record and its event may not come again), with nothing heard of it
// within Overdue.
func (t *Tracker) overdue(rec launch.TaskRecord, now time.Time) bool {
	if rec.Stopped() && rec.Outcome != "" {
		return false
	}
	last := rec.Observation.ObservedAt
	if rec.LaunchedAt.After(last) {
		last = rec.LaunchedAt
	}
	t.mu.Lock()
	d := t.described[rec.ARN]
	t.mu.Unlock()
	return !now.Before(last.Add(t.o.Overdue)) && !now.Before(d.Add(t.o.Overdue))
}

var bucketDescribeTasks = limiter.BucketOf("ecs:DescribeTasks")
