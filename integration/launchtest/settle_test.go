package launchtest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
)

// TestSettleUnknownOutcome: a RunTask whose tasks launched but whose
// response was lost is settled without launching them twice. Within the
// client token's lifetime the same token is replayed and ECS answers with
// the tasks it already launched (Amazon ECS Developer Guide: "Ensuring
// idempotency"); beyond it the token is never sent again, and the tasks
// are found by ListTasks with the attempt's startedBy (Amazon ECS API
// Reference: "ListTasks"). The simulator's token lifetime is not modelled
// here: the handler's TokenLifetime decides which path it takes.
func TestSettleUnknownOutcome(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lifetime      time.Duration
		wantRunTasks  int64
		wantListTasks bool
	}{
		{name: "replay within the token lifetime", wantRunTasks: 2},
		{name: "evidence beyond the token lifetime", lifetime: time.Nanosecond, wantRunTasks: 1, wantListTasks: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			e, rt, req := lostLaunch(ctx, t, sim.Lifecycle{}, tc.lifetime)
			out, err := rt.Handle(ctx, handler.RunTaskInput{RequestID: req.RequestID, Chunk: 0, Attempt: 1, ReuseToken: true})
			if err != nil || out.Status != handler.StatusLaunched || out.Attempt != 1 {
				t.Fatalf("settle: %+v, %v; want attempt 1 launched", out, err)
			}
			entries := e.stack.Sim.Ledger().For(launch.RequestHash(req.RequestID))
			counts := sim.Count(entries, func(string, int) int { return 10 })
			if counts.Unique != 10 || counts.Duplicates != 0 || counts.LostResponses == 0 {
				t.Fatalf("ledger %+v: want 10 tasks, no duplicate, the first response lost", counts)
			}
			st, err := e.store.Chunk(ctx, req.RequestID, 0)
			if err != nil {
				t.Fatal(err)
			}
			var arns []string
			for _, en := range entries {
				arns = append(arns, en.ID)
			}
			if !slices.Equal(slices.Sorted(slices.Values(st.IDs)), slices.Sorted(slices.Values(arns))) {
				t.Fatalf("table ids %v, ledger %v: want the same tasks", st.IDs, arns)
			}
			stats := e.stack.Sim.Stats()
			if got := stats.Calls["ecs:RunTask"]; got != tc.wantRunTasks {
				t.Errorf("RunTask calls %d, want %d", got, tc.wantRunTasks)
			}
			if listed := stats.Calls["ecs:ListTasks"] > 0; listed != tc.wantListTasks {
				t.Errorf("ListTasks called: %v, want %v (calls %v)", listed, tc.wantListTasks, stats.Calls)
			}
		})
	}
}

// lostLaunch starts a stack whose first RunTask (10 Fargate tasks, request
// "settle", chunk 0, attempt 1) launches and loses its response; faults are
// off after it. The runtask handler has the given token lifetime.
func lostLaunch(ctx context.Context, t *testing.T, lc sim.Lifecycle, lifetime time.Duration) (*env, *handler.RunTask, launch.Request) {
	t.Helper()
	e := start(t, Scenario{TimeScale: 5, Sim: sim.Config{Seed: 3, Lifecycle: lc,
		Faults: sim.Faults{LostResponseRate: 1, LostMode: sim.LostAsReset}}})
	rt := e.runTaskWith(func(o *handler.RunTaskOptions) { o.TokenLifetime = lifetime })
	req := launch.Request{RequestID: "settle", MaxAttempts: 5, DeadlineSeconds: 3600,
		ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: 10, LaunchType: "FARGATE",
			NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a"}}}}}
	if _, err := e.store.CreateRequest(ctx, req, e.stack.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Handle(ctx, handler.RunTaskInput{RequestID: req.RequestID, Chunk: 0, Attempt: 1}); err == nil {
		t.Fatal("lost response: nil error")
	}
	if err := e.stack.Sim.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	return e, rt, req
}

// TestSettleNeverRelaunchesWhatItCannotFind: beyond the token's lifetime,
// tasks that already stopped are not listed by ListTasks (it lists tasks
// whose desired status is RUNNING unless asked otherwise: Amazon ECS API
// Reference, "ListTasks"). Their absence proves nothing: the chunk is not
// launched again; its units go to the dead-letter queue marked
// outcomeUnknown, with the attempt's startedBy and token.
func TestSettleNeverRelaunchesWhatItCannotFind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, rt, req := lostLaunch(ctx, t, sim.Lifecycle{RunSeconds: 1}, time.Nanosecond)
	e.sleep(ctx, 30*time.Second) // every task has run and stopped
	_, err := rt.Handle(ctx, handler.RunTaskInput{RequestID: req.RequestID, Chunk: 0, Attempt: 1, ReuseToken: true})
	cls := failure.Classify(catchCause(err))
	if cls.Code != handler.CodeOutcomeUnknown {
		t.Fatalf("settle: %v (classified %+v); want %s", err, cls, handler.CodeOutcomeUnknown)
	}
	ro, err := e.retry.Handle(ctx, handler.RetryInput{RequestID: req.RequestID, Chunk: 0, Attempt: 1, Classification: &cls})
	if err != nil || ro.Action != handler.ActionGiveUp {
		t.Fatalf("retry: %+v, %v; want give-up", ro, err)
	}
	if out, err := rt.Handle(ctx, handler.RunTaskInput{RequestID: req.RequestID, Chunk: 0, Attempt: 2}); err != nil || out.Status != handler.StatusDone {
		t.Fatalf("attempt 2 after the give-up: %+v, %v; want done without a call", out, err)
	}
	counts := sim.Count(e.stack.Sim.Ledger().For(launch.RequestHash(req.RequestID)), func(string, int) int { return 10 })
	if counts.Unique != 10 || counts.Duplicates != 0 || e.stack.Sim.Stats().Calls["ecs:RunTask"] != 1 {
		t.Fatalf("ledger %+v, RunTask calls %d: want the 10 first tasks only, one call", counts, e.stack.Sim.Stats().Calls["ecs:RunTask"])
	}
	e.dlq.mu.Lock()
	defer e.dlq.mu.Unlock()
	if len(e.dlq.msgs) != 1 {
		t.Fatalf("dead letters %v, want 1", e.dlq.msgs)
	}
	var dl handler.DeadLetter
	if err := json.Unmarshal([]byte(e.dlq.msgs[0]), &dl); err != nil {
		t.Fatal(err)
	}
	if !dl.OutcomeUnknown || dl.Missing != 10 || dl.Token != launch.ClientToken(req.RequestID, 0, 1) || dl.StartedBy != launch.StartedBy(req.RequestID, 0, 1) {
		t.Fatalf("dead letter %+v: want 10 units outcomeUnknown with attempt 1's token and startedBy", dl)
	}
}

// runTaskWith is a runtask handler on e's stack and stores, configured as
// e.rt is, then by optFns.
func (e *env) runTaskWith(optFns ...func(*handler.RunTaskOptions)) *handler.RunTask {
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	ecsc := ecs.New(ecs.Options{Region: e.stack.Region, BaseEndpoint: aws.String(e.stack.Endpoint), Credentials: creds})
	ec2c := ec2.New(ec2.Options{Region: e.stack.Region, BaseEndpoint: aws.String(e.stack.Endpoint), Credentials: creds})
	return handler.NewRunTask(e.store, e.tl, ecsc, ec2c, append([]func(*handler.RunTaskOptions){func(o *handler.RunTaskOptions) {
		o.Clock, o.DeferThreshold, o.AccountScope, o.Metrics = e.stack.Clock, 0, "it", e.metrics
	}}, optFns...)...)
}
