// Package lambda serves the Lambda Invoke API of the local stack
// (POST /2015-03-31/functions/{name}/invocations) by running the product's
// real handlers in-process, with Lambda's semantics: function errors answer
// 200 with X-Amz-Function-Error: Unhandled and {"errorType","errorMessage"}
// (errorType = the Go type name, as aws-lambda-go reports it); an account
// concurrency limit answers 429 TooManyRequestsException; a function timeout
// (simulated seconds) answers Sandbox.Timedout; a fault hook injects
// throttles, service errors and crashes before or after the handler runs.
//
// A function name may be a name, a name:qualifier or a full or partial ARN;
// the function is the ARN's name segment. Handlers come from a Resolver (the
// local stack passes pkg/lambdafn.Build): one instance per concurrent
// invocation, kept while idle and reused, as Lambda reuses execution
// environments (aws-lambda-go's handlers reuse their output buffer, so one
// instance must not serve two invocations at once).
//
// Asynchronous (Event) invocations are retried AsyncRetries times after a
// function error; what still fails goes to the function's on-failure SQS
// destination (Options.OnFailure) as Lambda's destination record, or is
// logged. Close cancels the context of every running handler.
package lambda
