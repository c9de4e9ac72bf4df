package handler

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// TaskDefinitionAPI is the part of ECS that names a task's log stream;
// *ecs.Client satisfies it. It is asked of the ECS client given to
// NewRelaunch or NewTracker (a client without it names no streams).
type TaskDefinitionAPI interface {
	DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

var _ TaskDefinitionAPI = (*ecs.Client)(nil)

// logRetry is how long a failed task definition read is not tried again.
const logRetry = time.Minute

// logStreams names tasks' awslogs streams, <awslogs-stream-prefix>/
// <container>/<task id> (Amazon ECS Developer Guide: "Send Amazon ECS logs
// to CloudWatch"), from their task definitions. A revision never changes,
// so each is read once (DescribeTaskDefinition) and kept for the life of
// the function instance: a handful of calls per request, outside the
// limiter's buckets (ECS's task-definition read bucket is not one the
// product draws on otherwise). Safe for concurrent use.
type logStreams struct {
	api TaskDefinitionAPI
	clk clock.Clock
	log *slog.Logger

	mu       sync.Mutex
	prefixes map[string]map[string]string // task definition ARN → container → stream prefix
	failedAt map[string]time.Time
}

func newLogStreams(ecsc any, o Options) *logStreams {
	api, _ := ecsc.(TaskDefinitionAPI)
	return &logStreams{api: api, clk: o.Clock, log: o.Logger, prefixes: map[string]map[string]string{}, failedAt: map[string]time.Time{}}
}

// stream is the log stream of container in task taskARN ("" when the
// task definition does not log it with awslogs and a stream prefix, or
// cannot be read now).
func (l *logStreams) stream(ctx context.Context, taskDefARN, container, taskARN string) string {
	if l == nil || l.api == nil || taskDefARN == "" || container == "" {
		return ""
	}
	prefixes, ok := l.read(ctx, taskDefARN)
	if !ok || prefixes[container] == "" {
		return ""
	}
	id := taskARN[strings.LastIndex(taskARN, "/")+1:]
	return prefixes[container] + "/" + container + "/" + id
}

func (l *logStreams) read(ctx context.Context, taskDefARN string) (map[string]string, bool) {
	now := l.clk.Now()
	l.mu.Lock()
	p, ok := l.prefixes[taskDefARN]
	failed := l.failedAt[taskDefARN]
	l.mu.Unlock()
	if ok {
		return p, true
	}
	if !failed.IsZero() && now.Before(failed.Add(logRetry)) {
		return nil, false
	}
	out, err := l.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(taskDefARN)})
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || out.TaskDefinition == nil {
		l.failedAt[taskDefARN] = now
		l.log.Warn("task definition not read: no log stream names for now", "taskDefinition", taskDefARN, "err", err)
		return nil, false
	}
	p = map[string]string{}
	for _, c := range out.TaskDefinition.ContainerDefinitions {
		lc := c.LogConfiguration
		if lc != nil && lc.LogDriver == "awslogs" && lc.Options["awslogs-stream-prefix"] != "" {
			p[aws.ToString(c.Name)] = lc.Options["awslogs-stream-prefix"]
		}
	}
	l.prefixes[taskDefARN] = p
	return p, true
}
