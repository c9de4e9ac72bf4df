package events

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services/internal/awsjson"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Fidelity: "Amazon EventBridge User Guide: How EventBridge retries
// delivering events" and "Using dead-letter queues to process undelivered
// events in EventBridge" — a target's RetryPolicy bounds the retries of a
// throttled delivery (default 185 attempts within 24 hours); when they are
// exhausted, or the event is older than MaximumEventAgeInSeconds, the
// event goes to the target's dead-letter queue with RULE_ARN, TARGET_ARN,
// ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS.
// The rules loaded from the repository carry the policy the stack sets.
func TestRuleFilesRetryAsTheStack(t *testing.T) {
	t.Parallel()
	throttled := awsjson.Errorf(429, "TooManyRequestsException", "Rate Exceeded.")
	rules, err := LoadRules(filepath.Join(testenv.RepoRoot(), "statemachines", "rules"), "throttle-handler", "us-east-1", "000000000000", "dlq", relaunchARN)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Rule{}
	for _, r := range rules {
		byName[r.Name] = r
	}
	for _, tc := range []struct {
		rule, source, detailType, detail string
		wantAttempts                     int
	}{
		{"ecs-service-throttled", "aws.ecs", "ECS Service Action", `{"eventName":"ECS_OPERATION_THROTTLED"}`, 8},
		{"ecs-task-failed-to-start", "aws.ecs", "ECS Task State Change", `{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":"th/x"}`, 8},
		{"launch-requested", "throttle-handler", "LaunchRequested", `{"requestId":"r1"}`, 185},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			r, ok := byName[tc.rule]
			if !ok {
				t.Fatalf("no rule %s in %v", tc.rule, byName)
			}
			k := &sink{failN: 1 << 30, failWith: throttled}
			s := newService(t, k, nil)
			if err := s.AddRule(r); err != nil {
				t.Fatal(err)
			}
			env := fmt.Appendf(nil, `{"version":"0","id":"1","detail-type":%q,"source":%q,"account":"000000000000","time":"2026-11-22T00:00:00Z","region":"us-east-1","resources":[],"detail":%s}`,
				tc.detailType, tc.source, tc.detail)
			if err := s.route(r.Bus, env); err != nil {
				t.Fatal(err)
			}
			drain(t, s)
			target := r.Targets[0].ARN
			if got := len(k.calls[target]); got != tc.wantAttempts+1 {
				t.Errorf("got %d delivery attempts, want 1 + %d retries", got, tc.wantAttempts)
			}
			if len(k.dlq) != 1 {
				t.Fatalf("got %d dead letters, want 1", len(k.dlq))
			}
			d := k.dlq[0]
			want := map[string]string{"queue": "dlq", "TARGET_ARN": target, "RULE_ARN": s.RuleARN(&r), "ERROR_CODE": "TooManyRequestsException",
				"ERROR_MESSAGE": throttled.Error(), "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
				"RETRY_ATTEMPTS": strconv.Itoa(tc.wantAttempts), "body": string(env)}
			for k, v := range want {
				if d[k] != v {
					t.Errorf("dead letter %s: got %q, want %q", k, d[k], v)
				}
			}
		})
	}
}

// Fidelity: "Amazon EventBridge User Guide: How EventBridge retries
// delivering events" — retries stop once the event is older than
// MaximumEventAgeInSeconds, whatever attempts remain, and the dead letter
// says so.
func TestRetriesStopAtMaximumEventAge(t *testing.T) {
	t.Parallel()
	k := &sink{failN: 1 << 30, failWith: awsjson.Errorf(503, "ServiceUnavailable", "busy")}
	s := newService(t, k, nil)
	target := "arn:aws:lambda:us-east-1:000000000000:function:retry"
	if err := s.AddRule(Rule{Name: "r", Bus: DefaultBus, Pattern: json.RawMessage(`{"source":["aws.ecs"]}`),
		Targets: []Target{{ARN: target, DeadLetterQueue: "dlq", RetryPolicy: &RetryPolicy{MaximumRetryAttempts: 185, MaximumEventAge: time.Minute}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), []byte(`{"source":"aws.ecs","detail":{}}`)); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if len(k.dlq) != 1 || k.dlq[0]["EXHAUSTED_RETRY_CONDITION"] != "MaximumEventAgeInSeconds" {
		t.Fatalf("dead letters: got %v, want one exhausted by MaximumEventAgeInSeconds", k.dlq)
	}
	if n := len(k.calls[target]); n < 2 || n > 185 {
		t.Errorf("got %d attempts, want retries until the age ran out, fewer than 186", n)
	}
}

// Fidelity: "Amazon EventBridge User Guide: Ordering and deduplicating
// events on a Custom Event Bus" (an unordered subscriber, the rules' kind,
// delivers events in parallel, in no set order) — with Reorder each
// delivery waits a random hold first, so events put in one
// order reach the target in another. Rand here gives the first event the
// longest hold: the target sees them reversed.
func TestReorderHoldsDeliveries(t *testing.T) {
	t.Parallel()
	for _, reorder := range []time.Duration{10 * time.Second, 0} {
		t.Run(reorder.String(), func(t *testing.T) {
			t.Parallel()
			k := &sink{}
			var mu sync.Mutex
			next := 1.0
			c := clock.NewScaled(time.Now(), 10) // holds of 1 s simulated are 100 ms apart in real time
			s := newService(t, k, func(o *Options) {
				o.Clock, o.Reorder = c, reorder
				o.Rand = func() float64 {
					mu.Lock()
					defer mu.Unlock()
					next -= 0.1
					return next
				}
			})
			target := "arn:aws:lambda:us-east-1:000000000000:function:retry"
			if err := s.AddRule(Rule{Name: "r", Bus: DefaultBus, Pattern: json.RawMessage(`{"source":["aws.ecs"]}`), Targets: []Target{{ARN: target}}}); err != nil {
				t.Fatal(err)
			}
			put := c.Now()
			var sent []string
			for i := range 5 {
				sent = append(sent, strconv.Itoa(i))
				if err := s.Put(context.Background(), fmt.Appendf(nil, `{"source":"aws.ecs","detail":{"i":%d}}`, i)); err != nil {
					t.Fatal(err)
				}
			}
			drain(t, s)
			took := c.Now().Sub(put)
			var got []string
			for _, p := range k.calls[target] {
				var e struct{ Detail struct{ I int } }
				_ = json.Unmarshal(p, &e)
				got = append(got, strconv.Itoa(e.Detail.I))
			}
			if reorder == 0 {
				if slices.Sort(got); !slices.Equal(got, sent) || took >= 5*time.Second {
					t.Errorf("no reorder: got %v in %v, want each event at once", got, took)
				}
				return
			}
			if slices.Reverse(sent); !slices.Equal(got, sent) || took > reorder {
				t.Errorf("got %v in %v, want %v within the %v hold", got, took, sent, reorder)
			}
		})
	}
}
