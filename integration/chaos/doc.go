// Package chaos is the randomized fault matrix of throttle-handler: each
// seed picks a request mix (ECS Fargate, ECS on EC2 capacity, EC2
// instances; sizes) and a fault schedule, runs it on the whole local stack
// (integration/awslocal: simulator, Lambda with the product's handlers,
// Step Functions runner, EventBridge, SQS, dynalite on disk) at a high time
// scale, and checks the product's promises against what really happened:
//
//   - 0 lost: requested = launched (simulator ledger, counted once per chunk
//     unit) + dead-lettered (the product's DLQ);
//   - 0 duplicates: no chunk has more live tasks/instances than its size;
//   - every request terminal with a reason: the execution succeeded with a
//     summary, nothing pending, every failed unit counted under a reason;
//   - the DLQ matches the failures: dead-lettered units = summary.failed +
//     those of tasks that failed to start after the final summary closed the
//     request (the relaunch path's "request completed before the relaunch";
//     counted apart, fault dlq:afterClose), and the final summary has no
//     relaunch pending;
//   - the limiter never admitted above the bucket: the product's RunTask and
//     RunInstances calls never exceed the bucket's burst + rate × elapsed
//     (the simulator's counters; the limiter and simulator share limits).
//
// A unit dead-lettered as OutcomeUnknown ("may be running": the evidence
// did not show it) that the ledger shows running under the dead letter's
// startedBy, uncounted by the table, is counted once, not lost (fault
// dlq:outcomeUnknownRunning): the dead letter names it for a person.
//
// Faults a seed may draw: throttle storms, 5xx, connection resets,
// latency, responses lost after the launch committed (reset, 500 or
// timeout), Lambda crashes before/after the handler ran and timeouts after
// it ran (mid-chunk: the RunTask happened, its answer is lost), dynalite
// killed and restarted on the same port and data folder (the limiter
// failing closed, and the store's retries), EventBridge events duplicated,
// delivered late and out of order, tasks stopped with TaskFailedToStart
// (ENI attachments starved), EC2-launch-type cluster capacity
// (RESOURCE:MEMORY), instance-type capacity and the On-Demand vCPU quota;
// a Map child failing past its retries, a Lambda timeout mid-call (an
// answer held past the caller's 30 s timeout), client tokens expiring
// before the outcome is settled, and failures[]-only answers binding the
// token or not.
//
// A seed's scenario (mix and schedule) is a pure function of the seed
// (NewScenario), so a failing seed can be replayed with
// `go run ./integration/cmd/chaos --seeds 1 --first-seed S -v`. The faults
// themselves are drawn per call in arrival order, which depends on
// scheduling, so a replay reproduces the schedule, not the exact
// interleaving.
package chaos
