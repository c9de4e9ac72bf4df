// Package failure owns the product's
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
// # Named errors
//
// Handlers return one named error type per class, unwrapped, so that a Go
// Lambda's errorType — the Step Functions error name — is one of:
//
//	ThrottledError  CapacityError  QuotaError  TransientError  PermanentError
//
// These names are the ErrorEquals strings used in statemachines/. Their
// messages follow one layout, "<kind>[ <code>][ in <op>][ [<scope>
// <value>]][: <cause>]", e.g. "insufficient capacity
// InsufficientInstanceCapacity in ec2:RunInstances [instanceType
// c7g.large]: We currently do not have ...", which ClassifyStates reads
// back, so code, op and scope survive the trip through Step Functions.
//
// # Classifiers
//
//	ClassifyError(err)                   aws-sdk-go-v2 errors (a chain, as aws/retry: named errors,
//	                                     a limiter's refusals (LimiterError), API error codes + message
//	                                     + HTTP status, context, connection, RetryableError);
//	                                     DefaultErrorClassifiers to compose your own
//	ClassifyStates(error, cause)         a Step Functions {Error, Cause}
//	ClassifyRunTaskFailure(reason, detail), ClassifyRunTaskFailures(list)
//	ClassifyEvent(envelope)              EventBridge "ECS Service Action" / "ECS Task State Change"
//	Classify(json)                       detects which of the shapes above a JSON input is
//
// Codes are matched in maps (exact, then without Step Functions' added
// "Exception" suffix, then EC2/ECS naming conventions: Invalid*, *.NotFound,
// *LimitExceeded, Insufficient*Capacity). Wrapper codes
// (InvalidParameterException, ClientException, ECS.AmazonECSException,
// Unsupported) are decided by their message: an embedded "(ErrorCode:
// Throttling)" or "Error Code: ThrottlingException", then phrases such as
// "Rate exceeded", "Capacity is unavailable at this time", "Tasks
// provisioning capacity limit exceeded", "reached the limit on the number
// of tasks" and "... of vCPUs" (Fargate's concurrent vCPU quota, class
// quota). ECS's InvalidParameterException "... Rate exceeded (ErrorCode:
// Throttling)" is therefore throttled, not bad input. An unrecognised
// failure is transient (code Unknown when there is no code): it may have
// happened, and a retry with the same token is safe. Unreadable input is
// permanent with code Unparseable and a message saying what was wrong.
//
// # Minimum delays
//
// MinDelaySeconds is the least a retry should wait, in simulated seconds;
// the retry function adds backoff and the limiter's next slot on top.
//
//	throttled                                     1 s
//	  ECS_OPERATION_THROTTLED, SERVICE_DISCOVERY_… 5 s  account-wide congestion
//	  ENI provisioning timeout (TaskFailedToStart) 5 s  ECS's EC2 calls congested
//	  image pull / secret fetch throttled          2 s
//	  after the SDK's own retries (MaxAttemptsError) doubled
//	  LimiterBacklogFull (a LimiterError)         its RetryAfter, if longer
//	capacity                                      5 s
//	quota                                        60 s  (not retryable: the launcher waits
//	                                                   for quota instead, see pkg/handler)
//	transient                                     1 s
//	  LimiterStoreBusy (a LimiterError)           its RetryAfter, if longer
//	  Lambda service errors (Lambda.*, Sandbox.*)  2 s  AWS's advice
//	permanent                                     0
//
// A named error's RetryAfter raises the minimum further.
//
// # Tokens
//
// ReuseToken is true only for transient failures of a call we made (SDK
// errors, Step Functions task errors, our TransientError). It is always
// false for failures[] entries (the call answered; replaying its token
// replays its failures) and for events (a TaskFailedToStart relaunch is a
// new launch keyed by the stopped task's ARN).
//
// All classifiers are pure functions, safe for concurrent use, and never
// panic; they cost microseconds (BenchmarkClassify).
package failure
