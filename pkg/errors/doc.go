// Package failure (imported from pkg/errors as failure) owns the product's
// failure taxonomy: every error, Step Functions error object, RunTask
// failures[] entry and ECS EventBridge event is classified into exactly one
// of five classes.
//
//	throttled  a request-rate limit: retry after backoff and slow the bucket
//	capacity   no capacity now: retry later or elsewhere (Scope says where)
//	quota      an account limit is reached: waiting alone rarely helps
//	transient  server error, timeout or lost response: the call may have
//	           happened, so a retry reuses the same idempotency token
//	permanent  bad input or configuration: never retried
//
// Handlers return one named error type per class, unwrapped, so that a Go
// Lambda's errorType — the Step Functions error name — is one of:
//
//	ThrottledError  CapacityError  QuotaError  TransientError  PermanentError
//
// These names are the ErrorEquals strings used in statemachines/.
// Classification functions are pure and safe for concurrent use.
package failure
