package handler

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
)

func TestQuotaWaitInterval(t *testing.T) {
	t.Parallel()
	tests := []struct{ waited, want time.Duration }{
		{0, 10 * time.Second},
		{199 * time.Second, 10 * time.Second},
		{400 * time.Second, 20 * time.Second},
		{time.Hour, 180 * time.Second},
		{12000 * time.Second, 600 * time.Second},
		{7 * 24 * time.Hour, 600 * time.Second},
	}
	for _, tt := range tests {
		if got := QuotaWaitInterval(tt.waited); got != tt.want {
			t.Errorf("QuotaWaitInterval(%v) = %v, want %v", tt.waited, got, tt.want)
		}
	}
}

// TestQuotaWaitFitsHistoryAtMaxDeadline: a chunk that waits for quota for
// the longest deadline (7 days) loops RunTask → Classify → Retry → Backoff
// in the launch state machine; its child execution's history must stay
// under Step Functions' 25,000 events. The events of one turn are counted
// from the definition (a Task state writes 5 events — entered, scheduled,
// started, succeeded or failed, exited —, a Choice or Wait 2), the turns
// from the wait schedule.
func TestQuotaWaitFitsHistoryAtMaxDeadline(t *testing.T) {
	t.Parallel()
	perTurn := quotaTurnEvents(t)
	turns, waited, prev := 0, time.Duration(0), time.Duration(0)
	for waited < launch.MaxDeadline {
		w := QuotaWaitInterval(waited)
		if w < prev {
			t.Fatalf("wait shrank: %v after %v", w, prev)
		}
		prev, waited = w, waited+w
		turns++
	}
	const head = 50 // the child's start, its first call and its end
	if events := head + turns*perTurn; events >= 25000 {
		t.Fatalf("%d turns × %d events = %d history events at the 7-day deadline, limit 25,000", turns, perTurn, events)
	} else {
		t.Logf("%d turns × %d events + %d = %d events", turns, perTurn, head, events)
	}
}

// quotaTurnEvents counts the history events of one turn of the chunk's
// retry loop in statemachines/launch.asl.json.
func quotaTurnEvents(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("../../statemachines/launch.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		States map[string]struct {
			ItemProcessor struct {
				States map[string]struct {
					Type string
					Next string
				}
			}
		}
	}
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	states := def.States["Chunks"].ItemProcessor.States
	loop := []string{"RunTask", "Outcome", "Classify", "Retry", "Decision", "Backoff"}
	n := 0
	for _, name := range loop {
		s, ok := states[name]
		switch {
		case !ok:
			t.Fatalf("state %s not in the chunk's loop", name)
		case s.Type == "Task":
			n += 5
		default:
			n += 2
		}
	}
	if states["Backoff"].Next != "RunTask" || states["Classify"].Next != "Retry" || states["Retry"].Next != "Decision" {
		t.Fatalf("the retry loop changed: %+v", states)
	}
	return n
}

const vcpuReason = "You've reached the limit on the number of vCPUs you can run concurrently"

// quotaECS answers with the Fargate vCPU quota's failures[] until free.
func quotaECS(e *runTaskEnv, free *bool) {
	e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		if *free {
			return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
		}
		out := &ecs.RunTaskOutput{}
		for range aws.ToInt32(in.Count) {
			out.Failures = append(out.Failures, ecstypes.Failure{Reason: aws.String(vcpuReason)})
		}
		return out, nil
	}
}

// drive runs a chunk through the state machine's loop (runtask, classify,
// retry, Backoff on the clock) until it launches or is given up; turn is
// called before each runtask. It returns the last retry answer (zero if
// it launched) and the times of the ECS calls.
func drive(t *testing.T, e *retryEnv, id string, turn func(n int)) (RetryOutput, []time.Time) {
	t.Helper()
	return driveCalls(t, e, id, turn, func() int { return len(e.ecs.Calls()) })
}

func driveCalls(t *testing.T, e *retryEnv, id string, turn func(n int), made func() int) (RetryOutput, []time.Time) {
	t.Helper()
	ctx := context.Background()
	in := RunTaskInput{RequestID: id, Chunk: 0, Attempt: 1}
	var calls []time.Time
	for n := 0; n < 5000; n++ {
		turn(n)
		before := made()
		out, err := e.run(t, in)
		if made() > before {
			calls = append(calls, e.clk.Now())
		}
		if err == nil && out.Status == StatusLaunched {
			return RetryOutput{}, calls
		}
		var c failure.Classification
		if err != nil {
			c = failure.ClassifyError(err)
		} else {
			b, _ := json.Marshal(out)
			c = failure.Classify(b)
		}
		r, err := e.r.Handle(ctx, RetryInput{RequestID: id, Chunk: 0, Attempt: in.Attempt, Classification: &c, Failures: out.Failures})
		if err != nil {
			t.Fatal(err)
		}
		if r.Action == ActionGiveUp {
			return r, calls
		}
		e.clk.Advance(time.Duration(r.WaitSeconds) * time.Second)
		in.Attempt, in.ReuseToken = r.Attempt, r.ReuseToken
	}
	t.Fatal("the chunk neither launched nor was given up")
	return RetryOutput{}, nil
}

// TestQuotaAsQueue: a chunk refused for the Fargate vCPU quota waits,
// spending none of its attempts, and probes at most once per 30 s — or at
// once when one of the request's tasks stops — then launches; without
// capacity it is given up at the deadline with class quota.
func TestQuotaAsQueue(t *testing.T) {
	t.Parallel()
	t.Run("a stop frees capacity", func(t *testing.T) {
		t.Parallel()
		e := newRetryEnv(t, 0)
		e.r.o.Metrics = e.metrics
		free := false
		quotaECS(&e.runTaskEnv, &free)
		plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
		var stoppedAt time.Time
		last, calls := drive(t, e, "r1", func(int) {
			// The stop comes while the gate would refuse a probe (the last
			// one less than 30 s ago): it opens the gate.
			g, err := e.st.QuotaGate(context.Background(), "r1")
			if err != nil {
				t.Fatal(err)
			}
			if now := e.clk.Now(); now.Sub(t0) >= 2*time.Minute && now.Sub(g.ProbedAt) < QuotaProbeEvery && stoppedAt.IsZero() {
				free, stoppedAt = true, e.clk.Now()
				if err := e.st.NoteTaskStopped(context.Background(), "r1"); err != nil {
					t.Fatal(err)
				}
			}
		})
		if last.Action != "" {
			t.Fatalf("gave up: %+v", last)
		}
		if got := calls[len(calls)-1]; !got.Equal(stoppedAt) {
			t.Errorf("launched at %v, want at the first turn after the stop (%v)", got, stoppedAt)
		}
		checkProbes(t, calls[:len(calls)-1])
		state, _ := e.st.Chunk(context.Background(), "r1", 0)
		if state.Retries != 0 || !state.QuotaWaitSince.IsZero() || state.Launched() != 10 {
			t.Errorf("chunk: retries %d, quota wait since %v, launched %d; want 0, cleared, 10", state.Retries, state.QuotaWaitSince, state.Launched())
		}
		if got := e.metrics.get(MetricQuotaProbes); int(got) != len(calls)-1 {
			t.Errorf("QuotaProbes %v, want %d (every call after the first)", got, len(calls)-1)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		e := newRetryEnv(t, 0)
		free := false
		quotaECS(&e.runTaskEnv, &free)
		r := launchtest.ECSRequest("r1", 10)
		r.DeadlineSeconds = 1800
		plan(t, e.st, r, t0)
		last, calls := drive(t, e, "r1", func(int) {})
		if last.Action != ActionGiveUp {
			t.Fatalf("got %+v, want giveup", last)
		}
		checkProbes(t, calls)
		var dl DeadLetter
		if err := json.Unmarshal([]byte(e.sqs.msgs[0]), &dl); err != nil || dl.Class != string(failure.Quota) || dl.Missing != 10 {
			t.Fatalf("dead letter %s: %v; want class quota, 10 missing", e.sqs.msgs[0], err)
		}
		if gap := t0.Add(30 * time.Minute).Sub(e.clk.Now()); gap < 0 || gap > time.Duration(0.05*1800)*time.Second {
			t.Errorf("given up %v before the deadline, want within the last wait (5 %% of 30 min)", gap)
		}
		state, _ := e.st.Chunk(context.Background(), "r1", 0)
		if state.Retries != 0 || len(calls) < 30 {
			t.Errorf("retries %d, %d probes in 30 min; want 0 and about one per 30 s", state.Retries, len(calls))
		}
	})
}

// checkProbes: calls without a stop in between are at least 30 s apart.
func checkProbes(t *testing.T, calls []time.Time) {
	t.Helper()
	for i := 1; i < len(calls); i++ {
		if d := calls[i].Sub(calls[i-1]); d < QuotaProbeEvery {
			t.Errorf("probes %d and %d %v apart, want ≥ %v", i-1, i, d, QuotaProbeEvery)
		}
	}
}

// TestQuotaExceptionRepeatsAttempt: RunInstances refused with
// VcpuLimitExceeded (an exception: the token bound nothing) waits for
// quota and makes the same attempt again, with its token, when a probe is
// granted: one attempt record however long the wait.
func TestQuotaExceptionRepeatsAttempt(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.EC2Request("r1", 3), t0)
	var tokens []string
	e.ec2.respond = func(in *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error) {
		tokens = append(tokens, aws.ToString(in.ClientToken))
		if len(tokens) < 6 {
			return nil, &smithy.GenericAPIError{Code: "VcpuLimitExceeded", Message: "You have requested more vCPU capacity than your current vCPU limit of 32 allows"}
		}
		return e.ec2.instances(int(aws.ToInt32(in.MaxCount))), nil
	}
	last, calls := driveCalls(t, e, "r1", func(int) {}, func() int { return len(tokens) })
	if last.Action != "" || len(calls) != 6 {
		t.Fatalf("got %+v after %d calls, want launched at the 6th", last, len(calls))
	}
	checkProbes(t, calls)
	state, _ := e.st.Chunk(context.Background(), "r1", 0)
	if len(state.Attempts) != 1 || state.Retries != 0 || state.Launched() != 3 {
		t.Fatalf("attempts %d retries %d launched %d; want 1, 0, 3", len(state.Attempts), state.Retries, state.Launched())
	}
	for _, tk := range tokens {
		if tk != tokens[0] {
			t.Fatalf("tokens %v: want one attempt's token", tokens)
		}
	}
}

// TestHoldForQuota: the relaunch path's decision for a unit that met a
// quota: the first meeting starts the wait (and counts as a probe), a
// probe is granted 30 s after the last or after a stop, and the deadline
// ends the wait.
func TestHoldForQuota(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	ctx := context.Background()
	plan(t, st, launchtest.ECSRequest("r1", 10), t0)
	m := &countRecorder{}
	deadline := t0.Add(time.Hour)
	hold := func(now time.Time) QuotaHold {
		state, err := st.Chunk(ctx, "r1", 0)
		if err != nil {
			t.Fatal(err)
		}
		h, err := HoldForQuota(ctx, st, m, "r1", 0, state, deadline, now)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := hold(t0); h.Probe || h.Wait != 10*time.Second || !h.Since.Equal(t0) {
		t.Fatalf("first: %+v, want a 10 s wait since t0", h)
	}
	if h := hold(t0.Add(20 * time.Second)); h.Probe {
		t.Fatalf("20 s later: %+v, want no probe", h)
	}
	if h := hold(t0.Add(30 * time.Second)); !h.Probe {
		t.Fatalf("30 s later: %+v, want a probe", h)
	}
	if err := st.NoteTaskStopped(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if h := hold(t0.Add(35 * time.Second)); !h.Probe {
		t.Fatalf("after a stop: %+v, want a probe", h)
	}
	if h := hold(deadline.Add(-5 * time.Second)); !h.Probe {
		t.Fatalf("5 s before the deadline: %+v, want a probe", h)
	}
	if h := hold(deadline.Add(-5 * time.Second)); h.Probe || !h.GiveUp || h.Reason == "" {
		t.Fatalf("no probe and the next wait past the deadline: %+v, want a give-up", h)
	}
	if m.get(MetricQuotaProbes) != 3 {
		t.Errorf("QuotaProbes %v, want 3", m.get(MetricQuotaProbes))
	}
	for reason, want := range map[string]bool{
		vcpuReason: true,
		"You've reached the limit on the number of tasks you can run concurrently": true,
		"Timeout waiting for network interface provisioning to complete.":          false,
	} {
		if IsQuotaStop(reason) != want {
			t.Errorf("IsQuotaStop(%q) = %v, want %v", reason, !want, want)
		}
	}
}

// TestQuotaWaitEndsAtTheDeadlineAsQuota: a chunk waiting for quota whose
// probe found no slot before the deadline (runtask's DeadlinePassed) is
// given up as a quota failure that names the quota last refused, not as
// a bare deadline.
func TestQuotaWaitEndsAtTheDeadlineAsQuota(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	free := false
	quotaECS(&e.runTaskEnv, &free)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 600
	plan(t, e.st, r, t0)
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	c := classification(failure.Quota, "FargateVCPULimitExceeded", 0)
	if out, err := e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: c}); err != nil || out.Action != ActionRetry {
		t.Fatalf("first quota refusal: %+v, %v; want a wait", out, err)
	}
	e.clk.Advance(10 * time.Minute)
	out, err := e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 0, Attempt: 2,
		Classification: classification(failure.Transient, CodeDeadlinePassed, 0)})
	if err != nil || out.Action != ActionGiveUp {
		t.Fatalf("deadline while waiting: %+v, %v; want a give-up", out, err)
	}
	var dl DeadLetter
	if err := json.Unmarshal([]byte(e.sqs.msgs[len(e.sqs.msgs)-1]), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Class != string(failure.Quota) || !strings.Contains(dl.Reason, "last refused") || !strings.Contains(dl.Reason, "vCPU") {
		t.Errorf("dead letter class %q reason %q: want class quota naming the vCPU quota last refused", dl.Class, dl.Reason)
	}
}
