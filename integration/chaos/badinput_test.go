package chaos

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// TestBadInputEndToEnd sends bad launch requests through the whole local
// stack (a strict simulated account: only cluster "jobs", task definition
// "job:3" and subnets a/b exist). Every one must end with a clear reason
// naming what is wrong, launch nothing (the simulator's ledger), and not
// be retried: validation errors stop at plan, one invocation; what only
// AWS can know (an unknown task definition or cluster, a malformed ARN)
// costs one RunTask call per chunk and is dead-lettered with AWS's reason.
func TestBadInputEndToEnd(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("needs the Node tools (make deps): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: 10, Logger: slog.New(slog.DiscardHandler), Sim: sim.Config{
		Strict: true, Resources: sim.Resources{Clusters: []string{"jobs"}, TaskDefinitions: []string{"job:3"}, Subnets: subnets},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	svc := stack.LocalServices()
	env := stack.Env()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ac := aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint), Credentials: credentials.NewStaticCredentialsProvider("l", "l", "")}
	sfnc, sqsc, ebc := sfn.NewFromConfig(ac), sqs.NewFromConfig(ac), eventbridge.NewFromConfig(ac)

	fargate := func(id string) map[string]any {
		return map[string]any{"requestId": id, "ecs": map[string]any{"cluster": "jobs", "taskDefinition": "job:3", "count": 3, "launchType": "FARGATE",
			"networkConfiguration": map[string]any{"awsvpcConfiguration": map[string]any{"subnets": []string{"subnet-a"}}}}}
	}
	with := func(id, field string, v any) map[string]any {
		m := fargate(id)
		if v == nil {
			delete(m["ecs"].(map[string]any), field)
		} else {
			m["ecs"].(map[string]any)[field] = v
		}
		return m
	}
	tests := []struct {
		name string
		req  map[string]any
		// invalid: rejected by plan naming field; otherwise AWS refuses the
		// launch and the request ends failed with reason.
		invalid      bool
		field        string
		reason       string
		runTaskCalls int64
	}{
		{name: "count missing", req: with("bad-count", "count", nil), invalid: true, field: "ecs.count"},
		{name: "count wrong type", req: with("bad-type", "count", "three"), invalid: true, field: "request"},
		{name: "count out of range", req: with("bad-range", "count", 1_000_000), invalid: true, field: "ecs.count"},
		{name: "oversized overrides", req: with("bad-size", "overrides", map[string]any{"containerOverrides": []any{map[string]any{"name": "m", "command": []string{strings.Repeat("x", 9000)}}}}), invalid: true, field: "ecs.overrides"},
		{name: "launch type unknown", req: with("bad-lt", "launchType", "LAMBDA"), invalid: true, field: "ecs.launchType"},
		{name: "200 KB launch type", req: with("bad-huge", "launchType", strings.Repeat("L", 200_000)), invalid: true, field: "ecs.launchType"},
		{name: "unknown task definition", req: with("bad-td", "taskDefinition", "nope:1"), reason: "ClientException", runTaskCalls: 1},
		{name: "malformed task definition ARN", req: with("bad-arn", "taskDefinition", "arn:aws:ecs:us-east-1:000000000000:task-definition"), reason: "ClientException", runTaskCalls: 1},
		{name: "unknown cluster", req: with("bad-cluster", "cluster", "arn:aws:ecs:us-east-1:000000000000:cluster/nope"), reason: "ClusterNotFoundException", runTaskCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.req["requestId"].(string)
			calls0, inv0 := stack.Sim.Stats().Calls["ecs:RunTask"], svc.Stats().Lambda.Invocations
			b, _ := json.Marshal(tt.req)
			out, err := sfnc.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(cfg.StateMachineARN),
				Name: aws.String(submit.ExecutionName(id)), Input: aws.String(string(b))})
			if err != nil {
				t.Fatal(err)
			}
			status, output, cause, err := waitExecution(ctx, sfnc, aws.ToString(out.ExecutionArn))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(stack.Sim.Ledger().For(launch.RequestHash(id))); n != 0 {
				t.Errorf("%d tasks launched for a bad request", n)
			}
			calls := stack.Sim.Stats().Calls["ecs:RunTask"] - calls0
			if calls != tt.runTaskCalls {
				t.Errorf("%d RunTask calls, want %d (no retry)", calls, tt.runTaskCalls)
			}
			if tt.invalid {
				if status != "FAILED" || !strings.Contains(cause, "PermanentError") || !strings.Contains(cause, tt.field) {
					t.Errorf("execution %s %q, want FAILED with a PermanentError naming %s", status, cause, tt.field)
				}
				// The cause names the field without echoing the whole value.
				if len(cause) > 4096 {
					t.Errorf("cause is %d bytes long: it echoes the request's value", len(cause))
				}
				if n := svc.Stats().Lambda.Invocations - inv0; n != 1 {
					t.Errorf("%d Lambda invocations, want 1 (plan, not retried)", n)
				}
				return
			}
			// Every unit dead-lettered: the request fails (LaunchIncomplete)
			// with the reason in its cause; the summary is read back from
			// the table as throttlectl status reads it.
			if !requestFailed(status, cause) || !strings.HasPrefix(cause, launch.ErrLaunchIncomplete) || !strings.Contains(cause, tt.reason) || output != "" {
				t.Fatalf("execution %s %s %s, want FAILED LaunchIncomplete naming %s", status, output, cause, tt.reason)
			}
			s, err := handler.NewSummaryHandler(launchstore.NewDynamoDB(dynamodb.NewFromConfig(ac), cfg.Table), nil).Summarize(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			reasons, _ := json.Marshal(s.Reasons)
			if s.Failed != 3 || s.Launched != 0 || !strings.Contains(string(reasons), tt.reason) {
				t.Errorf("summary %+v, want 3 failed naming %s", s, tt.reason)
			}
			dead, err := deadLetters(ctx, sqsc, cfg.DLQURL)
			if err != nil {
				t.Fatal(err)
			}
			if d := dead[id]; d.units() != 3 {
				t.Errorf("dead letters %+v, want the 3 units", d)
			}
		})
	}

	// A bad LaunchRequested event: submit rejects it, no execution starts.
	t.Run("LaunchRequested without count", func(t *testing.T) {
		b, _ := json.Marshal(with("bad-event", "count", nil))
		inv0 := svc.Stats().Lambda.Invocations
		out, err := ebc.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String(cfg.EventBus), Source: aws.String(launch.EventSource),
			DetailType: aws.String(launch.DetailLaunchRequested), Detail: aws.String(string(b))}}})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("PutEvents: %v %+v", err, out)
		}
		if err := svc.Events.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		// Lambda's asynchronous queue runs the event after Drain hands it over.
		for deadline := time.Now().Add(10 * time.Second); svc.Stats().Lambda.Invocations == inv0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		_, err = sfnc.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(submit.ExecutionARN(cfg.StateMachineARN, submit.ExecutionName("bad-event")))})
		if err == nil || !strings.Contains(err.Error(), "ExecutionDoesNotExist") {
			t.Errorf("an execution started for a bad LaunchRequested event (%v)", err)
		}
		if n := svc.Stats().Lambda.Invocations - inv0; n < 1 {
			t.Errorf("submit was not invoked (%d invocations)", n)
		} else {
			t.Logf("submit invocations for one bad event: %d", n)
		}
	})

	// ECS events the product must ignore: not ours, malformed startedBy,
	// wrong types. Nothing is relaunched.
	t.Run("ECS events not ours or malformed", func(t *testing.T) {
		before := len(stack.Sim.Ledger().Entries())
		inv0 := svc.Stats().Lambda.Invocations
		for _, d := range []string{
			`{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":"someone-else","taskArn":"arn:aws:ecs:us-east-1:000000000000:task/jobs/1"}`,
			`{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":"th/zz/x/y","taskArn":"arn:aws:ecs:us-east-1:000000000000:task/jobs/2"}`,
			`{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":"th/0123456789ab/0/1","taskArn":"not-an-arn"}`,
			`{"lastStatus":"STOPPED","stopCode":"TaskFailedToStart","startedBy":42}`,
		} {
			// aws.* sources arrive from AWS itself, as the simulator sends them.
			env := `{"version":"0","id":"e","detail-type":"ECS Task State Change","source":"aws.ecs","account":"000000000000",` +
				`"time":"2026-11-23T00:00:00Z","region":"us-east-1","resources":[],"detail":` + d + `}`
			if err := svc.Events.Put(ctx, []byte(env)); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.Events.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		// The two with a th/ startedBy match the relaunch rule and reach retry.
		for deadline := time.Now().Add(10 * time.Second); svc.Stats().Lambda.Invocations-inv0 < 2; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("retry got %d of the 2 events that match its rule", svc.Stats().Lambda.Invocations-inv0)
			}
		}
		time.Sleep(200 * time.Millisecond) // let a (wrong) relaunch reach the simulator
		if after := len(stack.Sim.Ledger().Entries()); after != before {
			t.Errorf("%d tasks launched for events that are not ours", after-before)
		}
	})
}
