// Package benchlaunch is the launch benchmark behind `make bench` and
// `go run ./integration/cmd/bench launch`: it launches the same request
// through several strategies — the product ("ours") and three baselines
// users run today ("naive", "asl-jitter", "sdk-adaptive") — in several
// scenarios (burst, unknown, cotenant, async, ec2, faults, priority), each pair on a fresh
// local AWS (integration/awslocal) with the same seed, and measures each run
// from the simulator's ledger and counters (the fields of integration/report.Report:
// makespan_s, ideal_makespan_s, calls, throttled_calls, async_throttles,
// lost, duplicates) plus latency percentiles and a cost model.
//
// The baselines are real state machines (statemachines/baselines) executed
// by the same Step Functions runner as the product, calling the simulator
// through the runner's ecs:runTask integration; sdk-adaptive is a Lambda
// whose ECS client uses aws-sdk-go-v2's adaptive retry mode. Its sleeps run
// on the SDK's real clock, which cannot be scaled, so it always runs at time
// scale 1 on a smaller request (AdaptiveTasks): compare its ratios (makespan
// ÷ ideal, throttled share), not its absolute numbers.
//
// The cotenant scenario can add co-tenant ECS services (CotenantServices,
// `--cotenant-services`) whose deployments draw from the Fargate task
// launch bucket and, with CotenantServicesRunTask
// (`--cotenant-services-runtask`), from the RunTask API buckets too; each
// Result records which setting ran (cotenant_services,
// cotenant_services_runtask) and the throttle events the services received.
//
// The burst scenario has two jobs variants, ours only (jobs.go; the
// baselines launch without waiting and without per-task input, so they are
// skipped): WaitForCompletion (`--wait-for-completion`) submits the request
// with waitForCompletion while the simulator runs each task TaskRunSeconds
// on average (`--task-run-seconds`, default 60 s, drawn from ±50 %), and
// reports when the last task stopped (last_stop_s) and the execution ended
// (execution_end_s) against ideal_completion_s = the launch's ideal + the
// time to RUNNING (provisioning + pending, 15 s in the local AWS) + the
// longest run drawn (1.5 × the mean, which the slowest of many tasks
// approaches) + the stop (5 s) (completion_ratio = end ÷ ideal), and the
// quota probes of
// the request's quota gate (quota_probes, absent when no unit waited for
// quota); Items (`--items`) gives each task its own item, so each costs a
// RunTask call: on Fargate the 20-calls/s bucket binds and the ideal is
// (N − 20) / 20 s (launch.IdealECSMakespan with one task a call) instead of
// (N − 100) / 20 s. The table prints them in a jobs section.
//
// The priority scenario (priority.go; ours only: the baselines have no
// priority) submits a low-priority batch of BatchTasks (`--batch-tasks`,
// default 5,000) and, UrgentAtS simulated seconds later (`--urgent-at`,
// default 60, when the batch has spent the burst and booked far ahead), a
// high-priority request of UrgentTasks (`--urgent-tasks`, default 50), both
// through submit on the published buckets. Its Result adds
// urgent_start_s (the urgent request's submit → its first acquisition),
// urgent_delay_s (first acquisition → its last launch, minus
// urgent_ideal_s), urgent_makespan_s, batch_makespan_s and
// batch_capacity_used_pct = 100 × batch_ideal_left_s ÷ batch_makespan_s.
// The first acquisition is observed, not inferred: the run tags each
// runtask invocation's context with its request ID, and the first limiter
// write (an UpdateItem on a limiter# item) of that request to answer 200 is
// its first Reserve; the time is the stack's clock when it answered.
// urgent_ideal_s is the urgent request's tasks on drained buckets (units ÷
// rate, the longest over the buckets): a batch that is launching has spent
// the burst, so the best the urgent request can do is take every token as
// it refills — on the published buckets 50 ÷ 20 = 2.5 s. batch_ideal_left_s
// is the batch's ideal with those tokens taken out: (batch + urgent −
// burst) ÷ rate, unchanged when the batch alone is done before the urgent
// request arrives.
//
// RunSeeds repeats the whole run per seed and Summarize gives each pair's
// medians and range over the seeds (`make bench-full`).
//
// Nothing here changes what the product's handlers do: the run wraps the
// handler values of pkg/lambdafn only to time them (Lambda GB-seconds) and
// to count their DynamoDB writes.
package benchlaunch
