package handler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// fakeTaskDefs answers DescribeTaskDefinition: container main logs with
// awslogs (stream prefix "app"), container side without a prefix.
type fakeTaskDefs struct {
	*fakeTrackerECS
	mu    sync.Mutex
	calls int
	fail  bool
}

func (f *fakeTaskDefs) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail {
		return nil, errors.New("ThrottlingException: Rate exceeded")
	}
	awslogs := func(opts map[string]string) *ecstypes.LogConfiguration {
		return &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: opts}
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{TaskDefinitionArn: in.TaskDefinition,
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("main"), LogConfiguration: awslogs(map[string]string{"awslogs-group": "/ecs/job", "awslogs-stream-prefix": "app"})},
			{Name: aws.String("side"), LogConfiguration: awslogs(map[string]string{"awslogs-group": "/ecs/job"})},
		}}}, nil
}

// A task's log stream is <prefix>/<container>/<task id> of its task
// definition's awslogs configuration, read once per task definition; a
// failed read names no stream and is tried again after a minute.
func TestLogStreams(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	f := &fakeTaskDefs{}
	l := newLogStreams(f, Options{Clock: e.clk, Logger: e.rl.o.Logger})
	ctx := context.Background()
	td := "arn:aws:ecs:us-east-1:000000000000:task-definition/job:3"
	for _, tc := range []struct{ container, task, want string }{
		{"main", "arn:aws:ecs:us-east-1:000000000000:task/jobs/abc", "app/main/abc"},
		{"main", "arn:aws:ecs:us-east-1:000000000000:task/jobs/def", "app/main/def"},
		{"side", "arn:aws:ecs:us-east-1:000000000000:task/jobs/abc", ""},
		{"other", "arn:aws:ecs:us-east-1:000000000000:task/jobs/abc", ""},
	} {
		if got := l.stream(ctx, td, tc.container, tc.task); got != tc.want {
			t.Errorf("%s of %s: got %q, want %q", tc.container, tc.task, got, tc.want)
		}
	}
	if f.calls != 1 {
		t.Errorf("DescribeTaskDefinition calls: got %d, want 1", f.calls)
	}
	f.fail = true
	td2 := td[:len(td)-1] + "4"
	if got := l.stream(ctx, td2, "main", "arn:x/abc"); got != "" {
		t.Errorf("failed read: got %q", got)
	}
	l.stream(ctx, td2, "main", "arn:x/abc")
	if f.calls != 2 {
		t.Errorf("calls after a failure within a minute: got %d, want 2", f.calls)
	}
	f.fail = false
	e.clk.Advance(logRetry + time.Second)
	if got := l.stream(ctx, td2, "main", "arn:x/abc"); got != "app/main/abc" || f.calls != 3 {
		t.Errorf("after a minute: got %q with %d calls, want app/main/abc with 3", got, f.calls)
	}
	// No task definition API: no streams.
	if got := newLogStreams(&fakeECS{}, Options{Clock: e.clk}).stream(ctx, td, "main", "arn:x/abc"); got != "" {
		t.Errorf("without the API: got %q", got)
	}
}

// The Tracker records the described task's log stream.
func TestTrackerRecordsLogStream(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	f := &fakeTaskDefs{fakeTrackerECS: &fakeTrackerECS{tasks: map[string]ecstypes.Task{}}}
	sr := plan(t, e.st, waitingRequest(1), t0)
	arn := "arn:aws:ecs:us-east-1:000000000000:task/jobs/0001"
	recordRefs(t, e, "r1", []string{arn})
	tk := ecsTask(arn, "RUNNING", nil, "th/x/0/1")
	tk.TaskDefinitionArn = aws.String("arn:aws:ecs:us-east-1:000000000000:task-definition/job:3")
	f.tasks[arn] = tk
	tr := NewTracker(e.st, e.lim, f, func(o *TrackerOptions) { o.Clock = e.clk })
	e.clk.Advance(11 * time.Minute)
	if _, err := tr.Sweep(context.Background(), sr); err != nil {
		t.Fatal(err)
	}
	if rec := task(t, e, arn); rec.Observation.LogStream != "app/main/0001" {
		t.Errorf("log stream %q, want app/main/0001", rec.Observation.LogStream)
	}
}
