// Package handler holds the handlers behind the Lambda functions plan,
// runtask, retry and summary (thin mains in functions/, built by
// pkg/handler/wire). Each handler takes the model of pkg/launch, persists
// through a launchstore.Store, draws every call from the fleet-wide
// limiter, and classifies failures with pkg/failure.
//
// # Flow
//
//	PlanHandler     validate (ecs.itemsFrom read from S3, every line) →
//	                claim the request id for the execution (plan_claim.go) →
//	                store request + plan → items per index → chunk indices
//	RunTask         one chunk: loadChunk → nextCall → quota gate → begin → acquire (one
//	                limiter write for every bucket; a far slot is answered
//	                deferred) → callAndRecord (RunTask / RunInstances, SDK
//	                retries off; an items request's item merged into the
//	                overrides, items.go) → the chunk's ids, in order per
//	                attempt (each task's unit derives from them:
//	                launch.RefFromChunk); callFailed signals throttles,
//	                signalFailures a failures[] answer's throttled entries
//	                (to the per-task bucket: the call itself was admitted)
//	ChunkRetry      next attempt, token reuse, wait, failover, give-up
//	                (DLQ + LaunchFailed); quota waits (quota.go)
//	Relaunch        HandleEvent (EventBridge) and HandleSQS (relaunch queue):
//	                slow the ECS buckets on throttle events; record every
//	                ECS Task State Change of our tasks and decide it once
//	                (track.go: observeTask → decideTask): relaunch a
//	                TaskFailedToStart task keyed by its ARN, retry an exit
//	                by the request's retryStrategy through the same steps
//	                (relaunch_steps.go: find → register → claim → slot →
//	                call → record, the new task's TaskRef first)
//	Tracker         Sweeper of a waiting request (sweep*.go): DescribeTasks
//	                of tasks whose events are overdue, decided as events;
//	                StopTask of attempts past their timeout
//	SummaryHandler  counts from the table → LaunchCompleted; the machine's
//	                check waits for pending relaunches and, for ECS, until
//	                StartWatch after the latest launch (the chunks'
//	                LaunchedAt) — with waitForCompletion until every unit
//	                is final, sweeping on each loop — then closes the
//	                request and decides its status (summary_jobs.go)
//
// Every wait — a chunk's retry, a relaunch, a hand-off to the relaunch
// queue, a busy limiter — is decided by pkg/backoff's Policy.Delay.
//
// # One live execution per request id
//
// The launch machine passes plan its execution's ARN ($$.Execution.Id).
// Before writing anything, plan claims the request id for it with one
// conditional write (launchstore.Claimer): the same execution again (a
// retried plan) holds it already; another execution that still runs
// (DescribeExecution) makes this one fail with RequestAlreadyRunning,
// changing nothing; one that has ended is replaced (conditioned on its
// ARN), and the request runs again from the table: done chunks answer
// done, a stopped request resumes with its attempts' tokens. submit and
// throttlectl name executions after the request id, so Step Functions
// refuses their duplicates first; the claim covers executions started
// under other names (a .sync:2 parent, StartExecution by hand).
//
// # Idempotency
//
// Every call of a chunk is an attempt record written before the call with
// the parameters, token (launch.ClientToken) and startedBy it uses, and
// each send of it is claimed first (ClaimSend: a fence, so a stale
// invocation cannot mark refused a send it did not make). An attempt
// whose outcome is unknown (state "sent": timeout, 5xx, lost response,
// crashed Lambda) is always repeated first, with the same token and
// parameters, so AWS answers with what it already launched; only a first
// call's definitive answer (throttled, capacity, quota) or a success lets
// a new attempt with a new token launch what is still missing — a replay
// refused with anything but success stays unknown (ReplayUnsettled).
// Beyond the token's lifetime, or after MaxReplays, the attempt is settled
// by evidence (runtask_settle.go, lookup_evidence.go): ListTasks by
// startedBy, DescribeInstances by client-token, each under a limiter slot;
// what is not found is dead-lettered as OutcomeUnknown, never relaunched.
// Relaunches follow the same rule (relaunch_settle.go): the unsettled mark
// of a relaunch call keeps its first send (unsettledAt); a call retried
// from the relaunch queue comes back within half of the window left, and
// one back beyond TokenLifetime (also at the deadline) is settled by
// ListTasks on the relaunch's startedBy through the same lookup (evidence,
// lookup_evidence.go): found, recorded as the new task; not found, given
// up as OutcomeUnknown with its startedBy and token.
// Launched ARNs / instance IDs are kept as a set, so a replayed answer
// adds nothing. The limiter's back-pressure calls nothing: runtask answers
// "deferred" for its retry-after and leaves no attempt "sent".
//
// # Jobs (version 2)
//
// Items: plan stores the request as sent (inline items included: the
// fingerprint stays the request's) and every item per index (item#<i>)
// before it answers; runtask and the relaunch path build an items chunk's
// RunTask with chunkRunTaskInput (items.go): ecs.overrides merged with the
// item and TH_REQUEST_ID / TH_ARRAY_INDEX, items cached per sandbox.
// Task records: each launched id's TaskRef (unit index = the units the
// chunk's lower attempts launched + its place in the answer; attempt 1) is
// written before the ids join the chunk, so a failed write leaves the
// attempt "sent" and its replay writes both (runtask_tasks.go).
// Quota as a queue (quota.go): a quota refusal waits with no attempt
// spent, probing only when the request's quota gate grants (a stop of one
// of its tasks, or 30 s since the last probe), waits growing 5 % of the
// time waited within [10 s, 600 s], until the deadline (class quota).
// The relaunch path waits the same way (relaunch_quota.go): a
// TaskFailedToStart of quota kind, a relaunch refused for quota, or a
// relaunch of a chunk that waits for quota.
//
// # Callback
//
// A request may carry callback {taskToken, heartbeatSeconds} (the caller's
// .waitForTaskToken step). The token lives once, in the request on its
// meta item; no chunk's Map input carries it (2 KB × thousands of chunks
// of state payload and history). Who answers it (callback*.go):
//
//	summary         the final check of the execution: SendTaskFailure with
//	                the chunks' failure (recorded by the RecordChunksError
//	                state, ChunksFailed), or the summary's error and cause
//	                (RequestFailed), else SendTaskSuccess with the summary
//	plan            an error that ends the execution at Plan (invalid,
//	                requestId conflict, a second live execution's refusal):
//	                SendTaskFailure to the request's own token, as sent
//	throttlectl     cancel: SendTaskFailure LaunchCancelled (the detail)
//	pkg/submit      a LaunchRequested refused before any execution
//
// Exactly once in effect: sent, then recorded (RecordAnswer, first wins),
// and nothing is sent once recorded; a crash between the two sends again,
// and Step Functions refuses the second answer as final. A retryable error
// fails the function (the state's Retry, or cancel run again); the answers
// TaskTimedOut, TaskDoesNotExist and InvalidToken are final: recorded,
// logged, never retried, and the launch ends as it would have. The summary
// answers before LaunchCompleted, so a failed put, run again, does not
// answer twice.
//
// Heartbeats (callback.heartbeatSeconds ≥ 60, at most the deadline): a
// chain of delayed messages on the relaunch queue, no function of its own.
// Plan queues heartbeat 0 at once; the relaunch consumer claims seq n on
// the meta item for its message (ClaimHeartbeat: granted to the chain's
// next seq, or to the same message redelivered), sends SendTaskHeartbeat
// and queues n+1 a third of heartbeatSeconds later (≤ 900 s, SQS's
// longest delay): two lost heartbeats still leave the caller's timer
// running. A duplicate message (at-least-once delivery, a retried plan)
// loses the claim and queues nothing, so the chain never forks. It ends
// when the request is closed (final summary, cancel), its token answered
// or refused, or HeartbeatGrace past the deadline.
//
// Not covered: a launch execution stopped other than by throttlectl
// cancel, or timed out, answers nothing — the caller's HeartbeatSeconds
// (the heartbeats end with the grace) or TimeoutSeconds is its guard; so
// is a Plan or a submit that fails past its retries with a transient
// error.
//
// # Errors
//
// Handlers return the unwrapped named errors of pkg/failure (ThrottledError,
// CapacityError, QuotaError, TransientError, PermanentError): invalid input
// is a PermanentError naming the field and rule; store failures are
// TransientError (the step may be retried as is).
//
// # Time
//
// Every handler takes a clock.Clock. A limiter slot further than the defer
// threshold becomes a "deferred" answer that a Step Functions Wait (or, for
// a relaunch, an SQS delay) holds at no cost; a nearer one is slept for in
// the function, so the call goes out at its slot. The attempt is recorded
// before its slot is taken so the call follows the limiter's answer at
// once, and a slot that is already stale when it arrives is taken again
// (RunTask.reserve).
package handler
