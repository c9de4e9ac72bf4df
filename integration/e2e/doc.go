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
package e2e
