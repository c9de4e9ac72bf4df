package awslocal_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/throttle-handler/throttle-handler/integration/awslocal"
	"github.com/throttle-handler/throttle-handler/integration/sim"
)

func TestFlagsToOptions(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "sim.json")
	if err := os.WriteFile(file, []byte(`{"strict": true, "resources": {"clusters": ["jobs"]},
		"buckets": {"ecs:FargateTasks": {"burst": 50, "rate": 10}}, "cotenantShare": 0.25}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args  []string
		check func(t *testing.T, o awslocal.Options)
	}{
		"defaults are AWS's": {nil, func(t *testing.T, o awslocal.Options) {
			if got := o.Sim.Buckets[sim.BucketRunTask]; got != (sim.Bucket{Burst: 100, Rate: 40}) {
				t.Errorf("RunTask bucket: got %+v", got)
			}
			if got := o.Sim.Buckets[sim.BucketInstances]; got != (sim.Bucket{Burst: 1000, Rate: 2}) {
				t.Errorf("instances bucket: got %+v", got)
			}
			if o.TimeScale != 1 || o.Addr != "127.0.0.1:4566" {
				t.Errorf("got scale %v addr %s", o.TimeScale, o.Addr)
			}
		}},
		"bucket flags": {[]string{"--runtask-burst", "10", "--fargate-rate", "5", "--runinstances-rate", "0.5", "--time-scale", "20"}, func(t *testing.T, o awslocal.Options) {
			if got := o.Sim.Buckets[sim.BucketRunTask]; got != (sim.Bucket{Burst: 10, Rate: 40}) {
				t.Errorf("RunTask: got %+v", got)
			}
			if got := o.Sim.Buckets[sim.BucketFargateTasks]; got != (sim.Bucket{Burst: 100, Rate: 5}) {
				t.Errorf("Fargate tasks: got %+v", got)
			}
			if got := o.Sim.Buckets[sim.BucketRunInstances]; got != (sim.Bucket{Burst: 5, Rate: 0.5}) {
				t.Errorf("RunInstances: got %+v", got)
			}
			if o.TimeScale != 20 {
				t.Errorf("time scale: got %v", o.TimeScale)
			}
		}},
		"config file, flags win": {[]string{"--config", file, "--fargate-burst", "70", "--cotenant-share", "0.5", "--seed", "9"}, func(t *testing.T, o awslocal.Options) {
			if !o.Sim.Strict || len(o.Sim.Resources.Clusters) != 1 {
				t.Errorf("file not applied: %+v", o.Sim)
			}
			if got := o.Sim.Buckets[sim.BucketFargateTasks]; got != (sim.Bucket{Burst: 70, Rate: 10}) {
				t.Errorf("Fargate tasks: got %+v, want the file's rate and the flag's burst", got)
			}
			if o.Sim.CotenantShare != 0.5 || o.Sim.Seed != 9 {
				t.Errorf("flags over file: got share %v seed %d", o.Sim.CotenantShare, o.Sim.Seed)
			}
		}},
		"task runs off by default": {nil, func(t *testing.T, o awslocal.Options) {
			if r := o.Sim.Runs; r.MeanSeconds != 0 || r.FailureRate != 0 || r.SpotInterruptionRate != 0 || r.SpotInterruptionSeconds != 60 {
				t.Errorf("runs %+v", r)
			}
		}},
		"task runs": {[]string{"--config", file, "--task-run-seconds", "30", "--task-failure-rate", "0.2", "--spot-interruption-rate", "0.1", "--spot-interruption-seconds", "90"}, func(t *testing.T, o awslocal.Options) {
			if r := o.Sim.Runs; r != (sim.Runs{MeanSeconds: 30, FailureRate: 0.2, SpotInterruptionRate: 0.1, SpotInterruptionSeconds: 90}) {
				t.Errorf("runs %+v", r)
			}
		}},
		"fidelity on by default": {nil, func(t *testing.T, o awslocal.Options) {
			c := o.Sim
			if !c.Strict || c.Lenient || c.Capacity.FargateVCPULimit != sim.DefaultFargateVCPULimit || c.Capacity.FargateSpotVCPULimit != sim.DefaultFargateVCPULimit {
				t.Errorf("strict %v lenient %v vCPU %d/%d", c.Strict, c.Lenient, c.Capacity.FargateVCPULimit, c.Capacity.FargateSpotVCPULimit)
			}
			if c.Tokens != (sim.Tokens{LifetimeSeconds: 86400, AfterStopSeconds: 3600}) || c.Listing != (sim.Listing{NewTaskDelaySeconds: 1, StoppedVisibleSeconds: 3600}) {
				t.Errorf("tokens %+v listing %+v", c.Tokens, c.Listing)
			}
			if c.Cotenants.ChargeRunTaskAPI {
				t.Errorf("co-tenants charged to the RunTask API buckets by default")
			}
		}},
		"fidelity off": {[]string{"--strict=false", "--fargate-vcpu-limit", "0", "--fargate-spot-vcpu-limit", "0", "--token-lifetime", "1m",
			"--token-after-stop", "0", "--failures-bind-token=false", "--list-new-task-delay", "0", "--list-stopped-window", "0",
			"--cotenant-services-runtask"}, func(t *testing.T, o awslocal.Options) {
			c := o.Sim
			if c.Strict || !c.Lenient || c.Capacity.FargateVCPULimit != -1 || c.Capacity.FargateSpotVCPULimit != -1 {
				t.Errorf("strict %v lenient %v vCPU %d/%d", c.Strict, c.Lenient, c.Capacity.FargateVCPULimit, c.Capacity.FargateSpotVCPULimit)
			}
			if c.Tokens != (sim.Tokens{LifetimeSeconds: 60, AfterStopSeconds: -1, FailuresDoNotBind: true}) || c.Listing != (sim.Listing{NewTaskDelaySeconds: -1, StoppedVisibleSeconds: -1}) {
				t.Errorf("tokens %+v listing %+v", c.Tokens, c.Listing)
			}
			if !c.Cotenants.ChargeRunTaskAPI {
				t.Errorf("--cotenant-services-runtask not applied")
			}
		}},
		"config file, fidelity flags win": {[]string{"--config", file, "--strict=false", "--fargate-vcpu-limit", "8"}, func(t *testing.T, o awslocal.Options) {
			if !o.Sim.Lenient || o.Sim.Capacity.FargateVCPULimit != 8 || len(o.Sim.Resources.Clusters) != 1 {
				t.Errorf("got lenient %v vCPU %d clusters %v", o.Sim.Lenient, o.Sim.Capacity.FargateVCPULimit, o.Sim.Resources.Clusters)
			}
		}},
		"simulator only": {[]string{"--no-services"}, func(t *testing.T, o awslocal.Options) {
			if !o.Services.Disabled {
				t.Errorf("--no-services: Services.Disabled is false")
			}
		}},
		"faults": {[]string{"--fault-lost-rate", "0.1", "--fault-lost-mode", "error", "--storms-per-hour", "2"}, func(t *testing.T, o awslocal.Options) {
			f := o.Sim.Faults
			if f.LostResponseRate != 0.1 || f.LostMode != sim.LostAsServerError || f.StormsPerHour != 2 {
				t.Errorf("faults: got %+v", f)
			}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("awslocal", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := awslocal.BindFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			o, err := f.Options(fs)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}
