package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// maxDescribeTasks is DescribeTasks' limit of tasks a call.
const maxDescribeTasks = 100

// MissingTaskReason is the stoppedReason recorded for a task DescribeTasks
// reports MISSING (ECS forgets stopped tasks after a while).
const MissingTaskReason = "task not found by DescribeTasks"

// reconcile describes the overdue tasks of recs and applies each answer;
// it returns recs with the answers' records in place.
func (t *Tracker) reconcile(ctx context.Context, sr launch.StoredRequest, recs []launch.TaskRecord, rep *SweepReport) ([]launch.TaskRecord, error) {
	now := t.o.Clock.Now()
	var due []int
	for i, r := range recs {
		if t.overdue(r, now) {
			due = append(due, i)
		}
	}
	for len(due) > 0 {
		batch := due[:min(len(due), maxDescribeTasks)]
		due = due[len(batch):]
		if ok, err := t.slot(ctx, bucketDescribeTasks); !ok || err != nil {
			return recs, err
		}
		if err := t.describe(ctx, sr, recs, batch, rep); err != nil {
			return recs, err
		}
	}
	return recs, nil
}

// describe makes one DescribeTasks call for recs[batch] and applies what
// it says of each task.
func (t *Tracker) describe(ctx context.Context, sr launch.StoredRequest, recs []launch.TaskRecord, batch []int, rep *SweepReport) error {
	byARN := make(map[string]int, len(batch))
	arns := make([]string, 0, len(batch))
	for _, i := range batch {
		byARN[recs[i].ARN] = i
		arns = append(arns, recs[i].ARN)
	}
	out, err := t.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(sr.Request.ECS.Cluster), Tasks: arns}, noECSRetry)
	if err != nil {
		return transientErr("summary", fmt.Errorf("ecs:DescribeTasks: %w", err))
	}
	rep.Described += len(arns)
	now := t.o.Clock.Now()
	t.mu.Lock()
	for _, a := range arns {
		t.described[a] = now
	}
	t.mu.Unlock()
	var evs [][]byte
	for _, task := range out.Tasks {
		evs = append(evs, describedEvent(task))
	}
	for _, f := range out.Failures {
		if i, ok := byARN[aws.ToString(f.Arn)]; ok && aws.ToString(f.Reason) == "MISSING" {
			if ev := missingEvent(sr.Request.RequestID, recs[i]); ev != nil {
				evs = append(evs, ev)
			}
		}
	}
	for _, raw := range evs {
		rec, err := t.apply(ctx, sr, raw, rep)
		if err != nil {
			return err
		}
		if i, ok := byARN[rec.ARN]; ok {
			recs[i] = rec
		}
	}
	return nil
}

// apply reads an answer as its event and records and decides it as
// Relaunch.track does; a replacement it calls for goes to the relaunch
// queue as that event. A record not yet referenced waits for a later
// sweep (or its event).
func (t *Tracker) apply(ctx context.Context, sr launch.StoredRequest, raw []byte, rep *SweepReport) (launch.TaskRecord, error) {
	var ev ECSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return launch.TaskRecord{}, err
	}
	j := &relaunchJob{ev: ev, requestID: sr.Request.RequestID, sr: sr, log: t.o.Logger.With("requestId", sr.Request.RequestID, "taskArn", ev.Task.TaskArn)}
	rec, d, advanced, err := observeTask(ctx, t.store, t.o.Options, t.logs, j)
	if err != nil {
		return rec, err
	}
	if advanced {
		rep.Observed++
	}
	switch d.Step {
	case stepFinal:
		rec, _, err = t.store.DecideTask(ctx, j.requestID, rec.ARN, d.Outcome, d.Why)
		if err != nil {
			return rec, transientErr("summary", err)
		}
	case stepRelaunch, stepRetry:
		if ev.Task.LastStatus == "STOPPED" {
			return rec, t.handToRelaunch(ctx, j)
		}
	}
	return rec, nil
}

// handToRelaunch puts the event of a described stop on the relaunch queue.
func (t *Tracker) handToRelaunch(ctx context.Context, j *relaunchJob) error {
	if t.o.RelaunchQueueURL == "" || t.o.SQS == nil {
		j.log.Info("described stop waits for its event: no relaunch queue")
		return nil
	}
	_, err := t.o.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(t.o.RelaunchQueueURL), MessageBody: aws.String(string(j.ev.Raw))})
	if err != nil {
		return transientErr("summary", fmt.Errorf("relaunch queue: %w", err))
	}
	return nil
}

// describedEvent is the ECS Task State Change a described task stands for
// (the event's detail is the API's Task, with ISO times).
func describedEvent(task ecstypes.Task) []byte {
	d := map[string]any{
		"taskArn": aws.ToString(task.TaskArn), "clusterArn": aws.ToString(task.ClusterArn), "startedBy": aws.ToString(task.StartedBy),
		"taskDefinitionArn": aws.ToString(task.TaskDefinitionArn),
		"lastStatus":        aws.ToString(task.LastStatus), "stopCode": string(task.StopCode), "stoppedReason": aws.ToString(task.StoppedReason),
		"version": task.Version, "startedAt": isoTime(task.StartedAt), "stoppedAt": isoTime(task.StoppedAt),
	}
	var cs []failure.ECSContainer
	for _, c := range task.Containers {
		var code *int
		if c.ExitCode != nil {
			code = new(int(*c.ExitCode))
		}
		cs = append(cs, failure.ECSContainer{Name: aws.ToString(c.Name), ExitCode: code, Reason: aws.ToString(c.Reason)})
	}
	d["containers"] = cs
	if o := task.Overrides; o != nil {
		var names []map[string]string
		for _, c := range o.ContainerOverrides {
			names = append(names, map[string]string{"name": aws.ToString(c.Name)})
		}
		d["overrides"] = map[string]any{"containerOverrides": names}
	}
	return envelopeOf(aws.ToString(task.TaskArn), d)
}

// missingEvent is a STOPPED event for a task ECS no longer knows, with
// the startedBy its launcher gave it (nil when the launcher's record is
// not written: its chunk is unknown).
func missingEvent(requestID string, rec launch.TaskRecord) []byte {
	if !rec.Referenced {
		return nil
	}
	sb := launch.StartedBy(requestID, rec.Chunk, 1)
	if rec.Predecessor != "" {
		sb = launch.RelaunchStartedBy(requestID, rec.Chunk, rec.Predecessor)
	}
	return envelopeOf(rec.ARN, map[string]any{"taskArn": rec.ARN, "startedBy": sb, "lastStatus": "STOPPED",
		"stoppedReason": MissingTaskReason, "version": rec.Observation.Version, "containers": []any{}})
}

func envelopeOf(arn string, detail map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"version": "0", "source": "aws.ecs", "detail-type": failure.DetailECSTaskStateChange,
		"resources": []string{arn}, "detail": detail})
	return b
}

func isoTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
