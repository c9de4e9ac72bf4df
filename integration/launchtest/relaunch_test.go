package launchtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/internal/testenv"
	"github.com/throttle-handler/throttle-handler/pkg/config"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/launchstore"
)

// emfMax keeps, per function/metric, the largest EMF value written.
type emfMax struct {
	mu  sync.Mutex
	max map[string]float64
	n   map[string]int
}

func (e *emfMax) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var doc map[string]any
		if json.Unmarshal(sc.Bytes(), &doc) != nil {
			continue
		}
		fn, _ := doc["Function"].(string)
		e.mu.Lock()
		for k, v := range doc {
			if f, ok := v.(float64); ok && k != "_aws" {
				e.max[fn+"/"+k] = math.Max(e.max[fn+"/"+k], f)
				e.n[fn+"/"+k]++
			}
		}
		e.mu.Unlock()
	}
	return len(p), nil
}

func (e *emfMax) get(key string) (float64, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.max[key], e.n[key]
}

// TestRelaunchesWaitOnTheQueue: on the whole local stack — the simulator's
// TaskFailedToStart events reach the retry function through the default
// bus's rule (asynchronous Lambda), the relaunch queue and its event source
// bring them back — relaunches whose slots are minutes away (the launch
// buckets are booked ahead by the chunks) all end launched: the ledger
// holds every requested task once, nothing is dead-lettered.
func TestRelaunchesWaitOnTheQueue(t *testing.T) {
	if _, err := testenv.NodeBin("node"); err != nil {
		t.Skipf("local services need the Node tools: %v", err)
	}
	const tasks = 400
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	metrics := &emfMax{max: map[string]float64{}, n: map[string]int{}}
	// Fargate launches at 2 tasks/s for the limiter and the simulator; the
	// ENIs keep up with 1/s only, so tasks launched in a burst time out and
	// stop with TaskFailedToStart while the chunks' slots run minutes ahead.
	stack, err := awslocal.Start(ctx, awslocal.Options{TimeScale: 20,
		Sim: sim.Config{Seed: 3, Lifecycle: sim.Lifecycle{RunSeconds: 5},
			Buckets: map[string]sim.Bucket{sim.BucketFargateTasks: {Burst: 20, Rate: 2}, sim.BucketHiddenENI: {Burst: 20, Rate: 1}}},
		Services: awslocal.ServicesOptions{Metrics: metrics, Configure: func(c *config.Config) {
			c.LimitsJSON = `{"actions":{"ecs:FargateTasks":{"rate":2,"burst":20}}}`
		}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	svc := stack.LocalServices()
	awsCfg := aws.Config{Region: stack.Region, BaseEndpoint: aws.String(stack.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	d := wire.Deps{Config: svc.Config, AWS: awsCfg, Clock: stack.Clock, Metrics: io.Discard}
	rt, err := wire.RunTask(d)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := wire.Retry(d)
	if err != nil {
		t.Fatal(err)
	}
	summary, err := wire.Summary(d)
	if err != nil {
		t.Fatal(err)
	}
	store := launchstore.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), svc.Config.Table)
	e := &env{stack: stack, rt: rt, retry: retry.Chunk, relaunch: retry.Relaunch, summary: summary, store: store}

	req := launch.Request{RequestID: "relaunch-wait", MaxAttempts: 30, DeadlineSeconds: 3600,
		ECS: &launch.ECSSpec{Cluster: "jobs", TaskDefinition: "job:3", Count: tasks, LaunchType: "FARGATE",
			NetworkConfiguration: &launch.NetworkConfiguration{AwsvpcConfiguration: &launch.AwsvpcConfiguration{Subnets: []string{"subnet-a", "subnet-b"}}}}}
	sr, err := store.CreateRequest(ctx, req, stack.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &counters{decisions: map[string]int64{}, start: stack.Clock.Now()}
	// One invoker a chunk, as the launch state machine's Map (MaxConcurrency
	// 100, above these 40 chunks): every chunk books its slots at the start, so the Fargate task
	// bucket is booked minutes ahead however fast this machine runs.
	chunks := make(chan int)
	errs := make(chan error, len(sr.Plan.Chunks))
	var wg sync.WaitGroup
	for range len(sr.Plan.Chunks) {
		wg.Go(func() {
			for ch := range chunks {
				if err := e.driveChunk(ctx, t, c, req.RequestID, ch); err != nil {
					errs <- err
					return
				}
			}
		})
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

	// Relaunches arrive for minutes after the chunks end: wait until the
	// ledger holds every task and the relaunch queue is empty.
	size := func(_ string, chunk int) int {
		s, err := req.Chunk(chunk)
		if err != nil {
			return 0
		}
		return s.Size
	}
	relaunchQueue := svc.Config.RelaunchQueueURL
	var counts sim.Counts
	for {
		counts = sim.Count(stack.Sim.Ledger().For(launch.RequestHash(req.RequestID)), size)
		v, inflight, delayed, _ := svc.SQS.Depth(relaunchQueue)
		if counts.Unique == tasks && v+inflight+delayed == 0 && svc.Lambda.InFlight() == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("ledger %+v, relaunch queue %d/%d/%d: not every task launched", counts, v, inflight, delayed)
		}
		e.sleep(ctx, 5*time.Second)
	}
	// A task launched last may still fail to start: past the ENI timeout,
	// the ledger must still be whole.
	e.sleep(ctx, 40*time.Second)
	for v, i, dl, _ := svc.SQS.Depth(relaunchQueue); v+i+dl > 0 || svc.Lambda.InFlight() > 0; v, i, dl, _ = svc.SQS.Depth(relaunchQueue) {
		if ctx.Err() != nil {
			t.Fatal("relaunch queue never drained")
		}
		e.sleep(ctx, 5*time.Second)
	}
	counts = sim.Count(stack.Sim.Ledger().For(launch.RequestHash(req.RequestID)), size)
	sum, err := summary.Summarize(ctx, req.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	wait, deferrals := metrics.get("retry/DeferSeconds")
	_, relaunches := metrics.get("retry/Relaunched")
	t.Logf("ledger %+v; summary %+v", counts, sum)
	t.Logf("relaunches %d, deferred to the queue %d times, longest wait %.0f s; event source %+v; lambda %+v",
		relaunches, deferrals, wait, svc.Stats().Relaunches, svc.Lambda.Stats())
	if counts.FailedToStart == 0 || relaunches == 0 {
		t.Fatalf("no task failed to start (%d) or none was relaunched (%d): the scenario tests nothing", counts.FailedToStart, relaunches)
	}
	if deferrals == 0 || wait < 120 {
		t.Errorf("relaunch waits: %d deferrals, longest %.0f s; want relaunches that wait minutes on the queue", deferrals, wait)
	}
	if counts.Unique != tasks || counts.Duplicates != 0 {
		t.Errorf("ledger: unique %d, duplicates %d; want %d, 0", counts.Unique, counts.Duplicates, tasks)
	}
	if sum.Launched != tasks || sum.DeadLettered != 0 || sum.Failed != 0 {
		t.Errorf("summary: launched %d, failed %d, dead-lettered %d; want %d, 0, 0", sum.Launched, sum.Failed, sum.DeadLettered, tasks)
	}
	if v, _, _, _ := svc.SQS.Depth(svc.Config.DLQURL); v != 0 {
		t.Errorf("DLQ holds %d messages, want 0", v)
	}
}
