package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/handler"
	"github.com/throttle-handler/throttle-handler/pkg/handler/wire"
	"github.com/throttle-handler/throttle-handler/pkg/launch"
	"github.com/throttle-handler/throttle-handler/pkg/limiter"
)

// TestTaskFailedToStartRelaunch starves the ENI attachments ECS makes for
// awsvpc tasks, so that tasks of one chunk stop with TaskFailedToStart; the
// ECS Task State Change events (each delivered twice) reach retry, which
// relaunches each failed task exactly once, keyed by its ARN. The chunks
// end while those relaunches still wait: the execution must wait for them
// and its final summary count them
// relaunched and launched, none pending, after the last relaunch.
func TestTaskFailedToStartRelaunch(t *testing.T) {
	starved := map[string]sim.Bucket{sim.BucketHiddenENI: {Burst: 12, Rate: 0.001}}
	w := newWorld(t, setup{eventDuplicates: 1, sim: sim.Config{Buckets: starved, Lifecycle: sim.Lifecycle{ENITimeoutSeconds: 10}}})
	req := fargate("e2e-failed-to-start", 20)
	arn := w.start(req)

	failedPerChunk := func() (map[int]int, []sim.LedgerEntry) {
		per := map[int]int{}
		var failed []sim.LedgerEntry
		for _, en := range w.ledger(req.RequestID) {
			if en.FailedToStart {
				per[en.Chunk]++
				failed = append(failed, en)
			}
		}
		return per, failed
	}
	var chunksEnded time.Time // the last chunk launch
	eventually(t, 30*time.Second, "the chunks to launch and two tasks of one chunk to fail to start", func() bool {
		n := 0
		for _, en := range w.ledger(req.RequestID) {
			if en.Attempt < launch.RelaunchAttemptBase {
				n++
				chunksEnded = later(chunksEnded, en.LaunchedAt)
			}
		}
		per, _ := failedPerChunk()
		for _, f := range per {
			if f >= 2 && n >= 20 {
				return true
			}
		}
		return false
	})
	w.admin(http.MethodPost, "/_awslocal/buckets", map[string]sim.Bucket{sim.BucketHiddenENI: sim.DefaultBuckets()[sim.BucketHiddenENI]}, nil)

	e := w.wait(arn, 90*time.Second)
	if e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s %s", e.Status, e.Error, e.Cause)
	}
	if err := w.svc.Events.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	entries := w.ledger(req.RequestID)
	byToken := map[string]int{}
	for _, en := range entries {
		byToken[en.ClientToken]++
	}
	_, failed := failedPerChunk()
	for _, f := range failed {
		if n := byToken[launch.RelaunchToken(f.ID)]; n != 1 {
			t.Errorf("failed task %s (chunk %d): %d relaunches, want 1", f.ID, f.Chunk, n)
		}
	}
	if st := w.svc.Stats().Events; st.Duplicates < int64(len(failed)) {
		t.Errorf("EventBridge %+v: want every TaskFailedToStart event (%d) delivered twice", st, len(failed))
	}
	c := counts(req, entries)
	if c.Duplicates != 0 || c.Unique != 20 {
		t.Errorf("ledger %+v: want 20 tasks running, none twice", c)
	}
	if s := e.Summary; s.Launched != 20 || s.Failed != 0 || s.Pending != 0 || s.PendingRelaunches != 0 || s.Relaunched != len(failed) {
		t.Errorf("final summary %+v: want 20 launched, %d relaunched, nothing failed or pending", s, len(failed))
	}
	// Relaunches launched after the chunks ended were pending when the Map
	// ended: the final summary came after every one of them.
	after := 0
	for _, en := range entries {
		if en.Attempt < launch.RelaunchAttemptBase {
			continue
		}
		if en.LaunchedAt.After(chunksEnded) {
			after++
		}
		if en.LaunchedAt.After(e.Summary.CompletedAt) {
			t.Errorf("relaunch %s launched at %v, after the final summary (%v)", en.ID, en.LaunchedAt, e.Summary.CompletedAt)
		}
	}
	if after == 0 {
		t.Errorf("no relaunch after the chunks ended (%v): the test did not test the wait", chunksEnded)
	}
	if n := w.statesEntered(arn, "WaitForRelaunches"); n < 1 {
		t.Errorf("WaitForRelaunches entered %d times, want the summary to have waited", n)
	}
	t.Logf("%d tasks failed to start and were relaunched once each; ledger %+v; summary %+v", len(failed), c, e.Summary)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// statesEntered counts how often an execution entered the state name.
func (w *world) statesEntered(arn, name string) int {
	w.t.Helper()
	n := 0
	p := sfn.NewGetExecutionHistoryPaginator(w.sfn, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	for p.HasMorePages() {
		out, err := p.NextPage(w.t.Context())
		if err != nil {
			w.t.Fatalf("GetExecutionHistory: %v", err)
		}
		for _, ev := range out.Events {
			if d := ev.StateEnteredEventDetails; d != nil && aws.ToString(d.Name) == name {
				n++
			}
		}
	}
	return n
}

// TestServiceThrottleStormLowersRate makes the account's co-tenant ECS
// services throttle (their load balancer registrations are starved), which
// ECS reports as "ECS Service Action" ECS_OPERATION_THROTTLED events on the
// default bus. retry (event mode) must lower the shared ECS launch buckets'
// rate in the limiter's DynamoDB item.
func TestServiceThrottleStormLowersRate(t *testing.T) {
	w := newWorld(t, setup{sim: sim.Config{
		Cotenants: sim.Cotenants{Services: 4, IntervalSeconds: 2, RetrySeconds: 2},
		Buckets:   map[string]sim.Bucket{sim.BucketHiddenLoadBalancer: {Burst: 1, Rate: 0.001}},
	}})
	store := limiter.NewDynamoStore(dynamodb.NewFromConfig(w.aws), w.cfg.Table)
	lim, err := wire.NewLimiter(store, w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := lim.Key(handler.ServiceECS)
	configured, err := lim.Limit(limiter.ECSRunTask)
	if err != nil {
		t.Fatal(err)
	}
	var item limiter.Item
	eventually(t, 30*time.Second, "the ECS_OPERATION_THROTTLED events to lower ecs:RunTask", func() bool {
		item, err = store.Load(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		r := item[limiter.ECSRunTask].Rate
		return r > 0 && r < float64(configured.Rate)
	})
	// End the storm: the co-tenants' retries would keep the stack busy.
	if err := w.stack.Sim.SetCotenants(sim.Cotenants{}); err != nil {
		t.Fatal(err)
	}
	st := w.stats()
	if st.ServiceActions["ECS_OPERATION_THROTTLED"] == 0 {
		t.Errorf("no ECS_OPERATION_THROTTLED events were emitted (%v): the rate fell for another reason", st.ServiceActions)
	}
	if st.Calls["ecs:RunTask"] != 0 {
		t.Errorf("the product called RunTask %d times: the decrease could come from a synchronous throttle", st.Calls["ecs:RunTask"])
	}
	for _, b := range []string{limiter.ECSRunTask, limiter.ECSFargateRunTask, limiter.ECSFargateTasks} {
		l, _ := lim.Limit(b)
		t.Logf("%s: configured %.1f/s, now %.2f/s after %d throttle events", b, float64(l.Rate), item[b].Rate, st.ServiceActions["ECS_OPERATION_THROTTLED"])
	}
}
