// Package sfn serves the Step Functions API of the local stack over the real
// sfn client's JSON 1.0 protocol (X-Amz-Target AWSStepFunctions.*):
// CreateStateMachine, DescribeStateMachine, ListStateMachines,
// StartExecution, DescribeExecution, ListExecutions, StopExecution and
// GetExecutionHistory, ListMapRuns and DescribeMapRun (ListExecutions also
// takes a mapRunArn), SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat.
// Executions run in one long-lived Node runner (integration/sfnrunner) around
// aws-local-stepfunctions.
//
// AWS rules kept: execution names are ≤ 80 characters without whitespace,
// brackets, wildcards or the characters " # % \ ^ | ~ ` $ & , ; : /; a
// StartExecution with the name of an execution that is still running and the
// same input returns that execution, any other reuse of a name answers
// ExecutionAlreadyExists; input is limited to 256 KB; times are read from the
// stack's scaled clock (simulated seconds).
//
// Task tokens (.waitForTaskToken on sqs:sendMessage, events:putEvents,
// lambda:invoke, states:startExecution): the runner issues an opaque token
// per attempt as $$.Task.Token and parks the task. SendTaskSuccess (output:
// JSON of at most 256 KiB, else InvalidOutput) makes the output the task's
// result; SendTaskFailure (error ≤ 256, cause ≤ 32,768 characters, else
// ValidationException) fails the task with them, for its Retry and Catch;
// SendTaskHeartbeat restarts the HeartbeatSeconds clock, not TimeoutSeconds.
// A token the runner did not issue is InvalidToken; one whose task has closed
// (answered, timed out, retried, its execution stopped, failed or stopped by
// its parent) is TaskTimedOut, as the API reference describes it. Not
// modelled: activities (TaskDoesNotExist), JSONata's
// $states.context.Task.Token, the TaskSubmitted/TaskStarted/TaskSucceeded
// history events, and tokens surviving a restart of the runner.
//
// History: GetExecutionHistory lists ExecutionStarted, the states'
// <Type>StateEntered / <Type>StateExited, TaskScheduled (one per attempt of a
// Task), TaskFailed, TaskTimedOut (States.Timeout, States.HeartbeatTimeout),
// MapIteration*, and the execution's end. Billed state
// transitions = the *StateEntered events + the Task retries (TaskScheduled −
// TaskStateEntered); Transitions counts them.
//
// AWS behaviours on by default, each with an Options switch:
//   - DISTRIBUTED Map (InlineDistributedMap turns it off): each item is a
//     child execution (DescribeExecution answers its mapRunArn; its history
//     is its own) in a Map Run whose itemCounts / executionCounts,
//     tolerated failures, maxConcurrency and status DescribeMapRun reports
//     (resultsWritten stays 0: no ResultWriter; redriveCount 0). Item
//     counts: total is the items, pending those not started; execution
//     counts cover the children started. The parent's history shows
//     MapRunStarted and MapRunSucceeded/Failed/Aborted, not the items.
//   - History limit (HistoryLimit, default 25,000; NoHistoryLimit): an
//     execution whose history reaches it fails with States.Runtime.
//   - Wait lateness (WaitLateness, default 250 ms simulated; NoWaitLateness):
//     a Wait state ends up to that late, drawn from Seed.
//   - Heartbeat timeouts (NoHeartbeatTimeout): a callback task that gets no
//     heartbeat within HeartbeatSeconds fails with States.HeartbeatTimeout.
//
// Definitions come from statemachines/*.asl.json with the CDK stack's
// ${...} definition substitutions (LoadDir, Substitutions).
package sfn
