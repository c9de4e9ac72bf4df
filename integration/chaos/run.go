package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/services"
	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/submit"
)

// Options configure Run.
type Options struct {
	// TimeScale k: simulated seconds per real second. Default 20.
	TimeScale float64
	// Timeout bounds one seed in real time. Default 5 minutes.
	Timeout time.Duration
	// FunctionTimeout, when set, replaces every function's Lambda timeout
	// (simulated), what a TimeoutAfter fault waits for. Default: the
	// stack's own (infra/cdk/settings: runtask and retry 30 s).
	FunctionTimeout time.Duration
	// Settle bounds (simulated) how long after the executions end, or
	// after the ledger last moved, it may still converge: relaunches after
	// TaskFailedToStart and late events land then. Default 300 s.
	Settle time.Duration
	// CrashFunctions are the functions whose invocations may crash or time
	// out. Default: every function on the launch path (plan, runtask,
	// retry, summary).
	CrashFunctions []string
	// StateMachinesDir replaces the repository's statemachines/ (to try a
	// change of the ASL against the matrix).
	StateMachinesDir string
	// Log receives the stack's, handlers' and runner's logs; nil discards.
	Log io.Writer
	// Metrics receives the handlers' EMF metric lines, Lambda's log stream;
	// nil discards.
	Metrics io.Writer
}

func (o *Options) defaults() {
	if o.TimeScale == 0 {
		o.TimeScale = 20
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.CrashFunctions == nil {
		o.CrashFunctions = []string{"plan", "runtask", "retry", "summary"}
	}
	if o.Settle == 0 {
		o.Settle = 300 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = io.Discard
	}
}

// RequestResult is what became of one request.
type RequestResult struct {
	RequestID string         `json:"requestId"`
	Requested int            `json:"requested"`
	Status    string         `json:"status"` // the execution's
	Summary   launch.Summary `json:"summary"`
	Ledger    sim.Counts     `json:"ledger"`
	// DeadLettered counts the units of the DLQ's messages (the last
	// message per chunk: sends are at least once).
	DeadLettered int `json:"deadLettered"`
	// DeadLetteredAfterClose counts those of them a task failing to start
	// after the final summary closed the request put there (check.go).
	DeadLetteredAfterClose int `json:"deadLetteredAfterClose,omitempty"`
	// EventDeadLettered counts the request's tasks whose TaskFailedToStart
	// event EventBridge could not deliver to retry (dead-lettered raw):
	// not lost, but not relaunched nor counted failed either.
	EventDeadLettered int `json:"eventDeadLettered,omitempty"`
	// Short lists, when units are lost or doubled, the chunks whose live
	// tasks and dead letters do not add up to their size
	// with what the ledger holds for them (for replays).
	Short []string `json:"short,omitempty"`
	// UnknownRunning counts units dead-lettered as OutcomeUnknown ("may be
	// running": the evidence did not show them) that the ledger shows
	// running under the dead letter's startedBy: counted once, not lost and
	// not doubled — the dead letter names them for a person.
	UnknownRunning int `json:"unknownRunning,omitempty"`
	// Lost = requested − unique launched − dead-lettered + UnknownRunning.
	Lost int `json:"lost"`
}

// Result is one seed's outcome. Violations are broken promises; an error
// from Run is a broken harness (the stack did not start).
type Result struct {
	Seed       uint64           `json:"seed"`
	Scenario   string           `json:"scenario"`
	Requests   []RequestResult  `json:"requests"`
	Violations []string         `json:"violations,omitempty"`
	Faults     map[string]int64 `json:"faults"`
	Runtime    time.Duration    `json:"runtime"`
	// OutageFrom and OutageTo bracket the DynamoDB outage, and LaunchTimes
	// are the ledger's launches, sorted (simulated times; set only when an
	// outage ran), to judge how soon launches resumed after it.
	OutageFrom  time.Time   `json:"outageFrom,omitzero"`
	OutageTo    time.Time   `json:"outageTo,omitzero"`
	LaunchTimes []time.Time `json:"-"`
	// RelaunchQueued is the relaunch queue's depth when settling ended
	// (non-zero only if the seed's timeout cut it short).
	RelaunchQueued int `json:"relaunchQueued,omitempty"`
}

// OK reports whether every invariant held.
func (r Result) OK() bool { return len(r.Violations) == 0 }

// Run runs sc on a fresh local stack and checks the invariants (doc.go).
func Run(ctx context.Context, sc Scenario, o Options) (res Result, err error) {
	o.defaults()
	begin := time.Now()
	res = Result{Seed: sc.Seed, Scenario: sc.String(), Faults: map[string]int64{}}
	defer func() { res.Runtime = time.Since(begin) }()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "chaos-dynalite-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.DiscardHandler)
	so := awslocal.ServicesOptions{EventDuplicates: sc.EventDuplicates, DynamoDBPath: dir, RunnerStderr: o.Log, StateMachinesDir: o.StateMachinesDir,
		Metrics: o.Metrics}
	if o.Log != nil {
		logger = slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	var c counters
	logger = slog.New(dropCounter{Handler: logger.Handler(), c: &c})
	faulty := map[string]bool{}
	for _, f := range o.CrashFunctions {
		faulty[f] = true
	}
	ld, fd := newDraws(sc.Seed, "lambda"), newDraws(sc.Seed, "timeouts")
	so.Configure = func(cfg *config.Config) { cfg.LimitsJSON = sc.LimitsJSON }
	so.Lambda = func(lo *lambdasvc.Options) {
		lo.Fault = lambdaFaults(sc, faulty, ld, &c)
		if o.FunctionTimeout > 0 {
			for name := range lo.Timeouts {
				lo.Timeouts[name] = o.FunctionTimeout
			}
		}
	}
	so.Functions = functions(sc, faulty, fd, &c)
	origin := time.Now().UTC()
	sctx, scancel := context.WithTimeout(ctx, 90*time.Second)
	stack, err := awslocal.Start(sctx, awslocal.Options{TimeScale: o.TimeScale, Origin: origin, Sim: sc.Sim, Logger: logger, Services: so})
	scancel()
	if err != nil {
		return res, fmt.Errorf("chaos: awslocal.Start: %w", err)
	}
	svc := stack.LocalServices()
	late := &lateSink{next: svc.Events, clock: stack.Scaled, p: sc.EventLate, delay: sc.EventDelay, d: newDraws(sc.Seed, "events"), c: &c, stop: make(chan struct{})}
	stack.Sim.SetSink(late)
	var outageErr error
	outageDone := make(chan struct{})
	octx, ocancel := context.WithCancel(ctx)
	defer func() {
		ocancel()
		<-outageDone
		late.close()
		_ = stack.Close()
	}()
	go func() {
		defer close(outageDone)
		if sc.DynamoOutageAt > 0 {
			outageErr = outage(octx, sc, svc, stack.Scaled, &c)
		}
	}()

	env := stack.Env()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return res, err
	}
	awsCfg := aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	sfnc, sqsc := sfn.NewFromConfig(awsCfg), sqs.NewFromConfig(awsCfg)
	store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), cfg.Table)

	arns := make([]string, len(sc.Requests))
	for i, r := range sc.Requests {
		b, _ := json.Marshal(r)
		out, err := sfnc.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(cfg.StateMachineARN),
			Name: aws.String(submit.ExecutionName(r.RequestID)), Input: aws.String(string(b))})
		if err != nil {
			return res, fmt.Errorf("chaos: StartExecution %s: %w", r.RequestID, err)
		}
		arns[i] = aws.ToString(out.ExecutionArn)
	}
	res.Requests = make([]RequestResult, len(sc.Requests))
	for i, r := range sc.Requests {
		rr := &res.Requests[i]
		rr.RequestID, rr.Requested = r.RequestID, r.Requested()
		status, output, cause, err := waitExecution(ctx, sfnc, arns[i])
		if err != nil {
			res.Violations = append(res.Violations, fmt.Sprintf("%s: not terminal: %v", r.RequestID, err))
			continue
		}
		rr.Status = status
		if requestFailed(status, cause) {
			// More units dead-lettered than tolerated fail the request
			// (LaunchIncomplete); its summary is LaunchCompleted's, read
			// back from the table as throttlectl status reads it.
			if rr.Summary, err = handler.NewSummaryHandler(store, nil).Summarize(ctx, r.RequestID); err != nil {
				res.Violations = append(res.Violations, fmt.Sprintf("%s: summary of the failed request: %v", r.RequestID, err))
			}
			continue
		}
		if status != string(sfntypes.ExecutionStatusSucceeded) {
			res.Violations = append(res.Violations, fmt.Sprintf("%s: execution %s without a summary: %s", r.RequestID, status, cause))
			continue
		}
		if err := json.Unmarshal([]byte(output), &rr.Summary); err != nil {
			res.Violations = append(res.Violations, fmt.Sprintf("%s: summary %q: %v", r.RequestID, output, err))
		}
	}

	// Let the stragglers land: the outage ends, late and duplicated events
	// are delivered, and relaunches after TaskFailedToStart run.
	<-outageDone
	if outageErr != nil {
		return res, outageErr
	}
	late.wait()
	if err := svc.Events.Drain(ctx); err != nil {
		return res, fmt.Errorf("chaos: drain events: %w", err)
	}
	dead, err := deadLetters(ctx, sqsc, cfg.DLQURL)
	if err != nil {
		return res, err
	}
	// Settle while the ledger still moves: relaunches after
	// TaskFailedToStart wait for ECS's ENIs, which a starved account hands
	// out slowly. Settle without progress means stuck. A relaunch waiting
	// on the relaunch queue (its slot, or a retry after a throttle) is not
	// stuck however long it waits: it ends launched or dead-lettered by the
	// request's deadline, so the loop also waits while the queue holds it.
	settle := time.Now().Add(stack.Scaled.RealDuration(o.Settle))
	progress := -1
	for {
		queued, err := relaunchQueued(svc, cfg.RelaunchQueueURL)
		if err != nil {
			return res, err
		}
		lost, unique := 0, 0
		for i, r := range sc.Requests {
			res.Requests[i].Ledger = ledgerCounts(stack.Sim, r)
			res.Requests[i].DeadLettered = dead[r.RequestID].units()
			res.Requests[i].DeadLetteredAfterClose = dead[r.RequestID].afterClose()
			res.Requests[i].EventDeadLettered = undelivered(stack.Sim, r, dead[rawPrefix+launch.RequestHash(r.RequestID)])
			res.Requests[i].UnknownRunning = dead[r.RequestID].unknownRunning(stack.Sim, r, recordedIDs(ctx, store, r.RequestID))
			res.Requests[i].Lost = res.Requests[i].Requested - res.Requests[i].Ledger.Unique - res.Requests[i].DeadLettered - res.Requests[i].EventDeadLettered +
				res.Requests[i].UnknownRunning
			unique += res.Requests[i].Ledger.Unique + res.Requests[i].DeadLettered + res.Requests[i].EventDeadLettered
			if res.Requests[i].Summary.RequestID != "" {
				lost += max(0, res.Requests[i].Lost) // an execution without a summary will not recover
			}
		}
		if unique != progress {
			progress, settle = unique, time.Now().Add(stack.Scaled.RealDuration(o.Settle))
		}
		res.RelaunchQueued = queued
		if (queued == 0 && (lost == 0 || time.Now().After(settle))) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
		_ = svc.Events.Drain(ctx)
		more, err := deadLetters(ctx, sqsc, cfg.DLQURL)
		if err != nil {
			return res, err
		}
		for id, d := range more {
			if dead[id] == nil {
				dead[id] = d
				continue
			}
			for k, v := range d {
				dead[id][k] = v
			}
		}
	}
	for i, r := range sc.Requests {
		if res.Requests[i].Lost != 0 || res.Requests[i].Ledger.Duplicates > 0 {
			res.Requests[i].Short = shortChunks(stack.Sim, r, dead[r.RequestID])
		}
	}
	st := stack.Sim.Stats()
	if n := c.asyncDropped.Load(); n > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("%d asynchronous invocations (EventBridge → retry: throttle signals) failed after Lambda's retries and were dropped (on AWS: the event DLQ via OnFailure); the summaries do not count them", n))
	}
	res.Violations = append(res.Violations, check(sc, res.Requests, dead)...)
	res.Violations = append(res.Violations, checkBuckets(sc, st, origin)...)
	collectFaults(res.Faults, st, svc.Stats(), &c)
	countAfterClose(res.Faults, res.Requests)
	if from, to := c.outageFrom.Load(), c.outageTo.Load(); from != nil && to != nil {
		res.OutageFrom, res.OutageTo = *from, *to
		for _, r := range sc.Requests {
			for _, e := range stack.Sim.Ledger().For(launch.RequestHash(r.RequestID)) {
				res.LaunchTimes = append(res.LaunchTimes, e.LaunchedAt)
			}
		}
		slices.SortFunc(res.LaunchTimes, time.Time.Compare)
	}
	return res, nil
}

// relaunchQueued is the relaunch queue's depth: visible, in flight and
// delayed messages.
func relaunchQueued(svc *services.Services, url string) (int, error) {
	if url == "" {
		return 0, nil
	}
	v, f, d, err := svc.SQS.Depth(url)
	if err != nil {
		return 0, fmt.Errorf("chaos: relaunch queue depth: %w", err)
	}
	return v + f + d, nil
}

// requestFailed says an execution failed with the request's own final
// status (the summary's error), not for want of a summary.
func requestFailed(status, cause string) bool {
	return status == string(sfntypes.ExecutionStatusFailed) &&
		(strings.HasPrefix(cause, launch.ErrLaunchIncomplete+" ") || strings.HasPrefix(cause, launch.ErrTasksFailed+" "))
}

// waitExecution polls an execution until it ends.
func waitExecution(ctx context.Context, c *sfn.Client, arn string) (status, output, cause string, err error) {
	for {
		d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err == nil && d.Status != sfntypes.ExecutionStatusRunning {
			return string(d.Status), aws.ToString(d.Output), aws.ToString(d.Error) + " " + aws.ToString(d.Cause), nil
		}
		if err != nil && !strings.Contains(err.Error(), "ExecutionDoesNotExist") {
			return "", "", "", err
		}
		select {
		case <-ctx.Done():
			return "", "", "", fmt.Errorf("still running: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ledgerCounts judges r's launches in the simulator's ledger (docs/contracts.md
// "Reports and the ledger"): entries are found by request hash (tasks) and request id
// (instances' tag).
func ledgerCounts(s *sim.Sim, r launch.Request) sim.Counts {
	seen := map[string]bool{}
	var entries []sim.LedgerEntry
	for _, key := range []string{launch.RequestHash(r.RequestID), r.RequestID} {
		for _, e := range s.Ledger().For(key) {
			if !seen[e.ID] {
				seen[e.ID] = true
				entries = append(entries, e)
			}
		}
	}
	return sim.Count(entries, func(_ string, chunk int) int {
		c, err := r.Chunk(chunk)
		if err != nil {
			return 0
		}
		return c.Size
	})
}

// rawPrefix keys, by request hash, the events EventBridge dead-lettered.
const rawPrefix = "event-dlq:"

// chunkLetters are one request's dead letters, the last per chunk and kind.
type chunkLetters map[string]handler.DeadLetter

// unknownRunning counts, over the OutcomeUnknown dead letters, the tasks
// the ledger shows launched and not failed to start under the letter's
// startedBy that the product's table does not count (recorded holds the
// table's ids by chunk), at most the units the letter names.
func (c chunkLetters) unknownRunning(s *sim.Sim, r launch.Request, recorded map[int][]string) int {
	n := 0
	for _, d := range c {
		if !d.OutcomeUnknown || d.StartedBy == "" {
			continue
		}
		running := 0
		for _, e := range s.Ledger().For(launch.RequestHash(r.RequestID)) {
			if e.StartedBy == d.StartedBy && !e.FailedToStart && !slices.Contains(recorded[d.Chunk], e.ID) {
				running++
			}
		}
		n += min(running, d.Missing)
	}
	return n
}

// recordedIDs reads the ids the product's table counts, by chunk.
func recordedIDs(ctx context.Context, st *launchstore.DynamoDB, requestID string) map[int][]string {
	out := map[int][]string{}
	chunks, _, err := st.Chunks(ctx, requestID)
	if err != nil {
		return out
	}
	for _, c := range chunks {
		out[c.Index] = c.IDs
	}
	return out
}

func (c chunkLetters) units() int {
	n := 0
	for _, d := range c {
		n += d.Missing
	}
	return n
}

// deadLetters drains the product's DLQ, by request id.
func deadLetters(ctx context.Context, c *sqs.Client, url string) (map[string]chunkLetters, error) {
	out := map[string]chunkLetters{}
	for {
		m, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, fmt.Errorf("chaos: ReceiveMessage: %w", err)
		}
		if len(m.Messages) == 0 {
			return out, nil
		}
		for _, msg := range m.Messages {
			body := []byte(aws.ToString(msg.Body))
			var d handler.DeadLetter
			if err := json.Unmarshal(body, &d); err != nil {
				return nil, fmt.Errorf("chaos: dead letter %q: %w", body, err)
			}
			// A chunk's give-up is sent at least once (same key); each lost
			// relaunch of the chunk is one more unit under its own key.
			key := fmt.Sprintf("%d/%s", d.Chunk, d.Kind)
			if d.StoppedTaskARN != "" {
				key += "/" + d.StoppedTaskARN
			}
			if d.RequestID == "" {
				// An event EventBridge could not deliver to its target (the
				// rule's dead-letter queue is the product's), an event the
				// relaunch queue redrove, or Lambda's on-failure record of
				// an asynchronous retry invocation (the event is its
				// requestPayload): the task it names was neither relaunched
				// nor counted as failed.
				var dest struct {
					RequestPayload json.RawMessage `json:"requestPayload"`
				}
				if json.Unmarshal(body, &dest) == nil && len(dest.RequestPayload) > 0 && dest.RequestPayload[0] == '{' {
					body = dest.RequestPayload
				}
				var env struct {
					DetailType string `json:"detail-type"`
					Detail     struct {
						TaskArn   string `json:"taskArn"`
						StartedBy string `json:"startedBy"`
					} `json:"detail"`
				}
				_ = json.Unmarshal(body, &env)
				id, ok := launch.ParseStartedBy(env.Detail.StartedBy)
				if !ok {
					return nil, fmt.Errorf("chaos: dead letter from neither the product nor one of its tasks: %s", body)
				}
				d = handler.DeadLetter{Failures: []launch.Failure{{Reason: "event:" + env.DetailType}}}
				d.RequestID, d.Missing, d.Chunk, d.StoppedTaskARN = rawPrefix+id.RequestHash, 1, id.Chunk, env.Detail.TaskArn
				key = env.Detail.TaskArn
			}
			if out[d.RequestID] == nil {
				out[d.RequestID] = chunkLetters{}
			}
			out[d.RequestID][key] = d
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				return nil, errors.Join(fmt.Errorf("chaos: DeleteMessage"), err)
			}
		}
	}
}

// undelivered counts the dead-lettered TaskFailedToStart events of r whose
// task was not relaunched: an event whose handling relaunched the task and
// then failed (a crash after the work, retried until it was dead-lettered)
// leaves a DLQ message, but no unit is missing.
func undelivered(s *sim.Sim, r launch.Request, events chunkLetters) int {
	if len(events) == 0 {
		return 0
	}
	relaunched := map[string]bool{}
	for _, e := range s.Ledger().For(launch.RequestHash(r.RequestID)) {
		relaunched[e.StartedBy] = true
	}
	n := 0
	for _, d := range events {
		if !relaunched[launch.RelaunchStartedBy(r.RequestID, d.Chunk, d.StoppedTaskARN)] {
			n += d.Missing
		}
	}
	return n
}

// shortChunks describes the chunks of r with fewer live units than their
// size and no dead letter: each entry's attempt, start and stop.
func shortChunks(s *sim.Sim, r launch.Request, dead chunkLetters) []string {
	byChunk := map[int][]sim.LedgerEntry{}
	for _, e := range s.Ledger().For(launch.RequestHash(r.RequestID)) {
		byChunk[e.Chunk] = append(byChunk[e.Chunk], e)
	}
	for _, e := range s.Ledger().For(r.RequestID) {
		byChunk[e.Chunk] = append(byChunk[e.Chunk], e)
	}
	var out []string
	for i := 0; ; i++ {
		c, err := r.Chunk(i)
		if err != nil {
			break
		}
		live := 0
		desc := ""
		for _, e := range byChunk[i] {
			if !e.FailedToStart {
				live++
			}
			desc += fmt.Sprintf(" [%s attempt %d token …%s failedToStart %v lostResponse %v stop %s at %s]", e.ID[max(0, len(e.ID)-8):], e.Attempt,
				e.ClientToken[max(0, len(e.ClientToken)-6):], e.FailedToStart, e.LostResponse, e.StopCode, e.LaunchedAt.Format("15:04:05.0"))
		}
		deadUnits := 0
		for _, d := range dead {
			if d.Chunk == i {
				deadUnits += d.Missing
			}
		}
		if live+deadUnits != c.Size {
			out = append(out, fmt.Sprintf("chunk %d: size %d, live %d, dead-lettered %d:%s", i, c.Size, live, deadUnits, desc))
		}
	}
	return out
}
