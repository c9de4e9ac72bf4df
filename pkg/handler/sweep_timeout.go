package handler

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// TimeoutReason is the reason StopTask gives a task past its timeout.
func TimeoutReason(seconds int) string {
	return fmt.Sprintf("Task timed out after %d s (timeout.attemptDurationSeconds)", seconds)
}

// enforceTimeouts stops the RUNNING tasks of recs past startedAt +
// timeout.attemptDurationSeconds (not again within Overdue of a stop
// sent) and sets rep.NextTimeout to the nearest one still to come.
func (t *Tracker) enforceTimeouts(ctx context.Context, sr launch.StoredRequest, recs []launch.TaskRecord, rep *SweepReport) error {
	to := sr.Request.Timeout
	if to == nil || to.AttemptDurationSeconds <= 0 {
		return nil
	}
	limit := time.Duration(to.AttemptDurationSeconds) * time.Second
	now := t.o.Clock.Now()
	for _, r := range recs {
		o := r.Observation
		if o.LastStatus != "RUNNING" || o.StartedAt.IsZero() {
			continue
		}
		if left := o.StartedAt.Add(limit).Sub(now); left > 0 {
			if rep.NextTimeout == 0 || left < rep.NextTimeout {
				rep.NextTimeout = left
			}
			continue
		}
		t.mu.Lock()
		sent := t.stopSent[r.ARN]
		t.mu.Unlock()
		if now.Before(sent.Add(t.o.Overdue)) {
			continue
		}
		if ok, err := t.slot(ctx, limiter.BucketOf("ecs:StopTask")); !ok || err != nil {
			return err
		}
		if err := t.stop(ctx, sr.Request.ECS.Cluster, r.ARN, to.AttemptDurationSeconds); err != nil {
			return err
		}
		rep.Stopped++
	}
	return nil
}

func (t *Tracker) stop(ctx context.Context, cluster, arn string, seconds int) error {
	_, err := t.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn), Reason: aws.String(TimeoutReason(seconds))}, noECSRetry)
	if err != nil {
		return transientErr("summary", fmt.Errorf("ecs:StopTask: %w", err))
	}
	t.mu.Lock()
	t.stopSent[arn] = t.o.Clock.Now()
	t.mu.Unlock()
	t.o.Logger.Info("task stopped at its timeout", "taskArn", arn, "attemptDurationSeconds", seconds)
	return nil
}
