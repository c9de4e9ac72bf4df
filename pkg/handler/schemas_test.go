package handler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"github.com/throttle-handler/throttle-handler/schemas"
)

// validateEvents checks every event the handlers put against its schema
// (schemas/), and that each of want was put at least once.
func validateEvents(t *testing.T, e *retryEnv, want ...string) {
	t.Helper()
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	seen := map[string]int{}
	for _, entry := range e.events.entries {
		detailType, detail, _ := strings.Cut(entry, " ")
		seen[detailType]++
		if err := schemas.Validate(detailType, []byte(detail)); err != nil {
			t.Errorf("%s put by the handlers is not valid by its schema: %v\n%s", detailType, err, detail)
		}
	}
	for _, dt := range want {
		if seen[dt] == 0 {
			t.Errorf("no %s was put (events %v): nothing to validate", dt, seen)
		}
	}
}

// summaryUntilFinal asks the summary (as the machine does) until it is final.
func summaryUntilFinal(t *testing.T, e *retryEnv, sh *SummaryHandler) launch.Summary {
	t.Helper()
	for range 100 {
		sum, err := sh.Handle(context.Background(), SummaryInput{RequestID: "r1", WaitForRelaunches: true})
		if err != nil {
			t.Fatal(err)
		}
		if sum.WaitSeconds == 0 {
			return sum
		}
		e.clk.Advance(time.Duration(sum.WaitSeconds) * time.Second)
	}
	t.Fatal("the summary never became final")
	return launch.Summary{}
}

// TestEventsMatchTheirSchemas: the events the real handlers put — a
// chunk's give-up (LaunchFailed), the summary's dead letters of a chunk
// that never ran (LaunchFailed, class unfinished), LaunchCompleted of a
// launch-only request that failed and of a waiting request whose tasks
// failed (cause, first reasons, results) — are valid by schemas/.
func TestEventsMatchTheirSchemas(t *testing.T) {
	t.Parallel()
	t.Run("launch only, a chunk given up and one never run", func(t *testing.T) {
		t.Parallel()
		e := newRetryEnv(t, 0)
		plan(t, e.st, launchtest.ECSRequest("r1", 25), t0)
		if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.r.Handle(context.Background(), RetryInput{RequestID: "r1", Chunk: 1, Attempt: 1,
			Classification: classification("permanent", "ClientException", 0)}); err != nil {
			t.Fatal(err)
		}
		sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
		if sum := summaryUntilFinal(t, e, sh); sum.Status != launch.StatusFailed || sum.Unfinished == 0 {
			t.Fatalf("summary %+v: want FAILED with unfinished units", sum)
		}
		validateEvents(t, e, launch.DetailLaunchFailed, launch.DetailLaunchCompleted)
	})
	t.Run("waiting, every task failed", func(t *testing.T) {
		t.Parallel()
		e := newJobsEnv(t, nil)
		for k := range 10 {
			e.stop(t, k, 1, launch.OutcomeFailed)
		}
		if sum := summaryUntilFinal(t, e.retryEnv, e.sh); sum.Error != launch.ErrTasksFailed || len(sum.FirstReasons) == 0 || sum.Results == nil {
			t.Fatalf("summary %+v: want TasksFailed with first reasons and results", sum)
		}
		validateEvents(t, e.retryEnv, launch.DetailLaunchCompleted)
	})
}
