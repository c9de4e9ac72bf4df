package esm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/services/sqs"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

type sqsEvent struct {
	Records []struct {
		MessageID   string            `json:"messageId"`
		Body        string            `json:"body"`
		EventSource string            `json:"eventSource"`
		Attributes  map[string]string `json:"attributes"`
	} `json:"Records"`
}

type batchResponse struct {
	BatchItemFailures []map[string]string `json:"batchItemFailures"`
}

// seen records, per body, the simulated times the function saw it.
type seen struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (s *seen) add(body string, t time.Time) {
	s.mu.Lock()
	s.at[body] = append(s.at[body], t)
	s.mu.Unlock()
}

func (s *seen) get(body string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at[body]...)
}

// TestMapping: a delayed message is not handed over before its delay; a
// record the function reports failed comes back after the visibility
// timeout, the others are deleted; a record that keeps failing is moved to
// the dead-letter queue after maxReceiveCount receives.
func TestMapping(t *testing.T) {
	t.Parallel()
	clk := clock.NewScaled(time.Now(), 200)
	q := sqs.New(sqs.Options{Endpoint: "http://127.0.0.1:1", Clock: clk})
	if _, err := q.CreateQueue("dead", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := q.CreateQueue("work", map[string]string{"VisibilityTimeout": "30",
		"RedrivePolicy": `{"deadLetterTargetArn":"` + q.QueueARN("dead") + `","maxReceiveCount":3}`}); err != nil {
		t.Fatal(err)
	}
	s := &seen{at: map[string][]time.Time{}}
	handler := func(_ context.Context, ev sqsEvent) (batchResponse, error) {
		resp := batchResponse{BatchItemFailures: []map[string]string{}}
		for _, r := range ev.Records {
			if r.EventSource != "aws:sqs" {
				return resp, errors.New("eventSource " + r.EventSource)
			}
			s.add(r.Body, clk.Now())
			if r.Body == "always" || r.Body == "fail-once" && r.Attributes["ApproximateReceiveCount"] == "1" {
				resp.BatchItemFailures = append(resp.BatchItemFailures, map[string]string{"itemIdentifier": r.MessageID})
			}
		}
		return resp, nil
	}
	fn := lambda.New(func(string) (awslambda.Handler, error) { return awslambda.NewHandler(handler), nil },
		func(o *lambda.Options) { o.Clock = clk })
	defer fn.Close()
	m, err := Start(Options{SQS: q, QueueName: "work", Lambda: fn, Function: "retry", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()

	ctx := context.Background()
	sent := clk.Now()
	if _, err := q.Send(ctx, "work", "ok", nil); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"fail-once", "always"} {
		if _, err := q.Send(ctx, "work", b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := sendDelayed(q, "delayed", 120); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		v, inflight, delayed, _ := q.Depth("work")
		dv, _, _, _ := q.Depth("dead")
		if v+inflight+delayed == 0 && dv == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("work queue %d/%d/%d, dead %d; want empty and 1 dead-lettered", v, inflight, delayed, dv)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if got := s.get("ok"); len(got) != 1 {
		t.Errorf("ok: handled %d times, want once (deleted after success)", len(got))
	}
	if got := s.get("delayed"); len(got) != 1 || got[0].Sub(sent) < 120*time.Second {
		t.Errorf("delayed: handled at %v after the send, want once, ≥ 120 s", times(got, sent))
	}
	// The visibility timeout runs from the receive, before the handler reads
	// the clock; at 200× a few real ms of hand-off are simulated seconds.
	if got := s.get("fail-once"); len(got) != 2 || got[1].Sub(got[0]) < 25*time.Second {
		t.Errorf("fail-once: handled at %v, want twice, about 30 s apart (visibility timeout)", times(got, sent))
	}
	if got := s.get("always"); len(got) != 3 {
		t.Errorf("always: handled %d times, want 3 (maxReceiveCount) before the redrive", len(got))
	}
	msgs, err := q.Receive(ctx, "dead", 10, 0)
	if err != nil || len(msgs) != 1 || msgs[0].Body != "always" {
		t.Fatalf("dead-letter queue: %+v, %v; want the always-failing message", msgs, err)
	}
	if st := m.Stats(); st.Deleted != 3 || st.Kept != 4 {
		t.Errorf("stats %+v, want 3 deleted (ok, fail-once, delayed) and 4 kept (fail-once once, always 3 times)", st)
	}
}

func sendDelayed(q *sqs.Service, body string, seconds int) error {
	// Through the JSON API's send path: DelaySeconds per message.
	_, err := q.SendDelayed(context.Background(), "work", body, seconds)
	return err
}

func times(ts []time.Time, from time.Time) []time.Duration {
	var out []time.Duration
	for _, t := range ts {
		out = append(out, t.Sub(from).Round(time.Second))
	}
	return out
}

// TestFailures: what Lambda makes of a response.
func TestFailures(t *testing.T) {
	t.Parallel()
	msgs := []sqs.Message{{ID: "a"}, {ID: "b"}}
	for name, tc := range map[string]struct {
		resp lambda.Response
		err  error
		keep []string
		ok   bool
	}{
		"none failed":       {resp: lambda.Response{Payload: []byte(`{"batchItemFailures":[]}`)}, ok: true},
		"null":              {resp: lambda.Response{Payload: []byte("null\n")}, ok: true},
		"one failed":        {resp: lambda.Response{Payload: []byte(`{"batchItemFailures":[{"itemIdentifier":"b"}]}`)}, keep: []string{"b"}, ok: true},
		"unknown id":        {resp: lambda.Response{Payload: []byte(`{"batchItemFailures":[{"itemIdentifier":"z"}]}`)}, keep: []string{"a", "b"}},
		"missing id":        {resp: lambda.Response{Payload: []byte(`{"batchItemFailures":[{}]}`)}, keep: []string{"a", "b"}},
		"function error":    {resp: lambda.Response{FunctionError: "Unhandled", Payload: []byte(`{"errorType":"X"}`)}, keep: []string{"a", "b"}},
		"invocation failed": {err: errors.New("429"), keep: []string{"a", "b"}},
		"not json":          {resp: lambda.Response{Payload: []byte(`[1`)}, keep: []string{"a", "b"}},
	} {
		keep, ok := failures(tc.resp, tc.err, msgs)
		if ok != tc.ok || len(keep) != len(tc.keep) {
			t.Errorf("%s: got %v %v, want %v %v", name, keep, ok, tc.keep, tc.ok)
			continue
		}
		for _, id := range tc.keep {
			if !keep[id] {
				t.Errorf("%s: %s not kept", name, id)
			}
		}
	}
}

// throttling is an Invoker that answers 429 to the first n invocations,
// then succeeds with an empty partial batch response.
type throttling struct {
	mu    sync.Mutex
	n     int
	calls int
}

type status429 struct{}

func (status429) Error() string   { return "TooManyRequestsException: Rate Exceeded." }
func (status429) HTTPStatus() int { return 429 }

func (f *throttling) Invoke(context.Context, string, []byte) (lambda.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.n {
		return lambda.Response{}, status429{}
	}
	return lambda.Response{Payload: []byte(`{"batchItemFailures":[]}`)}, nil
}

// GIVEN a function throttled (429) for its first invocations
// WHEN a batch is delivered with ThrottleRetryFor 90 s, and with none
// THEN with it the batch is invoked again after backoff and deleted on its
// first receive; without it the batch is left for the visibility timeout
func TestThrottledBatchRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		retryFor   time.Duration
		throttles  int
		wantCalls  int
		wantKept   int
		wantDelete int
	}{
		{"retried within the window", 90 * time.Second, 3, 4, 0, 1},       // 1 + 2 + 4 s of backoff
		{"window spent, left to the queue", 10 * time.Second, 5, 4, 1, 0}, // 1 + 2 + 4 s, then 8 more would pass 10 s
		{"no window", 0, 1, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// 50×: the last retry decision has 3 s of slack, 60 ms real.
			clk := clock.NewScaled(time.Now(), 50)
			q := sqs.New(sqs.Options{Endpoint: "http://127.0.0.1:1", Clock: clk})
			if _, err := q.CreateQueue("work", map[string]string{"VisibilityTimeout": "180"}); err != nil {
				t.Fatal(err)
			}
			fn := &throttling{n: tc.throttles}
			m, err := Start(Options{SQS: q, QueueName: "work", Lambda: fn, Function: "retry", Clock: clk, Pollers: 1, ThrottleRetryFor: tc.retryFor})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Send(context.Background(), "work", "relaunch", nil); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for st := m.Stats(); st.Deleted+st.Kept == 0; st = m.Stats() {
				if time.Now().After(deadline) {
					t.Fatalf("the batch was not handled: %+v", st)
				}
				time.Sleep(time.Millisecond)
			}
			m.Stop()
			st := m.Stats()
			if st.Invocations != tc.wantCalls || st.Throttled != min(tc.throttles, tc.wantCalls) || st.Kept != tc.wantKept || st.Deleted != tc.wantDelete {
				t.Errorf("stats %+v: want %d invocations, %d kept, %d deleted", st, tc.wantCalls, tc.wantKept, tc.wantDelete)
			}
		})
	}
}
