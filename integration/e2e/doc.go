// Package e2e holds the end-to-end tests of throttle-handler: launch
// requests submitted as Step Functions executions or LaunchRequested events
// run through the real handlers (pkg/lambdafn) behind the local Lambda
// endpoint, the launch state machine in the local Step Functions runner, the
// local EventBridge rules, DynamoDB (dynalite) and the ECS/EC2 simulator, all
// on one scaled clock started by integration/awslocal. Each test is judged
// by the simulator's ledger (what was really launched, duplicates) and by
// the request's record (the execution's summary, the dead-letter queue).
//
// Jobs (jobs_test.go): TestItemsWaitForCompletion submits 1,000 items with
// waitForCompletion on Fargate Spot (tasks run 60 s on average, 10 % exit
// 1, 5 % Spot interruptions, time scale 10, retryStrategy attempts 3
// retrying exit 1 and Spot interruptions and ending any other stop) and
// judges it by the ledger (Sim.LedgerTasks): per index, attempts = 1 +
// retryable failures capped at 3; `throttlectl results --output json`
// (the shipped CLI, built by the test) equals the ledger on index, task
// ARN, exit code, status and attempts; the execution's status and error
// follow the tolerated-failure rule computed from the ledger's counts; the
// wall time is ≤ 90 s (logged; not asserted under -short). TestQuotaQueue
// gives the account a Fargate vCPU quota of 8 of its 24 tasks: the units
// beyond it wait (a chunk's QuotaWaitSince, `throttlectl status`
// waitingForQuota) and launch as tasks stop, each index once, with
// maxAttempts 2 so that a quota refusal that spent an attempt would show.
// A failure names the part of the product that is missing.
//
// Run with `go test ./integration/e2e/` (needs `make deps` for node and
// dynalite). `go test -v -run TestThousandTasks ./integration/e2e/` prints
// the 1,000-task report: makespan against the ideal, calls, throttled
// calls, state transitions and Lambda invocations per task.
//
// Environment knobs (all optional):
//
//	E2E_LOG=1                 stack, handler and runner logs on stderr
//	E2E_REPORT_DIR=dir        write the 1,000-task report as dir/e2e-thousand.json
//	E2E_DEFER_THRESHOLD=0s    runtask's defer threshold for the 1,000-task run
//
// Tests run one after the other, each on its own stack (ports, dynalite,
// Node runner), at a time scale k of 5–20: a time-scaled stack measures
// badly on a starved CPU (CI has 2 cores), so they do not compete for it.
// Every wait is bounded in real time.
package e2e
