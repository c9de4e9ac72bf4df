package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// scriptECS is fakeECS with a script: before[n] runs before call n (outside
// the fake's lock, so it may invoke the handler again), fail[n] answers
// call n with an error without reaching ECS. ListTasks lists the tasks
// launched with a startedBy, hiding the last `hidden` of them from the
// first hideLooks looks (the listing is eventually consistent).
type scriptECS struct {
	*fakeECS
	before    map[int]func()
	fail      map[int]error
	hidden    int
	hideLooks int

	mu    sync.Mutex
	n     int
	looks []*ecs.ListTasksInput
}

func (s *scriptECS) RunTask(ctx context.Context, in *ecs.RunTaskInput, optFns ...func(*ecs.Options)) (*ecs.RunTaskOutput, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	if f := s.before[n]; f != nil {
		f()
	}
	if err := s.fail[n]; err != nil {
		return nil, err
	}
	return s.fakeECS.RunTask(ctx, in, optFns...)
}

func (s *scriptECS) ListTasks(_ context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	s.mu.Lock()
	s.looks = append(s.looks, in)
	look := len(s.looks)
	s.mu.Unlock()
	arns := s.started(aws.ToString(in.StartedBy))
	if look <= s.hideLooks {
		arns = arns[:max(0, len(arns)-s.hidden)]
	}
	return &ecs.ListTasksOutput{TaskArns: arns}, nil
}

// started lists the tasks launched with startedBy.
func (f *fakeECS) started(startedBy string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var arns []string
	seen := map[string]bool{}
	for _, c := range f.calls {
		tok := aws.ToString(c.ClientToken)
		if aws.ToString(c.StartedBy) != startedBy || seen[tok] || f.byToken[tok] == nil {
			continue
		}
		seen[tok] = true
		for _, t := range f.byToken[tok].Tasks {
			arns = append(arns, aws.ToString(t.TaskArn))
		}
	}
	return arns
}

func newScriptEnv(t *testing.T, sc *scriptECS, optFns ...func(*RunTaskOptions)) *retryEnv {
	t.Helper()
	e := newRetryEnv(t, 0)
	sc.fakeECS = e.ecs
	e.h = NewRunTask(e.st, e.lim, sc, e.ec2, append([]func(*RunTaskOptions){func(o *RunTaskOptions) {
		o.Clock, o.DeferThreshold, o.AccountScope, o.Metrics = e.clk, 2*time.Second, "test", e.metrics
	}}, optFns...)...)
	return e
}

// scriptPlan is newScriptEnv with request r1 of 10 tasks planned.
func scriptPlan(t *testing.T, sc *scriptECS, optFns ...func(*RunTaskOptions)) *retryEnv {
	t.Helper()
	e := newScriptEnv(t, sc, optFns...)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	return e
}

var errProvisioning = &smithy.GenericAPIError{Code: "ClientException", Message: "Tasks provisioning capacity limit exceeded"}

// GIVEN two invocations of one attempt (Step Functions retried an
// invocation that still runs): A's send is refused for capacity, but only
// after B's replay of the same attempt launched the chunk
// THEN A cannot mark the attempt failed: it was no longer A's send (old
// code: "failed" over B's answer, and a new token launched the chunk again)
func TestRunTaskStaleInvocationCannotFailAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sc := &scriptECS{fail: map[int]error{1: errProvisioning}}
	e := scriptPlan(t, sc)
	var bOut RunTaskOutput
	var bErr error
	sc.before = map[int]func(){1: func() {
		bOut, bErr = e.h.Handle(ctx, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	}}
	_, aErr := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if bErr != nil || bOut.Status != StatusLaunched {
		t.Fatalf("B: %+v, %v; want launched", bOut, bErr)
	}
	if aErr == nil {
		t.Fatal("A: nil error, want its capacity refusal")
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if a := st.Attempts[1]; a.State != launch.AttemptDone || a.Launched != 10 || a.Sends != 2 {
		t.Fatalf("attempt 1 %+v: want done with B's 10 tasks after 2 sends", a)
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 2})
	if err != nil || out.Status != StatusDone || e.ecs.seq != 10 {
		t.Fatalf("next attempt: %+v, %v, %d tasks; want done, 10 tasks", out, err, e.ecs.seq)
	}
}

// GIVEN an attempt whose response was lost
// WHEN its replay (same token) is answered with a non-throttle error
// THEN the outcome stays unknown (a transient ReplayUnsettled, same token
// next), and the next replay's success settles it: 10 tasks, not 20 (old
// code: the refusal counted as definitive, a new token launched again)
func TestRunTaskReplayErrorKeepsOutcomeUnknown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sc := &scriptECS{fail: map[int]error{2: errProvisioning}}
	e := scriptPlan(t, sc)
	e.ecs.loseResponse = map[int]bool{1: true}
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); errorTypeName(err) != "TransientError" {
		t.Fatalf("lost response: got %v, want TransientError", err)
	}
	_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true})
	var te *failure.TransientError
	if !errors.As(err, &te) || te.Code != CodeReplayUnsettled {
		t.Fatalf("refused replay: got %T %v, want TransientError %s", err, err, CodeReplayUnsettled)
	}
	if st, _ := e.st.Chunk(ctx, "r1", 0); st.Attempts[1].State != launch.AttemptSent {
		t.Fatalf("attempt 1 after a refused replay: %+v, want still sent", st.Attempts[1])
	}
	c := failure.ClassifyError(err)
	dec, err := e.r.Handle(ctx, RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: &c})
	if err != nil || dec.Action != ActionRetry || !dec.ReuseToken || dec.Attempt != 1 {
		t.Fatalf("retry: %+v, %v; want attempt 1 replayed", dec, err)
	}
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: dec.Attempt, ReuseToken: dec.ReuseToken})
	if err != nil || out.Status != StatusLaunched || e.ecs.seq != 10 {
		t.Fatalf("replay: %+v, %v, %d tasks; want launched, 10 tasks", out, err, e.ecs.seq)
	}
}

// An attempt whose response was lost and whose token is beyond its
// lifetime is never sent again: the chunk is settled by what ECS lists
// with the attempt's startedBy, looked up more than once (the listing is
// eventually consistent), each look under a slot of its bucket.
func TestRunTaskSettlesExpiredTokenByEvidence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		hidden, hideLooks int
		wantLaunched      int
		wantUnknown       bool
	}{
		{name: "every task listed", wantLaunched: 10},
		{name: "listed on the second look", hidden: 10, hideLooks: 1, wantLaunched: 10},
		{name: "four never listed", hidden: 4, hideLooks: 99, wantLaunched: 6, wantUnknown: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			sc := &scriptECS{hidden: tc.hidden, hideLooks: tc.hideLooks}
			e := newScriptEnv(t, sc, func(o *RunTaskOptions) { o.TokenLifetime = time.Hour })
			r := launchtest.ECSRequest("r1", 10)
			r.DeadlineSeconds = 4 * 3600
			plan(t, e.st, r, t0)
			e.ecs.loseResponse = map[int]bool{1: true}
			if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err == nil {
				t.Fatal("lost response: want an error")
			}
			e.clk.Advance(time.Hour)
			out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true})
			if n := len(e.ecs.Calls()); n != 1 {
				t.Fatalf("RunTask calls: %d, want 1 (an expired token is never sent again)", n)
			}
			st, _ := e.st.Chunk(ctx, "r1", 0)
			if st.Launched() != tc.wantLaunched {
				t.Fatalf("launched %d, want %d (%+v)", st.Launched(), tc.wantLaunched, st.Attempts[1])
			}
			if tc.wantUnknown {
				var pe *failure.PermanentError
				if !errors.As(err, &pe) || pe.Code != CodeOutcomeUnknown || st.Attempts[1].State != launch.AttemptUnknown {
					t.Fatalf("got %v, attempt %+v; want PermanentError %s and the attempt unknown", err, st.Attempts[1], CodeOutcomeUnknown)
				}
			} else if err != nil || out.Status != StatusLaunched {
				t.Fatalf("got %+v, %v; want launched", out, err)
			}
			for _, l := range sc.looks {
				if aws.ToString(l.StartedBy) != launch.StartedBy("r1", 0, 1) || aws.ToString(l.Cluster) != r.ECS.Cluster {
					t.Errorf("ListTasks %+v: want cluster %s and attempt 1's startedBy only", l, r.ECS.Cluster)
				}
			}
			wantLooks := min(3, tc.hideLooks+1)
			if len(sc.looks) != wantLooks || countTakes(e.lim, limiter.BucketOf("ecs:ListTasks")) != wantLooks {
				t.Errorf("looks %d, slots %d; want %d each", len(sc.looks), countTakes(e.lim, limiter.BucketOf("ecs:ListTasks")), wantLooks)
			}
		})
	}
}

func countTakes(l *fakeLimiter, bucket string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, takes := range l.reserves {
		if slices.ContainsFunc(takes, func(t limiter.Take) bool { return t.Bucket == bucket }) {
			n++
		}
	}
	return n
}

// The units the evidence did not find go to the dead-letter queue marked
// OutcomeUnknown with the attempt's startedBy and token, and nothing is
// ever launched for them: neither a new attempt nor the retry's next step.
func TestOutcomeUnknownIsDeadLetteredNotRelaunched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sc := &scriptECS{hidden: 4, hideLooks: 99}
	e := newScriptEnv(t, sc, func(o *RunTaskOptions) { o.TokenLifetime = time.Hour })
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 4 * 3600
	plan(t, e.st, r, t0)
	e.ecs.loseResponse = map[int]bool{1: true}
	_, _ = e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	e.clk.Advance(time.Hour)
	_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true})
	// A later invocation (any attempt number) calls nothing.
	if _, err2 := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 2}); failure.ClassifyError(err2).Code != CodeOutcomeUnknown || len(e.ecs.Calls()) != 1 {
		t.Fatalf("attempt 2: %v, %d calls; want OutcomeUnknown and no call", err2, len(e.ecs.Calls()))
	}
	c := failure.ClassifyError(err)
	dec, err := e.r.Handle(ctx, RetryInput{RequestID: "r1", Chunk: 0, Attempt: 1, Classification: &c})
	if err != nil || dec.Action != ActionGiveUp {
		t.Fatalf("retry: %+v, %v; want give-up", dec, err)
	}
	if len(e.sqs.msgs) != 1 {
		t.Fatalf("dead letters: %v, want 1", e.sqs.msgs)
	}
	var dl DeadLetter
	if err := json.Unmarshal([]byte(e.sqs.msgs[0]), &dl); err != nil {
		t.Fatal(err)
	}
	if !dl.OutcomeUnknown || dl.Missing != 4 || dl.Token != launch.ClientToken("r1", 0, 1) || dl.StartedBy != launch.StartedBy("r1", 0, 1) {
		t.Fatalf("dead letter %+v: want 4 units marked outcomeUnknown with attempt 1's token and startedBy", dl)
	}
}

// Replays that keep failing (within the token's lifetime) end in the
// evidence after MaxReplays, before the retry's own bound gives the chunk
// up as a plain failure. Throttled replays do not count: ECS refused them
// before it looked the token up, and the next replay settles.
func TestRunTaskReplaysBoundedThenEvidence(t *testing.T) {
	t.Parallel()
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	tests := []struct {
		name          string
		answer        error
		wantRunTasks  int
		wantListTasks int
	}{
		{name: "refused replays", answer: errProvisioning, wantRunTasks: 3, wantListTasks: 1},
		{name: "throttled replays", answer: throttled, wantRunTasks: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := &scriptECS{fail: map[int]error{2: tc.answer, 3: tc.answer}}
			e := scriptPlan(t, sc, func(o *RunTaskOptions) { o.MaxReplays = 2 })
			e.ecs.loseResponse = map[int]bool{1: true}
			in := RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true}
			for i := range 3 {
				if _, err := e.run(t, in); err == nil {
					t.Fatalf("call %d: want an error", i+1)
				}
			}
			out, err := e.run(t, in)
			if err != nil || out.Status != StatusLaunched || sc.n != tc.wantRunTasks || len(sc.looks) != tc.wantListTasks || e.ecs.seq != 10 {
				t.Fatalf("got %+v, %v, %d RunTask, %d ListTasks, %d tasks; want launched 10 after %d RunTask and %d ListTasks",
					out, err, sc.n, len(sc.looks), e.ecs.seq, tc.wantRunTasks, tc.wantListTasks)
			}
		})
	}
}

// scriptEC2 answers RunInstances by client token (the same token returns
// the first answer) and can lose a response; DescribeInstances honours
// the client-token filter.
type scriptEC2 struct {
	fakeEC2
	byToken map[string][]string
	lose    map[int]bool
	n       int
	looks   []*ec2.DescribeInstancesInput
}

func (s *scriptEC2) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	s.n++
	tok := aws.ToString(in.ClientToken)
	if s.byToken == nil {
		s.byToken = map[string][]string{}
	}
	if _, ok := s.byToken[tok]; !ok {
		for _, i := range s.instances(int(aws.ToInt32(in.MaxCount))).Instances {
			s.byToken[tok] = append(s.byToken[tok], aws.ToString(i.InstanceId))
		}
	}
	if s.lose[s.n] {
		return nil, fmt.Errorf("read: %w", context.DeadlineExceeded)
	}
	out := &ec2.RunInstancesOutput{}
	for _, id := range s.byToken[tok] {
		out.Instances = append(out.Instances, ec2types.Instance{InstanceId: aws.String(id)})
	}
	return out, nil
}

func (s *scriptEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	s.looks = append(s.looks, in)
	out := &ec2.DescribeInstancesOutput{}
	for _, f := range in.Filters {
		if aws.ToString(f.Name) != "client-token" {
			return nil, fmt.Errorf("filter %s", aws.ToString(f.Name))
		}
		for _, tok := range f.Values {
			r := ec2types.Reservation{}
			for _, id := range s.byToken[tok] {
				r.Instances = append(r.Instances, ec2types.Instance{InstanceId: aws.String(id)})
			}
			out.Reservations = append(out.Reservations, r)
		}
	}
	return out, nil
}

// The EC2 counterpart: instances found by the attempt's client token,
// under a slot of ec2:NonMutating.
func TestRunTaskSettlesEC2ByClientToken(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	sc := &scriptEC2{lose: map[int]bool{1: true}}
	e.h = NewRunTask(e.st, e.lim, e.ecs, sc, func(o *RunTaskOptions) {
		o.Clock, o.DeferThreshold, o.AccountScope, o.TokenLifetime = e.clk, 2*time.Second, "test", time.Hour
	})
	r := launchtest.EC2Request("r1", 4)
	r.DeadlineSeconds = 4 * 3600
	plan(t, e.st, r, t0)
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err == nil {
		t.Fatal("lost response: want an error")
	}
	e.clk.Advance(2 * time.Hour)
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, ReuseToken: true})
	if err != nil || out.Status != StatusLaunched || out.Launched != 4 || sc.n != 1 {
		t.Fatalf("got %+v, %v after %d calls; want launched 4 from the lookup, 1 call", out, err, sc.n)
	}
	if len(sc.looks) != 1 || countTakes(e.lim, limiter.EC2NonMutating) != 1 {
		t.Fatalf("looks %d, ec2:NonMutating slots %d; want 1 and 1", len(sc.looks), countTakes(e.lim, limiter.EC2NonMutating))
	}
	if got := sc.looks[0].Filters[0].Values; !slices.Equal(got, []string{launch.ClientToken("r1", 0, 1)}) {
		t.Fatalf("client-token filter %v, want attempt 1's token", got)
	}
}

// GIVEN a slot held across a Wait, woken 6 s after it, and a limiter that
// cannot re-check it (store busy)
// THEN nothing is called at that stale slot: the chunk waits for the
// limiter's retry-after, its attempt not left "sent" (old code: called at
// once on the unchecked stale slot)
func TestRunTaskStaleHeldSlotUncheckedWaits(t *testing.T) {
	t.Parallel()
	e := newRunTaskEnv(t)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	e.lim.waits = []time.Duration{4 * time.Second}
	first, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
	if err != nil || first.Status != StatusDeferred {
		t.Fatalf("first: %+v, %v; want deferred", first, err)
	}
	e.lim.recheckErr = &limiter.StoreBusyError{Key: "ecs", Wait: 5 * time.Second, Err: context.DeadlineExceeded}
	e.clk.Advance(10 * time.Second)
	out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1, Slot: first.Slot})
	if err != nil || out.Status != StatusDeferred || out.WaitSeconds != 5 || len(e.ecs.Calls()) != 0 {
		t.Fatalf("got %+v, %v, %d calls; want deferred 5 s, no call", out, err, len(e.ecs.Calls()))
	}
	if st, _ := e.st.Chunk(context.Background(), "r1", 0); st.Attempts[1].State == launch.AttemptSent {
		t.Fatalf("attempt %+v left sent without a call", st.Attempts[1])
	}
}
