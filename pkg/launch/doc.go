// Package launch owns the launch domain: the launch request model and its
// validation, the deterministic split into chunks, idempotency tokens and
// task identity, the DynamoDB records of requests and chunk results, and
// the handlers behind the plan, runtask, retry and summary functions (thin
// mains in functions/). The JSON contracts, with examples, are in README.md
// beside this file and in each function's README.
//
// # Flow
//
//	plan     validate → store request + plan (req#<id>/meta) → chunk indices
//	runtask  one chunk: limiter slot (one write for every bucket) → deferred,
//	         or RunTask / RunInstances (SDK retries off) → chunk item
//	retry    chunk mode: next attempt, token reuse, wait, failover, give-up
//	         (DLQ + LaunchFailed); event mode: relaunch a TaskFailedToStart
//	         task keyed by its ARN, slow the ECS buckets on throttle events
//	summary  counts from the table → LaunchCompleted
//
// # Idempotency
//
// Every call of a chunk is an attempt record (chunk item attribute a<n>)
// written before the call with the parameters, token (ClientToken) and
// startedBy (StartedBy) it uses. An attempt whose outcome is unknown
// (state "sent": timeout, 5xx, lost response, crashed Lambda) is always
// repeated first, with the same token and parameters, so AWS answers with
// what it already launched; only a definitive answer (launched, partial,
// throttled, capacity) lets a new attempt with a new token launch what is
// still missing. Launched ARNs / instance IDs are kept in a string set, so a
// replayed answer adds nothing.
//
// # Errors
//
// Handlers return the unwrapped named errors of pkg/failure (ThrottledError,
// CapacityError, QuotaError, TransientError, PermanentError): invalid input
// is a PermanentError naming the field and rule; table failures are
// TransientError (the step may be retried as is).
//
// # Time
//
// Every handler takes a clock.Clock; none sleeps. A limiter slot further
// than the defer threshold becomes a "deferred" answer that a Step
// Functions Wait holds at no cost; a nearer one is used at once, that is up
// to the threshold ahead of the slot (0 is exact). The attempt is recorded
// before its slot is taken so the call follows the limiter's answer at
// once, the wait counts from the answer, and a slot that is already stale
// when it arrives is taken again (RunTask.reserve).
package launch
