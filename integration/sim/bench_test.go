package sim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// BenchmarkHandlers measures the simulator's own cost per call, without the
// network or the SDK: requests as the SDK sends them, straight into the
// handlers, all buckets off.
//
//	go test -run '^$' -bench Handlers -benchmem ./integration/sim/
func BenchmarkHandlers(b *testing.B) {
	unlimited := map[string]sim.Bucket{}
	for name := range sim.DefaultBuckets() {
		unlimited[name] = sim.Bucket{}
	}
	for _, bc := range []struct {
		name, target, body string
	}{
		{"RunTask1", "RunTask", `{"cluster":"jobs","count":1,"launchType":"FARGATE","networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-a"]}},"startedBy":"th/0123456789ab/1/0","taskDefinition":"job:3"}`},
		{"RunTask10", "RunTask", `{"cluster":"jobs","count":10,"launchType":"FARGATE","networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-a"]}},"startedBy":"th/0123456789ab/1/0","taskDefinition":"job:3"}`},
		{"ListTasks", "ListTasks", `{"cluster":"jobs","maxResults":10}`},
		{"RunInstances", "", "Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1&InstanceType=c7g.large&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=th%3AstartedBy&TagSpecification.1.Tag.1.Value=th%2Fa%2F0%2F0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := sim.New(clock.NewFake(t0), sim.Config{Buckets: unlimited, Capacity: sim.Capacity{ProvisioningPerCluster: -1}})
			if err != nil {
				b.Fatal(err)
			}
			h := s.EC2Handler()
			if bc.target != "" {
				h = s.ECSHandler()
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(bc.body))
				if bc.target != "" {
					r.Header.Set("X-Amz-Target", sim.ECSTargetPrefix+bc.target)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			// CPU time per call: meaningful on a machine shared with other
			// work, where ns/op is wall time.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
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
