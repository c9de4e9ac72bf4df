// Package stack is the throttle-handler CloudFormation stack in Go CDK.
// NewThrottleHandler builds every resource the product runs on as one
// construct (ThrottleHandler), inside any scope of a caller's stack, and
// returns its handles and grant helpers; NewThrottleStack is a stack of its
// own around that construct, with the construct ID "Default" (which CDK
// leaves out of logical IDs and names: the stack's resources kept the
// logical IDs they had before the construct existed), and the outputs.
// Users' apps reach the construct through package throttlehandler.
//
//   - Six Lambda functions (classify, plan, runtask, retry, summary, submit;
//     docs/contracts.md): provided.al2023 on arm64 from build/<name>/bootstrap,
//     the pkg/config environment, JSON logs to a log group of their own, a role
//     of their own with only what the handler calls (pkg/handler/wire,
//     pkg/lambdafn), reserved concurrency for runtask (caps launch callers) and
//     retry (absorbs ECS event storms).
//   - One Standard state machine per statemachines/*.asl.json, from the file
//     itself with the substitutions of docs/contracts.md; logs ALL events
//     without execution data (no request payloads in logs), X-Ray on.
//     The file is scanned at synth time and the machine's role is granted
//     exactly the functions, bus, companion machines and DISTRIBUTED Map
//     children it uses; an integration the stack does not grant fails synth.
//   - The product bus and one rule per statemachines/rules/*.json, whose
//     pattern is written into the template unchanged (the local EventBridge
//     reads the same files); targets retry with a policy and dead-letter to an
//     event DLQ, separate from the product DLQ that retry gives up into.
//   - The DynamoDB table (pk/sk, TTL expiresAt, on-demand, PITR, encrypted),
//     the SSE-SQS queues (14 days, TLS only), alarms on throttle rate, the
//     depth of each DLQ, failed executions and a limiter store answering
//     busy, and a dashboard of the EMF metrics of pkg/handler (namespace
//     ThrottleHandler, summed over the Function dimension).
//   - The relaunch queue: relaunches retry defers (TH_RELAUNCH_QUEUE_URL,
//     retry may send) and TaskFailedToStart events (the rule whose file says
//     "via": "relaunch-queue"; EventBridge may send for that rule alone),
//     which retry consumes through an SQS event source, 10
//     messages a batch with ReportBatchItemFailures, so only failed items
//     come back. Its visibility timeout is 6× retry's timeout (AWS's
//     guidance, so a throttled or retried batch is not received twice while
//     in work); after 10 receives a relaunch goes to the relaunch DLQ,
//     which has its own alarm.
//   - The results bucket (TH_RESULTS_BUCKET on summary): each request's
//     results as a JSON Lines object results/<requestId>.jsonl, written by
//     the final summary; SSE-S3, public access blocked, TLS only, bucket
//     owner enforced, objects expire after ResultsExpirationDays (30), kept
//     with the stack deleted like the table. Summary may only put objects
//     under results/.
//   - Asynchronous invocations (EventBridge targets): 2 retries within 6 h,
//     then the event goes to an OnFailure destination: the product DLQ for
//     retry (beside the chunks it gives up on), the event DLQ for submit.
//   - Callbacks: plan, summary and retry may call states:SendTaskSuccess,
//     SendTaskFailure and SendTaskHeartbeat (a request's callback task
//     token), on Resource "*": a task token is not an IAM resource;
//     submit only SendTaskFailure (a request it refuses). plan also sends
//     heartbeat messages to the relaunch queue (TH_RELAUNCH_QUEUE_URL) and
//     describes the launch machine's executions (is the execution holding
//     its request id still running?).
//   - The product bus's resource-based policy, only with the settings
//     eventSourceAccounts or organizationId: events:PutEvents on the bus
//     for LaunchRequested events of the product's source (the
//     events:detail-type and events:source conditions), from those accounts
//     or from any principal of that organization (aws:PrincipalOrgID).
//   - The limiter (limiter.go): its buckets live in the stack's table, or in
//     the existing table limiterTableName names (imported; runtask, retry
//     and summary, the functions with a limiter, get dynamodb:GetItem and
//     dynamodb:UpdateItem on its ARN and nothing else), so stacks of one
//     account and Region share one limiter. TH_ACCOUNT_SCOPE is
//     accountScope or the stack's own "<account>/<region>" (AWS::AccountId
//     and AWS::Region, resolved at deploy: no STS call), so limitsJson's
//     per-account overrides apply. maxConcurrency rewrites the launch
//     machine's Chunks Map MaxConcurrency at synth (the definition is then
//     inline, DefinitionString, instead of the file's S3 asset).
//   - Outputs (AddOutputs; NewThrottleStack adds them): StateMachineArn,
//     EventBusName, TableName, DeadLetterQueueUrl, RelaunchQueueUrl,
//     ResultsBucketName, LimiterTableName and AccountScope, described by the TH_* variable that carries each,
//     exported as <prefix>-<output> (the stack's name for NewThrottleStack,
//     <stack name>-<construct ID> by default for an embedded construct).
//
// Grants for the caller's principals: GrantStartLaunch (states:StartExecution
// on the launch machine; DescribeExecution and StopExecution on its
// executions), GrantStartLaunchSync (the same, and the rule Step Functions
// manages for .sync tasks: what a parent workflow's startExecution.sync:2
// needs), GrantPutLaunchRequested (events:PutEvents on the bus, LaunchRequested
// of the product's source only), GrantReadResults (s3:GetObject under
// results/). Each records on a grantee that is a construct the cdk-nag
// finding its run-time named resources raise, limited to that pattern.
//
// Least privilege: runtask (and retry, which relaunches a task that failed to
// start) may RunTask only the configured task definitions
// in the configured clusters (ecs:cluster condition), tag only at RunTask
// (ecs:CreateAction), pass only the configured roles to ecs-tasks; RunInstances
// only through the configured launch templates into the configured subnets,
// tag only at RunInstances, pass only instance-profile roles to EC2.
// summary (whose waiting check runs the tracker's sweep) may DescribeTasks
// and StopTask only the tasks of the configured clusters (ecs:cluster
// condition); plan may GetObject only the objects of the configured
// itemsBuckets (ecs.itemsFrom). No
// statement allows a wildcard action; every wildcard resource carries a
// cdk-nag suppression with its reason (nag.go).
//
// Names: the stack names nothing but its state machines. A DISTRIBUTED Map's
// role must name its own machine, and a Ref from that role's policy to the
// machine that depends on it would be a circular dependency; the machines get
// a name derived from their construct path and stack name
// (Names.uniqueResourceName), and their ARNs are built from it.
package stack
