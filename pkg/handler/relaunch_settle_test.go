package handler

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/throttle-handler/throttle-handler/pkg/backoff"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

const dlqURL = "http://127.0.0.1/q"

// relaunchScriptEnv launches chunk 0 of a 10-task request (deadline
// deadlineSeconds) and gives e a relaunch handler with a relaunch queue
// whose ECS client is sc (ListTasks by startedBy) and whose token window is
// lifetime.
func relaunchScriptEnv(t *testing.T, sc *scriptECS, lifetime time.Duration, deadlineSeconds float64) (*retryEnv, *queueSQS, []string) {
	t.Helper()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = deadlineSeconds
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	st, err := e.st.Chunk(context.Background(), "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	sc.fakeECS = e.ecs
	q := &queueSQS{}
	e.rl = NewRelaunch(e.st, e.lim, sc, e.events, q, func(o *RelaunchOptions) {
		o.Clock, o.Peek, o.Bus, o.DLQURL, o.RelaunchQueueURL = e.clk, e.peek, "product", dlqURL, relaunchQueue
		o.TokenLifetime, o.Metrics, o.Rand = lifetime, e.metrics, func() float64 { return 0.9 }
	})
	return e, q, st.IDs
}

// GIVEN a relaunch whose RunTask answer was lost (the call may have
// launched its task) and that the relaunch queue brings back
// WHEN it comes back within the token's window
// THEN the call is replayed with its token (ECS answers what it launched)
// WHEN it comes back at or after the window
// THEN the token is never sent again (ECS may have forgotten it and would
// launch a second task): the tasks listed with the relaunch's startedBy
// settle it: the task found is recorded as the relaunch's; none found
// gives the relaunch up as OutcomeUnknown, dead-lettered with its
// startedBy and token (old code: the token was re-sent whatever its age).
func TestRelaunchOfLostCallPastTokenWindowSettlesByEvidence(t *testing.T) {
	t.Parallel()
	const lifetime = 7 * time.Second
	tests := []struct {
		name      string
		launched  bool // the lost call launched its task
		hideLooks int  // looks that do not list it yet
		back      time.Duration
		wantCalls int // relaunch RunTask calls in all
		wantLooks int
		want      string
	}{
		{name: "within the window: replayed", launched: true, back: 5 * time.Second, wantCalls: 2, want: EventRelaunched},
		{name: "past the window, listed", launched: true, back: 8 * time.Second, wantCalls: 1, wantLooks: 1, want: EventRelaunched},
		{name: "at the window, listed on the third look", launched: true, hideLooks: 2, back: lifetime, wantCalls: 1, wantLooks: 3, want: EventRelaunched},
		{name: "past the window, not listed", launched: true, hideLooks: 99, back: 8 * time.Second, wantCalls: 1, wantLooks: 3, want: EventGaveUp},
		{name: "past the window, nothing launched", back: time.Minute, wantCalls: 1, wantLooks: 3, want: EventGaveUp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			sc := &scriptECS{hidden: 1, hideLooks: tc.hideLooks}
			e, q, arns := relaunchScriptEnv(t, sc, lifetime, 3600)
			if tc.launched {
				e.ecs.loseResponse = map[int]bool{2: true}
			} else {
				sc.fail = map[int]error{1: &smithy.GenericAPIError{Code: "ServerException", Message: "Service Unavailable"}}
			}
			ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
			out, err := e.event(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			backFromQueue(t, e, ev, out, tc.back)
			if n := sc.n; n != tc.wantCalls {
				t.Fatalf("relaunch RunTask calls: %d, want %d", n, tc.wantCalls)
			}
			startedBy := launch.RelaunchStartedBy("r1", 0, arns[0])
			for _, l := range sc.looks {
				if aws.ToString(l.StartedBy) != startedBy || aws.ToString(l.Cluster) != launchtest.ECSRequest("r1", 10).ECS.Cluster || l.DesiredStatus != "" {
					t.Errorf("ListTasks %+v: want the cluster and the relaunch's startedBy %s only", l, startedBy)
				}
			}
			if len(sc.looks) != tc.wantLooks || countTakes(e.lim, limiter.BucketOf("ecs:ListTasks")) != tc.wantLooks {
				t.Errorf("looks %d, slots %d; want %d each", len(sc.looks), countTakes(e.lim, limiter.BucketOf("ecs:ListTasks")), tc.wantLooks)
			}
			claim, _, err := e.st.ClaimRelaunch(ctx, launch.RelaunchClaim{TaskARN: arns[0]}, t0)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := e.st.Chunk(ctx, "r1", 0)
			dls := q.to(dlqURL)
			switch tc.want {
			case EventRelaunched:
				if claim.State != launch.RelaunchDone || claim.NewARN == "" || st.Launched() != 10 || len(st.Stopped) != 1 || st.Lost != 0 || len(dls) != 0 {
					t.Fatalf("claim %+v, launched %d stopped %d lost %d dead letters %d; want done with the listed task, 10, 1, 0, 0",
						claim, st.Launched(), len(st.Stopped), st.Lost, len(dls))
				}
				if e.ecs.seq != 11 {
					t.Fatalf("tasks %d, want 11 (one relaunch)", e.ecs.seq)
				}
			case EventGaveUp:
				if claim.State != launch.RelaunchGaveUp || st.Lost != 1 || len(dls) != 1 || e.metrics.get(MetricOutcomeUnknown) != 1 {
					t.Fatalf("claim %+v, lost %d, dead letters %d, OutcomeUnknown %v; want given up, 1, 1, 1", claim, st.Lost, len(dls), e.metrics.get(MetricOutcomeUnknown))
				}
				var dl DeadLetter
				if err := json.Unmarshal([]byte(aws.ToString(dls[0].MessageBody)), &dl); err != nil {
					t.Fatal(err)
				}
				if !dl.OutcomeUnknown || dl.Code != CodeOutcomeUnknown || dl.StartedBy != startedBy || dl.Token != launch.RelaunchToken(arns[0]) || dl.StoppedTaskARN != arns[0] {
					t.Fatalf("dead letter %+v: want OutcomeUnknown with the relaunch's startedBy and token", dl)
				}
				// Redelivered: nothing is sent again.
				if out, err := e.event(ctx, ev); err != nil || out.Action != EventDuplicate || sc.n != tc.wantCalls {
					t.Fatalf("redelivery: %+v, %v, calls %d; want duplicate, no call", out, err, sc.n)
				}
			}
		})
	}
}

// GIVEN a relaunch whose call was lost and whose next slot lies after the
// deadline (it waits for the deadline, where a lost call is replayed)
// WHEN the deadline comes after the token's window
// THEN the call is settled by evidence there, not replayed (old code:
// replayed with the expired token, a second task)
func TestRelaunchReplayAtDeadlinePastTokenWindowSettlesByEvidence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sc := &scriptECS{}
	e, q, arns := relaunchScriptEnv(t, sc, time.Minute, 600)
	e.ecs.loseResponse = map[int]bool{2: true}
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
	out, err := e.event(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	// Back within the window; the next slot is after the deadline.
	e.lim.waits = []time.Duration{900 * time.Second}
	backFromQueue(t, e, ev, out, 10*time.Second)
	sent := q.to(relaunchQueue)
	if len(sent) != 2 || sent[1].DelaySeconds != 590 || sc.n != 1 {
		t.Fatalf("relaunch queue %d messages, calls %d; want the event waiting for the deadline (590 s), no call", len(sent), sc.n)
	}
	e.clk.Advance(590 * time.Second)
	if resp, err := e.queue(ctx, batch(aws.ToString(sent[1].MessageBody))); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("at the deadline: %+v, %v", resp, err)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if sc.n != 1 || len(sc.looks) != 1 || e.ecs.seq != 11 || st.Launched() != 10 || st.Lost != 0 || len(q.to(dlqURL)) != 0 {
		t.Fatalf("calls %d looks %d tasks %d launched %d lost %d; want 1, 1, 11, 10, 0 (the lost call's task recorded)",
			sc.n, len(sc.looks), e.ecs.seq, st.Launched(), st.Lost)
	}
}

// GIVEN a relaunch call answered with a server error (its outcome unknown)
// WHEN it goes back on the relaunch queue
// THEN it comes back within its token's window (half of what is left), so
// the replay settles it by the token's answer, not by evidence that cannot
// tell a task never launched from one not listed yet; a window too short
// for that keeps the policy's wait (old code: the policy's wait whatever
// the window, and the replay past it)
func TestRelaunchRetryOfUnknownOutcomeComesBackWithinTheWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lifetime  time.Duration
		wantDelay int32 // 0: the policy's
	}{
		{lifetime: 7 * time.Second, wantDelay: 4},
		{lifetime: 3 * time.Second, wantDelay: 2},
		{lifetime: time.Second},
		{lifetime: time.Hour},
	} {
		t.Run(tc.lifetime.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			serverErr := &smithy.GenericAPIError{Code: "ServerException", Message: "Service Unavailable"}
			sc := &scriptECS{fail: map[int]error{1: serverErr}}
			policy := backoff.Policy{}.Delay(backoff.Input{Case: backoff.RelaunchCall, MinDelay: failure.ClassifyError(serverErr).MinDelay(), Rand: 0.9}).Delay
			if policy < 5*time.Second {
				t.Fatalf("policy wait %v: too short to show the window's bound", policy)
			}
			e, q, arns := relaunchScriptEnv(t, sc, tc.lifetime, 3600)
			ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
			if out, err := e.event(ctx, ev); err != nil || out.Action != EventDeferred {
				t.Fatalf("got %+v, %v; want deferred", out, err)
			}
			sent := q.to(relaunchQueue)
			if len(sent) != 1 {
				t.Fatalf("relaunch queue: %d messages, want 1", len(sent))
			}
			d := sent[0].DelaySeconds
			want := cmp.Or(tc.wantDelay, int32(math.Ceil(policy.Seconds())))
			if d != want {
				t.Fatalf("delay %d s, want %d (policy %v)", d, want, policy)
			}
			if tc.wantDelay == 0 {
				return
			}
			e.clk.Advance(time.Duration(d) * time.Second)
			out, err := e.event(ctx, ev)
			if err != nil || out.Action != EventRelaunched || sc.n != 2 || len(sc.looks) != 0 {
				t.Fatalf("back: %+v, %v, calls %d looks %d; want relaunched by a replay, no lookup", out, err, sc.n, len(sc.looks))
			}
		})
	}
}
