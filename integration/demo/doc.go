// Package demo is the local end-to-end run that `make demo` and
// `go run ./integration/cmd/demo` run: it starts the local AWS
// (integration/awslocal: the ECS/EC2 simulator at AWS's published buckets,
// the product's real handlers behind the local Lambda endpoint, the launch
// state machine in the local Step Functions runner, EventBridge, SQS and
// DynamoDB on dynalite) on one scaled clock, submits one Fargate launch
// request the way `throttlectl submit` does, shows live progress, and ends
// with the summary table, a JSON report and a PNG chart (integration/report).
//
// The state machines and rules are the ones package statemachines embeds
// (the CDK stack deploys the same); the demo reads no file of the source
// tree. The command installs the Node tools first (Options.Install).
//
// The tasks run and stop (jobs.go): the simulator gives each started task
// a run of Options.TaskRunSeconds on average (default 20 s, drawn from
// ±50 %, so the last tasks have stopped before the launch-only demo's
// execution ended, 60 s after the last launch), TaskFailureRate of them exiting 1 (default 0). The
// request waits for them (waitForCompletion, retryStrategy.attempts
// RetryAttempts, default 3) unless NoWait. The progress and the chart show
// a second line, the tasks completed (stopped after they started, retries
// included, from the ledger); the table ends with the per-status counts:
// the execution output's counts (its cause's when it failed), or, when the
// output has none, the ledger's tasks by how they ended, labelled so
// (CountsFromLedger). A failed run's replacement is not a duplicate: a
// chunk's tasks beyond its size count as duplicates only past the number
// of its runs that failed (countRuns).
//
// What it shows is measured, not modelled: launched, duplicates and lost
// come from the simulator's ledger of what really ran; calls and throttles
// from the simulator's counters; dead-lettered units and reasons from the
// request's summary. The progress bar's "in flight" and "deferred" come from
// watching the runtask handler's answers (the demo wraps the handler values
// of pkg/lambdafn; it changes nothing they do). The handlers' EMF metric
// lines are discarded.
//
// Every process it starts (dynalite, the Node runner) is stopped when it
// returns, also when ctx is cancelled (Ctrl-C).
//
// It lives under integration/ because it runs the test harness: throttlectl,
// the shipped CLI, talks only to AWS and links none of it.
package demo
