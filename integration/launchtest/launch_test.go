package launchtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/failure"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// Scenario is one integration run.
type Scenario struct {
	Tasks     int
	Invokers  int
	TimeScale float64
	Sim       sim.Config
	// EventWorkers handle the account's events (retry event mode); 0: none.
	EventWorkers int
	// Request replaces the default request of Tasks Fargate tasks.
	Request *launch.Request
}

// Result is what a run measured.
type Result struct {
	Counts        sim.Counts
	DeadLettered  int
	Lost          int
	RunTaskCalls  int64
	Throttled     int64
	Summary       launch.Summary
	Relaunched    int64
	EventActions  map[string]int64
	SimSeconds    float64
	RealSeconds   float64
	Invocations   int64
	Deferrals     int64
	RetryDecision map[string]int64
	ThrottledAt   []float64
	Limiter       string
	// Mismatches are the chunks whose ledger and table disagree.
	Mismatches []string
}

// env is the stack the handlers run against: awslocal (ECS, EC2, ledger,
// faults) and dynalite, reached with the real SDK clients.
type env struct {
	stack    *awslocal.Stack
	rt       *handler.RunTask
	retry    *handler.ChunkRetry
	relaunch *handler.Relaunch
	summary  *handler.SummaryHandler
	store    launchstore.Store
	events   *eventQueue
	dlq      *recordingSQS
	lc       *limiter.Counters
	tl       *tracingLimiter
	lstore   *limiter.DynamoStore
	tdb      *timedDB
	metrics  *countingRecorder
}

func start(t *testing.T, sc Scenario) *env {
	t.Helper()
	ctx := context.Background()
	d, err := testenv.StartDynalite(ctx, testenv.DynaliteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	db := d.Client()
	const table = "throttle-handler"
	if err := testenv.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	waitActive(t, db, table)

	q := &eventQueue{}
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: sc.TimeScale, Sim: sc.Sim, Sink: q,
		// Only ECS/EC2: the handlers are driven directly, on our own
		// dynalite, and the simulator's events go to q.
		Services: awslocal.ServicesOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	ecsc := ecs.New(ecs.Options{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint), Credentials: creds})
	ec2c := ec2.New(ec2.Options{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint), Credentials: creds})

	lstore := limiter.NewDynamoStore(db, table)
	lc := &limiter.Counters{}
	lim := limiter.NewDistributed(lstore, nil, func(o *limiter.Options) {
		o.Clock, o.AccountScope, o.Recorder = stack.Clock, "it", lc
	})
	tdb := &timedDB{DynamoDBAPI: db}
	st := launchstore.NewDynamoDB(tdb, table)
	dlq, bus := &recordingSQS{relaunch: q}, &recordingEvents{}
	e := &env{stack: stack, store: st, events: q, dlq: dlq, lc: lc, tl: nil, lstore: lstore, tdb: tdb}
	// Threshold 0: every call is made at or after its slot (a positive
	// threshold lets calls run up to that far ahead of the bucket).
	tl := &tracingLimiter{Distributed: lim, clk: stack.Clock}
	e.tl = tl
	e.metrics = &countingRecorder{m: map[string]float64{}}
	e.rt = handler.NewRunTask(st, tl, ecsc, ec2c, func(o *handler.RunTaskOptions) {
		o.Clock, o.DeferThreshold, o.AccountScope, o.Metrics = stack.Clock, 0, "it", e.metrics
	})
	peek, dlqURL := handler.StorePeeker{Limiter: lim}, "http://127.0.0.1/000000000000/dlq"
	e.retry = handler.NewChunkRetry(st, bus, dlq, func(o *handler.ChunkRetryOptions) {
		o.Clock, o.Bus, o.DLQURL, o.Peek = stack.Clock, "product", dlqURL, peek
	})
	e.relaunch = handler.NewRelaunch(st, lim, ecsc, bus, dlq, func(o *handler.RelaunchOptions) {
		o.Clock, o.DeferThreshold, o.Bus, o.DLQURL, o.Peek = stack.Clock, 0, "product", dlqURL, peek
		o.RelaunchQueueURL = relaunchQueueURL
	})
	q.clk, q.handle = stack.Scaled, func(ctx context.Context, raw json.RawMessage) (handler.EventOutput, error) {
		var ev handler.ECSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return handler.EventOutput{}, err
		}
		return e.relaunch.HandleEvent(ctx, ev)
	}
	e.summary = handler.NewSummaryHandler(st, bus, func(o *handler.HandlerOptions) { o.Clock, o.Bus = stack.Clock, "product" })
	return e
}

func waitActive(t *testing.T, db *dynamodb.Client, table string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err == nil && out.Table.TableStatus == ddbtypes.TableStatusActive {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("table %s never became active", table)
}

// sleep waits d of simulated time.
func (e *env) sleep(ctx context.Context, d time.Duration) { _ = e.stack.Scaled.Sleep(ctx, d) }

// wait is a Step Functions Wait state of d: it ends at d or a little later
// (up to 0.5 s; AWS gives no sub-second precision), which also keeps 64
// invokers from hitting dynalite in the same millisecond.
func (e *env) wait(ctx context.Context, d time.Duration) {
	e.sleep(ctx, d+time.Duration(rand.Int64N(int64(500*time.Millisecond))))
}

// catchCause is what a Step Functions Catch passes on for a Lambda error:
// {"Error": errorType, "Cause": the Lambda error document}.
func catchCause(err error) []byte {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	doc, _ := json.Marshal(map[string]string{"errorType": t.Name(), "errorMessage": err.Error()})
	b, _ := json.Marshal(map[string]string{"Error": t.Name(), "Cause": string(doc)})
	return b
}

type counters struct {
	invocations, deferrals atomic.Int64
	mu                     sync.Mutex
	decisions              map[string]int64
	start                  time.Time
	throttledAt            []float64 // simulated seconds since the start
}

func (c *counters) decided(a string) {
	c.mu.Lock()
	c.decisions[a]++
	c.mu.Unlock()
}

// driveChunk does for one chunk what the launch state machine's item
// processor does: RunTask → Outcome (launched/done, deferred → Wait,
// otherwise Classify → Retry → Backoff), with the same JSON in between.
func (e *env) driveChunk(ctx context.Context, t *testing.T, c *counters, requestID string, chunk int) error {
	in := handler.RunTaskInput{RequestID: requestID, Chunk: chunk, Attempt: 0}
	for step := 0; step < 500; step++ {
		c.invocations.Add(1)
		out, err := e.rt.Handle(ctx, in)
		var toClassify []byte
		switch {
		case err != nil:
			toClassify = catchCause(err)
		case out.Status == handler.StatusLaunched || out.Status == handler.StatusDone:
			return nil
		case out.Status == handler.StatusDeferred:
			c.deferrals.Add(1)
			e.wait(ctx, time.Duration(out.WaitSeconds)*time.Second)
			in.Slot = nil // through JSON, as the Wait state passes it on
			if b, err := json.Marshal(out.Slot); err == nil {
				_ = json.Unmarshal(b, &in.Slot)
			}
			continue
		default:
			toClassify, _ = json.Marshal(out)
		}
		cls := failure.Classify(toClassify)
		var ro handler.RetryOutput
		for try := 0; ; try++ {
			ro, err = e.retry.Handle(ctx, handler.RetryInput{RequestID: requestID, Chunk: chunk, Attempt: in.Attempt,
				Classification: &cls, Exclude: in.Exclude})
			if err == nil {
				break
			}
			var te *failure.TransientError
			if !errors.As(err, &te) || try == 5 {
				return fmt.Errorf("chunk %d: retry: %w", chunk, err)
			}
			e.sleep(ctx, time.Second) // the state machine's Lambda retry
		}
		c.decided(ro.Action + "/" + string(cls.Class))
		if cls.Class == failure.Throttled {
			c.mu.Lock()
			c.throttledAt = append(c.throttledAt, e.stack.Clock.Now().Sub(c.start).Seconds())
			c.mu.Unlock()
		}
		if ro.Action == handler.ActionGiveUp {
			return nil
		}
		e.wait(ctx, time.Duration(ro.WaitSeconds)*time.Second)
		in = handler.RunTaskInput{RequestID: requestID, Chunk: chunk, Attempt: ro.Attempt, ReuseToken: ro.ReuseToken, Exclude: ro.Exclude}
	}
	return fmt.Errorf("chunk %d: no end after 500 steps", chunk)
}

func run(t *testing.T, sc Scenario) Result {
	t.Helper()
	return runOn(t, start(t, sc), sc)
}

// runOn launches the scenario's request on e, chunk by chunk as the state
// machine would, and measures the outcome.
func runOn(t *testing.T, e *env, sc Scenario) Result {
	t.Helper()
	// Real time: the launch takes about 90 s on 2 cores, and relaunches
	// deferred on the relaunch queue may wait minutes of simulated time
	// (k = 5) before the events settle.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	realStart, simStart := time.Now(), e.stack.Clock.Now()
	req := launch.Request{RequestID: "it-" + t.Name(), MaxAttempts: 30, DeadlineSeconds: 3600,
		ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: sc.Tasks, LaunchType: "FARGATE",
			NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}}}
	if sc.Request != nil {
		req = *sc.Request
	}
	sr, err := e.store.CreateRequest(ctx, req, e.stack.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	evCtx, stopEvents := context.WithCancel(ctx)
	var evWG sync.WaitGroup
	var relaunched atomic.Int64
	actions := map[string]int64{}
	var actMu sync.Mutex
	for range sc.EventWorkers {
		evWG.Add(1)
		go func() {
			defer evWG.Done()
			e.events.work(evCtx, func(a string) {
				actMu.Lock()
				actions[a]++
				actMu.Unlock()
				if a == handler.EventRelaunched {
					relaunched.Add(1)
				}
			})
		}()
	}

	c := &counters{decisions: map[string]int64{}, start: simStart}
	chunks := make(chan int)
	errs := make(chan error, sc.Invokers)
	var wg sync.WaitGroup
	for range sc.Invokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range chunks {
				if err := e.driveChunk(ctx, t, c, req.RequestID, ch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, ch := range sr.Plan.Chunks {
		chunks <- ch
	}
	close(chunks)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sc.EventWorkers > 0 {
		// Tasks launched last may still fail to start: wait past the
		// lifecycle's ENI timeout, then for the event queue to drain.
		e.events.settle(ctx, 45*time.Second)
		if p := e.events.pending(); p != "" || ctx.Err() != nil {
			t.Errorf("events not settled (%v): %s", ctx.Err(), p)
		}
	}
	stopEvents()
	evWG.Wait()

	sum, err := e.summary.Summarize(ctx, req.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	size := func(_ string, chunk int) int {
		s, err := req.Chunk(chunk)
		if err != nil {
			return 0
		}
		return s.Size
	}
	entries := e.stack.Sim.Ledger().For(launch.RequestHash(req.RequestID))
	counts := sim.Count(entries, size)
	stats := e.stack.Sim.Stats()
	return Result{
		Counts: counts, DeadLettered: sum.DeadLettered, Lost: sim.Lost(req.Requested(), counts.Unique, sum.DeadLettered),
		RunTaskCalls: stats.Calls["ecs:RunTask"], Throttled: stats.Throttled["ecs:RunTask"], Summary: sum,
		Relaunched: relaunched.Load(), EventActions: actions,
		SimSeconds: e.stack.Clock.Now().Sub(simStart).Seconds(), RealSeconds: time.Since(realStart).Seconds(),
		Invocations: c.invocations.Load(), Deferrals: c.deferrals.Load(), RetryDecision: c.decisions, ThrottledAt: c.throttledAt, Mismatches: e.chunkMismatches(ctx, req, sr.Plan.Chunks, entries), Limiter: fmt.Sprintf("%s; store %+v; launch store: %s; runtask metrics %v", e.tl, e.lstore.Stats(), e.tdb, e.metrics),
	}
}

// TestLaunch2000Tasks: 2,000 Fargate tasks from 64 concurrent invokers
// against the published buckets, with 5 % of launch responses lost, Fargate
// capacity that runs out while earlier tasks still run, and ENI provisioning
// slower than the launch rate (some tasks fail to start and are relaunched).
func TestLaunch2000Tasks(t *testing.T) {
	sc := Scenario{
		Tasks: 2000, Invokers: 64, TimeScale: 5, EventWorkers: 8,
		Sim: sim.Config{
			Seed:      7,
			Faults:    sim.Faults{LostResponseRate: 0.05, LostMode: sim.LostAsReset},
			Capacity:  sim.Capacity{FargateSubnets: map[string]int{"subnet-a": 250, "subnet-b": 250}},
			Lifecycle: sim.Lifecycle{RunSeconds: 5},
			Buckets:   map[string]sim.Bucket{sim.BucketHiddenENI: {Burst: 50, Rate: 15}},
		},
	}
	r := run(t, sc)
	rate := float64(r.Throttled) / float64(max(1, r.RunTaskCalls))
	t.Logf("ledger: %+v", r.Counts)
	t.Logf("duplicates %d, lost %d, dead-lettered %d; RunTask calls %d, throttled %d (%.2f %%)",
		r.Counts.Duplicates, r.Lost, r.DeadLettered, r.RunTaskCalls, r.Throttled, 100*rate)
	t.Logf("summary: %+v", r.Summary)
	t.Logf("throttles at (simulated s): %.0f", r.ThrottledAt)
	t.Logf("relaunched %d, event actions %v; invocations %d, deferrals %d, retry decisions %v",
		r.Relaunched, r.EventActions, r.Invocations, r.Deferrals, r.RetryDecision)
	t.Logf("simulated %.0f s in %.1f s real; %s", r.SimSeconds, r.RealSeconds, r.Limiter)
	if r.Counts.Duplicates != 0 {
		t.Errorf("duplicates: got %d, want 0", r.Counts.Duplicates)
	}
	if r.Lost != 0 {
		t.Errorf("lost: got %d, want 0", r.Lost)
	}
	for _, m := range r.Mismatches {
		t.Log(m)
	}
	// The < 1 % target is measured by the benchmark (make bench), not here:
	// on a shared 2-core machine a slow dynalite stales a few slots of ~280
	// calls. This bound still catches a limiter that does not pace.
	if rate >= 0.05 {
		t.Errorf("throttled RunTask calls: got %.2f %%, want < 5 %% (target < 1 %%: see the benchmark)", 100*rate)
	}
	if r.Counts.LostResponses == 0 {
		t.Error("no response was lost: the scenario does not test token reuse")
	}
	if got := r.Summary.Launched + r.Summary.DeadLettered; got != sc.Tasks || r.Summary.Pending != 0 || r.Summary.PendingRelaunches != 0 {
		t.Errorf("summary: launched %d + dead-lettered %d = %d, pending %d, pending relaunches %d; want %d, 0, 0",
			r.Summary.Launched, r.Summary.DeadLettered, got, r.Summary.Pending, r.Summary.PendingRelaunches, sc.Tasks)
	}
	if r.Summary.Launched != r.Counts.Unique {
		t.Errorf("table says %d launched, ledger %d", r.Summary.Launched, r.Counts.Unique)
	}
}
