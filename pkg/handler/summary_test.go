package handler

import (
	"context"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"strings"
	"testing"
	"time"
)

func completedEvents(e *retryEnv) int {
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	n := 0
	for _, en := range e.events.entries {
		if strings.HasPrefix(en, launch.DetailLaunchCompleted+" ") {
			n++
		}
	}
	return n
}

// A relaunch waiting on the relaunch queue when the chunks have ended is
// pending, not launched (chaos seed 111: a relaunch given up after
// LaunchCompleted said 0 failed). A check waits for it; the final summary
// comes once it is given up, counting it failed.
func TestSummaryWaitsForPendingRelaunches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 600
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	withQueue(e)
	e.lim.waits = []time.Duration{300 * time.Second}
	ev := taskEvent(t, st.IDs[0], launch.StartedBy("r1", 0, 1), "")
	// Delivered twice (EventBridge at least once): still one pending.
	for range 2 {
		if out, err := e.event(ctx, ev); err != nil || out.Action != EventDeferred {
			t.Fatalf("got %+v, %v; want deferred", out, err)
		}
	}

	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
	sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.PendingRelaunches != 1 || sum.Launched != 9 || sum.Failed != 0 || sum.Pending != 0 || sum.WaitSeconds != RelaunchCheckSeconds {
		t.Fatalf("check: %+v; want 1 pending relaunch, 9 launched, waitSeconds %d", sum, RelaunchCheckSeconds)
	}
	if n := completedEvents(e); n != 0 {
		t.Fatalf("a check put %d LaunchCompleted, want none", n)
	}

	// The deadline passes while it is queued: it comes back and is given up.
	e.clk.Advance(700 * time.Second)
	if resp, err := e.queue(ctx, batch(string(ev))); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v", resp, err)
	}
	sum, err = sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.PendingRelaunches != 0 || sum.Launched != 9 || sum.Failed != 1 || sum.DeadLettered != 1 || sum.WaitSeconds != 0 {
		t.Fatalf("final: %+v; want 9 launched, 1 failed, nothing pending", sum)
	}
	if n := completedEvents(e); n != 1 {
		t.Fatalf("LaunchCompleted put %d times, want once", n)
	}
}

// A relaunch still pending once the deadline (or the first check) has
// passed does not hold the summary: its event is late or on the relaunch
// dead-letter queue, the relaunch path gives up at the deadline. The final
// summary dead-letters it (DLQ, LaunchFailed naming the stopped task),
// counts it, and the event coming back afterwards relaunches nothing. A
// summary asked without waitForRelaunches only reports.
func TestSummaryStopsWaitingAfterDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 600
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	withQueue(e)
	e.lim.waits = []time.Duration{300 * time.Second}
	ev := taskEvent(t, st.IDs[0], launch.StartedBy("r1", 0, 1), "")
	if out, err := e.event(ctx, ev); err != nil || out.Action != EventDeferred {
		t.Fatalf("got %+v, %v; want deferred", out, err)
	}
	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" }).WithDeadLetters(e.sqs, "http://127.0.0.1/q")
	sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r1"})
	if err != nil || sum.WaitSeconds != 0 || sum.PendingRelaunches != 1 || completedEvents(e) != 1 || len(e.sqs.msgs) != 0 {
		t.Fatalf("without waitForRelaunches: %+v, %v, %d LaunchCompleted; want a report with 1 pending relaunch, nothing dead-lettered", sum, err, completedEvents(e))
	}
	if sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true}); err != nil || sum.WaitSeconds != RelaunchCheckSeconds {
		t.Fatalf("first check: %+v, %v; want a wait", sum, err)
	}
	e.clk.Advance(600 * time.Second) // the deadline, no grace: nothing's outcome is unknown
	sum, err = sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true})
	if err != nil || sum.WaitSeconds != 0 || sum.PendingRelaunches != 0 || sum.Launched != 9 || sum.DeadLettered != 1 || sum.RelaunchesUnfinished != 1 || completedEvents(e) != 2 {
		t.Fatalf("at the deadline: %+v, %v; want final: 9 launched, the pending relaunch dead-lettered and counted", sum, err)
	}
	if sum.Launched+sum.DeadLettered != sum.Requested {
		t.Errorf("launched %d + dead-lettered %d != requested %d", sum.Launched, sum.DeadLettered, sum.Requested)
	}
	if n := failedEvents(e, launch.CodeRelaunchUnfinished, st.IDs[0]); n != 1 || len(e.sqs.msgs) != 1 {
		t.Errorf("%d LaunchFailed for the stopped task, %d DLQ messages; want 1 and 1", n, len(e.sqs.msgs))
	}
	calls := len(e.ecs.calls)
	if resp, err := e.queue(ctx, batch(string(ev))); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("back from the queue: %+v, %v", resp, err)
	}
	if len(e.ecs.calls) != calls || len(e.sqs.msgs) != 1 {
		t.Errorf("after LaunchCompleted: %d RunTask calls, %d DLQ messages; want none new", len(e.ecs.calls)-calls, len(e.sqs.msgs))
	}
}

// Tasks launched just before the chunks ended may still fail to start
// (chaos seed 111: a replay launched 10 tasks 6 ms before the summary, 4
// failed to start and were dead-lettered after LaunchCompleted). A check
// waits StartWatch from the first check; an EC2-only request does not.
func TestSummaryWatchesJustLaunchedTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
	var waits []int
	for range 4 {
		sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true})
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, sum.WaitSeconds)
		if sum.WaitSeconds == 0 {
			if sum.Launched != 10 || completedEvents(e) != 1 {
				t.Fatalf("final: %+v, %d LaunchCompleted", sum, completedEvents(e))
			}
			break
		}
		e.clk.Advance(time.Duration(sum.WaitSeconds) * time.Second)
	}
	if want := []int{30, 30, 0}; fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v (StartWatch %v from the first check)", waits, want, DefaultStartWatch)
	}

	plan(t, e.st, launchtest.EC2Request("r2", 4), t0)
	sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r2", WaitForRelaunches: true})
	if err != nil || sum.WaitSeconds != 0 {
		t.Fatalf("EC2 request: %+v, %v; want final at once", sum, err)
	}
	if _, err := sh.Handle(ctx, SummaryInput{RequestID: "nope", WaitForRelaunches: true}); errorTypeName(err) != "PermanentError" {
		t.Fatalf("unknown request: got %v, want PermanentError", err)
	}
}

// Two deliveries of one TaskFailedToStart event may both give its relaunch
// up: the chunk counts one lost unit, not two.
func TestGiveUpRelaunchCountedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	c := launch.RelaunchClaim{TaskARN: arns[0], RequestID: "r1", Chunk: 0}
	if _, err := e.st.RegisterRelaunch(ctx, "r1", 0, arns[0]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.st.GiveUpRelaunch(ctx, c, "deadline"); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if st.Lost != 1 || st.Missing(10) != 0 || st.PendingRelaunches() != 0 || st.Settled() != 9 {
		t.Fatalf("lost %d missing %d pending relaunches %d settled %d; want 1, 0, 0, 9", st.Lost, st.Missing(10), st.PendingRelaunches(), st.Settled())
	}
}

// A task relaunched after the first check may fail to start StartWatch
// later (chaos seed 4: relaunched after TaskFailedToStart near the end, then
// dead-lettered because the summary had closed the request 60 s after its
// first check). The watch runs StartWatch past the latest launch.
func TestSummaryWatchesLateRelaunch(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		relaunchAt time.Duration // after the first check; negative: none
		want       []int
	}{
		"no relaunch":        {-1, []int{30, 30, 0}},
		"relaunched at 45 s": {45 * time.Second, []int{30, 30, 30, 15, 0}},
		"relaunched at 20 s": {20 * time.Second, []int{30, 30, 20, 0}},
		"relaunched at once": {0, []int{30, 30, 0}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newRetryEnv(t, 0)
			arns := launchChunk(t, e)
			sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
			first := e.clk.Now()
			relaunch := func() {
				ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
				if out, err := e.event(ctx, ev); err != nil || out.Action != EventRelaunched {
					t.Fatalf("relaunch: %+v, %v", out, err)
				}
			}
			if tc.relaunchAt == 0 {
				relaunch()
			}
			var waits []int
			for len(waits) < 8 {
				sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r1", WaitForRelaunches: true})
				if err != nil {
					t.Fatal(err)
				}
				waits = append(waits, sum.WaitSeconds)
				if sum.WaitSeconds == 0 {
					break
				}
				// The relaunch happens during this wait.
				next := e.clk.Now().Add(time.Duration(sum.WaitSeconds) * time.Second)
				if at := first.Add(tc.relaunchAt); tc.relaunchAt > 0 && at.After(e.clk.Now()) && !at.After(next) {
					e.clk.Advance(at.Sub(e.clk.Now()))
					relaunch()
				}
				e.clk.Advance(next.Sub(e.clk.Now()))
			}
			if fmt.Sprint(waits) != fmt.Sprint(tc.want) {
				t.Fatalf("waits %v, want %v", waits, tc.want)
			}
		})
	}
}

// startWatch's steps: StartWatch past the later of the latest launch and
// the first check, a launch counted no later than the bound, steps of at
// most RelaunchCheckSeconds but at least a fiftieth of the time watched.
func TestStartWatchSteps(t *testing.T) {
	t.Parallel()
	s := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	for name, tc := range map[string]struct {
		now, latest time.Time
		bound       time.Time
		want        int
	}{
		"first check, launched before": {s(0), s(-10), s(3600), 30},
		"watch over":                   {s(60), s(-10), s(3600), 0},
		"last seconds":                 {s(50), s(-10), s(3600), 10},
		"launch after the first check": {s(60), s(40), s(3600), 30},
		"launch past the bound":        {s(3630), s(4000), s(3600), 73}, // the watch ends at the bound + 60 s; a fiftieth of 3630 s
		"after the bound's watch":      {s(3660), s(4000), s(3600), 0},
		"a day of relaunches":          {s(86400), s(86390), s(7 * 86400), 1728},
		"no launch recorded (zero)":    {s(10), time.Time{}, s(3600), 30},
	} {
		if got := startWatch(tc.now, t0, tc.latest, tc.bound, DefaultStartWatch); got != tc.want {
			t.Errorf("%s: startWatch = %d, want %d", name, got, tc.want)
		}
	}
}
