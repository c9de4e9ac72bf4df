package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// fakeInstanceStatus answers DescribeInstanceStatus from state: "name"
// or "name/check" (check: the instance and system status).
type fakeInstanceStatus struct {
	state map[string]string
	calls int
}

func (f *fakeInstanceStatus) DescribeInstanceStatus(_ context.Context, in *ec2.DescribeInstanceStatusInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceStatusOutput, error) {
	f.calls++
	out := &ec2.DescribeInstanceStatusOutput{}
	for _, id := range in.InstanceIds {
		name, check, ok := strings.Cut(f.state[id], "/")
		if !ok {
			check = "not-applicable"
		}
		out.InstanceStatuses = append(out.InstanceStatuses, ec2types.InstanceStatus{InstanceId: aws.String(id),
			InstanceState:  &ec2types.InstanceState{Name: ec2types.InstanceStateName(name)},
			InstanceStatus: &ec2types.InstanceStatusSummary{Status: ec2types.SummaryStatus(check)},
			SystemStatus:   &ec2types.InstanceStatusSummary{Status: ec2types.SummaryStatus(check)}})
	}
	return out, nil
}

// A waiting EC2 request's instances are decided against ec2.waitFor from
// paced DescribeInstanceStatus calls (the ec2:NonMutating bucket).
func TestTrackerWaitsForInstances(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		waitFor string
		want    map[string]string // state → outcome
	}{
		"running": {launch.WaitRunning, map[string]string{
			"pending": "", "running/initializing": launch.OutcomeSucceeded, "terminated": launch.OutcomeFailed}},
		"status-ok": {launch.WaitStatusOK, map[string]string{
			"running/initializing": "", "running/ok": launch.OutcomeSucceeded, "running/impaired": launch.OutcomeFailed, "shutting-down": launch.OutcomeFailed}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRetryEnv(t, 0)
			r := launchtest.EC2Request("r1", len(tc.want))
			r.WaitForCompletion, r.EC2.WaitFor = true, tc.waitFor
			sr := plan(t, e.st, r, t0)
			f := &fakeInstanceStatus{state: map[string]string{}}
			var ids []string
			byID := map[string]string{}
			for st := range tc.want {
				id := "i-" + st
				ids, f.state[id], byID[id] = append(ids, id), st, st
			}
			recordRefs(t, e, "r1", ids)
			tr := NewTracker(e.st, e.lim, &fakeTrackerECS{}, func(o *TrackerOptions) { o.Clock, o.EC2 = e.clk, f })
			rep, err := tr.Sweep(context.Background(), sr)
			if err != nil {
				t.Fatal(err)
			}
			for id, st := range byID {
				if rec := task(t, e, id); rec.Outcome != tc.want[st] {
					t.Errorf("%s: outcome %q (%s), want %q", st, rec.Outcome, rec.Why, tc.want[st])
				}
			}
			if f.calls != 1 || rep.Described != len(ids) || countBucket(e.lim, limiter.EC2NonMutating) != 1 {
				t.Errorf("calls %d, report %+v, slots %d; want one call for %d instances", f.calls, rep, countBucket(e.lim, limiter.EC2NonMutating), len(ids))
			}
			// Decided instances are not asked again.
			undecided := 0
			for _, o := range tc.want {
				if o == "" {
					undecided++
				}
			}
			rep, _ = tr.Sweep(context.Background(), sr)
			if rep.Described != undecided {
				t.Errorf("second sweep described %d, want %d", rep.Described, undecided)
			}
		})
	}
}
