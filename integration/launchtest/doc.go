// Package launchtest drives the launch handlers of pkg/handler directly (no
// state machine) against the local AWS — the ECS/EC2 simulator of
// integration/awslocal with its ledger and faults, and dynalite — through
// the real aws-sdk-go-v2 clients, on the stack's scaled clock. The test
// checks the product's promises: nothing launched twice, nothing lost,
// under 1 % of RunTask calls throttled. TestRelaunchesWaitOnTheQueue runs
// on the whole local stack: TaskFailedToStart events reach the retry
// function through EventBridge and come back through the relaunch queue's
// event source, minutes later, until every task runs.
package launchtest
