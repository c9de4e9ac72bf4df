package awslocal

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	lambdasvc "github.com/throttle-handler/throttle-handler/integration/services/lambda"
	"github.com/throttle-handler/throttle-handler/integration/sim"
)

// BucketFlags names the command-line flag prefix of every bucket:
// --<prefix>-burst and --<prefix>-rate.
var BucketFlags = []struct{ Prefix, Bucket, Help string }{
	{"runtask", sim.BucketRunTask, "ECS RunTask/StartTask/StopTask calls"},
	{"fargate-call", sim.BucketFargateRunTask, "Fargate RunTask calls"},
	{"fargate", sim.BucketFargateTasks, "Fargate On-Demand tasks launched"},
	{"fargate-spot", sim.BucketFargateSpotTasks, "Fargate Spot tasks launched"},
	{"describetasks", sim.BucketDescribeTasks, "ECS DescribeTasks/ListTasks calls"},
	{"cluster-read", sim.BucketClusterRead, "ECS DescribeClusters calls"},
	{"taskdef-read", sim.BucketTaskDefinitionRead, "ECS DescribeTaskDefinition calls"},
	{"runinstances", sim.BucketRunInstances, "EC2 RunInstances calls"},
	{"instances", sim.BucketInstances, "EC2 instances launched (resource bucket)"},
	{"terminate", sim.BucketTerminateInstances, "EC2 TerminateInstances calls"},
	{"terminated-instances", sim.BucketTerminatedInstances, "EC2 instances terminated (resource bucket)"},
	{"createtags", sim.BucketCreateTags, "EC2 CreateTags calls"},
	{"ec2-nonmutating", sim.BucketNonMutating, "EC2 filtered or paginated Describe* calls"},
	{"ec2-describe-unfiltered", sim.BucketDescribeUnfiltered, "EC2 unfiltered, unpaginated DescribeInstances calls"},
	{"ec2-mutating", sim.BucketMutating, "other EC2 mutating calls"},
	{"eni", sim.BucketHiddenENI, "hidden: ENI attachments for awsvpc tasks"},
	{"subnet-lookup", sim.BucketHiddenSubnetLookup, "hidden: RunTask's subnet lookups"},
	{"lb", sim.BucketHiddenLoadBalancer, "hidden: load balancer registrations (co-tenant services)"},
	{"cloudmap", sim.BucketHiddenServiceDiscov, "hidden: Cloud Map registrations (co-tenant services)"},
}

// BindBucketFlags defines --<prefix>-burst and --<prefix>-rate for every
// bucket of BucketFlags on fs, defaulting to AWS's published values
// (sim.DefaultBuckets), and returns the values by bucket name. The demo
// (integration/demo) binds the same flags.
func BindBucketFlags(fs *flag.FlagSet) (burst, rate map[string]*float64) {
	burst, rate = map[string]*float64{}, map[string]*float64{}
	def := sim.DefaultBuckets()
	for _, b := range BucketFlags {
		burst[b.Bucket] = fs.Float64(b.Prefix+"-burst", def[b.Bucket].Burst, "burst of "+b.Help)
		rate[b.Bucket] = fs.Float64(b.Prefix+"-rate", def[b.Bucket].Rate, "refill per simulated second of "+b.Help)
	}
	return burst, rate
}

// Flags holds the awslocal command's flags; Options turns them into Options.
type Flags struct {
	addr        string
	timeScale   float64
	configFile  string
	stepMs      int
	noServices  bool
	cfg         sim.Config
	burst, rate map[string]*float64
	fid         fidelityFlags

	// doctor: the account throttlectl doctor checks (account.go).
	lambdaConcurrency int
	iamRoles          string
}

// fidelityFlags are the simulator behaviours whose flag reads "on" or "0 is
// off" where sim.Config's zero value means the default; fidelity maps them.
type fidelityFlags struct {
	strict, failuresBind                 bool
	fargateVCPU, fargateSpotVCPU         int
	tokenLifetime, tokenAfterStop        time.Duration
	listNewTaskDelay, listStoppedVisible time.Duration
}

// off maps a flag's 0 ("off" or "unlimited") to sim.Config's negative.
func off(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// fidelity writes the fidelity flags into c.
func (f *Flags) fidelity(c *sim.Config) {
	d := f.fid
	c.Lenient = !d.strict
	c.Strict = d.strict
	c.Capacity.FargateVCPULimit = int(off(float64(d.fargateVCPU)))
	c.Capacity.FargateSpotVCPULimit = int(off(float64(d.fargateSpotVCPU)))
	c.Tokens.LifetimeSeconds = d.tokenLifetime.Seconds()
	c.Tokens.AfterStopSeconds = off(d.tokenAfterStop.Seconds())
	c.Tokens.FailuresDoNotBind = !d.failuresBind
	c.Listing.NewTaskDelaySeconds = off(d.listNewTaskDelay.Seconds())
	c.Listing.StoppedVisibleSeconds = off(d.listStoppedVisible.Seconds())
}

// BindFlags defines every flag on fs. Bucket defaults are AWS's published
// ones; a --config JSON file (a sim.Config) is applied first, flags set on
// the command line override it.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.addr, "addr", "127.0.0.1:4566", "listen address")
	fs.Float64Var(&f.timeScale, "time-scale", 1, "simulated seconds per real second")
	fs.StringVar(&f.configFile, "config", "", "JSON file holding a sim.Config (resources, capacity, …)")
	fs.IntVar(&f.stepMs, "step-ms", 5, "real milliseconds between runs of the simulator's schedule")
	fs.BoolVar(&f.noServices, "no-services", false, "serve only the ECS/EC2 simulator (no Lambda, Step Functions, EventBridge, SQS, DynamoDB)")
	c := &f.cfg
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of IDs, faults, storms and co-tenants")
	fs.StringVar(&c.Region, "region", "us-east-1", "region")
	fs.StringVar(&c.Account, "account", "000000000000", "account ID")
	fs.BoolVar(&f.fid.strict, "strict", true, "reject clusters, task definitions, subnets, launch templates and instance types not in --config's resources (or sim.DefaultResources)")
	f.burst, f.rate = BindBucketFlags(fs)
	fs.IntVar(&c.Capacity.VCPULimit, "vcpu-limit", 0, "On-Demand vCPU quota (0: unlimited)")
	fs.IntVar(&c.Capacity.SpotInstanceLimit, "spot-limit", 0, "spot instance limit (0: unlimited)")
	fs.IntVar(&c.Capacity.ProvisioningPerCluster, "provisioning-quota", 500, "ECS tasks in PROVISIONING per cluster (-1: unlimited)")
	bindFidelityFlags(fs, &f.fid)
	bindAccountFlags(fs, f)
	l := &c.Lifecycle
	fs.Float64Var(&l.ProvisioningSeconds, "provisioning-seconds", 5, "PROVISIONING → PENDING (awsvpc tasks)")
	fs.Float64Var(&l.PendingSeconds, "pending-seconds", 10, "PENDING → RUNNING")
	fs.Float64Var(&l.RunSeconds, "run-seconds", 0, "RUNNING → STOPPED (0: until stopped)")
	fs.Float64Var(&l.StoppingSeconds, "stopping-seconds", 5, "StopTask → STOPPED")
	fs.Float64Var(&l.ENITimeoutSeconds, "eni-timeout-seconds", 30, "a task without an ENI after this long stops with TaskFailedToStart")
	bindRunFlags(fs, &c.Runs)
	fs.Float64Var(&c.CotenantShare, "cotenant-share", 0, "share of every bucket taken by traffic the product does not control, in [0, 1)")
	fs.IntVar(&c.Cotenants.Services, "cotenant-services", 0, "co-tenant ECS services receiving ECS Service Action throttle events")
	fs.Float64Var(&c.Cotenants.IntervalSeconds, "cotenant-interval-seconds", 30, "mean seconds between a co-tenant service's deployments")
	fs.IntVar(&c.Cotenants.TasksPerDeployment, "cotenant-tasks", 5, "tasks per co-tenant deployment")
	fs.BoolVar(&c.Cotenants.ChargeRunTaskAPI, "cotenant-services-runtask", false, "co-tenant deployments also draw from the RunTask API request buckets")
	fl := &c.Faults
	fs.Float64Var(&fl.ServerErrorRate, "fault-server-error-rate", 0, "share of calls answered 500 ServerException / InternalError")
	fs.Float64Var(&fl.ResetRate, "fault-reset-rate", 0, "share of calls whose connection is reset")
	fs.Float64Var(&fl.LostResponseRate, "fault-lost-rate", 0, "share of RunTask/RunInstances calls that launch but lose their response")
	fs.StringVar(&fl.LostMode, "fault-lost-mode", sim.LostAsReset, "how a response is lost: reset, error or timeout")
	fs.Float64Var(&fl.LatencyRate, "fault-latency-rate", 0, "share of calls delayed by --fault-latency-seconds")
	fs.Float64Var(&fl.LatencySeconds, "fault-latency-seconds", 1, "added latency (simulated seconds)")
	fs.Float64Var(&fl.StormsPerHour, "storms-per-hour", 0, "throttle storms per simulated hour")
	fs.Float64Var(&fl.StormSeconds, "storm-seconds", 60, "length of a throttle storm")
	fs.Float64Var(&fl.StormFraction, "storm-fraction", 0.1, "refill rate during a storm, as a fraction of the normal rate")
	return f
}

// bindFidelityFlags defines the quota, token and listing flags, on by
// default as in the simulator.
func bindFidelityFlags(fs *flag.FlagSet, d *fidelityFlags) {
	fs.IntVar(&d.fargateVCPU, "fargate-vcpu-limit", sim.DefaultFargateVCPULimit, "Fargate On-Demand vCPU quota (0: unlimited)")
	fs.IntVar(&d.fargateSpotVCPU, "fargate-spot-vcpu-limit", sim.DefaultFargateVCPULimit, "Fargate Spot vCPU quota (0: unlimited)")
	fs.DurationVar(&d.tokenLifetime, "token-lifetime", 24*time.Hour, "lifetime of RunTask and RunInstances client tokens (simulated)")
	fs.DurationVar(&d.tokenAfterStop, "token-after-stop", time.Hour, "a RunTask token also expires this long after its last task stops (0: no such bound)")
	fs.BoolVar(&d.failuresBind, "failures-bind-token", true, "a RunTask answer with only failures[] binds its client token")
	fs.DurationVar(&d.listNewTaskDelay, "list-new-task-delay", time.Second, "new tasks are missing from ListTasks for a seeded delay up to this (0: none)")
	fs.DurationVar(&d.listStoppedVisible, "list-stopped-window", time.Hour, "stopped tasks stay in ListTasks this long (0: forever)")
}

// bindRunFlags defines the flags of tasks that end on their own (sim.Runs);
// each 0 turns its behaviour off.
func bindRunFlags(fs *flag.FlagSet, r *sim.Runs) {
	fs.Float64Var(&r.MeanSeconds, "task-run-seconds", 0, "mean run time of a started task, drawn uniformly from ±50 % (0: --run-seconds, a fixed time or until stopped)")
	fs.Float64Var(&r.FailureRate, "task-failure-rate", 0, "share of tasks whose essential container exits 1, in [0, 1]")
	fs.Float64Var(&r.SpotInterruptionRate, "spot-interruption-rate", 0, "share of Fargate Spot tasks interrupted (two-minute warning, then SpotInterruption), in [0, 1]")
	fs.Float64Var(&r.SpotInterruptionSeconds, "spot-interruption-seconds", 60, "mean time from RUNNING to a Spot interruption's warning, drawn uniformly from ±50 %")
}

// Options returns the Options the flags describe; fs is the parsed flag set,
// whose explicitly set flags override a --config file.
func (f *Flags) Options(fs *flag.FlagSet) (Options, error) {
	flagCfg := f.cfg
	f.fidelity(&flagCfg)
	cfg := flagCfg
	if f.configFile != "" {
		b, err := os.ReadFile(f.configFile)
		if err != nil {
			return Options{}, fmt.Errorf("--config: %w", err)
		}
		var fileCfg sim.Config
		if err := json.Unmarshal(b, &fileCfg); err != nil {
			return Options{}, fmt.Errorf("--config %s: %w", f.configFile, err)
		}
		cfg = overlay(fileCfg, flagCfg, fs)
	}
	if cfg.Buckets == nil {
		cfg.Buckets = map[string]sim.Bucket{}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, b := range BucketFlags {
		_, inFile := cfg.Buckets[b.Bucket]
		if !inFile || set[b.Prefix+"-burst"] || set[b.Prefix+"-rate"] {
			cur := cfg.Buckets[b.Bucket]
			if !inFile || set[b.Prefix+"-burst"] {
				cur.Burst = *f.burst[b.Bucket]
			}
			if !inFile || set[b.Prefix+"-rate"] {
				cur.Rate = *f.rate[b.Bucket]
			}
			cfg.Buckets[b.Bucket] = cur
		}
	}
	step := time.Duration(f.stepMs) * time.Millisecond
	if f.stepMs <= 0 {
		return Options{}, fmt.Errorf("--step-ms must be > 0, got %d", f.stepMs)
	}
	o := Options{Addr: f.addr, TimeScale: f.timeScale, Sim: cfg, StepInterval: step}
	o.Services.Disabled = f.noServices
	if err := f.account(&o); err != nil {
		return Options{}, err
	}
	return o, nil
}

// overlay returns the config file's values with the flags set explicitly on
// the command line applied over them.
func overlay(file, flags sim.Config, fs *flag.FlagSet) sim.Config {
	out := file
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "seed":
			out.Seed = flags.Seed
		case "region":
			out.Region = flags.Region
		case "account":
			out.Account = flags.Account
		case "strict":
			out.Strict, out.Lenient = flags.Strict, flags.Lenient
		case "fargate-vcpu-limit":
			out.Capacity.FargateVCPULimit = flags.Capacity.FargateVCPULimit
		case "fargate-spot-vcpu-limit":
			out.Capacity.FargateSpotVCPULimit = flags.Capacity.FargateSpotVCPULimit
		case "token-lifetime":
			out.Tokens.LifetimeSeconds = flags.Tokens.LifetimeSeconds
		case "token-after-stop":
			out.Tokens.AfterStopSeconds = flags.Tokens.AfterStopSeconds
		case "failures-bind-token":
			out.Tokens.FailuresDoNotBind = flags.Tokens.FailuresDoNotBind
		case "list-new-task-delay":
			out.Listing.NewTaskDelaySeconds = flags.Listing.NewTaskDelaySeconds
		case "list-stopped-window":
			out.Listing.StoppedVisibleSeconds = flags.Listing.StoppedVisibleSeconds
		case "cotenant-services-runtask":
			out.Cotenants.ChargeRunTaskAPI = flags.Cotenants.ChargeRunTaskAPI
		case "vcpu-limit":
			out.Capacity.VCPULimit = flags.Capacity.VCPULimit
		case "spot-limit":
			out.Capacity.SpotInstanceLimit = flags.Capacity.SpotInstanceLimit
		case "provisioning-quota":
			out.Capacity.ProvisioningPerCluster = flags.Capacity.ProvisioningPerCluster
		case "provisioning-seconds":
			out.Lifecycle.ProvisioningSeconds = flags.Lifecycle.ProvisioningSeconds
		case "pending-seconds":
			out.Lifecycle.PendingSeconds = flags.Lifecycle.PendingSeconds
		case "run-seconds":
			out.Lifecycle.RunSeconds = flags.Lifecycle.RunSeconds
		case "stopping-seconds":
			out.Lifecycle.StoppingSeconds = flags.Lifecycle.StoppingSeconds
		case "eni-timeout-seconds":
			out.Lifecycle.ENITimeoutSeconds = flags.Lifecycle.ENITimeoutSeconds
		case "task-run-seconds":
			out.Runs.MeanSeconds = flags.Runs.MeanSeconds
		case "task-failure-rate":
			out.Runs.FailureRate = flags.Runs.FailureRate
		case "spot-interruption-rate":
			out.Runs.SpotInterruptionRate = flags.Runs.SpotInterruptionRate
		case "spot-interruption-seconds":
			out.Runs.SpotInterruptionSeconds = flags.Runs.SpotInterruptionSeconds
		case "cotenant-share":
			out.CotenantShare = flags.CotenantShare
		case "cotenant-services":
			out.Cotenants.Services = flags.Cotenants.Services
		case "cotenant-interval-seconds":
			out.Cotenants.IntervalSeconds = flags.Cotenants.IntervalSeconds
		case "cotenant-tasks":
			out.Cotenants.TasksPerDeployment = flags.Cotenants.TasksPerDeployment
		case "fault-server-error-rate":
			out.Faults.ServerErrorRate = flags.Faults.ServerErrorRate
		case "fault-reset-rate":
			out.Faults.ResetRate = flags.Faults.ResetRate
		case "fault-lost-rate":
			out.Faults.LostResponseRate = flags.Faults.LostResponseRate
		case "fault-lost-mode":
			out.Faults.LostMode = flags.Faults.LostMode
		case "fault-latency-rate":
			out.Faults.LatencyRate = flags.Faults.LatencyRate
		case "fault-latency-seconds":
			out.Faults.LatencySeconds = flags.Faults.LatencySeconds
		case "storms-per-hour":
			out.Faults.StormsPerHour = flags.Faults.StormsPerHour
		case "storm-seconds":
			out.Faults.StormSeconds = flags.Faults.StormSeconds
		case "storm-fraction":
			out.Faults.StormFraction = flags.Faults.StormFraction
		}
	})
	return out
}

// bindAccountFlags defines the flags of the account throttlectl doctor
// checks: the Lambda concurrency limit and the IAM roles that exist.
func bindAccountFlags(fs *flag.FlagSet, f *Flags) {
	fs.IntVar(&f.lambdaConcurrency, "lambda-concurrency", 1000, "Lambda concurrent executions of the account (AWS's default 1000); reservations must leave 100 unreserved")
	fs.StringVar(&f.iamRoles, "iam-roles", "", "comma-separated IAM role names that exist (e.g. the task roles a stack passes)")
}

// account writes the account flags into o.
func (f *Flags) account(o *Options) error {
	if f.lambdaConcurrency <= 0 {
		return fmt.Errorf("--lambda-concurrency must be > 0, got %d", f.lambdaConcurrency)
	}
	n, prev := f.lambdaConcurrency, o.Services.Lambda
	o.Services.Lambda = func(lo *lambdasvc.Options) {
		if prev != nil {
			prev(lo)
		}
		lo.Concurrency = n
	}
	for _, r := range strings.Split(f.iamRoles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.Account.Roles = append(o.Account.Roles, r)
		}
	}
	return nil
}
