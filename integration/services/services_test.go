package services_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	awsl "github.com/aws/aws-sdk-go-v2/service/lambda"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/integration/services/events"
	"github.com/throttle-handler/throttle-handler/integration/services/servicestest"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
)

// submitter is a test "submit" function: it starts the hold machine named
// after detail.requestId, as the product's submit path does, and treats
// ExecutionAlreadyExists as "already submitted".
type submitter struct {
	client  atomic.Pointer[awssfn.Client]
	machine atomic.Pointer[string]
	calls   atomic.Int64
}

func (s *submitter) handle(ctx context.Context, ev struct {
	Detail struct {
		RequestID string `json:"requestId"`
	} `json:"detail"`
}) error {
	s.calls.Add(1)
	_, err := s.client.Load().StartExecution(ctx, &awssfn.StartExecutionInput{StateMachineArn: s.machine.Load(),
		Name: aws.String(ev.Detail.RequestID), Input: aws.String(fmt.Sprintf(`{"requestId":%q}`, ev.Detail.RequestID))})
	if _, ok := errors.AsType[*sfntypes.ExecutionAlreadyExists](err); ok {
		return nil
	}
	return err
}

func newStack(t testing.TB, sub *submitter, o services.Options) (*servicestest.Stack, map[string]string) {
	t.Helper()
	o.StateMachinesDir = "-"
	o.Resolver = func(name string) (awslambda.Handler, error) {
		switch name {
		case "submit":
			return awslambda.NewHandler(sub.handle), nil
		case "echo":
			return awslambda.NewHandler(func(in map[string]any) (map[string]any, error) { return in, nil }), nil
		}
		return nil, fmt.Errorf("no function %s", name)
	}
	st := servicestest.New(t, o)
	arns, err := st.SFN.LoadDir(context.Background(), filepath.Join("sfn", "testdata"), "throttle-handler", nil)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := events.LoadRules(filepath.Join(testenv.RepoRoot(), "statemachines", "rules"), "throttle-handler", "us-east-1", "000000000000", st.Config.DLQURL, "arn:aws:sqs:us-east-1:000000000000:relaunch")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if err := st.Events.AddRule(r); err != nil {
			t.Fatal(err)
		}
	}
	sub.client.Store(st.SFNClient())
	sub.machine.Store(aws.String(arns["hold"]))
	return st, arns
}

func drain(t *testing.T, st *servicestest.Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.Events.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPutEventsStartsExecutions(t *testing.T) {
	t.Parallel()
	sub := &submitter{}
	st, arns := newStack(t, sub, services.Options{NoDynamoDB: true})
	ctx := context.Background()
	// A rule whose target is the state machine itself: StartExecution with
	// no name, the event as input.
	if err := st.Events.AddRule(events.Rule{Name: "direct", Bus: "throttle-handler",
		Pattern: json.RawMessage(`{"source":["tests"],"detail-type":["Direct"]}`), Targets: []events.Target{{ARN: arns["child"]}}}); err != nil {
		t.Fatal(err)
	}
	eb := st.EventBridgeClient()
	put := func(detailType, detail string) {
		t.Helper()
		source := "throttle-handler"
		if detailType == "Direct" {
			source = "tests"
		}
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(detail), EventBusName: aws.String("throttle-handler")}}})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("PutEvents: %v %+v", err, out)
		}
	}
	put("Direct", `{"item":{"value":4}}`)
	put("LaunchRequested", `{"requestId":"nightly-1"}`)
	put("LaunchRequested", `{"requestId":"nightly-1"}`) // a resubmission: one execution
	drain(t, st)
	// The Lambda target is asynchronous: wait for the submit function's two runs.
	for deadline := time.Now().Add(10 * time.Second); sub.calls.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	c := st.SFNClient()
	direct, err := c.ListExecutions(ctx, &awssfn.ListExecutionsInput{StateMachineArn: aws.String(arns["child"])})
	if err != nil {
		t.Fatal(err)
	}
	if len(direct.Executions) != 1 {
		t.Fatalf("child executions: got %d, want 1 started by the rule", len(direct.Executions))
	}
	d, err := c.DescribeExecution(ctx, &awssfn.DescribeExecutionInput{ExecutionArn: direct.Executions[0].ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(d.Input)), &env); err != nil || env.Source != "tests" {
		t.Errorf("execution input: got %s, want the event envelope", aws.ToString(d.Input))
	}
	// The submit function counts a run when it starts; its StartExecution
	// may still be on its way.
	var held *awssfn.ListExecutionsOutput
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if held, err = c.ListExecutions(ctx, &awssfn.ListExecutionsInput{StateMachineArn: aws.String(arns["hold"])}); err != nil {
			t.Fatal(err)
		}
		if len(held.Executions) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(held.Executions) != 1 || aws.ToString(held.Executions[0].Name) != "nightly-1" {
		t.Fatalf("launch executions: got %+v, want one named nightly-1", held.Executions)
	}
	if got := sub.calls.Load(); got != 2 {
		t.Errorf("submit ran %d times, want 2 (one per event)", got)
	}
}

func TestServicesThroughTheEdge(t *testing.T) {
	t.Parallel()
	st, _ := newStack(t, &submitter{}, services.Options{})
	ctx := context.Background()

	t.Run("dynamodb table", func(t *testing.T) {
		db := st.DynamoDBClient()
		key := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "req#1"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "meta"}}
		item := map[string]ddbtypes.AttributeValue{"pk": key["pk"], "sk": key["sk"], "n": &ddbtypes.AttributeValueMemberN{Value: "3"}}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Config.Table), Item: item}); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Config.Table), Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := got.Item["n"].(*ddbtypes.AttributeValueMemberN); !ok || n.Value != "3" {
			t.Errorf("got %v", got.Item)
		}
	})
	t.Run("sqs dead-letter queue", func(t *testing.T) {
		q := st.SQSClient()
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(st.Config.DLQURL), MessageBody: aws.String("lost")}); err != nil {
			t.Fatal(err)
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.Config.DLQURL)})
		if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "lost" {
			t.Fatalf("got %v %v", out, err)
		}
	})
	t.Run("lambda invoke", func(t *testing.T) {
		out, err := st.LambdaClient().Invoke(ctx, &awsl.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:echo"), Payload: []byte(`{"a":1}`)})
		if err != nil || string(out.Payload) != `{"a":1}` {
			t.Fatalf("got %v %v", out, err)
		}
	})
	t.Run("env", func(t *testing.T) {
		env := st.Env()
		for _, k := range []string{"AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_DYNAMODB", "TH_TABLE_NAME", "TH_DLQ_URL", "TH_EVENT_BUS_NAME", "TH_STATE_MACHINE_ARN", "TH_RELAUNCH_QUEUE_URL"} {
			if env[k] == "" {
				t.Errorf("%s not set", k)
			}
		}
	})
}

func TestUndeliverableEventGoesToTheDLQ(t *testing.T) {
	t.Parallel()
	st, _ := newStack(t, &submitter{}, services.Options{NoDynamoDB: true})
	if err := st.Events.AddRule(events.Rule{Name: "orphan", Bus: events.DefaultBus, Pattern: json.RawMessage(`{"source":["aws.ecs"]}`),
		Targets: []events.Target{{ARN: "arn:aws:lambda:us-east-1:000000000000:function:missing", DeadLetterQueue: st.Config.DLQURL}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Events.Put(context.Background(), []byte(`{"version":"0","id":"e1","source":"aws.ecs","detail-type":"ECS Service Action","detail":{}}`)); err != nil {
		t.Fatal(err)
	}
	drain(t, st)
	out, err := st.SQSClient().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.Config.DLQURL), MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("got %v %v, want the event in the DLQ", out, err)
	}
	if got := aws.ToString(out.Messages[0].MessageAttributes["ERROR_CODE"].StringValue); got != "ResourceNotFoundException" {
		t.Errorf("ERROR_CODE: got %q", got)
	}
}

func TestCloseLeavesNoProcesses(t *testing.T) {
	t.Parallel()
	st := servicestest.New(t, services.Options{StateMachinesDir: "-"})
	runner, dynalite := st.SFN.RunnerPID(), st.Dynalite.Port()
	st.Close()
	if err := syscall.Kill(-runner, 0); err != syscall.ESRCH {
		t.Errorf("runner process group %d after Close: got %v, want ESRCH (gone)", runner, err)
	}
	if c, err := (&net.Dialer{Timeout: time.Second}).Dial("tcp", fmt.Sprintf("127.0.0.1:%d", dynalite)); err == nil {
		c.Close()
		t.Errorf("dynalite still listens on port %d after Close", dynalite)
	}
}

// BenchmarkStartup measures a full start (Node runner, dynalite, table,
// machines and rules of the repository) and stop.
func BenchmarkStartup(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		st := servicestest.New(b, services.Options{})
		total += st.StartupTime
		st.Close()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "startup-s/op")
}

// BenchmarkAWSLocalStart measures awslocal.Start as commands and end-to-end
// tests use it: the ECS/EC2 simulator plus every service, with the product's
// functions, machines and rules.
func BenchmarkAWSLocalStart(b *testing.B) {
	if _, err := testenv.NodeBin("node"); err != nil {
		b.Skip(err)
	}
	var total time.Duration
	for b.Loop() {
		begin := time.Now()
		st, err := awslocal.Start(context.Background(), awslocal.Options{TimeScale: 20})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(begin)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "start-s/op")
}

// TestRelaunchQueueFeedsRetry: the relaunch queue is retry's event source
// (delay honoured, partial batch failures redelivered), its redrive target
// the dead-letter queue; retry's failed async invocations go there too.
func TestRelaunchQueueFeedsRetry(t *testing.T) {
	t.Parallel()
	var got sync.Map // body → simulated receive times
	var clk atomic.Pointer[servicestest.Stack]
	o := services.Options{StateMachinesDir: "-", NoDynamoDB: true, RelaunchMaxReceives: 2}
	o.Resolver = func(name string) (awslambda.Handler, error) {
		if name != "retry" {
			return nil, fmt.Errorf("no function %s", name)
		}
		return awslambda.NewHandler(func(ctx context.Context, ev json.RawMessage) (any, error) {
			var b struct {
				Records []struct {
					MessageID string `json:"messageId"`
					Body      string `json:"body"`
				} `json:"Records"`
			}
			if err := json.Unmarshal(ev, &b); err != nil || b.Records == nil {
				return nil, errors.New("async event: fails") // the EventBridge path
			}
			var failed []map[string]string
			for _, r := range b.Records {
				v, _ := got.LoadOrStore(r.Body, &[]time.Time{})
				*v.(*[]time.Time) = append(*v.(*[]time.Time), clk.Load().Clock.Now())
				if r.Body == "bad" {
					failed = append(failed, map[string]string{"itemIdentifier": r.MessageID})
				}
			}
			return map[string]any{"batchItemFailures": failed}, nil
		}), nil
	}
	st := servicestest.New(t, o)
	clk.Store(st)
	ctx := context.Background()
	q := st.SQSClient()
	relaunch := st.Env()["TH_RELAUNCH_QUEUE_URL"]
	sent := st.Clock.Now()
	for body, delay := range map[string]int32{"good": 90, "bad": 0} {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(relaunch), MessageBody: aws.String(body), DelaySeconds: delay}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Lambda.InvokeAsync(ctx, "retry", []byte(`{"detail-type":"ECS Task State Change"}`)); err != nil {
		t.Fatal(err)
	}
	// In the DLQ: "bad" after 2 receives, and retry's failed async event.
	var bodies []string
	for deadline := time.Now().Add(30 * time.Second); len(bodies) < 2 && time.Now().Before(deadline); {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.Config.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 20})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(st.Config.DLQURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(bodies) != 2 {
		t.Fatalf("DLQ: %q, want the redriven record and retry's on-failure record", bodies)
	}
	slices.Sort(bodies)
	if bodies[0] != "bad" || !strings.Contains(bodies[1], `"condition":"RetriesExhausted"`) {
		t.Errorf("DLQ: %q", bodies)
	}
	good, _ := got.Load("good")
	if good == nil || len(*good.(*[]time.Time)) != 1 || (*good.(*[]time.Time))[0].Sub(sent) < 90*time.Second {
		t.Errorf("good: received %v, want once, at least 90 s after the send", good)
	}
	if v, i, d, _ := st.SQS.Depth(relaunch); v+i+d != 0 {
		t.Errorf("relaunch queue holds %d/%d/%d, want empty", v, i, d)
	}
}
