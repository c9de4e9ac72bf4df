package handler

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// fakeTrackerECS answers DescribeTasks from tasks (MISSING when absent)
// and records StopTask calls.
type fakeTrackerECS struct {
	mu        sync.Mutex
	tasks     map[string]ecstypes.Task
	describes [][]string
	stops     []*ecs.StopTaskInput
}

func (f *fakeTrackerECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(in.Tasks) > maxDescribeTasks {
		return nil, fmt.Errorf("InvalidParameterException: %d tasks", len(in.Tasks))
	}
	f.describes = append(f.describes, in.Tasks)
	out := &ecs.DescribeTasksOutput{}
	for _, a := range in.Tasks {
		if t, ok := f.tasks[a]; ok {
			out.Tasks = append(out.Tasks, t)
		} else {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(a), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

func (f *fakeTrackerECS) StopTask(_ context.Context, in *ecs.StopTaskInput, _ ...func(*ecs.Options)) (*ecs.StopTaskOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, in)
	return &ecs.StopTaskOutput{}, nil
}

func ecsTask(arn, status string, exit *int, startedBy string) ecstypes.Task {
	c := ecstypes.Container{Name: aws.String("main"), LastStatus: aws.String(status)}
	if exit != nil {
		c.ExitCode = aws.Int32(int32(*exit))
	}
	t := ecstypes.Task{TaskArn: aws.String(arn), LastStatus: aws.String(status), StartedBy: aws.String(startedBy), Version: 3,
		Containers: []ecstypes.Container{c}, StartedAt: aws.Time(t0.Add(time.Second))}
	if status == "STOPPED" {
		t.StopCode, t.StoppedReason, t.StoppedAt = ecstypes.TaskStopCodeEssentialContainerExited, aws.String("Essential container in task exited"), aws.Time(t0.Add(time.Minute))
	}
	return t
}

type sweepEnv struct {
	st  launchstore.Store
	e   *retryEnv
	ecs *fakeTrackerECS
	tr  *Tracker
	sr  launch.StoredRequest
}

// newSweepEnv plans a waiting request and records n launched tasks.
func newSweepEnv(t *testing.T, r launch.Request, n int) (*sweepEnv, []string) {
	t.Helper()
	e := newRetryEnv(t, 0)
	s := &sweepEnv{st: e.st, e: e, ecs: &fakeTrackerECS{tasks: map[string]ecstypes.Task{}}}
	s.sr = plan(t, e.st, r, t0)
	s.tr = NewTracker(e.st, e.lim, s.ecs, func(o *TrackerOptions) {
		o.Clock, o.SQS, o.RelaunchQueueURL = e.clk, e.sqs, "http://127.0.0.1/relaunch"
	})
	arns := make([]string, n)
	for k := range n {
		arns[k] = fmt.Sprintf("arn:aws:ecs:us-east-1:000000000000:task/jobs/%04d", k+1)
	}
	recordRefs(t, e, r.RequestID, arns)
	return s, arns
}

func (s *sweepEnv) sweep(t *testing.T) SweepReport {
	t.Helper()
	rep, err := s.tr.Sweep(context.Background(), s.sr)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Only overdue tasks are described, ≤ 100 a call, each call a slot of the
// ecs:DescribeTasks bucket, and not again within 10 minutes; the answers
// are recorded and decided as events; a MISSING task is a failure.
func TestTrackerDescribesOverdueTasks(t *testing.T) {
	t.Parallel()
	s, arns := newSweepEnv(t, waitingRequest(1), 150)
	ctx := context.Background()
	zero, sb := 0, launch.StartedBy("r1", 0, 1)
	for _, a := range arns[2:] {
		s.ecs.tasks[a] = ecsTask(a, "RUNNING", nil, sb)
	}
	s.ecs.tasks[arns[2]] = ecsTask(arns[2], "STOPPED", &zero, sb) // its event was lost
	delete(s.ecs.tasks, arns[3])                                  // ECS forgot it
	s.e.clk.Advance(11 * time.Minute)
	// arns[0] was observed a minute ago, arns[1] has stopped and is decided: not overdue.
	if _, _, err := s.st.ObserveTask(ctx, "r1", launch.TaskObservation{ARN: arns[0], LastStatus: "RUNNING", ObservedAt: s.e.clk.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.st.ObserveTask(ctx, "r1", launch.TaskObservation{ARN: arns[1], LastStatus: "STOPPED", ExitCode: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.st.DecideTask(ctx, "r1", arns[1], launch.OutcomeSucceeded, "exit code 0"); err != nil {
		t.Fatal(err)
	}
	rep := s.sweep(t)
	if len(s.ecs.describes) != 2 || len(s.ecs.describes[0]) != 100 || len(s.ecs.describes[1]) != 48 || rep.Described != 148 {
		t.Fatalf("describe calls %d (%v tasks), report %+v; want 100 + 48", len(s.ecs.describes), len(slices.Concat(s.ecs.describes...)), rep)
	}
	if n := countBucket(s.e.lim, limiter.ECSDescribeTasks); n != 2 {
		t.Errorf("ecs:DescribeTasks slots: got %d, want 2", n)
	}
	for arn, want := range map[string]string{arns[2]: launch.OutcomeSucceeded, arns[3]: launch.OutcomeFailed, arns[4]: ""} {
		if rec, _ := s.st.Task(ctx, "r1", arn); rec.Outcome != want {
			t.Errorf("%s: outcome %q, want %q", arn, rec.Outcome, want)
		}
	}
	if rec, _ := s.st.Task(ctx, "r1", arns[3]); rec.Observation.StoppedReason != MissingTaskReason {
		t.Errorf("missing task: stoppedReason %q", rec.Observation.StoppedReason)
	}
	if rep.Observed != 148 {
		t.Errorf("observed: got %d, want 148", rep.Observed)
	}
	s.e.clk.Advance(5 * time.Minute)
	if rep := s.sweep(t); rep.Described != 0 {
		t.Errorf("described again within 10 minutes: %+v", rep)
	}
	s.e.clk.Advance(6 * time.Minute)
	if rep := s.sweep(t); rep.Described != 147 {
		t.Errorf("after 10 minutes: described %d, want the 146 still running and arns[0], now overdue", rep.Described)
	}
}

func countBucket(l *fakeLimiter, bucket string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, takes := range l.reserves {
		if len(takes) == 1 && takes[0].Bucket == bucket {
			n++
		}
	}
	return n
}

// A RUNNING task past startedAt + attemptDurationSeconds is stopped once,
// through the ecs:RunTask bucket; NextTimeout names the next one due.
func TestTrackerStopsTasksPastTheirTimeout(t *testing.T) {
	t.Parallel()
	r := waitingRequest(1)
	r.Timeout = &launch.JobTimeout{AttemptDurationSeconds: 60}
	s, arns := newSweepEnv(t, r, 3)
	ctx := context.Background()
	s.e.clk.Advance(70 * time.Second)
	for i, started := range []time.Duration{0, 30 * time.Second} {
		o := launch.TaskObservation{ARN: arns[i], LastStatus: "RUNNING", StartedAt: t0.Add(started), ObservedAt: s.e.clk.Now()}
		if _, _, err := s.st.ObserveTask(ctx, "r1", o); err != nil {
			t.Fatal(err)
		}
	}
	rep := s.sweep(t)
	if rep.Stopped != 1 || len(s.ecs.stops) != 1 || aws.ToString(s.ecs.stops[0].Task) != arns[0] {
		t.Fatalf("report %+v, stops %d; want arns[0] stopped", rep, len(s.ecs.stops))
	}
	if got, want := aws.ToString(s.ecs.stops[0].Reason), "Task timed out after 60 s (timeout.attemptDurationSeconds)"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	if rep.NextTimeout != 20*time.Second {
		t.Errorf("NextTimeout %v, want 20s", rep.NextTimeout)
	}
	if n := countBucket(s.e.lim, limiter.ECSRunTask); n != 1 {
		t.Errorf("ecs:RunTask slots: got %d, want 1", n)
	}
	if rep := s.sweep(t); rep.Stopped != 0 {
		t.Errorf("stopped twice: %+v", rep)
	}
}

// A described stop that calls for a retry goes to the relaunch queue as
// its event, and the retry function relaunches it from there.
func TestTrackerHandsRetriesToTheRelaunchQueue(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchWaiting(t, e, waitingRequest(2), true)
	ecsf := &fakeTrackerECS{tasks: map[string]ecstypes.Task{}}
	one := 1
	for _, a := range arns {
		ecsf.tasks[a] = ecsTask(a, "RUNNING", nil, launch.StartedBy("r1", 0, 1))
	}
	ecsf.tasks[arns[6]] = ecsTask(arns[6], "STOPPED", &one, launch.StartedBy("r1", 0, 1))
	tr := NewTracker(e.st, e.lim, ecsf, func(o *TrackerOptions) {
		o.Clock, o.SQS, o.RelaunchQueueURL = e.clk, e.sqs, "http://127.0.0.1/relaunch"
	})
	e.clk.Advance(11 * time.Minute)
	sr, _ := e.st.Request(context.Background(), "r1")
	if _, err := tr.Sweep(context.Background(), sr); err != nil {
		t.Fatal(err)
	}
	if len(e.sqs.msgs) != 1 {
		t.Fatalf("relaunch queue messages: got %d, want 1", len(e.sqs.msgs))
	}
	out := mustEvent(t, e, []byte(e.sqs.msgs[0]), EventRelaunched)
	if rec := task(t, e, out.NewTaskARN); rec.Attempt != 2 || rec.Index != 6 {
		t.Errorf("replacement: %+v, want index 6 attempt 2", rec.TaskRef)
	}
}

// A described stop that could not be decided (the launcher's record came
// later) is described again once overdue, and decided then.
func TestTrackerDecidesAStopLeftUndecided(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	sr := plan(t, e.st, waitingRequest(1), t0)
	arn := "arn:aws:ecs:us-east-1:000000000000:task/jobs/0001"
	one := 1
	f := &fakeTrackerECS{tasks: map[string]ecstypes.Task{arn: ecsTask(arn, "STOPPED", &one, launch.StartedBy("r1", 0, 1))}}
	ctx := context.Background()
	if _, _, err := e.st.ObserveTask(ctx, "r1", launch.TaskObservation{ARN: arn, LastStatus: "RUNNING", ObservedAt: t0}); err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(e.st, e.lim, f, func(o *TrackerOptions) { o.Clock = e.clk })
	e.clk.Advance(11 * time.Minute)
	if _, err := tr.Sweep(ctx, sr); err != nil {
		t.Fatal(err)
	}
	if rec := task(t, e, arn); !rec.Stopped() || rec.Outcome != "" {
		t.Fatalf("without the launcher's record: %+v", rec)
	}
	recordRefs(t, e, "r1", []string{arn})
	e.clk.Advance(11 * time.Minute)
	if _, err := tr.Sweep(ctx, sr); err != nil {
		t.Fatal(err)
	}
	if rec := task(t, e, arn); rec.Outcome != launch.OutcomeFailed {
		t.Errorf("outcome %q, want FAILED (one attempt)", rec.Outcome)
	}
}
