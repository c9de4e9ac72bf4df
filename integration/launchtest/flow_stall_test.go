package launchtest

import (
	"context"
	"encoding/json"
	"io"
	"sync"
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

// chunkCrashes is a Lambda fault hook: the first crashes[fn] invocations
// of fn for one chunk (every one when negative) crash before the handler
// runs (Runtime.ExitError), as a function whose every start fails would.
type chunkCrashes struct {
	chunk   int
	crashes map[string]int
	mu      sync.Mutex
	calls   map[string]int
}

func (c *chunkCrashes) hook(_ context.Context, function string, payload []byte) lambdasvc.FaultKind {
	var in struct {
		Chunk     *int   `json:"chunk"`
		RequestID string `json:"requestId"`
	}
	if json.Unmarshal(payload, &in) != nil || in.Chunk == nil || *in.Chunk != c.chunk || in.RequestID == "" {
		return lambdasvc.FaultNone
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[function]++
	if n, ok := c.crashes[function]; ok && (n < 0 || c.calls[function] <= n) {
		return lambdasvc.FaultCrashBefore
	}
	return lambdasvc.FaultNone
}

// flowRun is one request through the whole local stack.
type flowRun struct {
	req    launch.Request
	sum    launch.Summary
	status string // the execution's; FAILED (LaunchIncomplete) when a unit was dead-lettered
	counts sim.Counts
	dlq    []handler.DeadLetter
	chunk  launch.ChunkState // the faulted chunk's table item
}

// runFlow submits 100 Fargate tasks (10 chunks) to the launch state
// machine on the local stack set up by setup (faults on one chunk's
// invocations), waits for the execution to end, and reads chunk's item.
func runFlow(t *testing.T, chunk int, setup func(*awslocal.ServicesOptions)) flowRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	so := awslocal.ServicesOptions{Metrics: io.Discard}
	setup(&so)
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: 40, Sim: sim.Config{Seed: 7}, Services: so})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	svc := stack.LocalServices()
	awsCfg := aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	r := flowRun{req: launch.Request{RequestID: "flow", MaxAttempts: 4, DeadlineSeconds: 600,
		ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: 100, LaunchType: "FARGATE",
			NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a"}}}}}}
	body, _ := json.Marshal(r.req)
	start, err := sfn.NewFromConfig(awsCfg).StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(svc.Config.StateMachineARN),
		Name: aws.String(submit.ExecutionName(r.req.RequestID)), Input: aws.String(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := svc.SFN.Wait(ctx, aws.ToString(start.ExecutionArn))
	if err != nil {
		t.Fatalf("execution never ended: %v", err)
	}
	r.status = ex.Status
	switch {
	case ex.Status == "SUCCEEDED":
		if err := json.Unmarshal([]byte(ex.Output), &r.sum); err != nil {
			t.Fatalf("execution output %q: %v", ex.Output, err)
		}
	case ex.Status == "FAILED" && ex.Error == launch.ErrLaunchIncomplete:
		// A dead-lettered unit fails the request; its summary (that of
		// LaunchCompleted) is read back from the table as throttlectl
		// status reads it.
		store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), svc.Config.Table)
		if r.sum, err = handler.NewSummaryHandler(store, nil).Summarize(ctx, r.req.RequestID); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("execution %s (%s: %s), output %q: want SUCCEEDED with the summary, or FAILED LaunchIncomplete", ex.Status, ex.Error, ex.Cause, ex.Output)
	}
	size := func(_ string, chunk int) int {
		s, _ := r.req.Chunk(chunk)
		return s.Size
	}
	r.counts = sim.Count(stack.Sim.Ledger().For(launch.RequestHash(r.req.RequestID)), size)
	msgs, err := sqs.NewFromConfig(awsCfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(svc.Config.DLQURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs.Messages {
		var dl handler.DeadLetter
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &dl); err != nil {
			t.Fatalf("dead letter %s: %v", aws.ToString(m.Body), err)
		}
		r.dlq = append(r.dlq, dl)
	}
	if r.chunk, err = launchstore.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), svc.Config.Table).Chunk(ctx, r.req.RequestID, chunk); err != nil {
		t.Fatal(err)
	}
	t.Logf("summary %+v; ledger %+v; %d dead letters; lambda %+v", r.sum, r.counts, len(r.dlq), svc.Lambda.Stats())
	return r
}

// TestFlowChunkPastItsRetriesLosesNothing runs the whole local stack (the
// launch state machine in the Step Functions runner, the real functions
// behind the local Lambda) with one chunk driven past its retries: its
// runtask and retry invocations crash. Before, retry failing past its
// native retries failed the chunk, the Map with it (the other chunks
// aborted), and the summary counted the aborted chunks' units pending:
// neither launched nor dead-lettered (the bench's 1,810 lost units of
// 2,000). Now the chunk stalls, within the budget plan gave it, and asks
// again: a retry that recovers launches it all; one that never does ends
// the chunk, whose units the summary dead-letters, naming the chunk, how
// many and their attempt. Either way every other chunk launches and, when
// the execution ends, launched + dead-lettered = requested, in the ledger,
// the summary and the dead-letter queue.
func TestFlowChunkPastItsRetriesLosesNothing(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("local services need the Node tools: %v", err)
	}
	const stuck = 3
	tests := []struct {
		name    string
		crashes map[string]int
		// wantDead units of the faulted chunk end dead-lettered.
		wantDead int
	}{
		// 7 crashes: the first call and its 6 native retries.
		{name: "retry recovers after a stall", crashes: map[string]int{"runtask": 1, "retry": 7}},
		{name: "retry never recovers", crashes: map[string]int{"runtask": -1, "retry": -1}, wantDead: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faults := &chunkCrashes{chunk: stuck, crashes: tt.crashes, calls: map[string]int{}}
			r := runFlow(t, stuck, func(so *awslocal.ServicesOptions) {
				so.Lambda = func(o *lambdasvc.Options) { o.Fault = faults.hook }
			})
			if n := faults.calls["retry"]; n <= 7 {
				t.Fatalf("retry called %d times for chunk %d: the scenario never drove it past its native retries", n, stuck)
			}
			if wantStatus := map[bool]string{true: "FAILED", false: "SUCCEEDED"}[tt.wantDead > 0]; r.status != wantStatus {
				t.Errorf("execution %s, want %s (a dead-lettered unit fails the request)", r.status, wantStatus)
			}
			want := 100 - tt.wantDead
			if r.counts.Unique != want || r.counts.Duplicates != 0 {
				t.Errorf("ledger: %d unique, %d duplicates; want %d, none twice", r.counts.Unique, r.counts.Duplicates, want)
			}
			if s := r.sum; s.Launched != r.counts.Unique || s.DeadLettered != tt.wantDead || s.Pending != 0 || s.Launched+s.DeadLettered != s.Requested {
				t.Errorf("summary: launched %d, dead-lettered %d, pending %d of %d; want launched + dead-lettered = requested", s.Launched, s.DeadLettered, s.Pending, s.Requested)
			}
			if tt.wantDead == 0 {
				if len(r.dlq) != 0 {
					t.Errorf("dead letters %+v, want none", r.dlq)
				}
				return
			}
			last := 0 // the attempt the dead letter must name (0: none recorded)
			for a := range r.chunk.Attempts {
				last = max(last, a)
			}
			if len(r.dlq) != 1 {
				t.Fatalf("dead letters %+v, want one for chunk %d", r.dlq, stuck)
			}
			if dl := r.dlq[0]; dl.Chunk != stuck || dl.Missing != tt.wantDead || dl.Attempt != last || dl.Class != launch.ClassUnfinished || dl.Reason == "" {
				t.Errorf("dead letter %+v: want chunk %d, %d missing, attempt %d, class %s and a reason", dl, stuck, tt.wantDead, last, launch.ClassUnfinished)
			}
		})
	}
}
