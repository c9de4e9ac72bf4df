package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// executionsNamed counts the machine's executions called name.
func (w *world) executionsNamed(name string) int {
	w.t.Helper()
	n := 0
	p := sfn.NewListExecutionsPaginator(w.sfn, &sfn.ListExecutionsInput{StateMachineArn: aws.String(w.machine)})
	for p.HasMorePages() {
		out, err := p.NextPage(w.t.Context())
		if err != nil {
			w.t.Fatalf("ListExecutions: %v", err)
		}
		for _, e := range out.Executions {
			if aws.ToString(e.Name) == name {
				n++
			}
		}
	}
	return n
}

// TestLaunchRequestedDuplicated puts the same LaunchRequested event twice on
// the product's bus, which itself delivers every event twice: the submit
// function starts one execution, and every task is launched once.
func TestLaunchRequestedDuplicated(t *testing.T) {
	w := newWorld(t, setup{eventDuplicates: 1})
	req := fargate("e2e-event/dup.1", 45) // not a valid execution name: submit hashes it
	w.putLaunchRequested(req)
	w.putLaunchRequested(req)

	arn := w.executionARN(req.RequestID)
	e := w.wait(arn, 60*time.Second)
	if e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s %s", e.Status, e.Error, e.Cause)
	}
	if err := w.svc.Events.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := w.executionsNamed(submit.ExecutionName(req.RequestID)); n != 1 {
		t.Errorf("got %d executions for the request, want 1", n)
	}
	// Both puts, each delivered twice, reached submit (the LaunchCompleted
	// event matches no rule): otherwise the test would prove nothing.
	if st := w.svc.Stats().Events; st.Duplicates < 2 || st.Delivered < 4 {
		t.Errorf("EventBridge %+v: want ≥ 2 duplicates and ≥ 4 deliveries to submit", st)
	}
	c := counts(req, w.ledger(req.RequestID))
	if c.Unique != 45 || c.Duplicates != 0 || e.Summary.Launched != 45 {
		t.Errorf("ledger %+v, summary %+v: want 45 tasks launched once", c, e.Summary)
	}
}

// TestBadRequestRejected submits an invalid request both ways: the
// execution fails at plan with PermanentError naming the field, the event
// starts no execution, and nothing is launched.
func TestBadRequestRejected(t *testing.T) {
	w := newWorld(t, setup{})
	bad := fargate("e2e-bad", 0) // ecs.count must be ≥ 1
	e := w.wait(w.start(bad), 30*time.Second)
	if e.Status != "FAILED" || e.Error != "PermanentError" || !strings.Contains(e.Cause, "ecs.count") {
		t.Errorf("execution %s %s %q: want FAILED with PermanentError naming ecs.count", e.Status, e.Error, e.Cause)
	}

	viaEvent := fargate("e2e-bad-event", 5)
	viaEvent.ECS.LaunchType = "LAMBDA" // not FARGATE, EC2 or EXTERNAL
	w.putLaunchRequested(viaEvent)
	if err := w.svc.Events.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := w.executionsNamed(submit.ExecutionName(viaEvent.RequestID)); n != 0 {
		t.Errorf("a bad LaunchRequested started %d executions, want 0", n)
	}
	for _, id := range []string{bad.RequestID, viaEvent.RequestID} {
		if got := w.ledger(id); len(got) != 0 {
			t.Errorf("%s: %d launches, want none", id, len(got))
		}
	}
	if st := w.stats(); st.Calls["ecs:RunTask"] != 0 {
		t.Errorf("RunTask called %d times for bad requests, want 0", st.Calls["ecs:RunTask"])
	}
}

// TestDeadlinePassed asks for 200 tasks in 20 s from a Fargate bucket that
// refills 1 task per second: the request must end with the units it could
// not launch in time failed and dead-lettered with a deadline reason, and
// nothing launched after the deadline.
func TestDeadlinePassed(t *testing.T) {
	slow := map[string]sim.Bucket{sim.BucketFargateTasks: {Burst: 10, Rate: 1}}
	w := newWorld(t, setup{sim: sim.Config{Buckets: slow}, config: func(c *configT) {
		c.LimitsJSON = `{"actions": {"ecs:FargateTasks": {"burst": 10, "rate": 1}}}`
	}})
	req := fargate("e2e-deadline", 200)
	req.DeadlineSeconds = 20
	submitted := w.now()
	e := w.wait(w.start(req), 90*time.Second)
	if e.Status != "FAILED" || e.Error != launch.ErrLaunchIncomplete {
		t.Fatalf("execution %s: %s %s; want FAILED LaunchIncomplete (units dead-lettered at the deadline)", e.Status, e.Error, e.Cause)
	}
	s := e.Summary
	t.Logf("summary: launched %d, failed %d, dead-lettered %d, reasons %v", s.Launched, s.Failed, s.DeadLettered, s.Reasons)
	if s.Launched+s.Failed != 200 || s.Failed == 0 || s.DeadLettered == 0 {
		t.Fatalf("summary %+v: want every unit launched or failed, some failed and dead-lettered", s)
	}
	deadlineReason := 0
	for reason, n := range s.Reasons {
		if strings.Contains(strings.ToLower(reason), "deadline") {
			deadlineReason += n
		}
	}
	if deadlineReason != s.Failed {
		t.Errorf("reasons %v: want all %d failed units to name the deadline", s.Reasons, s.Failed)
	}
	deadline := submitted.Add(20 * time.Second)
	late, worst := 0, 0.0
	for _, en := range w.ledger(req.RequestID) {
		if d := en.LaunchedAt.Sub(deadline).Seconds(); d > 2 {
			late, worst = late+1, max(worst, d)
		}
	}
	if late > 0 {
		t.Errorf("%d tasks launched after the deadline, the last %.1f s after it", late, worst)
	}
	c := counts(req, w.ledger(req.RequestID))
	if c.Unique != s.Launched || c.Duplicates != 0 {
		t.Errorf("ledger %+v vs summary launched %d", c, s.Launched)
	}
}
