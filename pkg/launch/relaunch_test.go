package launch

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func taskEvent(t *testing.T, taskARN, startedBy, reason string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("testdata/task-failed-to-start.json")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "TASK_ARN", taskARN)
	s = strings.ReplaceAll(s, "STARTED_BY", startedBy)
	if reason != "" {
		s = strings.Replace(s, "Timeout waiting for network interface provisioning to complete.", reason, 1)
	}
	return json.RawMessage(s)
}

// launchChunk launches chunk 0 of a 10-task request and returns its task ARNs.
func launchChunk(t *testing.T, e *retryEnv) []string {
	t.Helper()
	plan(t, e.st, ecsRequest("r1", 10), t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	st, err := e.st.Chunk(context.Background(), "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	return st.IDs
}

func TestRelaunchKeyedByTaskARN(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	ctx := context.Background()
	sb := StartedBy("r1", 0, 1)

	// Two failed tasks of one chunk, the first event delivered twice.
	evs := []json.RawMessage{taskEvent(t, arns[3], sb, ""), taskEvent(t, arns[3], sb, ""), taskEvent(t, arns[7], sb, "")}
	var actions []string
	for _, ev := range evs {
		out, err := e.r.Handle(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, out.(EventOutput).Action)
	}
	if want := []string{EventRelaunched, EventDuplicate, EventRelaunched}; !slices.Equal(actions, want) {
		t.Fatalf("actions: got %v, want %v", actions, want)
	}
	calls := e.ecs.Calls()[1:]
	if len(calls) != 2 {
		t.Fatalf("relaunch calls: got %d, want 2", len(calls))
	}
	for i, arn := range []string{arns[3], arns[7]} {
		c := calls[i]
		if aws.ToInt32(c.Count) != 1 || aws.ToString(c.ClientToken) != RelaunchToken(arn) || aws.ToString(c.StartedBy) != RelaunchStartedBy("r1", 0, arn) {
			t.Errorf("relaunch %d: count %d token %q startedBy %q", i, aws.ToInt32(c.Count), aws.ToString(c.ClientToken), aws.ToString(c.StartedBy))
		}
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if st.Launched() != 10 || len(st.IDs) != 12 || len(st.Stopped) != 2 {
		t.Fatalf("chunk: launched %d ids %d stopped %d; want 10, 12, 2", st.Launched(), len(st.IDs), len(st.Stopped))
	}
	n := 0
	for _, en := range e.events.entries {
		if strings.HasPrefix(en, DetailTaskRelaunched+" ") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("TaskRelaunched events: got %d, want 2", n)
	}
	// The network-interface timeout is an async throttle: the ECS buckets were slowed.
	if len(e.lim.signals) == 0 {
		t.Error("no throttle signal for a throttling TaskFailedToStart")
	}
}

func TestRelaunchRetriedAfterLostResponseReusesToken(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	e.ecs.loseResponse = map[int]bool{2: true}
	ev := taskEvent(t, arns[0], StartedBy("r1", 0, 1), "")
	if _, err := e.r.Handle(context.Background(), ev); errorTypeName(err) != "TransientError" {
		t.Fatalf("got %v, want TransientError", err)
	}
	out, err := e.r.Handle(context.Background(), ev)
	if err != nil || out.(EventOutput).Action != EventRelaunched {
		t.Fatalf("got %+v, %v", out, err)
	}
	calls := e.ecs.Calls()
	if aws.ToString(calls[1].ClientToken) != aws.ToString(calls[2].ClientToken) || e.ecs.seq != 11 {
		t.Fatalf("tokens %q %q, tasks %d; want the same token and 11 tasks", aws.ToString(calls[1].ClientToken), aws.ToString(calls[2].ClientToken), e.ecs.seq)
	}
}

func TestRelaunchFarSlotIsThrottledAndHeld(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	e.lim.waits = []time.Duration{30 * time.Second}
	ev := taskEvent(t, arns[0], StartedBy("r1", 0, 1), "")
	_, err := e.r.Handle(context.Background(), ev)
	if errorTypeName(err) != "ThrottledError" {
		t.Fatalf("got %v, want ThrottledError", err)
	}
	e.clk.Advance(30 * time.Second)
	out, err := e.r.Handle(context.Background(), ev)
	if err != nil || out.(EventOutput).Action != EventRelaunched {
		t.Fatalf("got %+v, %v", out, err)
	}
	if n := len(e.lim.reserves); n != 2 { // the chunk's and the relaunch's, once
		t.Errorf("reserves: got %d, want 2", n)
	}
}

func TestRelaunchPermanentIsDeadLettered(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	ev := taskEvent(t, arns[0], StartedBy("r1", 0, 1), "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/library/nope:latest: not found")
	out, err := e.r.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if out.(EventOutput).Action != EventGaveUp || len(e.sqs.msgs) != 1 || len(e.ecs.Calls()) != 1 {
		t.Fatalf("got %+v, %d dead letters, %d calls; want giveup, 1, no relaunch", out, len(e.sqs.msgs), len(e.ecs.Calls()))
	}
	st, _ := e.st.Chunk(context.Background(), "r1", 0)
	if st.Launched() != 9 || st.Missing(10) != 0 || st.Lost != 1 {
		t.Fatalf("launched %d missing %d lost %d; want 9, 0, 1", st.Launched(), st.Missing(10), st.Lost)
	}
}

func TestEventModeIgnoresAndSlows(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	launchChunk(t, e)
	b, _ := os.ReadFile("testdata/ecs-operation-throttled.json")
	out, err := e.r.Handle(context.Background(), b)
	if err != nil || out.(EventOutput).Action != EventSlowed {
		t.Fatalf("got %+v, %v; want slowed", out, err)
	}
	want := []string{"ecs/ecs:RunTask/ECS_OPERATION_THROTTLED", "ecs/ecs:FargateRunTask/ECS_OPERATION_THROTTLED", "ecs/ecs:FargateTasks/ECS_OPERATION_THROTTLED"}
	if !slices.Equal(e.lim.signals, want) {
		t.Errorf("signals: got %v, want %v", e.lim.signals, want)
	}
	for name, ev := range map[string]json.RawMessage{
		"foreign startedBy": taskEvent(t, "arn:x", "ecs-svc/123", ""),
		"unknown request":   taskEvent(t, "arn:y", "th/0123456789ab/0/1", ""),
		"steady state":      json.RawMessage(`{"detail-type":"ECS Service Action","source":"aws.ecs","detail":{"eventName":"SERVICE_STEADY_STATE"}}`),
	} {
		out, err := e.r.Handle(context.Background(), ev)
		if err != nil || out.(EventOutput).Action != EventIgnored {
			t.Errorf("%s: got %+v, %v; want ignored", name, out, err)
		}
	}
}
