package handler

import (
	"context"
	"encoding/json"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

func TestPlanHandler(t *testing.T) {
	t.Parallel()
	st, _ := newTestStore(t)
	h := NewPlanHandler(st, func(o *HandlerOptions) { o.Clock = clock.NewFake(t0) })
	ctx := context.Background()
	b, _ := os.ReadFile("../launch/testdata/request-ecs-ec2.json")
	p, err := h.Handle(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != 251 || p.ECSChunks != 250 || p.EC2Chunks != 1 || !p.Deadline.Equal(t0.Add(3600e9)) {
		t.Fatalf("got %+v", p)
	}
	// Same request again (also as a LaunchRequested envelope): the stored plan.
	env := `{"detail-type":"LaunchRequested","source":"throttle-handler","detail":` + string(b) + `}`
	p2, err := h.Handle(ctx, json.RawMessage(env))
	if err != nil || p2.Count != p.Count || !p2.Deadline.Equal(p.Deadline) {
		t.Fatalf("again: got %+v, %v", p2, err)
	}
	// A different request under the same id.
	other := strings.Replace(string(b), `"count": 2500`, `"count": 2501`, 1)
	if _, err := h.Handle(ctx, json.RawMessage(other)); errorTypeName(err) != "PermanentError" || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("conflict: got %v, want PermanentError", err)
	}
	// Invalid: the error names the field, through the Lambda JSON contract.
	bad := strings.Replace(string(b), `"count": 2500`, `"count": 0`, 1)
	_, err = lambda.NewHandler(h.Handle).Invoke(ctx, []byte(bad))
	if errorTypeName(err) != "PermanentError" || !strings.Contains(err.Error(), "ecs.count: must be 1..100000, got 0") {
		t.Fatalf("invalid: got %v", err)
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, b)
	if err != nil || !strings.Contains(string(out), `"chunkCount":251`) || !strings.Contains(string(out), `"deadline":"2026-11-22T11:00:00Z"`) {
		t.Fatalf("JSON: got %s, %v", out, err)
	}
	if len(out) > 8000 {
		t.Errorf("plan payload %d bytes for 251 chunks", len(out))
	}
}

func TestSummaryHandler(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 25)
	plan(t, e.st, r, t0)
	ctx := context.Background()
	if _, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Handle(ctx, RetryInput{RequestID: "r1", Chunk: 1, Attempt: 1,
		Classification: classification("permanent", "ClientException", 0)}); err != nil {
		t.Fatal(err)
	}
	sh := NewSummaryHandler(e.st, e.events, func(o *HandlerOptions) { o.Clock, o.Bus = e.clk, "product" })
	sum, err := sh.Handle(ctx, SummaryInput{RequestID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requested != 25 || sum.Launched != 10 || sum.Failed != 10 || sum.DeadLettered != 10 || sum.Pending != 5 ||
		sum.Reasons["permanent: ClientException"] != 10 {
		t.Fatalf("got %+v", sum)
	}
	last := e.events.entries[len(e.events.entries)-1]
	if !strings.HasPrefix(last, launch.DetailLaunchCompleted+" ") || !strings.Contains(last, `"launched":10`) {
		t.Errorf("event: got %s", last)
	}
	if _, err := sh.Handle(ctx, SummaryInput{RequestID: "nope"}); errorTypeName(err) != "PermanentError" {
		t.Errorf("unknown request: got %v, want PermanentError", err)
	}
}
