package launchtest

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// stuckChunk is a Lambda fault hook: every invocation of fn for chunk
// crashes before the handler runs (Runtime.ExitError), as a function whose
// every start fails would.
func stuckChunk(chunk int, fns ...string) lambdasvc.FaultHook {
	return func(_ context.Context, function string, payload []byte) lambdasvc.FaultKind {
		var in struct {
			Chunk     *int   `json:"chunk"`
			RequestID string `json:"requestId"`
		}
		if json.Unmarshal(payload, &in) != nil || in.Chunk == nil || *in.Chunk != chunk || in.RequestID == "" {
			return lambdasvc.FaultNone
		}
		for _, f := range fns {
			if f == function {
				return lambdasvc.FaultCrashBefore
			}
		}
		return lambdasvc.FaultNone
	}
}

// TestFlowChunkPastItsRetriesLosesNothing runs the whole local stack (the
// launch state machine in the Step Functions runner, the real functions
// behind the local Lambda) with one chunk driven past every retry: its
// runtask and retry invocations crash. Before, retry failing past its
// native retries failed the chunk, the Map with it (the other chunks
// aborted), and the summary counted the chunk's units pending: neither
// launched nor dead-lettered (the bench's 1,810 lost units of 2,000). Now
// the chunk stalls within its budget and ends; every other chunk launches;
// the summary dead-letters the stuck chunk's units; when the execution
// ends, launched + dead-lettered = requested, in the ledger, the summary
// and the dead-letter queue.
func TestFlowChunkPastItsRetriesLosesNothing(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("local services need the Node tools: %v", err)
	}
	const tasks, stuck = 100, 3
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: 40, Sim: sim.Config{Seed: 7},
		Services: awslocal.ServicesOptions{Metrics: io.Discard, Lambda: func(o *lambdasvc.Options) {
			o.Fault = stuckChunk(stuck, "runtask", "retry")
		}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	svc := stack.LocalServices()
	awsCfg := aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}

	req := launch.Request{RequestID: "flow-stuck", MaxAttempts: 4, DeadlineSeconds: 600,
		ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: tasks, LaunchType: "FARGATE",
			NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a"}}}}}
	body, _ := json.Marshal(req)
	start, err := sfn.NewFromConfig(awsCfg).StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(svc.Config.StateMachineARN),
		Name: aws.String(submit.ExecutionName(req.RequestID)), Input: aws.String(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := svc.SFN.Wait(ctx, aws.ToString(start.ExecutionArn))
	if err != nil {
		t.Fatalf("execution never ended: %v", err)
	}
	var sum launch.Summary
	if err := json.Unmarshal([]byte(ex.Output), &sum); ex.Status != "SUCCEEDED" || err != nil {
		t.Fatalf("execution %s (%s: %s), output %q: want SUCCEEDED with the summary", ex.Status, ex.Error, ex.Cause, ex.Output)
	}
	size := func(_ string, chunk int) int {
		s, _ := req.Chunk(chunk)
		return s.Size
	}
	counts := sim.Count(stack.Sim.Ledger().For(launch.RequestHash(req.RequestID)), size)
	dlq, _, _, _ := svc.SQS.Depth(svc.Config.DLQURL)
	t.Logf("summary %+v; ledger %+v; DLQ %d; lambda %+v", sum, counts, dlq, svc.Lambda.Stats())
	if counts.Unique != tasks-10 || counts.Duplicates != 0 {
		t.Errorf("ledger: %d unique, %d duplicates; want every chunk but the stuck one launched (%d), none twice", counts.Unique, counts.Duplicates, tasks-10)
	}
	if sum.Launched != counts.Unique || sum.DeadLettered != 10 || sum.Pending != 0 || sum.Launched+sum.DeadLettered != sum.Requested {
		t.Errorf("summary: launched %d, dead-lettered %d, pending %d of %d; want launched + dead-lettered = requested", sum.Launched, sum.DeadLettered, sum.Pending, sum.Requested)
	}
	if dlq != 1 {
		t.Fatalf("dead-letter queue holds %d messages, want 1 (the stuck chunk's 10 units)", dlq)
	}
	// Stated per unit and attempt: the dead letter names the chunk, how
	// many of its units and the attempt they belong to.
	msgs, err := sqs.NewFromConfig(awsCfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(svc.Config.DLQURL), MaxNumberOfMessages: 10})
	if err != nil || len(msgs.Messages) != 1 {
		t.Fatalf("receive from the DLQ: %v, %d messages", err, len(msgs.Messages))
	}
	st, err := launchstore.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), svc.Config.Table).Chunk(ctx, req.RequestID, stuck)
	if err != nil {
		t.Fatal(err)
	}
	last := 0 // runtask crashed before recording any attempt
	for a := range st.Attempts {
		last = max(last, a)
	}
	var dl handler.DeadLetter
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &dl); err != nil || dl.Chunk != stuck || dl.Missing != 10 || dl.Attempt != last || dl.Class != launch.ClassUnfinished || dl.Reason == "" {
		t.Errorf("dead letter %+v (%v): want chunk %d, 10 missing, attempt %d, class %s and a reason", dl, err, stuck, last, launch.ClassUnfinished)
	}
}
