package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// setup configures one test's local AWS.
type setup struct {
	// scale is the time scale k (simulated seconds per real second).
	scale float64
	sim   sim.Config
	// eventDuplicates is the probability EventBridge delivers an event twice.
	eventDuplicates float64
	// config adjusts the product configuration the handlers get.
	config func(*configT)
	// logs, when set, receives every log line of the stack and the
	// product's handlers (JSON, debug level).
	logs io.Writer
}

// world is one running local AWS with clients for it.
type world struct {
	t       *testing.T
	stack   *awslocal.Stack
	svc     *services.Services
	cfg     config.Config
	aws     aws.Config
	sfn     *sfn.Client
	events  *eventbridge.Client
	sqs     *sqs.Client
	machine string
}

// newWorld starts the local stack for t and stops it when t ends.
func newWorld(t *testing.T, s setup) *world {
	t.Helper()
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("end-to-end tests need the Node tools (node, dynalite, aws-local-stepfunctions): %v", err)
	}
	if s.scale == 0 {
		s.scale = 20
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("E2E_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if s.logs != nil {
		logger = slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	so := awslocal.ServicesOptions{EventDuplicates: s.eventDuplicates, Configure: s.config, Metrics: io.Discard}
	if s.logs != nil {
		so.Metrics = s.logs // EMF lines share the Lambda log stream on AWS
	} else if os.Getenv("E2E_LOG") != "" {
		so.Metrics = os.Stdout
	}
	if os.Getenv("E2E_LOG") != "" {
		so.RunnerStderr = os.Stderr
	}
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: s.scale, Sim: s.sim, Logger: logger, Services: so})
	if err != nil {
		t.Fatalf("awslocal.Start: %v", err)
	}
	t.Cleanup(func() {
		begin := time.Now()
		if err := stack.Close(); err != nil {
			t.Logf("awslocal: Close: %v", err)
		}
		if d := time.Since(begin); d > 10*time.Second {
			t.Logf("awslocal: Close took %v", d)
		}
	})
	w := &world{t: t, stack: stack, svc: stack.LocalServices()}
	if w.svc == nil {
		t.Fatal("awslocal.Start did not start Lambda, Step Functions, EventBridge, SQS and DynamoDB")
	}
	w.aws = aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	env := stack.Env()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	w.cfg, w.machine = cfg, cfg.StateMachineARN
	w.sfn = sfn.NewFromConfig(w.aws)
	w.events = eventbridge.NewFromConfig(w.aws)
	w.sqs = sqs.NewFromConfig(w.aws)
	return w
}

// now is the stack's simulated time.
func (w *world) now() time.Time { return w.stack.Clock.Now() }

// execution is a finished execution as DescribeExecution reports it.
type execution struct {
	ARN, Status, Error, Cause string
	Start, Stop               time.Time
	Summary                   launch.Summary
}

// start submits req as an execution, named as submit names it.
func (w *world) start(req any) string {
	w.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		w.t.Fatal(err)
	}
	out, err := w.sfn.StartExecution(w.t.Context(), &sfn.StartExecutionInput{
		StateMachineArn: aws.String(w.machine), Name: aws.String(submit.ExecutionName(requestID(req))), Input: aws.String(string(b)),
	})
	if err != nil {
		w.t.Fatalf("StartExecution: %v", err)
	}
	return aws.ToString(out.ExecutionArn)
}

// summary is the summary of a request that failed with its own status (a
// Fail state has no output): LaunchCompleted's, read back from the table
// as throttlectl status reads it.
func (w *world) summary(execARN string) launch.Summary {
	w.t.Helper()
	id := execARN[strings.LastIndex(execARN, ":")+1:]
	store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(w.aws), w.cfg.Table)
	sum, err := handler.NewSummaryHandler(store, nil).Summarize(w.t.Context(), id)
	if err != nil {
		w.t.Fatalf("summary of %s: %v", id, err)
	}
	return sum
}

// wait polls an execution until it ends or timeout (real time) passes.
func (w *world) wait(arn string, timeout time.Duration) execution {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d, err := w.sfn.DescribeExecution(w.t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		switch {
		case err == nil && d.Status != sfntypes.ExecutionStatusRunning:
			e := execution{ARN: arn, Status: string(d.Status), Error: aws.ToString(d.Error), Cause: aws.ToString(d.Cause),
				Start: aws.ToTime(d.StartDate), Stop: aws.ToTime(d.StopDate)}
			if d.Output != nil {
				if err := json.Unmarshal([]byte(*d.Output), &e.Summary); err != nil {
					w.t.Fatalf("execution output %s: %v", *d.Output, err)
				}
			}
			if e.Error == launch.ErrLaunchIncomplete || e.Error == launch.ErrTasksFailed {
				e.Summary = w.summary(arn)
			}
			return e
		case err != nil && !strings.Contains(err.Error(), "ExecutionDoesNotExist"):
			w.t.Fatalf("DescribeExecution: %v", err)
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("execution %s still running after %v (real)", arn, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// executionARN is the ARN submit gives the execution of a request id.
func (w *world) executionARN(requestID string) string {
	return submit.ExecutionARN(w.machine, submit.ExecutionName(requestID))
}

// putLaunchRequested puts a LaunchRequested event on the product's bus.
func (w *world) putLaunchRequested(req any) {
	w.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		w.t.Fatal(err)
	}
	out, err := w.events.PutEvents(w.t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(w.cfg.EventBus), Source: aws.String(launch.EventSource),
		DetailType: aws.String(launch.DetailLaunchRequested), Detail: aws.String(string(b)),
	}}})
	if err != nil {
		w.t.Fatalf("PutEvents: %v", err)
	}
	if out.FailedEntryCount != 0 {
		w.t.Fatalf("PutEvents: %d failed entries: %+v", out.FailedEntryCount, out.Entries)
	}
}

// admin GETs or POSTs an /_awslocal/ endpoint and decodes its JSON.
func (w *world) admin(method, path string, body, out any) {
	w.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(w.t.Context(), method, w.stack.Endpoint+path, r)
	if err != nil {
		w.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			w.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// ledger returns the simulator's launches for a request.
func (w *world) ledger(requestID string) []sim.LedgerEntry {
	w.t.Helper()
	var v struct {
		Entries []sim.LedgerEntry `json:"entries"`
	}
	w.admin(http.MethodGet, "/_awslocal/ledger?requestId="+url.QueryEscape(launch.RequestHash(requestID)), nil, &v)
	if rid := w.ledgerByTag(requestID); len(rid) > 0 {
		seen := map[string]bool{}
		for _, e := range v.Entries {
			seen[e.ID] = true
		}
		for _, e := range rid {
			if !seen[e.ID] {
				v.Entries = append(v.Entries, e)
			}
		}
	}
	return v.Entries
}

func (w *world) ledgerByTag(requestID string) []sim.LedgerEntry {
	var v struct {
		Entries []sim.LedgerEntry `json:"entries"`
	}
	w.admin(http.MethodGet, "/_awslocal/ledger?requestId="+url.QueryEscape(requestID), nil, &v)
	return v.Entries
}

// counts judges a request's ledger against its chunks (docs/contracts.md "Reports and the ledger").
func counts(req launch.Request, entries []sim.LedgerEntry) sim.Counts {
	return sim.Count(entries, func(_ string, chunk int) int {
		c, err := req.Chunk(chunk)
		if err != nil {
			return 0
		}
		return c.Size
	})
}

// stats returns the simulator's counters.
func (w *world) stats() sim.Stats {
	w.t.Helper()
	var s sim.Stats
	w.admin(http.MethodGet, "/_awslocal/stats", nil, &s)
	return s
}

// deadLetters drains the product's dead-letter queue and returns, for one
// request, the dead-lettered units by chunk (the last message of a chunk
// counts: sends are at least once) and their reasons.
func (w *world) deadLetters(requestID string) (units map[int]int, reasons []string) {
	w.t.Helper()
	units = map[int]int{}
	for _, body := range w.dlq() {
		var d handler.DeadLetter
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			w.t.Fatalf("dead letter %s: %v", body, err)
		}
		if d.RequestID != requestID {
			continue
		}
		units[d.Chunk] = d.Missing
		reasons = append(reasons, d.Reason)
	}
	return units, reasons
}

// dlq drains the product's dead-letter queue.
func (w *world) dlq() []string {
	w.t.Helper()
	var bodies []string
	for {
		out, err := w.sqs.ReceiveMessage(w.t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.cfg.DLQURL), MaxNumberOfMessages: 10})
		if err != nil {
			w.t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			_, _ = w.sqs.DeleteMessage(w.t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(w.cfg.DLQURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
}

// historyCounts reads an execution's history: billed state transitions
// (states entered plus retries) and Lambda invocations (tasks scheduled,
// retries included).
func (w *world) historyCounts(arn string) (transitions, lambdaTasks int) {
	w.t.Helper()
	var next *string
	for {
		out, err := w.sfn.GetExecutionHistory(w.t.Context(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), NextToken: next, MaxResults: 1000})
		if err != nil {
			w.t.Fatalf("GetExecutionHistory: %v", err)
		}
		for _, e := range out.Events {
			typ := string(e.Type)
			switch {
			case strings.HasSuffix(typ, "StateEntered"):
				transitions++
			case typ == "TaskScheduled":
				lambdaTasks++
			}
			if typ == "TaskStateEntered" {
				transitions-- // its TaskScheduled is counted below as the invocation; the retry's too
			}
		}
		if out.NextToken == nil {
			break
		}
		next = out.NextToken
	}
	// Each TaskScheduled is a state entry (first try) or a retry: both are
	// billed transitions.
	return transitions + lambdaTasks, lambdaTasks
}

// lambdaInvocations returns the local Lambda's invocation count: every
// function, event-driven ones included.
func (w *world) lambdaInvocations() int64 { return w.svc.Stats().Lambda.Invocations }

// fargate returns a Fargate request for count tasks.
func fargate(id string, count int) launch.Request {
	return launch.Request{RequestID: id, ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: count, LaunchType: "FARGATE",
		NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}}}
}

func requestID(req any) string {
	switch r := req.(type) {
	case launch.Request:
		return r.RequestID
	case map[string]any:
		s, _ := r["requestId"].(string)
		return s
	}
	panic(fmt.Sprintf("requestID: %T", req))
}

// eventually polls cond every 50 ms (real) until it holds or timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v (real) waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// configT is the product configuration a setup may adjust.
type configT = config.Config
