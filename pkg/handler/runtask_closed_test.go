package handler

import (
	"context"
	"errors"
	"testing"

	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// GIVEN a request closed while one of its invocations was on its way
// (throttlectl cancel stops the execution; a running invocation goes on)
// WHEN runtask runs for it
// THEN it makes no call, claims no send, and answers RequestClosed, which
// no retry absorbs (old code: the cancelled request launched its chunk).
func TestRunTaskClosedRequestLaunchesNothing(t *testing.T) {
	t.Parallel()
	for _, state := range []string{launchstore.ClosedCancelled, launchstore.ClosedCompleted} {
		t.Run(state, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newRunTaskEnv(t)
			plan(t, e.st, launchtest.ECSRequest("r1", 20), t0)
			if _, err := e.st.(launchstore.Closer).CloseRequest(ctx, "r1", state, t0); err != nil {
				t.Fatal(err)
			}
			_, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1})
			var pe *failure.PermanentError
			if !errors.As(err, &pe) || pe.Code != CodeRequestClosed {
				t.Fatalf("got %T %v; want a permanent %s", err, err, CodeRequestClosed)
			}
			st, _ := e.st.Chunk(ctx, "r1", 0)
			if n := len(e.ecs.Calls()); n != 0 || st.Attempts[1].State == launch.AttemptSent {
				t.Errorf("%d calls, attempt 1 %+v; want no call and no send claimed", n, st.Attempts[1])
			}
		})
	}
}
