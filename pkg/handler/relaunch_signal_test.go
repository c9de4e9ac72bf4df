package handler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// capacityReason is a TaskFailedToStart cause that relaunches without
// slowing anything.
const capacityReason = "Capacity is unavailable at this time. Please try again later or in a different availability zone"

// GIVEN a relaunch whose call ECS throttles
// WHEN its slot was reserved by the invocation, or kept in the claim as a
// time (back from the relaunch queue)
// THEN one signal goes to the tasks bucket: with the call's position in
// the first case, judged by time in the second
func TestRelaunchThrottleSignalsItsSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		wait    time.Duration // the relaunch's slot
		wantPos limiter.Position
	}{
		"slot reserved now":      {wantPos: limiter.Position{Bucket: limiter.ECSFargateTasks, End: 11, N: 1, At: t0}},
		"slot kept in the claim": {wait: 10 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRetryEnv(t, 0)
			arns := launchChunk(t, e)
			withQueue(e)
			e.ecs.throttle = map[int]bool{2: true} // the relaunch's first call
			e.lim.waits = []time.Duration{tc.wait}
			ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), capacityReason)
			out, err := e.event(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wait > 0 {
				backFromQueue(t, e, ev, out, tc.wait)
			}
			if len(e.lim.signals) != 1 || !strings.HasPrefix(e.lim.signals[0], "ecs/"+limiter.ECSFargateTasks+"/") {
				t.Fatalf("signals: got %v, want one on %s", e.lim.signals, limiter.ECSFargateTasks)
			}
			if got := e.lim.sigs[0].Position; got.Bucket != tc.wantPos.Bucket || got.End != tc.wantPos.End || got.N != tc.wantPos.N {
				t.Errorf("signal position: got %+v, want %+v", got, tc.wantPos)
			}
		})
	}
}

// GIVEN a TaskFailedToStart after an ENI provisioning timeout
// WHEN the relaunch handler sees it
// THEN it slows the one bucket that counts tasks started: ecs:FargateTasks
// for Fargate, ecs:RunTask for the EC2 launch type; without a position
func TestTaskFailedToStartThrottleSlowsTheTasksBucket(t *testing.T) {
	t.Parallel()
	for launchType, want := range map[string]string{"FARGATE": limiter.ECSFargateTasks, "EC2": limiter.ECSRunTask} {
		t.Run(launchType, func(t *testing.T) {
			t.Parallel()
			e := newRetryEnv(t, 0)
			r := launchtest.ECSRequest("r1", 10)
			r.ECS.LaunchType = launchType
			plan(t, e.st, r, t0)
			if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
				t.Fatalf("launch: %+v, %v", out, err)
			}
			st, _ := e.st.Chunk(context.Background(), "r1", 0)
			if _, err := e.event(context.Background(), taskEvent(t, st.IDs[0], launch.StartedBy("r1", 0, 1), "")); err != nil {
				t.Fatal(err)
			}
			if len(e.lim.signals) != 1 || !strings.HasPrefix(e.lim.signals[0], "ecs/"+want+"/TaskFailedToStart:") || e.lim.sigs[0].Position.N != 0 {
				t.Errorf("signals: got %v, want one on %s without a position", e.lim.signals, want)
			}
		})
	}
}
