package sim

import (
	"fmt"
	"maps"
	"sort"
	"time"
)

// Bucket names. Visible buckets answer the caller with a throttle; hidden
// ones (prefix "hidden:") are ECS's own calls on the account's behalf and
// show up only asynchronously.
const (
	// ECS "cluster resource modify": RunTask, StartTask, StopTask.
	BucketRunTask = "ecs:RunTask"
	// Fargate: RunTask calls per second, and tasks launched (on-demand, spot).
	BucketFargateRunTask   = "ecs:FargateRunTask"
	BucketFargateTasks     = "ecs:FargateTasks"
	BucketFargateSpotTasks = "ecs:FargateSpotTasks"
	// ECS "cluster resource read": DescribeTasks, ListTasks.
	BucketDescribeTasks = "ecs:DescribeTasks"
	// ECS "cluster read": DescribeClusters, ListClusters.
	BucketClusterRead = "ecs:ClusterRead"
	// ECS task definition read: DescribeTaskDefinition.
	BucketTaskDefinitionRead = "ecs:TaskDefinitionRead"

	// EC2 per-action request buckets and resource (instance) buckets.
	BucketRunInstances        = "ec2:RunInstances"
	BucketInstances           = "ec2:Instances"
	BucketTerminateInstances  = "ec2:TerminateInstances"
	BucketTerminatedInstances = "ec2:TerminatedInstances"
	BucketCreateTags          = "ec2:CreateTags"
	BucketNonMutating         = "ec2:NonMutating"
	BucketDescribeUnfiltered  = "ec2:DescribeInstancesUnfiltered"
	BucketMutating            = "ec2:Mutating"
	BucketHiddenENI           = "hidden:ENI"              // ENI attachment per awsvpc task
	BucketHiddenSubnetLookup  = "hidden:SubnetLookup"     // RunTask's subnet lookup per awsvpc call
	BucketHiddenLoadBalancer  = "hidden:LoadBalancer"     // target registration (services)
	BucketHiddenServiceDiscov = "hidden:ServiceDiscovery" // Cloud Map registration (services)
	hiddenPrefix              = "hidden:"
)

// Bucket is a token bucket: Burst tokens at most, refilled at Rate tokens per
// simulated second. A zero Rate with a zero Burst disables the bucket
// (unlimited).
type Bucket struct {
	Burst float64 `json:"burst"`
	Rate  float64 `json:"rate"`
}

// DefaultBuckets returns AWS's published defaults per account and Region
// (AWS documentation: "Amazon ECS API request throttling", "AWS Fargate
// throttling quotas", "Request throttling for the Amazon EC2 API"): ECS
// request throttling and Fargate launch limits, EC2 request and resource
// buckets. The hidden buckets are not
// published; their defaults are generous guesses that only a burst of
// thousands of awsvpc tasks exhausts.
func DefaultBuckets() map[string]Bucket {
	return map[string]Bucket{
		BucketRunTask:             {100, 40},
		BucketFargateRunTask:      {20, 20},
		BucketFargateTasks:        {100, 20},
		BucketFargateSpotTasks:    {100, 20},
		BucketDescribeTasks:       {100, 20},
		BucketClusterRead:         {50, 20},
		BucketTaskDefinitionRead:  {50, 20},
		BucketRunInstances:        {5, 2},
		BucketInstances:           {1000, 2},
		BucketTerminateInstances:  {100, 5},
		BucketTerminatedInstances: {1000, 20},
		BucketCreateTags:          {100, 10},
		BucketNonMutating:         {100, 20},
		BucketDescribeUnfiltered:  {50, 10},
		BucketMutating:            {50, 5},
		BucketHiddenENI:           {500, 50},
		BucketHiddenSubnetLookup:  {500, 100},
		BucketHiddenLoadBalancer:  {100, 20},
		BucketHiddenServiceDiscov: {100, 20},
	}
}

// Resources is the account a strict simulator checks requests against. Empty
// lists accept anything.
type Resources struct {
	Clusters        []string          `json:"clusters,omitempty"`        // names
	TaskDefinitions []string          `json:"taskDefinitions,omitempty"` // "family:revision" or "family"
	Subnets         map[string]string `json:"subnets,omitempty"`         // subnet ID → availability zone ("": a stable guess)
	LaunchTemplates map[string]string `json:"launchTemplates,omitempty"` // template ID → default instance type
	InstanceTypes   []string          `json:"instanceTypes,omitempty"`
}

// ClusterCapacity bounds the tasks an EC2-launch-type cluster can hold at
// once. Beyond it RunTask answers failures[] with Reason (default
// "RESOURCE:MEMORY"; also RESOURCE:CPU, RESOURCE:ENI, AGENT, …).
type ClusterCapacity struct {
	MaxTasks int    `json:"maxTasks"`
	Reason   string `json:"reason,omitempty"`
}

// Capacity is what the account can hold; zero values mean unlimited.
type Capacity struct {
	// Clusters bounds EC2-launch-type tasks per cluster name.
	Clusters map[string]ClusterCapacity `json:"clusters,omitempty"`
	// FargateSubnets bounds running Fargate tasks per subnet; beyond it a
	// task fails with "Capacity is unavailable at this time…".
	FargateSubnets map[string]int `json:"fargateSubnets,omitempty"`
	// InstanceTypes bounds running instances per "type/az" (e.g.
	// "c7g.large/us-east-1a") or per "type" (all zones).
	InstanceTypes map[string]int `json:"instanceTypes,omitempty"`
	// SubnetAddresses bounds instances per subnet
	// (InsufficientFreeAddressesInSubnet).
	SubnetAddresses map[string]int `json:"subnetAddresses,omitempty"`
	// VCPULimit is the On-Demand vCPU quota (VcpuLimitExceeded).
	VCPULimit int `json:"vcpuLimit,omitempty"`
	// SpotInstanceLimit bounds running spot instances
	// (MaxSpotInstanceCountExceeded).
	SpotInstanceLimit int `json:"spotInstanceLimit,omitempty"`
	// ProvisioningPerCluster is ECS's quota of tasks in PROVISIONING per
	// cluster: a RunTask that would exceed it fails with ClientException.
	// Default 500 (the AWS default); negative disables it.
	ProvisioningPerCluster int `json:"provisioningPerCluster,omitempty"`
	// FargateVCPULimit and FargateSpotVCPULimit are the account's Fargate
	// On-Demand and Spot vCPU quotas: the vCPUs (task cpu units / 1024) of
	// Fargate tasks not yet STOPPED. A task beyond them is answered in
	// RunTask's failures[] with FargateVCPULimitReason. 0 means
	// DefaultFargateVCPULimit; negative disables the quota.
	FargateVCPULimit     int `json:"fargateVcpuLimit,omitempty"`
	FargateSpotVCPULimit int `json:"fargateSpotVcpuLimit,omitempty"`
}

// Fargate vCPU quotas. AWSNewAccountFargateVCPULimit is the quota a new
// account starts with (AWS documentation: "Amazon ECS service quotas",
// "Fargate On-Demand vCPU resource count"); AWS raises it with use. The
// simulator's default is an established account's, high enough for the
// suites' thousands of 0.25-vCPU tasks, so only tests that ask for a small
// quota meet it.
const (
	AWSNewAccountFargateVCPULimit = 6
	DefaultFargateVCPULimit       = 4000
	// FargateVCPULimitReason is RunTask's failures[] reason at the quota.
	FargateVCPULimitReason = "You've reached the limit on the number of vCPUs you can run concurrently"
)

func (c Capacity) withDefaults() Capacity {
	if c.ProvisioningPerCluster == 0 {
		c.ProvisioningPerCluster = 500
	}
	if c.FargateVCPULimit == 0 {
		c.FargateVCPULimit = DefaultFargateVCPULimit
	}
	if c.FargateSpotVCPULimit == 0 {
		c.FargateSpotVCPULimit = DefaultFargateVCPULimit
	}
	return c
}

// Config is the simulated account. The zero value plus Defaults is AWS's
// published behaviour; every field documents its default.
type Config struct {
	// Region and Account name ARNs. Defaults us-east-1, 000000000000.
	Region  string `json:"region,omitempty"`
	Account string `json:"account,omitempty"`
	// Seed makes IDs, faults, storms and co-tenants reproducible. Default 1.
	Seed uint64 `json:"seed,omitempty"`
	// Buckets overrides DefaultBuckets by name.
	Buckets map[string]Bucket `json:"buckets,omitempty"`
	// Strict checking is on unless Lenient is set: clusters, task
	// definitions, subnets, launch templates and instance types not in
	// Resources (DefaultResources for the lists left empty) are rejected
	// with the errors AWS gives. Strict is kept for callers that ask for it
	// explicitly; it overrides Lenient.
	Strict    bool      `json:"strict,omitempty"`
	Lenient   bool      `json:"lenient,omitempty"`
	Resources Resources `json:"resources,omitempty"`
	// Tokens sets how long client tokens stay bound (see Tokens).
	Tokens Tokens `json:"tokens,omitempty"`
	// Listing sets what ListTasks shows (see Listing).
	Listing  Listing  `json:"listing,omitempty"`
	Capacity Capacity `json:"capacity,omitempty"`
	// Lifecycle schedules task and instance state changes.
	Lifecycle Lifecycle `json:"lifecycle,omitempty"`
	// Runs makes tasks end on their own: run times, exit codes, Spot
	// interruptions (see Runs). The zero value: tasks run until stopped.
	Runs Runs `json:"runs,omitempty"`
	// NoAWSLogs: task definitions have no log configuration. By default
	// each container logs with the awslogs driver (group
	// /ecs/<family>, stream prefix AWSLogsStreamPrefix), so a task's
	// log stream is <prefix>/<container>/<task id>.
	NoAWSLogs bool `json:"noAwsLogs,omitempty"`
	// CotenantShare in [0, 1) is the share of every published bucket's rate
	// that a co-tenant caller (traffic the product does not control) draws
	// from the same buckets (see SetCotenantTraffic). Default 0.
	CotenantShare float64 `json:"cotenantShare,omitempty"`
	// CotenantStartSeconds and CotenantStopSeconds place the co-tenant
	// caller in simulated seconds since New: it arrives at the start
	// (default 0: already there, its share of each burst taken) and leaves
	// at the stop (default 0: never).
	CotenantStartSeconds float64 `json:"cotenantStartSeconds,omitempty"`
	CotenantStopSeconds  float64 `json:"cotenantStopSeconds,omitempty"`
	// Cotenants are simulated ECS services in the same account.
	Cotenants Cotenants `json:"cotenants,omitempty"`
	// Faults are injected at the given rates.
	Faults Faults `json:"faults,omitempty"`
}

// cotenantWindow is the co-tenant caller's arrival and departure (zero:
// never) for a simulator started at epoch.
func (c Config) cotenantWindow(epoch time.Time) (from, until time.Time) {
	from = epoch.Add(secs(c.CotenantStartSeconds))
	if c.CotenantStopSeconds > 0 {
		until = epoch.Add(secs(c.CotenantStopSeconds))
	}
	return from, until
}

// withDefaults returns c with defaults filled in and the bucket table
// complete.
func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Account == "" {
		c.Account = "000000000000"
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	b := DefaultBuckets()
	maps.Copy(b, c.Buckets)
	c.Buckets = b
	c.Capacity = c.Capacity.withDefaults()
	c.Strict = c.Strict || !c.Lenient
	if c.Strict {
		c.Resources = c.Resources.withDefaults()
	}
	c.Tokens = c.Tokens.withDefaults()
	c.Listing = c.Listing.withDefaults()
	c.Lifecycle = c.Lifecycle.withDefaults()
	c.Runs = c.Runs.withDefaults()
	c.Cotenants = c.Cotenants.withDefaults()
	c.Faults = c.Faults.withDefaults()
	return c
}

// Validate reports the first bad field by name.
func (c Config) Validate() error {
	names := make([]string, 0, len(c.Buckets))
	for n := range c.Buckets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := c.Buckets[n]
		if b.Burst < 0 || b.Rate < 0 {
			return fmt.Errorf("sim: Buckets[%q]: burst and rate must be ≥ 0, got %v/%v", n, b.Burst, b.Rate)
		}
	}
	if c.CotenantShare < 0 || c.CotenantShare >= 1 {
		return fmt.Errorf("sim: CotenantShare must be in [0, 1), got %v", c.CotenantShare)
	}
	if c.CotenantStartSeconds < 0 || c.CotenantStopSeconds < 0 ||
		c.CotenantStopSeconds != 0 && c.CotenantStopSeconds <= c.CotenantStartSeconds {
		return fmt.Errorf("sim: CotenantStartSeconds and CotenantStopSeconds must be ≥ 0 and the stop (0: never) after the start, got %v and %v",
			c.CotenantStartSeconds, c.CotenantStopSeconds)
	}
	if err := c.Lifecycle.validate(); err != nil {
		return err
	}
	if err := c.Runs.validate(); err != nil {
		return err
	}
	if err := c.Tokens.validate(); err != nil {
		return err
	}
	if err := c.Cotenants.validate(); err != nil {
		return err
	}
	return c.Faults.validate()
}
