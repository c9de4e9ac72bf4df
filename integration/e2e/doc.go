// Package e2e holds the end-to-end tests of throttle-handler: launch
// requests submitted as Step Functions executions or LaunchRequested events
// run through the real handlers (pkg/lambdafn) behind the local Lambda
// endpoint, the launch state machine in the local Step Functions runner, the
// local EventBridge rules, DynamoDB (dynalite) and the ECS/EC2 simulator, all
// on one scaled clock started by integration/awslocal. Each test is judged
// by the simulator's ledger (what was really launched, duplicates) and by
// the request's record (the execution's summary, the dead-letter queue).
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
