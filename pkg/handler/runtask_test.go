package handler

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

type runTaskEnv struct {
	st      launchstore.Store
	clk     *clock.Fake
	ecs     *fakeECS
	ec2     *fakeEC2
	lim     *fakeLimiter
	metrics *countRecorder
	h       *RunTask
}

func newRunTaskEnv(t *testing.T) *runTaskEnv {
	t.Helper()
	st, _ := newTestStore(t)
	e := &runTaskEnv{st: st, clk: clock.NewFake(t0), ecs: &fakeECS{}, ec2: &fakeEC2{}, metrics: &countRecorder{}}
	e.lim = &fakeLimiter{clk: e.clk}
	e.h = NewRunTask(st, e.lim, e.ecs, e.ec2, func(o *RunTaskOptions) {
		o.Clock, o.DeferThreshold, o.AccountScope, o.Metrics = e.clk, 2*time.Second, "test", e.metrics
	})
	return e
}

func (e *runTaskEnv) run(t *testing.T, in RunTaskInput) (RunTaskOutput, error) {
	t.Helper()
	return e.h.Handle(context.Background(), in)
}

func TestRunTaskLaunchesChunk(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 25), t0)
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 2, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != StatusLaunched || out.Launched != 5 || out.Missing != 0 {
		t.Fatalf("got %+v, want launched 5 of 5", out)
	}
	calls := e.ecs.Calls()
	if len(calls) != 1 {
		t.Fatalf("got %d RunTask calls, want 1", len(calls))
	}
	in := calls[0]
	if got, want := aws.ToString(in.ClientToken), launch.ClientToken("r1", 2, 1); got != want {
		t.Errorf("clientToken: got %q, want %q", got, want)
	}
	if got, want := aws.ToString(in.StartedBy), launch.StartedBy("r1", 2, 1); got != want {
		t.Errorf("startedBy: got %q, want %q", got, want)
	}
	if got := aws.ToInt32(in.Count); got != 5 {
		t.Errorf("count: got %d, want 5", got)
	}
	if _, ok := e.ecs.opts[0].Retryer.(aws.NopRetryer); !ok {
		t.Errorf("RunTask retryer: got %T, want aws.NopRetryer (SDK retries off)", e.ecs.opts[0].Retryer)
	}
	// Fargate: one take per bucket, the tasks bucket weighted by the count.
	want := []limiter.Take{{Bucket: limiter.ECSRunTask, N: 1}, {Bucket: limiter.ECSFargateRunTask, N: 1}, {Bucket: limiter.ECSFargateTasks, N: 5}}
	if len(e.lim.reserves) != 1 || !slices.Equal(e.lim.reserves[0], want) {
		t.Errorf("reserves: got %v, want one of %v", e.lim.reserves, want)
	}
	st, _ := e.st.Chunk(context.Background(), "r1", 2)
	if len(st.IDs) != 5 {
		t.Errorf("stored ids: got %d, want 5", len(st.IDs))
	}
	// Again: nothing left to do, no call.
	out, err = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 2, Attempt: 2})
	if err != nil || out.Status != StatusDone || len(e.ecs.Calls()) != 1 {
		t.Fatalf("second run: got %+v, %v with %d calls; want done and no call", out, err, len(e.ecs.Calls()))
	}
}

func TestRunTaskDefersFarSlot(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.lim.waits = []time.Duration{4200 * time.Millisecond}
	var calledAt time.Time
	e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		calledAt = e.clk.Now()
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	slotAt := t0.Add(4200 * time.Millisecond)
	if out.Status != StatusDeferred || out.WaitSeconds != 4 || out.SlotAt == nil || !out.SlotAt.Equal(slotAt) ||
		out.Slot == nil || !out.Slot.At.Equal(slotAt) || len(out.Slot.Positions) != 3 {
		t.Fatalf("got %+v, want deferred 4 s (4.2 s rounded down) with the whole slot and its time", out)
	}
	if n := len(e.ecs.Calls()); n != 0 {
		t.Fatalf("deferred run made %d calls", n)
	}
	// The slot survives the state machine's JSON.
	b, _ := json.Marshal(out)
	var in RunTaskInput
	if err := json.Unmarshal(b, &in); err != nil || in.Slot == nil || len(in.Slot.Positions) != 3 {
		t.Fatalf("output as the next input: %+v, %v", in, err)
	}
	// After the Wait: the held slot is re-checked, the rest slept, no new
	// reservation; the call lands on the slot.
	e.clk.Advance(time.Duration(out.WaitSeconds) * time.Second)
	out, err = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Slot: in.Slot})
	if err != nil || out.Status != StatusLaunched {
		t.Fatalf("got %+v, %v; want launched", out, err)
	}
	if len(e.lim.reserves) != 1 || len(e.lim.rechecks) != 1 {
		t.Errorf("reserves %d, rechecks %d; want 1 and 1 (the slot was held)", len(e.lim.reserves), len(e.lim.rechecks))
	}
	if !calledAt.Equal(slotAt) {
		t.Errorf("called at %v, want at the slot %v", calledAt, slotAt)
	}
}

// A slot within the threshold is waited for in the invocation: the call is
// made at the slot, not ahead of the bucket.
func TestRunTaskNearSlotCallsAtTheSlot(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.lim.waits = []time.Duration{2 * time.Second} // = threshold: not further
	var calledAt time.Time
	e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		calledAt = e.clk.Now()
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || out.Status != StatusLaunched {
		t.Fatalf("got %+v, %v; want launched", out, err)
	}
	if slot := t0.Add(2 * time.Second); calledAt.Before(slot) {
		t.Fatalf("called at %v, %v before its slot", calledAt, slot.Sub(calledAt))
	}
}

// A wait the Lambda deadline cannot hold is deferred with the slot held,
// and a wait cut short makes no call: the attempt is replayed later.
func TestRunTaskNearSlotDeadlineAndCancel(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 20), t0)
	e.lim.waits = []time.Duration{1500 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // < wait + callReserve
	defer cancel()
	out, err := e.h.Handle(ctx, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || out.Status != StatusDeferred || out.Slot == nil || out.WaitSeconds != 1 {
		t.Fatalf("got %+v, %v; want deferred 1 s (1.5 s rounded down) with the slot", out, err)
	}

	h := NewRunTask(e.st, e.lim, e.ecs, e.ec2, func(o *RunTaskOptions) {
		o.Clock, o.DeferThreshold = sleepless{e.clk}, 2*time.Second
	})
	e.lim.waits = []time.Duration{time.Second}
	_, err = h.Handle(context.Background(), RunTaskInput{RequestID: "r1", Chunk: 1, Attempt: 1})
	var te *failure.TransientError
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want a transient error", err)
	}
	if n := len(e.ecs.Calls()); n != 0 {
		t.Fatalf("%d calls made without waiting for the slot", n)
	}
	st, _ := e.st.Chunk(context.Background(), "r1", 1)
	if rec, ok := st.Unsettled(); !ok || rec.Attempt != 1 {
		t.Fatalf("attempt not kept for replay: %+v", st.Attempts)
	}
}

func TestRunTaskPartialRetriesOnlyMissing(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.respond = func(n int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		if n == 1 {
			out := e.ecs.launch(7)
			for range 3 {
				out.Failures = append(out.Failures, ecstypes.Failure{Reason: aws.String("Capacity is unavailable at this time. Please try again later or in a different availability zone")})
			}
			return out, nil
		}
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != StatusPartial || out.Launched != 7 || out.Missing != 3 || len(out.Failures) != 3 {
		t.Fatalf("got %+v, want partial 7 launched, 3 missing, 3 failures", out)
	}
	// The same attempt again is answered from the table, not called again.
	again, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || again.Status != StatusPartial || len(e.ecs.Calls()) != 1 {
		t.Fatalf("replayed attempt: got %+v, %v, %d calls; want partial from the table, 1 call", again, err, len(e.ecs.Calls()))
	}
	// A definitive failure: the next attempt has a new token, for the 3 missing.
	out, err = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 2})
	if err != nil || out.Status != StatusLaunched || out.Launched != 10 {
		t.Fatalf("attempt 2: got %+v, %v; want launched 10", out, err)
	}
	c := e.ecs.Calls()[1]
	if aws.ToInt32(c.Count) != 3 || aws.ToString(c.ClientToken) != launch.ClientToken("r1", 0, 2) || aws.ToString(c.StartedBy) != launch.StartedBy("r1", 0, 2) {
		t.Errorf("attempt 2 call: count %d token %q startedBy %q; want 3 with attempt 2's identity",
			aws.ToInt32(c.Count), aws.ToString(c.ClientToken), aws.ToString(c.StartedBy))
	}
}

func TestRunTaskNothingLaunched(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.respond = func(int, *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		out := &ecs.RunTaskOutput{}
		for range 10 {
			out.Failures = append(out.Failures, ecstypes.Failure{Reason: aws.String("RESOURCE:MEMORY")})
		}
		return out, nil
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || out.Status != StatusPartial || out.Launched != 0 || out.Missing != 10 || len(out.Failures) != 10 {
		t.Fatalf("got %+v, %v; want partial with 0 launched and 10 failures", out, err)
	}
}

func TestRunTaskLostResponseReusesToken(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.loseResponse = map[int]bool{1: true}
	_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	var te *failure.TransientError
	if !errors.As(err, &te) {
		t.Fatalf("got %T %v, want *failure.TransientError", err, err)
	}
	// Whatever attempt the caller names next, the unsettled call is
	// repeated first with its own token and parameters.
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 2})
	if err != nil || out.Status != StatusLaunched || out.Launched != 10 || out.Attempt != 1 {
		t.Fatalf("got %+v, %v; want launched 10 by replaying attempt 1", out, err)
	}
	calls := e.ecs.Calls()
	if len(calls) != 2 || aws.ToString(calls[1].ClientToken) != aws.ToString(calls[0].ClientToken) || aws.ToInt32(calls[1].Count) != 10 {
		t.Fatalf("got %d calls, second token %q count %d; want the first call repeated", len(calls), aws.ToString(calls[1].ClientToken), aws.ToInt32(calls[1].Count))
	}
	if e.ecs.seq != 10 {
		t.Errorf("tasks launched: got %d, want 10 (no duplicate)", e.ecs.seq)
	}
}

func TestRunTaskThrottledSignalsAndRepeatsAttempt(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.ecs.respond = func(n int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		if n == 1 {
			return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
		}
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	var th *failure.ThrottledError
	if !errors.As(err, &th) || th.Code != "ThrottlingException" {
		t.Fatalf("got %T %v, want *failure.ThrottledError ThrottlingException", err, err)
	}
	// One signal, on the binding bucket, with the call's position there.
	want := []string{"ecs/ecs:FargateTasks/ThrottlingException"}
	if !slices.Equal(e.lim.signals, want) {
		t.Errorf("signals: got %v, want %v", e.lim.signals, want)
	}
	if p := e.lim.sigs[0].Position; p.Bucket != limiter.ECSFargateTasks || p.N != 10 || p.End != 10 || !e.lim.sigs[0].At.Equal(t0) {
		t.Errorf("signal: got %+v, want the call's position in ecs:FargateTasks (end 10, n 10) at %v", e.lim.sigs[0], t0)
	}
	st, _ := e.st.Chunk(context.Background(), "r1", 0)
	if got := st.Attempts[1].State; got != launch.AttemptFailed {
		t.Errorf("attempt 1 state: got %q, want %q", got, launch.AttemptFailed)
	}
	// The repeat is "sent" again while it runs: its response is lost, so a
	// later invocation must replay it, not move on to a new token.
	e.ecs.loseResponse = map[int]bool{2: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); errorTypeName(err) != "TransientError" {
		t.Fatalf("repeat: got %v, want TransientError", err)
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 2})
	if err != nil || out.Status != StatusLaunched || out.Attempt != 1 || e.ecs.seq != 10 {
		t.Fatalf("after a lost repeat: got %+v, %v, %d tasks; want attempt 1 replayed, 10 tasks", out, err, e.ecs.seq)
	}
}

func TestRunTaskErrorTypes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		want string
	}{
		"throttled": {&smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, "ThrottledError"},
		"wrapped throttle": {&smithy.GenericAPIError{Code: "InvalidParameterException",
			Message: "Rate exceeded (ErrorCode: Throttling)"}, "ThrottledError"},
		"server":  {&smithy.GenericAPIError{Code: "ServerException", Message: "oops", Fault: smithy.FaultServer}, "TransientError"},
		"bad def": {&smithy.GenericAPIError{Code: "ClientException", Message: "TaskDefinition not found", Fault: smithy.FaultClient}, "PermanentError"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRunTaskEnv(t)
			plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
			e.ecs.respond = func(int, *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) { return nil, tt.err }
			_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
			if got := errorTypeName(err); got != tt.want {
				t.Fatalf("got %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}

func errorTypeName(err error) string {
	switch err.(type) {
	case *failure.ThrottledError:
		return "ThrottledError"
	case *failure.CapacityError:
		return "CapacityError"
	case *failure.QuotaError:
		return "QuotaError"
	case *failure.TransientError:
		return "TransientError"
	case *failure.PermanentError:
		return "PermanentError"
	}
	return "other"
}

func TestRunTaskUnknownRequestIsPermanent(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	_, err := e.run(t, RunTaskInput{RequestID: "nope", Chunk: 0, Attempt: 1})
	if errorTypeName(err) != "PermanentError" {
		t.Fatalf("got %T %v, want PermanentError", err, err)
	}
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 1, Attempt: 1}); errorTypeName(err) != "PermanentError" {
		t.Fatalf("chunk out of range: got %T %v, want PermanentError", err, err)
	}
}

func TestRunTaskEC2FailoverOrder(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.EC2Request("r1", 30), t0)
	noCapacity := map[string]bool{"c7g.large#subnet-a": true, "c7g.large#subnet-b": true}
	e.ec2.respond = func(in *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
		if noCapacity[string(in.InstanceType)+"#"+aws.ToString(in.SubnetId)] {
			return nil, &smithy.GenericAPIError{Code: "InsufficientInstanceCapacity", Message: "We currently do not have sufficient c7g.large capacity in the Availability Zone you requested.", Fault: smithy.FaultServer}
		}
		return e.ec2.instances(int(aws.ToInt32(in.MaxCount))), nil
	}
	var got []string
	for attempt := 1; attempt <= 3; attempt++ {
		out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: attempt})
		c := e.ec2.calls[len(e.ec2.calls)-1]
		got = append(got, string(c.InstanceType)+"#"+aws.ToString(c.SubnetId))
		if attempt < 3 {
			var ce *failure.CapacityError
			if !errors.As(err, &ce) || ce.ScopeValue != got[len(got)-1] {
				t.Fatalf("attempt %d: got %T %v, want CapacityError scoped to %s", attempt, err, err, got[len(got)-1])
			}
			continue
		}
		if err != nil || out.Status != StatusLaunched || out.Launched != 30 {
			t.Fatalf("attempt 3: got %+v, %v; want launched 30", out, err)
		}
	}
	want := []string{"c7g.large#subnet-a", "c7g.large#subnet-b", "c6g.large#subnet-a"}
	if !slices.Equal(got, want) {
		t.Fatalf("placements: got %v, want %v", got, want)
	}
	c := e.ec2.calls[2]
	if aws.ToInt32(c.MinCount) != 1 || aws.ToInt32(c.MaxCount) != 30 || aws.ToString(c.ClientToken) != launch.ClientToken("r1", 0, 3) {
		t.Errorf("call: min %d max %d token %q", aws.ToInt32(c.MinCount), aws.ToInt32(c.MaxCount), aws.ToString(c.ClientToken))
	}
	tags := map[string]string{}
	for _, tg := range c.TagSpecifications[0].Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags[launch.TagStartedBy] != launch.StartedBy("r1", 0, 3) || tags[launch.TagRequestID] != "r1" {
		t.Errorf("tags: got %v", tags)
	}
	// The marks are fleet-wide: a second request starts on the next free placement.
	plan(t, e.st, launchtest.EC2Request("r2", 5), t0)
	if _, err := e.run(t, RunTaskInput{RequestID: "r2", Chunk: 0, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if c := e.ec2.calls[3]; string(c.InstanceType)+"#"+aws.ToString(c.SubnetId) != "c6g.large#subnet-a" {
		t.Errorf("second request placed in %s#%s, want c6g.large#subnet-a", c.InstanceType, aws.ToString(c.SubnetId))
	}
	// When the marks expire the preferred placement is used again.
	e.clk.Advance(6 * time.Minute)
	noCapacity = nil
	plan(t, e.st, launchtest.EC2Request("r3", 5), e.clk.Now())
	if _, err := e.run(t, RunTaskInput{RequestID: "r3", Chunk: 0, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if c := e.ec2.calls[4]; string(c.InstanceType) != "c7g.large" || aws.ToString(c.SubnetId) != "subnet-a" {
		t.Errorf("after expiry placed in %s#%s, want c7g.large#subnet-a", c.InstanceType, aws.ToString(c.SubnetId))
	}
}

func TestRunTaskEC2PartialMarksAndFailsOver(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.EC2Request("r1", 50), t0)
	e.ec2.respond = func(in *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
		if len(e.ec2.calls) == 1 {
			return e.ec2.instances(20), nil // EC2 met MinCount, not MaxCount
		}
		return e.ec2.instances(int(aws.ToInt32(in.MaxCount))), nil
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || out.Status != StatusPartial || out.Missing != 30 || out.Failures[0].Reason != "InsufficientInstanceCapacity" {
		t.Fatalf("got %+v, %v; want partial, 30 missing, InsufficientInstanceCapacity", out, err)
	}
	out, err = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 2})
	if err != nil || out.Status != StatusLaunched {
		t.Fatalf("attempt 2: got %+v, %v", out, err)
	}
	if c := e.ec2.calls[1]; aws.ToString(c.SubnetId) != "subnet-b" || aws.ToInt32(c.MaxCount) != 30 {
		t.Errorf("attempt 2: %s × %d, want subnet-b × 30", aws.ToString(c.SubnetId), aws.ToInt32(c.MaxCount))
	}
}

func TestRunTaskExcludeAll(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.EC2Request("r1", 5), t0)
	all := []string{"c7g.large#subnet-a", "c7g.large#subnet-b", "c6g.large#subnet-a", "c6g.large#subnet-b"}
	_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Exclude: all})
	var ce *failure.CapacityError
	if !errors.As(err, &ce) || ce.Code != "NoPlacementAvailable" || len(e.ec2.calls) != 0 {
		t.Fatalf("got %v with %d calls, want CapacityError NoPlacementAvailable and no call", err, len(e.ec2.calls))
	}
}

// A slot held across a Wait for a chunk that needs no call any more goes
// back exactly; a legacy slotAt (only a time) has nothing to give back.
func TestRunTaskReleasesHeldSlotWhenDone(t *testing.T) {
	t.Parallel()
	at := t0.Add(3 * time.Second)
	held := limiter.Slot{At: at, Binding: limiter.ECSFargateTasks, Positions: []limiter.Position{
		{Bucket: limiter.ECSRunTask, End: 7, N: 1, At: at}, {Bucket: limiter.ECSFargateTasks, End: 70, N: 10, At: at}}}
	for name, tc := range map[string]struct {
		in       RunTaskInput
		releases int
	}{
		"slot":   {RunTaskInput{Slot: &held}, 1},
		"slotAt": {RunTaskInput{SlotAt: &at}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRunTaskEnv(t)
			plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
			if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil {
				t.Fatal(err)
			}
			in := tc.in
			in.RequestID, in.Chunk, in.Attempt = "r1", 0, 1
			out, err := e.run(t, in)
			if err != nil || out.Status != StatusLaunched || len(e.lim.releases) != tc.releases || len(e.ecs.Calls()) != 1 {
				t.Fatalf("got %+v, %v, %d releases, %d calls; want launched, %d release, no new call", out, err, len(e.lim.releases), len(e.ecs.Calls()), tc.releases)
			}
			if tc.releases == 1 && !reflect.DeepEqual(e.lim.releases[0], held) {
				t.Errorf("released %+v, want the held slot %+v", e.lim.releases[0], held)
			}
		})
	}
}

func TestRunTaskRetakesStaleSlot(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	// The limiter answers with a slot 3 s in the past: its clock reading was
	// stale by then. The slot is taken again once, then used.
	e.lim.waits = []time.Duration{-3 * time.Second, 0}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || out.Status != StatusLaunched {
		t.Fatalf("got %+v, %v; want launched", out, err)
	}
	if n := len(e.lim.reserves); n != 2 {
		t.Errorf("reserves: got %d, want 2 (the stale slot taken again)", n)
	}
	// Slightly late (within StaleSlot) is used as it is.
	plan(t, e.st, launchtest.ECSRequest("r2", 10), t0)
	e.lim.waits = []time.Duration{-500 * time.Millisecond}
	if _, err := e.run(t, RunTaskInput{RequestID: "r2", Chunk: 0, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.lim.reserves); n != 3 {
		t.Errorf("reserves: got %d, want 3", n)
	}
}

// GIVEN a limiter whose store is busy (it timed out)
// WHEN runtask reserves
// THEN nothing is called and nothing is left "sent": the chunk is deferred
// for the limiter's 5 s retry-after, spending no attempt; after the wait
// the same attempt is made (old code: a LimiterStoreBusy error that left
// the uncalled attempt "sent", outcome unknown)
func TestRunTaskLimiterBusyDefers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.lim.err = &limiter.StoreBusyError{Key: "ecs", Wait: 5 * time.Second, Err: context.DeadlineExceeded}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || out.Status != StatusDeferred || out.WaitSeconds != 5 || out.Slot == nil {
		t.Fatalf("got %+v, %v; want deferred 5 s with a slot that holds nothing", out, err)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if u, ok := st.Unsettled(); ok || st.Retries != 0 || len(e.ecs.Calls()) != 0 {
		t.Fatalf("attempt %+v left unknown (%v), retries %d, calls %d; want none", u, ok, st.Retries, len(e.ecs.Calls()))
	}
	e.lim.err = nil
	e.clk.Advance(5 * time.Second)
	out, err = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Slot: out.Slot})
	if err != nil || out.Status != StatusLaunched || out.Attempt != 1 || len(e.lim.reserves) != 1 {
		t.Fatalf("after the wait: %+v, %v, %d reserves; want attempt 1 launched under one new slot", out, err, len(e.lim.reserves))
	}
}

// GIVEN a busy limiter and a request whose deadline comes before the
// limiter's retry-after
// THEN the new attempt is not made: partial with DeadlinePassed, nothing
// called, nothing left unknown
func TestRunTaskLimiterBusyBoundedByDeadline(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 3
	plan(t, e.st, r, t0)
	e.lim.err = &limiter.BacklogFullError{Wait: 10 * time.Second}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || out.Status != StatusPartial || len(out.Failures) != 1 || out.Failures[0].Reason != CodeDeadlinePassed {
		t.Fatalf("got %+v, %v; want partial DeadlinePassed", out, err)
	}
	if st, _ := e.st.Chunk(context.Background(), "r1", 0); len(e.ecs.Calls()) != 0 || st.Attempts[1].State == launch.AttemptSent {
		t.Fatalf("calls %d, attempt %+v; want no call and the attempt not sent", len(e.ecs.Calls()), st.Attempts[1])
	}
}
