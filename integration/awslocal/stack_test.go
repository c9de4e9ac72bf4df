package awslocal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// simOnly starts the stack without the other services: these tests are
// about the ECS/EC2 simulator and the stack's own plumbing.
var simOnly = awslocal.ServicesOptions{Disabled: true}

func start(t testing.TB, o awslocal.Options) *awslocal.Stack {
	t.Helper()
	st, err := awslocal.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestClientsFromEnv: the unmodified SDK, configured only by Stack.Env
// (AWS_ENDPOINT_URL_*, region, static credentials), reaches the simulator,
// and the admin endpoints show what it launched.
func TestClientsFromEnv(t *testing.T) {
	st := start(t, awslocal.Options{Clock: clock.NewFake(t0), StepInterval: -1})
	ctx := context.Background()
	cfg := envConfig(t, st.Env())
	if _, err := ecs.NewFromConfig(cfg).RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("job:1"), Count: aws.Int32(2),
		StartedBy: aws.String("th/0123456789ab/0/0")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec2.NewFromConfig(cfg).RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{
			{Key: aws.String(sim.TagStartedBy), Value: aws.String("th/0123456789ab/1/0")},
			{Key: aws.String(sim.TagRequestID), Value: aws.String("nightly")}}}}}); err != nil {
		t.Fatal(err)
	}
	var all, byReq struct {
		Counts  sim.Counts
		Entries []sim.LedgerEntry
	}
	getJSON(t, st.Endpoint+"/_awslocal/ledger?chunkSize=1", &all)
	if all.Counts.Launched != 3 || all.Counts.Duplicates != 1 {
		t.Fatalf("ledger: got %+v, want 3 launched, 1 duplicate at chunk size 1", all.Counts)
	}
	getJSON(t, st.Endpoint+"/_awslocal/ledger?requestId=nightly", &byReq)
	if len(byReq.Entries) != 1 || byReq.Entries[0].Kind != sim.KindInstance || byReq.Entries[0].Chunk != 1 {
		t.Fatalf("ledger?requestId=nightly: got %+v", byReq.Entries)
	}
	var countsOnly struct {
		Counts  sim.Counts
		Entries []sim.LedgerEntry
	}
	getJSON(t, st.Endpoint+"/_awslocal/ledger?entries=false", &countsOnly)
	if countsOnly.Counts.Launched != 3 || len(countsOnly.Entries) != 0 {
		t.Fatalf("ledger?entries=false: got %+v", countsOnly)
	}
	var stats sim.Stats
	getJSON(t, st.Endpoint+"/_awslocal/stats", &stats)
	if stats.Calls["ecs:RunTask"] != 1 || stats.Calls["ec2:RunInstances"] != 1 || stats.TasksLaunched != 2 {
		t.Fatalf("stats: got calls %v, tasks %d", stats.Calls, stats.TasksLaunched)
	}
}

// TestScaledClockRefills: on a clock 100× faster than real time, the
// RunTask bucket refills 40 tokens per simulated second, so an emptied
// bucket admits again after a few real milliseconds, and the stack's
// background schedule moves tasks to RUNNING without any call.
func TestScaledClockRefills(t *testing.T) {
	t.Parallel()
	st := start(t, awslocal.Options{TimeScale: 100, Services: simOnly, Sim: sim.Config{Buckets: map[string]sim.Bucket{sim.BucketRunTask: {Burst: 1, Rate: 40}}}})
	c := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.Endpoint), Retryer: aws.NopRetryer{},
		Credentials: aws.AnonymousCredentials{}})
	ctx := context.Background()
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("job")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{*out.Tasks[0].TaskArn}})
		if err == nil && *d.Tasks[0].LastStatus == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not RUNNING after 5 s real (500 s simulated): %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("job")}); err != nil {
		t.Fatalf("bucket did not refill on the scaled clock: %v", err)
	}
}

// TestCloseWakesHeldResponses: Close returns promptly even while a
// lost-response fault holds a call open (timeout mode, one hour held).
func TestCloseWakesHeldResponses(t *testing.T) {
	t.Parallel()
	st, err := awslocal.Start(context.Background(), awslocal.Options{Services: simOnly, Sim: sim.Config{
		Faults: sim.Faults{LostResponseRate: 1, LostMode: sim.LostAsTimeout, LostHoldSeconds: 3600}}})
	if err != nil {
		t.Fatal(err)
	}
	c := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.Endpoint), Retryer: aws.NopRetryer{},
		Credentials: aws.AnonymousCredentials{}})
	done := make(chan error, 1)
	go func() {
		_, err := c.RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String("job")})
		done <- err
	}()
	for len(st.Sim.Ledger().Entries()) == 0 { // the task is launched; its answer is held
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-done; err == nil {
		t.Fatal("the held call succeeded")
	}
}
