package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launch/launchtest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
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
	plan(t, e.st, launchtest.ECSRequest("r1", 10), t0)
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
	sb := launch.StartedBy("r1", 0, 1)

	// Two failed tasks of one chunk, the first event delivered twice.
	evs := []json.RawMessage{taskEvent(t, arns[3], sb, ""), taskEvent(t, arns[3], sb, ""), taskEvent(t, arns[7], sb, "")}
	var actions []string
	for _, ev := range evs {
		out, err := e.event(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, out.Action)
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
		if aws.ToInt32(c.Count) != 1 || aws.ToString(c.ClientToken) != launch.RelaunchToken(arn) || aws.ToString(c.StartedBy) != launch.RelaunchStartedBy("r1", 0, arn) {
			t.Errorf("relaunch %d: count %d token %q startedBy %q", i, aws.ToInt32(c.Count), aws.ToString(c.ClientToken), aws.ToString(c.StartedBy))
		}
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if st.Launched() != 10 || len(st.IDs) != 12 || len(st.Stopped) != 2 {
		t.Fatalf("chunk: launched %d ids %d stopped %d; want 10, 12, 2", st.Launched(), len(st.IDs), len(st.Stopped))
	}
	n := 0
	for _, en := range e.events.entries {
		if strings.HasPrefix(en, launch.DetailTaskRelaunched+" ") {
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
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
	if _, err := e.event(context.Background(), ev); errorTypeName(err) != "TransientError" {
		t.Fatalf("got %v, want TransientError", err)
	}
	out, err := e.event(context.Background(), ev)
	if err != nil || out.Action != EventRelaunched {
		t.Fatalf("got %+v, %v", out, err)
	}
	calls := e.ecs.Calls()
	if aws.ToString(calls[1].ClientToken) != aws.ToString(calls[2].ClientToken) || e.ecs.seq != 11 {
		t.Fatalf("tokens %q %q, tasks %d; want the same token and 11 tasks", aws.ToString(calls[1].ClientToken), aws.ToString(calls[2].ClientToken), e.ecs.seq)
	}
}

// Without a relaunch queue the invocation fails with ThrottledError and the
// caller's retry comes back to the held slot.
func TestRelaunchFarSlotWithoutQueueIsThrottledAndHeld(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	e.lim.waits = []time.Duration{30 * time.Second}
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
	_, err := e.event(context.Background(), ev)
	if errorTypeName(err) != "ThrottledError" {
		t.Fatalf("got %v, want ThrottledError", err)
	}
	e.clk.Advance(30 * time.Second)
	out, err := e.event(context.Background(), ev)
	if err != nil || out.Action != EventRelaunched {
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
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/library/nope:latest: not found")
	out, err := e.event(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if out.Action != EventGaveUp || len(e.sqs.msgs) != 1 || len(e.ecs.Calls()) != 1 {
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
	out, err := e.event(context.Background(), b)
	if err != nil || out.Action != EventSlowed {
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
		out, err := e.event(context.Background(), ev)
		if err != nil || out.Action != EventIgnored {
			t.Errorf("%s: got %+v, %v; want ignored", name, out, err)
		}
	}
}

// queueSQS records SendMessage calls by queue; fail makes the next sends to
// the relaunch queue fail.
type queueSQS struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
	fail int
}

const relaunchQueue = "http://127.0.0.1/000000000000/relaunch"

func (q *queueSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if aws.ToString(in.QueueUrl) == relaunchQueue && q.fail > 0 {
		q.fail--
		return nil, errors.New("sqs: connection refused")
	}
	q.sent = append(q.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String(fmt.Sprint(len(q.sent)))}, nil
}

func (q *queueSQS) to(url string) []*sqs.SendMessageInput {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*sqs.SendMessageInput
	for _, in := range q.sent {
		if aws.ToString(in.QueueUrl) == url {
			out = append(out, in)
		}
	}
	return out
}

// withQueue replaces e.r with a retry handler that has a relaunch queue.
func withQueue(e *retryEnv) *queueSQS {
	q := &queueSQS{}
	e.rl = NewRelaunch(e.st, e.lim, e.ecs, e.events, q, func(o *RelaunchOptions) {
		o.Clock, o.Peek, o.Bus, o.DLQURL, o.RelaunchQueueURL = e.clk, e.peek, "product", "http://127.0.0.1/q", relaunchQueue
	})
	return q
}

// backFromQueue checks that out deferred ev to the relaunch queue and
// hands ev back from it after advance.
func backFromQueue(t *testing.T, e *retryEnv, ev json.RawMessage, out EventOutput, advance time.Duration) {
	t.Helper()
	if out.Action != EventDeferred {
		t.Fatalf("got %+v, want deferred", out)
	}
	e.clk.Advance(advance)
	if resp, err := e.queue(context.Background(), batch(string(ev))); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("back from the queue: %+v, %v", resp, err)
	}
}

func batch(bodies ...string) json.RawMessage {
	var b SQSBatch
	for i, body := range bodies {
		b.Records = append(b.Records, SQSRecord{MessageID: fmt.Sprintf("m%d", i), EventSource: "aws:sqs", Body: body})
	}
	raw, _ := json.Marshal(b)
	return raw
}

func TestRelaunchFarSlotWaitsOnRelaunchQueue(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := withQueue(e)
	e.lim.waits = []time.Duration{1200 * time.Second} // beyond SQS's 900 s delay
	ctx := context.Background()
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")

	out, err := e.event(ctx, ev)
	if err != nil || out.Action != EventDeferred || out.WaitSeconds != 900 {
		t.Fatalf("got %+v, %v; want deferred by 900 s", out, err)
	}
	sent := q.to(relaunchQueue)
	if len(sent) != 1 || sent[0].DelaySeconds != 900 || aws.ToString(sent[0].MessageBody) != strings.TrimSpace(string(ev)) {
		t.Fatalf("relaunch queue: %d messages, want 1 with the original event and a delay of 900 s", len(sent))
	}

	// The queue brings it back: 300 s still to go, queued again.
	e.clk.Advance(900 * time.Second)
	resp, err := e.queue(ctx, batch(aws.ToString(sent[0].MessageBody)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v; want no failures", resp, err)
	}
	if sent = q.to(relaunchQueue); len(sent) != 2 || sent[1].DelaySeconds != 300 {
		t.Fatalf("relaunch queue: %d messages (last delay %d), want 2, the second 300 s", len(sent), sent[len(sent)-1].DelaySeconds)
	}

	e.clk.Advance(300 * time.Second)
	resp, err = e.queue(ctx, batch(aws.ToString(sent[1].MessageBody)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v; want no failures", resp, err)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if len(e.ecs.Calls()) != 2 || st.Launched() != 10 || len(st.Stopped) != 1 {
		t.Fatalf("calls %d launched %d stopped %d; want 2, 10, 1", len(e.ecs.Calls()), st.Launched(), len(st.Stopped))
	}
	if n := len(e.lim.reserves); n != 2 { // the chunk's and the relaunch's, once
		t.Errorf("reserves: got %d, want 2", n)
	}
	// The tasks bucket, once: a queued replay is no new throttle.
	if len(e.lim.signals) != 1 || !strings.HasPrefix(e.lim.signals[0], "ecs/ecs:FargateTasks/TaskFailedToStart:") || e.lim.sigs[0].Position.N != 0 {
		t.Errorf("signals: got %v, want ecs:FargateTasks once, without a position", e.lim.signals)
	}
	if len(q.to("http://127.0.0.1/q")) != 0 {
		t.Error("dead-lettered")
	}
	// The queue delivers at least once: the event once more is a duplicate.
	resp, err = e.queue(ctx, batch(string(ev)))
	if err != nil || len(resp.BatchItemFailures) != 0 || len(e.ecs.Calls()) != 2 {
		t.Fatalf("redelivery: got %+v, %v, %d calls", resp, err, len(e.ecs.Calls()))
	}
}

func TestRelaunchQueueSendFailureIsAnError(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := withQueue(e)
	q.fail = 2 // the deferral and the hand-off
	e.lim.waits = []time.Duration{60 * time.Second}
	ctx := context.Background()
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
	if _, err := e.event(ctx, ev); errorTypeName(err) != "TransientError" {
		t.Fatalf("got %v, want TransientError (Lambda retries)", err)
	}
	e.clk.Advance(10 * time.Second)
	out, err := e.event(ctx, ev)
	if err != nil || out.Action != EventDeferred || out.WaitSeconds != 50 {
		t.Fatalf("got %+v, %v; want deferred to the held slot, 50 s", out, err)
	}
	if n := len(e.lim.reserves); n != 2 {
		t.Errorf("reserves: got %d, want 2 (the slot is held, not taken again)", n)
	}
}

func TestRelaunchSQSBatchReportsOnlyFailures(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := withQueue(e)
	quota, throttled := launch.RelaunchToken(arns[2]), launch.RelaunchToken(arns[3])
	throttles := 0
	e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		switch aws.ToString(in.ClientToken) {
		case quota:
			return nil, &smithy.GenericAPIError{Code: "LimitExceededException", Message: "limit", Fault: smithy.FaultClient}
		case throttled:
			if throttles++; throttles == 1 {
				return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
			}
		}
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	sb := launch.StartedBy("r1", 0, 1)
	ctx := context.Background()
	// A batch's records are handled concurrently, and a quota refusal
	// makes every later relaunch of its chunk wait for quota: the quota
	// record comes in its own batch, after, so the outcome does not
	// depend on the order the records ran in.
	raw := batch(string(taskEvent(t, arns[1], sb, "")), "not json", string(taskEvent(t, arns[3], sb, "")))
	resp, err := e.queue(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	slices.Sort(got)
	// m1 is not JSON: the only failure; the throttled relaunch (m2)
	// queued itself again.
	if want := []string{"m1"}; !slices.Equal(got, want) {
		t.Fatalf("batchItemFailures: got %v, want %v", got, want)
	}
	b, _ := json.Marshal(resp)
	if !strings.Contains(string(b), `"batchItemFailures":[{"itemIdentifier":"m`) {
		t.Errorf("wire shape: %s", b)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if len(st.Stopped) != 1 {
		t.Errorf("stopped: got %d, want 1 relaunched", len(st.Stopped))
	}
	// The quota refusal waits for quota on the queue: not a failure either.
	if resp, err := e.queue(ctx, batch(string(taskEvent(t, arns[2], sb, "")))); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("quota refusal: got %+v, %v; want no failure", resp, err)
	}
	// The throttled relaunch is back on the queue, without its slot, and
	// so is the quota refusal, waiting for quota.
	sent := q.to(relaunchQueue)
	i := slices.IndexFunc(sent, func(m *sqs.SendMessageInput) bool { return strings.Contains(aws.ToString(m.MessageBody), arns[3]) })
	if len(sent) != 2 || i < 0 || sent[i].DelaySeconds < 1 {
		t.Fatalf("relaunch queue: %d messages, want the throttled relaunch and the quota wait", len(sent))
	}
	reserves := len(e.lim.reserves)
	// The chunk now waits for quota: its relaunches call when the gate
	// grants a probe (QuotaProbeEvery later).
	e.clk.Advance(QuotaProbeEvery)
	resp, err = e.queue(ctx, batch(aws.ToString(sent[i].MessageBody)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("requeued relaunch: got %+v, %v", resp, err)
	}
	if st, _ = e.st.Chunk(ctx, "r1", 0); len(st.Stopped) != 2 || len(e.lim.reserves) != reserves+1 {
		t.Errorf("stopped %d, reserves %d; want 2 relaunched, a new slot for the throttled one", len(st.Stopped), len(e.lim.reserves)-reserves)
	}
}

func TestRelaunchSQSBatchBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	withQueue(e)
	ev := string(taskEvent(t, arns[1], launch.StartedBy("r1", 0, 1), ""))
	for name, tc := range map[string]struct {
		raw   string
		field string
	}{
		"foreign source": {`{"Records":[{"messageId":"m0","eventSource":"aws:sqs","body":` + strconv.Quote(ev) + `},{"messageId":"m1","eventSource":"aws:kinesis","body":"{}"}]}`, "Records[1].eventSource"},
		"no messageId":   {`{"Records":[{"eventSource":"aws:sqs","body":` + strconv.Quote(ev) + `}]}`, "Records[0].messageId"},
		"empty":          {`{"Records":[]}`, "Records"},
		"not a list":     {`{"Records":{}}`, "Records"},
	} {
		_, err := e.queue(context.Background(), json.RawMessage(tc.raw))
		if errorTypeName(err) != "PermanentError" || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v, want a PermanentError naming %s", name, err, tc.field)
		}
	}
	if n := len(e.ecs.Calls()); n != 1 {
		t.Fatalf("calls: got %d, want only the chunk's", n)
	}
}

func TestRelaunchPastDeadlineGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		wait, advance time.Duration
	}{
		"deadline passes while queued": {wait: 300 * time.Second, advance: 700 * time.Second},
		"slot beyond the deadline":     {wait: 900 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRetryEnv(t, 0)
			r := launchtest.ECSRequest("r1", 10)
			r.DeadlineSeconds = 600
			plan(t, e.st, r, t0)
			if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
				t.Fatalf("launch: %+v, %v", out, err)
			}
			st, _ := e.st.Chunk(ctx, "r1", 0)
			q := withQueue(e)
			e.lim.waits = []time.Duration{tc.wait}
			ev := taskEvent(t, st.IDs[0], launch.StartedBy("r1", 0, 1), "")
			out, err := e.event(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if tc.advance > 0 {
				backFromQueue(t, e, ev, out, tc.advance)
				out, _ = e.event(ctx, ev) // the claim now says given up
				if out.Action != EventDuplicate {
					t.Fatalf("got %+v, want duplicate (given up)", out)
				}
			} else {
				if o := out; o.Action != EventGaveUp || !strings.Contains(o.Reason, "deadline") {
					t.Fatalf("got %+v, want giveup naming the deadline", out)
				}
				if len(e.lim.releases) != 1 {
					t.Errorf("releases: got %d, want the far slot given back", len(e.lim.releases))
				}
			}
			dl := q.to("http://127.0.0.1/q")
			if len(dl) != 1 || !strings.Contains(aws.ToString(dl[0].MessageBody), "deadline") {
				t.Fatalf("dead letters: %d, want 1 naming the deadline", len(dl))
			}
			st, _ = e.st.Chunk(ctx, "r1", 0)
			if len(e.ecs.Calls()) != 1 || st.Lost != 1 || st.Missing(10) != 0 {
				t.Fatalf("calls %d lost %d missing %d; want 1, 1, 0", len(e.ecs.Calls()), st.Lost, st.Missing(10))
			}
		})
	}
}

// TestEventHandedToTheQueueOnFailure: an EventBridge event that fails for a
// reason that may pass goes to the relaunch queue instead of failing the
// asynchronous invocation; bad input still fails.
func TestEventHandedToTheQueueOnFailure(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := withQueue(e)
	e.lim.err = errors.New("limiter: table unreachable")
	ctx := context.Background()
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
	out, err := e.event(ctx, ev)
	if err != nil || out.Action != EventDeferred {
		t.Fatalf("got %+v, %v; want deferred (handed to the queue)", out, err)
	}
	sent := q.to(relaunchQueue)
	if len(sent) != 1 || sent[0].DelaySeconds != 10 || aws.ToString(sent[0].MessageBody) != strings.TrimSpace(string(ev)) {
		t.Fatalf("relaunch queue: %d messages, want the event with a 10 s delay", len(sent))
	}
	e.lim.err = nil
	e.clk.Advance(10 * time.Second)
	resp, err := e.queue(ctx, batch(aws.ToString(sent[0].MessageBody)))
	if err != nil || len(resp.BatchItemFailures) != 0 || len(e.ecs.Calls()) != 2 {
		t.Fatalf("from the queue: got %+v, %v, %d calls; want relaunched", resp, err, len(e.ecs.Calls()))
	}
	if _, err := e.event(ctx, json.RawMessage(`{"detail-type":5}`)); errorTypeName(err) != "PermanentError" {
		t.Fatalf("bad input: got %v, want PermanentError", err)
	}
	if n := len(q.to(relaunchQueue)); n != 1 {
		t.Errorf("relaunch queue: %d messages, want bad input not queued", n)
	}
}

// TestRelaunchOfUnrecordedRelaunchWaits: a relaunched task that fails to
// start before its own relaunch is recorded waits for it, so the table
// never counts both the task it replaced and its replacement.
func TestRelaunchOfUnrecordedRelaunchWaits(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := withQueue(e)
	e.ecs.loseResponse = map[int]bool{2: true}
	ctx := context.Background()
	evX := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
	if out, err := e.event(ctx, evX); err != nil || out.Action != EventDeferred {
		t.Fatalf("lost response: got %+v, %v; want deferred (tried again from the queue)", out, err)
	}
	x1 := "arn:aws:ecs:us-east-1:000000000000:task/jobs/0011" // launched, response lost
	evX1 := taskEvent(t, x1, launch.RelaunchStartedBy("r1", 0, arns[0]), "")
	out, err := e.event(ctx, evX1)
	if err != nil || out.Action != EventDeferred || len(e.ecs.Calls()) != 2 {
		t.Fatalf("got %+v, %v, %d calls; want deferred without a call", out, err, len(e.ecs.Calls()))
	}
	if st, _ := e.st.Chunk(ctx, "r1", 0); st.Launched() != 10 {
		t.Fatalf("launched %d, want 10", st.Launched())
	}
	// The first relaunch is recorded from the queue (same token), then the second goes.
	e.clk.Advance(time.Minute)
	for _, ev := range []json.RawMessage{evX, evX1} {
		resp, err := e.queue(ctx, batch(string(ev)))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("got %+v, %v", resp, err)
		}
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if st.Launched() != 10 || len(st.Stopped) != 2 || len(st.IDs) != 12 || len(e.ecs.Calls()) != 4 {
		t.Fatalf("launched %d stopped %d ids %d calls %d; want 10, 2, 12, 4", st.Launched(), len(st.Stopped), len(st.IDs), len(e.ecs.Calls()))
	}
	if n := len(q.to(relaunchQueue)); n != 2 {
		t.Errorf("relaunch queue: %d messages, want 2", n)
	}
}

// TestRelaunchOfUnknownOutcomeIsSettledPastTheDeadline: a relaunch call
// whose answer was lost may have launched; past the deadline it is replayed
// with its token (recording the task it launched), not dead-lettered.
func TestRelaunchOfUnknownOutcomeIsSettledPastTheDeadline(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 600
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	ctx := context.Background()
	st, _ := e.st.Chunk(ctx, "r1", 0)
	q := withQueue(e)
	e.ecs.loseResponse = map[int]bool{2: true}
	ev := taskEvent(t, st.IDs[0], launch.StartedBy("r1", 0, 1), "")
	if out, err := e.event(ctx, ev); err != nil || out.Action != EventDeferred {
		t.Fatalf("lost response: got %+v, %v; want deferred", out, err)
	}
	e.clk.Advance(700 * time.Second)
	resp, err := e.queue(ctx, batch(string(ev)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v", resp, err)
	}
	calls := e.ecs.Calls()
	st, _ = e.st.Chunk(ctx, "r1", 0)
	if len(calls) != 3 || aws.ToString(calls[1].ClientToken) != aws.ToString(calls[2].ClientToken) || e.ecs.seq != 11 {
		t.Fatalf("calls %d, tasks %d; want the lost call replayed with its token, 11 tasks", len(calls), e.ecs.seq)
	}
	if st.Launched() != 10 || st.Lost != 0 || len(q.to("http://127.0.0.1/q")) != 0 {
		t.Fatalf("launched %d lost %d dead letters %d; want 10, 0, 0", st.Launched(), st.Lost, len(q.to("http://127.0.0.1/q")))
	}
}

// hungECS never answers: the call ends with its context.
type hungECS struct{}

func (hungECS) RunTask(ctx context.Context, _ *ecs.RunTaskInput, _ ...func(*ecs.Options)) (*ecs.RunTaskOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestHungCallLeavesTimeToHandOff: a relaunch call that never answers ends
// at four fifths of the invocation's time, and the event is handed to the
// relaunch queue before the function's timeout.
func TestHungCallLeavesTimeToHandOff(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := &queueSQS{}
	r := NewRelaunch(e.st, e.lim, hungECS{}, e.events, q, func(o *RelaunchOptions) {
		o.Clock, o.Bus, o.DLQURL, o.RelaunchQueueURL = e.clk, "product", "http://127.0.0.1/q", relaunchQueue
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := invokeEvent(ctx, r, taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), ""))
	if err != nil || out.Action != EventDeferred || ctx.Err() != nil {
		t.Fatalf("got %+v, %v (context %v); want handed to the queue in time", out, err, ctx.Err())
	}
	if n := len(q.to(relaunchQueue)); n != 1 {
		t.Fatalf("relaunch queue: %d messages, want 1", n)
	}
}

// TestRelaunchOfUnknownOutcomeWithSlotPastTheDeadlineWaitsForIt: a relaunch
// whose call's answer was lost and whose next slot lies after the deadline
// is not given up (the lost call may have launched): the slot goes back and
// the event waits for the deadline, where the call is replayed with its
// token and recorded.
func TestRelaunchOfUnknownOutcomeWithSlotPastTheDeadlineWaitsForIt(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	r := launchtest.ECSRequest("r1", 10)
	r.DeadlineSeconds = 600
	plan(t, e.st, r, t0)
	if out, err := e.run(t, RunTaskInput{RequestID: "r1", Chunk: 0, Attempt: 1}); err != nil || out.Status != StatusLaunched {
		t.Fatalf("launch: %+v, %v", out, err)
	}
	ctx := context.Background()
	st, _ := e.st.Chunk(ctx, "r1", 0)
	q := withQueue(e)
	e.ecs.loseResponse = map[int]bool{2: true}
	ev := taskEvent(t, st.IDs[0], launch.StartedBy("r1", 0, 1), "")
	if out, err := e.event(ctx, ev); err != nil || out.Action != EventDeferred {
		t.Fatalf("lost response: got %+v, %v; want deferred", out, err)
	}
	// Back from the queue 10 s later; the next slot is 900 s away, after the deadline.
	e.clk.Advance(10 * time.Second)
	e.lim.waits = []time.Duration{900 * time.Second}
	resp, err := e.queue(ctx, batch(string(ev)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if dl := q.to("http://127.0.0.1/q"); len(dl) != 0 {
		t.Fatalf("dead-lettered while the lost call may have launched: %s", aws.ToString(dl[0].MessageBody))
	}
	sent := q.to(relaunchQueue)
	if len(sent) != 2 || sent[1].DelaySeconds != 590 {
		t.Fatalf("relaunch queue: %d messages (last delay %d), want 2, the second until the deadline (590 s)", len(sent), sent[len(sent)-1].DelaySeconds)
	}
	if len(e.lim.releases) != 1 {
		t.Errorf("releases: got %d, want the far slot given back", len(e.lim.releases))
	}
	if len(e.ecs.Calls()) != 2 {
		t.Fatalf("calls %d, want no call before the deadline", len(e.ecs.Calls()))
	}
	// At the deadline the call is replayed with its token and settles.
	e.clk.Advance(590 * time.Second)
	resp, err = e.queue(ctx, batch(aws.ToString(sent[1].MessageBody)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v, %v", resp, err)
	}
	calls := e.ecs.Calls()
	st, _ = e.st.Chunk(ctx, "r1", 0)
	if len(calls) != 3 || aws.ToString(calls[1].ClientToken) != aws.ToString(calls[2].ClientToken) || e.ecs.seq != 11 {
		t.Fatalf("calls %d, tasks %d; want the lost call replayed with its token, 11 tasks", len(calls), e.ecs.seq)
	}
	if st.Launched() != 10 || st.Lost != 0 || len(st.Stopped) != 1 || len(q.to("http://127.0.0.1/q")) != 0 {
		t.Fatalf("launched %d lost %d stopped %d dead letters %d; want 10, 0, 1, 0", st.Launched(), st.Lost, len(st.Stopped), len(q.to("http://127.0.0.1/q")))
	}
	if len(e.lim.releases) != 1 {
		t.Errorf("releases: got %d, want 1 (the slot given back once)", len(e.lim.releases))
	}
}

// TestRelaunchCallsAtItsSlot: a slot within DeferThreshold is slept for, so
// the relaunch calls at or after it, not up to DeferThreshold early; the
// same for a slot held in the claim that the queue brings back early.
func TestRelaunchCallsAtItsSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, tc := range map[string]struct {
		wait, advance time.Duration // the slot; when the queued event comes back
	}{
		"near slot":            {wait: 1500 * time.Millisecond},
		"held slot come early": {wait: 60 * time.Second, advance: 58500 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newRetryEnv(t, 0)
			arns := launchChunk(t, e)
			withQueue(e)
			var calledAt time.Time
			e.ecs.respond = func(_ int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
				calledAt = e.clk.Now()
				return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
			}
			e.lim.waits = []time.Duration{tc.wait}
			slotAt := e.clk.Now().Add(tc.wait)
			ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
			out, err := e.event(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if tc.advance > 0 {
				if out.Action != EventDeferred {
					t.Fatalf("got %+v, want deferred", out)
				}
				e.clk.Advance(tc.advance)
				out, err = e.event(ctx, ev)
				if err != nil {
					t.Fatal(err)
				}
			}
			if out.Action != EventRelaunched {
				t.Fatalf("got %+v, want relaunched", out)
			}
			if calledAt.Before(slotAt) {
				t.Fatalf("called at %s, %s before the slot", calledAt.Format(time.RFC3339Nano), slotAt.Sub(calledAt))
			}
			if d := calledAt.Sub(slotAt); d > 100*time.Millisecond {
				t.Errorf("called %s after the slot, want at it", d)
			}
		})
	}
}

// TestRelaunchWaitCutShortCallsNothing: a sleep for the slot that ends with
// the context makes no call and leaves no unknown outcome behind.
func TestRelaunchWaitCutShortCallsNothing(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	e.rl = NewRelaunch(e.st, e.lim, e.ecs, e.events, e.sqs, func(o *RelaunchOptions) {
		o.Clock, o.Bus, o.DLQURL = sleepless{e.clk}, "product", "http://127.0.0.1/q"
	})
	e.lim.waits = []time.Duration{time.Second}
	ctx := context.Background()
	if _, err := e.event(ctx, taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")); errorTypeName(err) != "TransientError" {
		t.Fatalf("got %v, want TransientError", err)
	}
	if n := len(e.ecs.Calls()); n != 1 {
		t.Fatalf("calls %d, want only the chunk's", n)
	}
	if u, err := e.st.RelaunchUnsettled(ctx, arns[0]); err != nil || u {
		t.Fatalf("unsettled %v, %v; want false", u, err)
	}
}

// GIVEN a relaunch whose call ECS answers with a capacity failure
// WHEN the event comes back from the relaunch queue
// THEN the next call carries the next token generation (the first token
// would be answered the same failure for as long as it lives) and launches;
// a delivery that saw the same failure does not advance it again.
func TestRelaunchAfterAnsweredFailureAdvancesToken(t *testing.T) {
	t.Parallel()
	e := newRetryEnv(t, 0)
	arns := launchChunk(t, e)
	q := withQueue(e)
	e.ecs.respond = func(n int, in *ecs.RunTaskInput) (*ecs.RunTaskOutput, error) {
		if n == 2 {
			return &ecs.RunTaskOutput{Failures: []ecstypes.Failure{{Reason: aws.String("Capacity is unavailable at this time. Please try again later or in a different availability zone")}}}, nil
		}
		return e.ecs.launch(int(aws.ToInt32(in.Count))), nil
	}
	ctx := context.Background()
	ev := taskEvent(t, arns[0], launch.StartedBy("r1", 0, 1), "")
	out, err := e.event(ctx, ev)
	if err != nil || out.Action != EventDeferred {
		t.Fatalf("got %+v, %v; want deferred after the capacity failure", out, err)
	}
	// A delivery that saw generation 0 fail too: no second advance.
	if err := e.st.AdvanceRelaunchToken(ctx, arns[0], 0, 0); err != nil {
		t.Fatal(err)
	}
	sent := q.to(relaunchQueue)
	if len(sent) != 1 {
		t.Fatalf("relaunch queue: %d messages, want 1", len(sent))
	}
	e.clk.Advance(time.Duration(sent[0].DelaySeconds) * time.Second)
	out, err = e.event(ctx, ev)
	if err != nil || out.Action != EventRelaunched {
		t.Fatalf("got %+v, %v; want relaunched", out, err)
	}
	calls := e.ecs.Calls()
	if len(calls) != 3 {
		t.Fatalf("calls: got %d, want 3 (chunk, failed relaunch, relaunch)", len(calls))
	}
	if got, want := aws.ToString(calls[1].ClientToken), launch.RelaunchToken(arns[0]); got != want {
		t.Errorf("first relaunch token %q, want %q", got, want)
	}
	if got, want := aws.ToString(calls[2].ClientToken), launch.RelaunchTokenGen(arns[0], 1); got != want {
		t.Errorf("second relaunch token %q, want generation 1 %q", got, want)
	}
	st, _ := e.st.Chunk(ctx, "r1", 0)
	if st.Launched() != 10 || len(st.Stopped) != 1 || e.ecs.seq != 11 {
		t.Fatalf("launched %d stopped %d tasks %d; want 10, 1, 11", st.Launched(), len(st.Stopped), e.ecs.seq)
	}
}
