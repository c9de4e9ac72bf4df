// Package demo is `throttlectl demo` (what `make demo` runs): it installs
// the Node tools if a fresh clone lacks them, starts the local AWS
// (integration/awslocal: the ECS/EC2 simulator at AWS's published buckets,
// the product's real handlers behind the local Lambda endpoint, the launch
// state machine in the local Step Functions runner, EventBridge, SQS and
// DynamoDB on dynalite) on one scaled clock, submits one Fargate launch
// request the way `throttlectl submit` does, shows live progress, and ends
// with the summary table, a JSON report and a PNG chart (integration/report).
//
// What it shows is measured, not modelled: launched, duplicates and lost
// come from the simulator's ledger of what really ran; calls and throttles
// from the simulator's counters; dead-lettered units and reasons from the
// request's summary. The progress bar's "in flight" and "deferred" come from
// watching the runtask handler's answers (the demo wraps the handler values
// of pkg/lambdafn; it changes nothing they do).
//
// Every process it starts (dynalite, the Node runner) is stopped when it
// returns, also when ctx is cancelled (Ctrl-C).
package demo
