package sim_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// outcome names what the client saw.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case code(err) != "" && !strings.HasPrefix(code(err), "non-API"):
		return code(err)
	case strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF"):
		return "reset"
	}
	return "other: " + err.Error()
}

// faultRun makes 100 sequential RunTask calls and returns what the client
// saw, the fault trace and the task ARNs launched.
func faultRun(t *testing.T, seed uint64) (outcomes []string, trace []sim.FaultRecord, launched []string) {
	t.Helper()
	e := newEnv(t, sim.Config{Seed: seed, Buckets: map[string]sim.Bucket{sim.BucketRunTask: {}},
		Faults: sim.Faults{ServerErrorRate: 0.1, ResetRate: 0.05, LostResponseRate: 0.1}})
	for i := 0; i < 100; i++ {
		_, err := e.ecs.RunTask(context.Background(), runTaskEC2(""))
		outcomes = append(outcomes, outcome(err))
	}
	for _, en := range e.sim.Ledger().Entries() {
		launched = append(launched, en.ID)
	}
	return outcomes, e.sim.FaultTrace(), launched
}

func TestSameSeedSameFaults(t *testing.T) {
	t.Parallel()
	o1, tr1, l1 := faultRun(t, 42)
	o2, tr2, l2 := faultRun(t, 42)
	o3, _, _ := faultRun(t, 43)
	if !slices.Equal(o1, o2) || !slices.Equal(tr1, tr2) || !slices.Equal(l1, l2) {
		t.Fatal("seed 42 twice: outcomes, fault traces or task ARNs differ")
	}
	if slices.Equal(o1, o3) {
		t.Fatal("seeds 42 and 43 gave the same outcomes")
	}
	kinds := map[string]int{}
	for _, o := range o1 {
		kinds[o]++
	}
	// Lost responses are resets the client cannot tell from the others.
	if kinds["ServerException"] < 3 || kinds["reset"] < 6 || kinds["ok"] < 55 || len(kinds) != 3 {
		t.Fatalf("outcomes of 100 calls: got %v, want about 10 ServerException, 15 resets, 75 ok", kinds)
	}
	if len(l1) != kinds["ok"]+countKind(tr1, "lostResponse") {
		t.Fatalf("launched %d, want %d ok + %d lost responses", len(l1), kinds["ok"], countKind(tr1, "lostResponse"))
	}
}

func countKind(tr []sim.FaultRecord, kind string) int {
	n := 0
	for _, r := range tr {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

// TestLostResponse: the task is launched and in the ledger, the client gets
// an error (a reset or a 500), and a retry with the same client token shows
// it the task without launching another.
func TestLostResponse(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{sim.LostAsReset, sim.LostAsServerError, sim.LostAsTimeout} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sim.Config{Faults: sim.Faults{LostResponseRate: 1, LostMode: mode}})
			in := runTaskEC2("th/0123456789ab/0/0")
			in.ClientToken = aws.String("tok-0")
			_, err := e.ecs.RunTask(context.Background(), in)
			want := map[string]string{sim.LostAsReset: "reset", sim.LostAsServerError: "ServerException", sim.LostAsTimeout: "reset"}[mode]
			if got := outcome(err); got != want {
				t.Fatalf("client saw %q (%v), want %q", got, err, want)
			}
			entries := e.sim.Ledger().Entries()
			if len(entries) != 1 || !entries[0].LostResponse || entries[0].Acknowledged {
				t.Fatalf("ledger: got %+v, want one task with a lost, unacknowledged response", entries)
			}
			if c := sim.Count(entries, nil); c.Unacknowledged != 1 {
				t.Fatalf("counts: got %+v", c)
			}
			if err := e.sim.SetFaults(sim.Faults{}); err != nil {
				t.Fatal(err)
			}
			out, err := e.ecs.RunTask(context.Background(), in)
			if err != nil || *out.Tasks[0].TaskArn != entries[0].ID {
				t.Fatalf("replay: got %v %v, want the lost task", out, err)
			}
			if c := sim.Count(e.sim.Ledger().Entries(), nil); c.Launched != 1 || c.Unacknowledged != 0 || c.LostResponses != 1 {
				t.Fatalf("after the replay: got %+v, want 1 launched, acknowledged", c)
			}
		})
	}
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Faults: sim.Faults{ServerErrorRate: 1}})
	ctx := context.Background()
	_, ecsErr := e.ecs.RunTask(ctx, runTaskEC2(""))
	var se *ecstypes.ServerException
	if !errors.As(ecsErr, &se) {
		t.Fatalf("ECS: got %v, want *types.ServerException", ecsErr)
	}
	_, ec2Err := e.ec2.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ImageId: aws.String("ami-1")})
	var re *awshttp.ResponseError
	if code(ec2Err) != "InternalError" || !errors.As(ec2Err, &re) || re.HTTPStatusCode() != 500 {
		t.Fatalf("EC2: got %v, want HTTP 500 InternalError", ec2Err)
	}
	if n := len(e.sim.Ledger().Entries()); n != 0 {
		t.Fatalf("a 5xx fault launched %d", n)
	}
}

// TestThrottleStorm: during a storm the RunTask bucket (here 20 burst, 10
// per s) refills at a tenth of its rate; afterwards at its rate again.
func TestThrottleStorm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Buckets: map[string]sim.Bucket{sim.BucketRunTask: {Burst: 20, Rate: 10}}})
	ctx := context.Background()
	drain := func() int {
		n := 0
		for {
			if _, err := e.ecs.RunTask(ctx, runTaskEC2("")); err != nil {
				if !isThrottle(err) {
					t.Fatal(err)
				}
				return n
			}
			n++
		}
	}
	if n := drain(); n != 20 {
		t.Fatalf("burst: got %d", n)
	}
	if err := e.sim.Storm([]string{sim.BucketRunTask}, 0.1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	e.step(t, 5*time.Second)
	if n := drain(); n != 5 {
		t.Fatalf("5 s into the storm: got %d admitted, want 5 s × 1/s", n)
	}
	e.step(t, 6*time.Second) // the storm ended at 10 s: 5 s at 1/s, then 1 s at 10/s
	if n := drain(); n != 15 {
		t.Fatalf("after the storm: got %d admitted, want 5 + 10", n)
	}
	e.step(t, time.Second)
	if n := drain(); n != 10 {
		t.Fatalf("a second after: got %d, want 10", n)
	}
	if err := e.sim.Storm([]string{"nope"}, 0.1, time.Second); err == nil {
		t.Fatal("a storm on an unknown bucket was accepted")
	}
}

// TestRandomStormsReproducible: random storms follow the seed.
func TestRandomStormsReproducible(t *testing.T) {
	t.Parallel()
	storms := func(seed uint64) int64 {
		e := newEnv(t, sim.Config{Seed: seed, Faults: sim.Faults{StormsPerHour: 30, StormSeconds: 30}})
		e.settle(t, 10*time.Hour)
		return e.sim.Stats().Storms
	}
	a, b := storms(5), storms(5)
	if a != b || a < 240 || a > 360 {
		t.Fatalf("storms in 10 h at 30/h: got %d and %d with one seed, want equal and ≈ 300", a, b)
	}
}

// TestLatency: on a scaled clock, a 1 s (simulated) latency at ×20 delays a
// call by 50 ms of real time.
func TestLatency(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, clock.NewScaled(t0, 20), sim.Config{Faults: sim.Faults{LatencyRate: 1, LatencySeconds: 1}})
	start := time.Now()
	if _, err := e.ecs.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("call took %v, want ≥ 50 ms", d)
	}
	if e.sim.Stats().Faults["latency"] != 1 {
		t.Fatalf("latency faults: got %v", e.sim.Stats().Faults)
	}
}

// TestLostRunInstances: the same for EC2: the instance exists, the client
// saw a reset, and the token's replay returns it.
func TestLostRunInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sim.Config{Faults: sim.Faults{LostResponseRate: 1}})
	in := &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ImageId: aws.String("ami-1"), ClientToken: aws.String("tok-1")}
	if _, err := e.ec2.RunInstances(context.Background(), in); outcome(err) != "reset" {
		t.Fatalf("got %v, want a reset", err)
	}
	if err := e.sim.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	out, err := e.ec2.RunInstances(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	entries := e.sim.Ledger().Entries()
	if len(entries) != 1 || entries[0].ID != *out.Instances[0].InstanceId || !entries[0].LostResponse || !entries[0].Acknowledged {
		t.Fatalf("ledger: got %+v, want the one instance, lost then acknowledged", entries)
	}
}
