package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// sink is a hand-written fake for the four delivery functions: it records
// calls and fails the first failN calls of a target with err.
type sink struct {
	mu       sync.Mutex
	calls    map[string][][]byte // by target ARN
	dlq      []map[string]string
	failN    int
	failWith error
}

func (k *sink) deliver(arn string, payload []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.calls == nil {
		k.calls = map[string][][]byte{}
	}
	k.calls[arn] = append(k.calls[arn], payload)
	if len(k.calls[arn]) <= k.failN {
		return k.failWith
	}
	return nil
}

func newService(t *testing.T, k *sink, opt func(*Options)) *Service {
	t.Helper()
	o := Options{
		Clock:          clock.NewScaled(time.Now(), 10000),
		Buses:          []string{"throttle-handler"},
		Invoke:         func(_ context.Context, fn string, p []byte) error { return k.deliver(fn, p) },
		StartExecution: func(_ context.Context, sm, in string) error { return k.deliver(sm, []byte(in)) },
		SendMessage:    func(_ context.Context, q, body string) error { return k.deliver(q, []byte(body)) },
		SendToDLQ: func(_ context.Context, q, body string, attrs map[string]string) error {
			k.mu.Lock()
			defer k.mu.Unlock()
			attrs["queue"], attrs["body"] = q, body
			k.dlq = append(k.dlq, attrs)
			return nil
		},
	}
	if opt != nil {
		opt(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func drain(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPutEventsMatchesProductRule(t *testing.T) {
	t.Parallel()
	k := &sink{}
	s := newService(t, k, nil)
	addRepoRules(t, s, "dlq")
	c := newClient(t, s)
	out, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("throttle-handler"), DetailType: aws.String("LaunchRequested"), Detail: aws.String(`{"requestId":"r1"}`), EventBusName: aws.String("throttle-handler")},
		{Source: aws.String("throttle-handler"), DetailType: aws.String("LaunchRequested"), Detail: aws.String(`{"requestId":"r2"}`)}, // default bus: no rule
		{Source: aws.String("aws.ecs"), DetailType: aws.String("ECS Service Action"), Detail: aws.String(`{}`)},
		{Source: aws.String("x"), DetailType: aws.String("y"), Detail: aws.String(`not json`)},
		{Source: aws.String("x"), DetailType: aws.String("y"), Detail: aws.String(`{}`), EventBusName: aws.String("nope")},
		{DetailType: aws.String("y"), Detail: aws.String(`{}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := []string{"", "", "NotAuthorizedForSourceException", "MalformedDetail", "ResourceNotFoundException", "InvalidArgument"}
	if out.FailedEntryCount != 4 || len(out.Entries) != len(wantCodes) {
		t.Fatalf("got %d failed of %d entries, want 4 of %d", out.FailedEntryCount, len(out.Entries), len(wantCodes))
	}
	for i, want := range wantCodes {
		if got := aws.ToString(out.Entries[i].ErrorCode); got != want {
			t.Errorf("entry %d: got ErrorCode %q, want %q", i, got, want)
		}
		if want == "" && aws.ToString(out.Entries[i].EventId) == "" {
			t.Errorf("entry %d: no EventId", i)
		}
	}
	drain(t, s)
	calls := k.calls["arn:aws:lambda:us-east-1:000000000000:function:submit"]
	if len(calls) != 1 {
		t.Fatalf("submit got %d events, want 1", len(calls))
	}
	var env struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		ID         string          `json:"id"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(calls[0], &env); err != nil {
		t.Fatal(err)
	}
	if env.DetailType != "LaunchRequested" || string(env.Detail) != `{"requestId":"r1"}` || env.ID != aws.ToString(out.Entries[0].EventId) {
		t.Errorf("got envelope %s", calls[0])
	}
}

func TestPutEventsTooManyEntries(t *testing.T) {
	t.Parallel()
	s := newService(t, &sink{}, nil)
	c := newClient(t, s)
	entries := make([]types.PutEventsRequestEntry, 11)
	for i := range entries {
		entries[i] = types.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("d"), Detail: aws.String("{}")}
	}
	_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries})
	var api interface{ ErrorCode() string }
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Fatalf("got %v, want ValidationException", err)
	}
}

func TestPutServiceEventsOnDefaultBus(t *testing.T) {
	t.Parallel()
	k := &sink{}
	s := newService(t, k, nil)
	rules, err := LoadRules(filepath.Join(testenv.RepoRoot(), "statemachines", "rules"), "throttle-handler", "us-east-1", "000000000000", "", relaunchARN)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if err := s.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	envelope := func(detailType, detail string) []byte {
		return fmt.Appendf(nil, `{"version":"0","id":"1","detail-type":%q,"source":"aws.ecs","account":"000000000000","time":"2026-11-22T00:00:00Z","region":"us-east-1","resources":[],"detail":%s}`, detailType, detail)
	}
	err = s.Put(context.Background(),
		envelope("ECS Service Action", `{"eventType":"ERROR","eventName":"ECS_OPERATION_THROTTLED"}`),
		envelope("ECS Service Action", `{"eventType":"INFO","eventName":"SERVICE_STEADY_STATE"}`),
		envelope("ECS Task State Change", `{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":"th/0123456789ab/3/0"}`),
		envelope("ECS Task State Change", `{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":"someone-else"}`),
	)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	// The throttle signal invokes retry; our failed task goes to the
	// relaunch queue (10 receives, not 3 asynchronous attempts), whole.
	if got := k.calls["arn:aws:lambda:us-east-1:000000000000:function:retry"]; len(got) != 1 || !strings.Contains(string(got[0]), "ECS_OPERATION_THROTTLED") {
		t.Errorf("retry got %d events %q, want 1, the throttle", len(got), got)
	}
	got := k.calls[relaunchARN]
	if len(got) != 1 || !strings.Contains(string(got[0]), `"startedBy":"th/0123456789ab/3/0"`) || !strings.Contains(string(got[0]), `"detail-type":"ECS Task State Change"`) {
		t.Fatalf("relaunch queue got %d messages %q, want 1, our failed task's whole event", len(got), got)
	}
}

// relaunchARN is the relaunch queue the rule files' "via" names.
const relaunchARN = "arn:aws:sqs:us-east-1:000000000000:throttle-handler-relaunch"

// GIVEN a rule file whose "via" is not the relaunch queue, or no relaunch
// queue ARN for one that is
// WHEN the rules are loaded
// THEN the error names the file and the field
func TestLoadRulesRefusesBadVia(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, queue, want string }{
		{`{"bus":"default","target":"retry","via":"kinesis","pattern":{"source":["x"]}}`, relaunchARN, `via: want "relaunch-queue" or nothing, got "kinesis"`},
		{`{"bus":"default","target":"submit","via":"relaunch-queue","pattern":{"source":["x"]}}`, relaunchARN, `via: the relaunch queue is consumed by retry, not "submit"`},
		{`{"bus":"default","target":"retry","via":"relaunch-queue","pattern":{"source":["x"]}}`, "", `via relaunch-queue: no relaunch queue ARN given`},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadRules(dir, "throttle-handler", "us-east-1", "000000000000", "", tc.queue)
		if err == nil || !strings.Contains(err.Error(), "bad.json") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming bad.json and %q", tc.file, err, tc.want)
		}
	}
}

func TestDeliveryRetriesAndDeadLetters(t *testing.T) {
	t.Parallel()
	throttled := awsjson.Errorf(429, "TooManyRequestsException", "Rate Exceeded.")
	missing := awsjson.Errorf(404, "ResourceNotFoundException", "Function not found")
	tests := []struct {
		name          string
		failN         int
		err           error
		policy        *RetryPolicy
		wantCalls     int
		wantDelivered int64
		wantDLQ       string // EXHAUSTED_RETRY_CONDITION, "-" = none in DLQ, "" = DLQ without condition
	}{
		{"throttled twice then delivered", 2, throttled, nil, 3, 1, "-"},
		{"not retryable goes straight to the DLQ", 5, missing, nil, 1, 0, ""},
		{"retries exhausted", 5, throttled, &RetryPolicy{MaximumRetryAttempts: 1, MaximumEventAge: time.Hour}, 2, 0, "MaximumRetryAttempts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := &sink{failN: tc.failN, failWith: tc.err}
			s := newService(t, k, nil)
			target := "arn:aws:states:us-east-1:000000000000:stateMachine:launch"
			if err := s.AddRule(Rule{Name: "r", Bus: "throttle-handler", Pattern: json.RawMessage(`{"source":["app"]}`),
				Targets: []Target{{ARN: target, RetryPolicy: tc.policy, DeadLetterQueue: "dlq"}}}); err != nil {
				t.Fatal(err)
			}
			if _, _, msg := s.putEntry(entry{Source: "app", DetailType: "d", Detail: "{}", EventBusName: "throttle-handler"}, time.Now()); msg != "" {
				t.Fatal(msg)
			}
			drain(t, s)
			if got := len(k.calls[target]); got != tc.wantCalls {
				t.Errorf("got %d delivery attempts, want %d", got, tc.wantCalls)
			}
			st := s.Stats()
			if st.Delivered != tc.wantDelivered {
				t.Errorf("delivered: got %d, want %d", st.Delivered, tc.wantDelivered)
			}
			if tc.wantDLQ == "-" {
				if len(k.dlq) != 0 {
					t.Errorf("got %d dead letters, want 0", len(k.dlq))
				}
				return
			}
			if len(k.dlq) != 1 {
				t.Fatalf("got %d dead letters, want 1", len(k.dlq))
			}
			d := k.dlq[0]
			if d["EXHAUSTED_RETRY_CONDITION"] != tc.wantDLQ || d["TARGET_ARN"] != target || d["queue"] != "dlq" ||
				d["RULE_ARN"] != "arn:aws:events:us-east-1:000000000000:rule/throttle-handler/r" || d["ERROR_CODE"] != tc.err.(*awsjson.Error).Code {
				t.Errorf("dead letter attributes: got %v", d)
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	k := &sink{}
	s := newService(t, k, func(o *Options) { o.Duplicates = 1 })
	target := "arn:aws:lambda:us-east-1:000000000000:function:retry"
	if err := s.AddRule(Rule{Name: "r", Bus: DefaultBus, Pattern: json.RawMessage(`{"source":["aws.ecs"]}`), Targets: []Target{{ARN: target}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), []byte(`{"source":"aws.ecs","detail":{}}`)); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if got := len(k.calls[target]); got != 2 {
		t.Fatalf("got %d deliveries, want 2 with Duplicates = 1", got)
	}
}

func TestAddRuleRejectsBadPattern(t *testing.T) {
	t.Parallel()
	s := newService(t, &sink{}, nil)
	err := s.AddRule(Rule{Name: "r", Bus: DefaultBus, Pattern: json.RawMessage(`{"source":"aws.ecs"}`),
		Targets: []Target{{ARN: "arn:aws:lambda:us-east-1:000000000000:function:retry"}}})
	if err == nil {
		t.Fatal("got nil error for a pattern whose values are not arrays")
	}
}
