// Package lambda serves the Lambda Invoke API of the local stack
// (POST /2015-03-31/functions/{name}/invocations), GetAccountSettings,
// GetFunctionConcurrency and PutFunctionConcurrency
// by running the product's real handlers in-process, with Lambda's
// semantics (each behaviour below follows the AWS page named beside it and
// has an option to turn it off; all are on by default):
//
//   - Function errors answer 200 with X-Amz-Function-Error: Unhandled and
//     {"errorType","errorMessage"} (errorType = the Go type name, as
//     aws-lambda-go reports it).
//   - Timeouts ("Configure Lambda function timeout"): each function has its
//     own (Options.Timeouts, simulated time; the local stack passes the CDK
//     stack's table, infra/cdk/settings.Functions). The handler's context
//     carries the deadline (real time: the simulated timeout divided by k)
//     and is cancelled at it; the invocation answers Sandbox.Timedout, "Task
//     timed out after N.NN seconds", and the environment is not reused.
//   - Service errors (Invoke API reference, Errors): injected faults answer
//     the status and code Lambda gives each — 429 TooManyRequestsException,
//     500 ServiceException, 502 ResourceNotReadyException,
//     EC2ThrottledException, EC2UnexpectedException,
//     ENILimitReachedException, SubnetIPAddressLimitReachedException — or
//     crash the runtime before or after the handler (Runtime.ExitError).
//   - Concurrency ("Configuring reserved concurrency for a function",
//     PutFunctionConcurrency API reference): the account limit
//     (Options.Concurrency, default 1000) answers 429 beyond it; a reserved
//     function answers 429 (ReservedFunctionConcurrentInvocationLimitExceeded)
//     beyond its reservation; reservations must leave UnreservedMin (100)
//     unreserved, or Create and PutFunctionConcurrency refuse them with
//     InvalidParameterValueException.
//   - Account settings ("GetAccountSettings", "GetFunctionConcurrency" API
//     references): GetAccountSettings answers AccountLimit's
//     ConcurrentExecutions (Options.Concurrency) and
//     UnreservedConcurrentExecutions (that less every reservation);
//     GetFunctionConcurrency a function's reservation, if any (read APIs:
//     nothing to turn off; the limit is the --lambda-concurrency flag of
//     integration/cmd/awslocal).
//   - Cold starts ("Understanding the Lambda execution environment
//     lifecycle"): an invocation on a new environment first waits a seeded
//     latency (ColdStartMin–ColdStartMax, 100–400 ms simulated; NoColdStart).
//   - Asynchronous invocations ("Invoking a Lambda function asynchronously",
//     "How Lambda handles errors and retries with asynchronous invocation"):
//     the queue delivers at least once (AsyncDuplicates) and out of order
//     (AsyncDelayMax; NoAsyncDisorder turns both off); throttled or
//     failed-to-start events wait with backoff up to 5 minutes; a function
//     error is retried AsyncRetries (2) times, one then two minutes later;
//     an event whose retries are spent (RetriesExhausted) or that is older
//     than MaxEventAge (6 h, per function with MaxEventAges;
//     EventAgeExceeded) goes to the function's on-failure SQS destination
//     (Options.OnFailure) as Lambda's destination record, or is logged.
//
// A function name may be a name, a name:qualifier or a full or partial ARN;
// the function is the ARN's name segment. Handlers come from a Resolver (the
// local stack passes pkg/lambdafn.Build): one instance per concurrent
// invocation, kept while idle and reused, as Lambda reuses execution
// environments (aws-lambda-go's handlers reuse their output buffer, so one
// instance must not serve two invocations at once). Random choices come
// from Options.Seed. Close cancels the context of every running handler.
package lambda
