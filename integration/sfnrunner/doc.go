// Package sfnrunner starts and drives the long-lived Node process
// (runner.mjs) that executes Step Functions state machines with
// aws-local-stepfunctions for the local stack.
//
// The process runs under Node 22 from node_modules/.bin/node (the library
// needs Promise.withResolvers) in its own process group with Pdeathsig, so it
// never outlives the Go process. Go and Node speak newline-delimited JSON over
// the child's stdin and stdout (the protocol is documented at the top of
// runner.mjs); Task states call back into the local AWS over HTTP, exactly as
// Step Functions calls Lambda and the other services on AWS. The runner
// divides all its timers by the time scale, so Wait states, Retry intervals
// and timeouts elapse in simulated seconds of the stack's clock.Scaled.
//
// Where the library runs a DISTRIBUTED Map inline, the runner rewrites it:
// the ItemProcessor becomes a child machine (ARN <machine>/<Label>) and each
// item a child execution of it, with its own ARN, history and history limit,
// inside a Map Run. The Map Run counts failed and timed-out children
// against ToleratedFailurePercentage(Path) / ToleratedFailureCount(Path)
// (none set: one failure is too many); past the threshold the Map fails with
// States.ExceedToleratedFailureThreshold and the children still running are
// aborted, as are those of a stopped or failed parent. A tolerated failed
// item's place in the Map's output holds its Error and Cause. A
// MapRunListener hears the Map Runs and children (messages "maprun" and
// "child"); their events and ends come as any execution's.
//
// Task tokens: a .waitForTaskToken Task (sqs:sendMessage, events:putEvents,
// lambda:invoke — invoked asynchronously — and states:startExecution) gets a
// new token per attempt wherever its Parameters read $$.Task.Token (the whole
// path, or an intrinsic function's argument; the library has no Task in its
// context object, so prepare puts a placeholder there and the task handler
// the token). The task calls the integration and waits for Answer (success:
// the output is the task's result, then ResultSelector/ResultPath/OutputPath;
// failure: its error and cause meet Retry and Catch; heartbeat). The runner
// keeps TimeoutSeconds(Path) of these tasks itself (States.Timeout) and
// HeartbeatSeconds(Path), counted from the integration call and restarted by
// each heartbeat (States.HeartbeatTimeout). Tokens are 640 base64 characters
// of random bytes and an HMAC under a key of the process: Answer refuses a
// token the runner did not issue with TokenError InvalidToken, and one whose
// task has ended (answered, timed out, retried, execution stopped or failed)
// with TaskTimedOut. Timeouts show in the history as TaskTimedOut.
//
// Options, each off at its zero value (the sfn service turns them on):
// HistoryLimit fails an execution with States.Runtime when its history
// reaches that many events (AWS: 25,000); WaitLateness ends each Wait state
// up to that much simulated time late, drawn uniformly from Seed, through a
// runner-made pass-through state kept out of the history;
// InlineDistributedMap restores the library's inline DISTRIBUTED Map;
// IgnoreHeartbeat lets callback tasks wait past their HeartbeatSeconds.
//
// The runner also makes JSONPath '$' read a falsy document (0, false, null)
// as itself: jsonpath-plus answers nothing there, so a Choice on '$' of the
// item 0 failed with States.Runtime where AWS compares the number.
package sfnrunner
