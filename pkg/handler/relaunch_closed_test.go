package handler

import (
	"context"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// Once a request is closed — cancelled by throttlectl, or completed by its
// final summary — no relaunch of it runs: one that arrives (or comes back
// from the relaunch queue) is dead-lettered once and calls nothing.
func TestRelaunchNeverRunsAfterClose(t *testing.T) {
	t.Parallel()
	for _, state := range []string{launchstore.ClosedCancelled, launchstore.ClosedCompleted} {
		t.Run(state, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newRetryEnv(t, 0)
			arns := launchChunk(t, e)
			q := withQueue(e)
			e.lim.waits = []time.Duration{300 * time.Second}
			queued := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
			if out, err := e.event(ctx, queued); err != nil || out.Action != EventDeferred {
				t.Fatalf("first relaunch: %+v, %v; want it deferred to the queue", out, err)
			}
			if _, err := e.st.(launchstore.Closer).CloseRequest(ctx, "r1", state, e.clk.Now()); err != nil {
				t.Fatal(err)
			}
			calls := len(e.ecs.calls)
			e.clk.Advance(300 * time.Second)
			if resp, err := e.queue(ctx, batch(string(queued))); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("back from the queue: %+v, %v", resp, err)
			}
			out, err := e.event(ctx, taskEvent(t, arns[1], launch.StartedBy("r1", 0, 1), ""))
			if err != nil || out.Action != EventGaveUp {
				t.Fatalf("a task failing to start after the close: %+v, %v; want given up", out, err)
			}
			if len(e.ecs.calls) != calls {
				t.Errorf("%d RunTask calls after the close, want none", len(e.ecs.calls)-calls)
			}
			st, _ := e.st.Chunk(ctx, "r1", 0)
			if dl := len(q.to("http://127.0.0.1/q")); st.Lost != 2 || st.PendingRelaunches() != 0 || dl != 2 {
				t.Errorf("lost %d, pending relaunches %d, %d dead letters; want both tasks dead-lettered once", st.Lost, st.PendingRelaunches(), dl)
			}
		})
	}
}
