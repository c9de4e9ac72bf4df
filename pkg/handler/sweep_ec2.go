package handler

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// TrackerEC2API is the part of EC2 the Tracker asks when a request waits
// for its instances; *ec2.Client satisfies it.
type TrackerEC2API interface {
	DescribeInstanceStatus(context.Context, *ec2.DescribeInstanceStatusInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceStatusOutput, error)
}

var _ TrackerEC2API = (*ec2.Client)(nil)

// maxInstanceStatus is how many instances one DescribeInstanceStatus asks.
const maxInstanceStatus = 100

// waitInstances describes the undecided instances of a waiting EC2
// request (DescribeInstanceStatus, IncludeAllInstances, each call a slot
// of the limiter's ec2:NonMutating bucket) and decides each that reached
// ec2.waitFor (running by default, or status-ok: both status checks ok) or
// ended before it: SUCCEEDED or FAILED. Instance records are the ones
// whose key is an instance ID.
func (t *Tracker) waitInstances(ctx context.Context, sr launch.StoredRequest, recs []launch.TaskRecord, rep *SweepReport) error {
	var ids []string
	for _, r := range recs {
		if strings.HasPrefix(r.ARN, "i-") && r.Outcome == "" {
			ids = append(ids, r.ARN)
		}
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), maxInstanceStatus)]
		ids = ids[len(batch):]
		if ok, err := t.slotOf(ctx, ServiceEC2, limiter.EC2NonMutating); !ok || err != nil {
			return err
		}
		out, err := t.o.EC2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: batch, IncludeAllInstances: new(true)}, noEC2Retry)
		if err != nil {
			// An instance just launched may not be visible yet (the whole
			// call is refused): the next loop asks again.
			t.o.Logger.Info("instance status not read", "err", err)
			return nil
		}
		rep.Described += len(batch)
		for _, st := range out.InstanceStatuses {
			if err := t.observeInstance(ctx, sr, st, rep); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Tracker) observeInstance(ctx context.Context, sr launch.StoredRequest, st ec2types.InstanceStatus, rep *SweepReport) error {
	o := instanceObservation(st)
	o.ObservedAt = t.o.Clock.Now()
	rec, advanced, err := t.store.ObserveTask(ctx, sr.Request.RequestID, o)
	if err != nil {
		return transientErr("summary", err)
	}
	if advanced {
		rep.Observed++
	}
	outcome, why := decideInstance(sr.Request.EC2.WaitFor, rec.Observation)
	if outcome == "" || rec.Outcome != "" {
		return nil
	}
	if _, _, err := t.store.DecideTask(ctx, sr.Request.RequestID, rec.ARN, outcome, why); err != nil {
		return transientErr("summary", err)
	}
	return nil
}

// instanceObservation maps an instance's state onto a task's lastStatus
// ranks (pending PENDING, running RUNNING, stopping / shutting-down
// STOPPING, stopped / terminated STOPPED); Reason is its instance status
// check, Version ranks the checks within running (initializing 1, ok or
// impaired 2), so an observation only moves forward.
func instanceObservation(st ec2types.InstanceStatus) launch.TaskObservation {
	o := launch.TaskObservation{ARN: *st.InstanceId}
	name := ec2types.InstanceStateNamePending
	if st.InstanceState != nil {
		name = st.InstanceState.Name
	}
	switch name {
	case ec2types.InstanceStateNameRunning:
		o.LastStatus = "RUNNING"
	case ec2types.InstanceStateNameStopping, ec2types.InstanceStateNameShuttingDown:
		o.LastStatus = "STOPPING"
	case ec2types.InstanceStateNameStopped, ec2types.InstanceStateNameTerminated:
		o.LastStatus, o.StoppedReason = "STOPPED", "instance "+string(name)
	default:
		o.LastStatus = "PENDING"
	}
	if o.LastStatus == "RUNNING" && st.InstanceStatus != nil && st.SystemStatus != nil {
		inst, sys := st.InstanceStatus.Status, st.SystemStatus.Status
		switch {
		case inst == ec2types.SummaryStatusImpaired || sys == ec2types.SummaryStatusImpaired:
			o.Reason, o.Version = "impaired", 2
		case inst == ec2types.SummaryStatusOk && sys == ec2types.SummaryStatusOk:
			o.Reason, o.Version = "ok", 2
		default:
			o.Reason, o.Version = string(inst), 1
		}
	}
	return o
}

// decideInstance: the outcome of an instance's observation against
// ec2.waitFor ("" or running: running; status-ok: both checks ok), ""
// while it has reached neither its target nor an end.
func decideInstance(waitFor string, o launch.TaskObservation) (outcome, why string) {
	switch {
	case o.LastStatus == "STOPPED" || o.LastStatus == "STOPPING":
		return launch.OutcomeFailed, fmt.Sprintf("%s before %s", cmpOr(o.StoppedReason, "instance stopping"), cmpOr(waitFor, launch.WaitRunning))
	case o.LastStatus != "RUNNING":
		return "", ""
	case waitFor != launch.WaitStatusOK:
		return launch.OutcomeSucceeded, "instance running"
	case o.Reason == "ok":
		return launch.OutcomeSucceeded, "instance running, status checks ok"
	case o.Reason == "impaired":
		return launch.OutcomeFailed, "instance status checks impaired"
	}
	return "", ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
