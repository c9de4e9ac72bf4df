// Package sim simulates the ECS and EC2 control planes the product launches
// work on, with AWS's published throttle buckets, so the unmodified
// aws-sdk-go-v2 ecs and ec2 clients can be measured against it over HTTP.
//
// It owns:
//   - the wire protocols: ECS over AWS JSON 1.1 (X-Amz-Target
//     AmazonEC2ContainerServiceV20141113.<Op>) and EC2 over the Query protocol
//     (form-encoded Action=…, XML responses and the EC2 XML error document);
//   - token buckets per API action per account/region (Config.Buckets), the
//     published defaults from AWS's throttling pages, scaled by the clock;
//   - launch semantics: parameter validation with ECS's and EC2's error codes,
//     clientToken idempotency (ConflictException / IdempotentParameterMismatch),
//     partial success through failures[], cluster/subnet/instance-type
//     capacity, the PROVISIONING-tasks-per-cluster quota, the EC2 On-Demand
//     vCPU quota, spot limits and the Fargate On-Demand and Spot vCPU
//     quotas;
//   - a Ledger of every launched task and instance, with the request hash and
//     chunk parsed from startedBy "th/<hash>/<chunk>/<attempt>" (or the EC2 tag
//     th:startedBy), from which duplicates and lost work are counted;
//   - the task lifecycle PROVISIONING → PENDING → RUNNING → STOPPED in
//     simulated time, published as "ECS Task State Change" events to an
//     EventSink (one per change, desiredStatus STOPPED before lastStatus
//     STOPPED, version increasing per task, the RunTask's overrides);
//   - asynchronous throttling: hidden upstream buckets (ENI attachment, subnet
//     lookups, load balancer and Cloud Map registration) that stop tasks with
//     TaskFailedToStart or make RunTask answer the wrapped
//     InvalidParameterException "… Rate exceeded (ErrorCode: Throttling)", and
//     co-tenant ECS services that receive "ECS Service Action" throttle events
//     (they draw from the Fargate task launch and hidden buckets, and from
//     the RunTask API buckets only with Cotenants.ChargeRunTaskAPI);
//   - a co-tenant caller that draws a share of every published bucket from
//     the same buckets, arriving and leaving when told, its throttled calls
//     counted (SetCotenantTraffic); and seeded faults (5xx, latency,
//     connection resets, lost responses, throttle storms).
//
// Strict by default. Unless Config.Lenient is set, requests are checked
// against Config.Resources, each empty list taking DefaultResources (every
// cluster, task definition family, subnet, launch template and instance
// type the README, docs/, the demo, integration/cmd and the suites use):
// an unknown cluster is ClusterNotFoundException, an unknown task
// definition ClientException, an unknown subnet the wrapped
// InvalidParameterException (ECS) or InvalidSubnetID.NotFound (EC2).
//
// Quotas. Fargate tasks not yet STOPPED hold their vCPUs (task cpu units,
// from overrides.cpu or the task definition's 256, over 1024) against
// Capacity.FargateVCPULimit or FargateSpotVCPULimit (default
// DefaultFargateVCPULimit; AWS starts a new account at
// AWSNewAccountFargateVCPULimit). A task beyond the quota is answered in
// RunTask's failures[] with FargateVCPULimitReason; other tasks of the call
// may launch. STOPPED tasks give their vCPUs back.
//
// Client tokens (Config.Tokens). A RunTask token is bound, per cluster, to
// its first answer for LifetimeSeconds (default 24 h) or until
// AfterStopSeconds (default 1 h) after the last of its tasks stops,
// whichever comes first; a RunInstances token for LifetimeSeconds. After
// that a reused token launches anew. An answer with only failures[] binds
// its token too, unless FailuresDoNotBind.
//
// Tasks that end (Config.Runs; zero: tasks run until StopTask or
// Lifecycle.RunSeconds). A RUNNING task runs for a seeded time drawn
// uniformly from [0.5, 1.5) × Runs.MeanSeconds, then its essential
// container exits: 1 for a seeded Runs.FailureRate share, else 0, and the
// task stops with stopCode EssentialContainerExited, stoppedReason
// EssentialExitedReason and the container's exitCode. A seeded
// Runs.SpotInterruptionRate share of Fargate Spot tasks is interrupted:
// the two-minute warning (desiredStatus STOPPED, stopCode SpotInterruption,
// stoppedReason SpotInterruptedReason, lastStatus still RUNNING), then
// STOPPED Runs.SpotWarningSeconds later, no exit code. A task StopTask
// stops after it started gets stopCode UserInitiated and, once STOPPED,
// its container's exitCode StopTaskExitCode (137: killed at the stop
// timeout; Runs.NoStopExitCode turns it off). Task definitions
// (DescribeTaskDefinition) log with awslogs, group /ecs/<family> and
// stream prefix AWSLogsStreamPrefix, unless Config.NoAWSLogs. Draws come
// from the task ID and the seed. Instances run InstancePendingSeconds after
// launch; DescribeInstanceStatus reports their status checks initializing
// for Lifecycle.InstanceStatusSeconds (default 120), then ok
// (NoInstanceStatusDelay: ok at once). DescribeTasks, ListTasks, the events and the
// ledger (LedgerTasks: exit code, stopCode, stoppedReason and the
// TH_ARRAY_INDEX of the task's container overrides) answer from the same
// state.
//
// Evidence of unknown outcomes. Two calls tell a caller whether a launch
// whose answer was lost happened:
//   - ListTasks by startedBy (with cluster and, optionally, desiredStatus:
//     startedBy cannot be combined with family, serviceName,
//     containerInstance or launchType — InvalidParameterException) lists
//     running tasks, and with desiredStatus STOPPED the tasks that stopped
//     within Listing.StoppedVisibleSeconds (default 1 h). A new task is
//     missing from it for a seeded delay below Listing.NewTaskDelaySeconds
//     (default 1 s), as the listing is eventually consistent: an empty
//     answer right after a launch is not proof that nothing launched.
//   - DescribeInstances with the client-token filter returns every instance
//     launched under a token, whatever its state.
//
// Time. The simulator reads one clock.Clock. Every rate is per simulated
// second and every duration it reports is in simulated seconds, so running it
// on a clock.Scaled makes the whole account k× faster. Scheduled work (the
// lifecycle, co-tenants, storms) runs when Step is called — by Run in the
// background, or by a test after advancing a clock.Fake — and before every API
// call, so a response never shows a state older than the clock.
//
// Run-time changes. Tests and chaos suites change the account while it runs:
// SetFaults, SetCapacity, SetBucket, SetCotenantShare, SetCotenantTraffic,
// SetCotenants, Storm and SetSink; Stats, Ledger, FaultTrace and Events read
// it.
//
// Concurrency. A Sim is safe for concurrent use. One mutex guards its state;
// events are handed to the sink after the mutex is released, in order.
package sim
