// Package sfn serves the Step Functions API of the local stack over the real
// sfn client's JSON 1.0 protocol (X-Amz-Target AWSStepFunctions.*):
// CreateStateMachine, DescribeStateMachine, ListStateMachines,
// StartExecution, DescribeExecution, ListExecutions, StopExecution and
// GetExecutionHistory. Executions run in one long-lived Node runner
// (integration/sfnrunner) around aws-local-stepfunctions.
//
// AWS rules kept: execution names are ≤ 80 characters without whitespace,
// brackets, wildcards or the characters " # % \ ^ | ~ ` $ & , ; : /; a
// StartExecution with the name of an execution that is still running and the
// same input returns that execution, any other reuse of a name answers
// ExecutionAlreadyExists; input is limited to 256 KB; times are read from the
// stack's scaled clock (simulated seconds).
//
// History: GetExecutionHistory lists ExecutionStarted, the states'
// <Type>StateEntered / <Type>StateExited, TaskScheduled (one per attempt of a
// Task), TaskFailed, MapIteration*, and the execution's end. Billed state
// transitions = the *StateEntered events + the Task retries (TaskScheduled −
// TaskStateEntered); Transitions counts them.
//
// Definitions come from statemachines/*.asl.json with the CDK stack's
// ${...} definition substitutions (LoadDir, Substitutions).
package sfn
