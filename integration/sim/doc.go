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
//     capacity, the PROVISIONING-tasks-per-cluster quota, a vCPU quota and
//     spot limits;
//   - a Ledger of every launched task and instance, with the request hash and
//     chunk parsed from startedBy "th/<hash>/<chunk>/<attempt>" (or the EC2 tag
//     th:startedBy), from which duplicates and lost work are counted;
//   - the task lifecycle PROVISIONING → PENDING → RUNNING → STOPPED in
//     simulated time, published as "ECS Task State Change" events to an
//     EventSink;
//   - asynchronous throttling: hidden upstream buckets (ENI attachment, subnet
//     lookups, load balancer and Cloud Map registration) that stop tasks with
//     TaskFailedToStart or make RunTask answer the wrapped
//     InvalidParameterException "… Rate exceeded (ErrorCode: Throttling)", and
//     co-tenant ECS services that receive "ECS Service Action" throttle events;
//   - a co-tenant caller that draws a share of every published bucket from
//     the same buckets, arriving and leaving when told, its throttled calls
//     counted (SetCotenantTraffic); and seeded faults (5xx, latency,
//     connection resets, lost responses, throttle storms).
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
