package events

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

// TestFidelityDescribeRules follows Amazon EventBridge API Reference:
// ListRules, DescribeRule, ListTargetsByRule and DescribeEventBus. A rule
// is listed on its own bus only, with its pattern, state and ARN (a named
// bus's rule ARN carries the bus); its targets carry their RetryPolicy
// and DeadLetterConfig; an unknown rule or bus is
// ResourceNotFoundException.
func TestFidelityDescribeRules(t *testing.T) {
	t.Parallel()
	s := newService(t, &sink{}, nil)
	addRepoRules(t, s, "arn:aws:sqs:us-east-1:000000000000:dlq")
	c := newClient(t, s)
	ctx := context.Background()

	tests := []struct {
		bus       *string
		wantRules []string
	}{
		{nil, []string{"ecs-service-throttled", "ecs-task-failed-to-start"}},
		{aws.String("throttle-handler"), []string{"launch-requested"}},
		{aws.String("arn:aws:events:us-east-1:000000000000:event-bus/throttle-handler"), []string{"launch-requested"}},
	}
	for _, tc := range tests {
		out, err := c.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: tc.bus})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range out.Rules {
			names = append(names, aws.ToString(r.Name))
			if r.State != types.RuleStateEnabled || aws.ToString(r.EventPattern) == "" {
				t.Errorf("rule %s: state %s, pattern %q", aws.ToString(r.Name), r.State, aws.ToString(r.EventPattern))
			}
		}
		if len(names) != len(tc.wantRules) || (len(names) > 0 && names[0] != tc.wantRules[0]) {
			t.Errorf("ListRules(%s) = %v, want %v", aws.ToString(tc.bus), names, tc.wantRules)
		}
	}

	d, err := c.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("launch-requested"), EventBusName: aws.String("throttle-handler")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(d.Arn), "arn:aws:events:us-east-1:000000000000:rule/throttle-handler/launch-requested"; got != want {
		t.Errorf("DescribeRule ARN %s, want %s", got, want)
	}
	tg, err := c.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("ecs-task-failed-to-start")})
	if err != nil {
		t.Fatal(err)
	}
	if len(tg.Targets) != 1 || aws.ToString(tg.Targets[0].Arn) != relaunchARN || tg.Targets[0].RetryPolicy == nil ||
		aws.ToInt32(tg.Targets[0].RetryPolicy.MaximumRetryAttempts) != 8 || aws.ToInt32(tg.Targets[0].RetryPolicy.MaximumEventAgeInSeconds) != 3600 ||
		tg.Targets[0].DeadLetterConfig == nil {
		t.Errorf("ListTargetsByRule(ecs-task-failed-to-start) = %+v: want the relaunch queue, 8 attempts within 3600 s, a DLQ", tg.Targets)
	}
	if b, err := c.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String("throttle-handler")}); err != nil || aws.ToString(b.Arn) != s.BusARN("throttle-handler") {
		t.Errorf("DescribeEventBus: %v, %v", b, err)
	}

	var nf *types.ResourceNotFoundException
	for name, call := range map[string]func() error{
		"rule on the wrong bus": func() error {
			_, err := c.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("launch-requested")})
			return err
		},
		"targets of an unknown rule": func() error {
			_, err := c.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("nope"), EventBusName: aws.String("throttle-handler")})
			return err
		},
		"unknown bus": func() error {
			_, err := c.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String("nope")})
			return err
		},
	} {
		if err := call(); !errors.As(err, &nf) {
			t.Errorf("%s: got %v, want ResourceNotFoundException", name, err)
		}
	}
}

// addRepoRules adds the repository's rule files to s, every target's
// dead-letter queue dlq.
func addRepoRules(t *testing.T, s *Service, dlq string) {
	t.Helper()
	rules, err := LoadRules(filepath.Join(testenv.RepoRoot(), "statemachines", "rules"), "throttle-handler", "us-east-1", "000000000000", dlq, relaunchARN)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if err := s.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
}

// newClient is an EventBridge client of s that does not retry.
func newClient(t *testing.T, s *Service) *eventbridge.Client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return eventbridge.New(eventbridge.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""), RetryMaxAttempts: 1})
}
