package awslocal_test

import (
	"context"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// unlimited disables every bucket so the benchmark measures the simulator,
// not the throttles.
func unlimited() map[string]sim.Bucket {
	m := map[string]sim.Bucket{}
	for name := range sim.DefaultBuckets() {
		m[name] = sim.Bucket{}
	}
	return m
}

// BenchmarkSDKCalls measures API calls per second through the real SDK
// clients over HTTP against one stack, on all cores (RunParallel with 16
// goroutines per core). Sub-benchmarks: "launch-mix" is what a launch
// produces, RunTask (count 10, so 10 tasks and their lifecycle events),
// DescribeTasks and RunInstances in turn; "runtask-1" is RunTask with
// count 1 only. Reports calls/s (wall) and cpu-µs/call (process CPU time,
// clients and server: 2 cores / this is the rate on an idle machine).
//
//	go test -run '^$' -bench SDKCalls -benchtime 5s ./integration/awslocal/
//
// With AWSLOCAL_BENCH_ENDPOINT set it drives that endpoint instead (a
// separate awslocal process, so its CPU can be measured apart from the
// clients').
func BenchmarkSDKCalls(b *testing.B) {
	for _, mix := range []struct {
		name  string
		kinds int // calls cycle through the first kinds of: RunTask, DescribeTasks, RunInstances
		count int32
	}{{"launch-mix", 3, 10}, {"runtask-1", 1, 1}} {
		b.Run(mix.name, func(b *testing.B) {
			endpoint := os.Getenv("AWSLOCAL_BENCH_ENDPOINT")
			if endpoint == "" {
				endpoint = start(b, awslocal.Options{TimeScale: 10, Sim: sim.Config{Buckets: unlimited()}, Services: simOnly}).Endpoint
			}
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			ecsC := ecs.New(ecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: hc,
				Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
			ec2C := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: hc,
				Credentials: staticCreds{}, Retryer: aws.NopRetryer{}})
			ctx := context.Background()
			b.SetParallelism(16)
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				var last string
				for pb.Next() {
					var err error
					switch i % mix.kinds {
					case 0:
						var out *ecs.RunTaskOutput
						out, err = ecsC.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("job"), Count: aws.Int32(mix.count), StartedBy: aws.String("th/bench/0/0")})
						if err == nil {
							last = *out.Tasks[0].TaskArn
						}
					case 1:
						_, err = ecsC.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{last}})
					case 2:
						_, err = ec2C.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
					}
					if err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// staticCreds signs EC2 requests (the edge recognises EC2's Query protocol
// by its signing scope).
type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "bench"}, nil
}
